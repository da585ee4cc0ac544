"""The search's building blocks: the selection rule, the settings, one trial (`run_trial`, with a
cut-off training resumed), the Optuna loop (inside its bounds, continued after an interruption)
and the CLI value lists. The search as a run (units, executors, resume) is tested in
tests/experiments/test_sentiment_kind.py."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from pydantic import ValidationError

from finfusion.errors import ConfigError
from finfusion.text.sentiment import SentimentClassifier
from finfusion.text.sentiment import search as search_module
from finfusion.text.sentiment.classifier import MANIFEST_NAME
from finfusion.text.sentiment.search import (
    COLUMNS,
    SearchConfig,
    best_trial,
    optuna_search,
    parse_values,
    run_trial,
    write_files,
)
from finfusion.text.sentiment.train import SentimentTrainConfig

QUIET = {"log": lambda message: None, "progress": False}


def base(tiny_bert) -> SentimentTrainConfig:
    return SentimentTrainConfig(
        model=str(tiny_bert),
        batch_size=8,
        valid_fraction=0.25,
        warmup_ratio=0.0,
        early_stopping_patience=None,
        save_total_limit=1,
        device="cpu",
    )


def test_best_is_highest_accuracy_then_f1_then_earliest_trial():
    table = pd.DataFrame(
        {"trial": [0, 1, 2, 3, 4], "accuracy": [0.8, 0.9, 0.9, 0.9, 0.7], "f1": [0.99, 0.85, 0.88, 0.88, 1.0]}
    )
    assert int(best_trial(table)["trial"]) == 2
    with pytest.raises(ValueError, match="no finished trial"):
        best_trial(table.iloc[:0])


def test_a_trial_returns_its_row_history_and_model_files(tiny_bert, toy, tmp_path):
    config = base(tiny_bert).replace(lr=5e-3, epochs=2)
    trial = run_trial(toy(1), tmp_path / "w", config, number=3, report=True, **QUIET)
    assert list(trial.row) == COLUMNS and trial.row["trial"] == 3 and trial.row["lr"] == 5e-3
    assert trial.row["epochs_run"] == 2 and trial.history["trial"].tolist() == [3, 3]
    assert trial.row["accuracy"] == pytest.approx(trial.metrics["valid"]["accuracy"])
    assert trial.data["split_sizes"] == {"train": 18, "valid": 6}
    assert {"model/model.safetensors", f"model/{MANIFEST_NAME}", "report/report.html"} <= set(trial.files)
    assert "report/valid/confusion_matrix.png" in trial.files
    model = SentimentClassifier.load(write_files(trial.files, "model", tmp_path / "m"))
    assert model.name == "trial-003" and model.info["training"]["lr"] == 5e-3
    with pytest.raises(Exception, match="no nothing/ files"):
        write_files(trial.files, "nothing", tmp_path / "x")


def test_a_finished_work_directory_is_trained_again_not_resumed(tiny_bert, toy, tmp_path, monkeypatch):
    config = base(tiny_bert).replace(lr=5e-3, epochs=1)
    run_trial(toy(1), tmp_path / "w", config, number=0, **QUIET)
    calls = []
    real = search_module.train_sentiment
    monkeypatch.setattr(search_module, "train_sentiment", lambda *a, **k: calls.append(k["resume"]) or real(*a, **k))
    run_trial(toy(1), tmp_path / "w", config, number=0, **QUIET)  # model/ exists: a finished run, started afresh
    (tmp_path / "w" / "model" / MANIFEST_NAME).unlink()  # config.json without a model: a cut-off run
    run_trial(toy(1), tmp_path / "w", config, number=0, **QUIET)
    assert calls == [False, True]


def test_optuna_samples_inside_the_space_and_continues_a_cut_off_search(tiny_bert, toy, tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    search = SearchConfig(method="optuna", n_trials=2, lrs=[1e-3, 1e-2], batch_sizes=[4, 8], epochs=[1, 2])
    trials = optuna_search(toy(1), tmp_path / "o", base(tiny_bert), search, **QUIET)
    table = pd.DataFrame([t.row for t in trials])
    assert table["trial"].tolist() == [0, 1] and (tmp_path / "o" / "optuna.db").is_file()
    assert table["lr"].between(1e-3, 1e-2).all() and set(table["batch_size"]) <= {4, 8}
    assert set(table["epochs"]) <= {1, 2} and (table["epochs_run"] == table["epochs"]).all()
    best = int(best_trial(table)["trial"])
    assert [bool(t.files) for t in trials] == [n == best for n in (0, 1)]  # only the best keeps its model
    assert [p.name for p in (tmp_path / "o" / "models").iterdir()] == [f"trial-{best:03d}"]

    real, ran = search_module.run_trial, []

    def cut(*args, **kwargs):  # the next trial is interrupted once
        ran.append(kwargs["number"])
        if len(ran) == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(search_module, "run_trial", cut)
    more = search.model_copy(update={"n_trials": 3})
    with pytest.raises(KeyboardInterrupt):
        optuna_search(toy(1), tmp_path / "o", base(tiny_bert), more, **QUIET)
    again = optuna_search(toy(1), tmp_path / "o", base(tiny_bert), more, **QUIET)
    assert ran == [2, 3] and [t.row["trial"] for t in again] == [0, 1, 3]  # trial 2 was cut off: failed
    assert [t.row for t in again[:2]] == [t.row for t in trials]


def test_optuna_missing_says_how_to_install_it(tiny_bert, toy, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'finfusion\[optuna\]'"):
        optuna_search(toy(1), tmp_path / "o", base(tiny_bert), SearchConfig(method="optuna"), **QUIET)


def test_search_settings_and_values_are_checked():
    assert SearchConfig(lrs=[1e-3], batch_sizes=[8, 16], epochs=[3]).grid() == [
        {"lr": 1e-3, "batch_size": 8, "epochs": 3},
        {"lr": 1e-3, "batch_size": 16, "epochs": 3},
    ]
    assert len(SearchConfig().grid()) == 12  # seed 004 §4: 3 learning rates x 2 batch sizes x 2 epoch counts
    with pytest.raises(ValidationError, match="batch_sizes.0"):
        SearchConfig(batch_sizes=[0])
    with pytest.raises(ValidationError, match="lrs"):
        SearchConfig(lrs=[])
    assert parse_values("5e-5, 2e-5", float, "--lr") == (5e-5, 2e-5)
    with pytest.raises(ConfigError, match="--batch-size: expected comma-separated int values"):
        parse_values("8,x", int, "--batch-size")
