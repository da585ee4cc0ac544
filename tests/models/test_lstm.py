"""The stacked LSTM forecaster (seed 004): architecture, column selection, look-back memory, price units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TargetConfig
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.schema import validate_prices
from finfusion.errors import ConfigError, DataError
from finfusion.models.base import Samples
from finfusion.models.lstm import LSTMPredictor, StackedLSTM
from finfusion.models.registry import make_predictor
from finfusion.protocols.engine import run_protocol
from finfusion.protocols.splitters import ChronologicalSplit

FAST = {"hidden": 16, "dense": 8, "batch_size": 32, "lr": 1e-2}


def window_samples(n: int = 300, L: int = 6, d: int = 2, seed: int = 0) -> Samples:
    """y is the first feature on the FIRST day of each window: only a model with memory finds it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, L, d)).astype(np.float32)
    index = pd.DataFrame({"date": pd.bdate_range("2020-01-01", periods=n), "ticker": "A"})
    return Samples(index=index, X=X, y=X[:, 0, 0].astype(np.float64), feature_names=tuple(f"f{i}" for i in range(d)))


def test_default_network_is_the_papers():
    # LSTM(50, return_sequences) -> LSTM(50) -> Dense(25) -> Dense(1) on one input feature (the close).
    # Keras counts one bias per gate (31,901 parameters); torch's nn.LSTM has two (b_ih and b_hh):
    # 4·50·(1 + 50) + 2·4·50 = 10,600; 4·50·(50 + 50) + 2·4·50 = 20,400; 50·25 + 25 = 1,275; 25 + 1 = 26.
    net = StackedLSTM(d_in=1, hidden=50, num_layers=2, dense=25)
    assert sum(p.numel() for p in net.parameters()) == 10_600 + 20_400 + 1_275 + 26
    assert net({"x": torch.zeros(4, 60, 1)}).shape == (4,)
    defaults = LSTMPredictor().get_params()
    assert (defaults["hidden"], defaults["num_layers"], defaults["dense"], defaults["activation"]) == (
        50,
        2,
        25,
        "linear",
    )
    logits = StackedLSTM(d_in=3, hidden=8, num_layers=1, dense=4, n_classes=3)({"x": torch.zeros(2, 5, 3)})
    assert logits.shape == (2, 3)


def test_remembers_the_start_of_the_window():
    data = window_samples()
    model = make_predictor("lstm", {**FAST, "epochs": 40}).fit(data.subset(slice(0, 240)))
    test = data.subset(slice(240, 300))
    assert np.mean((model.predict(test) - test.y) ** 2) < 0.2 * np.var(test.y)


def test_features_selects_the_columns_it_reads():
    data = window_samples(n=80, d=3)
    model = make_predictor("lstm", {**FAST, "epochs": 2, "features": ["f1", "f2"]}).fit(data)
    assert model.feature_index_ == (1, 2)
    assert model.module_.lstm.input_size == 2
    scrambled = data.X.copy()
    scrambled[:, :, 0] = 99.0  # a column the model does not read
    np.testing.assert_array_equal(model.predict(data.with_arrays(X=scrambled)), model.predict(data))
    with pytest.raises(DataError, match=r"features \['close'\] are not among the samples' features"):
        make_predictor("lstm", {"features": ["close"], "epochs": 1}).fit(data)


def test_a_2d_input_is_a_window_of_one_day():
    data = window_samples(n=60, L=1)
    flat = data.with_arrays(X=data.X[:, 0, :])
    a = make_predictor("lstm", {**FAST, "epochs": 2}).fit(data).predict(data)
    b = make_predictor("lstm", {**FAST, "epochs": 2}).fit(flat).predict(flat)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden": 0}, "hidden must be an int >= 1, got 0"),
        ({"num_layers": 1.5}, "num_layers must be an int >= 1"),
        ({"activation": "tanh"}, "activation must be 'linear' or 'relu'"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"features": "f0"}, "features must be None or a non-empty list"),
    ],
)
def test_bad_params_are_named(params, message):
    (param,) = params
    with pytest.raises(ConfigError, match=f"model 'lstm' parameter '{param}'"):  # made from a config: refused at once
        make_predictor("lstm", {"epochs": 1, **params})
    with pytest.raises(ValueError, match=message):  # built directly: refused by fit
        LSTMPredictor(epochs=1, **params).fit(window_samples(n=20))


def test_close_target_with_minmax_scaling_comes_back_in_price_units():
    """Scalers are fit on the training part only and the predicted close is inverse-scaled."""
    rng = np.random.default_rng(1)
    close = 100 + np.cumsum(rng.normal(0, 1, 160))
    prices = validate_prices(
        pd.DataFrame(
            {
                "date": pd.bdate_range("2021-01-04", periods=160),
                "ticker": "A",
                "open": close,
                "high": close + 1,
                "low": close - 1,
                "close": close,
                "volume": 1e6,
            }
        )
    )
    samples = build_samples(MarketData(prices), SampleSpec(features=FeatureConfig(features=["price"], lookback=10),
                                                         target=TargetConfig(kind="close")))
    assert samples.X.shape[1:] == (10, 1)
    np.testing.assert_allclose(samples.X[:, -1, 0], close[9:-1], rtol=1e-6)  # day t's close is the last step
    np.testing.assert_allclose(samples.y, close[10:])  # the target is the next close
    preds = run_protocol(
        make_predictor("lstm", {**FAST, "epochs": 30}),
        samples,
        ChronologicalSplit(0.8, 0.0, 0.2),
        scale_features="minmax",
        scale_target="minmax",
        progress=False,
    )
    assert len(preds) == 30 and preds["date"].min() > samples.dates[len(samples) - 31]
    rmse = np.sqrt(np.mean((preds["y_pred"] - preds["y_true"]) ** 2))
    assert rmse < np.std(close), rmse  # in price units, near the prices (a scaled output would be ~100 off)
