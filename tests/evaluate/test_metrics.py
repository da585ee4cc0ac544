"""Metrics on tiny inputs whose answers are worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from finfusion.evaluate import metrics as m


def test_point_regression_metrics():
    y, yhat = [1, 2, 3], [1, 3, 2]
    # errors 0, -1, 1 -> MSE 2/3, MAE 2/3, RMSE sqrt(2/3)
    assert m.mse(y, yhat) == pytest.approx(2 / 3)
    assert m.mae(y, yhat) == pytest.approx(2 / 3)
    assert m.rmse(y, yhat) == pytest.approx(np.sqrt(2 / 3))
    # MAPE = (0/1 + 1/2 + 1/3) / 3 = 5/18
    assert m.mape(y, yhat) == pytest.approx(5 / 18)
    # relative error = (0 + 1 + 1) / (1 + 2 + 3) = 1/3
    assert m.relative_error(y, yhat) == pytest.approx(1 / 3)


def test_mape_excludes_zero_targets():
    # y = 0 row excluded: |2-1|/2 = 0.5
    assert m.mape([0, 2], [5, 1]) == pytest.approx(0.5)
    assert np.isnan(m.mape([0, 0], [1, 1]))
    assert np.isnan(m.relative_error([0, 0], [1, 1]))


def test_directional_accuracy():
    # y = 0 excluded; signs (+,+) right, (-,+) wrong, (+,0) wrong -> 1/3
    assert m.directional_accuracy([0.1, -0.2, 0.3, 0.0], [0.5, 0.1, 0.0, -1]) == pytest.approx(1 / 3)
    assert np.isnan(m.directional_accuracy([0, 0], [1, -1]))


def test_input_checks():
    with pytest.raises(ValueError, match="3 values but y_pred has 2"):
        m.mse([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="y_pred has 1 NaN"):
        m.mae([1, 2], [1, np.nan])


def test_classification_metrics_by_hand():
    y, yhat = [1, 1, 0, 0], [1, 0, 1, 0]
    # TP=1 FN=1 FP=1 TN=1 -> accuracy 0.5, precision 0.5, recall 0.5, f1 0.5, mcc 0
    assert m.accuracy(y, yhat) == 0.5
    assert m.precision(y, yhat) == 0.5
    assert m.recall(y, yhat) == 0.5
    assert m.f1(y, yhat) == 0.5
    assert m.mcc(y, yhat) == 0.0
    # nothing predicted positive -> precision 0 (documented), no warning needed
    assert m.precision([1, 0], [0, 0]) == 0.0
    # multi-class macro: class 0 P=R=1, class 1 P=1 R=1/2, class 2 P=1/2 R=1 -> macro f1 = (1+2/3+2/3)/3
    assert m.f1([0, 1, 1, 2], [0, 1, 2, 2], average="macro") == pytest.approx(7 / 9)


def test_roc_auc():
    # positives scores {0.8, 0.4}, negatives {0.6, 0.2}: pairs won 3 of 4 -> 0.75
    assert m.roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2]) == pytest.approx(0.75)
    assert m.roc_auc([1, 1, 0, 0], np.array([[0.2, 0.8], [0.6, 0.4], [0.4, 0.6], [0.8, 0.2]])) == pytest.approx(0.75)
    assert np.isnan(m.roc_auc([1, 1, 1], [0.1, 0.5, 0.9]))  # one class


def ic_frame():
    return pd.DataFrame(
        {
            "date": ["d1"] * 3 + ["d2"] * 3 + ["d3"],
            "ticker": ["a", "b", "c"] * 2 + ["a"],
            # d1: same order (IC 1); d2: shuffled (IC -0.5, worked out below); d3: one name
            "y_true": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 5.0],
            "y_pred": [10.0, 20.0, 30.0, 3.0, 1.0, 2.0, 1.0],
        }
    )


def test_ic_by_date_and_summary():
    frame = ic_frame()
    ic = m.ic_by_date(frame)
    # d2: y_true (1,2,3) vs y_pred (3,1,2): centred (-1,0,1)·(1,-1,0) = -1, norms sqrt2*sqrt2 -> -0.5
    assert ic["d1"] == pytest.approx(1.0)
    assert ic["d2"] == pytest.approx(-0.5)
    assert np.isnan(ic["d3"])  # < min_count names
    rank = m.ic_by_date(frame, method="spearman")
    assert rank["d2"] == pytest.approx(-0.5)  # ranks equal the values here
    s = m.ic_summary(ic)
    # mean 0.25, std (ddof 1) of (1, -0.5) = sqrt(1.125), icir = 0.25/sqrt(1.125), t = icir*sqrt(2)
    assert s["n_dates"] == 2
    assert s["mean"] == pytest.approx(0.25)
    assert s["std"] == pytest.approx(np.sqrt(1.125))
    assert s["icir"] == pytest.approx(0.25 / np.sqrt(1.125))
    assert s["t_stat"] == pytest.approx(0.25 / np.sqrt(1.125) * np.sqrt(2))


def test_ic_zero_variance_date_is_nan():
    frame = pd.DataFrame({"date": ["d"] * 3, "ticker": list("abc"), "y_true": [1.0, 2, 3], "y_pred": [1.0, 1, 1]})
    assert np.isnan(m.ic_by_date(frame)["d"])
    assert m.ic_summary(m.ic_by_date(frame))["n_dates"] == 0


def test_regression_metrics_frame():
    out = m.regression_metrics(ic_frame())
    assert out["n"] == 7
    assert out["ic_mean"] == pytest.approx(0.25)
    assert out["rank_ic_mean"] == pytest.approx(0.25)
    assert out["ic_n_dates"] == 2
    assert {"mse", "mae", "rmse", "mape", "relative_error", "directional_accuracy", "corr",
            "rank_corr", "icir", "rank_icir"} <= set(out)
    # a single ticker: no cross-section -> no IC keys, but time-series corr is there
    single = pd.DataFrame({"date": ["d1", "d2", "d3"], "ticker": "a", "y_true": [1.0, 2, 3], "y_pred": [1.0, 3, 2]})
    out = m.regression_metrics(single)
    assert "ic_mean" not in out
    assert out["mse"] == pytest.approx(2 / 3)
    assert out["corr"] == pytest.approx(0.5)  # centred (-1,0,1)·(-1,1,0) = 1, norms 2 -> 0.5
    assert out["rank_corr"] == pytest.approx(0.5)


def test_classification_metrics_frame():
    frame = pd.DataFrame({"date": ["d"] * 4, "ticker": list("abcd"), "y_true": [1, 1, 0, 0],
                          "y_pred": [1, 0, 1, 0], "p_1": [0.8, 0.4, 0.6, 0.2]})
    out = m.classification_metrics(frame)
    assert out["accuracy"] == 0.5 and out["roc_auc"] == pytest.approx(0.75)
    assert "roc_auc" not in m.classification_metrics(frame.drop(columns="p_1"))
    with pytest.raises(ValueError, match="lacks column"):
        m.classification_metrics(frame, proba_col="p_up")
    with pytest.raises(ValueError, match="lacks column"):
        m.regression_metrics(frame.drop(columns="y_pred"))


def test_classification_metrics_multiclass():
    # 3 classes: macro averages; a p_1 column cannot give a multi-class AUC, so none is reported
    frame = pd.DataFrame({"date": ["d"] * 4, "ticker": list("abcd"), "y_true": [0, 1, 1, 2],
                          "y_pred": [0, 1, 2, 2], "p_1": [0.1, 0.8, 0.3, 0.2]})
    out = m.classification_metrics(frame)
    assert out["accuracy"] == 0.75
    assert out["f1"] == pytest.approx(7 / 9)  # see test_classification_metrics_by_hand
    assert "roc_auc" not in out
