"""The run directory (issue 16: items 2, 8, 9, 12, 14, 16): nothing clobbered, one process at a time,
resume only with the inputs the run started with, damaged checkpoints named."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from finfusion import cli
from finfusion.data.simulate import SimulatorConfig, simulate_market, write_market
from finfusion.errors import ConfigError, DataError
from finfusion.executors import UnitsFailed
from finfusion.experiments import runner
from finfusion.experiments.config import parse_config
from finfusion.experiments.rundir import LOCK_OWNER, RunDirectory

SMALL = {
    "name": "t",
    "progress": False,
    "data": {"source": "simulate", "simulate": {"n_days": 70, "n_features": 3, "seed": 2}},
    "features": {"groups": ["extra"]},
    "models": [{"name": "xgboost", "params": {"n_estimators": 5}}],
    "protocol": {"kind": "rolling", "window": 40, "refit_every": 5},
    "output": {"plots": False},
}


@pytest.fixture
def files_config(tmp_path):
    """A run config over prices / texts files written by the simulator."""
    write_market(simulate_market(SimulatorConfig(n_days=70, n_features=3, seed=2)), tmp_path / "data")
    raw = {**SMALL, "data": {"source": "files", "prices": str(tmp_path / "data" / "prices.csv"),
                             "texts": str(tmp_path / "data" / "texts.jsonl")}}
    return parse_config(raw), tmp_path / "data" / "prices.csv"


def _interrupted(tmp_path, config, interrupt_at_fold, fold=12):
    restore = interrupt_at_fold(fold)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config, run_dir=tmp_path / "cut")
    restore()
    return tmp_path / "cut"


# -- item 2: resume checks its inputs ----------------------------------------------------------------

def test_resume_refuses_a_changed_prices_file_naming_it(tmp_path, files_config, interrupt_at_fold):
    config, prices = files_config
    cut = _interrupted(tmp_path, config, interrupt_at_fold)
    frame = pd.read_csv(prices)
    frame.loc[len(frame) - 1, "volume"] += 1
    frame.to_csv(prices, index=False)
    with pytest.raises(ConfigError, match=rf"(?s)inputs changed.*input {prices.resolve()} changed.*--force") as err:
        runner.run(None, run_dir=cut, resume=True)
    assert "samples" not in str(err.value)  # the file is named, no vaguer second reason
    assert not (cut / "predictions.parquet").exists()


def test_resume_with_force_continues_and_the_report_says_so(tmp_path, files_config, interrupt_at_fold):
    config, prices = files_config
    cut = _interrupted(tmp_path, config, interrupt_at_fold)
    prices.write_text(prices.read_text() + "\n")  # same data, other bytes: still a changed file
    with pytest.warns(UserWarning, match="resumed with --force"):
        result = runner.run(None, run_dir=cut, resume=True, force=True)
    assert any(str(prices.resolve()) in w for w in result.meta["warnings"])
    assert json.loads((cut / "data.json").read_text())["warnings"] == result.meta["warnings"]
    html = (cut / "report.html").read_text()
    assert "Warnings" in html and "resumed with --force" in html


def test_resume_refuses_an_edited_config(tmp_path, interrupt_at_fold):
    cut = _interrupted(tmp_path, parse_config(SMALL), interrupt_at_fold)
    saved = (cut / "config.yaml").read_text()
    (cut / "config.yaml").write_text(saved.replace("n_estimators: 5", "n_estimators: 7"))
    with pytest.raises(ConfigError, match=r"config value models\.0\.params\.n_estimators: 5 at the start, 7 now"):
        runner.run(None, run_dir=cut, resume=True)


def test_resume_refuses_changed_samples_of_unchanged_files(tmp_path, interrupt_at_fold, monkeypatch):
    cut = _interrupted(tmp_path, parse_config(SMALL), interrupt_at_fold)
    record = json.loads((cut / "inputs.json").read_text())
    record["inputs"]["samples"] = {k: "0" * 64 for k in record["inputs"]["samples"]}
    (cut / "inputs.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="samples built from the inputs differ"):
        runner.run(None, run_dir=cut, resume=True)


def test_a_resume_with_quiet_is_no_config_change(tmp_path, interrupt_at_fold):
    cut = _interrupted(tmp_path, parse_config(SMALL), interrupt_at_fold)
    assert runner.run(None, run_dir=cut, resume=True, progress=True).run_dir == cut


# -- item 8: no lost files ---------------------------------------------------------------------------

def test_a_new_run_refuses_a_non_empty_directory_that_is_not_a_run(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.csv").write_text("my,own\n1,2\n")
    with pytest.raises(ConfigError, match="(?s)not empty .*metrics.csv.* --overwrite"):
        runner.run(parse_config(SMALL), run_dir=out)
    assert (out / "metrics.csv").read_text() == "my,own\n1,2\n"
    assert not (out / "config.yaml").exists()


def test_overwrite_replaces_a_previous_run_without_reusing_its_units(tmp_path):
    first = runner.run(parse_config(SMALL), run_dir=tmp_path / "r")
    (tmp_path / "r" / "notes.txt").write_text("keep me")
    other = {**SMALL, "models": [{"name": "xgboost", "params": {"n_estimators": 20}}]}
    second = runner.run(parse_config(other), run_dir=tmp_path / "r", overwrite=True)
    assert not second.predictions["y_pred"].equals(first.predictions["y_pred"])
    assert (tmp_path / "r" / "notes.txt").read_text() == "keep me"


def test_run_out_pointing_at_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        runner.run(parse_config(SMALL), run_dir=tmp_path / "f")


def test_simulate_refuses_a_non_empty_directory_and_a_file(tmp_path, capsys):
    (tmp_path / "prices.csv").write_text("mine")
    assert cli.main(["simulate", "--out", str(tmp_path), "--set", "n_days=60"]) == 2
    assert "not empty" in capsys.readouterr().err and (tmp_path / "prices.csv").read_text() == "mine"
    assert cli.main(["simulate", "--out", str(tmp_path / "prices.csv")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert cli.main(["simulate", "--out", str(tmp_path), "--set", "n_days=60", "--overwrite"]) == 0
    assert (tmp_path / "prices.csv").read_text().startswith("date,ticker")


# -- item 9: one process at a time ------------------------------------------------------------------

HOLD = textwrap.dedent("""
    import sys, time
    from finfusion.experiments.rundir import RunDirectory
    held = RunDirectory.resume(sys.argv[1])
    print("held", flush=True)
    time.sleep(60)
""")


def test_a_second_process_is_refused_naming_the_holder_and_a_killed_holder_frees_it(tmp_path):
    run_dir = runner.run(parse_config(SMALL), run_dir=tmp_path / "r").run_dir
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"in use by another finfusion process \(PID {holder.pid} "):
            runner.run(None, run_dir=run_dir, resume=True)
        with pytest.raises(ConfigError, match="in use"):
            runner.run(parse_config(SMALL), run_dir=run_dir, overwrite=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert json.loads((run_dir / LOCK_OWNER).read_text())["pid"] == holder.pid  # left behind, but not a lock
    with RunDirectory.resume(run_dir) as again:  # the kernel released the killed holder's lock
        assert json.loads((again.path / LOCK_OWNER).read_text())["pid"] == os.getpid()


def test_the_lock_is_released_when_a_run_fails(tmp_path, interrupt_at_fold):
    cut = _interrupted(tmp_path, parse_config(SMALL), interrupt_at_fold)
    with RunDirectory.resume(cut):
        pass


# -- items 12 and 14: damaged or foreign checkpoints ------------------------------------------------

def _unit_checkpoints(run_dir):
    (unit,) = [p for p in (run_dir / "checkpoints").iterdir() if p.is_dir()]
    return unit


def test_a_truncated_progress_file_is_named_on_resume(tmp_path, interrupt_at_fold):
    cut = _interrupted(tmp_path, parse_config(SMALL), interrupt_at_fold)
    progress = _unit_checkpoints(cut) / "progress.json"
    progress.write_text(progress.read_text()[:7])
    with pytest.raises(UnitsFailed, match=rf"DataError: {progress} is damaged .* delete {progress.parent}") as err:
        runner.run(None, run_dir=cut, resume=True)
    assert isinstance(err.value.failures[0].exception, DataError)  # the CLI's exit code 3


def test_a_corrupt_fold_file_is_named_on_resume(tmp_path, interrupt_at_fold):
    cut = _interrupted(tmp_path, parse_config(SMALL), interrupt_at_fold)
    fold = _unit_checkpoints(cut) / "folds" / "fold_00003.parquet"
    fold.write_bytes(fold.read_bytes()[:40])
    with pytest.raises(UnitsFailed, match=rf"DataError: {fold} cannot be read"):
        runner.run(None, run_dir=cut, resume=True)


def test_a_progress_pointer_outside_the_checkpoints_is_refused(tmp_path, interrupt_at_fold):
    cut = _interrupted(tmp_path, parse_config(SMALL), interrupt_at_fold)
    (tmp_path / "elsewhere").mkdir()
    progress = _unit_checkpoints(cut) / "progress.json"
    pointer = json.loads(progress.read_text())
    progress.write_text(json.dumps({**pointer, "state": "../../../../elsewhere"}))
    with pytest.raises(UnitsFailed, match="DataError: .*points outside"):
        runner.run(None, run_dir=cut, resume=True)


def test_a_default_run_directory_stays_under_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.run(parse_config({**SMALL, "output": {"dir": "runs", "plots": False, "report": False}}))
    assert result.run_dir.parent == (tmp_path / "runs").resolve() and result.run_dir.name.startswith("t-")


# -- item 16: the CLI names only what exists -----------------------------------------------------------

def test_cli_prints_no_report_path_when_no_report_was_written(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({**SMALL, "output": {"plots": False, "report": False}}))
    assert cli.main(["run", str(config), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "run directory:" in out and "report:" not in out
    assert not (tmp_path / "r" / "report.html").exists()


def test_cli_resume_refuses_out_and_force_without_resume(tmp_path, capsys):
    assert cli.main(["run", "demo", "--force"]) == 2
    assert "--force only applies to --resume" in capsys.readouterr().err
    assert cli.main(["run", "--resume", str(tmp_path), "--out", str(tmp_path / "x")]) == 2


def test_two_default_directories_in_the_same_second_do_not_collide(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20260101-000000")
    config = parse_config({**SMALL, "output": {"dir": str(tmp_path), "plots": False, "report": False}})
    with RunDirectory.create(config) as a, RunDirectory.create(config) as b:
        assert a.path != b.path and b.path.name == "t-20260101-000000-2"
