"""Lexicon sentiment scorers (VADER, Loughran-McDonald) and `load_scorer`."""

from __future__ import annotations

import numpy as np
import pytest

from finfusion.errors import ConfigError
from finfusion.text import scorers
from finfusion.text.scorers import LoughranMcDonaldScorer, Scorer, VaderScorer, load_scorer

TEXTS = [
    "Great quarter, the stock surges on strong demand",
    "Terrible results, shares crash",
    "The meeting is on Tuesday",
]


@pytest.fixture(scope="module", params=["vader", "lm"])
def scorer(request) -> Scorer:
    return load_scorer(request.param)


def test_scorers_keep_the_interface(scorer):
    assert isinstance(scorer, Scorer)
    assert scorer.labels == ("negative", "neutral", "positive")
    scores = scorer.score(TEXTS)
    assert scores.dtype == np.float64 and scores.shape == (3,)
    assert np.all((scores >= -1) & (scores <= 1))
    records = scorer.predict_batch(TEXTS, batch_size=2)
    assert [set(r) for r in records] == [{"label", "label_id", "confidence", "probs"}] * 3
    for r in records:
        assert r["label"] == scorer.labels[r["label_id"]]
        assert set(r["probs"]) == set(scorer.labels)
        assert sum(r["probs"].values()) == pytest.approx(1.0)
        assert r["confidence"] == r["probs"][r["label"]]


def test_a_single_string_gives_one_score(scorer):
    assert scorer.score("shares crash").shape == (1,)
    assert len(scorer.predict_batch("shares crash")) == 1
    assert scorer.score([]).shape == (0,)


def test_empty_text_is_neutral(scorer):
    (record,) = scorer.predict_batch([""])
    assert scorer.score("")[0] == 0.0
    assert record["label"] == "neutral" and record["probs"]["neutral"] == 1.0


def test_vader_score_is_the_compound_and_labels_follow_the_005_rule():
    vader = VaderScorer()
    raw = vader._analyzer.polarity_scores(TEXTS[0])
    assert vader.score(TEXTS[0])[0] == raw["compound"]
    labels = [r["label"] for r in vader.predict_batch(TEXTS)]
    assert labels == ["positive", "negative", "neutral"]
    # the thresholds: compound >= 0.05 positive, <= -0.05 negative
    compounds = vader.score(TEXTS)
    assert compounds[0] >= 0.05 and compounds[1] <= -0.05 and abs(compounds[2]) < 0.05
    r = vader.predict_batch(TEXTS[0])[0]
    assert r["probs"]["positive"] == pytest.approx(raw["pos"] / (raw["neg"] + raw["neu"] + raw["pos"]))


def test_lm_polarity_by_hand():
    lm = LoughranMcDonaldScorer()
    # tokens (stemmed, stop words out): improv compani report loss weak demand; LM: improv +, loss -, weak -
    text = "Sales improved, but the company reported a loss and weak demand"
    assert lm._lm.tokenize(text) == ["improv", "compani", "report", "loss", "weak", "demand"]
    assert lm.score(text)[0] == pytest.approx((1 - 2) / (1 + 2))
    r = lm.predict_batch(text)[0]
    assert r["label"] == "negative" and r["label_id"] == 0
    assert r["probs"] == pytest.approx({"negative": 2 / 6, "neutral": 3 / 6, "positive": 1 / 6})
    assert lm.score("loss")[0] == -1.0 and lm.score("achieve")[0] == 1.0  # exactly ±1 (no epsilon)


@pytest.mark.parametrize("bad", [None, 3, ["ok", None], ["ok", 1.5]])
def test_bad_input_is_named(bad):
    with pytest.raises(TypeError, match="VaderScorer: texts"):
        VaderScorer().score(bad)


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        VaderScorer().predict_batch(TEXTS, batch_size=0)


def test_load_scorer_specs(tmp_path, monkeypatch):
    assert isinstance(load_scorer("vader"), VaderScorer)
    assert isinstance(load_scorer("LM"), LoughranMcDonaldScorer)
    assert load_scorer("vader") is load_scorer(" vader ")  # loaded once per process
    with pytest.raises(ConfigError, match="'vader', 'lm' or the directory"):
        load_scorer(tmp_path / "missing")

    class FakeClassifier:  # stands in for finfusion.text.sentiment.SentimentClassifier
        @classmethod
        def load(cls, path, *, engine, precision):
            return ("loaded", path, engine, precision)

    import sys
    import types

    monkeypatch.setitem(
        sys.modules, "finfusion.text.sentiment", types.SimpleNamespace(SentimentClassifier=FakeClassifier)
    )
    scorers._load_cached.cache_clear()
    try:
        assert load_scorer(tmp_path) == ("loaded", str(tmp_path.resolve()), "torch", "fp32")
        assert load_scorer(tmp_path, engine="onnx", precision="int8")[2:] == ("onnx", "int8")
    finally:
        scorers._load_cached.cache_clear()
