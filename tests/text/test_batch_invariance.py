"""Cached frozen outputs are a function of the text alone: the lower-layer states (top_k) and the
pooled vectors (frozen) of a text are bit-identical whether it is encoded alone, among other texts
of other lengths, in another order, in a larger fill, or after the cache already holds some texts.

This is what makes a resumed rolling run equal an uninterrupted one: there the cache fills fold
by fold, after a resume it fills with all the texts up to the resume fold at once.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finfusion.text import encoding
from finfusion.text.cache import clear_cache, configure_cache
from finfusion.text.encoder import TextEncoder
from finfusion.text.encoding import packed_rows, plan_batches, plan_packed, slot
from finfusion.text.tokens import token_ids

WORDS = "the stock price rises falls after strong weak earnings bank shares guidance today apple amazon".split()


def corpus(n: int, seed: int = 0) -> list[str]:
    """`n` distinct texts: half of 1..3 words (many texts per token length: several calls of one
    length, slot collisions), half of 1..24 words (many lengths)."""
    rng = np.random.default_rng(seed)
    texts: dict[str, None] = {}
    while len(texts) < n:
        words = int(rng.integers(1, 4)) if len(texts) % 2 else int(rng.integers(1, 25))
        texts[" ".join(rng.choice(WORDS, size=words))] = None
    return list(texts)


TEXTS = corpus(60)


def frozen_outputs(make, texts: list[str]) -> dict[str, np.ndarray]:
    """What the cache holds for each distinct text: pooled vectors (H,) or unpadded states (L, H)."""
    enc = make()
    inputs = enc.inputs(texts)
    if enc.tuning == "frozen":
        emb = inputs.collate(np.arange(len(inputs)))["text_emb"].numpy()
        return dict(zip(inputs.texts, emb))
    return {t: inputs.collate([i])["hidden"][0].numpy() for i, t in enumerate(inputs.texts)}


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    differ = [t for t in got if not np.array_equal(got[t], expected[t])]
    worst = max((float(np.abs(got[t] - expected[t]).max()) for t in differ), default=0.0)
    assert not differ, f"{len(differ)} of {len(got)} texts differ (max {worst:.3g}), e.g. {differ[0]!r}"


ENCODERS = {
    "frozen-cls": dict(tuning="frozen", pooling="cls"),
    "frozen-mean": dict(tuning="frozen", pooling="mean"),
    "frozen-bf16": dict(tuning="frozen", pooling="mean", precision="bf16"),
    "frozen-onnx": dict(tuning="frozen", pooling="mean", engine="onnx"),  # ONNX Runtime, same calls
    "frozen-onnx-int8": dict(tuning="frozen", pooling="cls", engine="onnx", precision="int8"),  # packed, fixed scales
    "top_k-f16": dict(tuning="top_k", top_k=1),
    "top_k-f32": dict(tuning="top_k", top_k=1),
    "top_k-f32-rows8": dict(tuning="top_k", top_k=2),  # states in calls of 8 texts, as pooled vectors
}


@pytest.mark.parametrize("name", list(ENCODERS))
def test_a_text_encodes_the_same_in_any_company(tiny_bert, name, monkeypatch):
    configure_cache(state_dtype="float16" if name.endswith("f16") else "float32")
    if name.endswith("rows8"):
        monkeypatch.setitem(encoding.ROWS, ("cpu", "states"), 8)

    def make():
        return TextEncoder(tiny_bert, **ENCODERS[name])

    alone = {}
    for text in TEXTS:  # each text on its own: the reference
        clear_cache()
        alone.update(frozen_outputs(make, [text]))
    fills = {
        "all at once": [TEXTS],
        "reversed": [TEXTS[::-1]],
        "shuffled": [list(np.random.default_rng(1).permutation(TEXTS))],
        "fold by fold": [TEXTS[i : i + 7] for i in range(0, len(TEXTS), 7)],
        "cache holds some": [TEXTS[::3], TEXTS],
    }
    for label, calls in fills.items():
        clear_cache()
        got: dict[str, np.ndarray] = {}
        for texts in calls:
            got.update(frozen_outputs(make, texts))
        assert set(got) == set(TEXTS)
        try:
            assert_same(got, alone)
        except AssertionError as err:
            raise AssertionError(f"{name}, {label}: {err}") from None


def test_lengths_repeat_so_fills_share_batches(tiny_bert):
    """The corpus exercises what changes numerics: many lengths and many texts per length."""
    tokens = token_ids(TextEncoder(tiny_bert)._backbone, TEXTS, 128)
    counts = np.bincount([len(t) for t in tokens])
    assert (counts > 0).sum() >= 15 and counts.max() > 8  # many lengths; more texts of one length than rows
    slots = {(len(t), slot(t, 8)) for t in tokens}
    assert len(slots) < len(tokens)  # and two texts of one length in one slot


@pytest.mark.parametrize("kwargs", [dict(tuning="top_k", top_k=2), dict(tuning="frozen", pooling="mean"),
                                    dict(tuning="frozen", pooling="mean", engine="onnx"),
                                    dict(tuning="frozen", pooling="mean", engine="onnx", precision="int8")],
                         ids=["top_k", "frozen", "frozen-onnx-packed", "frozen-onnx-int8-packed"])
def test_the_bundled_model_is_batch_invariant_too(kwargs):
    """all-MiniLM-L6-v2 (H = 384: the matrix shapes of real runs), where padding changed cached
    float16 states by a whole ulp (1e-3)."""
    texts = corpus(24, seed=3)
    alone = {}
    for text in texts:
        clear_cache()
        alone.update(frozen_outputs(lambda: TextEncoder(**kwargs), [text]))  # noqa: B023 (called at once)
    clear_cache()
    assert_same(frozen_outputs(lambda: TextEncoder(**kwargs), texts[::-1]), alone)


# -- the batch plan ------------------------------------------------------------------------------------

def test_each_distinct_token_array_is_planned_once_at_its_own_slot():
    rng = np.random.default_rng(0)
    tokens = [rng.integers(0, 50, size=int(rng.integers(2, 6))).astype(np.int32) for _ in range(200)]
    tokens += [tokens[0].copy(), tokens[5].copy()]  # equal token ids: planned once
    distinct = {t.tobytes() for t in tokens}
    for rows in (1, 3, 8):
        batches = plan_batches(tokens, rows)
        owners = []
        for batch in batches:
            assert batch.shape == (rows,) and len({len(tokens[i]) for i in batch}) == 1  # no padding
            members = {int(i) for i in batch}
            assert all(batch[slot(tokens[i], rows)] == i for i in members)  # other rows repeat a member
            owners += members
        assert len(owners) == len(set(owners)) == len(distinct)
        assert {tokens[i].tobytes() for i in owners} == distinct
        again = plan_batches(tokens, rows)
        assert len(again) == len(batches) and all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_a_packed_plan_holds_each_distinct_array_once_in_same_length_calls():
    rng = np.random.default_rng(0)
    tokens = [rng.integers(0, 50, size=int(rng.integers(2, 6))).astype(np.int32) for _ in range(200)]
    tokens += [tokens[0].copy(), tokens[5].copy()]  # equal token ids: planned once
    batches = plan_packed(tokens, 16)
    owners = [int(i) for b in batches for i in b]
    assert len(owners) == len(set(owners)) == len({t.tobytes() for t in tokens})
    assert all(1 <= len(b) <= 16 and len({len(tokens[i]) for i in b}) == 1 for b in batches)
    n_lengths = len({len(t) for t in tokens})
    assert len(batches) == sum(-(-sum(len(t) == n and i in owners for i, t in enumerate(tokens)) // 16)
                               for n in {len(t) for t in tokens}) and n_lengths == 4
    assert packed_rows("onnx", "fp32") == 64 == packed_rows("onnx", "int8") and packed_rows() is None


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnx_fills_pack_many_texts_per_call(tiny_bert, monkeypatch, precision):
    """The invariance tests above cover packed calls only if calls hold several texts."""
    sizes = []
    real = encoding.encode_frozen

    def spy(model, tokens, **kwargs):
        out = real(model, tokens, on_batch=sizes.append, **{k: v for k, v in kwargs.items() if k != "on_batch"})
        return out

    monkeypatch.setattr("finfusion.text.encoder.encode_frozen", spy)
    clear_cache()
    TextEncoder(tiny_bert, engine="onnx", precision=precision).inputs(TEXTS)
    assert max(sizes) > 8 and sum(sizes) == len(TEXTS)


def test_the_cache_keys_name_device_rows_and_threads(tiny_bert, monkeypatch):
    enc = TextEncoder(tiny_bert, tuning="top_k", top_k=1, device="cpu")
    key = enc._namespace(None)[-1]
    assert key == ("cpu", 1, torch.get_num_threads(), "torch", "fp32")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 7)
    assert enc._namespace(None)[-1] == ("cpu", 1, 7, "torch", "fp32")
    assert TextEncoder(tiny_bert, device="cpu")._namespace("cls")[-1] == ("cpu", 8, 7, "torch", "fp32")
    onnx = TextEncoder(tiny_bert, engine="onnx", precision="int8")._namespace("cls")[-1]
    assert onnx[:3] == ("cpu", 1, 7) and onnx[3].startswith("onnx") and onnx[4] == "int8"  # onnx: packed calls
    assert "-c" in onnx[3] and "-c" not in TextEncoder(tiny_bert, engine="onnx")._namespace("cls")[-1][3]  # calibration


@pytest.mark.parametrize("tuning", ["frozen", "top_k"])
def test_texts_with_equal_token_ids_are_encoded_once_and_agree(tiny_bert, tuning):
    enc = TextEncoder(tiny_bert, tuning=tuning, top_k=1)
    texts = ["stock rises zzz", "stock rises qqq", "STOCK rises zzz", "bank falls"]  # unknown words: [UNK]
    tokens = token_ids(enc._backbone, texts, 128)
    assert np.array_equal(tokens[0], tokens[1]) and np.array_equal(tokens[0], tokens[2])
    out = enc._encode(tokens)
    values = out["cls"] if tuning == "frozen" else out["states"]
    assert values[0] is values[1] is values[2] and not np.array_equal(values[0][:1], values[3][:1])
    clear_cache()
    alone = frozen_outputs(lambda: TextEncoder(tiny_bert, tuning=tuning, top_k=1), [texts[1]])[texts[1]]
    clear_cache()
    together = frozen_outputs(lambda: TextEncoder(tiny_bert, tuning=tuning, top_k=1), texts)
    assert all(np.array_equal(together[t], alone) for t in texts[:3])
