"""The run skeleton's parts that every run kind shares: the `RunKind` contract, a `Plan`, and a
unit's `UnitResult` with its one place in the run directory.

A run kind (`experiments.kinds`: predict, rl, sentiment) provides

    plan(config)                          -> Plan: unit specs (small, picklable, stable ids), the
                                             inputs they share, the samples' fingerprints
    run_unit(unit, shared, checkpoints)   -> UnitResult: a function of the unit and the shared inputs
    summarize(config, run_dir, plan, results) -> the kind's result (tables, plots, report written)
    headline(result)                      -> Headline: the table `finfusion run` prints

`experiments.execute` runs every kind the same way: plan, skip finished units, send the others
through the executor, store each result as it arrives (`experiments.rundir.store_result`; the
driver alone writes the run directory), summarize.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd


@dataclass
class UnitResult:
    """What a unit returns to the driver: named frames (written as Parquet), a JSON-ready `info`
    mapping (timings, counts) and small binary artifacts (e.g. an agent's weights) by file name."""

    frames: dict[str, pd.DataFrame]
    info: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


class UnitSpec:
    """Base of the unit specs: equal and hashed by `unit_id` (a spec holds its config, whose lists
    are not hashable; the id is stable across runs and names the unit's folder)."""

    unit_id: str  # a property of each spec

    def __hash__(self) -> int:
        return hash(self.unit_id)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.unit_id == self.unit_id


@dataclass
class Plan:
    """A planned run: its `units`, the inputs they share (sent to each worker once), the
    fingerprints of the samples (inputs.json; resume compares them) and what `summarize` needs
    besides the results (`context`, driver only)."""

    units: list[Any]
    shared: Any
    fingerprints: list[str]
    context: Any = None


@dataclass
class Headline:
    """What `finfusion run` prints of a finished run: its summary table, the task ("regression",
    "classification", or None for an RL run) and notes under the table."""

    table: pd.DataFrame
    task: str | None
    notes: list[str] = field(default_factory=list)


class RunKind(Protocol):
    name: str
    unit_bars: bool  # its units show progress bars of their own (then no units bar in a local run)

    def plan(self, config: Any) -> Plan: ...

    def run_unit(self, unit: Any, shared: Any, checkpoints: Path | None) -> UnitResult: ...

    def summarize(self, config: Any, run_dir: Path, plan: Plan, results: list[UnitResult]) -> Any: ...

    def headline(self, result: Any) -> Headline: ...
