"""Backtest returns, turnover, costs, schedule and errors worked out by hand (fixture: conftest.two_dates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError, DataError
from finfusion.portfolio import backtest, rebalance_dates


def _book(result, strategy, model=None):
    rows = result.periods[result.periods["strategy"] == strategy]
    if model is not None:
        rows = rows[rows["model"] == model]
    return rows.sort_values("date")


def test_long_only_long_short_and_universe_by_hand(tiny):
    preds, returns = tiny.two_dates(model="m")
    result = backtest(preds, returns, n_groups=5, cost_bps=10.0)
    lo, ls, uni = (_book(result, s) for s in ("long_only", "long_short", "universe"))
    # date 1: top {T8, T9} earns (0.08 + 0.09) / 2, bottom {T0, T1} (0 + 0.01) / 2
    # date 2: top {T0, T1} earns (0 - 0.01) / 2, bottom {T8, T9} (-0.08 - 0.09) / 2
    np.testing.assert_allclose(lo["gross"], [0.085, -0.005])
    np.testing.assert_allclose(ls["gross"], [0.085 - 0.005, -0.005 + 0.085])
    np.testing.assert_allclose(uni["gross"], [0.045, -0.045])
    # long-only: enter 1 unit, then sell T8, T9 and buy T0, T1 (4 x 0.5); long-short: enter 2 units,
    # then T0, T1, T8, T9 each go from +-0.5 to -+0.5; universe: enter, then hold
    np.testing.assert_allclose(lo["turnover"], [1.0, 2.0])
    np.testing.assert_allclose(ls["turnover"], [2.0, 4.0])
    np.testing.assert_allclose(uni["turnover"], [1.0, 0.0])
    np.testing.assert_allclose(lo["cost"], [0.001, 0.002])
    np.testing.assert_allclose(lo["net"], [0.084, -0.007])
    np.testing.assert_allclose(ls["net"], [0.078, 0.076])
    np.testing.assert_allclose(uni["net"], [0.044, -0.045])
    assert lo["n_long"].tolist() == [2, 2] and lo["n_short"].tolist() == [0, 0]
    assert ls["n_long"].tolist() == [2, 2] and ls["n_short"].tolist() == [2, 2]
    assert uni["n_long"].tolist() == [10, 10] and uni["model"].isna().all()
    assert list(result.periods.columns) == ["model", "date", "strategy", "n_long", "n_short", "gross", "turnover",
                                            "cost", "net"]
    assert result.n_skipped == 0 and result.keys == ("model",) and result.rebalance_dates == tuple(tiny.DATES[:2])


def test_partial_turnover_when_one_name_changes(tiny):
    preds, returns = tiny.two_dates()
    day2 = preds["date"] == tiny.DATES[1]
    preds.loc[day2, "y_pred"] = preds.loc[day2, "ticker"].str[1].astype(float)  # same order as date 1
    preds.loc[day2 & (preds["ticker"] == "T8"), "y_pred"] = 6.5  # T7 (7.0) replaces T8 in the top group
    lo = _book(backtest(preds, returns, n_groups=5, cost_bps=0.0), "long_only")
    np.testing.assert_allclose(lo["turnover"], [1.0, 1.0])  # T8 0.5 -> 0, T7 0 -> 0.5, T9 kept
    np.testing.assert_allclose(lo["gross"], [0.085, (-0.07 - 0.09) / 2])
    assert (lo["cost"] == 0).all()


def test_skipped_date_holds_cash_and_is_counted(tiny):
    a, returns = tiny.two_dates(model="a")
    b = a[a["date"] == tiny.DATES[0]].assign(model="b")  # b has no prediction on date 2
    a = a[~((a["date"] == tiny.DATES[1]) & a["ticker"].isin(tiny.TICKERS[4:]))]  # a: 4 tickers on date 2
    result = backtest(pd.concat([a, b]), returns, n_groups=5, cost_bps=10.0)
    assert result.n_skipped == 2
    assert result.skipped.to_dict("records") == [{"model": "a", "date": tiny.DATES[1], "n_tickers": 4},
                                                 {"model": "b", "date": tiny.DATES[1], "n_tickers": 0}]
    lo = _book(result, "long_only", "a")
    np.testing.assert_allclose(lo["gross"], [0.085, 0.0])
    np.testing.assert_allclose(lo["turnover"], [1.0, 1.0])  # the exit to cash is charged
    np.testing.assert_allclose(lo["net"], [0.084, -0.001])
    assert lo["n_long"].tolist() == [2, 0]
    uni = _book(result, "universe")  # the union of predicted tickers: T0..T3 on date 2
    np.testing.assert_allclose(uni["gross"], [0.045, -0.015])
    np.testing.assert_allclose(uni["turnover"], [1.0, 4 * (0.25 - 0.1) + 6 * 0.1])


def test_rebalance_every_k_dates_with_matching_holding_period():
    dates = pd.bdate_range("2024-03-04", periods=5)
    tickers = ["A", "B", "C", "D"]
    returns = pd.DataFrame([(d, t, 0.01 * (i + 1) * (j + 1)) for j, d in enumerate(dates) for i, t in enumerate(tickers)],
                           columns=["date", "ticker", "return"])
    returns["end_date"] = returns["date"] + pd.offsets.BDay(2)
    preds = returns.assign(y_pred=returns["return"])[["date", "ticker", "y_pred"]]
    result = backtest(preds, returns, n_groups=2, holding_period=2, cost_bps=0.0)
    assert result.rebalance_dates == (dates[0], dates[2], dates[4])
    np.testing.assert_allclose(_book(result, "long_only")["gross"], [0.035, 0.105, 0.175])  # mean of C, D
    np.testing.assert_allclose(_book(result, "long_short")["gross"], [0.02, 0.06, 0.10])
    shifted = backtest(preds, returns, n_groups=2, holding_period=2, offset=1, cost_bps=0.0)
    assert shifted.rebalance_dates == (dates[1], dates[3])
    with pytest.raises(DataError, match="held periods overlap"):
        backtest(preds, returns.assign(end_date=returns["date"] + pd.offsets.BDay(3)), n_groups=2, holding_period=2)
    with pytest.raises(ConfigError, match="rebalance_every=1 != holding_period=2"):
        backtest(preds, returns, n_groups=2, holding_period=2, rebalance_every=1)


def test_rebalance_dates_are_sorted_and_distinct(tiny):
    dates = pd.Series([tiny.DATES[2], tiny.DATES[0], tiny.DATES[2], tiny.DATES[1], tiny.DATES[3]])
    assert list(rebalance_dates(dates, every=2)) == [tiny.DATES[0], tiny.DATES[2]]
    with pytest.raises(ConfigError, match="every"):
        rebalance_dates(dates, every=0)


def test_bad_input_raises(tiny):
    preds, returns = tiny.two_dates()
    held = (returns["date"] == tiny.DATES[0]) & (returns["ticker"] == "T9")
    with pytest.raises(DataError, match=r"1 held position\(s\) without a finite realised return, first .*T9"):
        backtest(preds, returns[~held], n_groups=5)
    with pytest.raises(DataError, match="1 held position"):
        backtest(preds, returns.assign(**{"return": returns["return"].where(~held)}), n_groups=5)
    with pytest.raises(DataError, match="duplicated"):
        backtest(preds, pd.concat([returns, returns.iloc[:1]]), n_groups=5)
    with pytest.raises(DataError, match="duplicated"):
        backtest(pd.concat([preds, preds.iloc[:1]]), returns, n_groups=5)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['return'\]"):
        backtest(preds, returns.rename(columns={"return": "ret"}), n_groups=5)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['ticker'\]"):
        backtest(preds.drop(columns="ticker"), returns, n_groups=5)
    with pytest.raises(ConfigError, match="cost_bps"):
        backtest(preds, returns, n_groups=5, cost_bps=-1.0)
    with pytest.raises(ConfigError, match="holding_period"):
        backtest(preds, returns, n_groups=5, holding_period=0)


def test_extra_returns_and_other_columns_are_ignored(tiny):
    preds, returns = tiny.two_dates()
    extra = pd.concat([returns, pd.DataFrame({"date": [tiny.DATES[3]], "ticker": ["T0"], "return": [0.5]})])
    a = backtest(preds.rename(columns={"y_pred": "score"}), extra, n_groups=5, score_col="score")
    b = backtest(preds, returns.rename(columns={"return": "r"}), n_groups=5, return_col="r")
    pd.testing.assert_frame_equal(a.periods, b.periods)


def test_a_unit_skipped_on_every_date_holds_cash(tiny):
    preds, returns = tiny.two_dates(model="m")
    small = preds[preds["ticker"].isin(tiny.TICKERS[:3])]
    result = backtest(small, returns, n_groups=5)
    lo = _book(result, "long_only")
    assert lo["gross"].tolist() == [0.0, 0.0] and lo["n_long"].tolist() == [0, 0]
    assert lo["n_long"].dtype == "int64" and result.n_skipped == 2
