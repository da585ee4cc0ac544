"""XGBoost predictor specifics: early stopping, continued boosting, NaN inputs, flattened names."""

from __future__ import annotations

import numpy as np
import pytest

from finfusion.errors import DataError
from finfusion.models.inputs import flat_feature_names
from finfusion.models.tree import XGBoostPredictor

FAST = {"n_estimators": 40, "learning_rate": 0.3, "max_depth": 3}


def test_early_stopping_predicts_with_the_best_iteration(make_samples, tmp_path):
    data = make_samples("regression", n=200)
    noise = data.subset(slice(150, 200))
    noise = noise.with_arrays(y=np.random.default_rng(0).normal(size=50))  # valid loss cannot improve for long
    model = XGBoostPredictor(**{**FAST, "n_estimators": 200}, early_stopping_rounds=5)
    model.fit(data.subset(slice(0, 150)), noise)
    best = model.model_.best_iteration
    assert best < 100
    expected = model.model_.get_booster().inplace_predict(data.X, iteration_range=(0, best + 1))
    np.testing.assert_allclose(model.predict(data), expected, rtol=1e-6)
    model.save(tmp_path)
    np.testing.assert_array_equal(XGBoostPredictor().load(tmp_path).predict(data), model.predict(data))


def test_early_stopping_needs_valid(make_samples):
    with pytest.raises(ValueError, match="valid"):
        XGBoostPredictor(**FAST, early_stopping_rounds=3).fit(make_samples("regression", n=40))


def test_warm_start_continues_boosting(make_samples):
    data = make_samples("regression", n=100)
    model = XGBoostPredictor(**FAST, warm_start=True, warm_estimators=10).fit(data)
    assert model.model_.get_booster().num_boosted_rounds() == 40
    model.fit(data)
    assert model.model_.get_booster().num_boosted_rounds() == 50
    cold = XGBoostPredictor(**FAST).fit(data).fit(data)
    assert cold.model_.get_booster().num_boosted_rounds() == 40


def test_warm_start_needs_the_same_classes(make_samples):
    data = make_samples("classification", n=100)
    model = XGBoostPredictor(**FAST, warm_start=True).fit(data)
    with pytest.raises(ValueError, match="warm_start.*classes"):
        model.fit(data.subset(np.flatnonzero(data.y == 1)))


def test_missing_values_are_allowed(make_samples):
    data = make_samples("regression", n=80)
    X = data.X.copy()
    X[::7, 1] = np.nan
    pred = XGBoostPredictor(**FAST).fit(data.with_arrays(X=X)).predict(data.with_arrays(X=X))
    assert np.isfinite(pred).all()


def test_non_finite_targets_are_rejected(make_samples):
    data = make_samples("regression", n=40)
    with pytest.raises(DataError, match="non-finite"):
        XGBoostPredictor(**FAST).fit(data.with_arrays(y=np.full(40, np.nan)))


def test_flattened_feature_names(make_samples):
    assert flat_feature_names(("a", "b"), (2,)) == ["a", "b"]
    assert flat_feature_names(("a", "b"), (3, 2)) == ["a@t-2", "b@t-2", "a@t-1", "b@t-1", "a@t-0", "b@t-0"]
    model = XGBoostPredictor(**FAST).fit(make_samples("classification", n=60, d=2, lookback=3))
    assert model.feature_names_out_ == ["f0@t-2", "f1@t-2", "f0@t-1", "f1@t-1", "f0@t-0", "f1@t-0"]
    assert model.model_.n_features_in_ == 6
