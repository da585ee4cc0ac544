"""Realised returns for portfolio backtests, and joining them to predictions.

A realised-returns frame has one row per (date, ticker) and columns

    date      the decision date t (datetime64)
    ticker    str
    return    the simple return (p[t+h] - p[t]) / p[t] realised from the close of t over the
              holding period of h trading rows of the ticker (a fraction: 0.01 = 1 %)
    end_date  optional: the date of row t+h (used to check that held periods do not overlap)

It is keyed by the decision date and computed from prices, never from the model's labels, so a
prediction made at the close of t is scored on exactly the return it is about.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finfusion.data.frames import CleaningReport
from finfusion.data.targets import make_targets
from finfusion.errors import DataError
from finfusion.evaluate.tables import require_columns, require_numeric, require_unique_rows

RETURN_COL = "return"


def realised_returns(prices: pd.DataFrame, *, horizon: int = 1, price_column: str = "close",
                     report: CleaningReport | None = None) -> pd.DataFrame:
    """Realised returns over `horizon` trading rows from a prices frame (date, ticker, `price_column`).

    Uses `data.targets.make_targets(kind="return")`; the last `horizon` rows of each ticker have no
    return and are dropped (counted in `report`). Returns columns date, ticker, return, end_date,
    sorted by (date, ticker).
    """
    targets = make_targets(prices, kind="return", horizon=horizon, price_column=price_column, report=report)
    out = targets.rename(columns={"target": RETURN_COL, "target_date": "end_date"})
    out = out[["date", "ticker", RETURN_COL, "end_date"]]
    return out.sort_values(["date", "ticker"], kind="mergesort").reset_index(drop=True)


def check_returns(returns: pd.DataFrame, return_col: str = RETURN_COL) -> pd.DataFrame:
    """Validate a realised-returns frame: columns date, ticker, `return_col` (numeric), one row per
    (date, ticker). Returns the columns date, ticker, return[, end_date] (renamed to "return")."""
    require_columns(returns, ["date", "ticker", return_col], "realised-returns frame")
    require_numeric(returns, return_col, "realised-returns frame")
    require_datetime(returns, "realised-returns frame")
    cols = ["date", "ticker", return_col] + (["end_date"] if "end_date" in returns.columns else [])
    frame = returns[cols].rename(columns={return_col: RETURN_COL})
    require_unique_rows(frame, "realised-returns frame")
    return frame


def require_datetime(frame: pd.DataFrame, what: str) -> None:
    """Raise a DataError unless `frame["date"]` is datetime64 (string dates would never match)."""
    if not pd.api.types.is_datetime64_any_dtype(frame["date"]):
        raise DataError(f"{what} column 'date' must be datetime64, got dtype {frame['date'].dtype}; "
                        "convert it with pd.to_datetime")


def attach_returns(rows: pd.DataFrame, returns: pd.DataFrame, *, return_col: str = RETURN_COL,
                   what: str = "held position") -> pd.DataFrame:
    """`rows` (with date, ticker) plus the realised return column "return" (and end_date if given).

    Every row needs a finite realised return: a missing one raises a DataError naming the count
    and the first (date, ticker), since each row is a position somebody holds.
    """
    frame = check_returns(returns, return_col)
    drop = [c for c in frame.columns if c in rows.columns and c not in ("date", "ticker")]
    out = rows.drop(columns=drop).merge(frame, on=["date", "ticker"], how="left", validate="m:1")
    missing = ~np.isfinite(out[RETURN_COL].to_numpy(dtype="float64"))
    if missing.any():
        first = out.loc[missing].iloc[0]
        raise DataError(f"{int(missing.sum())} {what}(s) without a finite realised return, first "
                        f"({first['date']}, {first['ticker']}); the returns frame must cover every ticker "
                        "predicted on a rebalance date")
    return out
