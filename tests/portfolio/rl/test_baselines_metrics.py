"""Baselines and metrics by hand (2 assets, 3 decision days, c = 0.01)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import DataError
from finfusion.portfolio.rl import MarketWindow, buy_and_hold, equal_weight, market, metrics_table, rl_metrics

RETURNS = pd.DataFrame([[0.01, -0.01], [0.10, -0.05], [-0.02, 0.04], [0.05, 0.00]],
                       pd.bdate_range("2024-01-01", periods=4), ["X", "Y"])
DATA = MarketWindow(RETURNS)


def test_equal_weight_by_hand():
    daily = equal_weight(DATA, window=1, commission=0.01)
    # held after day 1: (.55, .475)/1.025; after day 2: (.49, .52)/1.01
    to = [1.0, 0.075 / 1.025, 0.03 / 1.01]
    assert daily["turnover"].tolist() == pytest.approx(to)
    assert daily["gross_return"].tolist() == pytest.approx([0.025, 0.01, 0.025])
    net = [0.025 - 0.01, 0.01 - 0.01 * to[1], 0.025 - 0.01 * to[2]]
    assert daily["value"].tolist() == pytest.approx(np.cumprod([1 + n for n in net]).tolist())
    assert (daily[["w_X", "w_Y"]].to_numpy() == 0.5).all()


def test_buy_and_hold_by_hand():
    daily = buy_and_hold(DATA, window=1, commission=0.01)
    # no cost after entry: V_3 = (1.025 - .01) * (gross value of 1/2, 1/2 held) / 1.025
    held = 0.5 * 1.1 * 0.98 * 1.05 + 0.5 * 0.95 * 1.04 * 1.0
    assert daily["value"].tolist() == pytest.approx([1.015, 1.015 * 1.033 / 1.025, 1.015 * held / 1.025])
    assert daily["turnover"].tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert daily[["w_X", "w_Y"]].iloc[1].tolist() == pytest.approx([0.55 / 1.025, 0.475 / 1.025])
    # the cost does not depend on c after entry: same growth from day 2 on
    other = buy_and_hold(DATA, window=1, commission=0.0)
    assert other["net_return"].iloc[1:].tolist() == pytest.approx(daily["net_return"].iloc[1:].tolist())


def test_market_benchmarks():
    universe = market(DATA, window=1)  # equal weight gross of costs
    assert universe["value"].tolist() == pytest.approx([1.025, 1.025 * 1.01, 1.025 * 1.01 * 1.025])
    index = pd.Series([0.01, -0.02, 0.03, 0.5], RETURNS.index)
    daily = market(DATA, window=1, index_returns=index)
    assert daily["value"].tolist() == pytest.approx([0.98, 0.98 * 1.03, 0.98 * 1.03 * 1.5])
    assert daily["w_X"].isna().all() and (daily["turnover"] == 0).all()
    with pytest.raises(DataError, match="no value on 1 decision date"):
        market(DATA, window=1, index_returns=index.iloc[:3])


def test_metrics_by_hand():
    r = [0.01, -0.02, 0.03, 0.0]
    daily = pd.DataFrame({"net_return": r, "turnover": [1.0, 0.2, 0.0, 0.2]})
    m = rl_metrics(daily)
    final = 1.01 * 0.98 * 1.03
    assert m["final_value"] == pytest.approx(final)
    assert m["annual_return"] == pytest.approx(final ** (252 / 4) - 1)
    ex = np.array(r) - 0.02 / 252
    assert m["sharpe"] == pytest.approx(ex.mean() / ex.std(ddof=1) * math.sqrt(252))
    dd = math.sqrt(np.mean(np.minimum(ex, 0) ** 2))
    assert m["sortino"] == pytest.approx(ex.mean() / dd * math.sqrt(252))
    assert m["max_drawdown"] == pytest.approx(0.98 - 1)  # 1.01 -> 0.9898
    assert m["calmar"] == pytest.approx((final ** 63 - 1) / 0.02)
    assert m["avg_turnover"] == pytest.approx(0.35) and m["n_days"] == 4
    table = metrics_table({"a": daily, "b": daily.assign(net_return=[0.01] * 4)})
    assert list(table.index) == ["a", "b"] and math.isnan(table.loc["b", "calmar"])  # no drawdown
