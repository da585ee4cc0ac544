"""Prediction targets from a prices frame, computed per ticker over its consecutive trading rows.

With p[t] the `price_column` of a ticker on its t-th row (rows sorted by date) and h the horizon:

    return      (p[t+h] - p[t]) / p[t]        fraction (0.01 = 1 %)
    log_return  log(p[t+h] / p[t])
    direction   1 if return > upper, 0 if return <= lower; rows with lower < return <= upper
                are dropped (neutral band, default (0.0, 0.0); StockNet uses (-0.005, 0.0055))
    close       p[t+h]                        price units

The target of day t looks exactly h rows ahead and nothing else, so prices after t+h never
change it. The last h rows of each ticker have no target and are dropped (and counted).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from finfusion.data.frames import CleaningReport
from finfusion.errors import ConfigError, DataError

Kind = Literal["return", "log_return", "direction", "close"]
KINDS = ("return", "log_return", "direction", "close")
STOCKNET_BAND = (-0.005, 0.0055)
STEP = "make_targets"


def make_targets(
    prices: pd.DataFrame,
    *,
    kind: Kind,
    horizon: int = 1,
    price_column: str = "close",
    neutral_band: tuple[float, float] | None = None,
    report: CleaningReport | None = None,
) -> pd.DataFrame:
    """Targets for every (date, ticker) row that has a price `horizon` rows ahead.

    prices   validated prices frame (date, ticker, `price_column`), n rows
    Returns a frame sorted by (ticker, date) with columns date, ticker, target (float64; int64
    for "direction"), target_date (the date of row t+h). Dropped rows are counted in `report`.
    """
    band = _check_args(kind, horizon, neutral_band)
    missing = [c for c in ("date", "ticker", price_column) if c not in prices.columns]
    if missing:
        raise DataError(f"make_targets: prices lack column(s) {missing}; found {list(prices.columns)}")
    report = report if report is not None else CleaningReport()
    frame = prices[["date", "ticker", price_column]].sort_values(["ticker", "date"], kind="mergesort")
    frame = frame.reset_index(drop=True)
    by_ticker = frame.groupby("ticker", sort=False)
    p = frame[price_column].astype("float64")
    future = by_ticker[price_column].shift(-horizon).astype("float64")
    target_date = by_ticker["date"].shift(-horizon)
    no_future = (by_ticker.cumcount(ascending=False) < horizon).to_numpy()
    report.add(STEP, f"no price {horizon} trading row(s) ahead (last {horizon} row(s) of each ticker)",
               int(no_future.sum()), _examples(frame, no_future))
    if kind == "close":
        target = future
    elif kind == "log_return":
        with np.errstate(divide="ignore", invalid="ignore"):
            target = np.log(future / p)
    else:
        target = (future - p) / p
    bad = ~no_future & ~np.isfinite(target.to_numpy())
    report.add(STEP, f"{price_column!r} missing or not positive at t or t+{horizon}", int(bad.sum()), _examples(frame, bad))
    keep = ~no_future & ~bad
    if kind == "direction":
        lower, upper = band
        r = target.to_numpy()
        neutral = keep & (r > lower) & (r <= upper)
        report.add(STEP, f"return inside the neutral band ({lower}, {upper}]", int(neutral.sum()), _examples(frame, neutral))
        keep &= ~neutral
        target = pd.Series((r > upper).astype("int64"), index=frame.index)
    out = pd.DataFrame(
        {"date": frame["date"], "ticker": frame["ticker"], "target": target, "target_date": target_date}
    )
    return out.loc[keep].reset_index(drop=True)


def _check_args(kind: str, horizon: int, neutral_band: tuple[float, float] | None) -> tuple[float, float]:
    if kind not in KINDS:
        raise ConfigError(f"kind={kind!r}; expected one of {list(KINDS)}")
    if not isinstance(horizon, (int, np.integer)) or isinstance(horizon, bool) or horizon < 1:
        raise ConfigError(f"horizon={horizon!r}; expected an integer >= 1 (trading rows ahead)")
    if neutral_band is None:
        return (0.0, 0.0)
    if kind != "direction":
        raise ConfigError(f"neutral_band={neutral_band!r} applies only to kind='direction', not {kind!r}")
    try:
        lower, upper = (float(v) for v in neutral_band)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"neutral_band={neutral_band!r}; expected (lower, upper) returns as fractions") from exc
    if not lower <= upper:
        raise ConfigError(f"neutral_band={neutral_band!r}; expected lower <= upper")
    return (lower, upper)


def _examples(frame: pd.DataFrame, mask: np.ndarray) -> tuple[str, ...]:
    rows = frame.loc[mask].head(3)
    return tuple(f"{t} {d.date()}" for t, d in zip(rows["ticker"], rows["date"]))
