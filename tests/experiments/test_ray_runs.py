"""Runs on Ray (executor kind ray) against the local executor: the same predictions and RL tables,
a worker killed mid-unit retried to the same results, and --resume on Ray after a local start.

One Ray instance for the module (`ray.init(num_cpus=2, include_dashboard=False)`): the executor
uses it and leaves it running; the fixture shuts it down."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import ray
import yaml
from ray import cloudpickle

from finfusion.cli import main
from finfusion.executors import ExecutorConfig, UnitsFailed
from finfusion.experiments import kinds, runner
from finfusion.experiments.config import load_config, parse_config
from finfusion.experiments.execute import execute
from finfusion.experiments.recipes import recipe_path
from finfusion.experiments.rundir import UNITS

sys.path.insert(0, str(Path(__file__).parent))
from test_run_kinds import PREDICT, RL  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module

RAY = ExecutorConfig(kind="ray")


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield
    ray.shutdown()


def _predictions(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "predictions.parquet").drop(columns="fit_seconds")
    return frame.sort_values(["point", "seed", "model", "date", "ticker"]).reset_index(drop=True)


def test_the_cli_runs_a_config_on_ray_with_the_predictions_of_a_local_run(tmp_path):
    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump(PREDICT))
    assert main(["run", str(path), "--out", str(tmp_path / "ray"), "--executor", "ray", "--quiet"]) == 0
    assert yaml.safe_load((tmp_path / "ray" / "config.yaml").read_text())["executor"]["kind"] == "ray"
    runner.run(parse_config(PREDICT), run_dir=tmp_path / "local")
    pd.testing.assert_frame_equal(_predictions(tmp_path / "ray"), _predictions(tmp_path / "local"))
    assert len(list((tmp_path / "ray" / UNITS).iterdir())) == 8  # written by the driver
    assert not (tmp_path / "ray" / "checkpoints").exists()  # no shared filesystem assumed: no unit wrote here


def test_an_rl_run_on_ray_gives_the_tables_of_a_local_run(tmp_path):
    config = load_config(recipe_path("seed002_simulation"), RL)
    local = kinds.run(config, run_dir=tmp_path / "local")
    on_ray = kinds.run(config, run_dir=tmp_path / "ray", executor=RAY)
    pd.testing.assert_frame_equal(on_ray.daily, local.daily)
    pd.testing.assert_frame_equal(on_ray.summary["tables"]["overall"], local.summary["tables"]["overall"])
    agent = runner_agent(tmp_path / "ray", config)
    assert agent.variant == "SB"  # the agent's files came back from the worker and load


def runner_agent(run_dir: Path, config):
    from finfusion.experiments.rl_runner import load_agent

    group = next(iter(config.groups))
    return load_agent(run_dir, group, config.env.commission, "SB", config.seeds[0])


@dataclass(frozen=True)
class KilledOnce:
    """The predict kind, but the worker running unit `victim` is killed (SIGKILL) on its first
    attempt, as an out-of-memory kill or a lost node would."""

    marker: str
    victim: str
    name: str = "predict"
    unit_bars: bool = True

    def plan(self, config):
        return runner.PREDICT.plan(config)

    def run_unit(self, unit, shared, checkpoints):
        if unit.unit_id == self.victim and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return runner.PREDICT.run_unit(unit, shared, checkpoints)

    def summarize(self, config, run_dir, plan, results):
        return runner.PREDICT.summarize(config, run_dir, plan, results)


def test_a_worker_killed_mid_unit_is_retried_and_the_run_gives_the_same_results(tmp_path):
    config = parse_config(PREDICT)
    marker = tmp_path / "killed"
    kind = KilledOnce(str(marker), "hidden=8__seed0__MLP")
    result = execute(kind, config, run_dir=tmp_path / "ray", executor=RAY)
    assert marker.exists()  # the worker did die once
    fresh = runner.run(config, run_dir=tmp_path / "local")
    pd.testing.assert_frame_equal(_predictions(result.run_dir), _predictions(fresh.run_dir))
    no_retry = RAY.model_copy(update={"max_retries": 0})
    marker.unlink()
    with pytest.raises(UnitsFailed, match=r"(?s)1 of 8 unit\(s\) failed.*hidden=8__seed0__MLP: WorkerCrashedError") as err:
        execute(kind, config, run_dir=tmp_path / "no_retry", executor=no_retry)
    assert len(list((tmp_path / "no_retry" / UNITS).iterdir())) == 7  # the others finished and are kept
    assert err.value.failures[0].error.startswith("WorkerCrashedError")


def test_resume_on_ray_runs_only_the_units_a_local_start_left(tmp_path, monkeypatch):
    config = parse_config(PREDICT)
    real = runner.run_model_unit

    def fails_once(unit, inputs, checkpoints):
        if unit.unit_id.endswith("seed1__MLP"):
            raise ValueError("stopped here")
        return real(unit, inputs, checkpoints)

    monkeypatch.setattr(runner, "run_model_unit", fails_once)
    with pytest.raises(UnitsFailed, match="2 of 8"):
        runner.run(config, run_dir=tmp_path / "r")
    monkeypatch.setattr(runner, "run_model_unit", real)
    units = tmp_path / "r" / UNITS
    before = {p.name: p.stat().st_mtime_ns for p in units.iterdir()}
    assert len(before) == 6
    resumed = runner.run(None, run_dir=tmp_path / "r", resume=True, executor=RAY)
    after = {p.name: p.stat().st_mtime_ns for p in units.iterdir()}
    assert len(after) == 8 and all(after[name] == t for name, t in before.items())  # finished units untouched
    fresh = runner.run(config, run_dir=tmp_path / "fresh")
    pd.testing.assert_frame_equal(_predictions(resumed.run_dir), _predictions(fresh.run_dir))
