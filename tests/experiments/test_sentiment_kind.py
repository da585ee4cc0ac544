"""The sentiment run kind (issue 18): a training run or a hyper-parameter search planned as units of
the run skeleton, with the same trials under every executor, resume that reruns only what did not
finish, one model kept, `finfusion run` on a sentiment YAML, and config errors that name their key."""

from __future__ import annotations

import json
import pickle
import shutil

import pandas as pd
import pytest
import yaml

import finfusion as ff
from finfusion.cli import main
from finfusion.errors import ConfigError, DataError
from finfusion.executors import ExecutorConfig
from finfusion.experiments import kinds, sentiment_runner
from finfusion.experiments.config import load_config, parse_config
from finfusion.experiments.recipes import recipe_path
from finfusion.text.sentiment import SentimentClassifier
from finfusion.text.sentiment import hf as hf_module
from finfusion.text.sentiment.classifier import MANIFEST_NAME
from finfusion.text.sentiment.search import COLUMNS, best_trial

TEXTS = {  # words of the tiny BERT's vocabulary (tests/conftest.py)
    "positive": ["stock rises after strong earnings", "shares surge on record profit", "apple raises dividend",
                 "profit rallies", "company lifts guidance", "record quarter , shares up"],
    "negative": ["stock falls after weak earnings", "shares slump on loss", "company cuts dividend",
                 "losses drag shares", "amazon warning , stock tumbles", "weak quarter , shares down"],
    "neutral": ["the company reports quarter results today", "ceo new plan", "the market today",
                "company results", "bank reports quarter", "the bank ceo"],
}


@pytest.fixture
def toy_csv(tmp_path):
    rows = [(t + suffix, label) for suffix in ("", " .") for label, texts in TEXTS.items() for t in texts]
    path = tmp_path / "toy.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path


def raw(toy_csv, tiny_bert, **changes) -> dict:
    """A 2-trial grid (lr 5e-3 and 1e-3, 2 epochs) on the toy corpus and the tiny BERT."""
    base = {
        "kind": "sentiment", "name": "toy", "progress": False, "data": {"path": str(toy_csv)},
        "train": {"model": str(tiny_bert), "lr": 5e-3, "epochs": 2, "batch_size": 8, "valid_fraction": 0.25,
                  "warmup_ratio": 0.0, "early_stopping_patience": None, "save_total_limit": 1, "device": "cpu"},
        "search": {"lrs": [5e-3, 1e-3], "batch_sizes": [8], "epochs": [2]},
        "output": {"report": False},
    }
    return base | changes


def _trials(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "results.csv").drop(columns="seconds")


def test_the_plan_has_a_unit_per_grid_point_one_for_a_training_run_and_one_for_optuna(toy_csv, tiny_bert):
    config = parse_config(raw(toy_csv, tiny_bert))
    kind = kinds.kind_of(config)
    first, again = kind.plan(config), kind.plan(config)
    assert [u.unit_id for u in first.units] == ["trial-000", "trial-001"] and first.fingerprints == again.fingerprints
    assert [u.train.lr for u in first.units] == [5e-3, 1e-3] and len({hash(u) for u in first.units}) == 2
    assert [pickle.loads(pickle.dumps(u)).unit_id for u in first.units] == ["trial-000", "trial-001"]
    assert list(first.shared.columns) == ["text", "label"] and len(first.shared) == 36
    single = kind.plan(parse_config(raw(toy_csv, tiny_bert, search=None)))
    assert [(u.unit_id, u.name, u.train) for u in single.units] == [("trial-000", "toy", config.train)]
    optuna = kind.plan(parse_config(raw(toy_csv, tiny_bert, search={"method": "optuna", "n_trials": 3})))
    assert [u.unit_id for u in optuna.units] == ["optuna"]


def test_bad_data_fail_before_the_run_directory_is_made(toy_csv, tiny_bert, tmp_path):
    toy_csv.write_text(toy_csv.read_text() + "hmm,unsure\n")
    with pytest.raises(DataError, match="row 37: 'unsure'"):
        kinds.run(parse_config(raw(toy_csv, tiny_bert)), run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_local_and_processes_executors_give_the_same_trials_and_one_best_model(toy_csv, tiny_bert, tmp_path):
    config = parse_config(raw(toy_csv, tiny_bert, output={"report": True}))
    local = kinds.run(config, run_dir=tmp_path / "local")
    pool = kinds.run(config, run_dir=tmp_path / "pool", executor=ExecutorConfig(kind="processes", workers=2))
    pd.testing.assert_frame_equal(_trials(tmp_path / "local"), _trials(tmp_path / "pool"))
    pd.testing.assert_frame_equal(local.history, pool.history)
    table = local.table
    assert table.columns.tolist() == COLUMNS and table["trial"].tolist() == [0, 1]
    assert table["lr"].tolist() == [5e-3, 1e-3] and (table["epochs_run"] == 2).all()
    assert table["valid_loss"].nunique() == 2  # the two learning rates end apart: the tables are not trivially equal
    best = json.loads((tmp_path / "local" / "best.json").read_text())
    assert best["trial"] == int(best_trial(table)["trial"]) == local.best["trial"]
    model = SentimentClassifier.load(tmp_path / "local" / "best_model")
    assert model.info["training"]["lr"] == best["lr"] and local.model_dir == tmp_path / "local" / "best_model"
    assert "All trials" in (tmp_path / "local" / "report.html").read_text()
    assert set(pd.read_csv(tmp_path / "local" / "history.csv")["trial"]) == {0, 1}
    assert not list((tmp_path / "local" / "units").rglob(MANIFEST_NAME))  # only best_model/ keeps a model


def test_resume_reruns_only_the_trials_that_did_not_finish(toy_csv, tiny_bert, tmp_path, monkeypatch):
    config = parse_config(raw(toy_csv, tiny_bert))
    first = kinds.run(config, run_dir=tmp_path / "r")
    ran = []
    real = sentiment_runner.run_trial
    monkeypatch.setattr(sentiment_runner, "run_trial", lambda *a, **k: ran.append(k["number"]) or real(*a, **k))
    for number in (0, 1):  # whichever is the best, the resumed run ends with the same table and model
        shutil.rmtree(tmp_path / "r" / "units" / f"trial-{number:03d}")
        ran.clear()
        again = kinds.run(None, run_dir=tmp_path / "r", resume=True)
        assert ran == [number]
        pd.testing.assert_frame_equal(again.table.drop(columns="seconds"), first.table.drop(columns="seconds"))
        assert SentimentClassifier.load(again.model_dir).info["training"]["lr"] == first.best["lr"]
    shutil.rmtree(tmp_path / "r" / "best_model")  # the best model's only copy: refused, not silently skipped
    with pytest.raises(DataError, match=f"model files of the best trial {first.best['trial']} are missing"):
        kinds.run(None, run_dir=tmp_path / "r", resume=True)


def test_one_training_run_writes_the_model_and_the_training_report(toy_csv, tiny_bert, tmp_path):
    result = kinds.run(parse_config(raw(toy_csv, tiny_bert, search=None, output={"report": True})),
                       run_dir=tmp_path / "r")
    run = tmp_path / "r"
    assert result.model_dir == run / "model" and SentimentClassifier.load(run).name == "toy"
    assert result.best["method"] == "single run" and len(result.table) == 1
    assert json.loads((run / "metrics.json").read_text())["valid"]["n"] == 9
    assert json.loads((run / "data.json").read_text())["split_sizes"] == {"train": 27, "valid": 9}
    assert len(pd.read_json(run / "splits" / "valid.jsonl", lines=True)) == 9
    html = (run / "report.html").read_text()
    assert "Error analysis (valid)" in html and ">model<" in html  # the model directory as placed in the run
    assert (run / "valid" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    opened = ff.open_run(run)  # a finished sentiment run opens like the other kinds
    assert opened.kind == "sentiment" and opened.metrics.equals(pd.read_csv(run / "results.csv"))


def test_a_cut_off_training_resumes_from_its_last_epoch_checkpoint(toy_csv, tiny_bert, tmp_path, monkeypatch):
    config = parse_config(raw(toy_csv, tiny_bert, search=None,
                              train={**raw(toy_csv, tiny_bert)["train"], "epochs": 3, "save_total_limit": 3}))
    whole = kinds.run(config, run_dir=tmp_path / "whole")
    original, evaluated = hf_module._progress_callback, []

    def patched(cut: bool):
        def make(log, show):
            callback = original(log, show)
            if cut:
                def on_save(args, state, control, **kwargs):
                    if round(state.epoch) == 2:
                        raise KeyboardInterrupt
                callback.on_save = on_save
            callback.on_evaluate = lambda *a, **k: evaluated.append(1)
            return callback
        return make

    monkeypatch.setattr(hf_module, "_progress_callback", patched(cut=True))
    with pytest.raises(KeyboardInterrupt):
        kinds.run(config, run_dir=tmp_path / "cut")
    assert (tmp_path / "cut" / "checkpoints" / "trial-000" / "checkpoints").is_dir()
    evaluated.clear()
    monkeypatch.setattr(hf_module, "_progress_callback", patched(cut=False))
    resumed = kinds.run(None, run_dir=tmp_path / "cut", resume=True)
    assert len(evaluated) == 1  # only epoch 3 was trained again
    assert resumed.history["valid_loss"].tolist() == pytest.approx(whole.history["valid_loss"].tolist(), abs=1e-6)
    assert not (tmp_path / "cut" / "checkpoints" / "trial-000").exists()  # removed once the trial finished


def test_optuna_runs_its_trials_in_one_unit_inside_the_bounds(toy_csv, tiny_bert, tmp_path):
    pytest.importorskip("optuna")
    search = {"method": "optuna", "n_trials": 2, "lrs": [1e-3, 1e-2], "batch_sizes": [4, 8], "epochs": [1, 2]}
    result = kinds.run(parse_config(raw(toy_csv, tiny_bert, search=search)), run_dir=tmp_path / "o")
    table = result.table
    assert table["trial"].tolist() == [0, 1] and table["lr"].between(1e-3, 1e-2).all()
    assert set(table["batch_size"]) <= {4, 8} and set(table["epochs"]) <= {1, 2}
    assert [p.name for p in (tmp_path / "o" / "units").iterdir()] == ["optuna"]
    assert SentimentClassifier.load(result.model_dir).info["training"]["lr"] == result.best["lr"]


def test_finfusion_run_takes_a_sentiment_yaml_with_paths_relative_to_it(toy_csv, tiny_bert, tmp_path, capsys):
    config = raw(toy_csv, tiny_bert)
    config["data"]["path"] = toy_csv.name  # relative to the YAML's folder
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(out), "--executor", "processes"]) == 0
    printed = capsys.readouterr().out
    assert "| trial |" in printed and f"run directory: {out}" in printed
    assert len(pd.read_csv(out / "results.csv")) == 2 and (out / "best_model" / MANIFEST_NAME).is_file()
    assert load_config(out / "config.yaml").data.path == toy_csv
    assert main(["run", "--resume", str(out), "--quiet"]) == 0  # nothing left to run: summarized again


def test_bad_config_values_fail_with_their_key_path(toy_csv, tiny_bert):
    cases = {
        "train.learning_rate": raw(toy_csv, tiny_bert, train={"learning_rate": 1e-3}),
        "search.lrs.0": raw(toy_csv, tiny_bert, search={"lrs": [0]}),
        "search.method": raw(toy_csv, tiny_bert, search={"method": "random"}),
        "data.label_map": raw(toy_csv, tiny_bert, data={"path": "x.csv", "label_map": {0: "bullishness"}}),
        "train.valid_fraction": raw(toy_csv, tiny_bert, train={"valid_fraction": 1.5}),
        "data": {"kind": "sentiment"},
    }
    for path, config in cases.items():
        with pytest.raises(ConfigError, match=rf"\n  {path}: "):
            parse_config(config)


def test_the_phrasebank_recipe_is_the_seed_004_grid():
    full, quick = load_config(recipe_path("seed004_sentiment")), load_config(recipe_path("seed004_sentiment"), quick=True)
    assert full.kind == "sentiment" and full.data.path.name == "Sentences_AllAgree.txt"
    assert full.search.method == "grid" and len(full.search.grid()) == 12
    assert set(full.search.lrs) == {5e-5, 2e-5, 1e-5} and set(full.search.batch_sizes) == {8, 16}
    assert set(full.search.epochs) == {3, 5} and full.train.select_metric == "accuracy"
    assert len(quick.search.grid()) < len(full.search.grid()) and quick.train.limit is not None
