"""TreeSHAP explanations of the XGBoost predictor: additivity, rankings, group shares, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from finfusion.evaluate.explain import (
    AdditivityError,
    check_additivity,
    explain,
    feature_to_group,
    group_shares,
    plot_group_shares,
    plot_importance,
    top_features,
)
from finfusion.models.base import Samples
from finfusion.models.tree import XGBoostPredictor

FAST = {"n_estimators": 30, "learning_rate": 0.3, "max_depth": 3}
NAMES = ("rsi_14", "vol_20", "sent_mean", "ret_1")


def _samples(n: int = 240, task: str = "classification", lookback: int | None = None, seed: int = 0) -> Samples:
    """The label depends on feature 2 ("sent_mean") alone."""
    rng = np.random.default_rng(seed)
    shape = (n, len(NAMES)) if lookback is None else (n, lookback, len(NAMES))
    X = rng.normal(size=shape).astype(np.float32)
    signal = X.reshape(n, -1, len(NAMES))[:, -1, 2]
    y = (signal > 0).astype(np.int64) if task == "classification" else signal.astype(np.float64)
    index = pd.DataFrame({"date": pd.bdate_range("2021-01-04", periods=n), "ticker": "AAA"})
    return Samples(index=index, X=X, y=y, feature_names=NAMES, task=task)


def test_attributions_add_up_to_the_log_odds():
    data = _samples()
    model = XGBoostPredictor(**FAST).fit(data)
    expl = explain(model, data)
    assert expl.values.shape == (240, 4) and expl.base.shape == (240,)
    assert expl.max_error < 1e-4
    np.testing.assert_allclose(expl.base, expl.base[0])  # one expected value for the model
    p_up = model.predict_proba(data)[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-(expl.base + expl.values.sum(axis=1)))), p_up, atol=1e-5)


def test_the_only_informative_feature_dominates():
    data = _samples()
    expl = explain(XGBoostPredictor(**FAST).fit(data), data)
    table = top_features(expl, k=3)
    assert table["feature"].iloc[0] == "sent_mean" and table["rank"].tolist() == [1, 2, 3]
    assert table["share_pct"].iloc[0] > 80
    groups = {"rsi_14": "technical", "vol_20": "volatility", "sent_mean": "sentiment"}
    shares = group_shares(expl, groups)
    assert shares["group"].iloc[0] == "sentiment"
    assert set(shares["group"]) == {"technical", "volatility", "sentiment", "ungrouped"}  # ret_1 is kept
    assert shares["share_pct"].sum() == pytest.approx(100.0)
    assert shares.set_index("group").loc["ungrouped", "n_features"] == 1


def test_local_explanation_is_sorted_and_carries_the_margin():
    data = _samples()
    expl = explain(XGBoostPredictor(**FAST).fit(data), data)
    local = expl.local(5)
    assert list(local.columns) == ["feature", "value", "shap"]
    assert local["shap"].abs().is_monotonic_decreasing
    assert local.attrs["base"] + local["shap"].sum() == pytest.approx(local.attrs["margin"], abs=1e-4)
    assert local.attrs["date"] == data.index["date"].iloc[5]
    values = dict(zip(local["feature"], local["value"]))
    assert [values[name] for name in NAMES] == pytest.approx(data.X[5].tolist())
    assert len(expl.local(5, top=2)) == 2
    with pytest.raises(IndexError, match="out of range"):
        expl.local(240)


def test_lookback_features_use_the_group_of_their_base_name():
    data = _samples(lookback=2)
    model = XGBoostPredictor(**FAST).fit(data)
    expl = explain(model, data)
    assert expl.values.shape == (240, 8) and "sent_mean@t-1" in expl.feature_names
    shares = group_shares(expl, feature_to_group({"sentiment": ["sent_mean"], "technical": ["rsi_14", "vol_20"],
                                                  "returns": ["ret_1"]}))
    assert "ungrouped" not in set(shares["group"])
    assert shares["group"].iloc[0] == "sentiment"
    assert shares.set_index("group").loc["sentiment", "n_features"] == 2


def test_regression_and_early_stopping_use_the_same_trees_as_predict():
    data = _samples(task="regression")
    model = XGBoostPredictor(**{**FAST, "n_estimators": 200}, early_stopping_rounds=3)
    model.fit(data.subset(slice(0, 180)), data.subset(slice(180, 240)))
    expl = explain(model, data)
    np.testing.assert_allclose(expl.margin, model.predict(data), rtol=1e-5, atol=1e-5)


def test_additivity_failure_is_reported():
    values, base = np.ones((3, 2)), np.zeros(3)
    assert check_additivity(values, base, np.full(3, 2.0)) == 0.0
    with pytest.raises(AdditivityError, match="differs from the model margin by 0.5 at sample 1"):
        check_additivity(values, base, np.array([2.0, 2.5, 2.0]))

    class Broken(XGBoostPredictor):
        def predict_margin(self, data):
            return super().predict_margin(data) + 1.0

    data = _samples(n=60)
    broken = Broken(**FAST).fit(data)
    with pytest.raises(AdditivityError):
        explain(broken, data)
    assert explain(broken, data, atol=None).max_error == pytest.approx(1.0, abs=1e-4)


def test_models_without_treeshap_and_plots():
    with pytest.raises(TypeError, match="shap_values"):
        explain(object(), _samples(n=20))
    data = _samples(n=80)
    expl = explain(XGBoostPredictor(**FAST).fit(data), data)
    assert isinstance(plot_importance(expl, k=3), Figure)
    assert isinstance(plot_group_shares(group_shares(expl, {"sent_mean": "sentiment"})), Figure)
    with pytest.raises(ValueError, match="two groups|in groups"):
        feature_to_group({"a": ["x"], "b": ["x"]})
