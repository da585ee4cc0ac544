"""Simulated long/flat trading from direction predictions, with and without transaction costs.

Strategy (hand-written: a few lines of pandas, and the exact timing and cost conventions below
are what we want to state and test rather than inherit from a backtest library):

* **Signal.** The prediction of row (t, i) is the direction of ticker i from the close of day t
  to the close of the next trading day. Ticker i is long over that period when the prediction
  is up: ``y_pred == up_label``, or ``p_1 > threshold`` when a threshold is given. Otherwise it
  is flat (no shorting). A ticker without a prediction on day t is flat.
* **Realised returns come from data**, not from the label: ``returns`` holds the simple return
  r(t, i) = (p[t+1] - p[t]) / p[t] keyed by the *decision* date t (the regression target of
  ``data.targets.make_targets(prices, kind="return")``; rename its column ``target`` to
  ``return``). A long position without a realised return raises: nothing is dropped silently.
* **Portfolio.** On each date the long tickers share the capital equally:
  w(t, i) = 1 / |L_t| for i in the long set L_t, 0 otherwise; with no long ticker the
  strategy holds cash (return 0). With one ticker this is the plain long/flat strategy.
  Gross return R_t = sum_i w(t, i) r(t, i), earned over (t, t+1].
* **Costs.** ``cost_bps`` basis points per side, charged on turnover:
  turnover_t = sum_i |w(t, i) - w(t-1, i)| (weights before the first date are 0), cost_t =
  turnover_t * cost_bps / 10_000, net R_t = R_t - cost_t. Entering and later leaving one full
  position therefore costs 2 * cost_bps. Weight drift between dates is ignored (the target
  weights are assumed to be re-established at each close at no extra cost), and a position
  still open after the last date is not closed (no final exit cost).
* **Trades** count entries and exits: the (date, ticker) pairs where the long/flat state of a
  ticker changes (starting flat).

Summary statistics of the daily gross and net series: `evaluate.performance.performance_stats`
(cumulative_return, annual_return, sharpe, max_drawdown; 252 periods a year, risk-free rate 0
unless given) with suffixes _gross / _net; exposure = share of dates with at least one long position.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from finfusion.data.predictions import UP_PROBA
from finfusion.errors import DataError
from finfusion.evaluate.costs import net_of_costs, turnover
from finfusion.evaluate.folds import unit_columns
from finfusion.evaluate.performance import TRADING_DAYS, performance_stats
from finfusion.evaluate.tables import require_columns, require_unique_rows

DEFAULT_COST_BPS = 5.0
PNL_STATS = ("cumulative_return", "annual_return", "sharpe", "max_drawdown")


def long_signals(predictions: pd.DataFrame, *, threshold: float | None = None, proba_col: str = UP_PROBA,
                 up_label: object = 1) -> pd.Series:
    """Boolean long signal per row: y_pred == up_label, or proba_col > threshold when given."""
    if threshold is None:
        require_columns(predictions, ["y_pred"], "predictions frame")
        return (predictions["y_pred"] == up_label).astype(bool)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"long_signals: threshold must be a probability in [0, 1], got {threshold}")
    require_columns(predictions, [proba_col], "predictions frame (threshold needs the probability)")
    return (predictions[proba_col].astype("float64") > threshold).astype(bool)


def _returns_frame(returns: pd.DataFrame | pd.Series, return_col: str) -> pd.DataFrame:
    if isinstance(returns, pd.Series):
        if returns.index.nlevels != 2:
            raise DataError("returns: a Series must be indexed by (date, ticker), "
                            f"got an index with {returns.index.nlevels} level(s)")
        returns = returns.rename(return_col).rename_axis(["date", "ticker"]).reset_index()
    require_columns(returns, ["date", "ticker", return_col], "returns frame")
    frame = returns[["date", "ticker", return_col]].rename(columns={return_col: "_ret"})
    require_unique_rows(frame, "returns frame")
    return frame


def daily_pnl(
    predictions: pd.DataFrame,
    returns: pd.DataFrame | pd.Series,
    *,
    threshold: float | None = None,
    cost_bps: float = DEFAULT_COST_BPS,
    proba_col: str = UP_PROBA,
    up_label: object = 1,
    return_col: str = "return",
) -> pd.DataFrame:
    """Daily long/flat equal-weight strategy of ONE model run (see the module docstring).

    predictions  rows (date, ticker, y_pred[, p_1]) of one model and seed; one row per (date, ticker).
    returns      frame (date, ticker, `return_col`) or Series indexed by (date, ticker): the simple
                 return from the close of `date` to the next close (a fraction).
    Returns one row per prediction date (sorted): date, n_long, gross, turnover, cost, net, trades.
    """
    if cost_bps < 0:
        raise ValueError(f"daily_pnl: cost_bps must be >= 0, got {cost_bps}")
    require_columns(predictions, ["date", "ticker"], "predictions frame")
    dup = predictions.duplicated(["date", "ticker"])
    if dup.any():
        raise DataError(f"daily_pnl: predictions have {int(dup.sum())} duplicated (date, ticker) row(s); "
                        "pass one model and seed at a time (see pnl_table)")
    frame = predictions[["date", "ticker"]].copy()
    frame["long"] = long_signals(predictions, threshold=threshold, proba_col=proba_col, up_label=up_label).to_numpy()
    frame = frame.merge(_returns_frame(returns, return_col), on=["date", "ticker"], how="left", validate="1:1")
    missing = frame["long"] & ~np.isfinite(frame["_ret"].astype("float64"))
    if missing.any():
        first = frame.loc[missing].iloc[0]
        raise DataError(f"daily_pnl: {int(missing.sum())} long position(s) without a finite realised return, first "
                        f"({first['date']}, {first['ticker']}); the returns must cover every predicted long")
    frame["long"] = frame["long"].astype("float64")
    long = frame.pivot(index="date", columns="ticker", values="long").fillna(0.0).sort_index() > 0
    rets = frame.pivot(index="date", columns="ticker", values="_ret").reindex_like(long).astype("float64")
    n_long = long.sum(axis=1)
    weights = long.astype("float64").div(n_long.where(n_long > 0, 1), axis=0)
    gross = (weights * rets.fillna(0.0)).sum(axis=1)
    traded = turnover(weights)
    trades = long.astype("int64").diff().fillna(long.astype("int64")).abs().sum(axis=1)
    cost, net = net_of_costs(gross, traded, cost_bps)
    out = pd.DataFrame({"n_long": n_long.astype("int64"), "gross": gross, "turnover": traded, "cost": cost,
                        "net": net, "trades": trades.astype("int64")})
    return out.rename_axis("date").reset_index()


def pnl_summary(daily: pd.DataFrame, *, periods_per_year: float = TRADING_DAYS,
                risk_free: float = 0.0) -> dict[str, float]:
    """Summary of a `daily_pnl` frame: the `PNL_STATS` of `performance_stats` without costs (suffix
    _gross) and with costs (suffix _net), n_days, n_trades, turnover (total) and exposure."""
    out: dict[str, float] = {}
    for kind in ("gross", "net"):
        stats = performance_stats(daily[kind], periods_per_year=periods_per_year, risk_free=risk_free)
        out.update({f"{k}_{kind}": stats[k] for k in PNL_STATS})
    out["n_days"] = int(len(daily))
    out["n_trades"] = int(daily["trades"].sum())
    out["turnover"] = float(daily["turnover"].sum())
    out["exposure"] = float((daily["n_long"] > 0).mean()) if len(daily) else float("nan")
    return out


def pnl_table(
    predictions: pd.DataFrame,
    returns: pd.DataFrame | pd.Series,
    *,
    group_cols: Sequence[str] | None = None,
    threshold: float | None = None,
    cost_bps: float = DEFAULT_COST_BPS,
    proba_col: str = UP_PROBA,
    up_label: object = 1,
    return_col: str = "return",
    periods_per_year: float = TRADING_DAYS,
    risk_free: float = 0.0,
) -> pd.DataFrame:
    """`pnl_summary` of every model run (default groups: those of point, seed, model present),
    one row per group in order of first appearance, with cost_bps, threshold and risk_free columns."""
    keys = unit_columns(predictions, group_cols)
    groups = predictions.groupby(keys, sort=False, dropna=False) if keys else [((), predictions)]
    rows = []
    for values, frame in groups:
        values = values if isinstance(values, tuple) else (values,)
        daily = daily_pnl(frame, returns, threshold=threshold, cost_bps=cost_bps, proba_col=proba_col,
                          up_label=up_label, return_col=return_col)
        rows.append({**dict(zip(keys, values)), **pnl_summary(daily, periods_per_year=periods_per_year, risk_free=risk_free),
                     "cost_bps": float(cost_bps), "threshold": threshold, "risk_free": float(risk_free)})
    return pd.DataFrame(rows)
