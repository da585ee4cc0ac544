"""Paired t-test and Wilcoxon signed-rank across folds: hand values, scipy cross-checks, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from finfusion.errors import DataError
from finfusion.evaluate.significance import COLUMNS, compare, paired_tests, significance_table

BASE = np.array([0.60, 0.70, 0.80, 0.90, 0.75])
DIFF = np.array([0.05, 0.10, 0.02, 0.08, 0.03])


def _per_fold(**models: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame([{"model": m, "fold": k, "f1": v} for m, vals in models.items() for k, v in enumerate(vals)])


def test_paired_tests_hand_values():
    out = paired_tests(BASE + DIFF, BASE)
    # mean 0.056; deviations (-.006, .044, -.036, .024, -.026): sum of squares 0.00452
    t = 0.056 / (np.sqrt(0.00452 / 4) / np.sqrt(5))
    assert out["mean_diff"] == pytest.approx(0.056)
    assert out["t"] == pytest.approx(t)
    assert out["p_t"] == pytest.approx(2 * stats.t.sf(t, df=4))
    # every difference positive, no ties: W = 0 and the exact two-sided p is 2 / 2**5
    assert out["wilcoxon"] == 0.0 and out["p_wilcoxon"] == pytest.approx(0.0625)
    assert out["n_folds"] == 5 and out["n_dropped"] == 0


def test_matches_scipy_with_mixed_signs_and_ties():
    a, b = BASE + np.array([0.05, -0.02, 0.02, 0.08, -0.05]), BASE
    out = paired_tests(a, b)
    assert out["p_t"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert out["p_wilcoxon"] == pytest.approx(stats.wilcoxon(a - b).pvalue)


def test_nan_folds_are_dropped_and_counted():
    a = np.append(BASE + DIFF, np.nan)
    out = paired_tests(a, np.append(BASE, 0.5))
    assert out["n_folds"] == 5 and out["n_dropped"] == 1
    assert out["p_t"] == pytest.approx(paired_tests(BASE + DIFF, BASE)["p_t"])


def test_degenerate_differences():
    same = paired_tests(BASE, BASE)
    assert np.isnan(same["t"]) and same["p_t"] == 1.0 and same["p_wilcoxon"] == 1.0
    shifted = paired_tests(BASE + 0.25, BASE)
    assert shifted["t"] == np.inf and shifted["p_t"] == 0.0
    one = paired_tests([0.7], [0.6])
    assert one["n_folds"] == 1 and np.isnan(one["p_t"]) and np.isnan(one["p_wilcoxon"])
    with pytest.raises(DataError, match="paired by fold"):
        paired_tests([0.1, 0.2], [0.1])


def test_table_against_the_first_model():
    per_fold = _per_fold(tech=BASE, finbert=BASE + DIFF, vader=BASE + DIFF / 2)
    table = significance_table(per_fold, "f1")
    assert list(table.columns) == list(COLUMNS)
    assert table["model"].tolist() == ["finbert", "vader"] and set(table["reference"]) == {"tech"}
    assert table.loc[0, "mean_diff"] == pytest.approx(0.056)
    assert table.loc[0, "mean_model"] == pytest.approx(np.mean(BASE + DIFF))
    assert table.loc[1, "t"] == pytest.approx(table.loc[0, "t"])  # halving every difference keeps t


def test_table_of_all_pairs_and_a_named_reference():
    per_fold = _per_fold(a=BASE, b=BASE + DIFF, c=BASE - DIFF)
    pairs = significance_table(per_fold, "f1", all_pairs=True)
    assert list(zip(pairs["model"], pairs["reference"])) == [("b", "a"), ("c", "a"), ("c", "b")]
    assert significance_table(per_fold, "f1", reference="b")["model"].tolist() == ["a", "c"]
    with pytest.raises(DataError, match="reference model 'z'"):
        significance_table(per_fold, "f1", reference="z")


def test_mismatched_folds_are_named():
    per_fold = _per_fold(a=BASE, b=BASE + DIFF)
    per_fold.loc[(per_fold["model"] == "b") & (per_fold["fold"] == 4), "fold"] = 7
    with pytest.raises(DataError, match=r"not evaluated on the same folds.*only in 'b': \[\(7,\)\].*only in 'a': \[\(4,\)\]"):
        compare(per_fold, "f1", "b", "a")


def test_several_seeds_need_pairing_on_the_seed():
    per_fold = pd.concat([_per_fold(a=BASE, b=BASE + DIFF).assign(seed=s) for s in (0, 1)], ignore_index=True)
    with pytest.raises(DataError, match="duplicated.*pair_on"):
        significance_table(per_fold, "f1")
    table = significance_table(per_fold, "f1", pair_on=("seed", "fold"))
    assert table.loc[0, "n_folds"] == 10


def test_unknown_metric_is_named():
    with pytest.raises(DataError, match="roc_auc"):
        significance_table(_per_fold(a=BASE, b=BASE), "roc_auc")


def test_date_significance_pairs_per_date_mse_over_tickers_and_seeds():
    from finfusion.evaluate.significance import date_significance, date_significance_notes, per_date_errors

    dates = pd.date_range("2024-01-01", periods=4)
    rows = []
    for model, err in (("Fusion", [0.1, 0.2, 0.1, 0.2]), ("MLP", [0.3, 0.3, 0.2, 0.4])):
        for i, d in enumerate(dates):
            for ticker, sign in (("A", 1.0), ("B", -1.0)):  # both tickers miss by err: per-date MSE = err**2
                rows.append({"seed": 0, "model": model, "date": d, "ticker": ticker, "y_true": 0.0,
                             "y_pred": sign * err[i]})
    preds = pd.DataFrame(rows)
    per_date = per_date_errors(preds)
    assert per_date.loc[per_date["model"] == "MLP", "mse"].tolist() == pytest.approx([0.09, 0.09, 0.04, 0.16])
    table = date_significance(preds).set_index("model")
    f, m = np.array([0.01, 0.04, 0.01, 0.04]), np.array([0.09, 0.09, 0.04, 0.16])
    assert table.loc["MLP", "reference"] == "Fusion" and table.loc["MLP", "n_days"] == 4
    assert table.loc["MLP", "mean_diff"] == pytest.approx((m - f).mean())
    assert table.loc["MLP", "p_t"] == pytest.approx(stats.ttest_rel(m, f).pvalue)
    note = date_significance_notes(table.reset_index())[0]
    assert note.startswith(f"Fusion vs MLP: MSE {1 - f.mean() / m.mean():.1%} lower (paired t-test over 4 test days")
