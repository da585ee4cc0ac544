"""Fit one model of a run config for use: on all labelled data up to the last day, or on the last
window as the rolling protocol would, and save it as a forecasting pipeline directory.

    pipeline = fit(config, model="MLP", out="pipelines/mlp")             # all labelled rows
    pipeline = fit(config, model="MLP", out="pipelines/mlp", window=90)  # the rolling protocol's next fold

The training rows, scalers, seed and fit are the protocol engine's own (`protocols.engine.refit`),
so a pipeline fit with the rolling run's window predicts the run's last day exactly as the run did
(`tests/pipeline/test_parity.py`). Texts are aligned, features built and scalers fit exactly as in
a run: on the training rows only.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

import finfusion.io as io
from finfusion._version import __version__
from finfusion.data.samples import build_samples
from finfusion.errors import ConfigError, DataError
from finfusion.experiments.config import ModelSpec, RunConfig, config_to_dict
from finfusion.experiments.notebook import load_run
from finfusion.experiments.rundir import config_file, package_versions
from finfusion.experiments.sources import load_market_data
from finfusion.fingerprint import arrays_fingerprint
from finfusion.models.base import Samples
from finfusion.pipeline.encoders import encoder_reference, scorer_references
from finfusion.pipeline.saved import (
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    STATE,
    Pipeline,
    load_pipeline,
    model_spec,
)
from finfusion.protocols.engine import FoldState, refit
from finfusion.protocols.splitters import RollingWindow, Split
from finfusion.seeding import derive_seed


def fit(config: RunConfig | str | Path | dict[str, Any], model: str, out: str | Path, *, window: int | None = None,
        bundle_encoder: bool = False, overwrite: bool = False, **overrides: Any) -> Pipeline:
    """Fit the model labelled `model` in `config` and save the pipeline in `out`; the loaded pipeline.

    config    a run directory (its config; its backtest metrics of `model` are recorded in the
              pipeline), a YAML path, a recipe name, a dict or a RunConfig (as `finfusion.run`),
              with `overrides` as there (`protocol__window=60`)
    window    None: every labelled row (targets known by the last price date); N: the last N dates,
              as the fold of a rolling protocol with that window that tests the last price date
              (its `valid` dates held out for early stopping when the config's protocol is rolling)
    bundle_encoder  copy a text model's encoder files into the pipeline (default: a reference by
              path and content hash, checked when the pipeline loads)
    overwrite replace the pipeline in `out`
    """
    config, backtest = _config_and_backtest(config, model, overrides)
    spec = model_spec(config, model)
    if config.data.source == "stocknet_benchmark":
        raise ConfigError("data.source stocknet_benchmark holds the benchmark's preprocessed samples, not prices and "
                          "texts a forecast can be built from; fit a config with source files or stocknet")
    out = _fresh_directory(Path(out), overwrite)
    data = load_market_data(config.data, timezone=config.market.timezone)
    samples = build_samples(data, config.sample_spec, report=data.report, unlabelled=True)
    samples = samples.select(spec.features, spec.exclude)
    split = training_split(config, samples, window)
    seed = derive_seed(config.seed, split.fold)
    state = refit(spec.predictor(), samples, split, FoldState(), config.seed, config.scaling.features,
                  config.scaling.target, warm_start=False)
    train = samples.subset(samples.labelled_rows(split.train))
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    state.save(tmp / STATE)
    encoder = encoder_reference(state.model, tmp if bundle_encoder else None)  # path + sha256, checked at load
    io.write_text(tmp / CONFIG_FILE, yaml.safe_dump(config_to_dict(config), sort_keys=False))
    io.write_json(tmp / MANIFEST, _manifest(config, spec, train, split, seed, window, encoder, backtest))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return load_pipeline(out)


def training_split(config: RunConfig, samples: Samples, window: int | None) -> Split:
    """The rows a pipeline is fit on. `samples` hold the unlabelled last days too (their dates
    place a rolling window's fold exactly where the run would put the fold that tests them)."""
    labelled = samples.labelled_rows(np.arange(len(samples)))
    if not len(labelled):
        raise DataError("no sample has a known target: give more price history than target.horizon days")
    if window is None:
        return Split(0, labelled, np.empty(0, dtype=np.int64))
    p = config.protocol
    rolling = RollingWindow(window, 1, p.valid if p.kind == "rolling" else 0, 1,
                            p.max_folds if p.kind == "rolling" else None)
    *_, last = rolling.split(samples.dates, horizon=config.target.horizon)  # ProtocolError when too short
    return last


def _config_and_backtest(config: Any, model: str, overrides: dict[str, Any]) -> tuple[RunConfig, list | None]:
    """The run config of `config`, and the backtest metrics rows of `model` when it is a run directory."""
    backtest = None
    if isinstance(config, (str, Path)) and Path(config).is_dir():
        run_dir = Path(config)
        config = config_file(run_dir)  # ConfigError when the directory holds no run
        backtest = _backtest_metrics(run_dir, model)
    resolved = load_run(config, overrides)
    if not isinstance(resolved, RunConfig):
        raise ConfigError(f"a pipeline is fit from a prediction run config, not a {type(resolved).__name__}")
    return resolved, backtest


def _backtest_metrics(run_dir: Path, label: str) -> list[dict] | None:
    """The run's metrics rows of model `label` (metrics.csv), or None when the run has none."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return None
    metrics = pd.read_csv(path)
    rows = metrics[metrics["model"] == label] if "model" in metrics.columns else metrics.iloc[0:0]
    return json.loads(rows.to_json(orient="records")) or None


def _fresh_directory(out: Path, overwrite: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory for the pipeline")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MANIFEST).is_file():
            raise ConfigError(f"--out {out} is a non-empty directory that holds no pipeline; choose another")
        if not overwrite:
            raise ConfigError(f"--out {out} holds a pipeline already; pass --overwrite to replace it")
    return out


def _manifest(config: RunConfig, spec: ModelSpec, train: Samples, split: Split, seed: int, window: int | None,
              encoder: dict | None, backtest: list[dict] | None) -> dict[str, Any]:
    """pipeline.json: what the pipeline is, what it was trained on, and with which packages."""
    dates = pd.to_datetime(train.index["date"])
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "finfusion_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "packages": package_versions(),
        "model": {"label": spec.display, "name": spec.name, "params": spec.params},
        "task": train.task, "target": config.target.model_dump(mode="json"),
        "features": list(train.feature_names), "lookback": config.features.lookback,
        "market": config.market.model_dump(mode="json"), "text": config.text.enabled,
        "training": {
            "first_date": str(dates.min().date()), "last_date": str(dates.max().date()), "rows": len(train),
            "tickers": sorted(train.index["ticker"].unique()), "window": window, "fold": split.fold, "seed": seed,
            "valid_rows": 0 if split.valid is None else len(split.valid),
            "fingerprint": arrays_fingerprint(train.index, train.X, train.y, train.texts, train.feature_names),
        },
        "encoder": encoder, "scorers": scorer_references(config.features.sentiment, train), "backtest": backtest,
    }
