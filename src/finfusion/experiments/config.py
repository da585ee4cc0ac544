"""Typed run configuration: YAML in, validated objects out.

Unknown keys and bad values are rejected with the key path, the value received and the
allowed values. `load_config(path, overrides)` applies `--set key=value` overrides (dotted
paths, list items by number: `models.0.params.hidden=32`) before validation. Paths in a
config are resolved relative to the config file.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationError, field_validator, model_validator

from finfusion.data.dates import parse_hhmm
from finfusion.data.shapes import COLUMN_KEYS, InputShape, check_columns
from finfusion.data.simulate import SimulatorConfig
from finfusion.errors import ConfigError
from finfusion.experiments.analysis_config import (  # noqa: F401 - re-exported for `from experiments.config import ...`
    AnalysisConfig,
    PnlConfig,
    PortfolioConfig,
    PrivacyConfig,
    PrivacyModelConfig,
    ShapConfig,
    SignificanceConfig,
)
from finfusion.experiments.overrides import apply_overrides, set_path  # noqa: F401 - re-exported
from finfusion.experiments.strict import _Strict
from finfusion.experiments.yaml_loader import load_yaml, shorten
from finfusion.features.sentiment import DEFAULT_STATS, SentimentIndexSpec, as_specs
from finfusion.features.sentiment_stats import STATS
from finfusion.protocols.splitters import ChronologicalSplit
from finfusion.text.scorers import is_lexicon


def _plain_name(value: str) -> str:
    """A run name becomes a directory name under output.dir: no path separators, no leading dot."""
    if not _RUN_NAME.match(value):
        raise ValueError(f"name {value!r} must be a plain directory name: letters, digits and _ . = , + -, "
                         "starting with a letter or digit (no '/', no '..'), at most 100 characters")
    return value


_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=,+-]{0,99}$")
RunName = Annotated[str, AfterValidator(_plain_name)]


class MarketConfig(_Strict):
    close_time: str = Field("16:00", description="market close, HH:MM local time; later texts go to the next day")
    timezone: str = Field("America/New_York", description="time zone of the close")
    calendar: str | None = Field(None, description="exchange calendar name (needs exchange_calendars); default: price dates")


class BenchmarkConfig(_Strict):
    """The StockNet benchmark's samples (finfusion.data.adapters.stocknet_benchmark)."""

    rule: Literal["paper", "any_tweet", "code"] = Field(
        "paper", description="which targets count: paper (all), any_tweet (a tweet in the lag), code (the released code's)"
    )
    lag_days: int = Field(5, ge=2, description="calendar days of tweets before the target day")
    fall: float = Field(-0.005, description="fall (0) if the movement is below this")
    rise: float = Field(0.0055, description="rise (1) if the movement is at least this; in between: dropped")
    neutral: Literal["drop", "predict"] = Field(
        "drop", description="drop (the protocol) or predict: keep the dev/test neutral-band targets unlabelled, "
        "predicted for a backtest universe but never trained or scored on"
    )
    tweet_cutoff: Literal["none", "close"] = Field(
        "none", description="none (the protocol) or close: only tweets created before the close before the target day"
    )


SHAPE_KEYS = tuple(InputShape.__dataclass_fields__)  # the DataConfig keys that describe the files' shape


class DataConfig(_Strict):
    source: Literal["simulate", "files", "stocknet", "stocknet_benchmark"] = "simulate"
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig, description="source stocknet_benchmark")
    simulate: SimulatorConfig = Field(default_factory=SimulatorConfig)
    prices: Path | None = Field(None, description="prices file (CSV, Parquet, JSONL) for source=files")
    texts: Path | None = Field(None, description="texts file for source=files (optional)")
    stocknet_root: Path | None = Field(None, description="root of the StockNet dataset for source=stocknet")
    tickers: list[str] | None = Field(None, description="only these tickers (exact names); default: all")
    start: date | None = Field(None, description="first price date used (inclusive)")
    end: date | None = Field(None, description="last price date used (inclusive)")
    default_tz: str | None = Field(None, description="time zone for timestamps given without one")
    date_format: str | None = Field(None, description="strftime format of the prices' dates, e.g. '%d/%m/%Y' "
                                    "(default: ISO 8601 only, YYYY-MM-DD; anything else is refused)")
    timestamp_format: str | None = Field(None, description="strftime format of the texts' timestamps "
                                         "(default: ISO 8601 only, e.g. 2014-01-02T15:59:00-05:00)")
    on_invalid: Literal["raise", "drop"] = Field(
        "raise", description="bad rows: raise (one error listing them) or drop (removed and counted in data.json)")
    columns: dict[str, str] = Field(
        default_factory=dict, description="source files: finfusion column name -> your column name as written, "
        "e.g. {date: Date, ticker: Symbol, close: 'Adj Close', text: headline, timestamp: published_at}; "
        f"keys: {', '.join(COLUMN_KEYS)}")
    layout: Literal["auto", "long", "wide"] = Field(
        "auto", description="prices file: long (a row per date and ticker), wide (a date column + one column per "
        "ticker) or auto (long with a ticker column; one ticker's table if every other column is a price field; "
        "else wide)")
    wide_value: Literal["close", "adj_close"] = Field(
        "close", description="wide prices: what the cells are (adj_close is then also used as close)")
    ticker: str | None = Field(
        None, description="the ticker of a file without a ticker column (one ticker's prices; texts that all "
        "belong to it); a file with tickers of its own must contain it")
    load_log: Path | None = Field(
        None, description="source files: the record an earlier load wrote beside these files (finfusion.run "
        "saves frames from finfusion.load_frames with one): what that load dropped and how it read the tables "
        "join this run's data.json and report")
    text_time: str | None = Field(
        None, description="texts with date-only timestamps: HH:MM local time (market.timezone) at which such a "
        "text became available, e.g. '16:01' = after the close (default: date-only timestamps are refused)")

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, value: dict[str, str]) -> dict[str, str]:
        return check_columns(value)

    @field_validator("text_time")
    @classmethod
    def _check_text_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hhmm(value, what="data.text_time")
        return value

    def input_shape(self) -> InputShape:
        """How the source files are shaped (finfusion.data.shapes.InputShape)."""
        return InputShape(**{k: getattr(self, k) for k in SHAPE_KEYS})

    @model_validator(mode="before")
    @classmethod
    def _infer_source(cls, raw: Any) -> Any:
        """Without `source:`, file paths mean source files (never a silent simulation)."""
        if isinstance(raw, dict) and "source" not in raw:
            if raw.get("prices") is not None or raw.get("texts") is not None:
                return {**raw, "source": "files"}
            if raw.get("stocknet_root") is not None:
                raise ValueError("data.stocknet_root needs data.source: stocknet (prices and tweets) or "
                                 "stocknet_benchmark (the benchmark's samples)")
        return raw

    @model_validator(mode="after")
    def _check_source(self) -> DataConfig:
        given = {"prices": self.prices, "texts": self.texts, "load_log": self.load_log,
                 "stocknet_root": self.stocknet_root,
                 "simulate": None if self.simulate == SimulatorConfig() else self.simulate}
        allowed = {"simulate": {"simulate"}, "files": {"prices", "texts", "load_log"}}.get(self.source, {"stocknet_root"})
        foreign = [k for k, v in given.items() if v is not None and k not in allowed]
        if foreign:
            raise ValueError(f"data.source {self.source!r} contradicts data.{foreign[0]} (a {self.source} source "
                             f"reads only {', '.join(f'data.{k}' for k in sorted(allowed))}); remove one of them")
        defaults = {k: type(self).model_fields[k].get_default(call_default_factory=True) for k in SHAPE_KEYS}
        shaped = [k for k in SHAPE_KEYS if getattr(self, k) != defaults[k]]
        if shaped and self.source != "files":
            raise ValueError(f"data.source {self.source!r} contradicts data.{shaped[0]} (data.{', data.'.join(SHAPE_KEYS)} "
                             "describe source files, source: files); remove one of them")
        self.input_shape()  # the shape's own checks (e.g. a ticker with spaces)
        if self.ticker is not None and self.tickers and self.ticker not in self.tickers:
            raise ValueError(f"data.ticker {self.ticker!r} is not among data.tickers {self.tickers}; every row of it "
                             "would be filtered out")
        if self.source == "files" and self.prices is None:
            raise ValueError("data.source 'files' needs data.prices")
        if self.source in ("stocknet", "stocknet_benchmark") and self.stocknet_root is None:
            raise ValueError(f"data.source {self.source!r} needs data.stocknet_root")
        return self


class TextConfig(_Strict):
    enabled: bool = Field(True, description="give text models their newsflow (false: prices only)")
    lookback_days: int = Field(1, ge=1, description="trading days of texts in each newsflow (day t included)")
    max_items: int | None = Field(None, ge=1, description="most recent texts per newsflow; default: all")
    max_item_chars: int | None = Field(None, ge=1, description="characters kept of each text")
    max_chars: int | None = Field(None, ge=1, description="characters kept of a whole newsflow")
    separator: str = Field(" | ", description="between the texts of one newsflow")


class SentimentConfig(_Strict):
    """One set of sentiment features (finfusion.features.sentiment); `features.sentiment` is one
    such mapping or a list of named ones (e.g. one per scorer)."""

    name: str | None = Field(
        None, description="None: features sent_<stat> in group 'sentiment'; a name: sent_<name>_<stat> in 'sentiment_<name>'"
    )
    scorer: str = Field("vader", description="'vader', 'lm' (Loughran-McDonald) or a fine-tuned classifier directory")
    decay: float = Field(0.0, description="λ of the text weights exp(-λ · x); 0 = equal weights")
    decay_basis: Literal["age", "time_of_day"] = Field(
        "age", description="x = age in days to the close (λ>0: late texts count more) or seed 003's τ = time of "
        "day, 0 at midnight and 1 at the close (λ>0: early texts count more)"
    )
    neutral_band: float = Field(0.05, ge=0.0, lt=1.0, description="|score| <= band counts as neither pos nor neg")
    batch_size: int = Field(64, ge=1, description="texts per scorer call")
    stats: list[Literal[STATS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(DEFAULT_STATS), description=f"statistics, from {list(STATS)}"
    )
    alpha: float = Field(1.0, ge=0.0, description="weight of p_pos in a classifier's score α·p_pos − β·p_neg")
    beta: float = Field(1.0, ge=0.0, description="weight of p_neg (a lexicon needs α = β = 1)")
    fill: Literal["zero", "neutral", "ffill"] = Field(
        "zero", description="days without text: zero (+ has_text), neutral, or ffill (+ staleness)"
    )

    @model_validator(mode="after")
    def _check_spec(self) -> SentimentConfig:
        self.to_spec()  # the spec's own checks (name pattern, staleness needs ffill)
        return self

    def to_spec(self) -> SentimentIndexSpec:
        return SentimentIndexSpec(**{**self.model_dump(), "stats": tuple(self.stats)})


class FeatureConfig(_Strict):
    features: list[str] | None = Field(None, description="explicit feature names; default: the groups")
    groups: list[str] | None = Field(None, description="feature groups (technical, momentum, volatility, returns, "
                                     "volume, extra, sentiment); default: all but garch_vol")
    exclude_groups: list[str] = Field(default_factory=list, description="groups left out of the selection")
    lookback: int = Field(1, ge=1, description="days of features per sample; >1 gives X of shape (n, L, d)")
    sentiment: SentimentConfig | list[SentimentConfig] = Field(
        default_factory=SentimentConfig, description="one sentiment spec, or a list of named specs"
    )

    @model_validator(mode="after")
    def _check_sentiment(self) -> FeatureConfig:
        as_specs(self.sentiment_spec())
        return self

    def sentiment_spec(self) -> SentimentIndexSpec | tuple[SentimentIndexSpec, ...]:
        """The sentiment spec(s) for `SampleSpec.sentiment`."""
        if isinstance(self.sentiment, SentimentConfig):
            return self.sentiment.to_spec()
        return tuple(s.to_spec() for s in self.sentiment)


class TargetConfig(_Strict):
    kind: Literal["return", "log_return", "direction", "close"] = Field(
        "return", description="return (p[t+h]-p[t])/p[t], log_return, direction (1 if the return > upper band) or "
        "close p[t+h]")
    horizon: int = Field(1, ge=1, description="trading days ahead")
    price_column: Literal["close", "adj_close"] = Field("close", description="the price targets and returns use")
    neutral_band: tuple[float, float] | None = Field(
        None, description="(lower, upper): direction 0 if r <= lower, 1 if r > upper, others dropped"
    )

    @property
    def task(self) -> Literal["regression", "classification"]:
        return "classification" if self.kind == "direction" else "regression"


class ModelSpec(_Strict):
    """A predictor and the feature columns it reads (every model of a run shares its samples).

    `features` / `exclude` name groups ("technical", "sentiment", "sentiment_vader", ...) or single
    features of the run's samples; they are resolved by `Samples.select` (unknown names fail before
    the run starts), so a model variant such as seed 003's T + F − V is one model spec.
    """

    name: str = Field(description="registered predictor name")
    label: str | None = Field(None, description="name shown in tables; default: the name")
    params: dict[str, Any] = Field(default_factory=dict, description="the predictor's keyword arguments (finfusion models)")
    features: list[str] | None = Field(None, description="groups or features this model reads; default: all")
    exclude: list[str] = Field(default_factory=list, description="groups or features this model does not read")

    @property
    def display(self) -> str:
        return self.label or self.name


class ChronologicalConfig(_Strict):
    """One split, by date ratios or by boundary dates (train < valid_start <= valid < test_start <= test)."""

    kind: Literal["chronological"]
    train: float = Field(0.8, ge=0.0, le=1.0, description="share of the dates for training")
    valid: float = Field(0.1, ge=0.0, le=1.0, description="share of the dates for validation")
    test: float = Field(0.1, gt=0.0, le=1.0, description="share of the dates for the test (the last ones)")
    valid_start: date | None = Field(None, description="first validation date (needs test_start)")
    test_start: date | None = Field(None, description="first test date; train (and valid) come before it")

    @model_validator(mode="after")
    def _check_bounds(self) -> ChronologicalConfig:
        defaults = {k: type(self).model_fields[k].default for k in ("train", "valid", "test")}
        ratios = [k for k, v in defaults.items() if getattr(self, k) != v]  # a saved config repeats the defaults
        if self.test_start is not None and ratios:
            raise ValueError(f"protocol: give boundary dates (valid_start, test_start) or ratios ({', '.join(ratios)}), "
                             "not both")
        ChronologicalSplit(self.train, self.valid, self.test, self.valid_start, self.test_start)  # its own checks
        return self


class RollingConfig(_Strict):
    kind: Literal["rolling"]
    window: int = Field(90, ge=2, description="training dates per window")
    step: int = Field(1, ge=1, description="test dates per window (the window moves by this)")
    valid: int = Field(0, ge=0, description="last dates of each window held out for early stopping")
    refit_every: int = Field(1, ge=1, description="refit the model every this many windows (else predict with the last fit)")
    max_folds: int | None = Field(None, ge=1, description="only the last this many windows")
    warm_start: bool = Field(False, description="a refit starts from the previous fit's weights")
    checkpoint_every: int = Field(1, ge=1, description="save a resumable checkpoint every this many windows")


class WalkForwardConfig(_Strict):
    kind: Literal["walk_forward"]
    train_size: int = Field(24, ge=1, description="training length per fold, in `unit`")
    test_size: int = Field(6, ge=1, description="test length per fold, in `unit`")
    n_folds: int = Field(5, ge=1, description="folds, the last ending at the last date")
    unit: Literal["days", "months"] = Field("months", description="unit of train_size / test_size")
    expanding: bool = Field(False, description="training starts at the first date (else it slides)")
    valid: int = Field(0, ge=0, description="last training units held out for early stopping")


ProtocolConfig = Annotated[ChronologicalConfig | RollingConfig | WalkForwardConfig, Field(discriminator="kind")]


class ScalingConfig(_Strict):
    features: Literal["zscore", "minmax", "none"] = Field("zscore", description="feature scaler, fit on each training part")
    target: Literal["zscore", "minmax", "none"] = Field("zscore", description="regression target scaler, fit on each training part")


class SweepConfig(_Strict):
    params: dict[str, list[Any]] = Field(default_factory=dict, description="dotted config path -> values")
    seeds: list[int] = Field(default_factory=lambda: [0], description="each sweep point runs once per seed")
    resample_data: bool = Field(True, description="simulated data: each seed also draws a new market")
    mode: Literal["one_at_a_time", "grid"] = Field(
        "one_at_a_time", description="vary one parameter at a time from the base config (seed 000), or the full grid"
    )


class ExecutorConfig(_Strict):
    kind: Literal["local", "processes"] = Field("local", description="units in this process, or in parallel processes")
    workers: int = Field(2, ge=1, description="processes for kind: processes")
    torch_threads: int = Field(
        1, ge=1, description="torch intra-op threads of a local run (processes workers use 1). 1 by default: "
        "on 2 cores an MLP fit takes as long with 1 thread as with 2 on an idle machine (0.99x) and is 5.6x "
        "faster beside other work (benchmarks/torch_threads.py); more can pay on an idle many-core machine")


class OutputConfig(_Strict):
    dir: Path = Field(Path("runs"), description="run directories go to <dir>/<name>-<time> (unless --out)")
    plots: bool = Field(True, description="write the plots")
    report: bool = Field(True, description="write report.html")


class RunConfig(_Strict):
    name: RunName = Field("run", description="the run's name: its directory stem and report title")
    seed: int = Field(0, description="seed of the models (initialisation, sampling); a sweep's seeds replace it")
    data: DataConfig = Field(default_factory=DataConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    text: TextConfig = Field(default_factory=TextConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    models: list[ModelSpec] = Field(min_length=1)
    protocol: ProtocolConfig = Field(default_factory=lambda: RollingConfig(kind="rolling"))
    scaling: ScalingConfig = Field(default_factory=ScalingConfig)
    sweep: SweepConfig | None = None
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    progress: bool = Field(True, description="progress bars on stderr")

    @model_validator(mode="after")
    def _check_models(self) -> RunConfig:
        from finfusion.models.registry import make_predictor

        labels = [m.display for m in self.models]
        if len(set(labels)) != len(labels):
            raise ValueError(f"models need distinct labels, got {labels}")
        for i, spec in enumerate(self.models):
            try:
                make_predictor(spec.name, spec.params)  # checks every param against the model's signature
            except ConfigError as err:
                raise ValueError(f"models.{i} ({spec.display}):\n    " + str(err).replace("\n", "\n    ")) from None
        a = self.analysis
        if (a.pnl or a.regimes or a.privacy) and self.target.task != "classification":
            raise ValueError("analysis.pnl, .regimes and .privacy need a direction target (target.kind: direction)")
        if a.pnl and self.target.horizon != 1:
            raise ValueError(f"analysis.pnl trades daily and needs target.horizon 1, got {self.target.horizon}")
        ref = a.significance.reference
        if ref is not None and ref not in labels:
            raise ValueError(f"analysis.significance.reference: unknown model label {ref!r}; models: {labels}")
        if a.shap and a.shap.models:
            unknown = sorted(set(a.shap.models) - set(labels))
            if unknown:
                raise ValueError(f"analysis.shap.models: unknown model label(s) {unknown}; models: {labels}")
        if a.privacy:
            for m in a.privacy.models:
                from finfusion.evaluate.privacy import private_model

                private_model(m.name, 1.0, m.params)  # bad parameters fail before the run
        return self


def parse_config(raw: dict[str, Any], *, source: str = "<config>") -> RunConfig:
    """Validate a raw dict; raise ConfigError listing every problem with its key path. A dict with
    `kind: rl` is an RL portfolio experiment (experiments.rl_config.RlConfig)."""
    model: type[BaseModel] = RunConfig
    if isinstance(raw, dict) and raw.get("kind") == "rl":
        from finfusion.experiments.rl_config import RlConfig

        model = RlConfig
    return validate(model, raw, source=source)


def validate(model: type[BaseModel], raw: Any, *, source: str) -> Any:
    """`model.model_validate(raw)`, or ConfigError listing every problem with its key path and the
    value received (cut to a few hundred characters)."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in _union_errors_of_the_given_shape(err.errors()):
            path = ".".join(str(p) for p in e["loc"] if not _UNION_TAG.match(str(p))) or "(top level)"
            got = e.get("input")
            shown = "" if isinstance(got, dict) else f" (got {shorten(got)})"
            lines.append(f"  {path}: {e['msg'].removeprefix('Value error, ')}{shown}")
        raise ConfigError(f"invalid configuration in {source}:\n" + "\n".join(lines)) from None
    except (ValueError, TypeError) as err:
        raise ConfigError(f"invalid configuration in {source}: {err}") from None


_UNION_TAG = re.compile(r"^(function-after|list)\[")  # pydantic's name of a union member in an error path


def _union_errors_of_the_given_shape(errors: list[dict]) -> list[dict]:
    """Drop the "should be a valid list / mapping" errors of the union member the input does not
    have the shape of (e.g. features.sentiment: one mapping or a list), unless nothing else is wrong."""
    def wrong_shape(e: dict) -> bool:
        return bool(e["loc"]) and bool(_UNION_TAG.match(str(e["loc"][-1]))) and e["type"] in ("list_type", "model_type")

    kept = [e for e in errors if not wrong_shape(e)]
    return kept or errors


def load_config(
    path: str | Path, overrides: list[str] | None = None, *, base: Path | None = None, quick: bool = False
) -> RunConfig:
    """Read YAML (safe loader), apply `key=value` overrides, validate, and resolve relative
    paths against `base` (default: the config file's folder).

    A recipe may hold a top-level `quick:` mapping of dotted paths to values: a smaller version
    of the experiment that finishes in minutes, applied (before `overrides`) when `quick`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); a config is a YAML text file") from None
    raw = load_yaml(text, source=str(path)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    shrink = raw.pop("quick", None) or {}
    if not isinstance(shrink, dict):
        raise ConfigError(f"{path}: 'quick' must map dotted config paths to values, got {type(shrink).__name__}")
    if quick and not shrink:
        raise ConfigError(f"{path} has no 'quick' section; run it without --quick")
    quick_sets = [f"{k}={json.dumps(v)}" for k, v in shrink.items()] if quick else []
    raw = apply_overrides(raw, quick_sets + (overrides or []))
    return resolve_paths(parse_config(raw, source=str(path)), path.parent if base is None else base)


DATA_PATHS = ("prices", "texts", "load_log", "stocknet_root")  # the path keys of DataConfig


def resolve_paths(config: RunConfig, base: Path) -> RunConfig:
    """Make relative data, scorer and output paths relative to `base` (the config file's folder)."""

    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else (base / p).resolve()

    def fix_scorer(spec: SentimentConfig) -> SentimentConfig:
        if is_lexicon(spec.scorer):
            return spec
        return spec.model_copy(update={"scorer": str(fix(Path(spec.scorer)))})  # a classifier directory

    data = config.data.model_copy(update={k: fix(getattr(config.data, k)) for k in DATA_PATHS
                                          if getattr(config.data, k) is not None})  # unset paths stay unset
    output = config.output.model_copy(update={"dir": fix(config.output.dir)})
    if getattr(config, "kind", None) == "rl":
        text = config.text.model_copy(update={"sentiment": fix_scorer(config.text.sentiment)})
        return config.model_copy(update={"data": data, "output": output, "text": text,
                                         "market_index": fix(config.market_index)})
    sentiment = config.features.sentiment
    sentiment = fix_scorer(sentiment) if isinstance(sentiment, SentimentConfig) else [fix_scorer(s) for s in sentiment]
    features = config.features.model_copy(update={"sentiment": sentiment})
    return config.model_copy(update={"data": data, "output": output, "features": features})


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """JSON/YAML-ready dict of the resolved config."""
    return config.model_dump(mode="json")
