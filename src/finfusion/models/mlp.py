"""Num-only MLP baseline of seed 000: numeric encoder (eq. 7-8) + output MLP (eq. 16-17).

The `MLPPredictor` ("mlp") composes `NumericEncoder` and `OutputHead` (models/layers.py) for
numeric features alone, for regression (one real output, MSE) or classification (one logit per
class, cross-entropy).
"""

from __future__ import annotations

import torch
from torch import nn

from finfusion.models.base import store_params
from finfusion.models.layers import NumericEncoder, OutputHead
from finfusion.models.params import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Probability, Seed
from finfusion.models.registry import register
from finfusion.models.torch_predictor import TorchPredictor


class NumOnlyMLP(nn.Module):
    """NumericEncoder -> OutputHead on batch["x"] (B, d); returns (B,) or, with n_classes, (B, C) logits."""

    def __init__(self, d_in: int, hidden: int, n_classes: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.num_encoder = NumericEncoder(d_in, hidden, dropout)
        self.head = OutputHead(hidden, hidden, n_classes or 1, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.head(self.num_encoder(batch["x"]))  # (B, d) -> (B, hidden) -> (B, n_out)
        return out if self.n_classes else out[:, 0]  # (B, C) logits or (B,) values


@register("mlp")
class MLPPredictor(TorchPredictor):
    """Num-only MLP (seed 000 baseline) for regression or classification.

    Inputs: Samples.X (n, d) or (n, L, d); a look-back is flattened to L*d features. The model
    does not scale anything: the protocol scales X (and y) on the training window.

    hidden       width D_h of every hidden layer.
    dropout      dropout after each hidden ReLU (the paper states none: default 0).
    epochs, batch_size, lr, weight_decay, l2, grad_clip, early_stopping_patience, seed,
    show_progress, device
                 training settings, see `finfusion.models.trainer.TrainerConfig`.
    warm_start   a second `fit` continues from the fitted weights (same inputs and task), for
                 `warm_epochs` epochs (None: `epochs`), on the rows after the last fit plus
                 `warm_replay` replayed earlier rows (None: all rows).
    """

    uses_text = False
    architecture_params = ("hidden",)

    def __init__(
        self,
        *,
        hidden: PositiveInt = 64,
        dropout: Probability = 0.0,
        epochs: PositiveInt = 15,
        batch_size: PositiveInt = 16,
        lr: PositiveFloat = 5e-4,
        weight_decay: NonNegativeFloat = 1e-4,
        l2: NonNegativeFloat = 0.0,
        grad_clip: PositiveFloat | None = 1.0,
        early_stopping_patience: PositiveInt | None = None,
        seed: Seed = 0,
        warm_start: bool = False,
        warm_epochs: PositiveInt | None = None,
        warm_replay: NonNegativeInt | None = None,
        show_progress: bool = False,
        device: str = "cpu",
    ) -> None:
        store_params(self, locals())

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return NumOnlyMLP(self.n_features_in_, self.hidden, n_outputs, self.dropout)
