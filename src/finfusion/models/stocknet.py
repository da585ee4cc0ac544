"""StockNet: Xu & Cohen, "Stock Movement Prediction from Tweets and Historical Prices" (ACL 2018), the
HedgeFundAnalyst variant (tweets + prices, variational movement decoder, attentive temporal auxiliary).

The network is `finfusion.models.stocknet_net.StockNetNet` (its docstring has the equations, the
time steps and the objective); this module wraps it as the registered predictor "stocknet" on the
day-structured newsflow of `DailyNewsPredictor`. Read against the released code
(github.com/yumoxu/stocknet-code, src/Model.py, DataPipe.py, config.yml) and the paper; where they
differ, or finfusion cannot do as they do, this is what "stocknet" does (docs/stocknet_models.md,
section StockNet, puts the points side by side; the paper's text was not at hand offline):

- Message embeddings: each tweet's pooled sentence-encoder vector (frozen and cached by default),
  LayerNorm, then a learned tanh layer to `msg_size`, instead of the paper's bi-GRU over 50-d GloVe
  words (the code averages the forward and backward states at the ticker's position in the tweet).
  Per calendar day the newest `max_items_per_day` tweets are kept (the code: the first 30 tweets of
  a step, oldest day first).
- Time steps and tweets: as the code's `_trading_day_alignment`: the price window's trading days
  plus d; a lag calendar day's tweets go to the first step strictly after it (from
  extras["price_ages"] and `text_item_ages`). Each step's price input is the previous trading day's
  row (the code's shifted price list); the first step has no earlier row in finfusion's window and
  gets zeros (the code reads one extra row). The price vector is the sample's whole X row (on the
  benchmark: movement, open, high, low, close, log volume, present, as scaled by the run); the
  code feeds high, low, close.
- Decoder: the code's default `vmd_rec: zh` (a GRU over x gives h_t; prior and posterior of z_t
  read [x_t, h_t, z_{t-1}] (+ y_t); g_t = tanh(W [h_t, z_t])). In our reading the paper's g_t
  also reads x_t (as the code's `vmd_rec: h` variant does); not followed. z_0 = 0 (the code
  draws z_0 ~ N(0, I), which makes its predictions random); the prior's "sample" is its mean, as
  in the code.
- Prediction (eval mode): every step uses the prior, so nothing of y enters; the code feeds the
  posterior (with the lag days' true movements) to the auxiliary steps at test time and the prior
  only at the target step. The posterior needs y, so it is used only in training.
- Auxiliary targets: `aux_labels="band"` (default) labels a lag day by the benchmark's thresholds
  (fall < `aux_fall`, rise >= `aux_rise`; a neutral day has no auxiliary likelihood, only its KL
  term, and its posterior reads y_t = 0); "sign" is the code's rule (fall if movement <= 1e-7,
  else rise; no day masked). Movements come from extras["price_movements"] (raw fractions: the
  run z-scores X, so X's movement column cannot be thresholded).
- Objective: the code's generative ATA: CE_T + lambda KL_T + alpha sum_{t<T} v*_t (CE_t + lambda KL_t),
  alpha = 0.5, lambda = min(0.005 * step, 1) from step 0 (`kl_anneal_rate`, `kl_start_step`), where
  step counts optimiser steps: the network keeps a counter (a buffer, saved with the weights, so a
  warm start continues the schedule), advanced by every training-mode forward with targets: the
  shared trainer calls one per optimiser step. The trainer adds CE_T; the rest is the "aux_loss".
- Training defaults from the code's config.yml: Adam lr 1e-3, batch 32, 15 epochs, gradient-norm
  clip 15, dropout 0.3 on the decoder input, no weight decay; sizes msg 100, hidden = z 150, g 50.
  Neither the paper's nor the code's word-level dropout applies to frozen vectors.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from finfusion.errors import DataError
from finfusion.models.base import Samples, Task, store_params
from finfusion.models.daily_items import PRICE_AGES, DailyNewsPredictor, daily_item_vectors
from finfusion.models.params import (
    Fraction,
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
from finfusion.models.stocknet_net import AuxLabels, StockNetNet
from finfusion.text.inference import Engine, Precision

PRICE_MOVEMENTS = "price_movements"


class StockNetModule(nn.Module):
    """The text encoder (attribute "encoder") in front of `StockNetNet`: a `DailyItemsDataset` batch
    -> item vectors (B, D, K, H_enc) -> {"pred": (B, 2) logits, "aux_loss" in training, ...}."""

    def __init__(self, encoder: nn.Module, net: StockNetNet, day_ages: torch.Tensor) -> None:
        super().__init__()
        self.encoder, self.net = encoder, net
        self.register_buffer("day_ages", day_ages, persistent=False)  # (D,) oldest first

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        items = daily_item_vectors(self.encoder, batch)  # (B, D, K, H_enc)
        x = batch["x"]
        prices = x if x.dim() == 3 else x.unsqueeze(1)  # (B, L, d); X (n, d) is a one-row window
        return self.net(items, batch["day_mask"], self.day_ages, prices, batch[PRICE_AGES],
                        batch[PRICE_MOVEMENTS], batch.get("y"))


@register("stocknet")
class StockNetPredictor(DailyNewsPredictor):
    """StockNet (Xu & Cohen, ACL 2018; HedgeFundAnalyst): per-step attention over the tweets, a
    variational movement decoder with temporal auxiliary targets (see the module docstring).

    Samples need `text_item_ages`, extras["price_ages"] and extras["price_movements"] (the StockNet
    benchmark's samples carry them) and labels 0 (fall) / 1 (rise).

    msg_size        M, the message embedding (the code's mel_h_size 100)
    hidden          the decoder GRU and the latent z (the code's h_size = z_size 150)
    g_size          the decoder output g_t (50)
    dropout         on the decoder input x_t (the code's dropout_vmd_in 0.3)
    alpha           weight of the auxiliary objectives (the paper's alpha, 0.5)
    kl_anneal_rate  lambda = min(kl_anneal_rate * step, 1) (0.005: 1 after 200 optimiser steps)
    kl_start_step   lambda = 0 before this step (0)
    aux_labels      "band" (the benchmark's thresholds, neutral days unlabelled) or "sign" (the code's)
    aux_fall, aux_rise  the band's thresholds (fractions)
    days, max_items_per_day and the encoder parameters as `DailyNewsPredictor`.
    """

    tasks: ClassVar[tuple[Task, ...]] = ("classification",)
    batch_extras: ClassVar[tuple[str, ...]] = (PRICE_AGES, PRICE_MOVEMENTS)
    # The objective's settings are built into the network too: a warm start refuses a change of them.
    architecture_params = (*DailyNewsPredictor.architecture_params, "msg_size", "hidden", "g_size", "dropout",
                           "alpha", "kl_anneal_rate", "kl_start_step", "aux_labels", "aux_fall", "aux_rise")

    def __init__(self, *, model: str | None = None, pooling: Pooling = "mean", max_length: TokenLength = 64,
                 tuning: Tuning = "frozen", top_k: PositiveInt = 2, lora_rank: PositiveInt = 4,
                 lora_alpha: PositiveInt = 8, lora_dropout: Probability = 0.0,
                 encoder_dropout: Probability | None = None,
                 encoder_engine: Engine = "torch", encoder_precision: Precision = "fp32",
                 encoder_lr: PositiveFloat = 2e-5, encoder_frozen_epochs: NonNegativeInt = 0,
                 days: PositiveInt = 5, max_items_per_day: PositiveInt = 16,
                 msg_size: PositiveInt = 100, hidden: PositiveInt = 150, g_size: PositiveInt = 50,
                 dropout: Probability = 0.3, alpha: Fraction = 0.5, kl_anneal_rate: PositiveFloat = 0.005,
                 kl_start_step: NonNegativeInt = 0, aux_labels: AuxLabels = "band", aux_fall: float = -0.005,
                 aux_rise: float = 0.0055,
                 epochs: PositiveInt = 15, batch_size: PositiveInt = 32, lr: PositiveFloat = 1e-3,
                 weight_decay: NonNegativeFloat = 0.0, l2: NonNegativeFloat = 0.0,
                 grad_clip: PositiveFloat | None = 15.0, early_stopping_patience: PositiveInt | None = None,
                 seed: Seed = 0, warm_start: bool = False, warm_epochs: PositiveInt | None = None,
                 warm_replay: NonNegativeInt | None = None, show_progress: bool = False, device: str = "cpu") -> None:
        store_params(self, locals())
        self._check_encoder_inference()

    def _learn_inputs(self, train: Samples) -> None:
        super()._learn_inputs(train)
        name = type(self).__name__
        if self.classes_.tolist() != [0, 1]:
            raise DataError(f"{name}: predicts the benchmark's fall (0) / rise (1) labels, got classes "
                            f"{self.classes_.tolist()}")
        if self.first_age_ < 1:
            raise DataError(f"{name}: puts a day's tweets on the first trading day after it, so news items must be "
                            f"at least 1 day old; the training samples hold items of age {self.first_age_}")
        if not self.aux_fall < self.aux_rise:
            raise DataError(f"{name}: aux_fall ({self.aux_fall}) must be below aux_rise ({self.aux_rise})")
        rows = 1 if train.X.ndim == 2 else train.X.shape[1]
        for key in self.batch_extras:
            shape = np.shape(train.extras[key]) if key in train.extras else None
            if shape != (len(train), rows):
                raise DataError(f"{name}: extras[{key!r}] must be ({len(train)}, {rows}), one value per row of the "
                                f"price window X, got {shape}")

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        encoder = self._take_encoder()
        net = StockNetNet(encoder.hidden_size, self.input_shape_[-1], msg_size=self.msg_size, hidden=self.hidden,
                          g_size=self.g_size, dropout=self.dropout, alpha=self.alpha,
                          kl_anneal_rate=self.kl_anneal_rate, kl_start_step=self.kl_start_step,
                          fall=self.aux_fall, rise=self.aux_rise, aux_labels=self.aux_labels, n_classes=n_outputs or 2)
        day_ages = torch.arange(self.first_age_ + self.days - 1, self.first_age_ - 1, -1)  # (D,) oldest first
        return StockNetModule(encoder, net, day_ages)
