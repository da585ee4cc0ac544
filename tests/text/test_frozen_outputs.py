"""Frozen encoder outputs as a shareable input (issue 18): computed once by a driver, shipped
(pickled) to workers and seeded into their store, so a worker's fit / predict runs no encoder."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from finfusion.errors import ConfigError
from finfusion.models.base import Samples
from finfusion.models.mlp import MLPPredictor
from finfusion.models.newsflow import NewsPredictor
from finfusion.models.text_models import FusionPredictor, TextOnlyPredictor
from finfusion.text.cache import FrozenOutputs, cache_info, clear_cache, seed
from finfusion.text.encoder import TextEncoder
from finfusion.text.encoding import encoding_key

WORDS = ("shares surge after strong earnings", "stock rallies on upbeat guidance", "record profit lifts the stock",
         "shares slump after weak earnings", "stock tumbles on profit warning", "losses drag the stock down")


def make_samples(n: int = 48, seed_: int = 0) -> Samples:
    """A small regression problem whose texts (and news items, 0-3 per sample) carry the sign of y."""
    rng = np.random.default_rng(seed_)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = X @ np.array([1.0, -0.5, 0.2]) + 0.1 * rng.normal(size=n)
    items = tuple(tuple(f"{WORDS[(3 if y[i] < 0 else 0) + rng.integers(3)]} {k}" for k in range(rng.integers(4)))
                  for i in range(n))
    texts = tuple(" . ".join(sample) for sample in items)  # "" where a sample has no news
    index = pd.DataFrame({"date": pd.bdate_range("2022-01-03", periods=n), "ticker": "AAA"})
    return Samples(index=index, X=X, y=y, feature_names=("f0", "f1", "f2"), texts=texts, text_items=items)


@pytest.fixture
def params(tiny_bert):
    return {"model": str(tiny_bert), "tuning": "frozen", "hidden": 8, "epochs": 2, "batch_size": 16,
            "max_length": 16}


def _refuse_encoding(monkeypatch):
    def refuse(self, tokens):
        raise AssertionError(f"encoded {len(tokens)} texts although they were seeded")

    monkeypatch.setattr(TextEncoder, "_encode", refuse)


def _fit_predict(model, data: Samples) -> np.ndarray:
    """A unit's work: fit on the first rows, predict the rest."""
    return model.fit(data.subset(slice(0, 36))).predict(data.subset(slice(36, None)))


def _shipped(outputs: list[FrozenOutputs]) -> list[FrozenOutputs]:
    """What a worker receives: the driver's outputs after a pickle round trip, in a fresh process."""
    received = pickle.loads(pickle.dumps(outputs))
    clear_cache()
    return received


@pytest.mark.parametrize("make", [FusionPredictor, TextOnlyPredictor])
def test_seeded_worker_encodes_nothing_and_predicts_the_same(make, params, monkeypatch):
    data = make_samples()
    if make is FusionPredictor:
        params = {**params, "heads": 2}
    expected = _fit_predict(make(**params), data)  # a worker computing its own vectors
    clear_cache()
    outputs = _shipped(make(**params).frozen_text_outputs(data))  # the driver, once per run
    seed(outputs)
    _refuse_encoding(monkeypatch)
    got = _fit_predict(make(**params), data)
    np.testing.assert_array_equal(got, expected)
    info = cache_info()
    assert info.kind("pooled").seeded == len(set(data.texts)) and info.kind("pooled").computed == 0
    assert info.kind("tokens").computed == 0  # a seeded text is not even tokenised


def test_outputs_hold_exactly_the_distinct_texts_with_their_vectors(params):
    data = make_samples()
    (outputs,) = TextOnlyPredictor(**params).frozen_text_outputs(data)
    assert outputs.texts == tuple(dict.fromkeys(data.texts))  # distinct, first-seen order
    assert outputs.values.shape == (len(outputs.texts), 32) and outputs.values.dtype == np.float32
    encoder = TextEncoder(params["model"], pooling="mean", max_length=16)
    np.testing.assert_array_equal(outputs.values, encoder.embed(list(outputs.texts)))
    # the namespace a worker with the same thread count looks up (issue 18: the runner must match it)
    assert outputs.namespace == encoder._namespace("mean")
    assert outputs.namespace[-1] == encoding_key(encoder.encode_device, "pooled")


def test_frozen_outputs_survive_a_pickle_round_trip(params):
    (outputs,) = TextOnlyPredictor(**params).frozen_text_outputs(make_samples(n=12))
    back = pickle.loads(pickle.dumps(outputs))
    assert isinstance(back, FrozenOutputs)
    assert back.namespace == outputs.namespace and back.texts == outputs.texts
    assert back.values.dtype == outputs.values.dtype
    np.testing.assert_array_equal(back.values, outputs.values)
    assert len(back) == len(outputs.texts) and "n=" in repr(back)


def test_seed_is_idempotent_and_copies_rows(params):
    (outputs,) = TextOnlyPredictor(**params).frozen_text_outputs(make_samples(n=12))
    clear_cache()
    seed([outputs])
    once = cache_info()
    seed([outputs, outputs])
    twice = cache_info()
    assert (twice.entries, twice.bytes, twice.kind("pooled").seeded) == (once.entries, once.bytes, len(outputs))
    outputs.values[:] = 0.0  # the store holds copies, not views of the shipped array
    stored = TextEncoder(params["model"], pooling="mean", max_length=16).embed(list(outputs.texts))
    assert np.abs(stored).sum() > 0


@pytest.mark.parametrize("bad, message", [
    ({"texts": ("a", "b"), "values": np.zeros((3, 4), np.float32)}, "one row per text"),
    ({"texts": ("a", "a"), "values": np.zeros((2, 4), np.float32)}, "distinct"),
    ({"texts": ["a"], "values": np.zeros((1, 4), np.float32)}, "tuple of str"),
    ({"namespace": (), "texts": ("a",), "values": np.zeros((1, 4), np.float32)}, "non-empty tuple"),
])
def test_frozen_outputs_reject_malformed_contents(bad, message):
    with pytest.raises(ValueError, match=message):
        FrozenOutputs(**{"namespace": ("pooled", "m"), **bad})
    with pytest.raises(TypeError, match="expected FrozenOutputs"):
        seed([("pooled", "m")])


@pytest.mark.parametrize("tuning", ["top_k", "full", "lora"])
def test_tunings_without_shareable_outputs_give_none(params, tuning):
    model = TextOnlyPredictor(**{**params, "tuning": tuning, "top_k": 1})
    assert model.frozen_text_outputs(make_samples(n=12)) == []
    assert cache_info().entries == 0  # nothing was computed for it


def test_the_encoder_offers_frozen_outputs_of_frozen_tuning_only(tiny_bert):
    with pytest.raises(ConfigError, match="needs tuning='frozen', got 'top_k'"):
        TextEncoder(tiny_bert, tuning="top_k", top_k=1).frozen_outputs(["a text"])


def test_models_without_text_give_none():
    assert MLPPredictor().frozen_text_outputs(make_samples(n=12)) == []


@pytest.mark.parametrize("newsflow", ["items", "joined"])
def test_seeded_newsflow_model_encodes_nothing(params, newsflow, monkeypatch):
    data = make_samples()
    news = {**params, "newsflow": newsflow, "max_news_items": 2, "dropout": 0.0, "lr_schedule": "constant"}
    expected = _fit_predict(NewsPredictor(**news), data)
    clear_cache()
    (outputs,) = _shipped(NewsPredictor(**news).frozen_text_outputs(data))
    if newsflow == "items":  # each news item (the newest two of a sample), not the joined strings
        wanted = {t for sample in data.text_items for t in sample[-2:]}
    else:
        wanted = set(data.texts)
    assert set(outputs.texts) == wanted
    seed([outputs])
    _refuse_encoding(monkeypatch)
    np.testing.assert_array_equal(_fit_predict(NewsPredictor(**news), data), expected)


def test_another_thread_count_is_another_namespace(params, monkeypatch):
    """Vectors computed with another torch thread count are not used (the worker encodes them)."""
    data = make_samples(n=12)
    (outputs,) = TextOnlyPredictor(**params).frozen_text_outputs(data)
    clear_cache()
    seed([outputs])
    threads = torch.get_num_threads()
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads + 1)
    encoder = TextEncoder(params["model"], pooling="mean", max_length=16)
    assert encoder._namespace("mean") != outputs.namespace
    encoder.inputs(list(data.texts))
    assert cache_info().kind("pooled").computed > 0
