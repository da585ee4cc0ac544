"""finfusion.portfolio: decile stock selection and backtests from cross-sectional predictions.

    returns = realised_returns(prices, horizon=h)                 # (date, ticker, return, end_date)
    selection = assign_groups(predictions, n_groups=10)           # deciles per (unit, date)
    deciles = mean_group_returns(group_returns(selection, returns))
    result = backtest(predictions, returns, holding_period=h, cost_bps=5.0)
    table = portfolio_table(result, predictions, returns)         # seed 001 Table 1 columns

See docs/portfolio.md for the conventions.
"""

from finfusion.portfolio.backtest import STRATEGIES, Backtest, backtest, rebalance_dates
from finfusion.portfolio.metrics import (
    ic_stats,
    information_coefficients,
    mape,
    portfolio_table,
)
from finfusion.portfolio.plots import cumulative_returns, plot_cumulative_returns, plot_decile_returns
from finfusion.portfolio.returns import attach_returns, check_returns, realised_returns
from finfusion.portfolio.selection import Selection, assign_groups, group_returns, mean_group_returns

__all__ = [
    "STRATEGIES",
    "Backtest",
    "Selection",
    "assign_groups",
    "attach_returns",
    "backtest",
    "check_returns",
    "cumulative_returns",
    "group_returns",
    "ic_stats",
    "information_coefficients",
    "mape",
    "mean_group_returns",
    "plot_cumulative_returns",
    "plot_decile_returns",
    "portfolio_table",
    "realised_returns",
    "rebalance_dates",
]
