"""Run any kind of run (`experiments.kinds`) through one skeleton, with any executor.

    result = execute(config, run_dir=None, resume=False)

1. `run_directory` (experiments.rundir) takes the directory (new, or resumed with the inputs it
   started with) around the kind's `plan`, which loads the data and checks every unit before
   anything is written;
2. finished units (`<run>/units/<id>/`) are read back; the others go through the executor
   (`config.executor`: local, processes or ray) with the plan's shared inputs;
3. each result is stored by this process (the driver) as it arrives, so a unit on another
   machine needs no shared filesystem, and a run stopped at any point resumes with what finished;
4. a unit that raised is reported with its id and traceback after the others finish
   (`UnitsFailed`); otherwise the kind summarizes the results (tables, plots, report);
5. with `tracking:` the finished run directory is logged to MLflow (experiments.tracking; whether
   MLflow and its store work is checked before step 1).

Units checkpoint inside themselves (rolling windows of one model) only where the executor shares
this machine's filesystem (local, processes); on Ray a unit restarts from its beginning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import finfusion.progress as progress
from finfusion.executors import (
    Executor,
    ExecutorConfig,
    InProcessExecutor,
    UnitFailure,
    UnitsFailed,
    make_executor,
    torch_threads,
)
from finfusion.experiments.rundir import CHECKPOINTS, effective_config, load_result, run_directory, store_result
from finfusion.experiments.tracking import check_tracking, log_finished
from finfusion.experiments.units import Plan, RunKind, UnitResult


def execute(kind: RunKind, config: Any, *, run_dir: Path | None = None, resume: bool = False,
            progress_bars: bool | None = None, overwrite: bool = False, force: bool = False,
            executor: ExecutorConfig | None = None) -> Any:
    """Plan, run and summarize `config` as a run of `kind`; `resume` continues `run_dir` with the
    config saved there (refusing changed inputs unless `force`). `progress_bars` overrides the
    config's `progress`; `executor` overrides its `executor` (it changes where units run, never
    their results, so a resumed run may switch it)."""
    config = effective_config(config, run_dir, resume, progress_bars)
    if executor is not None:
        config = config.model_copy(update={"executor": executor})
    tracking = getattr(config, "tracking", None)
    check_tracking(tracking, name=config.name)  # MLflow installed and its store usable, before any work

    def prepare() -> tuple[list[str], Plan]:
        with progress.showing(config.progress):
            plan = kind.plan(config)
        return plan.fingerprints, plan

    with torch_threads(config.executor.threads), run_directory(
            config, run_dir, resume=resume, overwrite=overwrite, force=force, prepare=prepare) as (held, plan):
        results = run_units(kind, plan, held.path, make_executor(config.executor), show=config.progress)
        with progress.showing(config.progress):
            result = kind.summarize(config, held.path, plan, results)
    log_finished(held.path, tracking, result, show=config.progress)  # TrackingError: the run directory is complete
    return result


def run_units(kind: RunKind, plan: Plan, run_dir: Path, executor: Executor, *, show: bool) -> list[UnitResult]:
    """The result of every unit of `plan`, in plan order: read back when finished, else run on
    `executor` and stored as it arrives. Raises UnitsFailed (after the others) if any unit failed."""
    results: list[UnitResult | None] = [load_result(run_dir, u.unit_id) for u in plan.units]
    todo = [i for i, r in enumerate(results) if r is None]
    checkpoints = run_dir / CHECKPOINTS if executor.shared_filesystem else None
    own_bars = kind.unit_bars and isinstance(executor, InProcessExecutor)  # e.g. the folds of each model
    bar = progress.bar(len(todo), f"{kind.name} units", unit="unit", min_total=2, leave=True, enabled=show and not own_bars)

    def arrived(i: int, result: UnitResult) -> None:
        unit = plan.units[todo[i]]
        store_result(run_dir, unit.unit_id, result)
        results[todo[i]] = result
        bar.update(1)

    with bar:
        outcomes = executor.map(run_one, [(kind, plan.units[i], checkpoints, show) for i in todo],
                                ids=[plan.units[i].unit_id for i in todo], shared=plan.shared, on_result=arrived)
    failures = [o for o in outcomes if isinstance(o, UnitFailure)]
    if failures:
        raise UnitsFailed(failures, total=len(plan.units)) from failures[0].exception
    return results  # type: ignore[return-value]


def run_one(item: tuple[RunKind, Any, Path | None, bool], shared: Any) -> UnitResult:
    """One unit, in whichever process or node the executor chose (module level: it is pickled)."""
    kind, unit, checkpoints, show = item
    with progress.showing(show):
        return kind.run_unit(unit, shared, checkpoints)

