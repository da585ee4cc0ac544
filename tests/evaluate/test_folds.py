"""Per-fold and mean classification metrics, checked against hand-worked values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import DataError
from finfusion.evaluate.folds import fold_metrics, mean_fold_metrics


def _predictions() -> pd.DataFrame:
    dates = pd.bdate_range("2022-01-03", periods=4)
    rows = []
    # fold 0: y_true 1 0 1 0, y_pred 1 0 0 0 -> accuracy 3/4, precision 1, recall 1/2, f1 2/3;
    # p_1 ranks both positives (0.9, 0.6) above both negatives (0.2, 0.4) -> roc_auc 1
    for d, t, p, p1 in zip(dates, [1, 0, 1, 0], [1, 0, 0, 0], [0.9, 0.2, 0.6, 0.4]):
        rows.append({"date": d, "ticker": "A", "y_true": t, "y_pred": p, "p_1": p1, "fold": 0, "model": "xgb"})
    # fold 1: only class 1 -> roc_auc undefined; y_pred 1 1 0 1 -> accuracy 3/4, precision 1, f1 6/7
    for d, p, p1 in zip(dates + pd.Timedelta(days=7), [1, 1, 0, 1], [0.8, 0.7, 0.3, 0.9]):
        rows.append({"date": d, "ticker": "A", "y_true": 1, "y_pred": p, "p_1": p1, "fold": 1, "model": "xgb"})
    return pd.DataFrame(rows)


def test_fold_metrics_hand_values():
    per_fold = fold_metrics(_predictions())
    assert list(per_fold[["model", "fold"]].itertuples(index=False, name=None)) == [("xgb", 0), ("xgb", 1)]
    first, second = per_fold.iloc[0], per_fold.iloc[1]
    assert first["n"] == 4 and first["accuracy"] == 0.75 and first["precision"] == 1.0
    assert first["recall"] == 0.5 and first["f1"] == pytest.approx(2 / 3) and first["roc_auc"] == 1.0
    assert second["f1"] == pytest.approx(6 / 7) and np.isnan(second["roc_auc"])


def test_mean_over_folds_leaves_out_undefined_auc():
    summary = mean_fold_metrics(fold_metrics(_predictions()))
    row = summary.iloc[0]
    assert row["n_folds"] == 2 and row["n"] == 8
    assert row["accuracy"] == 0.75 and row["accuracy_std"] == 0.0
    assert row["f1"] == pytest.approx((2 / 3 + 6 / 7) / 2)
    assert row["roc_auc"] == 1.0 and row["n_folds_roc_auc"] == 1
    assert "n_folds_f1" not in summary.columns


def test_groups_by_model_and_seed():
    a = _predictions()
    frame = pd.concat([a.assign(seed=0), a.assign(seed=1), a.assign(model="mlp", seed=0)], ignore_index=True)
    per_fold = fold_metrics(frame)
    assert list(per_fold.columns[:3]) == ["seed", "model", "fold"]
    assert len(per_fold) == 6
    assert len(mean_fold_metrics(per_fold)) == 3


def test_without_probabilities_there_is_no_auc():
    per_fold = fold_metrics(_predictions().drop(columns="p_1"))
    assert "roc_auc" not in per_fold.columns


def test_missing_fold_column_is_named():
    with pytest.raises(DataError, match="fold"):
        fold_metrics(_predictions().drop(columns="fold"))
