"""Tests of the seed-000 market simulator: statistics, prices, texts, determinism, errors, writing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy.stats import spearmanr

from finfusion.data import simtext
from finfusion.data.simulate import (
    SimulatorConfig,
    numeric_variance,
    simulate_market,
    write_market,
)
from finfusion.errors import ConfigError

LONG = 40_000

# phrase -> grade, longest first so that no shorter phrase shadows a longer one
_LEXICON = sorted(
    ((p, g) for g, pool in enumerate(simtext.GRADE_PHRASES) for p in pool), key=lambda pg: -len(pg[0])
)


def _grade_of(text: str) -> int:
    for phrase, grade in _LEXICON:
        if phrase in text:
            return grade
    return -1


@pytest.fixture(scope="module")
def long_market():
    return simulate_market(SimulatorConfig(n_days=LONG, n_features=4, seed=7))


@pytest.fixture(scope="module")
def small_market():
    return simulate_market(SimulatorConfig(n_days=300, n_tickers=3, seed=3))


def test_features_follow_ar1_with_stationary_law(long_market):
    x = long_market.prices[[f"x{j}" for j in range(1, 5)]].to_numpy()
    for j in range(4):
        assert np.corrcoef(x[:-1, j], x[1:, j])[0, 1] == pytest.approx(0.6, abs=0.02)
    c = np.corrcoef(x.T)
    assert c[~np.eye(4, dtype=bool)] == pytest.approx(np.full(12, 0.3), abs=0.03)
    assert x.var(axis=0) == pytest.approx(np.full(4, 1 / (1 - 0.36)), rel=0.05)
    # first day already stationary (no burn-in): its spread across many tickers matches
    first = simulate_market(SimulatorConfig(n_days=2, n_tickers=3000, n_features=2, seed=1))
    x0 = first.prices.groupby("ticker").head(1)[["x1", "x2"]].to_numpy()
    assert x0.var(axis=0) == pytest.approx([1.5625, 1.5625], rel=0.1)


def test_noise_variance_floor_and_analytic_numeric_variance(long_market):
    m, t = long_market, long_market.truth
    assert t["noise"].var() == pytest.approx(m.sigma**2, rel=0.03)
    cond_mean = m.config.intercept + t["numeric_part"] + t["text_part"]
    mse = ((t["target"] - m.config.return_scale * cond_mean) ** 2).mean()
    assert mse == pytest.approx(m.noise_floor, rel=0.03)
    assert m.noise_floor == pytest.approx((0.01 * m.sigma) ** 2)
    var_num = numeric_variance(m.beta1, m.beta2, 0.6, 0.3)
    assert t["numeric_part"].var() == pytest.approx(var_num, rel=0.05)
    assert t["sentiment"].var() == pytest.approx(4 / 3, rel=0.03)


def test_informative_preset_shares(long_market):
    shares = long_market.variance_shares
    assert shares == pytest.approx({"numeric": 2 / 9, "text": 1 / 9, "noise": 2 / 3})
    emp = long_market.summary()["empirical_variance_shares"]
    assert emp == pytest.approx(shares, abs=0.015)
    assert long_market.noise_floor < long_market.attainable_mse < 1.05 * long_market.noise_floor


def test_paper_preset_and_overrides():
    paper = simulate_market(SimulatorConfig(preset="paper", n_days=50))
    assert paper.gamma == 0.25
    assert paper.variance_shares["noise"] == pytest.approx(2 / 3)
    assert paper.variance_shares["text"] < 0.05
    half = simulate_market(SimulatorConfig(text_share=0.5, snr=1.0, n_days=50))
    assert half.variance_shares == pytest.approx({"numeric": 0.25, "text": 0.25, "noise": 0.5})
    fixed = simulate_market(SimulatorConfig(gamma=0.0, beta1=(1.0, 0.0), beta2=(0.0, 0.0),
                                            n_features=2, rho=0.0, n_days=50))
    assert fixed.variance_shares == pytest.approx({"numeric": 1 / 3, "text": 0.0, "noise": 2 / 3})
    assert (fixed.truth["text_part"] == 0).all()


def test_pipeline_target_equals_scaled_y_from_written_prices(tmp_path, small_market):
    paths = write_market(small_market, tmp_path)
    prices = pd.read_csv(paths["prices"], parse_dates=["date"])
    truth = pd.read_csv(paths["truth"], parse_dates=["date"])
    assert list(prices.columns[:7]) == ["date", "ticker", "open", "high", "low", "close", "volume"]
    target = prices.groupby("ticker")["close"].transform(lambda c: c.shift(-1) / c - 1)
    ok = target.notna()
    assert ok.sum() == 3 * 299
    np.testing.assert_allclose(target[ok], truth["target"][ok], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(truth["target"], 0.01 * truth["y"], rtol=1e-12)
    line = json.loads(paths["texts"].read_text().splitlines()[0])
    assert line["source"] == "sim" and line["timestamp"][-6:] in ("-05:00", "-04:00")
    meta = json.loads(paths["meta"].read_text())
    assert meta["noise_floor"] == pytest.approx(small_market.noise_floor)
    assert meta["config"]["n_tickers"] == 3 and set(meta["variance_shares"]) == {"numeric", "text", "noise"}
    pq = write_market(small_market, tmp_path / "pq", fmt="parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(pq["texts"]), small_market.texts, check_dtype=False)
    with pytest.raises(ConfigError, match="fmt"):
        write_market(small_market, tmp_path, fmt="xlsx")


def test_prices_frame_is_consistent(small_market):
    p = small_market.prices
    assert p["date"].dtype == "datetime64[ns]"
    assert (p["low"] <= p[["open", "close"]].min(axis=1)).all()
    assert (p["high"] >= p[["open", "close"]].max(axis=1)).all()
    assert (p["low"] > 0).all() and (p["volume"] > 0).all()
    assert (p["date"].dt.day_of_week < 5).all()
    assert p.equals(p.sort_values(["ticker", "date"]))
    assert list(small_market.truth["date"]) == list(p["date"])


def test_determinism_and_seeds():
    cfg = SimulatorConfig(n_days=200, n_tickers=2, seed=11)
    a, b = simulate_market(cfg), simulate_market(cfg)
    for name in ("prices", "texts", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    c = simulate_market(cfg.model_copy(update={"seed": 12}))
    assert not np.allclose(a.truth["y"], c.truth["y"])
    assert not a.texts["text"].equals(c.texts["text"])
    assert not np.allclose(a.beta1, c.beta1)
    kept = simulate_market(SimulatorConfig(n_days=200, seed=12, beta_seed=11))
    np.testing.assert_array_equal(kept.beta1, a.beta1)
    # ticker k's path does not depend on how many tickers are simulated
    one = simulate_market(SimulatorConfig(n_days=200, n_tickers=1, seed=11))
    pd.testing.assert_frame_equal(one.truth, a.truth[a.truth["ticker"] == "NRVX"])


def test_informative_text_encodes_grade_monotonically(long_market):
    texts, truth = long_market.texts, long_market.truth
    assert len(texts) == LONG
    found = np.array([_grade_of(s) for s in texts["text"]])
    np.testing.assert_array_equal(found, truth["grade"].to_numpy())
    rho = spearmanr(found, truth["sentiment"]).statistic
    assert rho > 0.97
    means = truth.groupby(found)["sentiment"].mean().to_numpy()
    assert len(means) == simtext.N_GRADES and (np.diff(means) > 0).all()
    # paraphrase variety: many distinct headlines per grade, every phrase used
    per_grade = texts["text"].groupby(found).nunique()
    assert (per_grade > 0.9 * texts.groupby(found).size()).all()
    used = {p for p, _ in _LEXICON if texts["text"].str.contains(p, regex=False).any()}
    assert len(used) == len(_LEXICON)
    # the ticker is mentioned
    assert texts["text"].str.contains("NRVX|Norvex", regex=True).all()


def test_grade_phrases_do_not_collide():
    phrases = [(p, g) for g, pool in enumerate(simtext.GRADE_PHRASES) for p in pool]
    neutral = list(simtext._CONTEXTS) + list(simtext.DISTRACTORS) + list(simtext._TEMPLATES)
    for p, g in phrases:
        others = [q for q, h in phrases if h != g]
        assert not any(p in q for q in others), p
        assert not any(p in s for s in neutral), p


def test_random_text_is_independent_of_sentiment():
    cfg = SimulatorConfig(text_mode="random", n_days=3000, seed=5)
    m = simulate_market(cfg)
    assert not any(_grade_of(s) >= 0 for s in m.texts["text"])
    words = set(" ".join(m.texts["text"]).split())
    assert words <= set(simtext.RANDOM_VOCAB)
    length = m.texts["text"].str.split().str.len()
    assert abs(spearmanr(length, m.truth["sentiment"]).statistic) < 0.06
    # the texts are drawn from their own stream: changing the sentiment law leaves them unchanged
    other = simulate_market(cfg.model_copy(update={"sentiment_scale": 1.0, "gamma": 3.0}))
    assert not np.allclose(other.truth["sentiment"], m.truth["sentiment"])
    pd.testing.assert_series_equal(other.texts["text"], m.texts["text"])
    assert m.attainable_mse == pytest.approx(1e-4 * (m.sigma**2 + m.gamma**2 * 4 / 3))


def test_texts_are_published_before_the_close_of_their_day(small_market):
    texts = small_market.texts
    assert str(texts["timestamp"].dt.tz) == "America/New_York"
    local = texts["timestamp"]
    minutes = local.dt.hour * 60 + local.dt.minute
    assert (minutes >= 8 * 60).all() and (minutes < 16 * 60).all()
    days = set(zip(small_market.prices["ticker"], small_market.prices["date"], strict=True))
    keys = zip(texts["ticker"], local.dt.tz_localize(None).dt.normalize(), strict=True)
    assert all(k in days for k in keys)
    assert texts.groupby("ticker").size().tolist() == [300, 300, 300]


def test_text_prob_and_separate_distractors():
    m = simulate_market(SimulatorConfig(n_days=2000, text_prob=0.6, texts_per_day=2,
                                        n_distractors=2, distractor_mode="separate", seed=2))
    has = m.truth["n_texts"] > 0
    assert has.mean() == pytest.approx(0.6, abs=0.04)
    assert set(m.truth["n_texts"]) == {0, 2}
    assert len(m.texts) == has.sum() * 4
    grades = np.array([_grade_of(s) for s in m.texts["text"]])
    assert (grades >= 0).sum() == has.sum() * 2
    assert m.attainable_mse > m.noise_floor * 1.05


def test_bad_parameters_raise_clear_errors():
    bad = [
        ({"rho": 1.0}, "rho"),
        ({"corr": -0.5}, "corr"),
        ({"nope": 1}, "nope"),
        ({"beta1": (1.0, 2.0)}, "beta1"),
        ({"preset": "foo"}, "preset"),
        ({"gamma": 1.0, "text_share": 0.3}, "gamma or text_share"),
        ({"snr": 0.0}, "snr"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"tickers": ("AAA", "BBB"), "n_tickers": 3}, "tickers"),
        ({"tickers": ("A A",)}, "tickers"),
        ({"first_text_time": "17:00"}, "first_text_time"),
        ({"random_text_words": (5, 2)}, "random_text_words"),
    ]
    for kwargs, needle in bad:
        with pytest.raises(ValidationError, match=needle):
            SimulatorConfig(**kwargs)
    with pytest.raises(ConfigError, match="smaller return_scale|return_scale <"):
        simulate_market(SimulatorConfig(return_scale=0.5, n_days=2000))
    cfg = SimulatorConfig(tickers=("AAA", "BBB"))
    assert cfg.n_tickers == 2
    with pytest.raises(ValidationError):
        cfg.seed = 3  # frozen


def test_summary_and_custom_tickers():
    m = simulate_market(SimulatorConfig(tickers=("XYZ", "ABC"), n_days=30))
    s = m.summary()
    assert s["n_tickers"] == 2 and s["n_texts"] == 60
    assert set(s["variance_shares"]) == {"numeric", "text", "noise"}
    json.dumps(s)
    assert m.texts["text"].str.contains(r"XYZ|Xyz Corp|ABC|Abc Corp").all()
