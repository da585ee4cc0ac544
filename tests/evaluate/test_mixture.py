"""The mixture's gate vs error diagnostics, on values worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from finfusion.evaluate.mixture import alignment_table, gate_alignment, mean_error_curves


def test_gate_alignment_by_hand():
    y = np.zeros(4)
    factors = np.array([1.0, 2.0, 0.0, 0.0])  # errors 1, 4, 0, 0
    fusion = np.array([0.0, 0.0, 1.0, 3.0])   # errors 0, 0, 1, 9 -> gap = 1, 4, -1, -9
    p_fusion = np.array([0.7, 0.9, 0.4, 0.1])  # rises with the gap: a gate that follows the errors
    out = gate_alignment(y, factors, fusion, p_fusion, n_bins=2)
    assert out["mse_factors"] == pytest.approx(5 / 4) and out["mse_fusion"] == pytest.approx(10 / 4)
    assert out["gate_spearman"] == pytest.approx(1.0)
    assert out["gate_hit_rate"] == 1.0
    assert out["p_fusion_by_bin"] == "0.250, 0.800"
    flipped = gate_alignment(y, factors, fusion, 1 - p_fusion, n_bins=2)
    assert flipped["gate_spearman"] == pytest.approx(-1.0) and flipped["gate_hit_rate"] == 0.0
    with pytest.raises(ValueError, match="equal lengths"):
        gate_alignment(y, factors[:3], fusion, p_fusion)


def test_alignment_table_groups_by_run_and_skips_other_models():
    rows = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=6), "ticker": "A", "fold": 0,
                         "point": "base", "seed": 0, "model": ["mix"] * 4 + ["other"] * 2,
                         "y_true": [0.0] * 6, "y_pred": [0.5, 0.5, 0.5, 0.5, 1.0, 1.0],
                         "component_factors": [1.0, 2.0, 0.0, 0.0, np.nan, np.nan],
                         "component_fusion": [0.0, 0.0, 1.0, 3.0, np.nan, np.nan],
                         "att_fusion": [0.7, 0.9, 0.4, 0.1, np.nan, np.nan]})
    table = alignment_table(rows)
    assert table["model"].tolist() == ["mix"] and table["mse_mixture"].iloc[0] == pytest.approx(0.25)
    assert alignment_table(rows.drop(columns="att_fusion")).empty


def test_mean_error_curves_average_over_seeds_per_epoch():
    curves = pd.DataFrame({"point": "base", "model": "mix", "fold": 0, "epoch": [0, 0, 0, 0, 0, 0, 0],
                           "seed": [0, 0, 0, 1, 1, 1, 0],
                           "series": ["error_factors", "error_fusion", "error_mixture"] * 2 + ["train_loss"],
                           "value": [1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 9.0]})
    means = mean_error_curves(curves)
    assert means[["factors", "fusion", "mixture"]].iloc[0].tolist() == [2.0, 3.0, 4.0]
    assert mean_error_curves(curves[curves["series"] == "train_loss"]).empty
