"""Seed-001 newsflow models: the no-news rules, modality weights, the mixture's two trainings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from finfusion.errors import ConfigError
from finfusion.models.newsflow import _per_epoch
from finfusion.models.newsflow_nets import FactorsBlock, MixtureNet, NewsRepresentation
from finfusion.models.registry import make_predictor


def _with_empty_news(samples, every: int = 3):
    texts = tuple("" if i % every == 0 else t for i, t in enumerate(samples.texts))
    from dataclasses import replace

    return replace(samples, texts=texts)


def test_factors_block_is_two_dense_layers_with_a_skip():
    block = FactorsBlock(3, 4)
    x = torch.randn(5, 3)
    h = torch.relu(block.first(x))
    torch.testing.assert_close(block(x), h + torch.relu(block.second(h)))


def test_no_news_rules_replace_the_representation_of_empty_newsflows():
    rep = NewsRepresentation(4, "embedding")
    with torch.no_grad():
        rep.empty.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    h = torch.randn(3, 4)
    out = rep(h, torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(out[1], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(out[0], rep.norm(h)[0])
    masked = NewsRepresentation(4, "mask")(h, torch.tensor([0.0, 1.0, 1.0]))
    assert torch.all(masked[0] == 0)


def test_attention_weights_sum_to_one_and_mask_gives_no_weight_to_missing_news(make_samples, fast_params):
    data = _with_empty_news(make_samples("regression", n=120, d=3, with_text=True, seed=2))
    model = make_predictor("fusion_attention", fast_params("fusion_attention", no_news="mask", epochs=2)).fit(data)
    weights = model.predict_attention(data)[:, 0]  # (n, 2): a_f, a_n
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    empty = np.array([t == "" for t in data.texts])
    assert np.all(weights[empty, 1] == 0.0) and np.all(weights[~empty, 1] > 0.0)
    assert model.token_names() == ["factors", "news"]


def test_bad_rules_and_modes_fail_at_fit(make_samples, fast_params):
    data = make_samples("regression", n=60, d=3, with_text=True)
    with pytest.raises(ConfigError, match="no_news"):
        make_predictor("fusion_concat", fast_params("fusion_concat", no_news="drop")).fit(data)
    with pytest.raises(ConfigError, match="mode"):
        make_predictor("mixture", fast_params("mixture", mode="joint")).fit(data)
    with pytest.raises(ConfigError, match="tau"):
        make_predictor("mixture", fast_params("mixture", tau=0.0)).fit(data)


class _Encoder(torch.nn.Module):
    hidden_size = 2

    def forward(self, batch):
        return batch["h"]


def _mixture(mode: str) -> MixtureNet:
    torch.manual_seed(0)
    return MixtureNet(_Encoder(), "embedding", d_f=2, hidden=4, n_outputs=None, dropout=0.0, mode=mode, tau=0.5)


def _batch() -> dict:
    return {"x": torch.randn(6, 2), "h": torch.randn(6, 2), "has_news": torch.ones(6), "y": torch.randn(6)}


def test_decoupled_loss_is_the_components_errors_plus_kl_to_the_error_softmax():
    net, batch = _mixture("decoupled"), _batch()
    net.train()
    out = net(batch)
    g_f, g_u, logits = net.parts(batch)
    e_f, e_u = (batch["y"] - g_f) ** 2, (batch["y"] - g_u) ** 2
    q = torch.softmax(torch.stack([-e_f, -e_u], dim=-1) / 0.5, dim=-1)
    p = torch.softmax(logits, dim=-1)
    kl = (p * (p.log() - q.log())).sum(-1).mean()
    torch.testing.assert_close(out["aux_loss"], e_f.mean() + e_u.mean() + kl)
    assert not out["pred"].requires_grad  # the trainer's loss on the mixture trains nothing
    torch.testing.assert_close(out["pred"], p[:, 0] * g_f + p[:, 1] * g_u)


def test_decoupled_gradients_keep_components_and_gate_apart():
    net, batch = _mixture("decoupled"), _batch()
    net.train()
    out = net(batch)
    # the gate's gradient comes from the KL term only: the components' errors are detached in q
    out["aux_loss"].backward()
    gate_grad = net.gate.weight.grad.clone()
    net.zero_grad()
    g_f, g_u, logits = net.parts(batch)
    e_f, e_u = ((batch["y"] - g_f) ** 2).detach(), ((batch["y"] - g_u) ** 2).detach()
    q = torch.softmax(torch.stack([-e_f, -e_u], dim=-1) / 0.5, dim=-1)
    p = torch.softmax(logits, dim=-1)
    (p * (p.log() - q.log())).sum(-1).mean().backward()
    torch.testing.assert_close(net.gate.weight.grad, gate_grad)


def test_conventional_mixture_trains_on_the_mixture_prediction():
    net, batch = _mixture("conventional"), _batch()
    net.train()
    out = net(batch)
    assert isinstance(out, torch.Tensor) and out.requires_grad
    assert len(net.log) == 1 and net.log[0][0] == 6


def test_mixture_records_component_error_curves_per_epoch(make_samples, fast_params):
    data = make_samples("regression", n=96, d=3, with_text=True, seed=3)
    for mode in ("conventional", "decoupled"):
        model = make_predictor("mixture", fast_params("mixture", mode=mode, epochs=4, batch_size=32)).fit(data)
        history = model.component_history_
        assert list(history.columns) == ["epoch", "factors", "fusion", "mixture"] and len(history) == 4
        assert np.isfinite(history[["factors", "fusion", "mixture"]].to_numpy()).all()
        # the mixture column is the trainer's reported training loss (the same squared error)
        np.testing.assert_allclose(history["mixture"], model.history_.train_loss, rtol=1e-5)
        gate = model.predict_attention(data)[:, 0]
        np.testing.assert_allclose(gate.sum(axis=1), 1.0, atol=1e-6)
        parts = model.predict_components(data)
        assert list(parts.columns) == ["factors", "fusion"] and len(parts) == len(data)


def test_per_epoch_means_weight_batches_by_their_size():
    log = [(2, 2.0, 4.0, 1.0), (1, 1.0, 1.0, 1.0), (3, 3.0, 3.0, 0.0), (1, 1.0, 1.0, 1.0)]
    table = _per_epoch(log, 2)
    assert table["factors"].tolist() == [1.0, 1.0]
    assert table["fusion"].tolist() == [5 / 3, 1.0]
    assert table["mixture"].tolist() == [2 / 3, 0.25]
    assert math.isclose(_per_epoch([], 0).shape[0], 0)


def test_segment_mean_and_softmax_by_hand():
    from finfusion.models.newsflow_nets import segment_mean, segment_softmax

    values = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    owner = torch.tensor([0, 0, 2])
    torch.testing.assert_close(segment_mean(values, owner, 3), torch.tensor([[2.0, 3.0], [0.0, 0.0], [5.0, 6.0]]))
    alpha = segment_softmax(torch.tensor([0.0, math.log(3.0), 5.0]), owner, 3)
    torch.testing.assert_close(alpha, torch.tensor([0.25, 0.75, 1.0]))


def _items_samples(make_samples):
    from dataclasses import replace

    data = make_samples("regression", n=60, d=3, with_text=True, seed=4)
    items = tuple(() if i % 4 == 0 else (f"item {i % 5}", f"other {i % 3}", t) for i, t in enumerate(data.texts))
    return replace(data, text_items=items)


def test_items_collate_gathers_each_distinct_item_once(make_samples, fast_params):
    data = _items_samples(make_samples)
    model = make_predictor("news", fast_params("news", tuning="frozen", epochs=1, max_news_items=2)).fit(data)
    dataset = model._dataset(data.subset(np.arange(8)), None)
    batch = dataset.collate(dataset.__getitems__(list(range(8))))
    owner, pos = batch["item_owner"].numpy(), batch["item_pos"].numpy()
    # sample 0 and 4 have no items; the others keep their newest 2
    assert np.bincount(owner, minlength=8).tolist() == [0, 2, 2, 2, 0, 2, 2, 2]
    assert len(batch["text_emb"]) == len(np.unique(pos)) <= len(pos)
    assert batch["has_news"].tolist() == [0, 1, 1, 1, 0, 1, 1, 1]
    unique = np.unique(np.concatenate([dataset.item_ids[r] for r in range(8)]))
    pair_texts = [dataset.text_inputs.texts[unique[p]] for p in pos]  # the text behind each pair's vector
    for b in range(8):
        mine = [t for t, o in zip(pair_texts, owner) if o == b]
        assert tuple(mine) == tuple(t for t in data.text_items[b] if t.strip())[-2:]  # newest two, in order
    assert len(model.predict(data)) == len(data)


def test_finin_weights_sum_to_one_per_sample_and_empty_newsflows_get_the_no_news_vector(make_samples, fast_params):
    data = _items_samples(make_samples)
    model = make_predictor("finin", fast_params("finin", tuning="frozen", epochs=2)).fit(data)
    dataset = model._dataset(data, None)
    batch = dataset.collate(dataset.__getitems__(list(range(len(data)))))
    model.module_.eval()
    with torch.no_grad():
        attended, alpha = model.module_.attend(batch)
    sums = torch.zeros(len(data)).index_add_(0, batch["item_owner"], alpha)
    has = batch["has_news"] > 0
    torch.testing.assert_close(sums[has], torch.ones(int(has.sum())))
    torch.testing.assert_close(attended[~has], model.module_.empty.expand(int((~has).sum()), -1))


def test_samples_without_items_count_the_newsflow_string_as_one_item(make_samples):
    from finfusion.models.newsflow import news_items

    data = make_samples("regression", n=10, d=2, with_text=True)
    items = news_items(data, max_items=5)
    assert items == [(t,) if t.strip() else () for t in data.texts]
    with pytest.raises(ConfigError, match="newsflow"):
        make_predictor("news", {"newsflow": "bag"}).fit(data)
