"""Metrics per market regime: user-named date ranges (seed 003 §6.3.4: pre-COVID, COVID crash,
recovery, inflation era).

    regimes = {"covid_crash": ["2020-02-01", "2020-04-30"], "recovery": ["2020-05-01", "2021-12-31"]}
    table = regime_metrics(predictions, regimes)

Ranges are inclusive at both ends and compare calendar days (a timestamp with a time of day
belongs to its date). They may overlap: a row in two ranges counts in both. Rows in no range
are not dropped: they form the regime "unassigned" (its row appears whenever it has rows), so
the n of a model's rows over all regimes adds up to at least its number of predictions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from finfusion.data.predictions import UP_PROBA
from finfusion.errors import ConfigError
from finfusion.evaluate.folds import classification_table, unit_columns
from finfusion.evaluate.tables import require_columns

UNASSIGNED = "unassigned"
Regimes = Mapping[str, Sequence]


def validate_regimes(regimes: Regimes) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """{name: (start, end)} as Timestamps (dates), in the given order; raises ConfigError naming
    the regime and the value when a range is not two dates with start <= end. A bound may be a
    date or datetime (what YAML gives for 2015-01-01), a Timestamp or a date string."""
    if not isinstance(regimes, Mapping) or not regimes:
        raise ConfigError(f"regimes: expected a non-empty mapping {{name: [start, end]}}, got {regimes!r}")
    out = {}
    for name, bounds in regimes.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"regimes: names must be non-empty strings, got {name!r}")
        if name == UNASSIGNED:
            raise ConfigError(f"regimes: {UNASSIGNED!r} is reserved for rows in no regime; rename that regime")
        if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or len(bounds) != 2:
            raise ConfigError(f"regimes.{name}: expected [start, end], got {bounds!r}")
        try:
            start, end = (pd.Timestamp(b) for b in bounds)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"regimes.{name}: {list(bounds)!r} are not dates ({exc})") from None
        if pd.isna(start) or pd.isna(end):
            raise ConfigError(f"regimes.{name}: start and end must be dates, got {list(bounds)!r}")
        start, end = start.normalize(), end.normalize()
        if start > end:
            raise ConfigError(f"regimes.{name}: start {start.date()} is after end {end.date()}; expected start <= end")
        out[name] = (start, end)
    return out


def assign_regimes(dates: pd.Series | Sequence, regimes: Regimes) -> pd.DataFrame:
    """Boolean membership (n rows, one column per regime, plus "unassigned" = in no regime)."""
    bounds = validate_regimes(regimes)
    days = pd.to_datetime(pd.Series(dates)).dt.normalize()
    member = pd.DataFrame({name: days.between(start, end, inclusive="both") for name, (start, end) in bounds.items()},
                          index=days.index)
    member[UNASSIGNED] = ~member.any(axis=1)
    return member


def regime_metrics(
    predictions: pd.DataFrame,
    regimes: Regimes,
    *,
    group_cols: Sequence[str] | None = None,
    proba_col: str | None = UP_PROBA,
) -> pd.DataFrame:
    """Classification metrics (as `evaluate.folds`) per regime and model run.

    Returns one row per (regime, group) with rows present: regime (in the given order, then
    "unassigned" if any row falls in no regime), the group columns (default: those of point,
    seed, model present), start, end (NaT for unassigned), n and the metrics."""
    require_columns(predictions, ["date"], "predictions frame")
    bounds = validate_regimes(regimes)
    keys = unit_columns(predictions, group_cols)
    member = assign_regimes(predictions["date"].reset_index(drop=True), regimes)
    frame = predictions.reset_index(drop=True)
    parts = []
    for name in member.columns:
        rows = frame.loc[member[name].to_numpy()]
        if rows.empty:
            continue
        table = classification_table(rows.assign(regime=name), ["regime", *keys], proba_col=proba_col)
        start, end = bounds.get(name, (pd.NaT, pd.NaT))
        table.insert(len(keys) + 1, "start", start)
        table.insert(len(keys) + 2, "end", end)
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["regime", *keys, "start", "end", "n"])


def unassigned_count(predictions: pd.DataFrame, regimes: Regimes) -> int:
    """Number of prediction rows whose date lies in no regime."""
    require_columns(predictions, ["date"], "predictions frame")
    return int(assign_regimes(predictions["date"], regimes)[UNASSIGNED].sum())
