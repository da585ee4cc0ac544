"""HAN, the Hybrid Attention Network of Hu, Liu, Bian, Liu & Liu, "Listening to Chaotic Whispers:
A Deep Learning Framework for News-oriented Stock Trend Prediction" (WSDM 2018, arXiv:1712.02136).
No official code was published (we found none); github.com/donghyeonk/han is a third-party
re-implementation on the StockNet data (TensorFlow; referred to below as "the re-implementation").

The network, over the D calendar days of the window (oldest first) and up to K news items of
each day, each item already a vector n (H_enc):

    news-level attention (eq. 1-3)   u = sigmoid(w_n · LN(n) + b_n),  α = softmax over the day's
                                     real items of u,  d_t = Σ α LN(n)
    sequential modelling             h_t = [GRU→(d_t); GRU←(d_t)]  (a bi-GRU over the D days)
    temporal attention               o_t = sigmoid(W_h h_t + b_h),  β = softmax_t(θ_t · o_t)
                                     (θ_t: one learned vector per day position),  V = Σ β_t h_t
    trend prediction                 the discriminative network: an MLP on V (⊕ the flattened
                                     price window X with `prices=True`) to the class logits

Choices here, not the paper's:

- News vectors: the paper averages word2vec vectors over a news item; here an item is the
  pooled vector of `TextEncoder` (frozen and cached by default, as `DailyNewsPredictor` sets up;
  or fine-tuned with `tuning`). A LayerNorm puts them on one scale first, as the seed-001
  family does (models/newsflow_nets.py `NewsRepresentation`).
- The paper's news-level score is a sigmoid in (0, 1) before the softmax, so one item of a day
  weighs at most e ≈ 2.7 times another; kept as published.
- Days without items: the day vector d_t of an empty day is a learned "no news" vector, so the
  bi-GRU still steps through every calendar day and θ_t stays tied to the day's position; the
  temporal attention therefore weighs every day (an all-empty window works: every d_t is the
  "no news" vector). Empty slots of a day get weight exactly 0 in the news-level attention.
- The paper's self-paced learning schedule is not implemented (plain cross-entropy training).
- Prices: the original HAN reads news only, and so does HAN as a baseline of the StockNet
  benchmark (Xu & Cohen, ACL 2018, describe no price input for it; the public re-implementation
  on StockNet, github.com/donghyeonk/han, reads tweets only); `prices=False` (default) keeps
  that. `prices=True` concatenates the flattened price window X to V before the MLP.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from finfusion.models.base import Samples, Task, store_params
from finfusion.models.daily_items import DailyNewsPredictor, daily_item_vectors
from finfusion.models.newsflow_nets import masked_softmax
from finfusion.models.params import (
    NonNegativeFloat,
    NonNegativeInt,
    Pooling,
    PositiveFloat,
    PositiveInt,
    Probability,
    Seed,
    TokenLength,
    Tuning,
)
from finfusion.models.registry import register
from finfusion.text.inference import Engine, Precision


class NewsAttention(nn.Module):
    """Eq. 1-3: per day, a softmax over the real items of u = sigmoid(w·n + b), then Σ α n.

    items (B, D, K, H), mask (B, D, K) bool -> (day vectors (B, D, H), α (B, D, K)); α is 0 on
    masked slots and sums to 1 over a day's real items (all 0 for an empty day, whose vector
    is then 0: the caller replaces it)."""

    def __init__(self, d_item: int) -> None:
        super().__init__()
        self.score = nn.Linear(d_item, 1)

    def forward(self, items: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.sigmoid(self.score(items)).squeeze(-1)  # (B, D, K), in (0, 1)
        alpha = masked_softmax(u, mask)  # (B, D, K); empty days and slots: exactly 0
        days = (alpha.unsqueeze(-1) * items).sum(dim=2)  # (B, D, H)
        return days, alpha


class TemporalAttention(nn.Module):
    """Temporal attention: o_t = sigmoid(W h_t + b), β = softmax_t(θ_t · o_t), V = Σ_t β_t h_t.

    h (B, D, G) -> (V (B, G), β (B, D)); θ (D, A) holds one learned vector per day position."""

    def __init__(self, d_in: int, days: int, size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_in, size)
        self.theta = nn.Parameter(torch.randn(days, size) / size**0.5)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        o = torch.sigmoid(self.proj(h))  # (B, D, A)
        beta = torch.softmax((o * self.theta).sum(-1), dim=-1)  # (B, D)
        return (beta.unsqueeze(-1) * h).sum(dim=1), beta  # (B, G), (B, D)


class HanNet(nn.Module):
    """HAN over item vectors (see the module docstring): items (B, D, K, H_enc), day_mask
    (B, D, K) bool and, with `d_price` > 0, the flattened price window x (B, d_price), to logits
    (B, n_outputs). The encoder is not part of this module (`HanPredictor` wraps it).

    hidden: the GRU's size per direction (G = 2·hidden); attention: the size A of o_t;
    mlp_hidden: the MLP's hidden layer; dropout: on the MLP's input and hidden layer."""

    def __init__(self, d_item: int, days: int, hidden: int, attention: int, mlp_hidden: int, n_outputs: int,
                 dropout: float = 0.0, d_price: int = 0) -> None:
        super().__init__()
        self.days, self.d_price = days, d_price
        self.norm = nn.LayerNorm(d_item)
        self.news = NewsAttention(d_item)
        self.empty = nn.Parameter(torch.zeros(d_item))  # the "no news" day vector
        self.gru = nn.GRU(d_item, hidden, batch_first=True, bidirectional=True)
        self.temporal = TemporalAttention(2 * hidden, days, attention)
        self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden + d_price, mlp_hidden), nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(mlp_hidden, n_outputs))

    def attend(self, items: torch.Tensor, day_mask: torch.Tensor, x: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits (B, C), news-level α (B, D, K), day-level β (B, D))."""
        if items.shape[1] != self.days:
            raise ValueError(f"HanNet: built for {self.days} days, got items of shape {tuple(items.shape)}")
        day_mask = day_mask.bool()
        days, alpha = self.news(self.norm(items), day_mask)  # (B, D, H), (B, D, K)
        has = day_mask.any(dim=-1, keepdim=True).to(days.dtype)  # (B, D, 1)
        days = has * days + (1.0 - has) * self.empty  # empty day -> the "no news" vector
        h, _ = self.gru(days)  # (B, D, 2·hidden)
        v, beta = self.temporal(h)  # (B, 2·hidden), (B, D)
        if self.d_price:
            if x is None:
                raise ValueError("HanNet: built with prices (d_price > 0) but no price window x was given")
            v = torch.cat([v, x.reshape(len(x), -1)], dim=-1)  # (B, 2·hidden + d_price)
        return self.mlp(v), alpha, beta  # (B, C)

    def forward(self, items: torch.Tensor, day_mask: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        return self.attend(items, day_mask, x)[0]


class HanModule(nn.Module):
    """The text encoder (attribute "encoder": its learning rate and checkpoints are keyed on it)
    in front of `HanNet`: batch (`DailyItemsDataset`) -> item vectors (B, D, K, H_enc) -> logits."""

    def __init__(self, encoder: nn.Module, net: HanNet) -> None:
        super().__init__()
        self.encoder, self.net = encoder, net

    def attend(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits (B, C), news-level α (B, D, K), day-level β (B, D))."""
        items = daily_item_vectors(self.encoder, batch)  # (B, D, K, H_enc)
        return self.net.attend(items, batch["day_mask"], batch["x"] if self.net.d_price else None)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.attend(batch)[0]  # (B, C)


@register("han")
class HanPredictor(DailyNewsPredictor):
    """HAN (Hu et al., WSDM 2018): news-level attention within each day, a bi-GRU over the days,
    day-level attention, an MLP to the classes (see the module docstring; classification only).

    hidden      the bi-GRU's size per direction (day representation h_t: 2·hidden)
    attention   the size of o_t in the day-level attention
    mlp_hidden  the hidden layer of the discriminative MLP
    dropout     on the MLP's input and hidden layer
    prices      False (the paper and the StockNet benchmark's HAN baseline: news only) or True
                (the flattened price window X joins the attended news before the MLP)
    days, max_items_per_day and the encoder parameters as `DailyNewsPredictor` (default tuning
    "frozen": item vectors computed once and cached); training settings as `MLPPredictor`.
    `predict_attention` gives the day-level weights β of every prediction (tokens "day-<age>"),
    `predict_item_attention` the news-level weights α of every kept item.
    """

    tasks: ClassVar[tuple[Task, ...]] = ("classification",)
    architecture_params = (*DailyNewsPredictor.architecture_params, "hidden", "attention", "mlp_hidden", "prices")

    def __init__(self, *, model: str | None = None, pooling: Pooling = "mean", max_length: TokenLength = 64,
                 tuning: Tuning = "frozen", top_k: PositiveInt = 2, lora_rank: PositiveInt = 4,
                 lora_alpha: PositiveInt = 8, lora_dropout: Probability = 0.0,
                 encoder_dropout: Probability | None = None,
                 encoder_engine: Engine = "torch", encoder_precision: Precision = "fp32",
                 encoder_lr: PositiveFloat = 2e-5, encoder_frozen_epochs: NonNegativeInt = 0,
                 days: PositiveInt = 5, max_items_per_day: PositiveInt = 16,
                 hidden: PositiveInt = 64, attention: PositiveInt = 32, mlp_hidden: PositiveInt = 64,
                 dropout: Probability = 0.3, prices: bool = False,
                 epochs: PositiveInt = 10, batch_size: PositiveInt = 32, lr: PositiveFloat = 1e-3,
                 weight_decay: NonNegativeFloat = 1e-4, l2: NonNegativeFloat = 0.0,
                 grad_clip: PositiveFloat | None = 1.0, early_stopping_patience: PositiveInt | None = None,
                 seed: Seed = 0, warm_start: bool = False, warm_epochs: PositiveInt | None = None,
                 warm_replay: NonNegativeInt | None = None, show_progress: bool = False, device: str = "cpu") -> None:
        store_params(self, locals())
        self._check_encoder_inference()

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        encoder = self._take_encoder()
        net = HanNet(encoder.hidden_size, self.days, self.hidden, self.attention, self.mlp_hidden, n_outputs or 1,
                     self.dropout, d_price=self.n_features_in_ if self.prices else 0)
        return HanModule(encoder, net)

    def token_names(self) -> list[str]:
        """The days of the window, oldest first: "day-<age>" (on StockNet "day-5" .. "day-1")."""
        self.check_fitted()
        return [f"day-{self.first_age_ + self.days - 1 - j}" for j in range(self.days)]

    def predict_attention(self, data: Samples) -> np.ndarray:
        """Day-level weights β (n, 1, D) of each sample (one "head"), days as `token_names`."""
        return self.batch_outputs(data, lambda m, b: m.attend(b)[2]).unsqueeze(1).numpy()

    def predict_item_attention(self, data: Samples) -> pd.DataFrame:
        """News-level weights α of every kept item of `data`: one row per item with columns
        sample (row in `data`), day (0 the oldest of the window), age, slot, text, weight; a
        day's weights sum to 1."""
        alpha = self.batch_outputs(data, lambda m, b: m.attend(b)[1]).numpy()  # (n, D, K)
        grid = self._slots(data)
        sample, day, slot = np.nonzero(grid.slots >= 0)
        return pd.DataFrame({"sample": sample, "day": day, "age": self.first_age_ + self.days - 1 - day,
                             "slot": slot, "text": [grid.texts[i] for i in grid.slots[sample, day, slot]],
                             "weight": alpha[sample, day, slot].astype(np.float64)})
