"""A saved forecasting pipeline: load it, check it would reproduce, predict from recent data.

    pipeline = load_pipeline("pipelines/mlp")
    rows = pipeline.predict(prices, texts, asof=None)   # one row per ticker, for the next day(s)

The directory (written by `finfusion.pipeline.fit`):

    pipeline.json   what it is: model (label, name, params), task, target, features, market rules,
                    training period and rows, a fingerprint of the training samples, the seed,
                    the text encoder and any sentiment classifier whose scores are features (path
                    and sha256), package versions, the backtest's metrics
    config.yaml     the resolved run config it was fit from
    state/model/    the fitted model in its own format (safetensors / XGBoost JSON + config.json)
    state/scalers.json  the feature and target scalers, fit on the training rows only

`predict` builds features with exactly the code a backtest uses (`data.samples.build_samples`,
causal alignment: a text after a session's close belongs to the next session) and runs the
protocol engine's `predict_fold` on the rows of day `asof`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

import finfusion.io as io
import finfusion.progress as progress_bars
from finfusion._version import __version__
from finfusion.data.align import session_closes
from finfusion.data.calendar import TradingCalendar
from finfusion.data.frames import CleaningReport
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.schema import validate_prices, validate_texts
from finfusion.errors import ConfigError, DataError
from finfusion.experiments.config import ModelSpec, RunConfig, parse_config
from finfusion.experiments.rundir import package_versions
from finfusion.features.build import warmup_cause
from finfusion.pipeline.encoders import check_encoder, check_scorers, saved_model_reading
from finfusion.protocols.engine import FoldState, predict_fold
from finfusion.protocols.splitters import Split

FORMAT, FORMAT_VERSION = "finfusion-pipeline", 1
MANIFEST, CONFIG_FILE, STATE = "pipeline.json", "config.yaml", "state"
CHECKED_PACKAGES = ("finfusion", "torch", "scikit-learn", "xgboost", "transformers", "peft")  # the numbers depend on them
RUN_COLUMNS = ("y_true", "fold", "model", "seed", "labelled")  # predict_fold's backtest columns a forecast has no use for


@dataclass(frozen=True)
class Pipeline:
    """A loaded pipeline (see the module docstring): `config` the run config it was fit from,
    `state` the fitted model and scalers, `manifest` pipeline.json."""

    directory: Path
    manifest: dict[str, Any]
    config: RunConfig
    state: FoldState

    @property
    def name(self) -> str:
        return self.manifest["model"]["label"]

    @property
    def spec(self) -> ModelSpec:
        """The pipeline's model in its config."""
        return model_spec(self.config, self.name)

    def describe(self) -> dict[str, Any]:
        """What is loaded, JSON-ready: model, task, target, training period and fingerprint, versions."""
        m = self.manifest
        return {"model": m["model"], "task": m["task"], "target": m["target"], "features": m["features"],
                "training": m["training"], "encoder": m["encoder"], "finfusion_version": m["finfusion_version"],
                "packages": m["packages"], "created_at": m["created_at"], "backtest": m["backtest"],
                "directory": str(self.directory)}

    def predict(self, prices: pd.DataFrame, texts: pd.DataFrame | None = None, asof: Any = None, *,
                progress: bool = False) -> pd.DataFrame:
        """One row per ticker of `prices`: the forecast made at the close of `asof` (default: the
        last date in `prices`) for `target_date` (`target.horizon` sessions later).

        prices  date, ticker, close (+ open, high, low, volume, adj_close): enough history for the
                features of every ticker, up to `asof`
        texts   timestamp (time-zone aware, or ISO with an offset), ticker, text; those published
                after `asof`'s close are ignored and counted (frame.attrs["texts_after_close"])
        Columns: ticker, asof, target_date, prediction (target units: a return as a fraction, or
        the class id), p_<class> for classifiers, texts (how many entered the newsflow), newest_text
        (their latest timestamp, UTC), att_<token> (attention weights) for fusion models.
        Raises DataError naming the tickers whose prices end before `asof` or that lack the
        history their features need. `progress`: show the text encoder's bar (many new texts)."""
        with progress_bars.showing(progress):
            return self._predict(prices, texts, asof)

    def _predict(self, prices: pd.DataFrame, texts: pd.DataFrame | None, asof: Any) -> pd.DataFrame:
        market = self.config.market
        prices = validate_prices(prices, source="prices")
        day = _asof(prices, asof)
        prices = prices[prices["date"] <= day].reset_index(drop=True)
        notes: dict[str, Any] = {"asof": str(day.date()), "texts_after_close": 0}
        if texts is not None and len(texts):
            texts = validate_texts(texts, source="texts", tickers=sorted(prices["ticker"].unique()),
                                   timezone=market.timezone)
            close = session_closes(TradingCalendar(pd.DatetimeIndex([day])), close_time=market.close_time,
                                   timezone=market.timezone)[0]
            late = (texts["timestamp"].dt.tz_convert("UTC") > close).to_numpy()
            notes["texts_after_close"] = int(late.sum())
            texts = texts.loc[~late].reset_index(drop=True)
        else:
            texts = None
        report = CleaningReport()
        samples = build_samples(MarketData(prices, texts, report=report), self.config.sample_spec, report=report,
                                unlabelled=True)
        samples = samples.select(self.spec.features, self.spec.exclude)
        rows = np.flatnonzero(pd.DatetimeIndex(samples.dates) == day)
        _check_tickers(prices, samples.index["ticker"].to_numpy()[rows], day, report)
        training = self.manifest["training"]
        frame = predict_fold(self.state, samples, Split(training["fold"], np.empty(0, np.int64), rows),
                             self.name, training["seed"])
        out = _forecast_rows(frame, samples, rows, texts, self.config, day)
        out.attrs.update(notes)
        return out


def load_pipeline(directory: str | Path, *, allow_version_mismatch: bool = False) -> Pipeline:
    """The pipeline saved in `directory`; ConfigError when it would not reproduce: another
    finfusion or model-package version (unless `allow_version_mismatch`), or other text-encoder
    files than it was fit with."""
    where = Path(directory)
    if not (where / MANIFEST).is_file():
        raise ConfigError(f"{where} is not a finfusion pipeline: {where / MANIFEST} is missing (write one with "
                          "`finfusion fit CONFIG --model LABEL --out DIR`)")
    manifest = io.read_json(where / MANIFEST)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{where / MANIFEST}: format {manifest.get('format')!r} version "
                          f"{manifest.get('format_version')!r}, expected {FORMAT!r} version {FORMAT_VERSION}")
    differ = _version_differences(manifest.get("packages", {}))
    if differ and not allow_version_mismatch:
        raise ConfigError(f"{where} was fit with other package versions ({'; '.join(differ)}): its predictions "
                          "may not reproduce. Install those versions, fit it again, or load it with "
                          "allow_version_mismatch=True (--allow-version-mismatch)")
    config = parse_config(yaml.safe_load((where / CONFIG_FILE).read_text(encoding="utf-8")),
                          source=str(where / CONFIG_FILE))
    spec = model_spec(config, manifest["model"]["label"])
    try:
        with saved_model_reading(where / STATE, manifest.get("encoder"), where) as state_dir:
            state = FoldState.load(state_dir, spec.predictor())
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{where / STATE}: the fitted model cannot be read ({type(err).__name__}: {err})") from err
    check_encoder(manifest.get("encoder"), state.model, where)
    check_scorers(manifest.get("scorers", []), where)
    return Pipeline(where, manifest, config, state)


def model_spec(config: RunConfig, label: str) -> ModelSpec:
    """The model labelled `label` in `config`; ConfigError listing the labels there otherwise."""
    specs = {m.display: m for m in config.models}
    if label not in specs:
        raise ConfigError(f"no model labelled {label!r} in the config; its models: {', '.join(specs)}")
    return specs[label]


def forecast_records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """`Pipeline.predict`'s rows as JSON-ready dicts (the CLI's --json and the HTTP service):
    asof and target_date as YYYY-MM-DD, newest_text as ISO 8601 in UTC, missing values as None."""
    out = rows.copy()
    for column in ("asof", "target_date"):
        out[column] = pd.to_datetime(out[column]).dt.strftime("%Y-%m-%d")
    out["newest_text"] = [None if t is None or pd.isna(t) else pd.Timestamp(t).isoformat() for t in out["newest_text"]]
    records = out.astype(object).where(out.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in records]


def _version_differences(recorded: dict[str, str]) -> list[str]:
    now = {**package_versions(), "finfusion": __version__}
    return [f"{name} {recorded.get(name)} at fit, {now.get(name)} now" for name in CHECKED_PACKAGES
            if recorded.get(name) != now.get(name)]


def _asof(prices: pd.DataFrame, asof: Any) -> pd.Timestamp:
    """The forecast day: `asof` as a date, or the last date in `prices`; DataError when the prices
    end before it."""
    last = prices["date"].max()
    if asof is None:
        return last
    try:
        day = pd.Timestamp(asof).normalize()
    except (TypeError, ValueError) as err:
        raise DataError(f"asof {asof!r} is not a date (expected YYYY-MM-DD)") from err
    if day.tz is not None:
        day = day.tz_localize(None)
    if day > last:
        raise DataError(f"the prices end on {last.date()}, before asof {day.date()}: a forecast at the close of "
                        f"{day.date()} needs that day's prices")
    return day


def _check_tickers(prices: pd.DataFrame, predicted: np.ndarray, day: pd.Timestamp, report: CleaningReport) -> None:
    """DataError naming every ticker of `prices` without a forecast row on `day`, with the reason."""
    last = prices.groupby("ticker")["date"].max()
    stale = {t: d for t, d in last.items() if d < day}
    short = sorted(set(last.index) - set(stale) - set(predicted))
    if not stale and not short:
        return
    lines = [f"  {t}: prices end on {d.date()}, before asof {day.date()}" for t, d in sorted(stale.items())]
    cause = warmup_cause(report) or "not enough price history for the features and their look-back"
    lines += [f"  {t}: no features on {day.date()}: {cause}" for t in short]
    raise DataError(f"{len(lines)} ticker(s) cannot be forecast at the close of {day.date()}:\n" + "\n".join(lines))


def _forecast_rows(frame: pd.DataFrame, samples, rows: np.ndarray, texts: pd.DataFrame | None,
                   config: RunConfig, day: pd.Timestamp) -> pd.DataFrame:
    """predict_fold's rows as forecasts: target_date, prediction, texts count and newest timestamp."""
    out = frame.drop(columns=[c for c in RUN_COLUMNS if c in frame.columns]).rename(columns={"y_pred": "prediction"})
    out = out.rename(columns={"date": "asof"})
    out.insert(2, "target_date", _target_date(day, config))
    out = out[["ticker", "asof", *[c for c in out.columns if c not in ("ticker", "asof")]]]
    items = samples.text_items
    out["texts"] = [len(items[i]) if items is not None else 0 for i in rows]
    out["newest_text"] = [None if n == 0 else t for n, t in zip(out["texts"], _newest_texts(out["ticker"], texts))]
    if samples.task == "classification":
        out["prediction"] = out["prediction"].astype(np.int64)
    return out.sort_values("ticker", kind="stable").reset_index(drop=True)


def _target_date(day: pd.Timestamp, config: RunConfig) -> pd.Timestamp:
    """The session `target.horizon` sessions after `day`: the exchange's (market.calendar) or
    business days."""
    horizon = config.target.horizon
    if config.market.calendar:
        calendar = TradingCalendar.from_exchange(config.market.calendar, day, day + pd.Timedelta(days=horizon * 7 + 14))
        later = calendar.sessions[calendar.sessions > day]
        return later[horizon - 1]
    return day + pd.offsets.BDay(horizon)


def _newest_texts(tickers: pd.Series, texts: pd.DataFrame | None) -> list:
    """Per ticker, the latest timestamp (UTC) of its texts (those up to the forecast's close), or None."""
    if texts is None:
        return [None] * len(tickers)
    newest = texts.assign(utc=texts["timestamp"].dt.tz_convert("UTC")).groupby("ticker")["utc"].max()
    return [newest.get(t) for t in tickers]
