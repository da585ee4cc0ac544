"""The ONNX Runtime engine of frozen text inference (finfusion.text.onnx_engine): fp32 equals torch,
int8 stays close, exports are cached on disk and keyed by precision, the sentiment classifier's
probabilities match torch's, and impossible settings fail with a message naming what works.
(Batch invariance of the ONNX encoder: tests/text/test_batch_invariance.py, "frozen-onnx*".)"""

from __future__ import annotations

import pickle
import re
import sys

import numpy as np
import pytest
import torch

from finfusion.errors import ConfigError
from finfusion.text import onnx_engine
from finfusion.text.cache import clear_cache
from finfusion.text.encoder import TextEncoder
from finfusion.text.inference import ONNX_INSTALL, check_inference

TEXTS = ["stock rises after strong earnings", "bank cuts guidance , shares down", "the market today", "profit",
         "apple raises dividend after record quarter results , shares up", "amazon warning"]
MORE = ["sales beat , stock surges", "ceo new plan", "weak quarter , shares down"]
LABELS = ("negative", "neutral", "positive")
INT8_MIN_COSINE = 0.999  # measured on the tiny BERT: 0.99996 (MiniLM: 0.988, docs/text.md); margin for other CPUs


def vectors(texts, **kwargs) -> np.ndarray:
    return TextEncoder(kwargs.pop("model"), **kwargs).frozen_outputs(texts).values


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture
def exports(monkeypatch):
    """The list of targets `_export` wrote (each call exports one model)."""
    done, export = [], onnx_engine._export
    monkeypatch.setattr(onnx_engine, "_export", lambda module, kind, target, where: (
        done.append(target), export(module, kind, target, where))[1])
    return done


# -- the encoder --------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_fp32_onnx_vectors_equal_torch(tiny_bert, pooling):
    expected = vectors(TEXTS, model=tiny_bert, pooling=pooling)
    got = vectors(TEXTS, model=tiny_bert, pooling=pooling, engine="onnx")
    assert cosine(got, expected).min() >= 0.99999
    assert np.abs(got - expected).max() < 1e-5


def test_int8_vectors_are_close_to_fp32_and_cached_apart(tiny_bert):
    exact = vectors(TEXTS, model=tiny_bert, pooling="mean", engine="onnx")
    int8 = vectors(TEXTS, model=tiny_bert, pooling="mean", engine="onnx", precision="int8")
    assert not np.array_equal(exact, int8)  # not the fp32 vectors from the cache
    assert cosine(int8, exact).min() >= INT8_MIN_COSINE


def test_the_export_is_cached_on_disk_and_keyed_by_precision(tiny_bert, onnx_cache_dir, exports):
    vectors(TEXTS, model=tiny_bert, engine="onnx")
    assert len(exports) == 1 and exports[0].name == "fp32.onnx" and exports[0].is_file()
    assert exports[0].parent.parent == onnx_cache_dir / "onnx"
    onnx_engine.forget_sessions()  # as a new process: the session goes, the file stays
    clear_cache()
    vectors(MORE, model=tiny_bert, engine="onnx")  # texts no cache holds: the model runs
    assert len(exports) == 1
    vectors(MORE, model=tiny_bert, engine="onnx", precision="int8")
    assert len(exports) == 1  # int8 is quantised from the fp32 export, into its own file
    names = sorted(p.name for p in exports[0].parent.glob("*.onnx"))
    assert len(names) == 2 and names[0] == "fp32.onnx" and re.fullmatch(r"int8-[0-9a-f]{12}\.onnx", names[1])
    settings = {p.name.split("-", 1)[1] for p in (onnx_cache_dir / "encoder").iterdir()}
    assert any("-float32-" in s and "onnx" in s for s in settings) and any("-int8-" in s for s in settings)


def test_vectors_of_the_two_engines_never_mix(tiny_bert):
    torch_ns = TextEncoder(tiny_bert)._namespace("cls")
    onnx_ns = TextEncoder(tiny_bert, engine="onnx")._namespace("cls")
    assert torch_ns != onnx_ns and onnx_ns[-1][3].startswith("onnx")


# -- the sentiment classifier -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier_parts(tiny_bert):
    """A 3-class tiny BERT classifier whose probabilities clearly depend on the text."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = AutoModelForSequenceClassification.from_pretrained(
            tiny_bert, num_labels=3, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    with torch.no_grad():
        model.classifier.weight.mul_(300.0)
    return model, AutoTokenizer.from_pretrained(tiny_bert)


def classifier(parts, **kwargs):
    from finfusion.text.sentiment import SentimentClassifier

    model, tokenizer = parts
    return SentimentClassifier(model, tokenizer, LABELS, name="tiny", **kwargs)


def test_classifier_probabilities_onnx_equal_torch(classifier_parts):
    texts = TEXTS + MORE + ["", "stock"]  # mixed lengths: padded batches; an empty text
    expected = classifier(classifier_parts).predict_proba(texts, batch_size=4)
    got = classifier(classifier_parts, engine="onnx").predict_proba(texts, batch_size=4)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-12)
    assert expected.std(0).max() > 0.05  # the probabilities depend on the text


def test_int8_classifier_scores_close_to_fp32_in_any_batch(classifier_parts):
    clf = classifier(classifier_parts, engine="onnx", precision="int8")
    together = clf.predict_proba(TEXTS, batch_size=8)  # padded batches: fixed scales, so no other text's range
    alone = np.concatenate([clf.predict_proba([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together.sum(1), 1.0, atol=1e-12)
    exact = classifier(classifier_parts).predict_proba(TEXTS)
    assert np.abs(together - exact).max() < 0.1
    assert "engine='onnx', precision='int8'" in repr(clf)


def test_a_loaded_onnx_classifier_keeps_its_engine_when_pickled(classifier_parts, tmp_path):
    from finfusion.text.scorers import load_scorer, scorer_key
    from finfusion.text.sentiment import SentimentClassifier

    path = classifier(classifier_parts).save(tmp_path / "model")
    clf = SentimentClassifier.load(path, engine="onnx")
    again = pickle.loads(pickle.dumps(clf))
    assert (again.engine, again.precision) == ("onnx", "fp32")
    np.testing.assert_allclose(again.predict_proba(TEXTS), SentimentClassifier.load(path).predict_proba(TEXTS),
                               atol=1e-5)
    assert load_scorer(path, engine="onnx", precision="int8").precision == "int8"
    assert scorer_key(path) != scorer_key(path, "onnx", "int8")


# -- errors -----------------------------------------------------------------------------------------


def test_onnx_without_onnxruntime_names_the_extra(tiny_bert, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"onnxruntime.*not installed: " + ONNX_INSTALL.replace("[", r"\[")):
        TextEncoder(tiny_bert, engine="onnx")
    from finfusion.models.registry import make_predictor

    with pytest.raises(ConfigError, match=r"finfusion\[onnx\]"):
        make_predictor("text_only", {"tuning": "frozen", "encoder_engine": "onnx"})


@pytest.mark.parametrize(("engine", "precision", "tuning", "message"), [
    ("onnx", "bf16", "frozen", r"'bf16' needs engine 'torch'; engine 'onnx' offers 'fp32' and 'int8'"),
    ("torch", "int8", "frozen", r"'int8' needs engine 'onnx'; engine 'torch' offers 'fp32' and 'bf16'"),
    ("onnx", "fp32", "lora", r"engine 'onnx' runs frozen inference only.*tuning 'lora'"),
    ("onnx", "fp32", "top_k", r"engine 'onnx' runs frozen inference only"),
    ("torch", "int8", "top_k", r"'int8' applies to the pooled vectors of tuning 'frozen'"),
    ("torch", "bf16", "full", r"tuning 'full' trains the whole encoder in float32"),
])
def test_impossible_combinations_are_config_errors(engine, precision, tuning, message):
    with pytest.raises(ConfigError, match=message):
        check_inference(engine, precision, target="encoder", tuning=tuning, where="test")


def test_bad_settings_fail_where_they_are_configured(tiny_bert, tmp_path):
    from pydantic import ValidationError

    from finfusion.features.sentiment import SentimentSpec
    from finfusion.models.registry import make_predictor

    with pytest.raises(ConfigError, match="engine 'onnx' runs frozen inference only"):
        make_predictor("fusion", {"tuning": "lora", "encoder_engine": "onnx"})
    with pytest.raises(ConfigError, match="runs on the CPU"):
        TextEncoder(tiny_bert, engine="onnx", device="cuda")
    with pytest.raises(ValidationError, match="is a lexicon: engine='onnx'"):
        SentimentSpec(scorer="vader", engine="onnx")
    with pytest.raises(ValidationError, match="'bf16' needs engine 'torch'"):
        SentimentSpec(scorer=str(tmp_path), engine="onnx", precision="bf16")
    assert SentimentSpec(scorer=str(tmp_path), engine="onnx", precision="int8").precision == "int8"
    assert make_predictor("news", {"encoder_engine": "onnx", "encoder_precision": "int8"}).encoder_engine == "onnx"
