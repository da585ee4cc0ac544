"""Readers and writers: format by suffix, exact round trips, clear errors."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from finfusion.data.frames import CleaningReport
from finfusion.data.readers import read_prices, read_texts, write_prices, write_texts
from finfusion.data.schema import validate_prices, validate_texts
from finfusion.data.shapes import InputShape
from finfusion.errors import DataError

SUFFIXES = ["csv", "csv.gz", "parquet", "pq", "jsonl", "ndjson"]


def prices() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 6
    open_, close = rng.uniform(1, 100, n), rng.uniform(1, 100, n) / 3.0
    return pd.DataFrame(
        {
            "date": list(pd.bdate_range("2014-01-02", periods=3)) * 2,
            "ticker": ["NA"] * 3 + ["TRUE"] * 3,  # tickers that naive readers turn into NaN / bool
            "open": open_, "high": np.maximum(open_, close) * rng.uniform(1, 1.1, n),
            "low": np.minimum(open_, close) * rng.uniform(0.9, 1, n),
            "close": close, "volume": rng.integers(0, 10**9, n).astype(float),
            "adj_close": rng.uniform(1, 100, n), "momentum_20": [0.1 / 3, np.nan, -1e-300, 5.0, 2.0, 1 / 7],
        }
    )


def texts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                ["2014-01-02 14:30:00.123456789", "2014-01-02 21:00:00", "2014-01-03 01:00"], utc=True, format="ISO8601"
            ),
            "ticker": ["AAPL", "AAPL", "001"],
            "text": ['He said "buy", then, well...\nnew line', "Ünïcödé – €5 @ close", "NA"],
            "source": ["wire", None, "twitter"],
        }
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_prices_round_trip(tmp_path, suffix):
    path = write_prices(prices(), tmp_path / f"p.{suffix}")
    back = read_prices(path)
    pd.testing.assert_frame_equal(back, validate_prices(prices()))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_texts_round_trip(tmp_path, suffix):
    path = write_texts(texts(), tmp_path / f"t.{suffix}")
    back = read_texts(path)
    pd.testing.assert_frame_equal(back, validate_texts(texts()))


def test_csv_gz_is_gzip_and_deterministic(tmp_path):
    a = write_prices(prices(), tmp_path / "a.csv.gz").read_bytes()
    b = write_prices(prices(), tmp_path / "b.csv.gz").read_bytes()
    assert a == b and gzip.decompress(a).startswith(b"date,ticker,")


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"p\.xlsx: unknown file type.*'\.csv'.*'\.parquet'.*'\.jsonl'"):
        read_prices(tmp_path / "p.xlsx")
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        read_prices(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unknown file type"):
        write_texts(texts(), tmp_path / "t.txt")


def test_csv_error_names_file_and_data_row(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("Date,Ticker,Open,High,Low,Close,Volume\n2014-01-02,A,1,1,1,1,5\n2014-01-03,A,1,1,1,abc,5\n")
    with pytest.raises(DataError) as info:
        read_prices(path)
    assert f"{path}: row 2, column 'close': got 'abc'" in str(info.value)
    report = CleaningReport()
    assert len(read_prices(path, on_invalid="drop", report=report)) == 1 and report.total == 1


def test_jsonl_bad_line_named(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"timestamp": "2014-01-02T10:00:00Z", "ticker": "A", "text": "x"}\n{oops\n')
    with pytest.raises(DataError, match=r"t\.jsonl: line 2 is not valid JSON"):
        read_texts(path)


def test_naive_csv_texts_with_default_tz(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,ticker,text\n2014-01-02 16:00:00,A,closing bell\n")
    with pytest.raises(DataError, match="time zone"):
        read_texts(path)
    out = read_texts(path, default_tz="America/New_York")
    assert out["timestamp"].iloc[0] == pd.Timestamp("2014-01-02 21:00", tz="UTC")


LATIN1 = '{"timestamp": "2014-01-02T10:00:00Z", "ticker": "A", "text": "caf\xe9"}\n'.encode("latin-1")
GOOD = b'{"timestamp": "2014-01-02T11:00:00Z", "ticker": "A", "text": "ok"}\n'


def test_non_utf8_jsonl_names_file_line_and_offset(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(GOOD + LATIN1 + GOOD)
    with pytest.raises(DataError) as info:
        read_texts(path)
    msg = str(info.value)
    assert f"{path}: line 2 is not valid UTF-8" in msg and f"byte offset {len(GOOD) + 65}" in msg
    assert "b'\\xe9'" in msg


def test_non_utf8_jsonl_line_dropped_and_counted(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(GOOD + LATIN1 + GOOD)
    report = CleaningReport()
    out = read_texts(path, on_invalid="drop", report=report)
    assert len(out) == 2
    (record,) = report.dropped
    assert record.count == 1 and "not valid UTF-8" in record.reason and record.examples[0].startswith("line 2")


@pytest.mark.parametrize("suffix", ["csv", "csv.gz"])
def test_non_utf8_csv_names_file_line_and_offset(tmp_path, suffix):
    data = b"timestamp,ticker,text\n2014-01-02T10:00:00Z,A,ok\n2014-01-02T11:00:00Z,A,caf\xe9\n"
    path = tmp_path / f"t.{suffix}"
    path.write_bytes(gzip.compress(data) if suffix == "csv.gz" else data)
    for mode in ("raise", "drop"):
        with pytest.raises(DataError) as info:
            read_texts(path, on_invalid=mode)
        msg = str(info.value)
        assert f"{path}: line 3 is not valid UTF-8" in msg and "byte offset 74" in msg and "iconv" in msg


def test_header_only_prices_file_is_refused(tmp_path):
    for suffix, header in (("csv", "date,ticker,open,high,low,close,volume\n"), ("jsonl", "")):
        path = tmp_path / f"p.{suffix}"
        path.write_text(header)
        with pytest.raises(DataError, match=rf"p\.{suffix}: no data rows"):
            read_prices(path)


def test_prices_file_with_every_row_dropped_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("date,ticker,open,high,low,close,volume\n2014-01-02,A,1,1,1,-1,5\n")
    with pytest.raises(DataError, match=r"p\.csv: none of the 1 data row\(s\) is valid"):
        read_prices(path, on_invalid="drop", report=CleaningReport())


def test_header_only_message_names_required_and_optional_columns(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("date,ticker,close\n")
    with pytest.raises(DataError) as info:
        read_prices(path)
    msg = str(info.value)
    assert "['date', 'ticker', 'close']" in msg and "(optional: ['open', 'high', 'low', 'volume', 'adj_close'])" in msg
    assert "wide table" in msg


def test_readers_pass_the_shape_through(tmp_path):
    prices_path = tmp_path / "p.csv"
    prices_path.write_text("Day,AAPL\n2014-01-02,10\n2014-01-03,11\n")
    out = read_prices(prices_path, shape=InputShape(columns={"date": "Day"}, layout="wide"))
    assert out[["ticker", "close"]].values.tolist() == [["AAPL", 10.0], ["AAPL", 11.0]]
    texts_path = tmp_path / "t.jsonl"
    texts_path.write_text('{"when": "2014-01-02", "body": "x"}\n')
    shape = InputShape(columns={"timestamp": "when", "text": "body"}, text_time="17:00")
    texts = read_texts(texts_path, shape=shape, tickers=["AAPL"], timezone="America/New_York")
    assert texts[["ticker", "text"]].values.tolist() == [["AAPL", "x"]]
    assert texts["timestamp"].iloc[0] == pd.Timestamp("2014-01-02 22:00", tz="UTC")
