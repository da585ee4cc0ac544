"""Decile portfolio backtests: long-only, long-short and the equal-weight universe (seed 001).

Hand-written (a few lines of pandas) because the timing, leg and cost conventions below are what
we state and test; empyrical computes the summary statistics (`portfolio.metrics`).

Conventions:

* **Schedule.** The prediction dates are the sorted distinct dates of the predictions frame (all
  units together), assumed to be consecutive trading days of the returns' horizon. Every
  `rebalance_every`-th date from `offset` is a rebalance date t_1 < t_2 < ...; all units and the
  universe trade on the same dates. Period j is held from the close of t_j for the holding
  period and earns the realised return of t_j (`portfolio.returns`).
* **Holding period.** `holding_period` is the horizon h (trading rows) the returns frame was built
  with. Only `rebalance_every == holding_period` is supported: consecutive periods then neither
  overlap nor leave gaps. Other steps (overlapping tranches, idle cash between periods) are
  refused with a ConfigError. When the returns frame has an `end_date` column, a held period
  that ends after the next rebalance date raises a DataError (overlap).
* **Groups.** Per unit and rebalance date, `selection.assign_groups` (top = n_groups-1, bottom = 0).
* **Weights.** long_only: +1/|top| on each top-group ticker (1 unit of capital). long_short: the
  long leg +1/|top| on the top group and the short leg -1/|bottom| on the bottom group, each leg
  1 unit of capital, so the gross return is mean(top) - mean(bottom) per unit of capital; short
  proceeds, margin, financing and borrow fees are ignored. universe: +1/N on every ticker with a
  prediction (of any unit) on the date. A unit whose date is skipped (fewer tickers than groups,
  or no prediction) holds cash for that period: weights 0, return 0.
* **Returns.** gross_j = sum_i w(j, i) r(t_j, i). Every ticker predicted on a rebalance date
  needs a finite realised return (the universe holds them all), else DataError.
* **Costs and turnover.** turnover_j = sum_i |w(j, i) - w(j-1, i)| with weights 0 before the
  first period (a fresh long-only book has turnover 1, a fresh long-short book 2). cost_j =
  turnover_j * cost_bps / 10_000 (basis points per side), net_j = gross_j - cost_j. Weight drift
  within a period is ignored and the book still open after the last period is not closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from finfusion.errors import ConfigError, DataError
from finfusion.evaluate.costs import net_of_costs, turnover
from finfusion.evaluate.pnl import DEFAULT_COST_BPS
from finfusion.evaluate.tables import format_cell
from finfusion.portfolio.returns import RETURN_COL, attach_returns
from finfusion.portfolio.selection import (
    DEFAULT_GROUPS,
    SCORE_COL,
    Selection,
    assign_groups,
    check_predictions,
    unit_mask,
)

STRATEGIES = ("long_only", "long_short", "universe")
UNIVERSE = "Universe"
PERIOD_COLUMNS = ["date", "strategy", "n_long", "n_short", "gross", "turnover", "cost", "net"]


@dataclass(frozen=True)
class Backtest:
    """Result of `backtest`.

    periods  one row per unit x rebalance date x strategy: keys..., date, strategy, n_long,
             n_short, gross, turnover, cost, net (fractions). Universe rows have missing keys.
    skipped  keys..., date, n_tickers: the (unit, rebalance date) pairs with fewer tickers than
             groups (0 when the unit has no prediction that date); those periods are held in cash.
    """

    periods: pd.DataFrame
    skipped: pd.DataFrame
    rebalance_dates: tuple[pd.Timestamp, ...]
    keys: tuple[str, ...]
    n_groups: int
    holding_period: int
    cost_bps: float
    score_col: str
    return_col: str

    @property
    def n_skipped(self) -> int:
        return int(len(self.skipped))


def rebalance_dates(dates: Sequence | pd.Series, *, every: int, offset: int = 0) -> pd.DatetimeIndex:
    """Every `every`-th of the sorted distinct `dates`, starting at position `offset`."""
    _check_positive("every", every)
    if not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ConfigError(f"offset={offset!r}; expected an integer >= 0")
    distinct = pd.DatetimeIndex(pd.unique(pd.Series(dates).dropna())).sort_values()
    return distinct[offset::every]


def backtest(
    predictions: pd.DataFrame,
    returns: pd.DataFrame,
    *,
    n_groups: int = DEFAULT_GROUPS,
    holding_period: int = 1,
    rebalance_every: int | None = None,
    offset: int = 0,
    cost_bps: float = DEFAULT_COST_BPS,
    score_col: str = SCORE_COL,
    return_col: str = RETURN_COL,
    group_cols: Sequence[str] | None = None,
) -> Backtest:
    """Backtest the decile portfolios of every unit and the universe (see the module docstring).

    predictions  rows (date, ticker, `score_col`[, point, seed, model]); higher score = better.
    returns      realised-returns frame (date, ticker, `return_col`[, end_date]) of horizon
                 `holding_period`, keyed by the decision date.
    rebalance_every  defaults to `holding_period`; any other value raises a ConfigError.
    """
    _check_positive("holding_period", holding_period)
    every = holding_period if rebalance_every is None else rebalance_every
    _check_positive("rebalance_every", every)
    if every != holding_period:
        raise ConfigError(f"rebalance_every={every} != holding_period={holding_period}: only non-overlapping "
                          "periods are supported; build the returns with horizon=rebalance_every "
                          "(portfolio.realised_returns(prices, horizon=k)) and pass holding_period=k")
    if not np.isfinite(cost_bps) or cost_bps < 0:
        raise ConfigError(f"cost_bps={cost_bps!r}; expected a finite number >= 0 (basis points per side)")
    keys = check_predictions(predictions, score_col=score_col, group_cols=group_cols)
    schedule = rebalance_dates(predictions["date"], every=every, offset=offset)
    traded = predictions[predictions["date"].isin(schedule)]
    selection = assign_groups(traded, n_groups=n_groups, score_col=score_col, group_cols=keys)
    universe = traded[["date", "ticker"]].drop_duplicates()
    held = attach_returns(universe, returns, return_col=return_col)
    _check_no_overlap(held, schedule)
    rets = held.set_index(["date", "ticker"])[RETURN_COL]
    units = predictions[keys].drop_duplicates() if keys else None
    rows = _unit_periods(selection, units, rets, schedule)
    uni = universe.assign(weight=1.0 / universe.groupby("date")["ticker"].transform("size"))
    rows.append(_periods(uni, rets, schedule).assign(strategy="universe", **{k: np.nan for k in keys}))
    periods = pd.concat(rows, ignore_index=True)
    periods["cost"], periods["net"] = net_of_costs(periods["gross"], periods["turnover"], float(cost_bps))
    skipped = _all_skipped(selection.skipped, traded, units, schedule, keys)
    return Backtest(periods=periods[keys + PERIOD_COLUMNS], skipped=skipped, rebalance_dates=tuple(schedule),
                    keys=tuple(keys), n_groups=selection.n_groups, holding_period=int(holding_period),
                    cost_bps=float(cost_bps), score_col=score_col, return_col=return_col)


def method_label(labels: dict) -> str:
    """Display name of a unit from its key values: the model, then the other keys as name=value,
    e.g. "mlp (seed=0)"; "predictions" without keys."""
    others = ", ".join(f"{k}={format_cell(v)}" for k, v in labels.items() if k != "model")
    model = format_cell(labels["model"]) if "model" in labels else ""
    if model and others:
        return f"{model} ({others})"
    return model or others or "predictions"


def _check_positive(name: str, value: object) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name}={value!r}; expected an integer >= 1 (prediction dates)")


def _check_no_overlap(held: pd.DataFrame, schedule: pd.DatetimeIndex) -> None:
    if "end_date" not in held.columns or len(schedule) < 2:
        return
    ends = held.groupby("date")["end_date"].max().reindex(schedule[:-1])
    nxt = pd.Series(schedule[1:], index=schedule[:-1])
    late = ends > nxt
    if late.any():
        date = late.idxmax()
        raise DataError(f"held periods overlap: the period of {date} ends on {ends[date]}, after the next "
                        f"rebalance date {nxt[date]}; rebalance_every must match the returns' horizon")


def _unit_periods(selection: Selection, units: pd.DataFrame | None, rets: pd.Series,
                  schedule: pd.DatetimeIndex) -> list[pd.DataFrame]:
    """long_only and long_short period rows of every unit (a unit skipped on every date holds cash)."""
    frame, top = selection.frame, selection.n_groups - 1
    out = []
    for labels in (units.to_dict("records") if units is not None else [{}]):
        rows = frame[unit_mask(frame, labels)]
        leg_long = _leg(rows[rows["group"] == top], 1.0)
        leg_short = _leg(rows[rows["group"] == 0], -1.0)
        out.append(_periods(leg_long, rets, schedule).assign(strategy="long_only", **labels))
        out.append(_periods(pd.concat([leg_long, leg_short]), rets, schedule).assign(strategy="long_short", **labels))
    return out


def _leg(rows: pd.DataFrame, sign: float) -> pd.DataFrame:
    """Equal weights summing to `sign` per date."""
    size = rows.groupby("date")["ticker"].transform("size")
    return rows[["date", "ticker"]].assign(weight=sign / size)


def _periods(weights: pd.DataFrame, rets: pd.Series, schedule: pd.DatetimeIndex) -> pd.DataFrame:
    """date, n_long, n_short, gross, turnover of a book given (date, ticker, weight) rows."""
    w = weights.pivot(index="date", columns="ticker", values="weight").reindex(schedule).fillna(0.0)
    r = rets.reindex(pd.MultiIndex.from_product([w.index, w.columns])).to_numpy().reshape(w.shape)
    gross = (w.to_numpy() * np.nan_to_num(r)).sum(axis=1)
    return pd.DataFrame({"date": schedule, "n_long": (w > 0).sum(axis=1).to_numpy(dtype="int64"),
                         "n_short": (w < 0).sum(axis=1).to_numpy(dtype="int64"), "gross": gross,
                         "turnover": turnover(w).to_numpy()})


def _all_skipped(skipped: pd.DataFrame, traded: pd.DataFrame, units: pd.DataFrame | None,
                 schedule: pd.DatetimeIndex, keys: list[str]) -> pd.DataFrame:
    """Skipped (unit, date) pairs: too few tickers, plus rebalance dates a unit has no prediction for."""
    if units is None:
        absent = pd.DataFrame({"date": schedule.difference(pd.DatetimeIndex(traded["date"].unique()))})
    else:
        grid = units.merge(pd.DataFrame({"date": schedule}), how="cross")
        seen = traded[keys + ["date"]].drop_duplicates().assign(_seen=True)
        grid = grid.merge(seen, on=keys + ["date"], how="left")
        absent = grid.loc[grid["_seen"].isna(), keys + ["date"]]
    out = pd.concat([skipped, absent.assign(n_tickers=0)], ignore_index=True) if len(absent) else skipped.copy()
    out["n_tickers"] = out["n_tickers"].astype("int64")
    return out.sort_values(keys + ["date"], kind="mergesort").reset_index(drop=True)
