"""`SentimentClassifier`: loading, the inference API (predict_batch, score), edge cases, saving."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from finfusion.errors import ConfigError, DataError
from finfusion.text.sentiment import SentimentClassifier
from finfusion.text.sentiment.classifier import MANIFEST_NAME

P_NEG, P_NEU, P_POS = 0.2, 0.3, 0.5  # the constant model of conftest.py


@pytest.fixture(scope="module")
def constant(constant_dir):
    return SentimentClassifier.load(constant_dir)


@pytest.fixture(scope="module")
def rnd(random_dir):
    return SentimentClassifier.load(random_dir)


# -- score and predict_batch ------------------------------------------------------------------------


def test_score_is_p_pos_minus_p_neg_as_float64(constant):
    scores = constant.score(["stock rises", "shares slump on loss", "the market today"])
    assert scores.dtype == np.float64 and scores.shape == (3,)
    np.testing.assert_allclose(scores, P_POS - P_NEG, atol=1e-6)  # 0.5 - 0.2


def test_score_weights_alpha_and_beta(constant):
    np.testing.assert_allclose(constant.score(["profit"], alpha=2.0, beta=0.5), [2 * P_POS - 0.5 * P_NEG], atol=1e-6)
    with pytest.raises(ConfigError, match="beta must be a finite number >= 0"):
        constant.score(["profit"], beta=-1.0)


def test_one_string_is_one_text(constant, constant_probs):
    assert constant.score("stock rises").shape == (1,)
    (result,) = constant.predict_batch("stock rises")
    assert set(result) == {"label", "label_id", "confidence", "probs"}
    assert (result["label"], result["label_id"]) == ("positive", 2)
    assert result["confidence"] == pytest.approx(P_POS, abs=1e-6)
    assert result["probs"] == pytest.approx(dict(zip(constant.labels, constant_probs)), abs=1e-6)


def test_empty_texts_get_no_label_uniform_probs_and_score_zero(constant):
    results = constant.predict_batch(["", "stock rises", "   \n"])
    for r in (results[0], results[2]):
        assert r["label"] is None and r["label_id"] is None
        assert r["probs"] == {"negative": 1 / 3, "neutral": 1 / 3, "positive": 1 / 3}
        assert r["confidence"] == pytest.approx(1 / 3)
    assert results[1]["label"] == "positive"
    np.testing.assert_allclose(constant.score(["", "stock rises"]), [0.0, P_POS - P_NEG], atol=1e-6)
    np.testing.assert_allclose(constant.score([""], alpha=2.0, beta=1.0), [1 / 3])  # (alpha - beta) / 3
    assert constant.score([]).shape == (0,) and constant.predict_batch([]) == []


def test_probabilities_do_not_depend_on_batching_order_or_duplicates(rnd, word_texts):
    texts = word_texts + [word_texts[0]]
    one_by_one = np.vstack([rnd.predict_proba([t]) for t in texts])
    batched = rnd.predict_proba(texts, batch_size=3)
    # padding changes float32 summation order; the head's x3000 scale turns that into ~1e-5
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
    np.testing.assert_allclose(rnd.predict_proba(texts[::-1], batch_size=64), one_by_one[::-1], atol=1e-4)
    assert np.array_equal(batched[0], batched[-1])  # the duplicate
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-12)
    assert np.ptp(batched[:, 2]) > 0.05  # the random head really depends on the text


def test_predict_batch_and_score_agree_and_scores_stay_in_range(rnd, word_texts):
    results = rnd.predict_batch(word_texts)
    scores = rnd.score(word_texts)
    for r, s in zip(results, scores):
        assert r["label"] == rnd.labels[r["label_id"]]
        assert r["confidence"] == pytest.approx(max(r["probs"].values()))
        assert s == pytest.approx(r["probs"]["positive"] - r["probs"]["negative"])
    assert np.all(np.abs(scores) <= 1.0)


def test_over_long_input_is_truncated_to_max_length(rnd):
    short = SentimentClassifier(rnd.model, rnd.tokenizer, rnd.labels, max_length=16)
    words = ("stock rises after strong earnings and shares surge on record profit " * 300).split()
    long_text = " ".join(words)  # 3,300 words, every word one token of the tiny vocabulary
    head = " ".join(words[:14])  # what is left after truncation: 16 tokens = [CLS] + 14 words + [SEP]
    np.testing.assert_allclose(short.predict_proba([long_text]), short.predict_proba([head]), atol=1e-4)
    assert not np.allclose(short.predict_proba([head]), short.predict_proba([" ".join(words[:10])]), atol=1e-3)
    assert rnd.predict_proba([long_text]).shape == (1, 3)  # max_length 128: no error either


def test_bad_texts_raise_naming_the_position(constant):
    with pytest.raises(DataError, match=r"texts\[1\] is int"):
        constant.score(["fine", 3])
    with pytest.raises(DataError, match="texts must be a str or a sequence of str"):
        constant.score(None)
    with pytest.raises(ConfigError, match="batch_size"):
        constant.score(["x"], batch_size=0)


# -- loading ---------------------------------------------------------------------------------------


def test_load_accepts_the_run_directory_and_keeps_name_and_labels(constant_dir, tmp_path):
    run = tmp_path / "run"
    (run / "model").parent.mkdir()
    import shutil

    shutil.copytree(constant_dir, run / "model")
    clf = SentimentClassifier.load(run)
    assert clf.path == run / "model" and clf.name == "constant" and clf.labels == ("negative", "neutral", "positive")
    assert clf.info["format"] == "finfusion-sentiment/1"


def test_load_errors_name_the_path(tmp_path, constant_dir):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "missing")):
        SentimentClassifier.load(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match="file.txt: is a file"):
        SentimentClassifier.load(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: not a sentiment model directory"):
        SentimentClassifier.load(tmp_path / "empty")


def test_broken_manifest_and_weights_raise_data_errors(constant_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(constant_dir, broken)
    (broken / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(DataError, match=f"{MANIFEST_NAME}: is not valid JSON"):
        SentimentClassifier.load(broken)
    manifest = json.loads((constant_dir / MANIFEST_NAME).read_text())
    (broken / MANIFEST_NAME).write_text(json.dumps(manifest | {"labels": ["negative", "positive"]}))
    with pytest.raises(DataError, match="do not fit a sentiment classifier with 3 classes"):
        SentimentClassifier.load(broken)
    (broken / MANIFEST_NAME).write_text(json.dumps(manifest))
    (broken / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot load the sentiment model"):
        SentimentClassifier.load(broken)


def test_a_hugging_face_directory_with_sentiment_labels_loads_in_its_own_class_order(tiny_bert, make_model, tmp_path):
    labels = ("positive", "negative", "neutral")  # FinBERT's order
    model, tokenizer = make_model(tiny_bert, labels)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.log(torch.tensor([0.6, 0.1, 0.3])))
    model.save_pretrained(tmp_path / "hf")
    tokenizer.save_pretrained(tmp_path / "hf")
    clf = SentimentClassifier.load(tmp_path / "hf")
    assert clf.labels == labels
    np.testing.assert_allclose(clf.score(["stock rises"]), [0.6 - 0.1], atol=1e-6)
    assert clf.predict_batch("stock rises")[0]["label"] == "positive"


def test_a_hugging_face_directory_without_sentiment_labels_is_refused(tiny_bert, make_model, tmp_path):
    model, tokenizer = make_model(tiny_bert, ("negative", "positive"))
    model.config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
    model.save_pretrained(tmp_path / "hf")
    tokenizer.save_pretrained(tmp_path / "hf")
    with pytest.raises(DataError, match=r"LABEL_0.*not sentiment names"):
        SentimentClassifier.load(tmp_path / "hf")


# -- saving ----------------------------------------------------------------------------------------


def test_save_load_round_trip_without_pickle_files(rnd, word_texts, tmp_path):
    path = rnd.save(tmp_path / "copy", extra={"note": "round trip"})
    names = {p.name for p in path.iterdir()}
    assert {"model.safetensors", "config.json", MANIFEST_NAME} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    again = SentimentClassifier.load(path)
    assert again.info["note"] == "round trip" and again.max_length == rnd.max_length
    np.testing.assert_allclose(again.predict_proba(word_texts), rnd.predict_proba(word_texts), atol=1e-7)


def test_save_replaces_an_existing_directory(constant, tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    constant.save(target)
    assert not (target / "stale.txt").exists() and (target / MANIFEST_NAME).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary directory left


def test_pickling_reloads_a_saved_classifier(constant, tiny_bert, make_model):
    again = pickle.loads(pickle.dumps(constant))
    np.testing.assert_allclose(again.score(["stock rises"]), constant.score(["stock rises"]))
    model, tokenizer = make_model(tiny_bert)
    with pytest.raises(TypeError, match="unsaved SentimentClassifier cannot be pickled"):
        pickle.dumps(SentimentClassifier(model, tokenizer, ("negative", "neutral", "positive")))
