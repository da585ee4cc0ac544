"""Experiment tracking with MLflow (experiments.tracking, extra [mlflow]): a finished run of any kind
is logged to a real local MLflow store (sqlite in tmp_path, no network) as a parent run with the
config as params and the run's files as artifacts, and a nested run per unit whose metrics are the
run directory's numbers; runs without `tracking` never import mlflow; a missing MLflow or a refused
store fails before the run starts; a tracking failure after the run keeps the run directory and
says how to log it again (`finfusion track`); a run directory is logged once."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow 3 telemetry: never contact the internet
os.environ.setdefault("DO_NOT_TRACK", "true")

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from finfusion.cli import main  # noqa: E402
from finfusion.errors import ConfigError  # noqa: E402
from finfusion.experiments import kinds, tracking  # noqa: E402
from finfusion.experiments.config import load_config, parse_config  # noqa: E402
from finfusion.experiments.recipes import recipe_path  # noqa: E402
from finfusion.experiments.tracking import TRUNCATED, TrackingError, log_run, param_key, param_value  # noqa: E402
from finfusion.text.sentiment.search import COLUMNS  # noqa: E402

# MLflow's sqlite store with SQLAlchemy 2.1 warns about its own mappers; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*:DeprecationWarning")

PREDICT = {
    "name": "trk",
    "progress": False,
    "data": {"source": "simulate", "simulate": {"n_days": 60, "n_features": 3, "seed": 2}},
    "features": {"groups": ["extra"]},
    "models": [{"name": "mlp", "label": "MLP", "params": {"hidden": 4, "epochs": 1}}, {"name": "naive"}],
    "protocol": {"kind": "rolling", "window": 40, "refit_every": 30},
    "sweep": {"params": {"models.0.params.hidden": [4, 8]}, "seeds": [0]},
    "output": {"plots": False, "report": True},
}
RL = ["seeds=[1]", "agent.epochs=1", "agent.patience=1", "agent.n_envs=2", "output.plots=false",
      "output.report=false", "progress=false", "data.simulate.n_days=200", "split.train_end=2020-06-30",
      "split.valid_end=2020-08-31", "cost_sensitivity=null", "variants=[SB]", "env.window=5"]


def client(uri: str):
    mlflow = pytest.importorskip("mlflow")
    return mlflow.tracking.MlflowClient(tracking_uri=uri)


def runs_of(uri: str, experiment: str) -> tuple[object, list]:
    """(the parent run, its child runs) of the one run directory logged in `experiment`."""
    c = client(uri)
    runs = c.search_runs([c.get_experiment_by_name(experiment).experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    return parents[0], [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]


def assert_units_match(children: list, table: pd.DataFrame, keys: list[str]) -> None:
    """Every row of the run's unit table is one child run: its keys as params, its numbers as metrics."""
    assert len(children) == len(table)
    by_params = {tuple(r.data.params.get(k) for k in keys): r for r in children}
    for _, row in table.iterrows():
        named = tuple(None if pd.isna(row[k]) else tracking._key_text(row[k]) for k in keys)
        child = by_params[named]
        expected = {c: float(row[c]) for c in table.columns if c not in keys and not pd.isna(row[c])}
        assert {k: v for k, v in child.data.metrics.items() if "/" not in k} == expected  # exact values


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    pytest.importorskip("mlflow")
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, store) -> Path:
    """A tiny predict run (2 sweep points x 2 models) logged to the store, experiment 'study'."""
    run_dir = tmp_path_factory.mktemp("runs") / "trk"
    config = parse_config({**PREDICT, "tracking": {"uri": store, "experiment": "study", "tags": {"team": "quant"}}})
    kinds.run(config, run_dir=run_dir)
    return run_dir


def test_a_run_logs_its_config_as_params_its_units_as_child_runs_and_its_files(tracked, store):
    parent, children = runs_of(store, "study")
    params, tags = parent.data.params, parent.data.tags
    assert parent.info.status == "FINISHED" and parent.info.run_name == "trk"
    assert params["name"] == "trk" and params["models.0.params.hidden"] == "4" and params["models.1.name"] == "naive"
    assert params["protocol.window"] == "40" and params["sweep.params.models.0.params.hidden"] == "[4, 8]"
    assert params["models.1.label"] == "null" and params["output.plots"] == "false"
    assert tags["finfusion.run_dir"] == str(tracked.resolve()) and tags["finfusion.kind"] == "predict"
    assert tags["team"] == "quant"
    table = pd.read_csv(tracked / "metrics.csv")
    assert_units_match(children, table, ["model", "point", "seed"])
    assert {r.info.run_name for r in children} >= {"MLP / hidden=4 / seed=0", "naive / hidden=8 / seed=0"}
    c = client(store)
    top = {a.path for a in c.list_artifacts(parent.info.run_id)}
    assert {"report.html", "predictions.parquet", "config.yaml", "metrics.csv", "tables"} <= top
    assert not {"units", "checkpoints", ".finfusion.lock"} & top
    assert "tables/mse.csv" in {a.path for a in c.list_artifacts(parent.info.run_id, "tables")}


def test_a_run_directory_is_logged_once_unless_replaced(tracked, store):
    parent, _ = runs_of(store, "study")
    again = log_run(tracked)  # the run's own tracking section
    assert again.already and again.run_id == parent.info.run_id
    fresh = log_run(tracked, replace=True)
    assert not fresh.already and fresh.units == 4
    now, children = runs_of(store, "study")  # the earlier parent and its children are deleted
    assert now.info.run_id == fresh.run_id and len(children) == 4


def test_finfusion_track_logs_a_run_directory_to_another_store(tracked, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps directory stores behind this switch
    monkeypatch.chdir(tmp_path)
    assert main(["track", str(tracked), "--uri", "mlruns", "--experiment", "copy", "--run-name", "mine"]) == 0
    assert "logged to MLflow" in capsys.readouterr().out
    parent, children = runs_of(str(tmp_path / "mlruns"), "copy")
    assert parent.info.run_name == "mine" and len(children) == 4
    assert main(["track", str(tracked), "--uri", "mlruns", "--experiment", "copy"]) == 0
    assert "already logged" in capsys.readouterr().out


def test_missing_mlflow_fails_before_the_run_and_untracked_runs_never_import_it(tmp_path, monkeypatch, store):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    config = parse_config({**PREDICT, "tracking": {"uri": store}})
    with pytest.raises(ConfigError, match=r"pip install 'finfusion\[mlflow\]'"):
        kinds.run(config, run_dir=tmp_path / "tracked")
    assert not (tmp_path / "tracked").exists()  # nothing ran
    untracked = parse_config({**PREDICT, "models": [{"name": "naive"}], "sweep": None})
    kinds.run(untracked, run_dir=tmp_path / "plain")  # would fail on any import of mlflow
    assert (tmp_path / "plain" / "metrics.csv").is_file()
    assert yaml.safe_load((tmp_path / "plain" / "config.yaml").read_text())["tracking"] is None


def test_a_store_mlflow_refuses_fails_before_the_run(tmp_path):
    pytest.importorskip("mlflow")
    config = parse_config({**PREDICT, "tracking": {"uri": "nosuchscheme://host/x"}})
    with pytest.raises(ConfigError, match="nosuchscheme"):
        kinds.run(config, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_tracking_failure_keeps_the_run_and_a_resume_logs_it_once(tmp_path, monkeypatch, store):
    config = parse_config({**PREDICT, "models": [{"name": "naive"}], "sweep": None,
                           "tracking": {"uri": store, "experiment": "resumed"}})
    run_dir = tmp_path / "run"

    def broken(*args, **kwargs):
        raise RuntimeError("server down")

    with monkeypatch.context() as patch:
        patch.setattr(tracking, "log_run", broken)
        with pytest.raises(TrackingError, match="server down") as caught:
            kinds.run(config, run_dir=run_dir)
    message = str(caught.value)
    assert f"directory {run_dir.resolve()} is complete" in message and f"finfusion track {run_dir}" in message
    assert caught.value.result is not None and (run_dir / "report.html").is_file()
    kinds.run(None, run_dir=run_dir, resume=True)
    kinds.run(None, run_dir=run_dir, resume=True)  # logged before: not again
    parent, children = runs_of(store, "resumed")
    assert_units_match(children, pd.read_csv(run_dir / "metrics.csv"), ["model", "point", "seed"])


def test_an_rl_run_logs_its_agents_and_baselines(tmp_path, store):
    config = load_config(recipe_path("seed002_simulation"), [*RL, f"tracking.uri={store}", "tracking.experiment=rl"])
    kinds.run(config, run_dir=tmp_path / "rl")
    parent, children = runs_of(store, "rl")
    table = pd.read_csv(tmp_path / "rl" / "metrics.csv")
    assert_units_match(children, table, ["strategy", "group", "commission", "seed"])
    assert "Equal Weight / 2 assets / commission=0.0025" in {r.info.run_name for r in children}  # a baseline
    assert parent.data.params["split.train_end"] == "2020-06-30"


def test_a_sentiment_run_directory_logs_a_run_per_trial_with_its_epoch_history(tmp_path, store):
    run_dir = tmp_path / "sent"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"kind": "sentiment", "name": "s", "train": {"lr": 0.001}}))
    rows = [dict(zip(COLUMNS, [t, lr, 8, 2, 2, 1, 0.5 + t, 0.4, 0.4, 0.4, 0.4, 0.9, 1.5], strict=False))
            for t, lr in enumerate([0.005, 0.001])]
    pd.DataFrame(rows).to_csv(run_dir / "results.csv", index=False)
    history = pd.DataFrame({"trial": [0, 0, 1, 1], "epoch": [1, 2, 1, 2], "valid_loss": [1.0, 0.8, 1.1, 0.9]})
    history.to_csv(run_dir / "history.csv", index=False)
    (run_dir / "best.json").write_text('{"trial": 0}')  # written last: the run finished
    (run_dir / "best_model").mkdir()
    (run_dir / "best_model" / "model.safetensors").write_bytes(b"weights")
    (run_dir / "best_model" / "report.html").write_text("<html></html>")
    tracked = log_run(run_dir, tracking.TrackingConfig(uri=store))
    assert tracked.units == 2 and tracked.experiment == "s"
    parent, children = runs_of(store, "s")
    assert_units_match(children, pd.read_csv(run_dir / "results.csv"), ["trial", "lr", "batch_size", "epochs"])
    c = client(store)
    first = next(r for r in children if r.data.params["trial"] == "0")
    assert [(m.step, m.value) for m in c.get_metric_history(first.info.run_id, "epoch/valid_loss")] == [(1, 1.0), (2, 0.8)]
    model_files = {a.path for a in c.list_artifacts(parent.info.run_id, "best_model")}
    assert model_files == {"best_model/report.html"}  # weights only with model_files: true


def test_relative_stores_are_resolved_from_the_config_file_unfinished_runs_refused_and_values_fit_mlflow(tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "run.yaml"
    for uri, expected in [("sqlite:///m.db", f"sqlite:///{folder}/m.db"), ("mlruns", str(folder / "mlruns")),
                          ("http://host:5000", "http://host:5000"), ("sqlite:////abs/m.db", "sqlite:////abs/m.db")]:
        path.write_text(yaml.safe_dump({**PREDICT, "tracking": {"uri": uri}}))
        assert load_config(path).tracking.uri == expected
    path.write_text(yaml.safe_dump({**PREDICT, "tracking": {"uri": "x", "experimnt": "typo"}}))
    with pytest.raises(ConfigError, match="tracking.experimnt"):
        load_config(path)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text(yaml.safe_dump(PREDICT))
    with pytest.raises(ConfigError, match="unfinished predict run .*--resume"):
        log_run(unfinished)
    long = param_value("x" * 7000, 6000)
    assert len(long) == 6000 and long.endswith(TRUNCATED)
    assert param_value(None, 10) == "null" and param_value([1, 2], 10) == "[1, 2]"
    assert param_key("data.columns.Adj Close=x") == "data.columns.Adj Close_x"
