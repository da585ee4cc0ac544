"""Input validation messages of MarketWindow / split_market / Standardizer."""

from __future__ import annotations

import numpy as np
import pytest

from finfusion.errors import DataError
from finfusion.portfolio.rl import EnvConfig, MarketWindow, PortfolioEnv, Standardizer, split_market


def test_frames_must_match(market):
    returns, text = market
    with pytest.raises(DataError, match="text: index differs from returns"):
        MarketWindow(returns, text.iloc[1:])
    with pytest.raises(DataError, match="text: columns"):
        MarketWindow(returns, text.rename(columns={"AAA": "ZZZ"}))
    with pytest.raises(DataError, match="index must be a DatetimeIndex"):
        MarketWindow(returns.reset_index(drop=True))
    with pytest.raises(DataError, match="unique and ascending"):
        MarketWindow(returns.iloc[::-1])


def test_bad_values_are_named(market):
    returns, text = market
    bad = returns.copy()
    bad.iloc[3, 1] = np.nan
    with pytest.raises(DataError, match=r"returns: 1 value\(s\) not finite or <= -1, first at 2021-01-07 / BBB"):
        MarketWindow(bad, text)
    bad.iloc[3, 1] = -1.0
    with pytest.raises(DataError, match="BBB: -1.0"):
        MarketWindow(bad, text)
    loud = text.copy()
    loud.iloc[5, 2] = 1.5
    with pytest.raises(DataError, match=r"text: 1 value\(s\) outside \[-1, 1\], first at 2021-01-11 / CCC: 1.5"):
        MarketWindow(returns, loud)


def test_window_must_fit(market):
    returns, text = market
    std = Standardizer().fit(returns)
    with pytest.raises(DataError, match="has 5 history row"):
        PortfolioEnv(MarketWindow(returns, text, returns.index[5]), std, EnvConfig(window=30))
    with pytest.raises(DataError, match="leave no decision date"):
        PortfolioEnv(MarketWindow(returns.iloc[:30], text.iloc[:30]), std, EnvConfig(window=30))
    with pytest.raises(DataError, match="is not a date of the returns index"):
        MarketWindow(returns, text, "2030-01-01")
    with pytest.raises(DataError, match="expected > 30 train rows"):
        split_market(returns, text, train_end=returns.index[20], valid_end=returns.index[60], window=30)


def test_standardizer_errors(market):
    returns, _ = market
    flat = returns.copy()
    flat["BBB"] = 0.001
    with pytest.raises(DataError, match=r"constant log returns for \['BBB'\]"):
        Standardizer().fit(flat)
    with pytest.raises(DataError, match="differ from the fit"):
        Standardizer().fit(returns).transform(returns[["CCC", "AAA", "BBB"]])
