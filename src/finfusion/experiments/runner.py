"""Execute a run config: plan its units (experiments.plan), run them, write the run directory.

A unit is independent of every other unit, so units go through an `Executor`. Each unit
checkpoints under `<run>/checkpoints/<unit>/` and writes its predictions to
`<run>/units/<unit>.parquet` when done; `resume` skips finished units and continues
unfinished ones from their last checkpointed fold. The planning and the inputs of the units
live in `experiments.plan`; what a finished run writes in `experiments.outputs` (which, like
`experiments.analysis`, never imports this module).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

import finfusion.io as io
from finfusion.data.samples import MarketData
from finfusion.errors import ConfigError
from finfusion.experiments.analysis import privacy_tables
from finfusion.experiments.config import RunConfig
from finfusion.experiments.executor import make_executor, torch_threads
from finfusion.experiments.outputs import RunResult, write_outputs
from finfusion.experiments.plan import Unit, make_splitter, plan_units, samples_fingerprints, unit_inputs
from finfusion.experiments.rundir import effective_config, run_directory
from finfusion.models.base import LABELLED, Samples
from finfusion.models.registry import make_predictor
from finfusion.protocols.engine import run_protocol
from finfusion.text.encoder import set_progress


def run_unit(args: tuple[Unit, Path]) -> pd.DataFrame:
    """Run one unit (resuming from its checkpoint) and store its predictions."""
    unit, run_dir = args
    done = io.safe_join(run_dir, "units", f"{unit.unit_id}.parquet")
    if done.exists():
        return io.read_parquet(done, recover=f"delete it to recompute unit {unit.unit_id} on --resume")
    config = unit.config
    _, samples = unit_inputs(config)
    spec = next(m for m in config.models if m.display == unit.model)
    samples = samples.select(spec.features, spec.exclude)  # the model's columns (a variant)
    predictor = make_predictor(spec.name, spec.params)
    set_progress(config.progress)  # again here: a worker process has its own flag
    protocol = config.protocol
    checkpoints = io.safe_join(run_dir, "checkpoints", unit.unit_id)

    def keep_curves(fold: int, model) -> None:  # per fold on disk, so a resumed unit keeps earlier folds'
        curves = model.training_curves()
        if curves is not None:
            io.write_parquet(checkpoints / "curves" / f"fold_{fold:05d}.parquet", curves.assign(fold=fold))

    started = time.perf_counter()
    preds = run_protocol(
        predictor,
        samples,
        make_splitter(config),
        horizon=config.target.horizon,
        model_name=unit.model,
        seed=unit.seed,
        scale_features=config.scaling.features,
        scale_target=config.scaling.target,
        warm_start=getattr(protocol, "warm_start", False),
        checkpoint_dir=checkpoints,
        checkpoint_every=getattr(protocol, "checkpoint_every", 1),
        progress=config.progress,
        explain=explains(config, unit.model, predictor),
        on_refit=keep_curves,
    )
    folds = sorted((checkpoints / "curves").glob("fold_*.parquet"))
    if folds:
        curves = pd.concat([io.read_parquet(f, recover=f"delete {checkpoints} to recompute the unit")
                            for f in folds], ignore_index=True)
        io.write_parquet(io.safe_join(run_dir, "units", f"{unit.unit_id}.curves.parquet"),
                         curves.assign(point=unit.point_id, seed=unit.seed, model=unit.model))
    if samples.extras:  # simulated ground truth (e.g. the text term), for the report's checks
        truth = samples.index.assign(**{f"truth_{k}": v for k, v in samples.extras.items() if k != LABELLED})
        preds = preds.merge(truth, on=["date", "ticker"], how="left", validate="m:1")
    preds["point"] = unit.point_id
    preds["fit_seconds"] = time.perf_counter() - started
    io.write_parquet(done, preds)
    return preds


def explains(config: RunConfig, model: str, predictor) -> bool:
    """Whether the run's `analysis.shap` asks for TreeSHAP attributions of this model."""
    shap = config.analysis.shap
    if shap is None:
        return False
    if shap.models is None:
        return hasattr(predictor, "shap_values")
    return model in shap.models


def preflight(units: list[Unit]) -> None:
    """Load the data of every unit and plan its splits, so bad settings fail before anything is written."""
    for unit in units:
        data, samples = unit_inputs(unit.config)
        spec = next(m for m in unit.config.models if m.display == unit.model)
        predictor = make_predictor(spec.name, spec.params)
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
) -> RunResult:
    """Run every unit of `config` and write the run directory; `resume` continues `run_dir` with
    the config saved there (refusing changed inputs unless `force`). `progress` overrides the
    config's progress bars; `overwrite` lets a new run use a non-empty directory (rundir)."""
    config = effective_config(config, run_dir, resume, progress)

    def prepare() -> tuple[list[str], list[Unit]]:
        set_progress(config.progress)  # text-encoder cache fills and sentiment scoring
        units = plan_units(config)
        preflight(units)
        return samples_fingerprints(units), units

    with torch_threads(config.executor.torch_threads), run_directory(
            config, run_dir, resume=resume, overwrite=overwrite, force=force, prepare=prepare) as (held, units):
        if config.analysis.privacy is not None:  # first: a bad DP setting fails in seconds, not after the units
            privacy_tables(config, unit_inputs(config)[1], held.path, progress=config.progress)
        executor = make_executor(config.executor.kind, workers=config.executor.workers)
        frames = executor.map(run_unit, [(u, held.path) for u in units])
        aliases = [f.assign(point=p) for u, f in zip(units, frames) for p in u.also]
        predictions = pd.concat([*frames, *aliases], ignore_index=True)
        return write_outputs(held.path, config, units, predictions)
