"""The predict run kind: units of sweep point x seed x model (and DP fit x epsilon x fold), run
by the skeleton of `experiments.execute` with any executor.

    result = run(config)            # plan -> units through the executor -> outputs

`PredictKind.plan` builds the units (`experiments.plan`) and the market data and samples they
share, and checks every unit before anything is written (`preflight`); `run_unit` trains and
evaluates one unit and returns its predictions and training curves (a function of the unit and the
shared inputs; with a shared filesystem it checkpoints inside itself, so a killed rolling run
resumes at its last fold); `summarize` writes everything a finished run holds
(`experiments.outputs`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

import finfusion.io as io
from finfusion.data.predictions import Predictions
from finfusion.data.samples import MarketData
from finfusion.errors import ConfigError
from finfusion.evaluate.floors import floor_notes
from finfusion.evaluate.significance import date_significance_notes
from finfusion.executors import ExecutorConfig
from finfusion.experiments.analysis import privacy_fit
from finfusion.experiments.config import RunConfig
from finfusion.experiments.execute import execute
from finfusion.experiments.outputs import RunResult, summary_table, write_outputs
from finfusion.experiments.plan import (
    ModelUnit,
    PredictInputs,
    PrivacyUnit,
    build_inputs,
    make_splitter,
    plan_units,
    privacy_units,
    share_text_vectors,
)
from finfusion.experiments.units import Headline, Plan, UnitResult
from finfusion.fingerprint import frame_fingerprint
from finfusion.models.base import LABELLED, Samples
from finfusion.protocols.engine import run_protocol
from finfusion.text.cache import seed as seed_text_cache


class PredictKind:
    """Prediction runs (`RunConfig`): the run kind `predict` of `experiments.kinds`."""

    name = "predict"
    unit_bars = True  # the protocol's fold bar

    def plan(self, config: RunConfig) -> Plan:
        units = plan_units(config)
        inputs = build_inputs([u.config for u in units])
        preflight(units, inputs)
        if config.executor.kind != "local":  # workers elsewhere: encode each text once, here
            share_text_vectors(units, inputs)
        privacy = privacy_units(config, inputs)  # first: a bad DP setting fails in seconds, not after the models
        return Plan([*privacy, *units], inputs, inputs.fingerprints())

    def run_unit(self, unit: ModelUnit | PrivacyUnit, shared: PredictInputs, checkpoints: Path | None) -> UnitResult:
        if isinstance(unit, PrivacyUnit):
            return UnitResult({"privacy": privacy_fit(unit, *shared.of(unit))})
        return run_model_unit(unit, shared, checkpoints)

    def summarize(self, config: RunConfig, run_dir: Path, plan: Plan, results: list[UnitResult]) -> RunResult:
        models = [(u, r) for u, r in zip(plan.units, results) if isinstance(u, ModelUnit)]
        privacy = [r.frames["privacy"] for u, r in zip(plan.units, results) if isinstance(u, PrivacyUnit)]
        frames, curves = [], []
        for unit, result in models:  # a unit computed once for several identical sweep points counts for each
            for point in (unit.point_id, *unit.also):
                frames.append(result.frames["predictions"].assign(point=point))
                if "curves" in result.frames:
                    curves.append(result.frames["curves"].assign(point=point))
        return write_outputs(run_dir, config, [u for u, _ in models], pd.concat(frames, ignore_index=True),
                             inputs=plan.shared, curves=pd.concat(curves, ignore_index=True) if curves else None,
                             privacy=pd.concat(privacy, ignore_index=True) if privacy else None)


    def headline(self, result: RunResult) -> Headline:
        """The summary table over seeds of the headline metrics, with notes on simulated-market columns."""
        task = "classification" if "accuracy" in result.metrics.columns else "regression"
        notes = []
        if "mse_ratio" in result.metrics.columns:
            notes.append("mse_ratio = MSE / noise floor (the irreducible MSE of each simulated market); 1 is the limit")
        if "corr_text" in result.metrics.columns:
            notes.append("corr_text = correlation of the prediction with the simulated text (sentiment) term")
        paired = result.run_dir / "tables" / "date_significance.csv"  # regression runs of 2+ models
        if paired.is_file():  # how big the differences are, and how sure
            notes += date_significance_notes(pd.read_csv(paired))
        floors = result.run_dir / "tables" / "floors.csv"  # classification runs: the floor beside the table
        if floors.is_file():
            notes += floor_notes(pd.read_csv(floors))
        return Headline(summary_table(result.metrics, task), task, notes)


PREDICT = PredictKind()


def run_model_unit(unit: ModelUnit, inputs: PredictInputs, checkpoints: Path | None) -> UnitResult:
    """Train and evaluate one model unit under its protocol: predictions (one row per test sample)
    and the per-epoch training curves of every refit. `checkpoints` (None: none) is the folder of
    this run's unit checkpoints; a unit resumes from its own there."""
    config = unit.config
    seed_text_cache(inputs.text)  # the frozen encoders' vectors of the run's texts, computed by the driver
    samples = inputs.of(unit)[1].select(unit.spec.features, unit.spec.exclude)  # the model's columns (a variant)
    predictor = unit.spec.predictor()
    where = None if checkpoints is None else io.safe_join(checkpoints, unit.unit_id)
    kept: list[pd.DataFrame] = []

    def keep_curves(fold: int, model) -> None:  # on disk per fold when checkpointing: a resumed unit keeps earlier folds'
        curves = model.training_curves()
        if curves is None:
            return
        if where is None:
            kept.append(curves.assign(fold=fold))
        else:
            io.write_parquet(where / "curves" / f"fold_{fold:05d}.parquet", curves.assign(fold=fold))

    protocol = config.protocol
    started = time.perf_counter()
    preds = run_protocol(
        predictor, samples, make_splitter(config), horizon=config.target.horizon, model_name=unit.model,
        seed=unit.seed, scale_features=config.scaling.features, scale_target=config.scaling.target,
        warm_start=getattr(protocol, "warm_start", False), checkpoint_dir=where,
        checkpoint_every=getattr(protocol, "checkpoint_every", 1), progress=config.progress,
        explain=explains(config, unit.model, predictor), on_refit=keep_curves,
    )
    if where is not None:
        kept = [io.read_parquet(f, recover=f"delete {where} to recompute the unit")
                for f in sorted((where / "curves").glob("fold_*.parquet"))]
    preds = with_truth(preds, samples)
    seconds = time.perf_counter() - started
    frames = {"predictions": preds.assign(point=unit.point_id, fit_seconds=seconds)}
    if kept:
        frames["curves"] = pd.concat(kept, ignore_index=True).assign(point=unit.point_id, seed=unit.seed,
                                                                     model=unit.model)
    return UnitResult(frames, {"fit_seconds": seconds})


def explains(config: RunConfig, model: str, predictor) -> bool:
    """Whether the run's `analysis.shap` asks for TreeSHAP attributions of this model."""
    shap = config.analysis.shap
    if shap is None:
        return False
    if shap.models is None:
        return hasattr(predictor, "shap_values")
    return model in shap.models


def preflight(units: list[ModelUnit], inputs: PredictInputs) -> None:
    """Check every unit against its samples and plan its splits, so bad settings fail before
    anything is written."""
    _check_one_market(units, inputs)
    for unit in units:
        data, samples = inputs.of(unit)
        spec = unit.spec
        predictor = spec.predictor()
        predictor.check_task(samples.select(spec.features, spec.exclude))
        if predictor.uses_text and not any(samples.texts or ()):
            raise ConfigError(f"model {unit.model!r} ({spec.name}) reads texts, but none of the {len(samples):,} "
                              f"samples has any text; {_text_story(data)}")
        if explains(unit.config, unit.model, predictor) and not hasattr(predictor, "shap_values"):
            raise ConfigError(f"analysis.shap.models: {unit.model!r} ({spec.name}) has no TreeSHAP attributions; "
                              "only tree models (xgboost) can be explained")
        try:
            n_splits = make_splitter(unit.config).n_splits(samples.dates, horizon=unit.config.target.horizon)
        except ConfigError as err:  # keep the class (ProtocolError: the CLI's exit code 4)
            raise type(err)(f"{err}\n{_data_story(data, samples)}") from None
        privacy = unit.config.analysis.privacy
        if privacy is not None:
            samples.select(privacy.features, privacy.exclude)
            missing = sorted(set(privacy.folds or ()) - set(range(n_splits)))
            if missing:
                raise ConfigError(f"analysis.privacy.folds: no fold(s) {missing}; the protocol has folds 0..{n_splits - 1}")


def _text_story(data: MarketData) -> str:
    """Where the texts went: how many were read and what removed them (the cleaning records)."""
    if data.texts is None:
        return "the data have no texts (data.texts)"
    removed = [f"{d.count:,} {d.reason}" for d in data.report.dropped if d.step in _TEXT_STEPS]
    story = f"{len(data.texts):,} texts were read"
    return story + (f"; removed: {'; '.join(removed)}" if removed else "; none was removed, so none fell on a sample")


_TEXT_STEPS = ("align_texts", "validate_texts", "data filter")


def _data_story(data: MarketData, samples: Samples) -> str:
    """How the price rows became the samples the protocol splits: rows and dates at each end and
    every cleaning record (feature warm-up, targets not yet realised, ...)."""
    prices = data.prices
    lines = [f"the samples hold {len(samples):,} rows over {samples.index['date'].nunique():,} dates, from "
             f"{len(prices):,} price rows over {prices['date'].nunique() if len(prices) else 0:,} dates; removed on the way:"]
    lines += [f"  {d.step}: {d.count:,} ({d.reason})" for d in data.report.dropped] or ["  nothing"]
    return "\n".join(lines)


def run(
    config: RunConfig | None,
    *,
    run_dir: Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
    overwrite: bool = False,
    force: bool = False,
    executor: ExecutorConfig | None = None,
) -> RunResult:
    """Run every unit of `config` and write the run directory; `resume` continues `run_dir` with
    the config saved there (refusing changed inputs unless `force`). `progress` overrides the
    config's progress bars; `overwrite` lets a new run use a non-empty directory (rundir);
    `executor` overrides where the units run (experiments.execute)."""
    return execute(PREDICT, config, run_dir=run_dir, resume=resume, progress_bars=progress, overwrite=overwrite,
                   force=force, executor=executor)


def with_truth(preds: pd.DataFrame, samples) -> pd.DataFrame:
    """The predictions with the samples' ground-truth extras (e.g. the simulator's text term, a
    StockNet sample's movement) as the `truth` part, matched on (date, ticker), for the report's checks.
    Only one value per sample is truth: 2-D extras (model inputs such as StockNet's price_ages) are not."""
    fields = {k: v for k, v in samples.extras.items() if k != LABELLED and v.ndim == 1}
    if not fields:
        return preds
    truth = samples.index[["date", "ticker"]].assign(**fields)
    rows = preds[["date", "ticker"]].merge(truth, on=["date", "ticker"], how="left", validate="m:1")
    parsed = Predictions.from_frame(preds)
    return replace(parsed, truth=rows.drop(columns=["date", "ticker"]).set_axis(parsed.core.index)).to_frame()


def _check_one_market(units: list[ModelUnit], inputs: PredictInputs) -> None:
    """The trading analyses (analysis.pnl, analysis.portfolio on prices) realise returns from one
    market's prices; a run whose units see different markets (e.g. `sweep.resample_data` on
    simulated data: a market per seed) would trade every unit on the first one. Refuse it."""
    analysis = units[0].config.analysis if units else None
    if analysis is None:
        return
    trades = [name for name, on in (("analysis.pnl", analysis.pnl is not None),
                                    ("analysis.portfolio (returns: prices)",
                                     analysis.portfolio is not None and analysis.portfolio.returns == "prices")) if on]
    if not trades:
        return
    markets = {frame_fingerprint(inputs.of(unit)[0].prices) for unit in units}
    if len(markets) > 1:
        raise ConfigError(f"{' and '.join(trades)} trade on one market's prices, but the units of this run see "
                          f"{len(markets)} different markets (sweep.resample_data draws a simulated market per seed; "
                          "a sweep of data settings changes it too): set sweep.resample_data: false, or sweep the "
                          "markets in separate runs")
