"""Stacked LSTM forecaster of seed 004: a look-back window of daily features -> next-day value.

The paper's network (Keras): LSTM(50, return_sequences) -> LSTM(50) -> Dense(25) -> Dense(1),
on a 60-day window of min-max scaled closes, Adam, MSE. Here:

    x (B, L, d) -> nn.LSTM(d, hidden, num_layers) -> last step (B, hidden)
                -> Linear(hidden, dense) -> Linear(dense, n_out)

The Dense(25) layer of the paper has no activation (Keras' default is linear), so neither has
this one by default (`activation: relu` adds one). The look-back window comes from the samples
(`features.lookback: 60` gives X of shape (n, 60, d)); min-max scaling fit on the training part
only and the inverse scaling of the predicted close are the protocol's (`scaling: {features:
minmax, target: minmax}`): the model never sees unscaled data. `features` picks the columns it
reads, so a price-only LSTM and an LSTM with the daily sentiment index can share one run's
samples.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from finfusion.errors import DataError
from finfusion.models.base import Samples, store_params
from finfusion.models.params import (
    Names,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    Seed,
)
from finfusion.models.registry import register
from finfusion.models.torch_predictor import TorchPredictor
from finfusion.models.trainer import ArrayDataset


class StackedLSTM(nn.Module):
    """LSTM layers over a look-back, then a dense layer and the output layer.

    forward(batch) with batch["x"] (B, L, d) returns (B,) values, or (B, C) logits with n_classes.
    """

    def __init__(
        self,
        d_in: int,
        hidden: int,
        num_layers: int,
        dense: int,
        n_classes: int | None = None,
        dropout: float = 0.0,
        activation: Literal["linear", "relu"] = "linear",
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.lstm = nn.LSTM(
            d_in, hidden, num_layers=num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        act = nn.ReLU() if activation == "relu" else nn.Identity()
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, dense), act, nn.Linear(dense, n_classes or 1))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        states, _ = self.lstm(batch["x"])  # (B, L, d) -> (B, L, hidden)
        out = self.head(states[:, -1])  # last step (B, hidden) -> (B, n_out)
        return out if self.n_classes else out[:, 0]  # (B, C) logits or (B,) values


@register("lstm")
class LSTMPredictor(TorchPredictor):
    """Stacked LSTM on a look-back window (seed 004), for regression or classification.

    Inputs: Samples.X (n, L, d) — the last step is day t; (n, d) is read as a window of one day.

    features     names of the sample features the model reads (None: all), e.g. ["price"] for a
                 price-only LSTM on samples that also carry the sentiment index.
    hidden       units per LSTM layer (paper: 50).
    num_layers   stacked LSTM layers (paper: 2).
    dense        width of the dense layer before the output (paper: 25).
    activation   of the dense layer: "linear" (paper, Keras' default) or "relu".
    dropout      between LSTM layers and before the dense layer (paper: none).
    epochs, batch_size, lr, weight_decay, l2, grad_clip, early_stopping_patience, seed,
    show_progress, device
                 training settings, see `finfusion.models.trainer.TrainerConfig`; the defaults
                 follow Keras' Adam (lr 1e-3, batch 32, no weight decay, no clipping).
    warm_start, warm_epochs, warm_replay
                 continue from the fitted weights on the next fit (see `TorchPredictor`).
    """

    uses_text = False
    architecture_params = ("features", "hidden", "num_layers", "dense", "activation")
    fitted_attributes: ClassVar[tuple[str, ...]] = (*TorchPredictor.fitted_attributes, "feature_index_")

    def __init__(
        self,
        *,
        features: Names | None = None,
        hidden: PositiveInt = 50,
        num_layers: PositiveInt = 2,
        dense: PositiveInt = 25,
        activation: Literal["linear", "relu"] = "linear",
        dropout: Probability = 0.0,
        epochs: PositiveInt = 50,
        batch_size: PositiveInt = 32,
        lr: PositiveFloat = 1e-3,
        weight_decay: NonNegativeFloat = 0.0,
        l2: NonNegativeFloat = 0.0,
        grad_clip: PositiveFloat | None = None,
        early_stopping_patience: PositiveInt | None = None,
        seed: Seed = 0,
        warm_start: bool = False,
        warm_epochs: PositiveInt | None = None,
        warm_replay: NonNegativeInt | None = None,
        show_progress: bool = False,
        device: str = "cpu",
    ) -> None:
        store_params(self, locals())

    def _learn_inputs(self, train: Samples) -> None:
        self._check_params()
        super()._learn_inputs(train)
        names = list(train.feature_names)
        if self.features is None:
            self.feature_index_ = tuple(range(len(names)))
            return
        if isinstance(self.features, str) or not self.features:
            raise ValueError(
                f"LSTMPredictor: features must be None or a non-empty list of names, got {self.features!r}"
            )
        unknown = [f for f in self.features if f not in names]
        if unknown:
            raise DataError(f"LSTMPredictor: features {unknown} are not among the samples' features {names}")
        self.feature_index_ = tuple(names.index(f) for f in self.features)

    def _check_params(self) -> None:
        for name in ("hidden", "num_layers", "dense"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"LSTMPredictor: {name} must be an int >= 1, got {value!r}")
        if self.activation not in ("linear", "relu"):
            raise ValueError(f"LSTMPredictor: activation must be 'linear' or 'relu', got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LSTMPredictor: dropout must be in [0, 1), got {self.dropout!r}")

    def _dataset(self, data: Samples, targets: np.ndarray | None) -> Dataset:
        """Inputs under "x": the selected features as a float32 window (n, L, d_selected)."""
        X = data.X if data.X.ndim == 3 else data.X[:, None, :]
        arrays = {"x": np.ascontiguousarray(X[:, :, list(self.feature_index_)], dtype=np.float32)}
        if targets is not None:
            arrays["y"] = targets
        return ArrayDataset(**arrays)

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return StackedLSTM(
            len(self.feature_index_), self.hidden, self.num_layers, self.dense, n_outputs, self.dropout, self.activation
        )
