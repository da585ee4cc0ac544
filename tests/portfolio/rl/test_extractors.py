"""Concat and gated-fusion extractors: shapes, and Definition 3.8 on a hand-set example."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from finfusion.portfolio.rl import ConcatExtractor, GatedFusionExtractor


def _space(n: int, w: int) -> gym.spaces.Dict:
    return gym.spaces.Dict({"price": gym.spaces.Box(-np.inf, np.inf, (n, w), np.float32),
                            "text": gym.spaces.Box(-1, 1, (n, w), np.float32),
                            "weights": gym.spaces.Box(0, 1, (n,), np.float32)})


def _obs(b: int, n: int, w: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"price": torch.randn(b, n, w, generator=g), "text": torch.rand(b, n, w, generator=g) * 2 - 1,
            "weights": torch.full((b, n), 1.0 / n)}


def test_concat_shapes_and_order():
    ext = ConcatExtractor(_space(3, 5))
    obs = _obs(4, 3, 5)
    out = ext(obs)
    assert ext.features_dim == 2 * 15 + 3 and out.shape == (4, 33)
    assert torch.equal(out[:, :15], obs["price"].flatten(1)) and torch.equal(out[:, 15:30], obs["text"].flatten(1))
    assert torch.equal(out[:, 30:], obs["weights"])
    dense = ConcatExtractor(_space(3, 5), features_dim=16)
    assert dense(obs).shape == (4, 16) and (dense(obs) >= 0).all()


def test_gated_shapes():
    ext = GatedFusionExtractor(_space(3, 5))
    assert ext.features_dim == 64 and ext(_obs(4, 3, 5)).shape == (4, 64)


def test_gated_formula_by_hand():
    # N = 1, W = 1, d = 2. price stream input (p, weight) = (2, 0): W_p = [[1, 0], [0, 0]] -> (2, 0)
    # LayerNorm (2, 0) = (1, -1) (up to eps) -> ReLU h_price = (1, 0)
    # text 0.5: W_t = [[1], [-1]] -> (0.5, -0.5) -> LayerNorm (1, -1) -> h_text = (1, 0)
    # gate: W_g = 0, b_g = (0, ln 3) -> g = (0.5, 0.75); g * h_price = (0.5, 0)
    # fuse: W_f = 2 I, b_f = (-0.25, 0.1) -> ReLU((0.75, 0.1)) = (0.75, 0.1); + h_text = (1.75, 0.1)
    ext = GatedFusionExtractor(_space(1, 1), hidden=2)
    with torch.no_grad():
        ext.price[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        ext.price[0].bias.zero_()
        ext.text[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        ext.text[0].bias.zero_()
        ext.gate.weight.zero_()
        ext.gate.bias.copy_(torch.tensor([0.0, math.log(3.0)]))
        ext.fuse.weight.copy_(2 * torch.eye(2))
        ext.fuse.bias.copy_(torch.tensor([-0.25, 0.1]))
    obs = {"price": torch.tensor([[[2.0]]]), "text": torch.tensor([[[0.5]]]), "weights": torch.tensor([[0.0]])}
    out = ext(obs)
    assert out.detach().numpy()[0] == pytest.approx([1.75, 0.1], abs=1e-4)


def test_gated_matches_the_definition_with_random_parameters():
    ext = GatedFusionExtractor(_space(2, 3), hidden=8)
    obs = _obs(5, 2, 3)
    p = torch.cat([obs["price"].flatten(1), obs["weights"]], 1)
    t = obs["text"].flatten(1)

    def enc(x, lin, ln):
        y = lin(x)
        y = (y - y.mean(1, keepdim=True)) / torch.sqrt(y.var(1, unbiased=False, keepdim=True) + ln.eps)
        return torch.relu(y * ln.weight + ln.bias)

    h_p, h_t = enc(p, ext.price[0], ext.price[1]), enc(t, ext.text[0], ext.text[1])
    g = torch.sigmoid(h_t @ ext.gate.weight.T + ext.gate.bias)
    expected = torch.relu((g * h_p) @ ext.fuse.weight.T + ext.fuse.bias) + h_t
    assert torch.allclose(ext(obs), expected, atol=1e-5)
