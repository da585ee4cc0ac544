"""Long/flat strategy PnL: positions, costs, trades and summary statistics worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import DataError
from finfusion.evaluate.pnl import daily_pnl, pnl_summary, pnl_table

DATES = pd.bdate_range("2023-03-06", periods=4)


def _single() -> tuple[pd.DataFrame, pd.DataFrame]:
    preds = pd.DataFrame({"date": DATES, "ticker": "A", "y_pred": [1, 1, 0, 1], "p_1": [0.7, 0.55, 0.2, 0.9],
                          "model": "xgb"})
    returns = pd.DataFrame({"date": DATES, "ticker": "A", "return": [0.01, -0.02, 0.03, 0.05]})
    return preds, returns


def test_single_ticker_positions_costs_and_trades():
    daily = daily_pnl(*_single(), cost_bps=5.0)
    np.testing.assert_allclose(daily["gross"], [0.01, -0.02, 0.0, 0.05])  # flat on day 3 misses +3 %
    np.testing.assert_allclose(daily["turnover"], [1, 0, 1, 1])  # enter, hold, exit, enter
    np.testing.assert_allclose(daily["net"], [0.0095, -0.02, -0.0005, 0.0495])
    assert daily["trades"].tolist() == [1, 0, 1, 1]


def test_single_ticker_summary_by_hand():
    summary = pnl_summary(daily_pnl(*_single(), cost_bps=5.0))
    assert summary["cumulative_return_gross"] == pytest.approx(1.01 * 0.98 * 1.05 - 1)
    assert summary["cumulative_return_net"] == pytest.approx(1.0095 * 0.98 * 0.9995 * 1.0495 - 1)
    assert summary["annual_return_gross"] == pytest.approx((1.01 * 0.98 * 1.05) ** (252 / 4) - 1)
    # mean 0.01, deviations (0, -0.03, -0.01, 0.04): variance 0.0026 / 3
    assert summary["sharpe_gross"] == pytest.approx(0.01 / np.sqrt(0.0026 / 3) * np.sqrt(252))
    assert summary["max_drawdown_gross"] == pytest.approx(0.98 - 1)  # from the peak 1.01 to 0.9898
    assert summary["n_trades"] == 3 and summary["n_days"] == 4
    assert summary["exposure"] == 0.75 and summary["turnover"] == 3.0


def test_threshold_uses_the_probability():
    daily = daily_pnl(*_single(), threshold=0.6, cost_bps=0.0)
    np.testing.assert_allclose(daily["gross"], [0.01, 0.0, 0.0, 0.05])  # 0.55 <= 0.6: flat on day 2
    assert daily["trades"].tolist() == [1, 1, 0, 1]


def test_equal_weight_portfolio_of_longs():
    d = DATES[:3]
    preds = pd.DataFrame({"date": [d[0], d[0], d[1], d[1], d[2], d[2]], "ticker": ["A", "B"] * 3,
                          "y_pred": [1, 1, 1, 0, 0, 0]})
    returns = pd.DataFrame({"date": preds["date"], "ticker": preds["ticker"],
                            "return": [0.02, -0.01, 0.01, 0.04, 0.5, -0.5]})
    daily = daily_pnl(preds, returns, cost_bps=10.0)
    np.testing.assert_allclose(daily["gross"], [0.005, 0.01, 0.0])  # (0.02 - 0.01) / 2, then A alone, then cash
    np.testing.assert_allclose(daily["turnover"], [1.0, 1.0, 1.0])  # 0.5 + 0.5; |1 - .5| + |0 - .5|; exit A
    np.testing.assert_allclose(daily["net"], [0.004, 0.009, -0.001])
    assert daily["trades"].tolist() == [2, 1, 1] and daily["n_long"].tolist() == [2, 1, 0]


def test_returns_as_series_and_extra_rows():
    preds, returns = _single()
    extra = pd.concat([returns, pd.DataFrame({"date": [DATES[-1] + pd.Timedelta(days=1)], "ticker": ["A"],
                                              "return": [0.9]})])
    series = extra.set_index(["date", "ticker"])["return"]
    np.testing.assert_allclose(daily_pnl(preds, series)["gross"], daily_pnl(preds, returns)["gross"])


def test_missing_return_of_a_long_position_raises():
    preds, returns = _single()
    with pytest.raises(DataError, match="1 long position.*without a finite realised return"):
        daily_pnl(preds, returns.iloc[1:])
    daily_pnl(preds, returns.drop(index=2))  # a flat day needs no return


def test_duplicates_and_bad_arguments():
    preds, returns = _single()
    with pytest.raises(DataError, match="duplicated"):
        daily_pnl(pd.concat([preds, preds]), returns)
    with pytest.raises(DataError, match="duplicated"):
        daily_pnl(preds, pd.concat([returns, returns]))
    with pytest.raises(ValueError, match="cost_bps"):
        daily_pnl(preds, returns, cost_bps=-1)
    with pytest.raises(ValueError, match="threshold"):
        daily_pnl(preds, returns, threshold=1.5)


def test_pnl_table_per_model():
    preds, returns = _single()
    both = pd.concat([preds, preds.assign(model="all_up", y_pred=1)], ignore_index=True)
    table = pnl_table(both, returns, cost_bps=0.0)
    assert table["model"].tolist() == ["xgb", "all_up"]
    buy_and_hold = 1.01 * 0.98 * 1.03 * 1.05 - 1
    assert table.loc[1, "cumulative_return_net"] == pytest.approx(buy_and_hold)
    assert table.loc[1, "n_trades"] == 1
