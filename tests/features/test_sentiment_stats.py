"""Seed 003 §4.2 sentiment statistics: time-of-day weights, weighted moments, kurtosis, fills, no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from finfusion.data.align import align_texts
from finfusion.data.calendar import TradingCalendar
from finfusion.data.frames import CleaningReport
from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TargetConfig, TextConfig
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.schema import validate_prices, validate_texts
from finfusion.features.sentiment import SEED003_STATS, SentimentSpec, daily_sentiment_index

# Thu 2, Fri 3, Mon 6, Tue 7 Jan 2014; the close is 16:00 New York (UTC-5 in January)
CAL = TradingCalendar(pd.DatetimeIndex(["2014-01-02", "2014-01-03", "2014-01-06", "2014-01-07"]))
WORDS = {"up": 0.5, "down": -0.2, "flat": 0.0, "boom": 1.0, "bust": -1.0, "meh": 0.03}
ALL = ("mean", "std", "max", "min", "range", "kurt", "n_pos", "n_neg", "n_texts", "has_text", "staleness")


def panel(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime([d for d, _ in rows]), "ticker": [t for _, t in rows]})


def index_of(texts, rows, **kwargs) -> pd.DataFrame:
    aligned = align_texts(validate_texts(pd.DataFrame(texts, columns=["timestamp", "ticker", "text"])), CAL)
    scores = np.array([WORDS[t] for t in aligned["text"]])
    return daily_sentiment_index(aligned, scores, panel(rows), **kwargs)


def test_time_of_day_weights_favour_early_texts_and_clip_overnight_texts_to_midnight():
    texts = [
        ("2014-01-02T17:00:00-05:00", "A", "boom"),  # after 2 Jan's close -> 3 Jan, before its midnight: tau 0
        ("2014-01-03T08:00:00-05:00", "A", "up"),  # tau 8/16 = 0.5
        ("2014-01-03T16:00:00-05:00", "A", "bust"),  # at the close: tau 1
    ]
    out = index_of(texts, [("2014-01-03", "A")], decay=math.log(2), decay_basis="time_of_day", stats=ALL[:6])
    w = np.array([1.0, 2**-0.5, 0.5])
    w = w / w.sum()
    s = np.array([1.0, 0.5, -1.0])
    mean = float(w @ s)
    row = out.iloc[0]
    assert row["sent_mean"] == pytest.approx(mean)
    assert row["sent_std"] == pytest.approx(math.sqrt(float(w @ s**2) - mean**2))  # sqrt(M2 - M1²)
    assert (row["sent_max"], row["sent_min"], row["sent_range"]) == (1.0, -1.0, 2.0)
    assert row["sent_kurt"] == 0.0  # fewer than 4 texts: defined as 0
    # λ = 0: equal weights whatever the basis; the age basis favours the latest text instead
    assert index_of(texts, [("2014-01-03", "A")], decay_basis="time_of_day").iloc[0]["sent_mean"] == pytest.approx(1 / 6)
    by_age = index_of(texts, [("2014-01-03", "A")], decay=math.log(2)).iloc[0]["sent_mean"]
    assert by_age < 1 / 6 < mean


def test_excess_kurtosis_by_hand_and_with_the_papers_raw_moment_formula():
    day = [("2014-01-02", "A")]
    four = [(f"2014-01-02T1{h}:00:00-05:00", "A", w) for h, w in enumerate(["boom", "flat", "flat", "bust"])]
    row = index_of(four, day, stats=ALL[:6]).iloc[0]
    # scores 1, 0, 0, -1 with equal weights: mean 0, m2 = 1/2, m4 = 1/2, kurt = 0.5 / 0.25 - 3 = -1
    assert (row["sent_mean"], row["sent_std"], row["sent_range"], row["sent_kurt"]) == pytest.approx(
        (0.0, math.sqrt(0.5), 2.0, -1.0)
    )
    # time-of-day weights: the paper's (M4 - 4 M3 M1 + 6 M2 M1² - 3 M1⁴) / σ⁴ - 3 from raw moments
    five = [("2014-01-02T02:00:00-05:00", "A", "boom"), ("2014-01-02T04:00:00-05:00", "A", "up"),
            ("2014-01-02T08:00:00-05:00", "A", "meh"), ("2014-01-02T12:00:00-05:00", "A", "down"),
            ("2014-01-02T14:00:00-05:00", "A", "bust")]
    lam = 1.5
    tau = np.array([2, 4, 8, 12, 14]) / 16
    w = np.exp(-lam * tau) / np.exp(-lam * tau).sum()
    s = np.array([1.0, 0.5, 0.03, -0.2, -1.0])
    m1, m2, m3, m4 = (float(w @ s**r) for r in (1, 2, 3, 4))
    var = m2 - m1**2
    kurt = (m4 - 4 * m3 * m1 + 6 * m2 * m1**2 - 3 * m1**4) / var**2 - 3
    got = index_of(five, day, decay=lam, decay_basis="time_of_day", stats=["kurt", "std"]).iloc[0]
    assert got["sent_kurt"] == pytest.approx(kurt) and got["sent_std"] == pytest.approx(math.sqrt(var))
    # identical scores: no dispersion, kurtosis defined as 0 (not NaN / inf)
    same = [(f"2014-01-02T1{h}:00:00-05:00", "A", "up") for h in range(5)]
    assert index_of(same, day, stats=["kurt", "std"]).iloc[0].tolist()[2:] == [0.0, 0.0]


TEXTS = [("2014-01-02T10:00:00-05:00", "A", "up"), ("2014-01-02T11:00:00-05:00", "A", "down"),
         ("2014-01-06T12:00:00-05:00", "B", "boom")]
ROWS = [("2014-01-02", "A"), ("2014-01-03", "A"), ("2014-01-07", "A"),
        ("2014-01-02", "B"), ("2014-01-03", "B"), ("2014-01-07", "B")]


def test_zero_and_neutral_fills():
    zero = index_of(TEXTS, ROWS, stats=["mean", "max", "n_texts", "has_text"])
    assert zero["sent_mean"].tolist() == pytest.approx([0.15, 0, 0, 0, 0, 0])
    assert zero["sent_has_text"].tolist() == [1, 0, 0, 0, 0, 0]  # 6 Jan (B's text day) is not a panel row
    neutral = index_of(TEXTS, ROWS, stats=["mean", "max", "n_texts"], fill="neutral")
    assert neutral["sent_max"].tolist() == [0.5, 0, 0, 0, 0, 0] and neutral["sent_n_texts"].tolist()[1:] == [0] * 5


def test_ffill_carries_the_last_text_day_and_counts_staleness():
    out = index_of(TEXTS, ROWS, stats=["mean", "n_texts", "has_text", "staleness"], fill="ffill")
    a, b = out.iloc[:3], out.iloc[3:]
    assert a["sent_mean"].tolist() == pytest.approx([0.15] * 3) and a["sent_n_texts"].tolist() == [2, 2, 2]
    assert a["sent_staleness"].tolist() == [0, 1, 2] and a["sent_has_text"].tolist() == [1, 0, 0]
    # B before its first text: no statistics (dropped as warm-up by build_samples); the text of
    # 6 Jan (no B row that day) still carries to 7 Jan, one session later
    assert b["sent_mean"].isna().tolist() == [True, True, False] and b["sent_staleness"].iloc[2] == 1
    assert b["sent_mean"].iloc[2] == 1.0 and b["sent_has_text"].tolist() == [0, 0, 0]


def test_spec_declares_the_fill_indicator_and_checks_its_settings():
    assert SentimentSpec(stats=("mean",)).feature_names == ("sent_mean", "sent_has_text")  # zero: flagged
    assert SentimentSpec(stats=("mean",), fill="neutral").feature_names == ("sent_mean",)
    spec = SentimentSpec(name="vader", stats=SEED003_STATS, fill="ffill")
    assert spec.group == "sentiment_vader"
    assert spec.feature_names == tuple(
        f"sent_vader_{s}" for s in ("mean", "std", "max", "range", "kurt", "n_texts", "staleness")
    )
    with pytest.raises(ValidationError, match="staleness needs fill 'ffill'"):
        SentimentSpec(stats=("mean", "staleness"))
    with pytest.raises(ValidationError, match="stats.0\n  Input should be 'mean', .* input_value='kurtosis'"):
        SentimentSpec(stats=("kurtosis",))
    with pytest.raises(ValidationError, match="decay_basis\n  Input should be 'age' or 'time_of_day'"):
        SentimentSpec(decay_basis="hour")
    with pytest.raises(ValidationError, match="fill\n  Input should be 'zero', 'neutral' or 'ffill'"):
        SentimentSpec(fill="bfill")
    with pytest.raises(ValidationError, match="lower-case"):
        SentimentSpec(name="Fin-BERT")


def _prices(n: int = 30) -> tuple[pd.DatetimeIndex, pd.DataFrame]:
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2014-01-02", periods=n)
    close = 15 + rng.normal(size=n).cumsum() * 0.1
    frame = pd.DataFrame({"date": dates, "ticker": "A", "open": close, "high": close + 1, "low": close - 1,
                          "close": close, "volume": 1e6})
    return dates, validate_prices(frame)


@pytest.mark.parametrize("fill", ["zero", "neutral", "ffill"])
def test_texts_after_the_close_of_day_k_never_change_features_up_to_k(fill):
    """No look-ahead with every new statistic, weight basis and fill: edit or add texts after the
    close of day k; every sample of days <= k keeps exactly the same features."""
    dates, prices = _prices()
    closes = (dates + pd.Timedelta(hours=16)).tz_localize("America/New_York")
    rng = np.random.default_rng(1)
    phrases = ["great results", "terrible losses", "the meeting is today", "awesome quarter", "weak outlook"]
    rows = [(str(c - pd.Timedelta(hours=h)), "A", str(rng.choice(phrases)))
            for i, c in enumerate(closes) if i % 3 for h in (1, 5, 9, 20)]  # every third day without text
    specs = [
        SentimentSpec(name="tod", stats=SEED003_STATS, decay=1.5, decay_basis="time_of_day", fill=fill),
        SentimentSpec(name="age", stats=("mean", "min", "kurt"), decay=0.7, fill=fill),
    ]
    spec = SampleSpec(features=FeatureConfig(groups=["sentiment", "returns"], sentiment=specs),
                      target=TargetConfig(kind="direction"), text=TextConfig(enabled=False))

    def build(texts):
        return build_samples(MarketData(prices, validate_texts(pd.DataFrame(texts, columns=["timestamp", "ticker", "text"]))), spec)

    base = build(rows)
    k = 15  # a day without text: a backward fill would take day k + 1's texts
    cut = closes[k]
    edited = [(t, tk, "horrible crash" if pd.Timestamp(t) > cut else x) for t, tk, x in rows]
    edited += [(str(cut + pd.Timedelta(seconds=1)), "A", "superb"), (str(cut + pd.Timedelta(days=2)), "A", "awful")]
    changed = build(edited)
    upto = (base.index["date"] <= dates[k]).to_numpy()
    assert upto.sum() >= 5 and (changed.index["date"] <= dates[k]).sum() == upto.sum()
    np.testing.assert_array_equal(base.X[upto], changed.X[: upto.sum()])
    assert not np.array_equal(base.X[~upto], changed.X[len(changed) - (~upto).sum():])


def test_ffill_rows_before_the_first_text_are_dropped_and_counted():
    dates, prices = _prices(12)
    texts = validate_texts(pd.DataFrame([(f"{dates[4].date()}T12:00:00-05:00", "A", "great results")],
                                        columns=["timestamp", "ticker", "text"]))
    spec = SampleSpec(features=FeatureConfig(groups=["sentiment"], sentiment=SentimentSpec(stats=("mean",), fill="ffill")),
                      text=TextConfig(enabled=False))
    report = CleaningReport()
    samples = build_samples(MarketData(prices, texts), spec, report=report)
    assert samples.feature_names == ("sent_mean", "sent_staleness")
    assert samples.index["date"].iloc[0] == dates[4] and samples.X[:, 1].tolist() == list(range(len(samples)))
    warmup = [r for r in report.to_records() if r["reason"].startswith("warm-up")]
    assert warmup and warmup[0]["count"] == 4
    assert "set by sent_mean" in warmup[0]["reason"] and "first text" in warmup[0]["reason"]
