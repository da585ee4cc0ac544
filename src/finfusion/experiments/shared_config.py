"""Config sections shared by prediction runs (`experiments.config.RunConfig`) and RL runs
(`experiments.rl_config.RlConfig`): the run name, data and output. (The market section and the
sentiment spec they share live below them: `finfusion.data.sample_spec.MarketConfig`,
`finfusion.features.sentiment.SentimentSpec`.)

Both run configs import them from here, so neither config module imports the other's sections
(`experiments.config` re-exports them, `from finfusion.experiments.config import DataConfig` works).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from finfusion.data.dates import parse_hhmm
from finfusion.data.shapes import COLUMN_KEYS, InputShape, check_columns
from finfusion.data.simulate import SimulatorConfig
from finfusion.strict import _Strict


def _plain_name(value: str) -> str:
    """A run name becomes a directory name under output.dir: no path separators, no leading dot."""
    if not _RUN_NAME.match(value):
        raise ValueError(f"name {value!r} must be a plain directory name: letters, digits and _ . = , + -, "
                         "starting with a letter or digit (no '/', no '..'), at most 100 characters")
    return value


_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=,+-]{0,99}$")
RunName = Annotated[str, AfterValidator(_plain_name)]


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


class OutputConfig(_Strict):
    dir: Path = Field(Path("runs"), description="run directories go to <dir>/<name>-<time> (unless --out)")
    plots: bool = Field(True, description="write the plots")
    report: bool = Field(True, description="write report.html")
