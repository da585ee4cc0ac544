"""check_data / format_check on small files written by the test."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from finfusion.data.check import check_data, format_check, summarize_data
from finfusion.data.frames import CleaningReport
from finfusion.data.readers import read_prices, read_texts
from finfusion.errors import DataError


def write_files(tmp_path, *, bad_price: bool = False):
    prices = tmp_path / "prices.csv"
    rows = ["date,ticker,open,high,low,close,volume"]
    for t in ("A", "B"):
        for d in ("2014-01-02", "2014-01-03", "2014-01-06"):
            rows.append(f"{d},{t},1,1,1,{-1 if bad_price and t == 'B' and d == '2014-01-03' else 1},10")
    prices.write_text("\n".join(rows) + "\n")
    texts = tmp_path / "texts.jsonl"
    items = [
        ("2014-01-02T15:00:00-05:00", "A"), ("2014-01-02T15:30:00-05:00", "A"), ("2014-01-04T10:00:00Z", "B"),
        ("2014-01-02T10:00:00Z", "Z"), ("2014-01-07T10:00:00Z", "A"),
    ]
    texts.write_text("".join(json.dumps({"timestamp": s, "ticker": t, "text": "news"}) + "\n" for s, t in items))
    return prices, texts


def test_check_summary(tmp_path):
    prices, texts = write_files(tmp_path)
    summary = check_data(prices, texts)
    assert summary["tickers"] == 2 and summary["ticker_list"] == ["A", "B"]
    assert (summary["date_start"], summary["date_end"], summary["sessions"]) == ("2014-01-02", "2014-01-06", 3)
    assert summary["texts_read"] == 5 and summary["texts_aligned"] == 3
    assert summary["texts_per_session"] == {"mean": 1.0, "median": 1.0, "max": 2}  # [2, 0, 1]
    assert summary["share_ticker_days_with_text"] == pytest.approx(2 / 6)
    reasons = {d["reason"]: d["count"] for d in summary["dropped"]}
    assert reasons["ticker not among the given tickers"] == 1
    assert any("after the close of the last session 2014-01-06" in r for r in reasons)
    json.dumps(summary)  # JSON-able
    text = format_check(summary)
    assert "tickers: 2 (A, B)" in text and "3 sessions" in text and "33.3 %" in text and "dropped: 2 row(s)" in text


def test_check_raise_and_drop(tmp_path):
    prices, texts = write_files(tmp_path, bad_price=True)
    with pytest.raises(DataError, match=r"prices\.csv: row 5, column 'close': got '-1'"):
        check_data(prices, texts)
    summary = check_data(prices, texts, on_invalid="drop")
    assert any("column 'close'" in d["reason"] for d in summary["dropped"])
    assert pd.Timestamp(summary["date_end"]) == pd.Timestamp("2014-01-06")


def test_check_prices_only(tmp_path):
    prices, _ = write_files(tmp_path)
    summary = check_data(prices, None)
    assert summary["texts_path"] is None and summary["texts_read"] is None and summary["texts_aligned"] is None
    assert summary["tickers"] == 2 and summary["sessions"] == 3 and summary["price_rows"] == 6
    json.dumps(summary)
    text = format_check(summary)
    assert "texts  : none given (prices only)" in text and "3 sessions" in text and "per session" not in text


def test_check_header_only_prices_file_is_named(tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("date,ticker,open,high,low,close,volume\n")
    with pytest.raises(DataError, match=r"prices\.csv: no data rows \(only a header"):
        check_data(prices, None)


def test_check_text_lookback_keeps_older_texts_before_the_first_session(tmp_path):
    prices, texts = write_files(tmp_path)
    with texts.open("a") as fh:  # Tue 31 Dec 2013, 12:00 New York: two weekdays before the first session
        fh.write(json.dumps({"timestamp": "2013-12-31T17:00:00Z", "ticker": "A", "text": "old"}) + "\n")
    reasons = [d["reason"] for d in check_data(prices, texts)["dropped"]]
    assert any("older than the text look-back" in r for r in reasons)
    summary = check_data(prices, texts, text_lookback_days=3)
    assert summary["texts_aligned"] == 4
    assert not any("older than" in d["reason"] for d in summary["dropped"])


def test_summarize_data_on_loaded_frames_is_what_check_data_prints(tmp_path):
    """One summary for both forms of `finfusion data check` (files, and a run config's loaded data)."""
    prices, texts = write_files(tmp_path)
    report = CleaningReport()
    frames = read_prices(prices, report=report), read_texts(texts, report=report)
    summary = summarize_data(*frames, report, prices_source="P", texts_source="T", close_time="16:00",
                             text_lookback_days=3)
    expected = check_data(prices, texts, text_lookback_days=3)
    assert summary == {**expected, "prices_path": "P", "texts_path": "T"}
    assert summary["text_lookback_days"] == 3 and summary["calendar"] is None
    assert "look-back 3 sessions" in format_check(summary)
    no_texts = summarize_data(frames[0], None, CleaningReport(), prices_source="P", texts_source="T")
    assert no_texts["texts_path"] is None and no_texts["texts_aligned"] is None
