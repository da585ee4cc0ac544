"""Plan a run and build its inputs: units (sweep point x seed x model), sample specs, splitters, data.

`plan_units` turns a resolved `RunConfig` into small frozen `Unit`s with stable ids (the *plan*
part of a run kind); `unit_inputs` builds a unit's market data and samples once per process for
identical data settings; `make_splitter` gives the config's protocol splitter. Used by
`experiments.runner` (which runs the units), `experiments.outputs` and `experiments.analysis`;
this module imports none of them.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from finfusion.data.samples import MarketData, SampleSpec, build_samples
from finfusion.errors import ConfigError
from finfusion.experiments.config import (
    RunConfig,
    apply_overrides,
    config_to_dict,
    parse_config,
)
from finfusion.experiments.sources import load_benchmark, load_market_data
from finfusion.fingerprint import arrays_fingerprint
from finfusion.models.base import Samples
from finfusion.models.registry import make_predictor
from finfusion.protocols.splitters import (
    ChronologicalSplit,
    RollingWindow,
    Splitter,
    WalkForward,
)


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
    """The `SampleSpec` (features, target, text and market-calendar settings) of a config."""
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
    """The splitter of the config's `protocol:` (chronological, rolling or walk-forward)."""
    p = config.protocol
    if p.kind == "chronological":
        return ChronologicalSplit(p.train, p.valid, p.test, p.valid_start, p.test_start)
    if p.kind == "rolling":
        return RollingWindow(p.window, p.step, p.valid, p.refit_every, p.max_folds)
    return WalkForward(p.train_size, p.test_size, p.n_folds, p.unit, p.expanding, p.valid)


@functools.lru_cache(maxsize=4)
def _cached_inputs(data_key: str) -> tuple[MarketData, Samples]:
    """Market data and samples of a `data_key` string; the last four are kept per process."""
    config = parse_config(json.loads(data_key)["config"])
    if config.data.source == "stocknet_benchmark":
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



def samples_fingerprints(units: list[Unit]) -> list[str]:
    """The fingerprint of the samples of every distinct data setting of the units."""
    seen: dict[str, str] = {}
    for unit in units:
        key = data_key(unit.config)
        if key not in seen:
            s = unit_inputs(unit.config)[1]
            seen[key] = arrays_fingerprint(s.index, s.X, s.y, s.texts, s.feature_names)
    return list(seen.values())