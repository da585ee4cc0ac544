"""Network building blocks shared by the torch models (no registry imports here)."""

from __future__ import annotations

import torch
from torch import nn


class NumericEncoder(nn.Module):
    """Two ReLU layers (seed 000 eq. 7-8): (B, d_in) -> (B, hidden)."""

    def __init__(self, d_in: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, d_in) -> (B, hidden)


class OutputHead(nn.Module):
    """One hidden ReLU layer, then a linear output (seed 000 eq. 16-17): (B, d_in) -> (B, n_out)."""

    def __init__(self, d_in: int, hidden: int, n_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)  # (B, d_in) -> (B, n_out)
