"""The seed004_lstm recipe: its design, an end-to-end run on a tiny StockNet copy, the price metrics and plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finfusion.evaluate.plots import plot_price_forecast
from finfusion.experiments import runner
from finfusion.experiments.config import load_config
from finfusion.experiments.outputs import unit_metrics, with_last_price
from finfusion.experiments.recipes import recipe_path
from finfusion.features.sentiment import SENTIMENT_FEATURES

WORDS = {
    1: ["$", "aapl", "great", "quarter", ",", "bullish"],
    -1: ["$", "aapl", "terrible", "news", ",", "sell"],
    0: ["$", "aapl", "meeting", "today"],
}


def tiny_stocknet(root: Path, n_days: int = 90) -> Path:
    """AAPL prices from Dec 2013 and two tweets a day from Jan 2014, in StockNet's original layout."""
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2013-12-02", periods=n_days)
    close = 80 + np.cumsum(rng.normal(0, 1, n_days))
    (root / "price" / "raw").mkdir(parents=True)
    pd.DataFrame(
        {
            "Date": dates.strftime("%Y-%m-%d"),
            "Open": close,
            "High": close + 1,
            "Low": close - 1,
            "Close": close,
            "Adj Close": close,
            "Volume": 1e6,
        }
    ).to_csv(root / "price" / "raw" / "AAPL.csv", index=False)
    tweets = root / "tweet" / "preprocessed" / "AAPL"
    tweets.mkdir(parents=True)
    for day in dates[dates >= "2014-01-01"]:
        lines = [
            {
                "text": WORDS[int(rng.integers(-1, 2))],
                "created_at": (day + pd.Timedelta(hours=h)).strftime("%a %b %d %H:%M:%S +0000 %Y"),
                "user_id_str": "1",
            }
            for h in (15, 22)
        ]
        (tweets / day.strftime("%Y-%m-%d")).write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return root


def test_recipe_states_the_seed004_design():
    config = load_config(recipe_path("seed004_lstm"))
    labels = [m.display for m in config.models]
    assert labels == ["LSTM (price)", "LSTM + sentiment", "Naive (last close)"]
    assert [m.name for m in config.models] == ["lstm", "lstm", "naive"]
    assert config.models[0].params["features"] == ["price"] and "features" not in config.models[1].params
    assert config.features.lookback == 60 and config.features.groups == ["sentiment"]
    assert config.features.sentiment.scorer == "vader"  # a recipe cannot assume a fine-tuned classifier
    assert (config.target.kind, config.target.horizon) == ("close", 1)
    p = config.protocol
    assert (p.kind, p.train, p.valid, p.test) == ("chronological", 0.8, 0.0, 0.2)
    assert (config.scaling.features, config.scaling.target) == ("minmax", "minmax")
    assert config.data.source == "stocknet" and config.data.tickers == ["AAPL"]
    quick = load_config(recipe_path("seed004_lstm"), quick=True)
    assert quick.features.lookback < 60 and quick.sweep.seeds == [0]


def test_a_classifier_directory_resolves_against_the_config_folder(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(recipe_path("seed004_lstm").read_text())
    config = load_config(path, ["features.sentiment.scorer=models/clf"])
    assert config.features.sentiment.scorer == str((tmp_path / "models" / "clf").resolve())
    assert load_config(path, ["features.sentiment.scorer=lm"]).features.sentiment.scorer == "lm"


def test_recipe_runs_end_to_end_on_a_tiny_stocknet(tmp_path):
    root = tiny_stocknet(tmp_path / "stocknet")
    config = load_config(
        recipe_path("seed004_lstm"),
        [
            f"data.stocknet_root={root}",
            "features.lookback=5",
            "models.0.params.epochs=3",
            "models.1.params.epochs=3",
            "progress=false",
        ],
        quick=True,
    )
    result = runner.run(config, run_dir=tmp_path / "run")
    summary = {u["model"]: u for u in json.loads((result.run_dir / "metrics.json").read_text())["summary"]}
    assert set(summary) == {"LSTM (price)", "LSTM + sentiment", "Naive (last close)"}
    for row in summary.values():
        assert {"rmse", "mae", "directional_accuracy"} <= set(row)
    preds = result.predictions
    naive = preds[preds["model"] == "Naive (last close)"]
    # the runner gives the naive forecast unscaled data although the run scales with minmax
    np.testing.assert_allclose(naive["y_pred"], naive["last_price"], rtol=1e-6)
    assert summary["Naive (last close)"]["directional_accuracy"] == 0.0  # it never predicts a move
    lstm = preds[preds["model"] == "LSTM (price)"]
    assert lstm["y_pred"].between(0.5 * lstm["y_true"].min(), 2 * lstm["y_true"].max()).all()  # price units
    data = json.loads((result.run_dir / "data.json").read_text())
    assert data["samples"]["features"] == ["price", *SENTIMENT_FEATURES]
    assert (result.run_dir / "plots" / "price_forecast.png").exists()
    assert (result.run_dir / "tables" / "rmse.md").exists()
    assert "price: train, test and predictions" in (result.run_dir / "report.html").read_text()


def test_price_directional_accuracy_by_hand():
    # last 10: up 11 predicted 10.5 (right); down 9 predicted 10.2 (wrong); up 12 predicted 10 + 1e-7 (no
    # move: within the float32 tolerance, counts as wrong); unchanged 10 (no direction: left out)
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2021-01-04", periods=4),
            "ticker": "A",
            "point": "base",
            "fold": 0,
            "seed": 0,
            "model": "m",
            "y_true": [11.0, 9.0, 12.0, 10.0],
            "y_pred": [10.5, 10.2, 10.0 + 1e-7, 11.0],
            "last_price": 10.0,
        }
    )
    assert unit_metrics(frame, "regression")["directional_accuracy"].item() == pytest.approx(1 / 3)
    # without last_price the direction is the sign of the value (a price is always "up")
    assert unit_metrics(frame.drop(columns="last_price"), "regression")["directional_accuracy"].item() == 1.0


def test_price_plot_draws_each_prediction_at_its_target_date():
    dates = pd.bdate_range("2021-01-04", periods=6)
    prices = pd.DataFrame({"date": dates, "ticker": "A", "close": [1.0, 2, 3, 4, 5, 6]})
    preds = pd.DataFrame({"date": dates[3:5], "ticker": "A", "model": "m", "y_true": [5.0, 6], "y_pred": [4.5, 5.5]})
    assert with_last_price(preds, prices)["last_price"].tolist() == [4.0, 5.0]
    fig = plot_price_forecast(prices, preds)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert set(lines) == {"before test (train)", "test (actual)", "m (predicted)"}
    predicted = lines["m (predicted)"]
    assert list(pd.to_datetime(predicted.get_xdata())) == list(dates[4:6]) and list(predicted.get_ydata()) == [4.5, 5.5]
    assert list(lines["before test (train)"].get_ydata()) == [1.0, 2, 3, 4]
