"""The on-disk cache of the encoder's pooled frozen vectors: a new process reads them instead of
running the model, the values are the computed ones, and only frozen tuning of a local model uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finfusion.text import disk_cache
from finfusion.text.cache import clear_cache
from finfusion.text.disk_cache import CACHE_ENV
from finfusion.text.encoder import TextEncoder

TEXTS = ["stock rises after strong earnings", "bank cuts guidance", "the market today", "stock rises after strong earnings"]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    clear_cache()
    yield tmp_path / "cache"
    clear_cache()
    disk_cache._cache.cache_clear()


def vectors(encoder, texts):
    """The pooled vectors of the distinct texts, as a batch gets them."""
    inputs = encoder.inputs(texts)
    return inputs.collate(np.arange(len(inputs)))["text_emb"]


def _as_new_process():
    clear_cache()  # the in-memory store
    disk_cache._cache.cache_clear()  # the rows read from disk


def _refuse_encoding(monkeypatch):
    def refuse(self, tokens):
        raise AssertionError(f"encoded {len(tokens)} texts although they were cached on disk")

    monkeypatch.setattr(TextEncoder, "_encode", refuse)


def test_pooled_vectors_come_back_from_disk_equal(tiny_bert, cache_dir, monkeypatch):
    fresh = vectors(TextEncoder(tiny_bert), TEXTS)
    assert fresh.shape == (3, 32)
    settings = f"L128-cls-float32-cpu-r8-t{torch.get_num_threads()}"  # what the values depend on
    assert [p.parent.name.split("-", 1)[1] for p in cache_dir.glob("encoder/*/part-*.keys.npy")] == [settings]
    _as_new_process()
    _refuse_encoding(monkeypatch)
    assert torch.equal(vectors(TextEncoder(tiny_bert), TEXTS), fresh)


def test_only_new_texts_are_encoded(tiny_bert, cache_dir, monkeypatch):
    TextEncoder(tiny_bert).inputs(TEXTS[:2])
    _as_new_process()
    seen = []
    encode = TextEncoder._encode
    monkeypatch.setattr(TextEncoder, "_encode", lambda self, tokens: (seen.append(len(tokens)), encode(self, tokens))[1])
    TextEncoder(tiny_bert).inputs(TEXTS)
    assert seen == [1]


def test_values_equal_an_uncached_encoder(tiny_bert, cache_dir, monkeypatch):
    TextEncoder(tiny_bert, max_length=4).inputs(TEXTS)
    _as_new_process()
    cached = vectors(TextEncoder(tiny_bert, max_length=4), TEXTS)
    monkeypatch.setenv(CACHE_ENV, "off")
    _as_new_process()
    np.testing.assert_array_equal(vectors(TextEncoder(tiny_bert, max_length=4), TEXTS).numpy(), cached.numpy())
    assert vectors(TextEncoder(tiny_bert, max_length=4), TEXTS).shape == (3, 32)


def test_top_k_states_and_changed_weights_are_not_cached(tiny_bert, cache_dir):
    TextEncoder(tiny_bert, tuning="top_k", top_k=1).inputs(TEXTS)
    assert not list(cache_dir.glob("encoder/*/part-*"))
    enc = TextEncoder(tiny_bert)
    backbone = enc._backbone
    try:
        with torch.no_grad():
            next(backbone.model.parameters()).add_(0.0)  # an in-place update, even a no-op one
        assert backbone.disk_key.current() is None
        enc.inputs(TEXTS)
        assert not list(cache_dir.glob("encoder/*/part-*"))
    finally:
        backbone.disk_key._state = disk_cache.module_state(backbone.model)  # the shared backbone of later tests


def test_each_pooling_has_its_own_cache(tiny_bert, cache_dir):
    cls = vectors(TextEncoder(tiny_bert), TEXTS)
    _as_new_process()
    mean = vectors(TextEncoder(tiny_bert, pooling="mean"), TEXTS)
    assert not torch.allclose(mean, cls)
    assert len({p.parent for p in cache_dir.glob("encoder/*/part-*.keys.npy")}) == 2
