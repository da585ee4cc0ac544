"""What `finfusion run / demo / models / recipes` print (issue 17, items 1, 3 and 6): --quiet
prints only the run directory, --json prints one parseable JSON document on stdout."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from finfusion.cli import main
from finfusion.experiments import kinds, recipes
from finfusion.experiments.outputs import RunResult
from finfusion.experiments.recipes import available_recipes

RUN = {"name": "o", "progress": True,
       "data": {"source": "simulate", "simulate": {"n_days": 120, "n_features": 2, "seed": 1}},
       "features": {"groups": ["extra"]},
       "models": [{"name": "xgboost", "params": {"n_estimators": 5}}],
       "protocol": {"kind": "chronological", "train": 0.7, "valid": 0.1, "test": 0.2},
       "output": {"plots": False, "report": False}}


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(RUN))
    return path


def test_run_quiet_prints_only_the_run_directory(tmp_path, config, capsys):
    assert main(["run", str(config), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"run directory: {tmp_path / 'r'}"]
    assert "xgboost" not in captured.err and "|" not in captured.err  # no table, no progress bar


def test_run_json_prints_the_metrics_summary_also_on_resume(tmp_path, config, capsys):
    assert main(["run", str(config), "--out", str(tmp_path / "r"), "--json", "--quiet"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["run_dir"] == str(tmp_path / "r") and doc["kind"] == "predict" and doc["task"] == "regression"
    assert doc["report"] is None and doc["warnings"] == [] and doc["floors"] is None  # no floors in regression
    (row,) = doc["summary"]
    assert row["model"] == "xgboost" and isinstance(row["mse"], float) and row["mse"] >= 0
    metrics = pd.read_csv(tmp_path / "r" / "metrics.csv")
    assert row["mse"] == pytest.approx(metrics["mse"].mean(), rel=1e-5)

    assert main(["run", "--resume", str(tmp_path / "r"), "--json"]) == 0
    captured = capsys.readouterr()
    again = json.loads(captured.out)  # stdout holds the JSON only; the rest went to stderr
    assert again["summary"] == doc["summary"] and "run directory:" in captured.err


def test_demo_quiet_and_json(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_run(config, *, run_dir, resume, progress, overwrite, force, executor):
        seen.update(name=config.name, progress=progress)
        out = tmp_path / "demo"
        out.mkdir(exist_ok=True)
        metrics = pd.DataFrame({"point": ["base"], "seed": [0], "model": ["Fusion"], "mse": [2.0], "mse_ratio": [1.5]})
        return RunResult(out, pd.DataFrame(), metrics, {})

    monkeypatch.setattr(kinds, "run", fake_run)
    assert main(["demo", "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"run directory: {tmp_path / 'demo'}"]
    assert seen == {"name": "demo", "progress": False}
    assert main(["demo", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"] == [{"model": "Fusion", "mse": 2.0, "mse_ratio": 1.5}] and seen["progress"] is None


def test_models_json(capsys):
    assert main(["models", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert models["xgboost"]["params"]["n_estimators"] == 300 and models["xgboost"]["uses_text"] is False
    assert models["fusion"]["uses_text"] is True and "regression" in models["mlp"]["tasks"]


RECIPE = """# Seed 9's second table at a CPU-sized scale: Fusion with the encoder frozen
# (vectors cached) vs fine-tuned with LoRA (rank 4, eq. 12), everything else equal. 4 tickers,
# 300 days.
#
# Details that are not part of the description.
name: x
"""


def test_recipes_are_listed_in_whole_sentences(tmp_path, monkeypatch, capsys):
    (tmp_path / "mine.yaml").write_text(RECIPE)
    (tmp_path / "bare.yaml").write_text("name: bare\n")
    monkeypatch.setattr(recipes, "RECIPES_DIR", tmp_path)
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    # the first sentence spans two comment lines (the first line alone used to be printed) and
    # holds "eq. 12", which does not end it; "4 tickers, ..." is the next sentence
    lines = out.splitlines()
    assert lines[:2] == ["bare", "mine"]  # a recipe without an opening comment: its name alone
    assert " ".join(" ".join(lines[2:]).split()) == (
        "Seed 9's second table at a CPU-sized scale: Fusion with the encoder frozen (vectors cached) vs "
        "fine-tuned with LoRA (rank 4, eq. 12), everything else equal.")
    assert max(len(line) for line in out.splitlines()) <= 100  # wrapped
    assert main(["recipes", "--json"]) == 0
    mine = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "mine")
    assert mine["description"].endswith("everything else equal. 4 tickers, 300 days.")


def test_packaged_recipes_print_whole_sentences(capsys):
    assert main(["recipes", "--json"]) == 0
    for r in json.loads(capsys.readouterr().out):
        assert r["description"].startswith(r["summary"]) and r["summary"], r["name"]
        assert r["summary"] == r["description"] or r["summary"][-1] in ".!?", r["name"]


def test_recipes_json(capsys):
    assert main(["recipes", "--json"]) == 0
    recipes = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in recipes] == available_recipes()
    demo = next(r for r in recipes if r["name"] == "demo")
    assert demo["summary"].endswith("how sure the difference is.") and demo["summary"].startswith("finfusion demo:")
    assert demo["description"].startswith(demo["summary"]) and demo["description"].endswith("on 2 CPU cores.")
    assert demo["path"].endswith("demo.yaml")
