"""StockNet and PhraseBank adapters on small fixtures in the datasets' original layouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from finfusion.data.adapters.phrasebank import read_phrasebank
from finfusion.data.adapters.stocknet import read_stocknet
from finfusion.data.align import align_texts, build_newsflow
from finfusion.data.calendar import TradingCalendar
from finfusion.data.frames import CleaningReport
from finfusion.errors import DataError
from finfusion.experiments.config import DataConfig
from finfusion.experiments.sources import load_market_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STOCKNET = FIXTURES / "stocknet"
PHRASEBANK = FIXTURES / "phrasebank"


def test_stocknet_reads_prices_and_tweets():
    report = CleaningReport()
    prices, texts = read_stocknet(STOCKNET, report=report)
    assert sorted(prices["ticker"].unique()) == ["AAPL", "GOOG"] and len(prices) == 10
    assert prices.loc[0, ["close", "adj_close", "volume"]].tolist() == [79.018570, 73.522530, 58671200.0]
    assert len(texts) == 14 and set(texts["source"]) == {"twitter"}
    assert str(texts["timestamp"].dtype) == "datetime64[ns, UTC]"
    first = texts[texts["ticker"] == "AAPL"].iloc[0]
    assert first["timestamp"] == pd.Timestamp("2014-01-01 03:59:03", tz="UTC")
    assert first["text"] == "rt AT_USER summary of yesterday's webcast featuring $ aapl URL"
    reasons = " / ".join(d.reason for d in report.dropped)
    assert "empty price file" in reasons and "without a tweet directory" in reasons  # GMRE


def test_stocknet_alignment_on_fixture():
    report = CleaningReport()
    prices, texts = read_stocknet(STOCKNET, tickers=["AAPL"])
    aligned = align_texts(texts, TradingCalendar.from_prices(prices), report=report)
    by_text = dict(zip(aligned["text"], aligned["date"].dt.strftime("%m-%d")))
    assert by_text["$ aapl closes at the bell"] == "01-02"        # exactly 16:00 New York
    assert by_text["$ aapl after hours drop"] == "01-03"          # one second after the close
    assert by_text["$ aapl friday evening news"] == "01-06"       # Friday after close -> Monday
    assert by_text["$ aapl sunday outlook"] == "01-06"            # weekend file
    assert by_text["$ aapl late sunday"] == "01-06"
    assert by_text["$ aapl wednesday close"] == "01-08"
    # the tweet of 31 Dec 22:59 New York is before the close of Wed 1 Jan: with a weekday calendar
    # before the data it belongs to 1 Jan, outside the 1-session text look-back of 2 Jan
    early, late = report.dropped
    assert early.count == 1 and early.examples == ("AAPL 2014-01-01T03:59:03+00:00",)
    assert "the close of 2014-01-01" in early.reason
    assert late.count == 1 and "2014-01-08" in late.reason  # after the last close
    nf = build_newsflow(aligned, prices)
    assert nf.set_index(nf["date"].dt.strftime("%m-%d"))["n_texts"].to_dict() == {
        "01-02": 2, "01-03": 2, "01-06": 4, "01-07": 0, "01-08": 1}


def test_stocknet_tweet_before_the_data_kept_with_the_exchange_calendar():
    pytest.importorskip("exchange_calendars")
    _, texts = read_stocknet(STOCKNET, tickers=["AAPL"])
    # XNYS knows 1 Jan is a holiday: the session before 2 Jan is 31 Dec, and the tweet of 31 Dec
    # 22:59 New York (after its close) belongs to 2 Jan
    xnys = TradingCalendar.from_exchange("XNYS", "2014-01-02", "2014-01-08")
    aligned = align_texts(texts, xnys, report=CleaningReport())
    assert "rt AT_USER summary of yesterday's webcast featuring $ aapl URL" in aligned["text"].tolist()


def test_stocknet_filters_and_errors(tmp_path):
    prices, texts = read_stocknet(STOCKNET, tickers=["GOOG"], start="2014-01-03", end="2014-01-07")
    assert prices["date"].dt.strftime("%m-%d").tolist() == ["01-03", "01-06", "01-07"]
    assert texts["text"].tolist() == ["$ goog tuesday morning"]
    with pytest.raises(DataError, match=r"no price file for ticker\(s\) \['MSFT'\].*MSFT\.csv.*available.*AAPL"):
        read_stocknet(STOCKNET, tickers=["MSFT"])
    with pytest.raises(DataError, match="not a directory.*price/raw"):
        read_stocknet(tmp_path / "missing")
    root = tmp_path / "sn"
    shutil.copytree(STOCKNET, root)
    bad_file = root / "tweet/preprocessed/GOOG/2014-01-07"
    bad_file.write_text('{"text": ["ok"], "created_at": "Tue Jan 07 15:00:00 +0000 2014"}\nnot json\n')
    with pytest.raises(DataError, match=r"GOOG/2014-01-07: line 2"):
        read_stocknet(root, tickers=["GOOG"])
    bad_file.write_text('{"text": ["ok"], "created_at": "sometime"}\n')
    with pytest.raises(DataError, match=r"GOOG/2014-01-07 line 1, column 'timestamp': got 'sometime'"):
        read_stocknet(root, tickers=["GOOG"])


NULL_ROW = "2014-01-09,null,null,null,null,null,null"  # as the published PTR.csv, REX.csv, SNP.csv on 2016-06-29


def test_stocknet_source_with_a_null_row_raises_naming_it_or_drops_and_counts_it(tmp_path):
    root = tmp_path / "sn"
    shutil.copytree(STOCKNET, root)
    path = root / "price/raw/GOOG.csv"
    path.write_text(path.read_text() + NULL_ROW + "\n")
    with pytest.raises(DataError, match=r"GOOG\.csv: row 6, column '\w+': got 'null', expected a finite number"):
        load_market_data(DataConfig(source="stocknet", stocknet_root=root), timezone="America/New_York")
    data = load_market_data(DataConfig(source="stocknet", stocknet_root=root, on_invalid="drop"), timezone="America/New_York")
    clean = load_market_data(DataConfig(source="stocknet", stocknet_root=STOCKNET), timezone="America/New_York")
    pd.testing.assert_frame_equal(data.prices, clean.prices)  # only the null row is gone
    pd.testing.assert_frame_equal(data.texts, clean.texts)
    (entry,) = [d for d in data.report.dropped if d.step == "validate_prices"]
    assert entry.count == 1 and str(path) in entry.reason and entry.examples == ("row 6: 'null'",)


def test_rl_market_index_with_a_null_row_raises_naming_it_or_drops_and_counts_it(tmp_path):
    # the RL prices come through load_market_data (above); its market_index file follows data.on_invalid too
    from finfusion.data.frames import CleaningReport
    from finfusion.experiments.config import parse_config
    from finfusion.experiments.rl_runner import market_index

    path = tmp_path / "index.csv"
    path.write_text("date,return\n2020-01-02,0.01\n2020-01-03,null\n2020-01-06,-0.02\n2020-01-06,0.5\n")
    raw = {"kind": "rl", "groups": {"g": ["A", "B"]}, "split": {"train_end": "2020-06-30", "valid_end": "2020-09-30"},
           "market_index": str(path)}
    with pytest.raises(DataError, match=r"index\.csv: 2 invalid row\(s\): row 2: date='2020-01-03', return='null'; "
                                        r"row 4: date='2020-01-06', return='0\.5'.*data.on_invalid: drop"):
        market_index(parse_config(raw), CleaningReport())
    report = CleaningReport()
    index = market_index(parse_config({**raw, "data": {"on_invalid": "drop"}}), report)
    assert index.to_dict() == {pd.Timestamp("2020-01-02"): 0.01, pd.Timestamp("2020-01-06"): -0.02}
    (entry,) = report.dropped
    assert entry.step == "market_index" and entry.count == 2 and str(path) in entry.reason
    assert entry.examples == ("row 2: date='2020-01-03', return='null'", "row 4: date='2020-01-06', return='0.5'")


def test_phrasebank_reads_sentences_and_labels():
    frame = read_phrasebank(PHRASEBANK / "Sentences_Fixture.txt")
    assert list(frame.columns) == ["text", "label"] and len(frame) == 4  # the blank line is skipped
    assert frame["label"].tolist() == ["neutral", "positive", "negative", "negative"]
    assert frame.loc[2, "text"] == "Contact us @ investor relations for details on the loss ."  # split at the LAST '@'


def test_phrasebank_encodings_and_malformed_line():
    latin = read_phrasebank(PHRASEBANK / "latin1.txt")
    assert latin.loc[0, "text"] == "Profit at Nordea Pankki \u00e4 increased ."
    with pytest.raises(DataError, match=r"malformed\.txt: line 2: no '@'"):
        read_phrasebank(PHRASEBANK / "malformed.txt")
    with pytest.raises(DataError, match="cannot be decoded as 'ascii'"):
        read_phrasebank(PHRASEBANK / "latin1.txt", encoding="ascii")


def test_phrasebank_unknown_label(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("Fine sentence .@positive\nOdd one .@mixed\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"p\.txt: line 2: label 'mixed'.*'positive', 'negative', 'neutral'"):
        read_phrasebank(path)
