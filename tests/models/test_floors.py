"""The floor models: the train-prior rule ("prior") and the logistic regression ("logistic")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import DataError
from finfusion.models.base import Samples
from finfusion.models.registry import get_predictor_class, make_predictor


def _samples(y, X=None, *, extras=None, text_items=None) -> Samples:
    n = len(y)
    X = np.zeros((n, 2), dtype=np.float32) if X is None else np.asarray(X, dtype=np.float32)
    index = pd.DataFrame({"date": pd.bdate_range("2024-01-01", periods=n), "ticker": "A"})
    names = tuple(f"f{i}" for i in range(X.shape[-1]))
    return Samples(index=index, X=X, y=np.asarray(y, dtype=np.int64), feature_names=names, task="classification",
                   extras=extras or {}, text_items=text_items)


def test_prior_predicts_the_training_majority_with_the_training_frequencies():
    model = make_predictor("prior").fit(_samples([0, 1, 1, 1, 0]))  # 2 falls, 3 rises
    test = _samples([0, 0, 0])
    np.testing.assert_allclose(model.predict_proba(test), [[0.4, 0.6]] * 3)
    assert model.predict(test).tolist() == [1, 1, 1]  # whatever the test labels are


def test_prior_breaks_a_tie_towards_the_smallest_label_and_is_a_floor():
    model = make_predictor("prior").fit(_samples([1, 0, 1, 0]))
    assert model.predict(_samples([1, 1])).tolist() == [0, 0]
    assert get_predictor_class("prior").floor and get_predictor_class("logistic").floor
    assert not getattr(get_predictor_class("xgboost"), "floor", False)


def _tweet_problem(n: int = 400, seed: int = 0):
    """y = 1 when the sample has many tweets; X is noise: only the tweet count carries signal."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 30, size=n)
    y = (counts + rng.normal(0, 3, size=n) > 15).astype(np.int64)
    X = rng.normal(size=(n, 4, 1))  # a 4-day window of one "movement" column
    return X, y, counts


def test_logistic_reads_the_tweet_count_from_extras_or_text_items():
    X, y, counts = _tweet_problem()
    with_extras = _samples(y, X, extras={"n_tweets": counts})
    items = tuple(tuple("t" for _ in range(c)) for c in counts)
    with_items = _samples(y, X, text_items=items)
    train, test = slice(0, 300), slice(300, 400)
    a = make_predictor("logistic", {"tweet_count": True}).fit(with_extras.subset(train))
    b = make_predictor("logistic", {"tweet_count": True}).fit(with_items.subset(train))
    np.testing.assert_allclose(a.predict_proba(with_extras.subset(test)), b.predict_proba(with_items.subset(test)))
    hit_with = np.mean(a.predict(with_extras.subset(test)) == y[test])
    plain = make_predictor("logistic").fit(with_extras.subset(train))
    hit_without = np.mean(plain.predict(with_extras.subset(test)) == y[test])
    assert hit_with > 0.78 and hit_without < 0.65  # the count is the signal; the returns are noise
    assert a.coef_.shape == (1, 5)  # 4 lagged values + log(1 + count)


def test_logistic_tweet_count_without_counts_is_an_error():
    X, y, _ = _tweet_problem(40)
    with pytest.raises(DataError, match="tweet_count.*n_tweets.*text_items"):
        make_predictor("logistic", {"tweet_count": True}).fit(_samples(y, X))


def test_logistic_scales_on_the_training_rows_only():
    """A prediction depends on its own row and the fitted state, not on the other test rows."""
    X, y, counts = _tweet_problem()
    data = _samples(y, X * 100.0 + 50.0, extras={"n_tweets": counts})
    model = make_predictor("logistic", {"tweet_count": True}).fit(data.subset(slice(0, 300)))
    train_X = data.X[:300].reshape(300, -1).astype(np.float64)
    np.testing.assert_allclose(model.scaler_mean_[:4], train_X.mean(axis=0), rtol=1e-6)
    alone = model.predict_proba(data.subset(np.array([350])))
    np.testing.assert_allclose(alone, model.predict_proba(data.subset(slice(300, 400)))[[50]])


def test_logistic_matches_scikit_learn_on_standardised_inputs():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    y = (X @ [1.0, -2.0, 0.5] + rng.normal(size=200) > 0).astype(np.int64)
    model = make_predictor("logistic", {"C": 0.5}).fit(_samples(y, X))
    scaler = StandardScaler().fit(X)
    reference = LogisticRegression(C=0.5, max_iter=1000).fit(scaler.transform(X), y)
    np.testing.assert_allclose(model.predict_proba(_samples(y, X)),
                               reference.predict_proba(scaler.transform(X)), atol=1e-6)
