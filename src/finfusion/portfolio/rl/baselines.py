"""Baselines of seed 002 over the same decision dates as `PortfolioEnv` (same daily frame as
`env.run_policy`), with the same accounting (`accounting.py`):

    equal_weight   target 1/N every day; turnover_t = ||1/N - held_{t-1}||_1 (held = drifted weights,
                   cash before the first day, so the entry costs c * 1); net = gross - c * turnover.
    buy_and_hold   1/N at entry (cost c * 1 once), then no trade: w_t = held_{t-1}, turnover 0, no
                   cost; V_T = (1 + R_0 / N - c) * prod_{t>0} (1 + w_t . R_t).
    market         a given index return series on the decision dates (no costs, turnover 0, no
                   weights); or, with none given, the equal-weight universe gross of costs
                   (equal_weight with c = 0, its turnover shown for information).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finfusion.errors import ConfigError, DataError
from finfusion.evaluate.performance import equity_curve
from finfusion.portfolio.rl.accounting import trade_day
from finfusion.portfolio.rl.data import MarketWindow
from finfusion.portfolio.rl.env import daily_frame


def _days(data: MarketWindow, window: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    rows = data.decision_rows(window)
    return data.returns.index[rows.start:], data.returns.to_numpy(dtype="float64")[rows.start:]


def _check_commission(commission: float) -> None:
    if not 0.0 <= commission < 0.5:
        raise ConfigError(f"commission={commission!r}; expected a fraction in [0, 0.5)")


def _simulate(dates, r: np.ndarray, tickers: list[str], commission: float, *, rebalance: bool) -> pd.DataFrame:
    n = r.shape[1]
    held, value, out = np.zeros(n), 1.0, []
    for t in range(len(r)):
        w = np.full(n, 1.0 / n) if (rebalance or t == 0) else held
        day = trade_day(w, held, r[t], commission)
        value *= 1.0 + day.net_return
        out.append((value, day.gross_return, day.net_return, day.turnover, w))
        held = day.held_after
    v, g, net, to, w = zip(*out) if out else ((), (), (), (), ())
    return daily_frame(dates, v, g, net, to, np.array(w), tickers)


def equal_weight(data: MarketWindow, *, window: int = 30, commission: float = 0.0025) -> pd.DataFrame:
    """Daily rebalanced 1/N with commission on the drifted turnover (module docstring)."""
    _check_commission(commission)
    dates, r = _days(data, window)
    return _simulate(dates, r, data.tickers, commission, rebalance=True)


def buy_and_hold(data: MarketWindow, *, window: int = 30, commission: float = 0.0025) -> pd.DataFrame:
    """1/N bought once from cash (cost c), then held (module docstring)."""
    _check_commission(commission)
    dates, r = _days(data, window)
    return _simulate(dates, r, data.tickers, commission, rebalance=False)


def market(data: MarketWindow, *, window: int = 30, index_returns: pd.Series | None = None) -> pd.DataFrame:
    """The market benchmark on the decision dates: `index_returns` (simple returns by date) or the
    equal-weight universe gross of costs."""
    dates, r = _days(data, window)
    if index_returns is None:
        return _simulate(dates, r, data.tickers, 0.0, rebalance=True)
    idx = pd.Series(index_returns, dtype="float64")
    idx.index = pd.DatetimeIndex(idx.index)
    missing = dates.difference(idx.index)
    if len(missing):
        raise DataError(f"market: index_returns has no value on {len(missing)} decision date(s), first "
                        f"{missing[0].date()}; expected one simple return per date")
    m = idx.reindex(dates)
    if not (np.isfinite(m.to_numpy()).all() and (m > -1).all()):
        raise DataError("market: index_returns must be finite fractions > -1 on the decision dates")
    m_ = m.to_numpy()
    return daily_frame(dates, equity_curve(m).to_numpy(), m_, m_, np.zeros(len(m_)), None, data.tickers)
