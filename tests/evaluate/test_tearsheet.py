"""Tear-sheet charts: the data behind each chart worked out by hand, and the attention rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from finfusion.evaluate.performance import performance_stats
from finfusion.evaluate.tearsheet import (
    UNIFORM_TOLERANCE,
    attention_by_date,
    attention_verdict,
    binary_rows,
    calibration_points,
    confusion_counts,
    curve_summary,
    ic_over_time,
    plot_equity_drawdown,
    plot_training_curves,
    prediction_charts,
    roc_points,
    strategy_curves,
)

DATES = pd.bdate_range("2024-01-01", periods=4)


def test_strategy_curves_compound_and_fall_from_the_peak():
    returns = pd.Series([0.10, -0.20, 0.05], index=DATES[:3])
    curves = strategy_curves({"s": returns})
    np.testing.assert_allclose(curves["equity"], [1.1, 0.88, 0.924])
    np.testing.assert_allclose(curves["drawdown"], [0.0, -0.2, 0.924 / 1.1 - 1])
    assert curves["drawdown"].min() == pytest.approx(performance_stats(returns)["max_drawdown"])


def test_equity_plot_has_two_panels_and_dashes_the_references():
    fig = plot_equity_drawdown({"a": pd.Series([0.01, 0.02], index=DATES[:2]),
                                "bench": pd.Series([0.0, -0.01], index=DATES[:2])}, title="t", references=["bench"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    top, bottom = fig.axes
    assert [line.get_linestyle() for line in bottom.get_lines()] == ["-", "--"]
    assert top.get_legend_handles_labels()[1][0].startswith("a (1.030, max DD 0.0%)")


def test_roc_of_a_perfect_classifier_passes_through_the_corner():
    curve, area = roc_points([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert area == 1.0
    assert ((curve["fpr"] == 0.0) & (curve["tpr"] == 1.0)).any()
    _, inverted = roc_points([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])
    assert inverted == 0.0
    empty, nan = roc_points([1, 1], [0.3, 0.6])
    assert empty.empty and np.isnan(nan)


def test_calibration_points_are_bin_means():
    y = [0, 0, 1, 1, 0, 1, 1, 1]
    p = [0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9]
    points = calibration_points(y, p, n_bins=2)
    np.testing.assert_allclose(points["mean_predicted"], [0.1, 0.9])
    np.testing.assert_allclose(points["fraction_positive"], [0.5, 0.75])


def test_confusion_counts_equal_hand_counts():
    counts = confusion_counts([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    assert counts.loc[0, 0] == 1 and counts.loc[0, 1] == 1 and counts.loc[1, 0] == 1 and counts.loc[1, 1] == 2
    assert list(counts.index) == [0, 1] and counts.index.name == "true" and counts.columns.name == "predicted"
    assert confusion_counts([1], [1], labels=[0, 1]).to_numpy().tolist() == [[0, 0], [0, 1]]


def _classified() -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        rows.append(pd.DataFrame({"date": DATES, "ticker": "A", "y_true": [0, 1, 0, 1], "y_pred": [0, 1, 1, 1],
                                  "fold": 0, "model": "m", "seed": seed, "p_0": [0.8, 0.3, 0.4, 0.1],
                                  "p_1": [0.2, 0.7, 0.6, 0.9]}))
    naive = rows[0].assign(model="naive", p_0=np.nan, p_1=np.nan)
    return pd.concat([*rows, naive], ignore_index=True)


def test_classifier_rows_are_pooled_over_seeds_and_need_p_up():
    rows = binary_rows(_classified())
    assert len(rows) == 8 and set(rows["model"]) == {"m"}  # the naive model has no P(up)
    assert binary_rows(_classified().drop(columns=["p_0", "p_1"])).empty
    charts = {c.name: c for c in prediction_charts(_classified(), "classification")}
    assert isinstance(charts["roc_calibration"].figure, Figure) and isinstance(charts["confusion"].figure, Figure)
    without = {c.name: c for c in prediction_charts(_classified().drop(columns=["p_0", "p_1"]), "classification")}
    assert without["roc_calibration"].figure is None and "P(up)" in without["roc_calibration"].note


def test_ic_over_time_is_the_mean_over_seeds():
    a = pd.DataFrame({"date": [DATES[0]] * 3 + [DATES[1]] * 3, "ticker": ["x", "y", "z"] * 2,
                      "y_true": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0], "y_pred": [1.0, 2.0, 3.0, 3.0, 2.0, 1.0],
                      "model": "m", "seed": 0})
    b = a.assign(seed=1, y_pred=[1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    ic = ic_over_time(pd.concat([a, b]))
    assert ic["ic"].tolist() == [1.0, 0.0]  # seed 0: 1, -1; seed 1: 1, 1
    single = a[a["ticker"] == "x"]
    charts = prediction_charts(single.assign(fold=0), "regression")
    assert charts[0].figure is None and "one ticker" in charts[0].note


def test_training_curves_mean_and_std_over_fits():
    curves = pd.DataFrame({"model": "m", "series": "train_loss", "epoch": [0, 1, 0, 1, 0],
                           "value": [1.0, 0.5, 3.0, 0.7, 2.0], "fold": [0, 0, 1, 1, 2]})
    summary = curve_summary(curves)
    assert summary["mean"].tolist() == [2.0, 0.6] and summary["n"].tolist() == [3, 2]
    assert summary["std"].tolist() == pytest.approx([1.0, np.sqrt(0.02)])
    fig = plot_training_curves(curves)
    assert fig.axes[0].get_title() == "m (3 fits)"


def _attention(weights: dict[str, list[float]]) -> pd.DataFrame:
    n = len(next(iter(weights.values())))
    frame = pd.DataFrame({"date": DATES[:n], "ticker": "A", "y_true": 0.0, "y_pred": 0.0, "fold": 0,
                          "model": "fusion", "seed": 0})
    for token, values in weights.items():
        frame[f"att_{token}"] = values
    return frame


def test_uniform_attention_is_omitted_with_the_stated_reason():
    third = 1 / 3
    frame = _attention({"a": [third + 0.001, third], "b": [third - 0.001, third], "c": [third, third]})
    by_date = attention_by_date(frame)["fusion"]
    assert list(by_date.columns) == ["a", "b", "c"] and len(by_date) == 2
    verdict = attention_verdict(by_date)
    assert not verdict.informative and verdict.deviation == pytest.approx(0.001)
    assert verdict.reason.startswith("attention is uniform: max |w − 1/S| = 0.0010 < 0.005") and "not shown" in verdict.reason
    charts = prediction_charts(frame, "regression")
    assert [c.note for c in charts if c.name.startswith("attention")] == [verdict.reason]


def test_informative_attention_is_drawn():
    frame = _attention({"a": [0.6, 0.2], "b": [0.4, 0.8]})
    verdict = attention_verdict(attention_by_date(frame)["fusion"])
    assert verdict.informative and verdict.deviation == pytest.approx(0.3) and verdict.deviation > UNIFORM_TOLERANCE
    (chart,) = [c for c in prediction_charts(frame, "regression") if c.name.startswith("attention")]
    assert isinstance(chart.figure, Figure) and "fusion" in chart.title
    one = attention_verdict(attention_by_date(_attention({"only": [1.0, 1.0]}))["fusion"])
    assert not one.informative and "one token" in one.reason
