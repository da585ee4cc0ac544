"""The daily sentiment index (feature group "sentiment"): values by hand, no look-ahead, decay, caching."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from finfusion.data.align import align_texts
from finfusion.data.calendar import TradingCalendar
from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TargetConfig, TextConfig
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.schema import validate_prices, validate_texts
from finfusion.errors import ConfigError, DataError
from finfusion.features import sentiment
from finfusion.features.sentiment import (
    SENTIMENT_FEATURES,
    SentimentSpec,
    daily_sentiment_index,
    score_texts,
    split_selection,
)

# Thu 2, Fri 3, Mon 6, Tue 7 Jan 2014; the close is 16:00 New York = 21:00 UTC in January
CAL = TradingCalendar(pd.DatetimeIndex(["2014-01-02", "2014-01-03", "2014-01-06", "2014-01-07"]))
PANEL = pd.DataFrame(
    {"date": pd.to_datetime(["2014-01-02", "2014-01-03", "2014-01-06", "2014-01-02"]), "ticker": ["A", "A", "A", "B"]}
)
WORDS = {"up": 0.5, "down": -0.2, "flat": 0.0, "boom": 1.0, "bust": -1.0, "meh": 0.03}


class WordScorer:
    """A scorer with known scores per text; counts what it is asked to score."""

    name = "words"
    labels = ("negative", "neutral", "positive")

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def score(self, texts, batch_size=64):
        self.calls.append(list(texts))
        return np.array([WORDS[t.split()[0]] for t in texts], dtype=np.float64)


def make_texts(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return validate_texts(pd.DataFrame(rows, columns=["timestamp", "ticker", "text"]))


def index_of(rows, panel=PANEL, **kwargs) -> pd.DataFrame:
    aligned = align_texts(make_texts(rows), CAL)
    scores = np.array([WORDS[t.split()[0]] for t in aligned["text"]])
    return daily_sentiment_index(aligned, scores, panel, **kwargs)


def test_values_by_hand_and_days_without_texts():
    out = index_of(
        [
            ("2014-01-02T10:00:00-05:00", "A", "up"),
            ("2014-01-02T11:00:00-05:00", "A", "down"),
            ("2014-01-02T12:00:00-05:00", "A", "flat"),
            ("2014-01-02T13:00:00-05:00", "B", "meh"),  # inside the neutral band: neither pos nor neg
        ]
    )
    assert list(out.columns) == ["date", "ticker", *SENTIMENT_FEATURES]
    a = out.iloc[0]  # A on 2 Jan: scores 0.5, -0.2, 0.0
    assert a["sent_mean"] == pytest.approx(0.1)
    assert a["sent_std"] == pytest.approx(math.sqrt((0.4**2 + 0.3**2 + 0.1**2) / 3))
    assert (a["sent_n_pos"], a["sent_n_neg"], a["sent_n_texts"], a["sent_has_text"]) == (1, 1, 3, 1)
    b = out.iloc[3]  # B on 2 Jan: one text, std 0
    assert (b["ticker"], b["sent_mean"], b["sent_std"], b["sent_n_pos"], b["sent_n_texts"]) == ("B", 0.03, 0, 0, 1)
    # A on 3 and 6 Jan has no text: every feature is 0, has_text too (no forward fill)
    assert (out.iloc[1:3][list(SENTIMENT_FEATURES)].to_numpy() == 0).all()


def test_only_texts_available_at_the_close_count_for_the_day():
    # a text exactly at the close counts for that day; one second later, for the next session;
    # a weekend text for Monday
    out = index_of(
        [
            ("2014-01-02T16:00:00-05:00", "A", "boom"),
            ("2014-01-02T16:00:01-05:00", "A", "bust"),
            ("2014-01-04T12:00:00-05:00", "A", "down"),
        ]
    )
    assert out["sent_mean"].tolist()[:3] == [1.0, -1.0, -0.2]


def test_changing_later_texts_leaves_every_earlier_feature_unchanged():
    """No look-ahead: texts published after the close of day k never change samples up to k."""
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2014-01-02", periods=30)
    close = 10 + rng.normal(size=30).cumsum() * 0.1 + 5
    prices = validate_prices(
        pd.DataFrame(
            {
                "date": dates,
                "ticker": "A",
                "open": close,
                "high": close + 1,
                "low": close - 1,
                "close": close,
                "volume": 1e6,
            }
        )
    )
    closes = (dates + pd.Timedelta(hours=16)).tz_localize("America/New_York")
    phrases = ["great results", "terrible losses", "the meeting is today", "awesome quarter"]
    rows = [(str(c - pd.Timedelta(hours=h)), "A", str(rng.choice(phrases))) for c in closes for h in (1, 20)]
    spec = SampleSpec(
        features=FeatureConfig(features=["price"], groups=["sentiment"], lookback=3,
                               sentiment=SentimentSpec(scorer="vader")),
        target=TargetConfig(kind="close"),
        text=TextConfig(enabled=False),
    )
    base = build_samples(MarketData(prices, make_texts(rows)), spec)
    k = 15
    cut = closes[k]
    later = [(t, tk, "horrible crash" if pd.Timestamp(t) > cut else x) for t, tk, x in rows]
    later.append((str(cut + pd.Timedelta(seconds=1)), "A", "superb"))  # one second after the close of day k
    changed = build_samples(MarketData(prices, make_texts(later)), spec)
    upto = base.index["date"] <= dates[k]
    np.testing.assert_array_equal(base.X[upto.to_numpy()], changed.X[upto.to_numpy()])
    assert not np.array_equal(base.X[~upto.to_numpy()], changed.X[~upto.to_numpy()])
    assert base.feature_names == ("price", *SENTIMENT_FEATURES)


def test_decay_weights_by_age_to_the_close():
    # A on 3 Jan: "boom" at the close (age 0, weight 1) and "bust" 23 h earlier (2 Jan 17:00, after
    # 2 Jan's close, so it belongs to 3 Jan); decay ln 2 per day halves the weight per day of age
    rows = [("2014-01-03T16:00:00-05:00", "A", "boom"), ("2014-01-02T17:00:00-05:00", "A", "bust")]
    w = 0.5 ** (23 / 24)
    out = index_of(rows, decay=math.log(2))
    mean = (1.0 - w) / (1.0 + w)
    assert out.iloc[1]["sent_mean"] == pytest.approx(mean)
    assert out.iloc[1]["sent_std"] == pytest.approx(math.sqrt(((1 - mean) ** 2 + w * (1 + mean) ** 2) / (1 + w)))
    assert out.iloc[1]["sent_n_texts"] == 2  # counts are not weighted
    assert index_of(rows).iloc[1]["sent_mean"] == 0.0  # decay 0: equal weights
    assert index_of(rows, decay=-math.log(2)).iloc[1]["sent_mean"] == pytest.approx(-mean)  # favours the earliest


def test_each_distinct_text_is_scored_once_per_scorer():
    scorer = WordScorer()
    first = score_texts(["up a", "down b", "up a"], scorer, cache_key="test-words")
    again = score_texts(["up a", "boom c"], scorer, cache_key="test-words")
    assert first.tolist() == [0.5, -0.2, 0.5] and again.tolist() == [0.5, 1.0]
    assert scorer.calls == [["up a", "down b"], ["boom c"]]
    sentiment._SCORE_CACHE.pop("test-words")
    uncached = WordScorer()
    score_texts(["up a", "up a"], uncached)
    score_texts(["up a"], uncached)
    assert uncached.calls == [["up a"], ["up a"]]  # without a key: deduplicated within a call only


def test_scores_outside_the_range_are_refused():
    class Bad(WordScorer):
        def score(self, texts, batch_size=64):
            return np.full(len(texts), 1.5)

    with pytest.raises(DataError, match=r"in \[-1, 1\]"):
        score_texts(["up"], Bad())


def test_selection_split_and_errors():
    assert split_selection(None, ["returns", "sentiment"]) == (None, ["returns"], [], list(SENTIMENT_FEATURES))
    assert split_selection(["price", "sent_mean"], None) == (["price"], None, [], ["sent_mean"])
    assert split_selection(None, ["sentiment"], ["sentiment", "volume"]) == (None, [], ["volume"], [])
    prices = validate_prices(
        pd.DataFrame(
            {
                "date": pd.bdate_range("2014-01-02", periods=5),
                "ticker": "A",
                "open": 1.0,
                "high": 1.0,
                "low": 1.0,
                "close": 1.0,
                "volume": 1.0,
            }
        )
    )
    only = build_samples(
        MarketData(prices, make_texts([("2014-01-02T10:00:00Z", "A", "up")])),
        SampleSpec(features=FeatureConfig(groups=["sentiment"]), text=TextConfig(enabled=False)),
    )
    assert only.feature_names == SENTIMENT_FEATURES and len(only) == 4
    with pytest.raises(DataError, match="'sentiment' feature group needs texts"):
        build_samples(MarketData(prices), SampleSpec(features=FeatureConfig(groups=["sentiment"])))
    with pytest.raises(ValidationError, match="neutral_band\n  Input should be less than 1 .*input_value=1.5"):
        SentimentSpec(neutral_band=1.5)
    with pytest.raises(ValueError, match="built from texts by build_samples"):
        from finfusion.features.build import build_features

        build_features(prices, groups=["sentiment"])


class ProbaScorer:
    """A classifier-like scorer: fixed (p_neg, p_pos) per text, score α·p_pos − β·p_neg."""

    name = "proba"
    PROBS = {"good": (0.1, 0.8), "bad": (0.7, 0.2)}

    def score(self, texts, batch_size=64, *, alpha=1.0, beta=1.0):
        return np.array([alpha * self.PROBS[t][1] - beta * self.PROBS[t][0] for t in texts])


def test_alpha_and_beta_weight_a_classifiers_probabilities_and_key_the_cache():
    scorer = ProbaScorer()
    try:
        plain = score_texts(["good", "bad"], scorer, cache_key="test-proba")
        weighted = score_texts(["good", "bad"], scorer, cache_key="test-proba", alpha=2.0, beta=0.5)
    finally:
        for key in [k for k in sentiment._SCORE_CACHE if k.startswith("test-proba")]:
            sentiment._SCORE_CACHE.pop(key)
    np.testing.assert_allclose(plain, [0.7, -0.5])
    np.testing.assert_allclose(weighted, [2 * 0.8 - 0.5 * 0.1, 2 * 0.2 - 0.5 * 0.7])  # 1.55 is in [-β, α]


def test_alpha_and_beta_need_a_classifier():
    with pytest.raises(ValidationError, match="lexicon 'vader' gives one score"):
        SentimentSpec(scorer="vader", alpha=2.0)
    with pytest.raises(ValidationError, match="beta\n  Input should be greater than or equal to 0 .*input_value=-1"):
        SentimentSpec(scorer="vader", beta=-1)
    with pytest.raises(ConfigError, match="gives one score per text"):
        score_texts(["up"], WordScorer(), alpha=0.5)
