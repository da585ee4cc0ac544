"""Causal alignment of texts to sessions and the newsflow look-back, including leakage checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.data.align import align_texts, build_newsflow
from finfusion.data.calendar import TradingCalendar
from finfusion.data.frames import CleaningReport
from finfusion.data.schema import validate_texts
from finfusion.errors import ConfigError, DataError

# Thu 2, Fri 3, Mon 6, Tue 7 Jan; Fri 17, (Mon 20 = MLK holiday), Tue 21 Jan; Tue 1, Wed 2 Jul 2014
SESSIONS = ["2014-01-02", "2014-01-03", "2014-01-06", "2014-01-07", "2014-01-17", "2014-01-21", "2014-07-01", "2014-07-02"]
CAL = TradingCalendar(pd.DatetimeIndex(SESSIONS))


def texts(stamps: list[str], tickers: list[str] | None = None, bodies: list[str] | None = None) -> pd.DataFrame:
    n = len(stamps)
    frame = pd.DataFrame({"timestamp": stamps, "ticker": tickers or ["A"] * n,
                          "text": bodies or [f"t{i}" for i in range(n)]})
    return validate_texts(frame)


def aligned_dates(stamps: list[str], **kwargs) -> list[str]:
    out = align_texts(texts(stamps), CAL, **kwargs)
    return [d.strftime("%Y-%m-%d") for d in out.sort_values("text", key=lambda s: s.str[1:].astype(int))["date"]]


def test_exactly_at_close_same_day_one_second_after_next_session():
    # 16:00 New York in January is 21:00 UTC
    assert aligned_dates(["2014-01-02T16:00:00-05:00", "2014-01-02T16:00:01-05:00", "2014-01-02T09:30:00-05:00"]) == [
        "2014-01-02", "2014-01-03", "2014-01-02"]


def test_friday_after_close_and_weekend_roll_to_monday():
    assert aligned_dates(["2014-01-03T17:00:00-05:00", "2014-01-04T12:00:00Z", "2014-01-05T23:59:00-05:00"]) == [
        "2014-01-06", "2014-01-06", "2014-01-06"]


def test_holiday_rolls_to_next_session():
    # Friday 17 Jan after the close and Monday 20 Jan (MLK day) both belong to Tuesday 21 Jan
    assert aligned_dates(["2014-01-17T16:30:00-05:00", "2014-01-20T12:00:00-05:00"]) == ["2014-01-21", "2014-01-21"]


def test_time_zones_and_dst():
    stamps = [
        "2014-01-02T20:30:00Z",        # 15:30 New York: before the close although "after 16:00" in UTC
        "2014-01-03T06:00:00+09:00",   # Tokyo morning = 16:00 New York the day before: exactly the close
        "2014-07-01T19:59:59Z",        # 15:59:59 EDT (UTC-4 in summer)
        "2014-07-01T20:00:01Z",        # 16:00:01 EDT -> next session
    ]
    assert aligned_dates(stamps) == ["2014-01-02", "2014-01-02", "2014-07-01", "2014-07-02"]


def test_custom_close_and_zone():
    # a 17:30 London close: 17:00 London (17:00 UTC in winter) stays, 18:00 rolls
    assert aligned_dates(["2014-01-02T17:00:00Z", "2014-01-02T18:00:00Z"], close_time="17:30",
                         timezone="Europe/London") == ["2014-01-02", "2014-01-03"]


def test_before_first_session_within_lookback_kept_after_last_dropped_and_counted():
    report = CleaningReport()
    # 1 Jan 2014 (a weekday) after 16:00 New York: after the previous weekday's close -> first session
    stamps = ["2014-01-01T21:00:01Z", "2014-07-02T20:00:00Z", "2014-07-02T20:00:01Z"]
    out = align_texts(texts(stamps), CAL, report=report)
    assert out["date"].dt.strftime("%Y-%m-%d").tolist() == ["2014-01-02", "2014-07-02"]
    (record,) = report.dropped
    assert record.count == 1 and "last session 2014-07-02" in record.reason


def test_texts_older_than_the_first_sessions_lookback_dropped_and_counted():
    # prices from 2 Jan 2014: a 1990 text, one at the previous weekday's close (1 Jan 16:00 New York)
    # and one the weekend before belong to sessions before the data
    stamps = ["1990-05-01T12:00:00Z", "2014-01-01T21:00:00Z", "2013-12-28T12:00:00Z", "2014-01-01T21:00:01Z"]
    report = CleaningReport()
    out = align_texts(texts(stamps), CAL, report=report)
    assert out["text"].tolist() == ["t3"] and out["date"].tolist() == [pd.Timestamp("2014-01-02")]
    (record,) = report.dropped
    assert record.count == 3 and record.step == "align_texts"
    assert "2014-01-01" in record.reason and "lookback_days=1" in record.reason
    assert "before the first session 2014-01-02" in record.reason
    assert record.examples[0] == "A 1990-05-01T12:00:00+00:00"
    # 3 sessions (2 Jan + the weekdays 1 Jan, 31 Dec) cover texts after the close of Mon 30 Dec;
    # 4 sessions reach back to the close of Fri 27 Dec, so the weekend text comes in
    out3 = align_texts(texts(stamps), CAL, lookback_days=3, report=CleaningReport())
    assert sorted(out3["text"]) == ["t1", "t3"]
    out4 = align_texts(texts(stamps), CAL, lookback_days=4, report=CleaningReport())
    assert sorted(out4["text"]) == ["t1", "t2", "t3"] and set(out4["date"]) == {pd.Timestamp("2014-01-02")}
    with pytest.raises(ConfigError, match="lookback_days"):
        align_texts(texts(stamps), CAL, lookback_days=0)


def test_texts_before_the_data_use_the_exchange_calendar_when_given():
    pytest.importorskip("exchange_calendars")
    cal = TradingCalendar.from_exchange("XNYS", "2014-01-02", "2014-01-10")
    # XNYS: 1 Jan 2014 is a holiday, the session before 2 Jan is Tue 31 Dec 2013
    assert cal.sessions_before(2).strftime("%Y-%m-%d").tolist() == ["2013-12-30", "2013-12-31"]
    assert CAL.sessions_before(2).strftime("%Y-%m-%d").tolist() == ["2013-12-31", "2014-01-01"]  # weekdays
    stamps = ["2013-12-31T21:00:01Z", "2013-12-31T20:59:00Z"]  # after / before the 31 Dec close
    out = align_texts(texts(stamps), cal, report=CleaningReport())
    assert out["text"].tolist() == ["t0"]


def test_unknown_tickers_dropped_and_counted():
    report = CleaningReport()
    out = align_texts(texts(["2014-01-02T12:00:00Z"] * 3, tickers=["A", "Z", "Z"]), CAL, tickers={"A"}, report=report)
    assert out["ticker"].tolist() == ["A"]
    assert report.dropped[0].count == 2 and report.dropped[0].examples == ("Z",)


def test_naive_timestamps_and_bad_close_time_rejected():
    naive = pd.DataFrame({"timestamp": pd.to_datetime(["2014-01-02 10:00"]), "ticker": ["A"], "text": ["x"]})
    with pytest.raises(DataError, match="tz-naive"):
        align_texts(naive, CAL)
    with pytest.raises(ConfigError, match="close_time"):
        align_texts(texts(["2014-01-02T12:00:00Z"]), CAL, close_time="4pm")


# ------------------------------------------------------------------------------------ newsflow

def panel(tickers=("A", "B")) -> pd.DataFrame:
    return pd.DataFrame([(d, t) for t in tickers for d in pd.DatetimeIndex(SESSIONS[:4])], columns=["date", "ticker"])


def newsflow_frame() -> pd.DataFrame:
    stamps = ["2014-01-02T10:00:00-05:00", "2014-01-02T11:00:00-05:00", "2014-01-02T17:00:00-05:00",
              "2014-01-04T10:00:00-05:00", "2014-01-06T09:00:00-05:00", "2014-01-02T12:00:00-05:00"]
    bodies = ["a1 early", "a2 later", "a3 after close", "a4 saturday", "a5 monday", "b1"]
    return align_texts(texts(stamps, tickers=["A"] * 5 + ["B"], bodies=bodies), CAL)


def nf_dict(nf: pd.DataFrame) -> dict:
    return {(t, d.strftime("%m-%d")): (s, n) for d, t, s, n in nf[["date", "ticker", "text", "n_texts"]].itertuples(index=False)}


def test_newsflow_lookback_one_day():
    p = panel()
    nf = build_newsflow(newsflow_frame(), p)
    assert list(nf.columns) == ["date", "ticker", "text", "n_texts", "items"] and len(nf) == len(p)
    assert all(" | ".join(i) == t and len(i) == n for t, n, i in nf[["text", "n_texts", "items"]].itertuples(index=False))
    assert (nf["date"].values == p["date"].values).all() and (nf["ticker"] == p["ticker"]).all()
    got = nf_dict(nf)
    assert got[("A", "01-02")] == ("a1 early | a2 later", 2)
    assert got[("A", "01-03")] == ("a3 after close", 1)
    assert got[("A", "01-06")] == ("a4 saturday | a5 monday", 2)
    assert got[("A", "01-07")] == ("", 0)
    assert got[("B", "01-02")] == ("b1", 1) and got[("B", "01-03")] == ("", 0)


def test_newsflow_lookback_sessions_and_caps():
    nf = nf_dict(build_newsflow(newsflow_frame(), panel(), lookback_days=2))
    assert nf[("A", "01-06")] == ("a3 after close | a4 saturday | a5 monday", 3)  # Fri + Mon sessions
    assert nf[("A", "01-07")] == ("a4 saturday | a5 monday", 2)
    assert nf[("B", "01-03")] == ("b1", 1)
    capped = nf_dict(build_newsflow(newsflow_frame(), panel(), lookback_days=3, max_items=2, order="newest_first",
                                    max_item_chars=5, separator="; "))
    assert capped[("A", "01-06")] == ("a5 mo; a4 sa", 2)
    short = nf_dict(build_newsflow(newsflow_frame(), panel(), lookback_days=3, max_chars=12))
    assert short[("A", "01-06")] == ("a1 early | a", 5)


def test_newsflow_with_calendar_counts_calendar_sessions():
    # a panel that skips 2014-01-03 for ticker A: look-back still counts the calendar's sessions
    p = panel(("A",)).iloc[[0, 2]]
    nf = nf_dict(build_newsflow(newsflow_frame(), p, lookback_days=1, calendar=CAL))
    assert nf[("A", "01-06")] == ("a4 saturday | a5 monday", 2)
    with pytest.raises(DataError, match="not sessions"):
        build_newsflow(newsflow_frame(), pd.DataFrame({"date": [pd.Timestamp("2014-01-04")], "ticker": ["A"]}), calendar=CAL)


def random_texts(rng: np.random.Generator, n: int, start: str, end: str) -> pd.DataFrame:
    lo, hi = pd.Timestamp(start, tz="UTC").value, pd.Timestamp(end, tz="UTC").value
    stamps = pd.to_datetime(rng.integers(lo, hi, n), utc=True)
    return pd.DataFrame({"timestamp": stamps, "ticker": rng.choice(["A", "B"], n), "text": [f"x{i}" for i in range(n)]})


@pytest.mark.parametrize("lookback", [1, 3])
def test_no_leakage_texts_after_close_of_t_do_not_change_days_up_to_t(lookback):
    rng = np.random.default_rng(7)
    cal = TradingCalendar(pd.bdate_range("2014-03-03", "2014-03-28"))  # spans the US DST change on 9 March
    p = pd.DataFrame([(d, t) for t in "AB" for d in cal.sessions], columns=["date", "ticker"])
    base = validate_texts(random_texts(rng, 300, "2014-03-01", "2014-03-29"))
    before = build_newsflow(align_texts(base, cal), p, lookback_days=lookback)
    for t in cal.sessions[[3, 7, 12]]:
        close = (t + pd.Timedelta(hours=16)).tz_localize("America/New_York").tz_convert("UTC")
        extra = random_texts(rng, 50, str(close.tz_localize(None)), "2014-03-29")
        extra.loc[0, "timestamp"] = close + pd.Timedelta(seconds=1)  # the very first second after the close
        later = base["timestamp"] > close
        changed = base.assign(text=base["text"].where(~later, "CHANGED"))
        after = build_newsflow(align_texts(validate_texts(pd.concat([changed, extra])), cal), p, lookback_days=lookback)
        upto = (p["date"] <= t).to_numpy()
        pd.testing.assert_frame_equal(after[upto], before[upto])
        assert not after[~upto].equals(before[~upto])  # the change is visible after t


def test_newsflow_arguments_checked():
    with pytest.raises(ConfigError, match="lookback_days"):
        build_newsflow(newsflow_frame(), panel(), lookback_days=0)
    with pytest.raises(ConfigError, match="order"):
        build_newsflow(newsflow_frame(), panel(), order="random")
    with pytest.raises(DataError, match="date"):
        build_newsflow(newsflow_frame().drop(columns="date"), panel())


def test_tickers_differing_only_in_case_are_named_in_the_reason():
    report = CleaningReport()
    frame = texts(["2014-01-02T12:00:00Z"] * 4, tickers=["aapl", "AAPL", "ZZ", "aapl"])
    out = align_texts(frame, CAL, tickers=["AAPL", "MSFT"], report=report)
    assert out["ticker"].tolist() == ["AAPL"]
    reasons = {d.reason: d.count for d in report.dropped}
    assert reasons == {
        "ticker not among the given tickers": 1,
        "ticker differs from a price ticker only in case ('aapl' in the texts, 'AAPL' in the prices): "
        "tickers are matched exactly, case included": 2,
    }
