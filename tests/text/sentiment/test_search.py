"""Hyper-parameter search: selection rule, grid (with resume), Optuna, and its errors."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from finfusion.errors import ConfigError
from finfusion.text.sentiment import SentimentClassifier
from finfusion.text.sentiment import search as search_module
from finfusion.text.sentiment.search import SearchSpace, best_trial, parse_values, search_sentiment
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
    )


def test_best_is_highest_accuracy_then_f1_then_earliest_trial():
    table = pd.DataFrame(
        {"trial": [0, 1, 2, 3, 4], "accuracy": [0.8, 0.9, 0.9, 0.9, 0.7], "f1": [0.99, 0.85, 0.88, 0.88, 1.0]}
    )
    assert int(best_trial(table)["trial"]) == 2
    with pytest.raises(ValueError, match="no finished trial"):
        best_trial(table.iloc[:0])


def test_grid_search_writes_the_table_and_keeps_the_best_model(tiny_bert, toy, tmp_path, monkeypatch):
    calls = []
    real_train = search_module.train_sentiment
    monkeypatch.setattr(search_module, "train_sentiment", lambda *a, **k: calls.append(a[2]) or real_train(*a, **k))
    space = SearchSpace(lrs=(5e-3, 1e-9), batch_sizes=(8,), epochs=(2,))
    out = tmp_path / "search"
    result = search_sentiment(toy(1), out, base(tiny_bert), space, **QUIET)
    table = pd.read_csv(out / "results.csv")
    assert table["trial"].tolist() == [0, 1] and table["lr"].tolist() == [5e-3, 1e-9]
    assert [c.lr for c in calls] == [5e-3, 1e-9] and all(c.batch_size == 8 and c.epochs == 2 for c in calls)
    assert set(search_module.COLUMNS) == set(table.columns)
    best = json.loads((out / "best.json").read_text())
    expected = best_trial(table)
    assert best["trial"] == int(expected["trial"]) and best["accuracy"] == pytest.approx(expected["accuracy"])
    loaded = SentimentClassifier.load(out / "best_model")
    assert loaded.info["training"]["lr"] == best["lr"] and result.best == best
    assert not (out / "trials").exists() or not any((out / "trials").iterdir())  # trial directories removed
    assert "All trials" in (out / "report.html").read_text()

    # resume: only the trial missing from results.csv runs again
    table.iloc[:1].to_csv(out / "results.csv", index=False)
    calls.clear()
    again = search_sentiment(toy(1), out, base(tiny_bert), space, resume=True, **QUIET)
    assert [c.lr for c in calls] == [1e-9] and again.table["trial"].tolist() == [0, 1]
    with pytest.raises(ConfigError, match="exists and is not empty"):
        search_sentiment(toy(1), out, base(tiny_bert), space, **QUIET)


def test_optuna_search_samples_inside_the_space(tiny_bert, toy, tmp_path):
    pytest.importorskip("optuna")
    space = SearchSpace(lrs=(1e-3, 1e-2), batch_sizes=(4, 8), epochs=(1, 2))
    result = search_sentiment(toy(1), tmp_path / "o", base(tiny_bert), space, method="optuna", n_trials=2, **QUIET)
    table = result.table
    assert table["trial"].tolist() == [0, 1] and (tmp_path / "o" / "optuna.db").is_file()
    assert table["lr"].between(1e-3, 1e-2).all() and set(table["batch_size"]) <= {4, 8}
    assert set(table["epochs"]) <= {1, 2} and (table["epochs_run"] == table["epochs"]).all()


def test_optuna_missing_says_how_to_install_it(tiny_bert, toy, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'finfusion\[optuna\]'"):
        search_sentiment(toy(1), tmp_path / "o", base(tiny_bert), SearchSpace(), method="optuna", **QUIET)


def test_search_space_and_values_are_checked():
    assert SearchSpace(lrs=(1e-3,), batch_sizes=(8, 16), epochs=(3,)).grid() == [
        {"lr": 1e-3, "batch_size": 8, "epochs": 3},
        {"lr": 1e-3, "batch_size": 16, "epochs": 3},
    ]
    with pytest.raises(ConfigError, match="SearchSpace.batch_sizes"):
        SearchSpace(batch_sizes=(0,))
    assert parse_values("5e-5, 2e-5", float, "--lr") == (5e-5, 2e-5)
    with pytest.raises(ConfigError, match="--batch-size: expected comma-separated int values"):
        parse_values("8,x", int, "--batch-size")
