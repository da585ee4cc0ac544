"""Parity: a pipeline fit on the last window of a rolling run and asked for the run's last day
gives exactly the run's own prediction for that day (same rows, scalers, seed and fit code)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from finfusion.experiments.kinds import run
from finfusion.pipeline import fit, load_pipeline

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_support import WINDOW, config_of, run_config  # noqa: E402


@pytest.mark.parametrize("models", [
    [{"name": "mlp", "label": "MLP", "params": {"hidden": 8, "epochs": 3}}],
    [{"name": "xgboost", "label": "XGB", "params": {"n_estimators": 20, "max_depth": 2}}],
])
def test_pipeline_on_the_last_window_predicts_the_runs_last_day(tmp_path, market, files, models):
    prices, texts = market
    full = run_config(*files("full"), models)
    result = run(config_of(full), run_dir=tmp_path / "run")
    label = models[0]["label"]
    preds = result.predictions[result.predictions["model"] == label]
    last = preds["date"].max()  # the run's last test day: its target is the last price date's close
    expected = preds[preds["date"] == last].set_index("ticker")["y_pred"].sort_index()

    cut = run_config(*files("cut", last_day=last), models)  # what a user has at the close of `last`
    fit(config_of(cut), label, tmp_path / "pipe", window=WINDOW)
    pipeline = load_pipeline(tmp_path / "pipe")
    upto = prices[prices["date"] <= last]
    rows = pipeline.predict(upto, texts)
    got = rows.set_index("ticker")["prediction"].sort_index()
    assert (rows["asof"] == last).all() and len(rows) == prices["ticker"].nunique()
    pd.testing.assert_series_equal(got, expected, check_names=False, rtol=0, atol=0)
    assert rows.attrs["texts_after_close"] > 0  # texts after `last`'s close were there, and not used
