"""The per-tweet attention newsflow option (news_pooling="attention", issue 22) of the seed-001 models."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from finfusion.errors import ConfigError
from finfusion.models.base import Samples
from finfusion.models.newsflow import news_items
from finfusion.models.newsflow_nets import ItemAttention, encode_newsflow, segment_mean, segment_softmax
from finfusion.models.registry import load_predictor, make_predictor

NEUTRAL = ("the a stock shares price company bank reports quarter results market today apple amazon sales ceo "
           "new plan dividend outlook").split()
POSITIVE = ("shares surge after strong earnings", "stock rallies on upbeat guidance", "record profit lifts the stock")
NEGATIVE = ("shares slump after weak earnings", "stock tumbles on profit warning", "losses drag the stock down")


def _items_samples(make_samples, n: int = 48) -> Samples:
    """Regression samples with 0-3 items each (every fourth sample has none)."""
    data = make_samples("regression", n=n, d=3, with_text=True, seed=4)
    items = tuple(() if i % 4 == 0 else (f"item {i % 5}", f"other {i % 3}", t)[: 1 + i % 3]
                  for i, t in enumerate(data.texts))
    return replace(data, text_items=items)


def _planted(n: int, k: int, seed: int) -> tuple[Samples, np.ndarray]:
    """k items per sample: k-1 random neutral tweets and one signal tweet (at a random position)
    whose wording says the label (1: a rise); the numeric features are pure noise."""
    rng = np.random.default_rng(seed)
    up = rng.random(n) < 0.5
    items, where = [], rng.integers(k, size=n)
    for i in range(n):
        noise = [" ".join(rng.choice(NEUTRAL, size=5)) for _ in range(k - 1)]
        signal = (POSITIVE if up[i] else NEGATIVE)[rng.integers(3)]
        items.append(tuple(noise[: where[i]] + [signal] + noise[where[i]:]))
    index = pd.DataFrame({"date": pd.bdate_range("2021-01-04", periods=n), "ticker": "AAA"})
    samples = Samples(index=index, X=rng.normal(size=(n, 2)).astype(np.float32), y=up.astype(np.int64),
                      feature_names=("f0", "f1"), task="classification",
                      texts=tuple(" ".join(t) for t in items), text_items=tuple(items))
    return samples, where


# --------------------------------------------------------------------------- by hand


def test_segment_softmax_by_hand_unsorted_owners_empty_segment_and_large_scores():
    owner = torch.tensor([2, 0, 2, 0, 2])  # owner 1 has no rows
    scores = torch.tensor([1000.0, 0.0, 1000.0 + math.log(2.0), math.log(3.0), 1000.0 + math.log(5.0)])
    alpha = segment_softmax(scores, owner, 3)
    # owner 0: exp(0), exp(log 3) -> 1/4, 3/4; owner 2: 1 : 2 : 5 -> 1/8, 2/8, 5/8 (no overflow at 1000)
    torch.testing.assert_close(alpha, torch.tensor([1 / 8, 1 / 4, 2 / 8, 3 / 4, 5 / 8]))
    sums = torch.zeros(3).index_add_(0, owner, alpha)
    torch.testing.assert_close(sums, torch.tensor([1.0, 0.0, 1.0]))  # 1 per sample with items, 0 for none
    assert segment_softmax(torch.zeros(0), torch.zeros(0, dtype=torch.long), 2).shape == (0,)


def test_item_attention_weights_and_pooling_by_hand():
    att = ItemAttention(2, 2)
    with torch.no_grad():
        att.proj.weight.copy_(torch.eye(2))
        att.proj.bias.zero_()
        s = math.log(3.0) / (2 * math.tanh(1.0))
        att.score.weight.copy_(torch.tensor([[s, 0.0]]))
    # LN([3, 1]) = [1, -1], LN([0, 2]) = [-1, 1]: scores ±s·tanh(1), so the weights are 3 : 1
    h = torch.tensor([[3.0, 1.0], [0.0, 2.0], [5.0, 7.0]])
    owner = torch.tensor([0, 0, 2])
    torch.testing.assert_close(att.weights(h, owner, 3), torch.tensor([0.75, 0.25, 1.0]), atol=1e-4, rtol=0)
    pooled = att(h, owner, 3)
    torch.testing.assert_close(pooled, torch.tensor([[2.25, 1.25], [0.0, 0.0], [5.0, 7.0]]), atol=1e-4, rtol=0)
    with torch.no_grad():
        att.score.weight.zero_()  # equal scores: attention pooling is the mean
    torch.testing.assert_close(att(h, owner, 3), segment_mean(h, owner, 3))


# --------------------------------------------------------------------------- the default stays the mean


def test_default_pooling_is_the_mean_of_each_items_own_vector(make_samples, fast_params):
    data = _items_samples(make_samples, n=16)
    model = make_predictor("news", fast_params("news", tuning="frozen", epochs=1)).fit(data)
    assert model.news_pooling == "mean" and model.module_.item_attention is None
    assert not any("item_attention" in key for key in model.module_.state_dict())  # earlier saves load as before

    def encoded(samples: Samples) -> torch.Tensor:
        dataset = model._dataset(samples, None)
        with torch.no_grad():
            return encode_newsflow(model.module_.encoder, dataset.collate(dataset.__getitems__(range(len(samples)))))

    model.module_.eval()
    pooled = encoded(data)
    for b, sample in enumerate(news_items(data, model.max_news_items)):
        if not sample:
            assert torch.all(pooled[b] == 0)  # then the no_news rule replaces x_n
            continue
        alone = [encoded(replace(data.subset(np.array([b])), text_items=((t,),)))[0] for t in sample]
        torch.testing.assert_close(pooled[b], torch.stack(alone).mean(0), atol=1e-5, rtol=1e-5)
    weights = model.predict_item_weights(data)
    assert [len(w) for w in weights] == [len(s) for s in news_items(data, model.max_news_items)]
    assert all(np.allclose(w, 1.0 / len(w)) for w in weights if len(w))


# --------------------------------------------------------------------------- attention


@pytest.mark.parametrize("name", ["news", "fusion_concat", "fusion_sum", "fusion_attention", "mixture"])
def test_attention_pooling_fits_weights_sum_to_one_and_survives_save_load(name, make_samples, fast_params,
                                                                          tmp_path: Path):
    data = _items_samples(make_samples)
    model = make_predictor(name, fast_params(name, epochs=2, news_pooling="attention")).fit(data)
    assert isinstance(model.module_.item_attention, ItemAttention)
    weights = model.predict_item_weights(data)
    counts = [len(s) for s in news_items(data, model.max_news_items)]
    assert [len(w) for w in weights] == counts
    np.testing.assert_allclose([w.sum() for w in weights if len(w)], 1.0, atol=1e-5)
    assert any(len(w) > 1 and not np.allclose(w, w[0]) for w in weights)  # learned, not uniform
    model.save(tmp_path / "model")
    restored = load_predictor(tmp_path / "model")
    np.testing.assert_array_equal(restored.predict(data), model.predict(data))


def test_attention_finds_the_one_signal_tweet_among_noise_where_the_mean_is_weaker(tiny_bert):
    k = 8
    train, _ = _planted(300, k, seed=0)
    test, where = _planted(200, k, seed=100)
    params = {"model": str(tiny_bert), "tuning": "frozen", "hidden": 16, "epochs": 20, "batch_size": 32, "lr": 3e-3,
              "dropout": 0.0, "lr_schedule": "constant", "max_length": 16, "seed": 0}
    accuracy, signal_weight = {}, {}
    for pooling in ("mean", "attention"):
        model = make_predictor("news", {**params, "news_pooling": pooling}).fit(train)
        accuracy[pooling] = float(np.mean(np.asarray(model.predict(test)) == test.y))
        weights = model.predict_item_weights(test)
        signal_weight[pooling] = float(np.mean([w[j] for w, j in zip(weights, where)]))
    assert signal_weight["mean"] == pytest.approx(1 / k)
    # attention puts far more than its 1/k share on the signal tweet (noise tweets: < (1 - 0.25) / 7 each)
    assert signal_weight["attention"] > 2 / k
    assert accuracy["attention"] >= 0.8 and accuracy["attention"] >= accuracy["mean"] + 0.1, accuracy


# --------------------------------------------------------------------------- errors


def test_options_that_do_not_apply_are_config_errors(make_samples, fast_params):
    data = _items_samples(make_samples, n=16)
    with pytest.raises(ConfigError, match="newsflow='joined' gives each sample one item"):
        make_predictor("fusion_sum", fast_params("fusion_sum", newsflow="joined", news_pooling="attention")).fit(data)
    with pytest.raises(ConfigError, match="news_pooling does not apply to FININ"):
        make_predictor("finin", fast_params("news", news_pooling="attention")).fit(data)
    with pytest.raises(ConfigError, match="news_pooling"):
        make_predictor("news", fast_params("news", news_pooling="max")).fit(data)
    joined = make_predictor("news", fast_params("news", tuning="frozen", epochs=1, newsflow="joined")).fit(data)
    with pytest.raises(ConfigError, match="predict_item_weights needs newsflow='items'"):
        joined.predict_item_weights(data)


def test_finin_item_weights_are_its_own_attention(make_samples, fast_params):
    """FININ (settings of the other newsflow models) reports its factor-conditioned weights."""
    data = _items_samples(make_samples, n=16)
    model = make_predictor("finin", fast_params("news", tuning="frozen", epochs=1)).fit(data)
    weights = model.predict_item_weights(data)
    np.testing.assert_allclose([w.sum() for w in weights if len(w)], 1.0, atol=1e-5)
    dataset = model._dataset(data, None)
    with torch.no_grad():
        _, alpha = model.module_.attend(dataset.collate(dataset.__getitems__(range(len(data)))))
    np.testing.assert_allclose(np.concatenate(weights), alpha.numpy(), atol=1e-6)
