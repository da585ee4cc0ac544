"""Performance metrics of seed 002 (§5.2) from a daily net-return series R_1..R_n (fractions):
final_value = prod(1 + R_t) (start 1.0), avg_turnover = mean daily turnover (the entry day
included), and annual_return, sharpe, sortino, max_drawdown and calmar from
`finfusion.evaluate.performance.performance_stats` (252 days a year) with the paper's annual
risk-free rate of 2 % (`RISK_FREE`). The paper writes Sharpe and Sortino with daily LOG returns;
we use simple returns, empyrical's (and the industry's) convention.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finfusion.errors import DataError
from finfusion.evaluate.performance import TRADING_DAYS, performance_stats

RISK_FREE = 0.02
METRIC_COLUMNS = ("final_value", "annual_return", "sharpe", "sortino", "max_drawdown", "calmar", "avg_turnover",
                  "n_days")


def rl_metrics(daily: pd.DataFrame | pd.Series, *, risk_free: float = RISK_FREE,
               trading_days: int = TRADING_DAYS) -> dict[str, float]:
    """The module docstring's metrics of a daily frame (net_return, turnover columns) or a Series
    of daily net returns (avg_turnover NaN then)."""
    if isinstance(daily, pd.DataFrame):
        if "net_return" not in daily:
            raise DataError(f"rl_metrics: daily frame has no net_return column (columns {list(daily.columns)})")
        r, turnover = daily["net_return"].to_numpy(dtype="float64"), daily.get("turnover")
    else:
        r, turnover = np.asarray(daily, dtype="float64"), None
    stats = performance_stats(r, periods_per_year=trading_days, risk_free=risk_free)
    n = stats["n_periods"]
    return {
        "final_value": 1.0 + stats["cumulative_return"] if n else float("nan"),
        **{k: stats[k] for k in ("annual_return", "sharpe", "sortino", "max_drawdown", "calmar")},
        "avg_turnover": float(np.mean(turnover)) if turnover is not None and n else float("nan"),
        "n_days": n,
    }


def metrics_table(results: dict[str, pd.DataFrame], *, risk_free: float = RISK_FREE,
                  trading_days: int = TRADING_DAYS) -> pd.DataFrame:
    """One row of `rl_metrics` per strategy name (index 'strategy')."""
    rows = {name: rl_metrics(frame, risk_free=risk_free, trading_days=trading_days) for name, frame in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(METRIC_COLUMNS)).rename_axis("strategy")
