"""Scaler: fit on train only, 1/2/3-D, constant columns, state round trip."""

import json

import numpy as np
import pytest

from finfusion.errors import NotFittedError
from finfusion.features.scalers import Scaler


def test_zscore_uses_train_statistics():
    train = np.array([[1.0, 10.0], [3.0, 10.0]])  # col 0: mean 2, std 1 (ddof 0); col 1 constant
    test = np.array([[5.0, 12.0]])
    out = Scaler("zscore").fit(train).transform(test)
    # (5 - 2) / 1 = 3 ; constant column: scale 1 -> 12 - 10 = 2, no NaN/inf
    np.testing.assert_allclose(out, [[3.0, 2.0]])


def test_minmax_uses_train_range():
    scaler = Scaler("minmax").fit(np.array([0.0, 10.0]))
    # 1-D in, 1-D out: (5 - 0) / 10 = 0.5, (20 - 0) / 10 = 2 (outside the train range)
    np.testing.assert_allclose(scaler.transform(np.array([5.0, 20.0])), [0.5, 2.0])
    constant = Scaler("minmax").fit(np.ones((4, 1)))
    assert np.isfinite(constant.transform(np.array([[1.0], [3.0]]))).all()


@pytest.mark.parametrize("kind", ["zscore", "minmax", "none"])
def test_3d_equals_2d_on_flattened_and_round_trip(kind):
    rng = np.random.default_rng(0)
    X3 = rng.normal(3, 2, size=(20, 5, 4))
    flat = X3.reshape(-1, 4)
    a = Scaler(kind).fit(X3).transform(X3)
    b = Scaler(kind).fit(flat).transform(flat)
    np.testing.assert_allclose(a.reshape(-1, 4), b)
    scaler = Scaler(kind).fit(X3)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X3)), X3)


def test_nan_names_column_and_shape_checks():
    X = np.ones((3, 3))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="column 2"):
        Scaler().fit(X)
    scaler = Scaler().fit(np.ones((3, 3)))
    with pytest.raises(ValueError, match="expected 3 feature"):
        scaler.transform(np.ones((2, 4)))
    with pytest.raises(NotFittedError):
        Scaler().transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="kind"):
        Scaler("robust")


@pytest.mark.parametrize("kind", ["zscore", "minmax", "none"])
def test_state_dict_json_round_trip(kind):
    rng = np.random.default_rng(1)
    scaler = Scaler(kind).fit(rng.normal(size=(30, 3)))
    restored = Scaler.from_state(json.loads(json.dumps(scaler.state_dict())))
    X = rng.normal(size=(7, 3))
    np.testing.assert_allclose(restored.transform(X), scaler.transform(X))
    np.testing.assert_allclose(restored.inverse_transform(X), scaler.inverse_transform(X))
