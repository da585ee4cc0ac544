"""Classification metrics per test fold and their mean (std) over folds, per model.

A predictions frame (see `protocols/engine.py`) has one row per test sample with columns date,
ticker, y_true, y_pred, fold, model and, for binary classifiers, p_1 = P(class 1). Optional
unit columns (`point`, `seed`) identify the sweep point and seed of the run that produced it.

    per_fold = fold_metrics(predictions)           # one row per (point, seed, model, fold)
    summary = mean_fold_metrics(per_fold)          # one row per (point, seed, model)

The metrics themselves come from `evaluate.metrics.classification_metrics` (accuracy,
precision, recall, f1, mcc and, with p_1, roc_auc); this module only groups and averages.
A fold whose y_true has a single class has roc_auc NaN (undefined), which the mean leaves out
(`n_folds_<metric>` counts the folds that entered each mean).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from finfusion.data.predictions import UP_PROBA
from finfusion.evaluate.metrics import classification_metrics
from finfusion.evaluate.tables import require_columns

UNIT_COLUMNS = ("point", "seed", "model")
METRICS = ("accuracy", "precision", "recall", "f1", "mcc", "roc_auc")


def unit_columns(frame: pd.DataFrame, group_cols: Sequence[str] | None = None) -> list[str]:
    """The grouping columns: `group_cols`, or those of ("point", "seed", "model") in `frame`."""
    if group_cols is not None:
        cols = list(group_cols)
        require_columns(frame, cols, "predictions frame")
        return cols
    return [c for c in UNIT_COLUMNS if c in frame.columns]


def classification_table(
    predictions: pd.DataFrame,
    keys: Sequence[str],
    *,
    proba_col: str | None = UP_PROBA,
) -> pd.DataFrame:
    """`classification_metrics` of every group of `keys` (order of first appearance): one row per
    group with the key columns, n and the metrics. `proba_col` None (or absent) gives no roc_auc."""
    keys = list(keys)
    require_columns(predictions, ["y_true", "y_pred", *keys], "predictions frame")
    proba = proba_col if proba_col is not None and proba_col in predictions.columns else None
    rows = []
    for values, frame in predictions.groupby(keys, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        with warnings.catch_warnings():  # sklearn's note on a group with one label (mcc is then 0, as documented)
            warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
            metrics = classification_metrics(frame, proba_col=proba)
        rows.append({**dict(zip(keys, values)), **metrics})
    columns = [*keys, "n", *(m for m in METRICS if any(m in r for r in rows))]
    return pd.DataFrame(rows, columns=columns)


def fold_metrics(
    predictions: pd.DataFrame,
    *,
    group_cols: Sequence[str] | None = None,
    fold_col: str = "fold",
    proba_col: str | None = UP_PROBA,
) -> pd.DataFrame:
    """Classification metrics of every test fold of every model.

    predictions  predictions frame with y_true, y_pred, `fold_col`, the grouping columns and
                 optionally `proba_col` (for roc_auc).
    group_cols   columns that identify a model run; default: those of (point, seed, model) present.
    Returns one row per (group, fold) in order of first appearance: the group columns, the fold,
    n (rows of the fold), accuracy, precision, recall, f1, mcc and roc_auc (when `proba_col` exists;
    NaN for a fold with one class).
    """
    keys = [*unit_columns(predictions, group_cols), fold_col]
    require_columns(predictions, [fold_col], "predictions frame")
    return classification_table(predictions, keys, proba_col=proba_col)


def mean_fold_metrics(per_fold: pd.DataFrame, *, group_cols: Sequence[str] | None = None,
                      fold_col: str = "fold") -> pd.DataFrame:
    """Mean and standard deviation (ddof=1) over folds of each metric of `fold_metrics`.

    Returns one row per group (order of first appearance) with n_folds, n (total rows), and for
    each metric <metric> (mean over the folds where it is defined), <metric>_std (NaN with one
    fold) and n_folds_<metric> when some fold left it undefined (NaN)."""
    keys = unit_columns(per_fold, group_cols)
    require_columns(per_fold, [fold_col, "n"], "per-fold table")
    metrics = [m for m in METRICS if m in per_fold.columns]
    rows = []
    for values, frame in per_fold.groupby(keys, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        row = {**dict(zip(keys, values)), "n_folds": int(frame[fold_col].nunique()), "n": int(frame["n"].sum())}
        for m in metrics:
            column = frame[m].astype("float64")
            row[m] = float(column.mean())
            row[f"{m}_std"] = float(column.std(ddof=1))
            if column.isna().any():
                row[f"n_folds_{m}"] = int(column.notna().sum())
        rows.append(row)
    return pd.DataFrame(rows)
