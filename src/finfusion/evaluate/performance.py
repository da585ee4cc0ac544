"""Performance of a return series: the one home of Sharpe, Sortino, drawdown and annual return.

Every backtest in finfusion (the long/flat direction PnL, the decile portfolios, the RL
portfolios) summarises its period returns R_1..R_n (simple returns, fractions) here, with
empyrical doing the arithmetic and one naming:

    cumulative_return  prod(1 + R_j) - 1
    annual_return      (1 + cumulative_return) ** (A / n) - 1            (geometric)
    annual_volatility  std(R, ddof=1) * sqrt(A)
    sharpe             mean(R - rf) / std(R - rf, ddof=1) * sqrt(A);  NaN when n < 2 or R is constant
    sortino            mean(R - rf) / DD * sqrt(A),  DD = sqrt(mean(min(0, R - rf)^2)) over all periods
    max_drawdown       min_j (V_j / max_{s<=j} V_s - 1) with V_0 = 1: a fraction <= 0
    calmar             annual_return / |max_drawdown|  (NaN without a drawdown)
    n_periods          n

A = `periods_per_year` (252 for daily returns; 252 / h for non-overlapping h-day periods, see
`periods_per_year()`), and rf = `risk_free` / A per period, where `risk_free` is an ANNUAL rate
(a fraction: 0.02 is 2 %). The default risk-free rate is 0; seed 002's RL study uses 2 %. Every
table that shows a Sharpe ratio states its rate: `risk_free_note()` gives the caption text.

`equity_curve` and `drawdown_curve` give the series behind cumulative_return and max_drawdown,
for plots.
"""

from __future__ import annotations

from collections.abc import Sequence

import empyrical
import numpy as np
import pandas as pd

from finfusion.errors import ConfigError, DataError

TRADING_DAYS = 252
STATS = ("cumulative_return", "annual_return", "annual_volatility", "sharpe", "sortino", "max_drawdown", "calmar",
         "n_periods")


def periods_per_year(holding_period: int, *, trading_days: float = TRADING_DAYS) -> float:
    """Annualisation factor of non-overlapping periods of `holding_period` trading days."""
    if holding_period < 1 or trading_days <= 0:
        raise ConfigError(f"holding_period={holding_period!r}, trading_days={trading_days!r}; expected >= 1 and > 0")
    return float(trading_days) / float(holding_period)


def _checked(returns: Sequence[float] | pd.Series, what: str) -> np.ndarray:
    r = np.asarray(returns, dtype="float64").reshape(-1)
    if not np.isfinite(r).all():
        raise DataError(f"{what}: {int((~np.isfinite(r)).sum())} non-finite period return(s)")
    return r


def performance_stats(returns: Sequence[float] | pd.Series, *, periods_per_year: float = TRADING_DAYS,
                      risk_free: float = 0.0) -> dict[str, float]:
    """The module docstring's statistics of period returns R (n,) in time order (fractions);
    `risk_free` is an annual rate. NaN statistics (n_periods 0) for an empty series."""
    if not periods_per_year > 0:
        raise ConfigError(f"periods_per_year={periods_per_year!r}; expected > 0")
    r = _checked(returns, "performance_stats")
    n, nan = int(r.size), float("nan")
    if n == 0:
        return {**dict.fromkeys(STATS[:-1], nan), "n_periods": 0}
    rf = risk_free / periods_per_year
    varied = n >= 2 and float(np.ptp(r)) > 0.0
    drawdown = float(empyrical.max_drawdown(r))
    annual = float(empyrical.annual_return(r, annualization=periods_per_year))
    return {
        "cumulative_return": float(empyrical.cum_returns_final(r)),
        "annual_return": annual,
        "annual_volatility": float(empyrical.annual_volatility(r, annualization=periods_per_year)) if n >= 2 else nan,
        "sharpe": float(empyrical.sharpe_ratio(r, risk_free=rf, annualization=periods_per_year)) if varied else nan,
        "sortino": float(empyrical.sortino_ratio(r, required_return=rf, annualization=periods_per_year)),
        "max_drawdown": drawdown,
        "calmar": annual / abs(drawdown) if drawdown < 0 else nan,
        "n_periods": n,
    }


def equity_curve(returns: pd.Series) -> pd.Series:
    """V_t = prod_{s<=t} (1 + R_s): the value of 1 invested before the first period, same index."""
    values = np.cumprod(1.0 + _checked(returns, "equity_curve"))
    return pd.Series(values, index=returns.index, name="equity")


def drawdown_curve(returns: pd.Series) -> pd.Series:
    """V_t / max(1, max_{s<=t} V_s) - 1: the fall from the running peak (fractions <= 0), same index;
    its minimum is `performance_stats`' max_drawdown."""
    values = equity_curve(returns).to_numpy()
    peak = np.maximum.accumulate(np.maximum(values, 1.0))
    return pd.Series(values / peak - 1.0, index=returns.index, name="drawdown")


def risk_free_note(risk_free: float, periods_per_year: float = TRADING_DAYS) -> str:
    """Caption text for a table with Sharpe / Sortino ratios: the stated risk-free rate and A."""
    return (f"Sharpe and Sortino ratios are annualised (A = {periods_per_year:g} periods a year) with a "
            f"risk-free rate of {risk_free:.2%} a year.")
