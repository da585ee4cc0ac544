"""A small simulated market, written as files up to any day."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from finfusion.data.readers import write_prices, write_texts
from finfusion.data.simulate import SimulatorConfig, simulate_market


@pytest.fixture(scope="package")
def market() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(prices, texts) of 3 simulated tickers over 90 days (a text most days, some after the close)."""
    sim = simulate_market(SimulatorConfig(n_days=90, n_tickers=3, n_features=2, seed=4))
    return sim.prices, sim.texts


@pytest.fixture
def files(tmp_path, market):
    """write(name, last_day=None) -> (prices path, texts path) of the market up to `last_day`."""

    def write(name: str, last_day=None) -> tuple[Path, Path]:
        prices, texts = market
        if last_day is not None:
            prices = prices[prices["date"] <= last_day]
        return (write_prices(prices, tmp_path / f"{name}_prices.csv"),
                write_texts(texts, tmp_path / f"{name}_texts.jsonl"))

    return write
