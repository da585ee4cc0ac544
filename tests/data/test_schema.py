"""Validation of the prices and texts frames: normalisation, error messages, dropping with counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.data.frames import CleaningReport
from finfusion.data.schema import validate_prices, validate_texts
from finfusion.errors import ConfigError, DataError


def raw_prices(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "Date": ["2014-01-03", "2014-01-02", "2014-01-02"],
            "Ticker": ["AAPL", "AAPL", "MSFT"],
            "Open": [10.0, 11.0, 30.0],
            "High": [10.5, 11.5, 31.0],
            "Low": [9.5, 10.5, 29.0],
            "Close": [10.2, 11.2, 30.5],
            "Adj Close": [10.1, 11.1, 30.4],
            "Volume": [1000, 2000, 0],
            "Factor X": [0.1, np.nan, 0.3],
        }
    )
    for k, v in overrides.items():
        frame[k] = v
    return frame


def test_prices_normalised_sorted_and_typed():
    out = validate_prices(raw_prices())
    assert list(out.columns) == ["date", "ticker", "open", "high", "low", "close", "volume", "adj_close", "factor_x"]
    assert out["date"].dtype == "datetime64[ns]"
    assert out[["ticker", "date"]].values.tolist() == [
        ["AAPL", pd.Timestamp("2014-01-02")], ["AAPL", pd.Timestamp("2014-01-03")], ["MSFT", pd.Timestamp("2014-01-02")]
    ]
    assert out["volume"].dtype == "float64" and out["factor_x"].isna().sum() == 1
    assert list(out.index) == [0, 1, 2]


def test_prices_dates_with_time_or_zone_become_midnight():
    out = validate_prices(raw_prices(Date=["2014-01-03 15:30", "2014-01-02T00:00:00+05:00", "20140102"]))
    assert out["date"].tolist() == [pd.Timestamp("2014-01-02"), pd.Timestamp("2014-01-03"), pd.Timestamp("2014-01-02")]


def test_prices_error_names_source_row_column_value_and_expectation():
    bad = raw_prices(Close=[10.2, -1.0, 30.5], Date=["2014-01-03", "2014-01-02", "not a date"])
    with pytest.raises(DataError) as info:
        validate_prices(bad, source="prices.csv")
    msg = str(info.value)
    assert "prices.csv" in msg and "1-based data row" in msg
    assert "row 2, column 'close': got -1.0, expected a finite number > 0" in msg
    assert "row 3, column 'date': got 'not a date'" in msg


def test_prices_all_problems_listed_in_one_error_with_cap():
    n = 30
    frame = pd.DataFrame({"date": pd.date_range("2014-01-01", periods=n).astype(str), "ticker": "A",
                          "open": 1.0, "high": 1.0, "low": 1.0, "close": 0.0, "volume": -1.0})
    with pytest.raises(DataError) as info:
        validate_prices(frame)
    msg = str(info.value)
    assert "60 problem(s)" in msg and "and 40 more" in msg
    assert msg.count("\n  ") == 21  # 20 listed + the "more" line


def test_prices_missing_column_always_raises_with_found_columns():
    for mode in ("raise", "drop"):
        with pytest.raises(DataError, match=r"missing required column\(s\) \['close'\].*found.*data.columns"):
            validate_prices(raw_prices().drop(columns="Close"), source="p.csv", on_invalid=mode)


def test_prices_duplicates_and_nan_volume():
    frame = raw_prices(Ticker=["AAPL", "AAPL", "AAPL"], Date=["2014-01-02"] * 3, Volume=[1.0, np.nan, 3.0])
    with pytest.raises(DataError) as info:
        validate_prices(frame, source="dups.csv")
    msg = str(info.value)
    assert "row 2, column 'volume': got <missing>" in msg
    assert "column '(date, ticker)': got (2014-01-02, AAPL), already at row 1" in msg


def test_prices_drop_counts_each_reason_once_per_row():
    frame = raw_prices(Close=[10.2, 0.0, 30.5], Low=[9.5, -1.0, 29.0], Volume=[1000, 2000, -5])
    frame.loc[3] = ["2014-01-03", "AAPL", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2]  # duplicate of row 1
    report = CleaningReport()
    out = validate_prices(frame, source="p.csv", on_invalid="drop", report=report)
    assert out["ticker"].tolist() == ["AAPL"] and out["close"].tolist() == [10.2]  # the first copy is kept
    reasons = {d.reason: d.count for d in report.dropped}
    assert report.total == 3  # row 2 (two problems) counted once
    assert reasons["p.csv: column 'low': expected a finite number > 0"] == 1
    assert reasons["p.csv: column 'volume': expected a finite number >= 0"] == 1
    assert any("(date, ticker)" in r for r in reasons)
    assert report.dropped[0].examples[0].startswith("row 2")


def test_prices_non_numeric_extra_column_raises_even_when_dropping():
    with pytest.raises(DataError, match="extra column 'sector' is not numeric.*'Tech'"):
        validate_prices(raw_prices(sector=["Tech", "Tech", "Energy"]), on_invalid="drop")


def test_prices_on_invalid_checked():
    with pytest.raises(ConfigError, match="on_invalid"):
        validate_prices(raw_prices(), on_invalid="ignore")


def raw_texts(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "Timestamp": ["2014-01-02T15:00:00-05:00", "2014-01-02T20:30:00Z", "2014-01-02T10:00:00+00:00"],
            "Ticker": ["B", "A", "A"],
            "Text": ["b news", "a late", "a early"],
            "Source": ["wire", "wire", "twitter"],
        }
    )
    for k, v in overrides.items():
        frame[k] = v
    return frame


def test_texts_to_utc_and_sorted():
    out = validate_texts(raw_texts())
    assert str(out["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert out["text"].tolist() == ["a early", "a late", "b news"]
    assert out["timestamp"].iloc[2] == pd.Timestamp("2014-01-02 20:00", tz="UTC")


def test_texts_naive_needs_default_tz():
    frame = raw_texts(Timestamp=["2014-01-02 15:00", "2014-01-02 16:00", "2014-07-02 16:00"])
    with pytest.raises(DataError, match=r"row 1, column 'timestamp': got '2014-01-02 15:00', expected a time zone"):
        validate_texts(frame, source="news.csv")
    out = validate_texts(frame, default_tz="America/New_York")
    # winter: UTC-5, summer: UTC-4
    assert sorted(out["timestamp"]) == [
        pd.Timestamp("2014-01-02 20:00", tz="UTC"), pd.Timestamp("2014-01-02 21:00", tz="UTC"),
        pd.Timestamp("2014-07-02 20:00", tz="UTC"),
    ]


def test_texts_datetime_column_and_bad_zone_name():
    frame = raw_texts(Timestamp=pd.to_datetime(["2014-01-02 10:00"] * 3).tz_localize("Europe/London"))
    assert validate_texts(frame)["timestamp"].iloc[0] == pd.Timestamp("2014-01-02 10:00", tz="UTC")
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        validate_texts(raw_texts(), default_tz="Mars/Olympus")


def test_texts_blank_text_error_and_drop():
    frame = raw_texts(Text=["ok", "   ", None])
    with pytest.raises(DataError) as info:
        validate_texts(frame, source="t.jsonl")
    msg = str(info.value)
    assert "t.jsonl: row 2, column 'text': got '   ', expected a non-empty text" in msg
    assert "row 3, column 'text': got <missing>" in msg
    report = CleaningReport()
    out = validate_texts(frame, on_invalid="drop", report=report)
    assert out["text"].tolist() == ["ok"] and report.total == 2


def test_texts_unparsable_and_nonexistent_local_time_dropped():
    frame = raw_texts(Timestamp=["yesterday", "2014-03-09 02:30", "2014-03-09 03:30"])
    report = CleaningReport()
    out = validate_texts(frame, default_tz="America/New_York", on_invalid="drop", report=report)
    assert len(out) == 1 and report.total == 2
    assert any("DST" in d.reason for d in report.dropped)


def test_texts_column_order_and_extra_columns_kept():
    frame = raw_texts()[["Text", "Source", "Ticker", "Timestamp"]].assign(user_id=["1", "2", "3"])
    out = validate_texts(frame)
    assert list(out.columns) == ["timestamp", "ticker", "text", "source", "user_id"]


# ------------------------------------------------------------------ OHLC consistency and magnitudes


def ohlc(rows: list[tuple]) -> pd.DataFrame:
    """rows of (open, high, low, close), one day each, ticker A."""
    return pd.DataFrame({"date": pd.bdate_range("2014-01-02", periods=len(rows)).strftime("%Y-%m-%d"),
                         "ticker": "A", "open": [float(r[0]) for r in rows], "high": [float(r[1]) for r in rows],
                         "low": [float(r[2]) for r in rows], "close": [float(r[3]) for r in rows], "volume": 100.0})


def test_inconsistent_ohlc_rows_are_refused_naming_the_values():
    frame = ohlc([(10, 11, 9, 10.5), (10, 9, 11, 10), (10, 11, 9, 11.5), (10, 11, 9, 8.5), (12, 11, 9, 10)])
    with pytest.raises(DataError) as info:
        validate_prices(frame, source="p.csv")
    msg = str(info.value)
    assert "4 problem(s)" in msg and "row 1" not in msg
    assert "row 2, column 'high': got high=9.0 < low=11.0, expected high >= low" in msg
    assert "row 3, column 'close': got close=11.5 outside [low=9.0, high=11.0], expected low <= close <= high" in msg
    assert "row 4, column 'close': got close=8.5" in msg
    assert "row 5, column 'open': got open=12.0 outside [low=9.0, high=11.0], expected low <= open <= high" in msg


def test_inconsistent_ohlc_rows_dropped_and_counted():
    frame = ohlc([(10, 11, 9, 10.5), (10, 9, 11, 10), (10, 11, 9, 11.5), (12, 11, 9, 10)])
    report = CleaningReport()
    out = validate_prices(frame, source="p.csv", on_invalid="drop", report=report)
    assert len(out) == 1 and report.total == 3
    reasons = {d.reason: d.count for d in report.dropped}
    assert reasons == {"p.csv: column 'high': expected high >= low": 1,
                       "p.csv: column 'close': expected low <= close <= high": 1,
                       "p.csv: column 'open': expected low <= open <= high": 1}


def test_ohlc_equal_prices_written_with_different_digits_pass():
    # 0.1 + 0.2 != 0.3 in binary: the same price computed two ways must not be refused
    frame = ohlc([(0.3, 0.1 + 0.2, 0.3, 0.3), (0.1 + 0.2, 0.3, 0.3, 0.1 + 0.2), (5.0, 5.0, 5.0, 5.0)])
    assert len(validate_prices(frame)) == 3
    text = pd.DataFrame({"date": ["2014-01-02"], "ticker": ["A"], "open": ["100.10"], "high": ["100.1000000000001"],
                         "low": ["100.1"], "close": ["100.10000000000002"], "volume": ["5"]})
    assert len(validate_prices(text)) == 1


def test_huge_magnitudes_refused_with_their_bounds():
    frame = ohlc([(10, 11, 9, 10.5)] * 4)
    frame.loc[0, ["high", "close"]] = 1e300
    frame.loc[1, "volume"] = 1e19
    frame["x1"] = [0.0, 0.0, 1e16, -1e16]
    with pytest.raises(DataError) as info:
        validate_prices(frame, source="p.csv")
    msg = str(info.value)
    assert "row 1, column 'close': got 1e+300, expected a price <= 1e+12" in msg
    assert "row 2, column 'volume': got 1e+19, expected a volume <= 1e+18" in msg
    assert "row 3, column 'x1': got 1e+16, expected |value| <= 1e+15" in msg and "row 4, column 'x1'" in msg
    assert "float32" in msg
    report = CleaningReport()
    assert len(validate_prices(frame, on_invalid="drop", report=report)) == 0 and report.total == 4


def test_bounds_themselves_and_infinite_extras():
    frame = ohlc([(1e12, 1e12, 1e12, 1e12)])
    frame["volume"] = 1e18
    frame["x1"] = [-1e15]
    assert len(validate_prices(frame)) == 1
    with pytest.raises(DataError, match="column 'x1': got inf"):
        validate_prices(frame.assign(x1=[np.inf]))
