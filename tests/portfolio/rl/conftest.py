"""Tiny synthetic markets for the RL tests (3 assets x 120 days); torch on one thread."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from finfusion.portfolio.rl import split_market

TICKERS = ["AAA", "BBB", "CCC"]


def synthetic(n_days: int = 120, *, seed: int = 0, nan_every: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(returns, text) of 3 assets; text NaN on every `nan_every`-th day of asset BBB when > 0."""
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2021-01-04", periods=n_days)
    returns = pd.DataFrame(rng.normal(0.0005, 0.01, (n_days, 3)), idx, TICKERS)
    text = pd.DataFrame(rng.uniform(-1, 1, (n_days, 3)), idx, TICKERS)
    if nan_every:
        text.iloc[::nan_every, 1] = np.nan
    return returns, text


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tests run torch on one thread (the CPU is shared); the previous count is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def market() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic()


@pytest.fixture
def make_market():
    """`make_market(n_days=120, seed=0, nan_every=0)` -> (returns, text)."""
    return synthetic


@pytest.fixture
def windows(market):
    """(train, valid, test) MarketWindows of `market` with a 10-day state window (the tests' W)."""
    returns, text = market
    return split_market(returns, text, train_end=returns.index[69], valid_end=returns.index[94], window=10)
