"""TradingCalendar: construction, look-ups, exchange calendars."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from finfusion.data.calendar import TradingCalendar
from finfusion.errors import DataError

HAS_XCALS = importlib.util.find_spec("exchange_calendars") is not None


def test_from_prices_is_sorted_union_of_dates():
    prices = pd.DataFrame({"date": pd.to_datetime(["2014-01-03", "2014-01-02", "2014-01-03", "2014-01-06"]),
                           "ticker": ["A", "A", "B", "B"]})
    cal = TradingCalendar.from_prices(prices)
    assert list(cal.sessions) == list(pd.to_datetime(["2014-01-02", "2014-01-03", "2014-01-06"]))
    assert cal.sessions.dtype == "datetime64[ns]" and len(cal) == 3


def test_session_on_or_after_and_position():
    cal = TradingCalendar(pd.DatetimeIndex(["2014-01-02", "2014-01-03", "2014-01-06"]))
    got = cal.session_on_or_after(pd.to_datetime(["2014-01-01", "2014-01-03", "2014-01-04", "2014-01-07", None]))
    expected = pd.to_datetime(["2014-01-02", "2014-01-03", "2014-01-06", None, None])
    assert got.equals(pd.DatetimeIndex(expected, name="date"))
    np.testing.assert_array_equal(cal.position(pd.to_datetime(["2014-01-06", "2014-01-04", "2014-01-02"])), [2, -1, 0])


def test_rejects_aware_or_intraday_sessions():
    with pytest.raises(DataError, match="tz-naive"):
        TradingCalendar(pd.DatetimeIndex(["2014-01-02"], tz="UTC"))
    with pytest.raises(DataError, match="time of day"):
        TradingCalendar(pd.DatetimeIndex(["2014-01-02 10:00"]))
    with pytest.raises(DataError, match="tz-naive"):
        TradingCalendar(pd.DatetimeIndex(["2014-01-02"])).session_on_or_after(pd.DatetimeIndex(["2014-01-02"], tz="UTC"))


@pytest.mark.skipif(not HAS_XCALS, reason="exchange_calendars not installed")
def test_from_exchange_skips_weekends_and_holidays():
    cal = TradingCalendar.from_exchange("XNYS", "2014-01-15", "2014-01-22")
    # 2014-01-20 is Martin Luther King Jr. Day
    assert [d.strftime("%m-%d") for d in cal.sessions] == ["01-15", "01-16", "01-17", "01-21", "01-22"]


@pytest.mark.skipif(not HAS_XCALS, reason="exchange_calendars not installed")
def test_from_exchange_unknown_name():
    with pytest.raises(DataError, match="unknown exchange calendar 'NOPE'.*XNYS"):
        TradingCalendar.from_exchange("NOPE", "2014-01-01", "2014-02-01")


def test_from_exchange_without_package(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "exchange_calendars":
            raise ImportError("no module")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="exchange_calendars"):
        TradingCalendar.from_exchange("XNYS", "2014-01-01", "2014-02-01")
