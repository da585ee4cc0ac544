"""Turnover, transaction cost and net return: the one convention every backtest uses.

    turnover_t = sum_i |w(t, i) - w_ref(t, i)|     L1 change of the weights (a fraction of the book)
    cost_t     = turnover_t * cost_bps / 10_000    basis points per side
    net_t      = gross_t - cost_t                  simple returns (fractions)

`w_ref` is what the book held before trading at t: the previous period's target weights (0
before the first period, so entering a full long book costs one side: turnover 1), or, in the
RL environment, those weights drifted by the period's returns (portfolio/rl/accounting.py). The
long/flat direction PnL (evaluate/pnl.py), the decile portfolios (portfolio/backtest.py) and the
RL accounting all charge costs through `net_of_costs`. Hand-written: two lines of arithmetic
whose timing conventions are the point; empyrical and pyfolio take net returns as given.
"""

from __future__ import annotations

from typing import TypeVar

import pandas as pd

BPS = 10_000.0  # basis points per unit
T = TypeVar("T", float, pd.Series)


def turnover(weights: pd.DataFrame) -> pd.Series:
    """L1 turnover per period of target weights (periods x tickers, rows in time order, 0 for a
    ticker not held), with the book empty before the first period: (periods,) fractions."""
    return weights.diff().fillna(weights).abs().sum(axis=1)


def net_of_costs(gross: T, turnover: T, cost_bps: float) -> tuple[T, T]:
    """(cost, net): cost = turnover * cost_bps / 10_000 and net = gross - cost, for one period
    (floats) or many (aligned Series). cost_bps: basis points per side, >= 0."""
    cost = turnover * cost_bps / BPS
    return cost, gross - cost
