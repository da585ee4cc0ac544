"""Cross-sectional group (decile) assignment and per-group realised returns (seed 001, Fig. 6).

Conventions:

* **Units.** A predictions frame has one row per (date, ticker) and unit, where a unit is one
  model run: the grouping columns (default those of point, seed, model present). Groups are
  formed per unit and date.
* **Ranking.** On each date the unit's tickers are sorted by score ascending, ties broken by
  ticker ascending (so with equal scores "AAA" ranks below "BBB": deterministic). With rank
  i = 0..n-1 and n tickers, the group is floor(i * n_groups / n): 0 = lowest predicted,
  n_groups-1 = highest. Group sizes differ by at most one.
* **Skipped dates.** A (unit, date) with fewer tickers than groups gets no groups; it is
  listed in `Selection.skipped` (with its ticker count), never dropped silently.
* **Decile returns.** The mean realised return of a group's tickers on a date (equal weight),
  then the mean of those per-date values over dates (and over the other units of a method).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from finfusion.errors import ConfigError, DataError
from finfusion.evaluate.folds import unit_columns
from finfusion.evaluate.tables import require_columns, require_numeric
from finfusion.portfolio.returns import RETURN_COL, attach_returns, require_datetime

DEFAULT_GROUPS = 10
SCORE_COL = "y_pred"


@dataclass(frozen=True)
class Selection:
    """Groups of every (unit, date) with enough tickers.

    frame    columns keys..., date, ticker, score, group (int64, 0..n_groups-1), n_tickers
    skipped  columns keys..., date, n_tickers: the (unit, date) pairs with n_tickers < n_groups
    """

    frame: pd.DataFrame
    skipped: pd.DataFrame
    n_groups: int
    keys: tuple[str, ...]

    @property
    def n_skipped(self) -> int:
        return int(len(self.skipped))


def check_predictions(predictions: pd.DataFrame, *, score_col: str = SCORE_COL,
                      group_cols: Sequence[str] | None = None) -> list[str]:
    """Validate a predictions frame and return its unit columns: date, ticker and a numeric,
    finite `score_col` are required; (unit..., date, ticker) must be unique."""
    require_columns(predictions, ["date", "ticker", score_col], "predictions frame")
    require_numeric(predictions, score_col, "predictions frame")
    require_datetime(predictions, "predictions frame")
    keys = unit_columns(predictions, group_cols)
    dup = predictions.duplicated(keys + ["date", "ticker"])
    if dup.any():
        first = predictions.loc[dup].iloc[0]
        raise DataError(f"predictions frame has {int(dup.sum())} duplicated ({', '.join(keys + ['date', 'ticker'])}) "
                        f"row(s), first ({first['date']}, {first['ticker']}); add the grouping column that tells "
                        "the runs apart (group_cols)")
    bad = ~np.isfinite(predictions[score_col].to_numpy(dtype="float64"))
    if bad.any():
        first = predictions.loc[bad].iloc[0]
        raise DataError(f"predictions frame has {int(bad.sum())} non-finite {score_col!r} value(s), first "
                        f"({first['date']}, {first['ticker']}); every ranked ticker needs a score")
    return keys


def unit_mask(frame: pd.DataFrame, labels: dict) -> pd.Series:
    """Boolean mask of the rows of `frame` belonging to the unit with key values `labels`
    (a missing value matches missing values)."""
    mask = pd.Series(True, index=frame.index)
    for key, value in labels.items():
        mask &= frame[key].isna() if pd.isna(value) else frame[key] == value
    return mask


def assign_groups(predictions: pd.DataFrame, *, n_groups: int = DEFAULT_GROUPS, score_col: str = SCORE_COL,
                  group_cols: Sequence[str] | None = None) -> Selection:
    """Rank each (unit, date) cross-section by `score_col` into `n_groups` groups (module docstring)."""
    if not isinstance(n_groups, (int, np.integer)) or isinstance(n_groups, bool) or n_groups < 2:
        raise ConfigError(f"n_groups={n_groups!r}; expected an integer >= 2 (top and bottom must differ)")
    keys = check_predictions(predictions, score_col=score_col, group_cols=group_cols)
    frame = predictions[keys + ["date", "ticker", score_col]].rename(columns={score_col: "score"})
    frame = frame.sort_values(keys + ["date", "score", "ticker"], kind="mergesort").reset_index(drop=True)
    by = frame.groupby(keys + ["date"], sort=False, dropna=False)
    rank = by.cumcount().to_numpy()
    n = by["ticker"].transform("size").to_numpy()
    frame["n_tickers"] = n.astype("int64")
    frame["group"] = (rank * int(n_groups)) // n
    enough = n >= n_groups
    skipped = frame.loc[~enough, keys + ["date", "n_tickers"]].drop_duplicates().reset_index(drop=True)
    return Selection(frame=frame.loc[enough].reset_index(drop=True), skipped=skipped, n_groups=int(n_groups),
                     keys=tuple(keys))


def group_returns(selection: Selection, returns: pd.DataFrame, *, return_col: str = RETURN_COL) -> pd.DataFrame:
    """Equal-weight mean realised return of each group per (unit, date).

    Every grouped ticker needs a realised return (DataError otherwise).
    Returns columns keys..., date, group, n (tickers), mean_return; sorted.
    """
    keys = list(selection.keys)
    rows = attach_returns(selection.frame, returns, return_col=return_col, what="grouped ticker")
    out = rows.groupby(keys + ["date", "group"], sort=True, dropna=False)[RETURN_COL].agg(["size", "mean"])
    return out.rename(columns={"size": "n", "mean": "mean_return"}).reset_index()


def mean_group_returns(per_date: pd.DataFrame, *, by: str | None = "model") -> pd.DataFrame:
    """Mean over dates of the per-date group returns (`group_returns` output), for a bar chart.

    Returns a frame indexed by group with one column per level of `by` (e.g. one per model; the
    other units of a level, such as seeds, are pooled: each (unit, date) counts once), or a single
    column "mean_return" when `by` is None or not a column.
    """
    require_columns(per_date, ["group", "mean_return"], "per-date group returns")
    if by is None or by not in per_date.columns:
        return per_date.groupby("group", sort=True)[["mean_return"]].mean()
    levels = list(pd.unique(per_date[by]))
    wide = per_date.groupby(["group", by], sort=True, dropna=False)["mean_return"].mean().unstack(by)
    return wide.reindex(columns=levels)
