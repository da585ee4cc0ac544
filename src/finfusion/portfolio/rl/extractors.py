"""Feature extractors of seed 002 for SB3 policies over `PortfolioEnv`'s Dict observation.

All read obs["price"] (B, N, W), obs["text"] (B, N, W) and obs["weights"] (B, N). The current
weights are portfolio state, not a modality: they join the price stream.

Joint extractors (one state vector for the whole portfolio, as written in §4):

concat (SB, SBA)   x = [price (N*W), text (N*W), weights (N)] -> optionally Linear -> ReLU
                   (features_dim=None: the raw concatenation, 2*N*W + N features; "the two
                   streams are simply concatenated into a joint state vector", §4)
gated (SBC, SBCA)  Definition 3.8 / §4, d = 64:
                   h_price = ReLU(LayerNorm(W_p [price, weights] + b_p))      (B, d)
                   h_text  = ReLU(LayerNorm(W_t text + b_t))                   (B, d)
                   g       = sigmoid(W_g h_text + b_g)                          (B, d)  the text gate
                   fused   = ReLU(W_f (g * h_price) + b_f) + h_text            (B, d)  residual

Asset-wise extractors (the default of the agents, `AgentConfig.policy = "asset"`): the same
forms applied to each asset's own rows with weights shared across assets (as EIIE, Jiang et al.
2017), output (B, N * d) = the N per-asset vectors, asset-major; `asset_dim` = d.

asset_concat       x_i = ReLU(W [price_i (W), text_i (W), weight_i] + b)            (B, N, d)
asset_gated        h_price_i = ReLU(LayerNorm(W_p [price_i, weight_i] + b_p)), h_text_i from text_i,
                   g_i = sigmoid(W_g h_text_i + b_g), fused_i = ReLU(W_f (g_i * h_price_i) + b_f) + h_text_i
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from finfusion.errors import ConfigError


def _sizes(space: gym.spaces.Dict) -> tuple[int, int]:
    if not isinstance(space, gym.spaces.Dict) or set(space.spaces) != {"price", "text", "weights"}:
        raise ConfigError(f"extractor: expected PortfolioEnv's Dict space (price, text, weights), got {space}")
    n, w = space["price"].shape
    return int(n), int(w)


class ConcatExtractor(BaseFeaturesExtractor):
    """price ⊕ text ⊕ weights, flattened; with `features_dim` set, one Linear + ReLU on top."""

    def __init__(self, observation_space: gym.spaces.Dict, features_dim: int | None = None) -> None:
        n, w = _sizes(observation_space)
        raw = 2 * n * w + n
        super().__init__(observation_space, raw if features_dim is None else int(features_dim))
        self.dense = None if features_dim is None else nn.Sequential(nn.Linear(raw, int(features_dim)), nn.ReLU())

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        x = torch.cat([obs["price"].flatten(1), obs["text"].flatten(1), obs["weights"]], dim=1)  # (B, 2NW+N)
        return x if self.dense is None else self.dense(x)


class GatedFusionExtractor(BaseFeaturesExtractor):
    """Cross-modal gated fusion (module docstring); output (B, hidden), hidden = 64 by default."""

    def __init__(self, observation_space: gym.spaces.Dict, hidden: int = 64) -> None:
        n, w = _sizes(observation_space)
        super().__init__(observation_space, int(hidden))
        self.price = nn.Sequential(nn.Linear(n * w + n, hidden), nn.LayerNorm(hidden), nn.ReLU())
        self.text = nn.Sequential(nn.Linear(n * w, hidden), nn.LayerNorm(hidden), nn.ReLU())
        self.gate = nn.Linear(hidden, hidden)
        self.fuse = nn.Linear(hidden, hidden)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        h_price = self.price(torch.cat([obs["price"].flatten(1), obs["weights"]], dim=1))  # (B, d)
        h_text = self.text(obs["text"].flatten(1))  # (B, d)
        g = torch.sigmoid(self.gate(h_text))  # (B, d) in (0, 1)
        return torch.relu(self.fuse(g * h_price)) + h_text  # (B, d)


class AssetConcatExtractor(BaseFeaturesExtractor):
    """Per asset [price_i, text_i, weight_i] -> Linear -> ReLU, shared across assets; (B, N * hidden)."""

    def __init__(self, observation_space: gym.spaces.Dict, hidden: int = 16) -> None:
        n, w = _sizes(observation_space)
        super().__init__(observation_space, n * int(hidden))
        self.asset_dim = int(hidden)
        self.dense = nn.Sequential(nn.Linear(2 * w + 1, hidden), nn.ReLU())

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        x = torch.cat([obs["price"], obs["text"], obs["weights"].unsqueeze(-1)], dim=-1)  # (B, N, 2W+1)
        return self.dense(x).flatten(1)


class AssetGatedExtractor(BaseFeaturesExtractor):
    """The gated fusion of each asset's price and text rows, shared across assets; (B, N * hidden)."""

    def __init__(self, observation_space: gym.spaces.Dict, hidden: int = 16) -> None:
        n, w = _sizes(observation_space)
        super().__init__(observation_space, n * int(hidden))
        self.asset_dim = int(hidden)
        self.price = nn.Sequential(nn.Linear(w + 1, hidden), nn.LayerNorm(hidden), nn.ReLU())
        self.text = nn.Sequential(nn.Linear(w, hidden), nn.LayerNorm(hidden), nn.ReLU())
        self.gate = nn.Linear(hidden, hidden)
        self.fuse = nn.Linear(hidden, hidden)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        h_price = self.price(torch.cat([obs["price"], obs["weights"].unsqueeze(-1)], dim=-1))  # (B, N, d)
        h_text = self.text(obs["text"])  # (B, N, d)
        g = torch.sigmoid(self.gate(h_text))
        return (torch.relu(self.fuse(g * h_price)) + h_text).flatten(1)


EXTRACTORS: dict[str, type[BaseFeaturesExtractor]] = {
    "concat": ConcatExtractor, "gated": GatedFusionExtractor,
    "asset_concat": AssetConcatExtractor, "asset_gated": AssetGatedExtractor,
}
