"""95 % intervals of accuracy and MCC by a bootstrap over test days.

The rows of one test day share that day's market (tickers move together), so they are not
independent draws: the bootstrap resamples *dates* with replacement and keeps each date's rows
together (a day-block bootstrap). Each resample is the confusion matrix summed over the drawn
dates (a date drawn twice counts twice); accuracy and MCC come from it. With several seeds the
same drawn dates serve every seed and the replicate is the mean over seeds of the per-seed metric,
so the interval is that of the number a mean-over-seeds table shows. The interval is the
percentile interval (2.5 % and 97.5 % quantiles of B replicates), from a fixed seed.

    day_bootstrap(frame)   # one (point, model)'s predictions -> accuracy, mcc and their intervals
    bootstrap_table(predictions)  # the same for every (point, model)
    paired_difference(a, b)       # metric(a) - metric(b) of two models on the same days, with its SE

Written by hand because the block structure (resample dates, not rows) and the pairing of seeds
are not what scipy.stats.bootstrap resamples; with the per-date confusion counts precomputed,
B resamples are one matrix product. MCC is computed as scikit-learn's `matthews_corrcoef`
(Gorodkin's K-class form; 0 when undefined, e.g. a constant prediction).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finfusion.errors import DataError
from finfusion.evaluate.tables import require_columns

N_RESAMPLES = 1000
LEVEL = 0.95
SEED = 0
METRICS = ("accuracy", "mcc")


def method_note(n_resamples: int = N_RESAMPLES, level: float = LEVEL, seed: int = SEED) -> str:
    """The words of a caption for the intervals of `bootstrap_table`."""
    return (f"{level:.0%} intervals: percentile bootstrap over test days ({n_resamples:,} resamples of the dates "
            f"with replacement, each date's rows kept together, seed {seed}; with several seeds the same dates "
            "for every seed, the replicate being the mean over seeds)")


def confusion_by_date(frame: pd.DataFrame, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed, per-date confusion counts of a predictions frame (date, y_true, y_pred[, seed]).

    Returns (dates (D,) sorted, counts (S, D, K, K) float64) with counts[s, d, i, j] the rows of
    seed s on date d with y_true == classes[i] and y_pred == classes[j]; seeds in sorted order.
    """
    require_columns(frame, ["date", "y_true", "y_pred"], "predictions frame")
    seeds = frame["seed"].to_numpy() if "seed" in frame.columns else np.zeros(len(frame), dtype=int)
    seed_values, s_idx = np.unique(seeds, return_inverse=True)
    dates, d_idx = np.unique(frame["date"].to_numpy(), return_inverse=True)
    k = len(classes)
    t_idx, p_idx = (np.searchsorted(classes, frame[c].to_numpy()) for c in ("y_true", "y_pred"))
    for name, pos in (("y_true", t_idx), ("y_pred", p_idx)):
        if (pos >= k).any() or (classes[np.minimum(pos, k - 1)] != frame[name].to_numpy()).any():
            raise DataError(f"confusion_by_date: {name} holds labels outside the classes {classes.tolist()}")
    counts = np.zeros((len(seed_values), len(dates), k, k))
    np.add.at(counts, (s_idx, d_idx, t_idx, p_idx), 1.0)
    return dates, counts


def metrics_from_confusion(counts: np.ndarray) -> dict[str, np.ndarray]:
    """accuracy and mcc of confusion matrices (..., K, K) (rows true, columns predicted); NaN
    where a matrix is empty, MCC 0 where undefined (scikit-learn's convention)."""
    total = counts.sum(axis=(-2, -1))
    correct = np.trace(counts, axis1=-2, axis2=-1)
    t, p = counts.sum(axis=-1), counts.sum(axis=-2)  # (..., K) true and predicted class totals
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(total > 0, correct / total, np.nan)
        cov = correct * total - (t * p).sum(axis=-1)
        denom = np.sqrt((total**2 - (p * p).sum(axis=-1)) * (total**2 - (t * t).sum(axis=-1)))
        mcc = np.where(denom > 0, cov / np.where(denom > 0, denom, 1.0), 0.0)
    return {"accuracy": accuracy, "mcc": np.where(total > 0, mcc, np.nan)}


def _replicates(frame: pd.DataFrame, classes: np.ndarray, n_resamples: int, seed: int
                ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(dates (D,), point metrics per seed {name: (S,)}, replicates per seed {name: (B, S)}); the
    resampling weights depend only on the number of dates and `seed`, so two frames on the same
    dates are resampled on the same days (paired)."""
    dates, counts = confusion_by_date(frame, classes)
    rng = np.random.default_rng(seed)
    n_days = len(dates)
    weights = rng.multinomial(n_days, np.full(n_days, 1.0 / n_days), size=n_resamples).astype(np.float64)  # (B, D)
    resampled = np.einsum("bd,sdij->bsij", weights, counts)  # (B, S, K, K)
    return dates, metrics_from_confusion(counts.sum(axis=1)), metrics_from_confusion(resampled)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, metric: str = "mcc", *, n_resamples: int = N_RESAMPLES,
                      level: float = LEVEL, seed: int = SEED, classes: np.ndarray | None = None) -> dict[str, float]:
    """metric(a) - metric(b) (each the mean over its seeds) for two models' predictions on the same
    test dates, with the standard error and percentile interval of the difference from the same
    day resamples for both (a paired day bootstrap): keys diff, se, lo, hi, z (= diff / se; inf
    when se is 0 and diff is not). DataError when the two frames cover different dates."""
    if a.empty or b.empty:
        raise DataError("paired_difference: no predictions to compare")
    if metric not in METRICS:
        raise DataError(f"paired_difference: metric must be one of {METRICS}, got {metric!r}")
    if classes is None:
        classes = np.unique(pd.concat([a["y_true"], b["y_true"], a["y_pred"], b["y_pred"]]).to_numpy())
    dates_a, point_a, rep_a = _replicates(a, np.asarray(classes), n_resamples, seed)
    dates_b, point_b, rep_b = _replicates(b, np.asarray(classes), n_resamples, seed)
    if len(dates_a) != len(dates_b) or (dates_a != dates_b).any():
        raise DataError(f"paired_difference: the models cover different test dates ({len(dates_a)} vs "
                        f"{len(dates_b)}); a paired comparison needs the same days")
    values = np.nanmean(rep_a[metric], axis=1) - np.nanmean(rep_b[metric], axis=1)  # (B,)
    diff = float(np.nanmean(point_a[metric]) - np.nanmean(point_b[metric]))
    se = float(np.nanstd(values, ddof=1)) if n_resamples > 1 else float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.nanpercentile(values, [tail, 100 - tail])
    z = diff / se if se > 0 else (0.0 if diff == 0 else float(np.copysign(np.inf, diff)))
    return {"diff": diff, "se": se, "lo": float(lo), "hi": float(hi), "z": float(z)}


def day_bootstrap(frame: pd.DataFrame, *, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                  seed: int = SEED, classes: np.ndarray | None = None) -> dict[str, float]:
    """Point estimates and percentile intervals of accuracy and MCC of one model's predictions
    (rows of one sweep point; several seeds allowed): keys accuracy, accuracy_lo, accuracy_hi,
    mcc, mcc_lo, mcc_hi, n_days, n_seeds. The point estimate is the mean over seeds of each
    seed's metric on all its rows (what the summary table shows)."""
    if frame.empty:
        raise DataError("day_bootstrap: no predictions to bootstrap")
    if not 0 < level < 1 or n_resamples < 1:
        raise DataError(f"day_bootstrap: need 0 < level < 1 and n_resamples >= 1, got {level}, {n_resamples}")
    if classes is None:
        classes = np.union1d(frame["y_true"].unique(), frame["y_pred"].unique())
    dates, point, replicates = _replicates(frame, np.asarray(classes), n_resamples, seed)  # (S,), (B, S) per seed
    tail = 100 * (1 - level) / 2
    out: dict[str, float] = {}
    for name in METRICS:
        values = np.nanmean(replicates[name], axis=1)  # (B,) mean over seeds
        lo, hi = np.nanpercentile(values, [tail, 100 - tail])
        out.update({name: float(np.nanmean(point[name])), f"{name}_lo": float(lo), f"{name}_hi": float(hi)})
    return {**out, "n_days": len(dates), "n_seeds": int(len(point["accuracy"]))}


def bootstrap_table(predictions: pd.DataFrame, *, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                    seed: int = SEED) -> pd.DataFrame:
    """`day_bootstrap` of every (point, model) of a predictions frame (point optional), in order of
    appearance: columns point (when present), model, accuracy, accuracy_lo, accuracy_hi, mcc,
    mcc_lo, mcc_hi, n_days, n_seeds. The classes are those of the whole frame."""
    require_columns(predictions, ["model", "date", "y_true", "y_pred"], "predictions frame")
    classes = np.union1d(predictions["y_true"].unique(), predictions["y_pred"].unique())
    keys = [c for c in ("point", "model") if c in predictions.columns]
    rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,))),
             **day_bootstrap(rows, n_resamples=n_resamples, level=level, seed=seed, classes=classes)}
            for key, rows in predictions.groupby(keys, sort=False)]
    return pd.DataFrame(rows)
