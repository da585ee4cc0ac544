"""The registry of run kinds: a config's `kind` names the kind that plans, runs and summarizes it.

    run(config)                     # any kind, any executor (experiments.execute)
    run(None, run_dir=d, resume=True)

| kind    | config                     | units                                                  |
|---------|----------------------------|--------------------------------------------------------|
| predict | experiments.config.RunConfig | sweep point x seed x model; DP fit x epsilon x fold  |
| rl      | experiments.rl_config.RlConfig | agent: group x commission x variant x seed         |
| sentiment | experiments.sentiment_config.SentimentRunConfig | a training run; a grid point; the whole Optuna search |

A new kind implements `experiments.units.RunKind` (plan, run_unit, summarize) and registers here;
`tests/experiments/test_run_kinds.py` runs the contract over every registered kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finfusion.errors import ConfigError
from finfusion.executors import ExecutorConfig
from finfusion.experiments.execute import execute
from finfusion.experiments.rl_runner import RL
from finfusion.experiments.rundir import load_run_config
from finfusion.experiments.runner import PREDICT
from finfusion.experiments.sentiment_runner import SENTIMENT
from finfusion.experiments.units import RunKind

KINDS: dict[str, RunKind] = {kind.name: kind for kind in (PREDICT, RL, SENTIMENT)}


def kind_of(config: Any) -> RunKind:
    """The run kind of a validated config (its `kind`)."""
    name = getattr(config, "kind", None)
    if name not in KINDS:
        raise ConfigError(f"unknown run kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


def run(config: Any, *, run_dir: Path | None = None, resume: bool = False, progress: bool | None = None,
        overwrite: bool = False, force: bool = False, executor: ExecutorConfig | None = None) -> Any:
    """Run (or with `resume`, continue `run_dir`) a config of any kind; the kind's result."""
    kind = kind_of(load_run_config(run_dir) if resume else config)
    return execute(kind, config, run_dir=run_dir, resume=resume, progress_bars=progress, overwrite=overwrite,
                   force=force, executor=executor)
