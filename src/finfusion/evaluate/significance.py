"""Paired significance tests between models across test folds (seed 003: paired t-tests on AUC
and F1 over the test periods).

Input is a per-fold table (`evaluate.folds.fold_metrics`): one row per model and fold with a
metric column. Two models are compared on the folds they share; pairing is by `pair_on`
(default ("fold",); use ("seed", "fold") for several seeds). Both models must have been
evaluated on the same folds, otherwise a DataError names the folds only one of them has.

Tests (scipy), on the differences d_k = metric(model) - metric(reference) over folds k:

* **paired t-test** ``scipy.stats.ttest_rel`` (two-sided): t = mean(d) / (std(d, ddof=1) / sqrt(n)),
  n - 1 degrees of freedom; assumes roughly normal differences.
* **Wilcoxon signed-rank** ``scipy.stats.wilcoxon`` (two-sided, ``zero_method="wilcox"``): folds
  with d_k = 0 are dropped before ranking; tied |d_k| get average ranks. scipy uses the exact
  null distribution for small samples without ties or zeros and the normal approximation
  otherwise. With n folds the smallest attainable two-sided exact p is 2 / 2**n: 0.0625 for
  n = 5, so with fewer than 6 folds Wilcoxon can never reach p < 0.05 — read it with the t-test.

Rules for degenerate inputs (instead of scipy's warnings):
* folds where either metric is NaN (e.g. ROC-AUC of a one-class fold) are left out and counted
  in ``n_dropped``;
* fewer than 2 usable folds: t, p_t and p_wilcoxon are NaN;
* every difference exactly 0: t NaN, p_t = p_wilcoxon = 1.0 (no evidence of a difference);
* constant non-zero differences (std 0, up to 1e-12 relative rounding): t = +/-inf and p_t = 0.0; Wilcoxon is computed as usual.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from finfusion.errors import DataError
from finfusion.evaluate.tables import require_columns, require_numeric

COLUMNS = ("model", "reference", "metric", "mean_model", "mean_reference", "mean_diff",
           "t", "p_t", "wilcoxon", "p_wilcoxon", "n_folds", "n_dropped")


def paired_tests(values: Sequence[float], reference: Sequence[float]) -> dict[str, float]:
    """Paired t-test and Wilcoxon signed-rank test of `values` against `reference` (same order,
    one entry per fold). Returns mean_diff (values - reference), t, p_t, wilcoxon (statistic),
    p_wilcoxon, n_folds (pairs used) and n_dropped (pairs with a NaN)."""
    a = np.asarray(values, dtype="float64").ravel()
    b = np.asarray(reference, dtype="float64").ravel()
    if a.shape != b.shape:
        raise DataError(f"paired_tests: {a.size} values but {b.size} reference values; they must be paired by fold")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = int(d.size)
    out = {"mean_diff": float(d.mean()) if n else float("nan"), "t": float("nan"), "p_t": float("nan"),
           "wilcoxon": float("nan"), "p_wilcoxon": float("nan"), "n_folds": n, "n_dropped": int((~keep).sum())}
    if n < 2:
        return out
    if np.all(d == 0):
        return {**out, "p_t": 1.0, "p_wilcoxon": 1.0}
    if np.ptp(d) <= 1e-12 * np.abs(d).max():  # constant up to float rounding: std 0
        out.update(t=float(np.sign(d[0]) * np.inf), p_t=0.0)
    else:
        result = stats.ttest_rel(a[keep], b[keep])
        out.update(t=float(result.statistic), p_t=float(result.pvalue))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy's "exact p not possible with ties" note
        w = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    out.update(wilcoxon=float(w.statistic), p_wilcoxon=float(w.pvalue))
    return out


def _paired_columns(per_fold: pd.DataFrame, metric: str, model_col: str, pair_on: Sequence[str]) -> pd.DataFrame:
    """metric values with one column per model and one row per pairing key; checks duplicates."""
    keys = list(pair_on)
    require_columns(per_fold, [model_col, metric, *keys], "per-fold table")
    require_numeric(per_fold, metric, "per-fold table")
    dup = per_fold.duplicated([model_col, *keys])
    if dup.any():
        first = per_fold.loc[dup].iloc[0]
        raise DataError(
            f"per-fold table has {int(dup.sum())} duplicated ({model_col}, {', '.join(keys)}) row(s), first "
            f"{tuple(first[[model_col, *keys]])}: several runs per model and fold (seeds? sweep points?); "
            "add their column to pair_on or filter the table first"
        )
    return per_fold.pivot_table(index=keys, columns=model_col, values=metric, aggfunc="first", dropna=False)


def _check_same_folds(wide: pd.DataFrame, per_fold: pd.DataFrame, model: object, reference: object,
                      model_col: str, pair_on: Sequence[str]) -> None:
    keys = list(pair_on)

    def folds(name: object) -> set:
        rows = per_fold.loc[per_fold[model_col] == name, keys]
        return set(map(tuple, rows.itertuples(index=False, name=None)))

    a, b = folds(model), folds(reference)
    if a != b:
        raise DataError(
            f"models {model!r} and {reference!r} were not evaluated on the same folds ({', '.join(keys)}): "
            f"only in {model!r}: {sorted(a - b)}; only in {reference!r}: {sorted(b - a)}"
        )


def compare(per_fold: pd.DataFrame, metric: str, model: object, reference: object, *,
            model_col: str = "model", pair_on: Sequence[str] = ("fold",)) -> dict[str, float]:
    """`paired_tests` of `model` against `reference` on `metric`, paired by `pair_on`."""
    wide = _paired_columns(per_fold, metric, model_col, pair_on)
    for name in (model, reference):
        if name not in wide.columns:
            raise DataError(f"compare: no model {name!r} in the per-fold table; models: {list(wide.columns)}")
    _check_same_folds(wide, per_fold, model, reference, model_col, pair_on)
    a, b = wide[model].to_numpy(), wide[reference].to_numpy()
    return {"model": model, "reference": reference, "metric": metric, "mean_model": _mean(a),
            "mean_reference": _mean(b), **paired_tests(a, b)}


def _mean(values: np.ndarray) -> float:
    """Mean of the finite values; NaN (without numpy's empty-slice warning) when there is none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def significance_table(per_fold: pd.DataFrame, metric: str, *, reference: object | None = None,
                       all_pairs: bool = False, model_col: str = "model",
                       pair_on: Sequence[str] = ("fold",)) -> pd.DataFrame:
    """One row per comparison (columns COLUMNS): every model against `reference` (default: the
    first model in the table), or with `all_pairs` every pair (a, b) of models in table order
    (a later model compared against an earlier one)."""
    require_columns(per_fold, [model_col], "per-fold table")
    models = list(pd.unique(per_fold[model_col]))
    if all_pairs:
        pairs = [(b, a) for a, b in itertools.combinations(models, 2)]
    else:
        ref = models[0] if reference is None else reference
        if ref not in models:
            raise DataError(f"significance_table: reference model {ref!r} is not in the table; models: {models}")
        pairs = [(m, ref) for m in models if m != ref]
    rows = [compare(per_fold, metric, m, r, model_col=model_col, pair_on=pair_on) for m, r in pairs]
    return pd.DataFrame(rows, columns=list(COLUMNS))


LOSSES = {"mse": "MSE", "error_rate": "error rate"}  # per-row loss -> its name in notes


def per_date_errors(predictions: pd.DataFrame, *, loss: str = "mse") -> pd.DataFrame:
    """The loss of each model run per test date: one row per (point, seed, model, date) present,
    with a column named `loss`:
    "mse"         the mean over the date's tickers of (y_true - y_pred)**2 (target units squared),
                  a regression;
    "error_rate"  the date's wrong labels (y_pred != y_true) over the run's mean rows per date, a
                  classifier: the date's error rate when every date has as many rows; in general
                  its mean over the run's dates is the run's error rate (1 - accuracy), so a mean
                  difference is an accuracy difference, and a date weighs by its number of rows."""
    require_columns(predictions, ["model", "date", "y_true", "y_pred"], "predictions frame")
    if loss not in LOSSES:
        raise DataError(f"per_date_errors: unknown loss {loss!r}; expected one of {list(LOSSES)}")
    keys = [c for c in ("point", "seed") if c in predictions.columns]
    if loss == "mse":
        error = (predictions["y_true"].astype("float64") - predictions["y_pred"].astype("float64")) ** 2
    else:
        error = (predictions["y_true"].to_numpy() != predictions["y_pred"].to_numpy()).astype("float64")
    frame = predictions[[*keys, "model", "date"]].assign(**{loss: np.asarray(error, dtype="float64")})
    grouped = frame.groupby([*keys, "model", "date"], sort=False, as_index=False)[loss]
    if loss == "mse":
        return grouped.mean()
    per_date = grouped.agg(["sum", "size"])
    run = per_date.groupby([*keys, "model"], sort=False)
    rows_per_date = run["size"].transform("sum") / run["size"].transform("count")  # the run's mean rows per date
    return per_date.assign(**{loss: per_date["sum"] / rows_per_date}).drop(columns=["sum", "size"])


def date_significance(predictions: pd.DataFrame, *, reference: object | None = None,
                      loss: str = "mse") -> pd.DataFrame:
    """Paired tests of each model's per-date `loss` (`per_date_errors`: "mse" or "error_rate")
    against `reference`'s (default: the first model), over the test dates both predicted (and
    seeds / sweep points, paired too): `significance_table` columns (metric = the loss) with n_days
    for n_folds, plus rel_diff = mean_diff / mean_reference (-0.08: an 8 % lower loss).
    Dates are treated as independent pairs, as in a Diebold-Mariano test of one-step forecasts
    without its autocorrelation correction."""
    per_date = per_date_errors(predictions, loss=loss)
    keys = [c for c in ("point", "seed") if c in per_date.columns]
    table = significance_table(per_date, loss, reference=reference, pair_on=(*keys, "date"))
    table = table.rename(columns={"n_folds": "n_days"})
    table["rel_diff"] = table["mean_diff"] / table["mean_reference"]
    return table


def date_significance_notes(table: pd.DataFrame) -> list[str]:
    """One line per row of `date_significance`, from the reference's side: how much lower or higher
    its loss (MSE, error rate) is than the other model's, and how sure (t of reference minus model)."""
    lines = []
    for row in table.itertuples(index=False):
        change = -row.mean_diff / row.mean_model  # (reference - model) / model
        word = "lower" if change < 0 else "higher"
        name = LOSSES.get(row.metric, str(row.metric))
        lines.append(f"{row.reference} vs {row.model}: {name} {abs(change):.1%} {word} (paired t-test over "
                     f"{row.n_days} test days: t = {-row.t:.2f}, p = {row.p_t:.2g}; Wilcoxon p = {row.p_wilcoxon:.2g})")
    return lines
