"""The naive last-value baseline: close_{t+1} = close_t, or a return of 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TargetConfig
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.schema import validate_prices
from finfusion.errors import DataError
from finfusion.models.base import Samples
from finfusion.models.registry import load_predictor, make_predictor
from finfusion.protocols.engine import run_protocol
from finfusion.protocols.splitters import RollingWindow

CLOSE = [10.0, 11.0, 12.5, 12.0, 13.0, 12.25, 14.0, 15.5]


def price_samples(kind: str = "close", lookback: int = 2) -> Samples:
    prices = validate_prices(
        pd.DataFrame(
            {
                "date": pd.bdate_range("2021-01-04", periods=len(CLOSE)),
                "ticker": "A",
                "open": CLOSE,
                "high": CLOSE,
                "low": CLOSE,
                "close": CLOSE,
                "volume": 1e6,
            }
        )
    )
    return build_samples(
        MarketData(prices), SampleSpec(features=FeatureConfig(features=["price", "ret_1"], lookback=lookback), target=TargetConfig(kind=kind))
    )


def test_tomorrow_equals_today_by_hand():
    samples = price_samples()  # rows t = 2 .. 6: ret_1 is undefined on day 0, the look-back needs 2 days
    model = make_predictor("naive", {"feature": "price"}).fit(samples)
    assert model.predict(samples).tolist() == CLOSE[2:-1]
    assert samples.y.tolist() == CLOSE[3:]


def test_return_target_forecasts_zero():
    samples = price_samples("return")
    assert make_predictor("naive").fit(samples).predict(samples).tolist() == [0.0] * len(samples)


def test_through_a_protocol_always_unscaled():
    samples = price_samples()
    preds = run_protocol(make_predictor("naive", {"feature": "price"}), samples, RollingWindow(window=3), progress=False)
    assert preds["y_pred"].tolist() == CLOSE[5:-1]  # the close of each test row's day
    assert preds["y_true"].tolist() == CLOSE[6:]


def test_errors_are_named(tmp_path):
    samples = price_samples()
    with pytest.raises(DataError, match=r"feature 'close' is not among the samples' features \['price', 'ret_1'\]"):
        make_predictor("naive", {"feature": "close"}).fit(samples)
    direction = price_samples().with_arrays(y=np.array([0, 1, 1, 0, 1]))
    with pytest.raises(ValueError, match="supports tasks"):
        from dataclasses import replace

        make_predictor("naive").fit(replace(direction, task="classification"))
    model = make_predictor("naive", {"feature": "price"}).fit(samples)
    nan = samples.X.copy()
    nan[3, -1, 0] = np.nan
    with pytest.raises(DataError, match="'price' is not finite in sample 3"):
        model.predict(samples.with_arrays(X=nan))
    model.save(tmp_path / "m")
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["config.json"]
    assert load_predictor(tmp_path / "m").predict(samples).tolist() == CLOSE[2:-1]
