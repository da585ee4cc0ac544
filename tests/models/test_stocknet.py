"""StockNet (Xu & Cohen, ACL 2018): the network over tensors, and the registered predictor."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from finfusion.errors import DataError
from finfusion.models.registry import make_predictor
from finfusion.models.stocknet_net import (
    StockNetNet,
    day_steps,
    gaussian_kl,
    kl_weight,
    movement_labels,
    step_layout,
    step_prices,
)
from tests.models.planted import planted_samples

# -- the network over tensors ----------------------------------------------------------------------

B, D, K, H, L, P = 3, 5, 2, 6, 4, 3


def _inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    """A Monday target: window rows [pad, pad, Thu (age 4), Fri (age 3)]; days d-5 .. d-1 (ages 5 .. 1);
    sample 1 has a full window (Mon .. Thu before a Friday target), sample 2 has no tweets at all."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(B, D, K, generator=g) < 0.7
    mask[2] = False
    return {
        "items": torch.randn(B, D, K, H, generator=g) * mask.unsqueeze(-1),
        "item_mask": mask,
        "day_ages": torch.tensor([5, 4, 3, 2, 1]),
        "prices": torch.randn(B, L, P, generator=g),
        "price_ages": torch.tensor([[0, 0, 4, 3], [4, 3, 2, 1], [0, 3, 2, 1]]),
        "movements": torch.tensor([[0.0, 0.0, 0.01, -0.02], [0.003, 0.02, -0.01, 0.006], [0.0, 0.01, 0.01, -0.01]]),
    }


def _net(**kw) -> StockNetNet:
    torch.manual_seed(0)
    return StockNetNet(H, P, **{"msg_size": 8, "hidden": 8, "g_size": 4, "dropout": 0.0, **kw})


def test_steps_and_day_placement_follow_the_released_code_by_hand():
    ages, valid = step_layout(torch.tensor([[0, 0, 4, 3]]))
    assert ages.tolist() == [[0, 0, 4, 3, 0]]
    assert valid.tolist() == [[False, False, True, True, True]]
    # Wed (age 5) -> Thu's step, Thu -> Fri's, Fri / Sat / Sun -> the Monday target step.
    assert day_steps(torch.tensor([5, 4, 3, 2, 1]), ages, valid).tolist() == [[2, 3, 4, 4, 4]]
    with pytest.raises(ValueError, match="ages must be >= 1"):
        day_steps(torch.tensor([1, 0]), ages, valid)


def test_a_step_gets_the_price_row_of_the_previous_trading_day():
    prices = torch.tensor([[[1.0], [2.0], [3.0]]])
    shifted = step_prices(prices, torch.tensor([[False, True, True]]))
    assert shifted[0, :, 0].tolist() == [0.0, 0.0, 2.0, 3.0]


def test_movement_labels_band_and_sign():
    moves = torch.tensor([[-0.006, -0.005, 0.0, 0.0054, 0.0055, 0.02]])
    valid = torch.tensor([[True, True, True, True, True, False]])
    assert movement_labels(moves, valid, -0.005, 0.0055, "band").tolist() == [[0, -1, -1, -1, 1, -1]]
    assert movement_labels(moves, valid, -0.005, 0.0055, "sign").tolist() == [[0, 0, 0, 1, 1, -1]]


def test_kl_annealing_schedule_by_hand():
    assert [kl_weight(s, 0.005, 0) for s in (0, 100, 200, 300)] == [0.0, 0.5, 1.0, 1.0]
    assert [kl_weight(s, 0.005, 50) for s in (49, 50)] == [0.0, 0.25]


def test_gaussian_kl_by_hand():
    zero, one = torch.zeros(1, 1), torch.ones(1, 1)
    assert float(gaussian_kl(one, zero, zero, zero)) == pytest.approx(0.5)
    assert float(gaussian_kl(one, zero, one, zero)) == pytest.approx(0.0)
    assert float(gaussian_kl(zero, zero, zero, zero + math.log(4))) == pytest.approx(0.5 * (math.log(4) - 0.75))


def test_shapes_kl_non_negative_and_step_counted_in_training_only():
    net, x = _net(), _inputs()
    net.train()
    out = net(**x, y=torch.tensor([1, 0, 1]))
    assert out["pred"].shape == (B, 2) and out["aux_logits"].shape == (B, L + 1, 2)
    assert out["kl"].shape == (B, L + 1) and bool((out["kl"] >= 0).all())
    assert out["kl"][0, :2].tolist() == [0.0, 0.0]  # padding steps have no latent update
    out["aux_loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    assert int(net.step) == 1
    net.eval()
    assert "aux_loss" not in net(**x, y=torch.tensor([1, 0, 1]))
    assert int(net.step) == 1
    with pytest.raises(ValueError, match="needs the targets"):
        net.train()(**x)


def test_temporal_attention_covers_the_valid_auxiliary_steps_only():
    net, x = _net().eval(), _inputs()
    v = net(**x)["attention"]
    assert v[:, -1].tolist() == [0.0, 0.0, 0.0]  # never the target step
    assert v[0, :2].tolist() == [0.0, 0.0]  # nor padding
    torch.testing.assert_close(v.sum(1), torch.ones(B))


def test_prediction_uses_the_prior_and_does_not_read_y():
    net, x = _net(), _inputs()
    net.eval()
    a, b = net(**x, y=torch.tensor([0, 0, 0])), net(**x, y=torch.tensor([1, 1, 1]))
    torch.testing.assert_close(a["pred"], b["pred"])
    torch.testing.assert_close(a["pred"], net(**x)["pred"])
    net.train()  # the posterior reads y
    torch.manual_seed(1)
    c = net(**x, y=torch.tensor([0, 0, 0]))["pred"]
    torch.manual_seed(1)
    assert not torch.allclose(c, net(**x, y=torch.tensor([1, 1, 1]))["pred"])


def test_a_days_tweets_and_masked_slots_only_reach_later_steps():
    net, x = _net().eval(), _inputs()
    base = net(**x)
    changed = dict(x, items=x["items"].clone())
    changed["items"][:, -1] += torch.randn(B, K, H)  # the tweets of d-1 (age 1): only the target step may see them
    changed["items"][~x["item_mask"]] = 100.0  # empty slots: never read
    out = net(**changed)
    torch.testing.assert_close(out["aux_logits"][:, :-1], base["aux_logits"][:, :-1])
    assert not torch.allclose(out["pred"][:2], base["pred"][:2])
    torch.testing.assert_close(out["pred"][2], base["pred"][2])  # sample 2 has no tweets


def test_aux_loss_by_hand():
    net = _net(alpha=0.5)
    net.step.fill_(100)  # lambda = 0.005 * 100 = 0.5
    logits = torch.zeros(1, 3, 2)  # CE = log 2 on every step
    labels = torch.tensor([[1, -1, 0]])  # step 1 unlabelled (neutral): no CE
    kl = torch.full((1, 3), 2.0)
    v_star = torch.tensor([[0.25, 0.75, 0.0]])
    expected = 0.5 * 2 + 0.5 * (0.25 * (math.log(2) + 1.0) + 0.75 * (0.0 + 1.0))
    assert float(net._aux_loss(logits, labels, kl, v_star)) == pytest.approx(expected)


# -- the registered predictor ------------------------------------------------------------------------

SMALL = {"tuning": "frozen", "max_length": 16, "msg_size": 16, "hidden": 16, "g_size": 8, "dropout": 0.0,
         "max_items_per_day": 4, "lr": 3e-3}


@pytest.fixture(scope="module")
def planted(tiny_bert, tmp_path_factory):
    """(fitted model, dev samples) on the planted tweet signal: 4 tickers x 200 days (582 train / 166 dev)."""
    train, dev = planted_samples(tmp_path_factory.mktemp("planted"), signal="tweets", n_tickers=4, n_days=200)
    model = make_predictor("stocknet", {"model": str(tiny_bert), **SMALL, "epochs": 5}).fit(train)
    return model, dev


def test_learns_the_planted_tweet_signal(planted):
    model, dev = planted
    majority = max(np.mean(dev.y == c) for c in (0, 1))  # 0.55
    assert np.mean(model.predict(dev) == dev.y) > majority + 0.25  # 1.0 for fixture seeds 0-2 x fit seeds 0-1


def test_auxiliary_steps_read_the_tweets_of_the_day_before_them(planted):
    """The planted tweet of calendar day t-1 precedes t's move and reaches lag step t directly only
    if tweets go to the first trading day after their day. Calibration (auxiliary accuracy of the
    labelled lag days, prior only, eval mode): 1.0 for fixture seeds 0-2 x fit seeds 0-1; with the
    tweets put on their own day's step instead 0.66, one step later 0.45 (fixture seed 0)."""
    model, dev = planted
    dataset = model._dataset(dev, None)
    batch = dataset.collate(dataset.__getitems__(list(range(len(dev)))))
    with torch.no_grad():
        out = model.module_.eval()(batch)
    labels = movement_labels(batch["price_movements"], batch["price_ages"] > 0, -0.005, 0.0055, "band")
    known = labels >= 0
    assert int(known.sum()) > 300
    assert float((out["aux_logits"][:, :-1].argmax(-1)[known] == labels[known]).float().mean()) > 0.85


def test_the_kl_schedule_counts_the_optimiser_steps(planted):
    model, _ = planted
    assert int(model.module_.net.step) == model.history_.n_steps == 5 * math.ceil(582 / 32)


def test_missing_benchmark_inputs_are_named(tiny_bert, make_samples):
    data = make_samples("classification", n=40, d=3, with_text=True, dated=True)
    params = {"model": str(tiny_bert), **SMALL, "epochs": 1}
    with pytest.raises(DataError, match="price_movements"):
        make_predictor("stocknet", params).fit(replace(data, extras={"price_ages": data.extras["price_ages"]}))
    with pytest.raises(DataError, match="text_item_ages"):
        make_predictor("stocknet", params).fit(replace(data, text_item_ages=None))
    with pytest.raises(DataError, match="fall"):
        make_predictor("stocknet", params).fit(replace(data, y=data.y + 1))
    old = replace(data, text_item_ages=tuple((0,) * len(t) for t in data.text_items))
    with pytest.raises(DataError, match="at least 1 day old"):
        make_predictor("stocknet", params).fit(old)
