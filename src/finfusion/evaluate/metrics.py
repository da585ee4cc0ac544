"""Prediction metrics: point metrics, classification metrics and cross-sectional IC.

Point metrics take y_true, y_pred array-likes of shape (n,) and return a float. Returns
are fractions (0.01 = 1 %) and so are the percentage-style metrics (MAPE 0.05 = 5 %).
scikit-learn / scipy compute everything they offer; the few metrics they do not
(MAPE excluding zero targets, relative error, directional accuracy, per-date IC) are
written here in a few lines each.

Predictions frames have columns date, ticker, y_true, y_pred and, for binary
classification, optionally a probability column p_1 = P(class 1).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

from finfusion.data.predictions import UP_PROBA

CorrMethod = Literal["pearson", "spearman"]


def _pair(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate two equal-length 1-D numeric arrays without NaN."""
    a = np.asarray(y_true, dtype="float64").ravel()
    b = np.asarray(y_pred, dtype="float64").ravel()
    if a.shape != b.shape:
        raise ValueError(f"{name}: y_true has {a.size} values but y_pred has {b.size}")
    if a.size == 0:
        raise ValueError(f"{name}: empty input")
    for label, values in (("y_true", a), ("y_pred", b)):
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"{name}: {label} has {int(bad.sum())} NaN/inf value(s), first at position {int(np.argmax(bad))}"
            )
    return a, b


# ----------------------------------------------------------------------------- regression


def mse(y_true, y_pred) -> float:
    """Mean squared error (units of y squared)."""
    return float(skm.mean_squared_error(*_pair(y_true, y_pred, "mse")))


def mae(y_true, y_pred) -> float:
    """Mean absolute error (units of y)."""
    return float(skm.mean_absolute_error(*_pair(y_true, y_pred, "mae")))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error (units of y)."""
    return float(skm.root_mean_squared_error(*_pair(y_true, y_pred, "rmse")))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error mean(|y - yhat| / |y|), as a fraction.

    Rule for zeros: rows with y_true == 0 are excluded (the ratio is undefined); if every
    row is excluded the result is nan.
    """
    a, b = _pair(y_true, y_pred, "mape")
    keep = a != 0
    if not keep.any():
        return float("nan")
    return float(skm.mean_absolute_percentage_error(a[keep], b[keep]))


def relative_error(y_true, y_pred) -> float:
    """sum|y - yhat| / sum|y|: total absolute error relative to the total magnitude of y
    (a scale-free MAE that, unlike MAPE, is not dominated by near-zero targets).
    nan when every y_true is 0."""
    a, b = _pair(y_true, y_pred, "relative_error")
    denominator = np.abs(a).sum()
    return float(np.abs(a - b).sum() / denominator) if denominator > 0 else float("nan")


def directional_accuracy(y_true, y_pred) -> float:
    """Share of rows where sign(y_pred) == sign(y_true).

    Rows with y_true == 0 (no direction) are excluded; y_pred == 0 on a row with a
    direction counts as wrong. nan when every row is excluded.
    """
    a, b = _pair(y_true, y_pred, "directional_accuracy")
    keep = a != 0
    if not keep.any():
        return float("nan")
    return float(np.mean(np.sign(a[keep]) == np.sign(b[keep])))


def correlation(y_true, y_pred, *, method: CorrMethod = "pearson") -> float:
    """Pearson or Spearman correlation over all rows; nan if either side is constant or n < 2."""
    a, b = _pair(y_true, y_pred, "correlation")
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    if method == "pearson":
        return float(stats.pearsonr(a, b).statistic)
    if method == "spearman":
        return float(stats.spearmanr(a, b).statistic)
    raise ValueError(f"correlation: method must be 'pearson' or 'spearman', got {method!r}")


# ------------------------------------------------------------------------- classification


def _labels(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true).ravel()
    b = np.asarray(y_pred).ravel()
    if a.shape != b.shape:
        raise ValueError(f"{name}: y_true has {a.size} labels but y_pred has {b.size}")
    if a.size == 0:
        raise ValueError(f"{name}: empty input")
    return a, b


def accuracy(y_true, y_pred) -> float:
    """Share of correctly predicted labels."""
    return float(skm.accuracy_score(*_labels(y_true, y_pred, "accuracy")))


def precision(y_true, y_pred, *, average: str = "binary", pos_label=1) -> float:
    """Precision (binary for pos_label by default; average="macro" etc. for multi-class).
    0.0 when nothing is predicted positive."""
    a, b = _labels(y_true, y_pred, "precision")
    return float(skm.precision_score(a, b, average=average, pos_label=pos_label, zero_division=0.0))


def recall(y_true, y_pred, *, average: str = "binary", pos_label=1) -> float:
    """Recall (binary for pos_label by default). 0.0 when there is no positive row."""
    a, b = _labels(y_true, y_pred, "recall")
    return float(skm.recall_score(a, b, average=average, pos_label=pos_label, zero_division=0.0))


def f1(y_true, y_pred, *, average: str = "binary", pos_label=1) -> float:
    """F1 score (binary for pos_label by default). 0.0 when precision + recall is 0."""
    a, b = _labels(y_true, y_pred, "f1")
    return float(skm.f1_score(a, b, average=average, pos_label=pos_label, zero_division=0.0))


def mcc(y_true, y_pred) -> float:
    """Matthews correlation coefficient in [-1, 1] (0 when undefined)."""
    return float(skm.matthews_corrcoef(*_labels(y_true, y_pred, "mcc")))


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve.

    y_score: (n,) score or probability of the positive (larger) class, or (n, k) class
    probabilities (k > 2: one-vs-rest macro average). nan when y_true has one class.
    """
    a = np.asarray(y_true).ravel()
    s = np.asarray(y_score, dtype="float64")
    if len(s) != a.size:
        raise ValueError(f"roc_auc: y_true has {a.size} labels but y_score has {len(s)} rows")
    if np.unique(a).size < 2:
        return float("nan")
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, 1]
    if s.ndim == 2:
        return float(skm.roc_auc_score(a, s, multi_class="ovr", average="macro"))
    return float(skm.roc_auc_score(a, s))


# ---------------------------------------------------------------------- cross-sectional IC


def ic_by_date(
    frame: pd.DataFrame,
    *,
    method: CorrMethod = "pearson",
    date_col: str = "date",
    true_col: str = "y_true",
    pred_col: str = "y_pred",
    min_count: int = 2,
) -> pd.Series:
    """Information coefficient per date: the cross-sectional correlation of y_pred with
    y_true over the tickers of each date (method "spearman" = rank IC).

    Returns a Series indexed by sorted date; a date with fewer than `min_count` rows or a
    constant y_true or y_pred gets NaN (and is excluded by `ic_summary`).
    """
    missing = [c for c in (date_col, true_col, pred_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"ic_by_date: frame lacks column(s) {missing}; has {list(frame.columns)}")
    if method not in ("pearson", "spearman"):
        raise ValueError(f"ic_by_date: method must be 'pearson' or 'spearman', got {method!r}")
    _pair(frame[true_col], frame[pred_col], "ic_by_date")
    min_count = max(int(min_count), 2)
    values = {
        date: _cross_section_corr(group[true_col].to_numpy(), group[pred_col].to_numpy(), method, min_count)
        for date, group in frame.groupby(date_col, sort=True)
    }
    return pd.Series(values, dtype="float64", name=f"{'rank_' if method == 'spearman' else ''}ic")


def _cross_section_corr(a: np.ndarray, b: np.ndarray, method: str, min_count: int) -> float:
    if a.size < min_count or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return correlation(a, b, method=method)


def ic_summary(series: pd.Series) -> dict[str, float]:
    """Summary of a per-date IC series (NaN dates excluded).

    mean, std (ddof=1), icir = mean / std, n_dates, t_stat = mean / (std / sqrt(n_dates)).
    nan where undefined (n_dates < 2 or std == 0).
    """
    values = pd.Series(series, dtype="float64").dropna().to_numpy()
    n = values.size
    mean = float(values.mean()) if n else float("nan")
    std = float(values.std(ddof=1)) if n >= 2 else float("nan")
    icir = mean / std if n >= 2 and std > 0 else float("nan")
    t_stat = icir * np.sqrt(n) if n >= 2 and std > 0 else float("nan")
    return {"mean": mean, "std": std, "icir": float(icir), "n_dates": int(n), "t_stat": float(t_stat)}


# ----------------------------------------------------------------------- frame summaries


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: predictions frame lacks column(s) {missing}; has {list(frame.columns)}")


def regression_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """All regression metrics of a predictions frame (date, ticker, y_true, y_pred).

    Keys: mse, mae, rmse, mape, relative_error, directional_accuracy, corr, rank_corr
    (over all rows), n; and when some date has >= 2 tickers: ic_mean, ic_std, icir,
    ic_t_stat, rank_ic_mean, rank_ic_std, rank_icir, rank_ic_t_stat, ic_n_dates.
    """
    _require(frame, ("date", "ticker", "y_true", "y_pred"), "regression_metrics")
    a, b = _pair(frame["y_true"], frame["y_pred"], "regression_metrics")
    out: dict[str, float] = {
        "n": int(a.size),
        "mse": mse(a, b),
        "mae": mae(a, b),
        "rmse": rmse(a, b),
        "mape": mape(a, b),
        "relative_error": relative_error(a, b),
        "directional_accuracy": directional_accuracy(a, b),
        "corr": correlation(a, b, method="pearson"),
        "rank_corr": correlation(a, b, method="spearman"),
    }
    if frame.groupby("date")["ticker"].size().max() >= 2:
        for prefix, method in (("", "pearson"), ("rank_", "spearman")):
            summary = ic_summary(ic_by_date(frame, method=method))
            out[f"{prefix}ic_mean"] = summary["mean"]
            out[f"{prefix}ic_std"] = summary["std"]
            out[f"{prefix}icir"] = summary["icir"]
            out[f"{prefix}ic_t_stat"] = summary["t_stat"]
            out["ic_n_dates"] = summary["n_dates"]
    return out


def classification_metrics(frame: pd.DataFrame, proba_col: str | None = None) -> dict[str, float]:
    """All classification metrics of a predictions frame (date, ticker, y_true, y_pred).

    Binary labels (at most two classes, positive class 1): accuracy, precision, recall,
    f1, mcc, and roc_auc from `proba_col` (default: "p_1" when the frame has it).
    More classes: accuracy, mcc and macro-averaged precision / recall / f1 (no roc_auc:
    one probability column cannot rank several classes).
    """
    _require(frame, ("date", "ticker", "y_true", "y_pred"), "classification_metrics")
    a, b = _labels(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy(), "classification_metrics")
    binary = np.union1d(np.unique(a), np.unique(b)).size <= 2
    average = "binary" if binary else "macro"
    out: dict[str, float] = {
        "n": int(a.size),
        "accuracy": accuracy(a, b),
        "precision": precision(a, b, average=average),
        "recall": recall(a, b, average=average),
        "f1": f1(a, b, average=average),
        "mcc": mcc(a, b),
    }
    if proba_col is not None:
        _require(frame, (proba_col,), "classification_metrics")
    elif UP_PROBA in frame.columns:
        proba_col = UP_PROBA
    if proba_col is not None and binary:
        out["roc_auc"] = roc_auc(a, frame[proba_col].to_numpy())
    return out
