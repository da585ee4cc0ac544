"""Execute a run config: plan units (sweep point x seed x model), run them, write the run directory.

A unit is independent of every other unit, so units go through an `Executor`. Each unit
checkpoints under `<run>/checkpoints/<unit>/` and writes its predictions to
`<run>/units/<unit>.parquet` when done; `resume` skips finished units and continues
unfinished ones from their last checkpointed fold.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

import finfusion.io as io
from finfusion.data.samples import MarketData, SampleSpec, build_samples
from finfusion.errors import ConfigError
from finfusion.experiments.config import (
    RunConfig,
    apply_overrides,
    config_to_dict,
    parse_config,
)
from finfusion.experiments.executor import make_executor, torch_threads
from finfusion.experiments.rundir import effective_config, run_directory
from finfusion.experiments.sources import load_market_data
from finfusion.fingerprint import arrays_fingerprint
from finfusion.models.base import LABELLED, Samples
from finfusion.models.registry import make_predictor
from finfusion.protocols.engine import run_protocol
from finfusion.protocols.splitters import (
    ChronologicalSplit,
    RollingWindow,
    Splitter,
    WalkForward,
)
from finfusion.text.encoder import set_progress


@dataclass(frozen=True)
class Unit:
    """One model trained and evaluated under one sweep point and one seed."""

    point_id: str
    point: tuple[tuple[str, Any], ...]
    seed: int
    model: str
    config: RunConfig
    also: tuple[str, ...] = ()  # other sweep points with the same resolved config (computed once)

    @property
    def unit_id(self) -> str:
        raw = f"{self.point_id}__seed{self.seed}__{self.model}"
        return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", raw).lstrip(".")


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    meta: dict


def plan_units(config: RunConfig) -> list[Unit]:
    """All units of a run in a stable order; identical sweep points are planned once."""
    base = config_to_dict(config)
    sweep = config.sweep
    seeds = sweep.seeds if sweep else [config.seed]
    units: list[Unit] = []
    first: dict[str, int] = {}  # config key -> index of its first unit
    for point_id, point in sweep_points(config):
        raw = _apply_point(base, point)
        for seed in seeds:
            seeded = apply_overrides(raw, [f"seed={seed}"])
            if sweep and sweep.resample_data and config.data.source == "simulate":
                seeded["data"]["simulate"]["seed"] = seed
            resolved = parse_config(seeded, source=f"sweep point {point_id}")
            key = _config_key(resolved)
            if key in first:
                for i in range(first[key], first[key] + len(resolved.models)):
                    units[i] = replace(units[i], also=(*units[i].also, point_id))
                continue
            first[key] = len(units)
            for spec in resolved.models:
                units.append(Unit(point_id, tuple(point), seed, spec.display, resolved))
    return units


def _config_key(config: RunConfig) -> str:
    """Identity of a resolved config, with every model's defaults filled in."""
    raw = config_to_dict(config)
    for spec in raw["models"]:
        spec["params"] = make_predictor(spec["name"], spec["params"]).get_params()
    return json.dumps(raw, sort_keys=True, default=str)


def sweep_points(config: RunConfig) -> list[tuple[str, list[tuple[str, Any]]]]:
    """(label, [(dotted path, value), ...]) of every sweep point, in sweep order."""
    sweep = config.sweep
    if sweep is None or not sweep.params:
        return [("base", [])]
    if sweep.mode == "grid":
        keys = list(sweep.params)
        combos = itertools.product(*(sweep.params[k] for k in keys))
        return [(",".join(f"{_short(k)}={v}" for k, v in zip(keys, c)), list(zip(keys, c))) for c in combos]
    return [(f"{_short(k)}={v}", [(k, v)]) for k, values in sweep.params.items() for v in values]


def _short(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _apply_point(raw: dict, point: list[tuple[str, Any]]) -> dict:
    """`raw` with each (dotted path, value) set; a '*' part applies to every item of a list."""
    sets = []
    for path, value in point:
        parts = path.split(".")
        if "*" in parts:
            star = parts.index("*")
            items = _get(raw, parts[:star])
            if not isinstance(items, list):
                raise ConfigError(f"sweep path {path}: '*' must stand for a list")
            sets += [(".".join([*parts[:star], str(i), *parts[star + 1 :]]), value) for i in range(len(items))]
        else:
            sets.append((path, value))
    return apply_overrides(raw, [f"{p}={json.dumps(v)}" for p, v in sets])


def _get(raw: Any, parts: list[str]) -> Any:
    for part in parts:
        raw = raw[int(part)] if isinstance(raw, list) else raw.get(part)
    return raw


def sample_spec(config: RunConfig) -> SampleSpec:
    f, t, x, m = config.features, config.target, config.text, config.market
    return SampleSpec(
        features=f.features,
        groups=f.groups,
        exclude_groups=tuple(f.exclude_groups),
        lookback=f.lookback,
        target_kind=t.kind,
        horizon=t.horizon,
        price_column=t.price_column,
        neutral_band=t.neutral_band,
        use_text=x.enabled,
        text_lookback_days=x.lookback_days,
        max_items=x.max_items,
        max_item_chars=x.max_item_chars,
        max_chars=x.max_chars,
        separator=x.separator,
        close_time=m.close_time,
        timezone=m.timezone,
        calendar=m.calendar,
        sentiment=f.sentiment_spec(),
    )


def make_splitter(config: RunConfig) -> Splitter:
    p = config.protocol
    if p.kind == "chronological":
        return ChronologicalSplit(p.train, p.valid, p.test, p.valid_start, p.test_start)
    if p.kind == "rolling":
        return RollingWindow(p.window, p.step, p.valid, p.refit_every, p.max_folds)
    return WalkForward(p.train_size, p.test_size, p.n_folds, p.unit, p.expanding, p.valid)


@functools.lru_cache(maxsize=4)
def _cached_inputs(data_key: str) -> tuple[MarketData, Samples]:
    config = parse_config(json.loads(data_key)["config"])
    if config.data.source == "stocknet_benchmark":
        from finfusion.experiments.sources import load_benchmark

        return load_benchmark(config.data, separator=config.text.separator)
    data = load_market_data(config.data, timezone=config.market.timezone)
    samples = build_samples(data, sample_spec(config), report=data.report)
    return data, samples


def data_key(config: RunConfig) -> str:
    """The part of a config that decides its market data and samples, as a JSON string."""
    raw = config_to_dict(config)
    keep = {k: raw[k] for k in ("data", "market", "text", "features", "target")}
    keep["models"] = raw["models"][:1]
    return json.dumps({"config": keep}, sort_keys=True)


def unit_inputs(config: RunConfig) -> tuple[MarketData, Samples]:
    """Market data and samples for a config, built once per process for identical data settings."""
    return _cached_inputs(data_key(config))


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
    from finfusion.experiments.outputs import write_outputs

    config = effective_config(config, run_dir, resume, progress)

    def prepare() -> tuple[list[str], list[Unit]]:
        set_progress(config.progress)  # text-encoder cache fills and sentiment scoring
        units = plan_units(config)
        preflight(units)
        return samples_fingerprints(units), units

    with torch_threads(config.executor.torch_threads), run_directory(
            config, run_dir, resume=resume, overwrite=overwrite, force=force, prepare=prepare) as (held, units):
        if config.analysis.privacy is not None:  # first: a bad DP setting fails in seconds, not after the units
            from finfusion.experiments.analysis import privacy_tables

            privacy_tables(config, unit_inputs(config)[1], held.path, progress=config.progress)
        executor = make_executor(config.executor.kind, workers=config.executor.workers)
        frames = executor.map(run_unit, [(u, held.path) for u in units])
        aliases = [f.assign(point=p) for u, f in zip(units, frames) for p in u.also]
        predictions = pd.concat([*frames, *aliases], ignore_index=True)
        return write_outputs(held.path, config, units, predictions)


def samples_fingerprints(units: list[Unit]) -> list[str]:
    """The fingerprint of the samples of every distinct data setting of the units."""
    seen: dict[str, str] = {}
    for unit in units:
        key = data_key(unit.config)
        if key not in seen:
            s = unit_inputs(unit.config)[1]
            seen[key] = arrays_fingerprint(s.index, s.X, s.y, s.texts, s.feature_names)
    return list(seen.values())