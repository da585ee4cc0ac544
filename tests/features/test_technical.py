"""Indicator values worked out by hand on tiny price series."""

import numpy as np
import pandas as pd
import pytest

from finfusion.features import technical as ta


def s(*values):
    return pd.Series(values, dtype="float64")


def test_simple_and_log_returns():
    p = s(100, 110, 99)
    # 110/100 - 1 = 0.1 ; 99/110 - 1 = -0.1
    np.testing.assert_allclose(ta.simple_return(p), [np.nan, 0.1, -0.1])
    # lag 1 = log(p_t/p_{t-1}); lag 2 = the one before, so row 2 holds log(110/100)
    np.testing.assert_allclose(ta.log_return_lag(p, 1), [np.nan, np.log(1.1), np.log(0.9)])
    np.testing.assert_allclose(ta.log_return_lag(p, 2), [np.nan, np.nan, np.log(1.1)])


def test_ma_ratio():
    # MA3 at row 2 = (1+2+3)/3 = 2 -> 3/2 - 1 = 0.5 ; row 3: MA = 3 -> 4/3 - 1
    np.testing.assert_allclose(ta.ma_ratio(s(1, 2, 3, 4), 3), [np.nan, np.nan, 0.5, 1 / 3])


def test_rsi_hand_example_and_edges():
    # n=2, alpha=1/2: deltas [., 1, -1, 2]
    # gains: 1, .5*0+.5*1=.5, .5*2+.5*.5=1.25 ; losses: 0, .5, .5*0+.5*.5=.25
    # row 2: RS=1 -> 50 ; row 3: RS=5 -> 100 - 100/6
    np.testing.assert_allclose(ta.rsi(s(1, 2, 1, 3), 2), [np.nan, np.nan, 50.0, 100 - 100 / 6])
    assert (ta.rsi(s(*range(1, 30)), 14).dropna() == 100).all()  # only gains
    assert (ta.rsi(s(*range(30, 1, -1)), 14).dropna() == 0).all()  # only losses
    assert (ta.rsi(s(*[5.0] * 20), 14).dropna() == 50).all()  # flat: neutral, not NaN
    assert ta.rsi(s(*range(1, 30)), 14).isna().sum() == 14


def test_macd_hand_example():
    # fast span 1 -> EMA = price; slow span 2 -> alpha 2/3: 3, 2/3*6 + 1/3*3 = 5
    # raw = 6 - 5 = 1 -> macd = 1/6 ; signal span 1 = raw -> hist 0
    out = ta.macd_lines(s(3, 6), fast=1, slow=2, signal=1)
    np.testing.assert_allclose(out["macd"], [np.nan, 1 / 6])
    np.testing.assert_allclose(out["macd_signal"], [np.nan, 1 / 6])
    np.testing.assert_allclose(out["macd_hist"], [np.nan, 0.0])


def test_macd_warmup_and_constant_price():
    out = ta.macd_lines(s(*[10.0] * 60))
    assert out["macd"].isna().sum() == 25
    assert out["macd_signal"].isna().sum() == 33
    assert (out.dropna() == 0).all().all()


def test_momentum_volatility_range_volume():
    # 110/100 - 1 = 0.1
    np.testing.assert_allclose(ta.momentum(s(100, 105, 110), 2), [np.nan, np.nan, 0.1])
    # log returns [., 1, 2] -> std([1, 2], ddof=1) = sqrt(0.5)
    np.testing.assert_allclose(ta.rolling_volatility(s(1, np.e, np.e**3), 2), [np.nan, np.nan, np.sqrt(0.5)])
    # (12 - 8) / 10 = 0.4
    np.testing.assert_allclose(ta.price_range(s(12), s(8), s(10)), [0.4])
    # log1p: log(1) = 0, log(10); change: log(10/1), finite despite zero volume
    np.testing.assert_allclose(ta.volume_log(s(0, 9)), [0.0, np.log(10)])
    np.testing.assert_allclose(ta.volume_change(s(0, 9)), [np.nan, np.log(10)])


@pytest.mark.parametrize("fn", [ta.ma_ratio, ta.momentum, ta.rsi, ta.log_return_lag])
def test_bad_window(fn):
    with pytest.raises(ValueError, match="window"):
        fn(s(1, 2, 3), 0)


def test_volatility_needs_two():
    with pytest.raises(ValueError, match=">= 2"):
        ta.rolling_volatility(s(1, 2, 3), 1)
