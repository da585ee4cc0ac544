"""Plan a prediction run: its units (sweep point x seed x model; DP fit x epsilon x fold) and the
inputs they share.

`plan_units` turns a resolved `RunConfig` into small frozen `ModelUnit`s with stable ids (the
*plan* part of the predict run kind, `experiments.runner`); `build_inputs` builds the market data
and samples of every distinct data setting once, in the driver (`PredictInputs`, sent to each
worker once); `make_splitter` gives the config's protocol splitter. Sweep points are applied to the
validated config (`experiments.overrides.with_values`), never through a dict or JSON copy.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from finfusion.data.samples import MarketData, build_samples
from finfusion.errors import ConfigError
from finfusion.experiments.config import ModelSpec, RunConfig
from finfusion.experiments.overrides import with_values
from finfusion.experiments.sources import load_benchmark, load_market_data
from finfusion.experiments.units import UnitSpec
from finfusion.fingerprint import arrays_fingerprint
from finfusion.models.base import Samples
from finfusion.protocols.splitters import (
    ChronologicalSplit,
    RollingWindow,
    Splitter,
    WalkForward,
)
from finfusion.text.cache import FrozenOutputs

DATA_SECTIONS = ("data", "market", "text", "features", "target")  # what decides a run's market data and samples


def data_key(config: RunConfig) -> str:
    """Identity of the market data and samples a config gives (its data sections, as JSON)."""
    return "\n".join(getattr(config, k).model_dump_json() for k in DATA_SECTIONS)


def _safe_id(raw: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", raw).lstrip(".")


@dataclass(frozen=True, eq=False)
class ModelUnit(UnitSpec):
    """One model trained and evaluated under one sweep point and one seed (a warm-start chain of
    rolling windows stays one unit). Equal and hashed by `unit_id`."""

    point_id: str
    point: tuple[tuple[str, Any], ...]
    seed: int
    model: str
    config: RunConfig
    also: tuple[str, ...] = ()  # other sweep points with the same resolved config (computed once)
    data: str = field(default="", repr=False)  # data_key(config): which shared inputs it reads

    @property
    def unit_id(self) -> str:
        return _safe_id(f"{self.point_id}__seed{self.seed}__{self.model}")


    @property
    def spec(self) -> ModelSpec:
        """The unit's model spec in its resolved config."""
        return next(m for m in self.config.models if m.display == self.model)


@dataclass(frozen=True, eq=False)
class PrivacyUnit(UnitSpec):
    """One differentially private fit (analysis.privacy): DP model `model` (an index into
    analysis.privacy.models) at one epsilon on one fold, over the configured seeds. Equal and
    hashed by `unit_id`."""

    config: RunConfig
    model: int
    epsilon: float
    fold: int
    data: str = field(default="", repr=False)

    @property
    def label(self) -> str:
        spec = self.config.analysis.privacy.models[self.model]
        return spec.label or spec.name

    @property
    def unit_id(self) -> str:
        return _safe_id(f"privacy__{self.label}__eps{self.epsilon:g}__fold{self.fold}")



def privacy_units(config: RunConfig, inputs: PredictInputs) -> list[PrivacyUnit]:
    """The DP fits of `analysis.privacy` (none without it): model x epsilon x chosen fold, on the
    samples of the run's base config."""
    cfg = config.analysis.privacy
    if cfg is None:
        return []
    key = inputs.add(config)
    samples = inputs.by_key[key][1]
    folds = [s.fold for s in make_splitter(config).split(samples.dates, horizon=config.target.horizon)
             if cfg.folds is None or s.fold in cfg.folds]
    return [PrivacyUnit(config, m, float(eps), fold, data=key)
            for m in range(len(cfg.models)) for eps in cfg.epsilons for fold in folds]


def plan_units(config: RunConfig) -> list[ModelUnit]:
    """All model units of a run in a stable order; identical sweep points are planned once."""
    sweep = config.sweep
    seeds = sweep.seeds if sweep else [config.seed]
    units: list[ModelUnit] = []
    first: dict[str, int] = {}  # config key -> index of its first unit
    for point_id, point in sweep_points(config):
        at_point = with_values(config, _expand_stars(config, point), source=f"sweep point {point_id}")
        for seed in seeds:
            sets = [("seed", seed)]
            if sweep and sweep.resample_data and config.data.source == "simulate":
                sets.append(("data.simulate.seed", seed))
            resolved = with_values(at_point, sets, source=f"sweep point {point_id}")
            key = config_key(resolved)
            if key in first:
                for i in range(first[key], first[key] + len(resolved.models)):
                    units[i] = replace(units[i], also=(*units[i].also, point_id))
                continue
            first[key] = len(units)
            units += [ModelUnit(point_id, tuple(point), seed, spec.display, resolved, data=data_key(resolved))
                      for spec in resolved.models]
    return units


def config_key(config: RunConfig) -> str:
    """Identity of a resolved config, with every model's parameter defaults filled in (two sweep
    points that differ only in spelling out a default are one)."""
    models = [spec.model_copy(update={"params": spec.full_params()}) for spec in config.models]
    return config.model_copy(update={"models": models}).model_dump_json()


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


def _expand_stars(config: RunConfig, point: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """(path, value) pairs with each '*' part replaced by every index of the list it stands for."""
    sets = []
    for path, value in point:
        parts = path.split(".")
        if "*" not in parts:
            sets.append((path, value))
            continue
        star = parts.index("*")
        items: Any = config
        for part in parts[:star]:
            items = items[int(part)] if isinstance(items, list) else getattr(items, part, None)
        if not isinstance(items, list):
            raise ConfigError(f"sweep path {path}: '*' must stand for a list")
        sets += [(".".join([*parts[:star], str(i), *parts[star + 1:]]), value) for i in range(len(items))]
    return sets


def make_splitter(config: RunConfig) -> Splitter:
    """The splitter of the config's `protocol:` (chronological, rolling or walk-forward)."""
    p = config.protocol
    if p.kind == "chronological":
        return ChronologicalSplit(p.train, p.valid, p.test, p.valid_start, p.test_start)
    if p.kind == "rolling":
        return RollingWindow(p.window, p.step, p.valid, p.refit_every, p.max_folds)
    return WalkForward(p.train_size, p.test_size, p.n_folds, p.unit, p.expanding, p.valid)


@dataclass
class PredictInputs:
    """What the units of a prediction run share: the market data and samples of each distinct
    data setting (by `data_key`), built once in the driver and sent to each worker once, and the
    pooled vectors of the texts that frozen text encoders read (`share_text_vectors`)."""

    by_key: dict[str, tuple[MarketData, Samples]]
    text: list[FrozenOutputs] = field(default_factory=list)  # frozen encoders' vectors (share_text_vectors)

    def of(self, unit: ModelUnit | PrivacyUnit) -> tuple[MarketData, Samples]:
        return self.by_key[unit.data]

    def fingerprints(self) -> list[str]:
        """The fingerprint of the samples of every data setting (inputs.json; resume compares)."""
        return [arrays_fingerprint(s.index, s.X, s.y, s.texts, s.feature_names) for _, s in self.by_key.values()]

    def add(self, config: RunConfig) -> str:
        """Build the market data and samples of `config` unless an equal data setting has them;
        returns its key."""
        key = data_key(config)
        if key in self.by_key:
            return key
        if config.data.source == "stocknet_benchmark":
            self.by_key[key] = load_benchmark(config.data, separator=config.text.separator)
        else:
            data = load_market_data(config.data, timezone=config.market.timezone)
            self.by_key[key] = data, build_samples(data, config.sample_spec, report=data.report)
        return key


def build_inputs(configs: list[RunConfig]) -> PredictInputs:
    """Market data and samples of each distinct data setting among `configs`, built once."""
    inputs = PredictInputs({})
    for config in configs:
        inputs.add(config)
    return inputs


def share_text_vectors(units: list[ModelUnit], inputs: PredictInputs) -> None:
    """Encode, once in this process, the texts of every unit whose model reads them through a
    frozen encoder, and keep the vectors in `inputs.text` (one entry per encoder setting), so the
    workers that run the units look them up instead of each running the encoder again. Call it
    with the workers' torch thread count: the vectors' cache key includes it."""
    done: set[tuple] = set()
    merged: dict[tuple, FrozenOutputs] = {}
    for unit in units:
        key = (unit.data, unit.spec.name, json.dumps(unit.spec.params, sort_keys=True, default=str))
        if key in done:
            continue
        done.add(key)
        for out in unit.spec.predictor().frozen_text_outputs(inputs.of(unit)[1]):
            merged[out.namespace] = _merge(merged.get(out.namespace), out)
    inputs.text = list(merged.values())


def _merge(old: FrozenOutputs | None, new: FrozenOutputs) -> FrozenOutputs:
    """The vectors of both (same namespace), each text once."""
    if old is None:
        return new
    seen = set(old.texts)
    extra = [i for i, t in enumerate(new.texts) if t not in seen]
    return FrozenOutputs(old.namespace, old.texts + tuple(new.texts[i] for i in extra),
                         np.concatenate([old.values, new.values[extra]]))
