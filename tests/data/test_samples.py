"""build_samples: texts are aligned to the price tickers, and every dropped text is counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.data.frames import CleaningReport
from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TextConfig
from finfusion.data.samples import MarketData, build_samples, sentiment_panel
from finfusion.data.schema import validate_prices, validate_texts
from finfusion.errors import DataError


def market(text_tickers: list[str]) -> MarketData:
    dates = pd.bdate_range("2014-01-02", periods=12)
    close = 100 + np.arange(12, dtype=float)
    prices = validate_prices(pd.DataFrame({"date": dates, "ticker": "AAPL", "open": close, "high": close + 1,
                                           "low": close - 1, "close": close, "volume": 1e6}))
    stamps = [f"{d.date()}T12:00:00-05:00" for d in dates[: len(text_tickers)]]
    texts = validate_texts(pd.DataFrame({"timestamp": stamps, "ticker": text_tickers,
                                         "text": ["shares surge on strong results"] * len(text_tickers)}))
    return MarketData(prices, texts)


def test_texts_of_tickers_without_prices_are_counted_and_case_named():
    data = market(["aapl", "AAPL", "MSFT", "aapl"])
    report = CleaningReport()
    samples = build_samples(data, SampleSpec(features=FeatureConfig(features=["ret_1"])), report=report)
    reasons = {d.reason: d.count for d in report.dropped if d.step == "align_texts"}
    assert reasons == {
        "ticker not among the given tickers": 1,
        "ticker differs from a price ticker only in case ('aapl' in the texts, 'AAPL' in the prices): "
        "tickers are matched exactly, case included": 2,
    }
    assert sum(t != "" for t in samples.texts) == 1


def test_sentiment_features_without_any_aligned_text_raise_with_the_reasons():
    data = market(["aapl", "aapl", "MSFT"])
    with pytest.raises(DataError) as info:
        build_samples(data, SampleSpec(features=FeatureConfig(groups=["sentiment"]), text=TextConfig(enabled=False)))
    msg = str(info.value)
    assert "3 texts" in msg and "none" in msg
    assert "2 - ticker differs from a price ticker only in case ('aapl' in the texts, 'AAPL' in the prices)" in msg
    assert "1 - ticker not among the given tickers" in msg


def test_sentiment_panel_aligns_to_the_price_tickers_too():
    report = CleaningReport()
    sentiment_panel(market(["AAPL", "ZZZ"]), SampleSpec(features=FeatureConfig(groups=["sentiment"])), report=report)
    assert [(d.reason, d.count) for d in report.dropped] == [("ticker not among the given tickers", 1)]


def test_skipped_and_constant_features_are_recorded():
    from finfusion.data.samples import constant_features

    dates = pd.bdate_range("2014-01-02", periods=60)
    close = 100 + np.sin(np.arange(60))
    prices = validate_prices(pd.DataFrame({"date": dates, "ticker": "AAPL", "close": close, "volume": 0.0,
                                           "flat": 7.0, "x": np.arange(60.0)}))
    samples = build_samples(MarketData(prices), SampleSpec(text=TextConfig(enabled=False)))  # the default selection
    assert samples.skipped_features == (
        ("range", "group volatility: needs the prices column(s) high, low, absent (present: date, ticker, close, "
                  "volume, flat, x)"),)
    assert "range" not in samples.feature_names and "volume_log" in samples.feature_names
    # volume always 0: log(1 + 0) = 0 and its change 0; `flat` never changes; `x` and the returns do
    assert constant_features(samples) == ("volume_log", "volume_change", "flat")
    stacked = build_samples(MarketData(prices), SampleSpec(features=FeatureConfig(groups=["volume", "extra"], lookback=3),
                                                        text=TextConfig(enabled=False)))
    assert constant_features(stacked) == ("volume_log", "volume_change", "flat")  # (n, L, d) samples too
    assert constant_features(samples.subset(np.array([0]))) == ()  # one sample: nothing to compare


def test_a_look_back_longer_than_the_data_leaves_zero_samples_of_the_right_shape():
    """Was `ValueError: need at least one array to stack` (seed004_lstm --quick on a tiny StockNet)."""
    days = pd.bdate_range("2020-01-01", periods=6)
    prices = validate_prices(pd.DataFrame({"date": days, "ticker": "A", "close": np.linspace(10, 11, 6)}))
    report = CleaningReport()
    samples = build_samples(MarketData(prices), SampleSpec(features=FeatureConfig(features=["ret_1", "price"], lookback=20)), report=report)
    assert samples.X.shape == (0, 20, 2) and len(samples.y) == 0
    assert any("look-back" in d.reason for d in report.dropped)
