"""Portfolio and prediction metrics of decile backtests, and the per-method table (seed 001, Table 1).

Portfolio statistics of each book's period returns: `evaluate.performance.performance_stats`
(empyrical; cumulative_return, annual_return, annual_volatility, sharpe, max_drawdown) with the
annualisation factor A = trading_days / holding_period (252 / h for daily data with an h-day
holding period; pass `periods_per_year` for other calendars) and the risk-free rate `risk_free`
(annual, default 0); turnover is the mean turnover per period (the first period's entry included).

Prediction metrics, per unit over the cross-sections of the rebalance dates (the ones traded, so
consecutive dates' returns do not overlap), between the score and the realised return:

    ic, rank_ic        mean over dates of the Pearson / Spearman correlation across tickers
                       (`evaluate.metrics.ic_by_date`; a date with < 2 tickers or a constant
                       column has no IC and is left out); *_std its std (ddof=1); icir and
                       rank_icir = mean / std. Seed 001 calls the rank version "IC".
    mape               mean(|y - y_hat| / |y|) over the rows with |y| >= mape_eps (y the realised
                       return, y_hat the score); the rows with |y| < mape_eps are excluded, since
                       the ratio explodes near 0, and counted in mape_n_excluded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from finfusion.errors import ConfigError, DataError
from finfusion.evaluate.metrics import ic_by_date, ic_summary
from finfusion.evaluate.performance import TRADING_DAYS, performance_stats
from finfusion.evaluate.performance import periods_per_year as annualisation
from finfusion.portfolio.backtest import UNIVERSE, Backtest, method_label
from finfusion.portfolio.returns import RETURN_COL, attach_returns
from finfusion.portfolio.selection import unit_mask

MAPE_EPS = 1e-3
BOOK_STATS = ("annual_return", "annual_volatility", "sharpe", "max_drawdown")


def mape(y_true: Sequence[float], y_pred: Sequence[float], *, eps: float = MAPE_EPS) -> dict[str, float]:
    """mean(|y - y_hat| / |y|) over rows with |y| >= eps (a fraction), with n_used and n_excluded.
    NaN when every row is excluded."""
    if not eps > 0:
        raise ConfigError(f"mape eps={eps!r}; expected > 0")
    y, p = np.asarray(y_true, dtype="float64"), np.asarray(y_pred, dtype="float64")
    if y.shape != p.shape:
        raise DataError(f"mape: y_true has {y.size} values but y_pred has {p.size}")
    if not (np.isfinite(y).all() and np.isfinite(p).all()):
        raise DataError("mape: y_true and y_pred must be finite")
    keep = np.abs(y) >= eps
    value = float(np.mean(np.abs(y[keep] - p[keep]) / np.abs(y[keep]))) if keep.any() else float("nan")
    return {"mape": value, "mape_n_used": int(keep.sum()), "mape_n_excluded": int((~keep).sum())}


def information_coefficients(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-date IC and rank IC of ONE unit's rows (date, score, return): columns date, ic, rank_ic."""
    if rows.empty:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "ic": pd.Series(dtype="float64"),
                             "rank_ic": pd.Series(dtype="float64")})
    ic = ic_by_date(rows, method="pearson", true_col=RETURN_COL, pred_col="score")
    rank_ic = ic_by_date(rows, method="spearman", true_col=RETURN_COL, pred_col="score")
    return pd.DataFrame({"ic": ic, "rank_ic": rank_ic}).rename_axis("date").reset_index()


def ic_stats(per_date: pd.DataFrame) -> dict[str, float]:
    """ic, ic_std, icir, rank_ic, rank_ic_std, rank_icir, n_ic_dates of an `information_coefficients` frame."""
    ic, rank = ic_summary(per_date["ic"]), ic_summary(per_date["rank_ic"])
    return {"ic": ic["mean"], "ic_std": ic["std"], "icir": ic["icir"], "rank_ic": rank["mean"],
            "rank_ic_std": rank["std"], "rank_icir": rank["icir"], "n_ic_dates": ic["n_dates"]}


def portfolio_table(result: Backtest, predictions: pd.DataFrame, returns: pd.DataFrame, *,
                    periods_per_year: float | None = None, trading_days: float = TRADING_DAYS,
                    kind: str = "net", mape_eps: float = MAPE_EPS, with_mape: bool = True,
                    risk_free: float = 0.0) -> pd.DataFrame:
    """One row per unit of `result` (per model when model is the only grouping column) plus the
    Universe row, with seed 001's Table 1 columns first (fractions, not %): long_only_annual_return,
    long_only_sharpe, long_short_annual_return, long_short_sharpe, mape, ic, rank_ic; then
    volatility, max drawdown and mean turnover of both books, IC std / ICIR, counts and settings.

    predictions, returns  the frames given to `backtest` (prediction metrics use its rebalance dates).
    kind                  "net" (after costs) or "gross" period returns.
    risk_free             annual risk-free rate of the Sharpe ratios (a fraction; column risk_free).
    with_mape             False when the score is not a return forecast (e.g. p(rise)): no MAPE columns.
    """
    if kind not in ("net", "gross"):
        raise ConfigError(f"kind={kind!r}; expected 'net' or 'gross'")
    ppy = periods_per_year
    if ppy is None:
        ppy = annualisation(result.holding_period, trading_days=trading_days)
    keys = list(result.keys)
    traded = predictions[predictions["date"].isin(result.rebalance_dates)]
    traded = traded[keys + ["date", "ticker", result.score_col]].rename(columns={result.score_col: "score"})
    traded = attach_returns(traded, returns, return_col=result.return_col, what="predicted ticker")
    books = result.periods[result.periods["strategy"] != "universe"]
    units = books.groupby(keys, sort=False, dropna=False) if keys else [((), books)]
    rows = []
    for values, periods in units:
        labels = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        mine = traded[unit_mask(traded, labels)]
        row = {"method": method_label(labels), **labels}
        for book in ("long_only", "long_short"):
            row.update(_book_stats(periods[periods["strategy"] == book], book, kind, ppy, risk_free))
        if with_mape:
            row.update(mape(mine[RETURN_COL], mine["score"], eps=mape_eps))
        row.update(ic_stats(information_coefficients(mine)))
        row["n_skipped"] = int(unit_mask(result.skipped, labels).sum())
        rows.append(row)
    universe = result.periods[result.periods["strategy"] == "universe"]
    rows.append({"method": UNIVERSE, **_book_stats(universe, "long_only", kind, ppy, risk_free), "n_skipped": 0})
    table = pd.DataFrame(rows).assign(cost_bps=result.cost_bps, returns=kind, periods_per_year=ppy,
                                         risk_free=float(risk_free))
    for column in ("n_periods", "n_skipped", "mape_n_used", "mape_n_excluded", "n_ic_dates"):
        if column in table.columns:
            table[column] = table[column].astype("Int64")
    return table[_ordered(table.columns, keys)]


def _book_stats(periods: pd.DataFrame, book: str, kind: str, ppy: float, risk_free: float) -> dict[str, float]:
    stats = performance_stats(periods.sort_values("date")[kind], periods_per_year=ppy, risk_free=risk_free)
    out = {f"{book}_{k}": stats[k] for k in (*BOOK_STATS, "cumulative_return")}
    out[f"{book}_turnover"] = float(periods["turnover"].mean()) if len(periods) else float("nan")
    out["n_periods"] = stats["n_periods"]
    return out


def _ordered(columns: pd.Index, keys: list[str]) -> list[str]:
    first = ["method", *keys, "long_only_annual_return", "long_only_sharpe", "long_short_annual_return",
             "long_short_sharpe", "mape", "ic", "rank_ic"]
    first = [c for c in first if c in columns]
    return first + [c for c in columns if c not in first]
