"""Decile assignment, ties, skipped dates and decile returns worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError, DataError
from finfusion.portfolio import assign_groups, group_returns, mean_group_returns, realised_returns


def test_groups_of_two_from_the_lowest_score(tiny):
    preds, _ = tiny.two_dates()
    sel = assign_groups(preds, n_groups=5)
    day1 = sel.frame[sel.frame["date"] == tiny.DATES[0]].set_index("ticker")["group"]
    assert day1.loc[tiny.TICKERS].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    day2 = sel.frame[sel.frame["date"] == tiny.DATES[1]].set_index("ticker")["group"]
    assert day2.loc[tiny.TICKERS].tolist() == [4, 4, 3, 3, 2, 2, 1, 1, 0, 0]
    assert sel.n_skipped == 0 and sel.n_groups == 5


def test_ties_are_broken_by_ticker(tiny):
    preds = pd.DataFrame({"date": tiny.DATES[0], "ticker": ["D", "B", "C", "A"], "y_pred": 0.5})
    groups = assign_groups(preds, n_groups=2).frame.set_index("ticker")["group"]
    assert groups.loc[["A", "B", "C", "D"]].tolist() == [0, 0, 1, 1]  # equal scores: A ranks lowest
    shuffled = assign_groups(preds.iloc[::-1], n_groups=2).frame.set_index("ticker")["group"]
    pd.testing.assert_series_equal(groups.sort_index(), shuffled.sort_index())


def test_uneven_sizes_follow_floor_of_rank_times_groups_over_n(tiny):
    preds = pd.DataFrame({"date": tiny.DATES[0], "ticker": [f"X{i:02d}" for i in range(15)], "y_pred": np.arange(15.0)})
    groups = assign_groups(preds, n_groups=10).frame.sort_values("score")["group"].tolist()
    assert groups == [0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9]  # floor(i * 10 / 15)


def test_dates_with_fewer_tickers_than_groups_are_skipped_and_counted(tiny):
    preds, _ = tiny.two_dates(model="m")
    short = preds[~((preds["date"] == tiny.DATES[1]) & preds["ticker"].isin(tiny.TICKERS[4:]))]  # 4 tickers on date 2
    sel = assign_groups(short, n_groups=5)
    assert sel.n_skipped == 1
    assert sel.skipped.to_dict("records") == [{"model": "m", "date": tiny.DATES[1], "n_tickers": 4}]
    assert set(sel.frame["date"]) == {tiny.DATES[0]}


def test_units_are_ranked_separately(tiny):
    a, _ = tiny.two_dates(model="a")
    b = a.assign(model="b", y_pred=-a["y_pred"])
    sel = assign_groups(pd.concat([a, b]), n_groups=5)
    top = sel.frame[(sel.frame["group"] == 4) & (sel.frame["date"] == tiny.DATES[0])]
    assert sorted(top.loc[top["model"] == "a", "ticker"]) == ["T8", "T9"]
    assert sorted(top.loc[top["model"] == "b", "ticker"]) == ["T0", "T1"]


def test_group_returns_by_hand(tiny):
    preds, returns = tiny.two_dates(model="m")
    per_date = group_returns(assign_groups(preds, n_groups=5), returns)
    day1 = per_date[per_date["date"] == tiny.DATES[0]]
    np.testing.assert_allclose(day1["mean_return"], [0.005, 0.025, 0.045, 0.065, 0.085])
    assert day1["n"].tolist() == [2] * 5
    # date 2: group g holds T(8-2g), T(9-2g) with returns -0.01 * i
    mean = mean_group_returns(per_date)
    np.testing.assert_allclose(mean["m"], [(0.005 - 0.085) / 2, (0.025 - 0.065) / 2, 0.0, 0.02, 0.04])
    assert list(mean.index) == [0, 1, 2, 3, 4]
    single = mean_group_returns(per_date, by=None)
    np.testing.assert_allclose(single["mean_return"], mean["m"])


def test_group_returns_need_every_return(tiny):
    preds, returns = tiny.two_dates()
    with pytest.raises(DataError, match="1 grouped ticker.*without a finite realised return"):
        group_returns(assign_groups(preds, n_groups=5), returns.iloc[1:])


def test_bad_predictions_raise(tiny):
    preds, _ = tiny.two_dates()
    with pytest.raises(DataError, match=r"lacks column\(s\) \['y_pred'\]"):
        assign_groups(preds.drop(columns="y_pred"))
    with pytest.raises(DataError, match="duplicated"):
        assign_groups(pd.concat([preds, preds]))
    with pytest.raises(DataError, match="non-finite 'y_pred'"):
        assign_groups(preds.assign(y_pred=preds["y_pred"].where(preds["ticker"] != "T3")))
    with pytest.raises(DataError, match="datetime64"):
        assign_groups(preds.assign(date=preds["date"].dt.strftime("%Y-%m-%d")))
    with pytest.raises(ConfigError, match="n_groups"):
        assign_groups(preds, n_groups=1)


def test_realised_returns_are_keyed_by_the_decision_date(tiny):
    prices = pd.DataFrame({"date": list(tiny.DATES) * 2, "ticker": ["A"] * 4 + ["B"] * 4,
                           "close": [100.0, 110.0, 99.0, 121.0, 10.0, 10.0, 12.0, 9.0]})
    out = realised_returns(prices, horizon=2)
    assert list(out.columns) == ["date", "ticker", "return", "end_date"]
    assert out[["date", "ticker"]].to_numpy().tolist() == [[tiny.DATES[0], "A"], [tiny.DATES[0], "B"],
                                                          [tiny.DATES[1], "A"], [tiny.DATES[1], "B"]]
    np.testing.assert_allclose(out["return"], [-0.01, 0.2, 0.1, -0.1])
    assert out["end_date"].tolist() == [tiny.DATES[2], tiny.DATES[2], tiny.DATES[3], tiny.DATES[3]]
