"""Performance metrics of seed 002 (§5.2) from a daily net-return series R_1..R_n (fractions):

    final_value    prod(1 + R_t)            (start 1.0)
    annual_return  final_value ** (252 / n) - 1   (geometric)
    sharpe         mean(R - rf) / std(R - rf, ddof=1) * sqrt(252),  rf = 0.02 / 252 per day
    sortino        mean(R - rf) / DD * sqrt(252),  DD = sqrt(mean(min(0, R - rf)^2)) over all days
    max_drawdown   min_t (V_t / max_{s<=t} V_s - 1), a fraction <= 0
    calmar         annual_return / |max_drawdown|  (NaN when there is no drawdown)
    avg_turnover   mean daily turnover (the entry day included)

empyrical computes them (sharpe_ratio, sortino_ratio, calmar_ratio; the rest through
`finfusion.portfolio.metrics.performance_stats`). The paper writes Sharpe and Sortino with daily
LOG returns; we use simple returns, empyrical's (and the industry's) convention.
"""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd

from finfusion.errors import DataError
from finfusion.portfolio.metrics import TRADING_DAYS, performance_stats

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
    stats = performance_stats(r, periods_per_year=trading_days)
    rf = risk_free / trading_days
    n = int(r.size)
    varied = n >= 2 and float(np.ptp(r)) > 0
    nan = float("nan")
    return {
        "final_value": 1.0 + stats["cumulative_return"] if n else nan,
        "annual_return": stats["annual_return"],
        "sharpe": float(empyrical.sharpe_ratio(r, risk_free=rf, annualization=trading_days)) if varied else nan,
        "sortino": float(empyrical.sortino_ratio(r, required_return=rf, annualization=trading_days)) if n else nan,
        "max_drawdown": stats["max_drawdown"],
        "calmar": float(empyrical.calmar_ratio(r, annualization=trading_days)) if n else nan,
        "avg_turnover": float(np.mean(turnover)) if turnover is not None and n else nan,
        "n_days": n,
    }


def metrics_table(results: dict[str, pd.DataFrame], *, risk_free: float = RISK_FREE,
                  trading_days: int = TRADING_DAYS) -> pd.DataFrame:
    """One row of `rl_metrics` per strategy name (index 'strategy')."""
    rows = {name: rl_metrics(frame, risk_free=risk_free, trading_days=trading_days) for name, frame in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(METRIC_COLUMNS)).rename_axis("strategy")
