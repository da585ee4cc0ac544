"""Input shapes (issue 17): close-only prices, column mapping, wide tables, yfinance-like frames,
texts without a ticker column, date-only timestamps, mixed offsets - files and DataFrames alike."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pandas as pd
import pytest

from finfusion.data.frames import CleaningReport
from finfusion.data.readers import read_prices, read_texts
from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TextConfig
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.schema import validate_prices, validate_texts
from finfusion.data.shapes import WIDE_EMPTY, InputShape, tidy_prices, tidy_texts
from finfusion.data.targets import make_targets
from finfusion.errors import ConfigError, DataError

DAYS = ["2015-01-02", "2015-01-05", "2015-01-06"]


def write(tmp_path, name: str, frame: pd.DataFrame):
    """`frame` written as CSV / Parquet / JSON lines (by the suffix of `name`), cells as given."""
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ close-only prices


def test_close_only_and_close_volume_prices_are_valid():
    close_only = pd.DataFrame({"date": DAYS, "ticker": "A", "close": [10.0, 11.0, 12.1]})
    out = validate_prices(close_only)
    assert list(out.columns) == ["date", "ticker", "close"] and out["close"].tolist() == [10.0, 11.0, 12.1]
    with_volume = validate_prices(close_only.assign(volume=[5, 0, 7]))
    assert list(with_volume.columns) == ["date", "ticker", "close", "volume"]


def test_close_only_file_is_read(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("date,ticker,close\n2015-01-02,A,10\n2015-01-05,A,11\n")
    assert read_prices(path)["close"].tolist() == [10.0, 11.0]


def test_targets_and_price_feature_groups_work_on_close_only_prices():
    n = 40
    close = 100 * np.cumprod(1 + 0.01 * np.sin(np.arange(n)))
    prices = validate_prices(pd.DataFrame({"date": pd.bdate_range("2015-01-02", periods=n), "ticker": "A",
                                           "close": close}))
    targets = make_targets(prices, kind="return")
    assert targets["target"].iloc[0] == pytest.approx(close[1] / close[0] - 1)
    spec = SampleSpec(features=FeatureConfig(groups=["returns", "technical", "momentum"]), text=TextConfig(enabled=False))
    samples = build_samples(MarketData(prices), spec)
    assert len(samples) > 0 and {"ret_1", "ma_5", "rsi_14", "mom_10"} <= set(samples.feature_names)


@pytest.mark.parametrize("columns, row, message", [
    ({"high": [11.0], "close": [11.5]}, 1, "got close=11.5 above high=11.0, expected close <= high"),
    ({"low": [9.0], "close": [8.5]}, 1, "got close=8.5 below low=9.0, expected low <= close"),
    ({"open": [12.0], "high": [11.0], "close": [10.0]}, 1, "got open=12.0 above high=11.0, expected open <= high"),
    ({"high": [9.0], "low": [11.0], "close": [10.0]}, 1, "got high=9.0 < low=11.0, expected high >= low"),
])
def test_ohlc_consistency_is_checked_for_the_columns_present(columns, row, message):
    frame = pd.DataFrame({"date": ["2015-01-02"], "ticker": ["A"], **columns})
    with pytest.raises(DataError, match="p.csv: row 1, column '.*': " + message.replace("(", r"\(")):
        validate_prices(frame, source="p.csv")


def test_partial_ohlc_that_is_consistent_passes():
    frame = pd.DataFrame({"date": DAYS, "ticker": "A", "high": [11.0, 12, 13], "close": [11.0, 11.5, 12]})
    assert len(validate_prices(frame)) == 3


# ------------------------------------------------------------------ column mapping

MAPPED = pd.DataFrame({"Date": DAYS, "Symbol": ["AAPL", "AAPL", "MSFT"], "Adj Close": [10.0, 11.0, 30.0],
                       "Vol": [1.0, 2.0, 3.0]})
MAPPING = {"date": "Date", "ticker": "Symbol", "close": "Adj Close", "volume": "Vol"}


@pytest.mark.parametrize("name", ["p.csv", "p.parquet", "p.jsonl"])
def test_mapping_renames_file_columns(tmp_path, name):
    report = CleaningReport()
    out = read_prices(write(tmp_path, name, MAPPED), shape=InputShape(columns=MAPPING), report=report)
    assert list(out.columns) == ["date", "ticker", "close", "volume"]
    assert out["close"].tolist() == [10.0, 11.0, 30.0] and out["ticker"].tolist() == ["AAPL", "AAPL", "MSFT"]
    (read,) = report.reads
    assert read.layout == "long" and "close <- 'Adj Close'" in read.detail


def test_mapping_applies_to_dataframes_the_same_way():
    out = validate_prices(MAPPED, shape=InputShape(columns=MAPPING))
    assert out.equals(validate_prices(MAPPED.rename(columns={"Date": "date", "Symbol": "ticker",
                                                             "Adj Close": "close", "Vol": "volume"})))


def test_mapping_takes_precedence_and_a_clash_is_an_error():
    both = MAPPED.assign(Close=[9.0, 10.0, 29.0])
    with pytest.raises(DataError) as info:
        validate_prices(both, source="p.csv", shape=InputShape(columns=MAPPING))
    msg = str(info.value)
    assert "p.csv" in msg and "maps close -> 'Adj Close'" in msg and "also has the column 'Close'" in msg
    assert "target.price_column: adj_close" in msg
    # mapping Close instead leaves "Adj Close" as adj_close: no clash
    out = validate_prices(both, shape=InputShape(columns={**MAPPING, "close": "Close"}))
    assert out["close"].tolist() == [9.0, 10.0, 29.0] and out["adj_close"].tolist() == [10.0, 11.0, 30.0]


def test_a_mapped_column_missing_from_the_file_is_refused_naming_file_mapping_and_columns(tmp_path):
    path = write(tmp_path, "p.csv", MAPPED)
    with pytest.raises(DataError) as info:
        read_prices(path, shape=InputShape(columns={**MAPPING, "close": "Adj_Close"}))
    msg = str(info.value)
    assert str(path) in msg and "maps close -> 'Adj_Close'" in msg and "no column 'Adj_Close'" in msg
    assert "['Date', 'Symbol', 'Adj Close', 'Vol']" in msg


def test_unknown_mapping_keys_and_bad_shapes_are_refused():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['Close'\].*allowed keys.*'adj_close'"):
        InputShape(columns={"Close": "x"})
    with pytest.raises(ConfigError, match="both map to the column 'x'"):
        InputShape(columns={"close": "x", "adj_close": "x"})
    with pytest.raises(ConfigError, match="layout='tall'"):
        InputShape(layout="tall")
    with pytest.raises(ConfigError, match="text_time='4pm'"):
        InputShape(text_time="4pm")
    with pytest.raises(ConfigError, match="ticker=' AAPL'"):
        InputShape(ticker=" AAPL")


def test_input_shape_is_frozen_hashable_and_pickles():
    shape = InputShape(columns={"close": "Adj Close"}, ticker="A")
    assert pickle.loads(pickle.dumps(shape)) == shape and hash(shape) == hash(InputShape({"close": "Adj Close"},
                                                                                          ticker="A"))
    with pytest.raises(TypeError):
        shape.columns["close"] = "Close"


# ------------------------------------------------------------------ wide tables

WIDE = pd.DataFrame({"Date": DAYS, "AAPL": [10.0, np.nan, 12.0], "MSFT": [np.nan, 31.0, 32.0],
                     "brk.b": [400.0, 401.0, 402.0]})


@pytest.mark.parametrize("name", ["w.csv", "w.parquet", "w.jsonl"])
def test_wide_file_becomes_long_and_empty_cells_are_not_rows(tmp_path, name):
    report = CleaningReport()
    out = read_prices(write(tmp_path, name, WIDE), report=report)
    assert out[["ticker", "close"]].values.tolist() == [["AAPL", 10.0], ["AAPL", 12.0], ["MSFT", 31.0],
                                                        ["MSFT", 32.0], ["brk.b", 400.0], ["brk.b", 401.0],
                                                        ["brk.b", 402.0]]  # tickers keep their case
    (dropped,) = report.dropped
    assert dropped.count == 2 and dropped.reason.endswith(WIDE_EMPTY) and dropped.step == "tidy_prices"
    assert dropped.examples == ("row 2 of ticker column 'AAPL'", "row 1 of ticker column 'MSFT'")
    (read,) = report.reads
    assert (read.layout, read.detail) == ("wide", "wide table: 3 tickers, cells = close")


def test_wide_cell_errors_name_row_and_ticker_column(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("date,AAPL,MSFT\n2015-01-02,10,abc\n2015-01-05,,11\n2015-01-05,12,13\n")
    with pytest.raises(DataError) as info:
        read_prices(path)
    msg = str(info.value)
    assert f"{path}: row 1 of ticker column 'MSFT', column 'close': got 'abc'" in msg
    assert "row 3 of ticker column 'MSFT', column '(date, ticker)': got (2015-01-05, MSFT), already at row 2 of " \
           "ticker column 'MSFT'" in msg


def test_wide_dataframe_with_datetime_index_and_adj_close_cells():
    frame = WIDE.set_index(pd.DatetimeIndex(pd.to_datetime(DAYS))).drop(columns="Date")  # skfolio-like
    frame.columns.name = "Ticker"
    report = CleaningReport()
    out = validate_prices(frame, shape=InputShape(wide_value="adj_close"), report=report)
    assert list(out.columns) == ["date", "ticker", "close", "adj_close"] and len(out) == 7
    assert (out["close"] == out["adj_close"]).all()
    assert report.reads[0].detail == "wide table: 3 tickers, cells = adj_close; close = adj_close"


def test_wide_without_a_date_column_is_refused_naming_the_ways_out():
    with pytest.raises(DataError, match=r"a wide table needs one date column; found 0.*date: <column>.*DatetimeIndex"):
        validate_prices(WIDE.rename(columns={"Date": "Day"}))
    out = validate_prices(WIDE.rename(columns={"Date": "Day"}), shape=InputShape(columns={"date": "Day"}))
    assert len(out) == 7


def yfinance_like(group_by_ticker: bool) -> pd.DataFrame:
    """What yfinance.download(["AAPL", "MSFT"]) returns: columns (Price, Ticker), dates as the index;
    with group_by="ticker": (Ticker, Price). MSFT is not yet listed on the first day."""
    idx = pd.DatetimeIndex(pd.to_datetime(DAYS), name="Date")
    values = {("Close", "AAPL"): [10.0, 11, 12], ("High", "AAPL"): [10.5, 11.5, 12.5],
              ("Low", "AAPL"): [9.5, 10.5, 11.5], ("Open", "AAPL"): [10.0, 11, 12],
              ("Volume", "AAPL"): [100.0, 200, 300], ("Close", "MSFT"): [np.nan, 31, 32],
              ("High", "MSFT"): [np.nan, 31.5, 32.5], ("Low", "MSFT"): [np.nan, 30.5, 31.5],
              ("Open", "MSFT"): [np.nan, 31, 32], ("Volume", "MSFT"): [np.nan, 10, 20]}
    frame = pd.DataFrame(values, index=idx)
    frame.columns.names = ["Price", "Ticker"]
    return frame.swaplevel(axis=1).sort_index(axis=1) if group_by_ticker else frame


@pytest.mark.parametrize("group_by_ticker", [False, True])
def test_yfinance_like_multiindex_is_stacked(group_by_ticker):
    report = CleaningReport()
    out = validate_prices(yfinance_like(group_by_ticker), report=report)
    assert list(out.columns) == ["date", "ticker", "open", "high", "low", "close", "volume"]
    assert out[["ticker", "close", "volume"]].values.tolist() == [
        ["AAPL", 10.0, 100.0], ["AAPL", 11.0, 200.0], ["AAPL", 12.0, 300.0], ["MSFT", 31.0, 10.0], ["MSFT", 32.0, 20.0]]
    assert report.dropped[0].count == 1 and report.dropped[0].examples == ("row 1 of ticker 'MSFT'",)
    assert report.reads[0].layout == "wide_fields"


def test_yfinance_adj_close_mapped_to_close():
    frame = yfinance_like(False)
    for ticker in ("AAPL", "MSFT"):
        frame[("Adj Close", ticker)] = frame[("Close", ticker)] * 0.99
    with pytest.raises(DataError, match="also has the column 'Close'"):
        validate_prices(frame, shape=InputShape(columns={"close": "Adj Close"}))
    out = validate_prices(frame.drop(columns="Close", level=0), shape=InputShape(columns={"close": "Adj Close"}))
    assert out["close"].tolist() == pytest.approx([9.9, 10.89, 11.88, 30.69, 31.68])


def test_one_tickers_table_needs_its_ticker_and_a_mixed_table_needs_a_layout():
    one = pd.DataFrame({"Date": DAYS, "Close": [10.0, 11, 12], "Volume": [1.0, 2, 3]})
    with pytest.raises(DataError, match=r"no ticker column .* one ticker's table; declare that ticker"):
        validate_prices(one, source="aapl.csv")
    out = validate_prices(one, shape=InputShape(ticker="AAPL"))
    assert out["ticker"].tolist() == ["AAPL"] * 3
    mixed = one.assign(Symbol="AAPL")
    with pytest.raises(DataError, match=r"cannot tell the layout.*Symbol.*layout 'long'.*layout 'wide'"):
        validate_prices(mixed)
    assert len(validate_prices(mixed, shape=InputShape(columns={"ticker": "Symbol"}))) == 3


def test_declared_ticker_must_be_one_of_the_tables_own():
    frame = pd.DataFrame({"date": DAYS, "ticker": ["AAPL"] * 3, "close": [1.0, 2, 3]})
    with pytest.raises(DataError, match=r"ticker 'APPL' is declared.*\['AAPL'\]"):
        validate_prices(frame, shape=InputShape(ticker="APPL"))
    assert len(validate_prices(frame, shape=InputShape(ticker="AAPL"))) == 3


def test_tidy_prices_alone_returns_the_unvalidated_long_frame():
    out = tidy_prices(WIDE, InputShape(), source="w")
    assert list(out.columns) == ["date", "ticker", "close"] and out["date"].tolist()[:2] == ["2015-01-02", "2015-01-06"]


# ------------------------------------------------------------------ texts

NEWS = pd.DataFrame({"published_at": ["2015-01-02T15:00:00-05:00", "2015-01-05T10:00:00-05:00"],
                     "headline": ["a", "b"]})
NEWS_SHAPE = {"timestamp": "published_at", "text": "headline"}


def test_texts_without_ticker_column_belong_to_the_only_ticker():
    report = CleaningReport()
    out = validate_texts(NEWS, shape=InputShape(columns=NEWS_SHAPE), tickers=["AAPL"], report=report)
    assert out["ticker"].tolist() == ["AAPL", "AAPL"] and out["text"].tolist() == ["a", "b"]
    assert "every text belongs to 'AAPL'" in report.reads[0].detail


def test_texts_without_ticker_column_and_several_tickers_are_refused_naming_the_options(tmp_path):
    path = write(tmp_path, "news.csv", NEWS)
    with pytest.raises(DataError) as info:
        read_texts(path, shape=InputShape(columns=NEWS_SHAPE), tickers=["AAPL", "MSFT"])
    msg = str(info.value)
    assert str(path) in msg and "no ticker column" in msg and "['AAPL', 'MSFT']" in msg
    assert "{ticker: <column>}" in msg and "InputShape(ticker=...)" in msg
    out = read_texts(path, shape=InputShape(columns=NEWS_SHAPE, ticker="MSFT"), tickers=["AAPL", "MSFT"])
    assert set(out["ticker"]) == {"MSFT"}
    with pytest.raises(DataError, match="ticker 'MSTF' is declared"):
        read_texts(path, shape=InputShape(columns=NEWS_SHAPE, ticker="MSTF"), tickers=["AAPL", "MSFT"])


def test_texts_mapped_ticker_column_absent_means_no_ticker_column():
    shape = InputShape(columns={**NEWS_SHAPE, "ticker": "Symbol"})  # e.g. the prices have Symbol, the news not
    assert tidy_texts(NEWS, shape, tickers=["AAPL"])["ticker"].tolist() == ["AAPL", "AAPL"]
    with pytest.raises(DataError, match="maps ticker -> 'Symbol', which is not a column of this table"):
        tidy_texts(NEWS, shape, tickers=["AAPL", "MSFT"])


DATED = pd.DataFrame({"timestamp": ["2015-01-02", "2015-07-02", "2015-07-02T09:30:00-04:00"], "ticker": "A",
                      "text": ["winter", "summer", "full"]})


def test_date_only_timestamps_are_refused_by_default_even_with_default_tz():
    for kwargs in ({}, {"default_tz": "America/New_York"}):
        with pytest.raises(DataError) as info:
            validate_texts(DATED, source="news.csv", **kwargs)
        msg = str(info.value)
        assert "row 1, column 'timestamp': got '2015-01-02', expected a timestamp with a time of day" in msg
        assert "row 2" in msg and "row 3" not in msg and "text_time" in msg and "2 problem(s)" in msg
    report = CleaningReport()
    assert validate_texts(DATED, on_invalid="drop", report=report)["text"].tolist() == ["full"]
    assert report.total == 2


def test_date_only_timestamps_with_text_time_are_that_local_time():
    out = validate_texts(DATED, shape=InputShape(text_time="16:01"), timezone="America/New_York")
    stamps = dict(zip(out["text"], out["timestamp"]))
    assert stamps["winter"] == pd.Timestamp("2015-01-02 21:01", tz="UTC")  # EST: UTC-5
    assert stamps["summer"] == pd.Timestamp("2015-07-02 20:01", tz="UTC")  # EDT: UTC-4
    assert stamps["full"] == pd.Timestamp("2015-07-02 13:30", tz="UTC")  # a full timestamp keeps its time
    with pytest.raises(ConfigError, match="pass timezone="):
        validate_texts(DATED, shape=InputShape(text_time="16:01"))


def test_date_only_pandas_date_columns_alike():
    for column in (pd.to_datetime(["2015-01-02", "2015-01-05"]), [dt.date(2015, 1, 2), dt.date(2015, 1, 5)]):
        frame = pd.DataFrame({"timestamp": column, "ticker": "A", "text": ["x", "y"]})
        with pytest.raises(DataError, match="expected a timestamp with a time of day"):
            validate_texts(frame, default_tz="UTC")
        out = validate_texts(frame, shape=InputShape(text_time="08:00"), timezone="Europe/London")
        assert out["timestamp"].tolist() == [pd.Timestamp("2015-01-02 08:00", tz="UTC"),
                                             pd.Timestamp("2015-01-05 08:00", tz="UTC")]


def test_date_only_with_a_declared_date_format(tmp_path):
    path = tmp_path / "news.csv"
    path.write_text("timestamp,ticker,text\n02/01/2015,A,x\n")
    with pytest.raises(DataError, match="got '02/01/2015', expected a timestamp with a time of day"):
        read_texts(path, timestamp_format="%d/%m/%Y")
    out = read_texts(path, timestamp_format="%d/%m/%Y", shape=InputShape(text_time="16:30"), timezone="UTC")
    assert out["timestamp"].tolist() == [pd.Timestamp("2015-01-02 16:30", tz="UTC")]


def test_text_time_inside_a_dst_gap_is_refused_naming_the_day():
    frame = pd.DataFrame({"timestamp": ["2015-03-08"], "ticker": "A", "text": ["x"]})
    with pytest.raises(DataError, match=r"row 1: text_time 02:30 on 2015-03-08 does not exist exactly once"):
        validate_texts(frame, shape=InputShape(text_time="02:30"), timezone="America/New_York")


MIXED = ["2015-03-06T15:00:00-05:00", "2015-03-09T15:00:00-04:00"]  # the same 15:00 NY across the DST change
MIXED_UTC = [pd.Timestamp("2015-03-06 20:00", tz="UTC"), pd.Timestamp("2015-03-09 19:00", tz="UTC")]


@pytest.mark.parametrize("name", ["news.csv", "news.jsonl", "news.parquet"])
def test_mixed_offsets_in_one_file_column(tmp_path, name):
    path = write(tmp_path, name, pd.DataFrame({"timestamp": MIXED, "ticker": "A", "text": ["x", "y"]}))
    assert read_texts(path)["timestamp"].tolist() == MIXED_UTC


def test_mixed_offsets_in_a_dataframe_of_aware_datetimes():
    est, edt = dt.timezone(dt.timedelta(hours=-5)), dt.timezone(dt.timedelta(hours=-4))
    python = [dt.datetime(2015, 3, 6, 15, tzinfo=est), dt.datetime(2015, 3, 9, 15, tzinfo=edt)]
    stamps = pd.Series(python, dtype="object")
    assert validate_texts(pd.DataFrame({"timestamp": stamps, "ticker": "A", "text": ["x", "y"]})
                          )["timestamp"].tolist() == MIXED_UTC
    as_index = pd.DataFrame({"ticker": "A", "text": ["x", "y"]},
                            index=pd.to_datetime(MIXED, utc=True).tz_convert("America/New_York"))
    assert validate_texts(as_index)["timestamp"].tolist() == MIXED_UTC  # a DatetimeIndex is the timestamp
