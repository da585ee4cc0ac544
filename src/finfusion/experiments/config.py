"""Typed run configuration: YAML in, validated objects out.

Unknown keys and bad values are rejected with the key path, the value received and the
allowed values. `load_config(path, overrides)` applies `--set key=value` overrides (dotted
paths, list items by number: `models.0.params.hidden=32`) before validation. Paths in a
config are resolved relative to the config file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from finfusion.data.sample_spec import (  # noqa: F401 - re-exported for `from experiments.config import ...`
    FeatureConfig,
    MarketConfig,
    SampleSpec,
    TargetConfig,
    TextConfig,
)
from finfusion.errors import ConfigError
from finfusion.executors import ExecutorConfig
from finfusion.experiments.analysis_config import (  # noqa: F401 - re-exported for `from experiments.config import ...`
    AnalysisConfig,
    PnlConfig,
    PortfolioConfig,
    PrivacyConfig,
    PrivacyModelConfig,
    ShapConfig,
    SignificanceConfig,
)
from finfusion.experiments.overrides import apply_overrides, select_models, set_path  # noqa: F401 - re-exported
from finfusion.experiments.recipes import available_recipes, recipe_path
from finfusion.experiments.shared_config import (  # noqa: F401 - re-exported for `from experiments.config import ...`
    SHAPE_KEYS,
    BenchmarkConfig,
    DataConfig,
    OutputConfig,
    RunName,
)
from finfusion.experiments.tracking import TrackingConfig
from finfusion.experiments.yaml_loader import load_yaml, shorten
from finfusion.features.sentiment import SentimentSpec
from finfusion.models.catalogue import read_catalogue
from finfusion.protocols.splitters import ChronologicalSplit
from finfusion.strict import _Strict
from finfusion.text.scorers import is_lexicon


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
    configs_tried: int | None = Field(
        None, ge=1, description="how many configurations of this model were tried (on train / dev) before this "
        "one: shown beside its results in the floor table, so a reader knows how much searching went into a "
        "number; unset: 'not stated'")

    @property
    def display(self) -> str:
        return self.label or self.name

    def predictor(self):
        """A new, unfitted predictor of this spec, its params checked against the model's signature."""
        from finfusion.models.registry import make_predictor  # torch and the models load when a model is built

        return make_predictor(self.name, self.params)

    def full_params(self) -> dict[str, Any]:
        """The predictor's parameters with its defaults filled in; the params are checked (a
        predictor built) once per name and params in a process, however many sweep points share them."""
        key = (self.name, json.dumps(self.params, sort_keys=True, default=str))
        if key not in _FULL_PARAMS:
            _FULL_PARAMS[key] = self.predictor().get_params()
        return _FULL_PARAMS[key]


_FULL_PARAMS: dict[tuple[str, str], dict[str, Any]] = {}


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


class RunConfig(_Strict):
    kind: Literal["predict"] = Field("predict", description="the run kind (experiments.kinds): predict, or rl for "
                                     "an RL portfolio run (experiments.rl_config)")
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
    tracking: TrackingConfig | None = Field(
        None, description="log the finished run to MLflow (extra [mlflow]; docs/tracking.md)")
    output: OutputConfig = Field(default_factory=OutputConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    progress: bool = Field(True, description="progress bars on stderr")

    @property
    def sample_spec(self) -> SampleSpec:
        """The run's `SampleSpec`: its own features, target, text and market sections (not copies)."""
        return SampleSpec(features=self.features, target=self.target, text=self.text, market=self.market)

    @model_validator(mode="before")
    @classmethod
    def _run_wide_inference(cls, raw: Any) -> Any:
        return with_run_inference(raw)

    @model_validator(mode="after")
    def _check_models(self) -> RunConfig:
        labels = [m.display for m in self.models]
        if len(set(labels)) != len(labels):
            raise ValueError(f"models need distinct labels, got {labels}")
        for i, spec in enumerate(self.models):
            try:
                spec.full_params()  # checks every param against the model's signature
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


def with_run_inference(raw: Any) -> Any:
    """`raw` (a run config's mapping) with `text.engine` / `text.precision` written into the models
    and sentiment specs they apply to, where those set neither of their own: `encoder_engine` /
    `encoder_precision` of each text model whose tuning is "frozen" (ONNX Runtime and int8 run
    frozen inference only), `engine` / `precision` of each sentiment spec with a classifier scorer.
    The resolved config (config.yaml of a run) then names the engine of each. Other inputs unchanged."""
    text = _as_mapping(raw.get("text")) if isinstance(raw, dict) else None
    if not isinstance(text, dict) or (text.get("engine") is None and text.get("precision") is None):
        return raw
    run = {k: text[k] for k in ("engine", "precision") if text.get(k) is not None}
    catalogue = {m["name"]: m["params"] for m in read_catalogue()}
    models = []
    for spec in map(_as_mapping, raw.get("models") or []):
        defaults = catalogue.get(spec.get("name")) if isinstance(spec, dict) else None
        params = spec.get("params") or {} if isinstance(spec, dict) else {}
        if defaults is not None and "encoder_engine" in defaults and isinstance(params, dict) and \
                params.get("tuning", defaults.get("tuning")) == "frozen" and \
                not {"encoder_engine", "encoder_precision"} & set(params):
            spec = {**spec, "params": {f"encoder_{k}": v for k, v in run.items()} | params}
        models.append(spec)
    features = _as_mapping(raw.get("features"))
    if isinstance(features, dict) and features.get("sentiment") is not None:
        specs = features["sentiment"]
        resolved = [_spec_inference(_as_mapping(s), run) for s in (specs if isinstance(specs, list) else [specs])]
        features = {**features, "sentiment": resolved if isinstance(specs, list) else resolved[0]}
    return {**raw, **({"models": models} if "models" in raw else {}), **({"features": features} if features else {})}


def _as_mapping(value: Any) -> Any:
    """A config model as the mapping of the fields it was given (a config built in Python); else `value`."""
    return value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value


def _spec_inference(spec: Any, run: dict[str, str]) -> Any:
    """A sentiment spec mapping with the run-wide engine / precision where its scorer is a classifier."""
    if not isinstance(spec, dict) or is_lexicon(spec.get("scorer", "vader")) or {"engine", "precision"} & set(spec):
        return spec
    return run | spec


def parse_config(raw: dict[str, Any], *, source: str = "<config>") -> RunConfig:
    """Validate a raw dict; raise ConfigError listing every problem with its key path. Its `kind`
    (default predict) picks the config type (`CONFIG_TYPES`; e.g. `kind: rl` is an RL portfolio
    experiment, experiments.rl_config.RlConfig)."""
    kind = raw.get("kind", "predict") if isinstance(raw, dict) else "predict"
    if kind not in CONFIG_TYPES:
        raise ConfigError(f"invalid configuration in {source}: kind {kind!r} is not a run kind; "
                          f"known: {', '.join(CONFIG_TYPES)}")
    return validate(CONFIG_TYPES[kind](), raw, source=source)


def _rl_config() -> type[BaseModel]:
    from finfusion.experiments.rl_config import RlConfig  # on use: it loads stable-baselines3 (~1.6 s)

    return RlConfig


def _sentiment_config() -> type[BaseModel]:
    from finfusion.experiments.sentiment_config import SentimentRunConfig  # on use: it loads torch (text.sentiment)

    return SentimentRunConfig


CONFIG_TYPES: dict[str, Callable[[], type[BaseModel]]] = {"predict": lambda: RunConfig, "rl": _rl_config,
                                                          "sentiment": _sentiment_config}


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
    path: str | Path, overrides: list[str] | None = None, *, base: Path | None = None, quick: bool = False,
    models: list[str] | None = None,
) -> RunConfig:
    """Read YAML (safe loader), apply `key=value` overrides, validate, and resolve relative
    paths against `base` (default: the config file's folder).

    A recipe may hold a top-level `quick:` mapping of dotted paths to values: a smaller version
    of the experiment that finishes in minutes, applied (before `overrides`) when `quick`.
    `models` (labels or names) keeps only those model specs (`overrides.select_models`), after the
    overrides."""
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
    if models is not None:
        raw = select_models(raw, models)
    return resolve_paths(parse_config(raw, source=str(path)), path.parent if base is None else base)


DATA_PATHS = ("prices", "texts", "load_log", "stocknet_root")  # the path keys of DataConfig


def resolve_paths(config: RunConfig, base: Path) -> RunConfig:
    """Make relative data, scorer and output paths relative to `base` (the config file's folder).
    A config type with paths of its own resolves them itself (`with_resolved_paths`: kind sentiment)."""
    if getattr(config, "tracking", None) is not None:  # a local tracking store: relative to the config, as output.dir
        config = config.model_copy(update={"tracking": config.tracking.resolved(base)})
    if hasattr(config, "with_resolved_paths"):
        return config.with_resolved_paths(base)

    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else (base / p).resolve()

    def fix_scorer(spec: SentimentSpec) -> SentimentSpec:
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
    sentiment = fix_scorer(sentiment) if isinstance(sentiment, SentimentSpec) else [fix_scorer(s) for s in sentiment]
    features = config.features.model_copy(update={"sentiment": sentiment})
    return config.model_copy(update={"data": data, "output": output, "features": features})


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """JSON/YAML-ready dict of the resolved config."""
    return config.model_dump(mode="json")


def load_named_config(name: str | Path, overrides: list[str] | None = None, *, quick: bool = False,
                      models: list[str] | None = None) -> RunConfig:
    """The config `name` names: a YAML file (paths relative to its folder), else a packaged recipe
    (paths relative to the working directory); ConfigError naming both when it is neither."""
    if Path(name).is_file():
        return load_config(name, overrides, quick=quick, models=models)
    if str(name) in available_recipes():
        return load_config(recipe_path(str(name)), overrides, base=Path.cwd(), quick=quick, models=models)
    raise ConfigError(f"{name} is neither a file nor a recipe ({', '.join(available_recipes())})")
