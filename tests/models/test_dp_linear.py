"""ε-DP logistic regression ("dp_logistic"): row clipping, objective perturbation, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from finfusion.errors import ConfigError
from finfusion.models.dp_linear import DPLogisticPredictor, clip_rows


def test_clip_rows_projects_onto_the_ball_and_keeps_inner_rows():
    X = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    np.testing.assert_allclose(clip_rows(X, 1.0), [[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]])
    np.testing.assert_allclose(clip_rows(X, 10.0), X)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        clip_rows(X, 0.0)


def test_non_private_fit_is_scikit_learn_on_clipped_rows(make_samples):
    train = make_samples("classification", n=200, d=3, seed=0)
    model = DPLogisticPredictor(epsilon=None, data_norm=1.5).fit(train)
    reference = LogisticRegression(C=1.0).fit(clip_rows(train.X, 1.5), train.y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6)
    np.testing.assert_allclose(model.predict_proba(train), reference.predict_proba(clip_rows(train.X, 1.5)), rtol=1e-6)
    assert math.isinf(model.epsilon_)


def test_noise_is_seeded_and_shrinks_with_epsilon(make_samples):
    train = make_samples("classification", n=400, d=3, seed=0)
    plain = DPLogisticPredictor(epsilon=None).fit(train).coef_

    def error(eps, seed):
        return np.linalg.norm(DPLogisticPredictor(epsilon=eps, seed=seed).fit(train).coef_ - plain)

    np.testing.assert_array_equal(
        DPLogisticPredictor(epsilon=1.0, seed=3).fit(train).coef_, DPLogisticPredictor(epsilon=1.0, seed=3).fit(train).coef_
    )
    assert error(1.0, 3) != error(1.0, 4)
    assert np.mean([error(100.0, s) for s in range(5)]) < np.mean([error(0.1, s) for s in range(5)]) / 5


def test_tiny_epsilon_is_near_chance_large_epsilon_learns(make_samples):
    data = make_samples("classification", n=600, d=4, seed=2)
    train, test = data.subset(slice(0, 400)), data.subset(slice(400, 600))
    accuracy = {
        eps: np.mean([np.mean(DPLogisticPredictor(epsilon=eps, seed=s).fit(train).predict(test) == test.y) for s in range(5)])
        for eps in (0.01, 50.0)
    }
    assert accuracy[50.0] > 0.9
    assert abs(accuracy[0.01] - 0.5) < 0.2


def test_rows_outside_the_ball_predict_as_their_projection(make_samples):
    data = make_samples("classification", n=200, d=3, seed=1)
    model = DPLogisticPredictor(epsilon=2.0, data_norm=0.5).fit(data)
    far = data.with_arrays(X=data.X * 100)
    inside = np.linalg.norm(data.X, axis=1) <= 0.5
    scaled = model.predict_proba(far)[~inside]
    np.testing.assert_allclose(scaled, model.predict_proba(data)[~inside], rtol=1e-5)


def test_three_classes_spend_epsilon_over_one_vs_rest(make_samples):
    data = make_samples("classification", n=300, d=3, seed=0)
    data = data.with_arrays(y=np.digitize(data.X[:, 0], [-0.5, 0.5]).astype(np.int64))
    model = DPLogisticPredictor(epsilon=30.0).fit(data)
    assert model.coef_.shape == (3, 3) and model.intercept_.shape == (3,)
    proba = model.predict_proba(data)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(model.predict(data) == data.y) > 0.6


@pytest.mark.parametrize(
    ("params", "message"),
    [({"epsilon": 0.0}, "epsilon must be > 0"), ({"data_norm": -1.0}, "data_norm must be > 0"), ({"C": 0.0}, "C must be > 0")],
)
def test_bad_params_are_named(make_samples, params, message):
    with pytest.raises(ConfigError, match=message):
        DPLogisticPredictor(**params).fit(make_samples("classification", n=50, d=3))
