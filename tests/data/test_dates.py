"""Dates and timestamps: ISO 8601 by default, anything else only with a declared strftime format."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from finfusion.data.check import check_data
from finfusion.data.dates import date_only_days, format_has_time, parse_hhmm
from finfusion.data.frames import CleaningReport
from finfusion.data.readers import read_prices, read_texts
from finfusion.data.schema import validate_prices, validate_texts
from finfusion.errors import ConfigError, DataError


def prices(dates: list) -> pd.DataFrame:
    n = len(dates)
    return pd.DataFrame({"date": dates, "ticker": "A", "open": 10.0, "high": 11.0, "low": 9.0,
                         "close": 10.5, "volume": [100.0] * n})


def texts(stamps: list) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": stamps, "ticker": "A", "text": [f"t{i}" for i in range(len(stamps))]})


def test_day_first_dates_are_refused_naming_row_value_and_how_to_declare():
    with pytest.raises(DataError) as info:
        validate_prices(prices(["2020-01-07", "08/01/2020", "13/01/2020"]), source="p.csv")
    msg = str(info.value)
    assert "p.csv: row 2, column 'date': got '08/01/2020'" in msg
    assert "row 3, column 'date': got '13/01/2020'" in msg
    assert "ISO 8601" in msg and "date_format='%d/%m/%Y'" in msg and "--date-format" in msg


def test_other_unambiguous_looking_formats_are_refused_too():
    for value in ("Jan 8, 2020", "2020/01/08", "8 January 2020", "2020-1-8"):
        with pytest.raises(DataError, match="ISO 8601"):
            validate_prices(prices([value]))


def test_declared_date_format_reads_day_first():
    out = validate_prices(prices(["07/01/2020", "08/01/2020", "13/01/2020"]), date_format="%d/%m/%Y")
    assert out["date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-07", "2020-01-08", "2020-01-13"]
    assert out["date"].dtype == "datetime64[ns]"


def test_declared_format_every_cell_must_match_and_misfits_are_row_problems():
    frame = prices(["07/01/2020", "2020-01-08", "13/01/2020", "32/01/2020"])
    with pytest.raises(DataError) as info:
        validate_prices(frame, source="p.csv", date_format="%d/%m/%Y")
    msg = str(info.value)
    assert "row 2, column 'date': got '2020-01-08', expected a date in the declared date_format '%d/%m/%Y'" in msg
    assert "row 4" in msg and "row 1" not in msg
    report = CleaningReport()
    out = validate_prices(frame, date_format="%d/%m/%Y", on_invalid="drop", report=report)
    assert len(out) == 2 and report.total == 2
    assert "date_format '%d/%m/%Y'" in report.dropped[0].reason


def test_declared_format_with_offset_keeps_the_local_day():
    out = validate_prices(prices(["02.01.2014 23:30 +0900"]), date_format="%d.%m.%Y %H:%M %z")
    assert out["date"].tolist() == [pd.Timestamp("2014-01-02")]


def test_iso_variants_integers_and_datetime_columns_stay_accepted():
    iso = ["2014-01-02", "2014-01-03T15:30", "2014-01-06 15:30:00", "2014-01-07T00:00:00+05:00",
           "2014-01-08T10:00:00Z", "2014-01-09T10:00:00.123-04:00", "20140110"]
    out = validate_prices(prices(iso))
    assert out["date"].dt.strftime("%m-%d").tolist() == ["01-02", "01-03", "01-06", "01-07", "01-08", "01-09", "01-10"]
    assert validate_prices(prices([20140102, 20140103]))["date"].iloc[1] == pd.Timestamp("2014-01-03")
    stamps = pd.to_datetime(["2014-01-02 23:00"]).tz_localize("Asia/Tokyo")
    assert validate_prices(prices(stamps))["date"].tolist() == [pd.Timestamp("2014-01-02")]
    days = [pd.Timestamp("2014-01-02").date()]  # a Parquet date32 column reads as datetime.date objects
    assert validate_prices(prices(days))["date"].tolist() == [pd.Timestamp("2014-01-02")]


def test_integer_dates_must_be_yyyymmdd():
    with pytest.raises(DataError, match="column 'date': got 43831"):  # an Excel serial day number
        validate_prices(prices([43831]))


def test_format_argument_checked():
    with pytest.raises(ConfigError, match="date_format='dd/mm/yyyy'.*strftime"):
        validate_prices(prices(["01/02/2020"]), date_format="dd/mm/yyyy")
    with pytest.raises(ConfigError, match="timestamp_format"):
        validate_texts(texts(["2014-01-02T10:00:00Z"]), timestamp_format=5)


def test_read_prices_with_date_format(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("date,ticker,open,high,low,close,volume\n08/01/2020,A,10,11,9,10.5,100\n")
    with pytest.raises(DataError, match=r"p\.csv: row 1, column 'date': got '08/01/2020'"):
        read_prices(path)
    assert read_prices(path, date_format="%d/%m/%Y")["date"].iloc[0] == pd.Timestamp("2020-01-08")


# ------------------------------------------------------------------------------------ texts


def test_texts_iso_timestamps_accepted():
    out = validate_texts(texts(["2014-01-02T15:59:00-05:00", "2014-01-02T20:59:00Z", "2014-01-02 20:59:00+00:00"]))
    assert set(out["timestamp"]) == {pd.Timestamp("2014-01-02 20:59", tz="UTC")}


def test_texts_non_iso_timestamps_refused_unless_declared():
    frame = texts(["01/02/2014 15:59 -0500", "01/03/2014 09:00 +0000"])
    with pytest.raises(DataError) as info:
        validate_texts(frame, source="t.csv")
    msg = str(info.value)
    assert "t.csv: row 1, column 'timestamp': got '01/02/2014 15:59 -0500'" in msg
    assert "ISO 8601" in msg and "timestamp_format=" in msg and "--timestamp-format" in msg
    out = validate_texts(frame, timestamp_format="%m/%d/%Y %H:%M %z")
    assert out["timestamp"].tolist() == [pd.Timestamp("2014-01-02 20:59", tz="UTC"),
                                         pd.Timestamp("2014-01-03 09:00", tz="UTC")]


def test_texts_declared_format_without_zone_needs_default_tz_and_misfits_dropped():
    frame = texts(["02/01/2014 16:00", "2014-01-02T16:00:00Z", "03/01/2014 10:00"])
    report = CleaningReport()
    out = validate_texts(frame, timestamp_format="%d/%m/%Y %H:%M", default_tz="America/New_York",
                         on_invalid="drop", report=report)
    assert out["timestamp"].tolist() == [pd.Timestamp("2014-01-02 21:00", tz="UTC"),
                                         pd.Timestamp("2014-01-03 15:00", tz="UTC")]
    assert report.total == 1 and "timestamp_format '%d/%m/%Y %H:%M'" in report.dropped[0].reason
    with pytest.raises(DataError, match="expected a time zone"):
        validate_texts(texts(["02/01/2014 16:00"]), timestamp_format="%d/%m/%Y %H:%M")


def test_read_texts_and_check_data_take_the_formats(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("date,ticker,open,high,low,close,volume\n"
                 "02/01/2014,A,10,11,9,10.5,100\n03/01/2014,A,10,11,9,10.5,100\n")
    t = tmp_path / "t.jsonl"
    t.write_text(json.dumps({"timestamp": "02/01/2014 15:00 -0500", "ticker": "A", "text": "x"}) + "\n")
    assert read_texts(t, timestamp_format="%d/%m/%Y %H:%M %z")["timestamp"].iloc[0] == pd.Timestamp(
        "2014-01-02 20:00", tz="UTC")
    summary = check_data(p, t, date_format="%d/%m/%Y", timestamp_format="%d/%m/%Y %H:%M %z")
    assert (summary["date_start"], summary["date_end"], summary["texts_aligned"]) == ("2014-01-02", "2014-01-03", 1)


# ------------------------------------------------------------------ date-only text timestamps (issue 17)


def test_date_only_days_finds_dates_without_a_time():
    raw = pd.Series(["2015-01-02", "20150105", "2015-01-02T10:00:00Z", "2015-02-30", None,
                     dt.date(2015, 1, 6), dt.datetime(2015, 1, 6)], dtype="object")
    days = date_only_days(raw)
    assert days.tolist()[:2] == [pd.Timestamp("2015-01-02"), pd.Timestamp("2015-01-05")]
    assert days.iloc[2:5].isna().all() and days.iloc[5] == pd.Timestamp("2015-01-06") and pd.isna(days.iloc[6])
    assert date_only_days(pd.Series(["02/01/2015"]), timestamp_format="%d/%m/%Y").tolist() == [pd.Timestamp("2015-01-02")]
    assert date_only_days(pd.Series(["02/01/2015 10:00"]), timestamp_format="%d/%m/%Y %H:%M").isna().all()
    midnight = pd.Series(pd.to_datetime(["2015-01-02", None]))
    assert date_only_days(midnight).iloc[0] == pd.Timestamp("2015-01-02")
    assert date_only_days(pd.Series(pd.to_datetime(["2015-01-02", "2015-01-02 10:00"], format="ISO8601"))).isna().all()
    assert date_only_days(midnight.dt.tz_localize("UTC")).isna().all()  # an aware midnight is a timestamp


def test_parse_hhmm_accepts_only_hh_mm():
    assert parse_hhmm("16:01") == pd.Timedelta(hours=16, minutes=1) and parse_hhmm("00:00") == pd.Timedelta(0)
    for bad in ("24:00", "9:30", "16:30:00", "4pm", 16):
        with pytest.raises(ConfigError, match="expected a local time of day HH:MM"):
            parse_hhmm(bad)
    assert format_has_time("%d/%m/%Y %H:%M") and not format_has_time("%d/%m/%Y %z") and not format_has_time("%%H%d")
