"""Decile bar chart and cumulative return chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from finfusion.evaluate.plots import save_figure
from finfusion.portfolio import (
    assign_groups,
    backtest,
    cumulative_returns,
    group_returns,
    mean_group_returns,
    plot_cumulative_returns,
    plot_decile_returns,
)


def _two_models(tiny):
    a, returns = tiny.two_dates(model="a")
    return pd.concat([a, a.assign(model="b", y_pred=-a["y_pred"])]), returns


def test_cumulative_returns_by_hand(tiny):
    preds, returns = tiny.two_dates(model="m")
    curves = cumulative_returns(backtest(preds, returns, n_groups=5, cost_bps=10.0))
    lo = curves[curves["strategy"] == "long_only"]
    np.testing.assert_allclose(lo["cumulative"], [0.084, 1.084 * 0.993 - 1])
    assert set(curves["method"]) == {"m", "Universe"}
    with pytest.raises(ValueError, match="kind"):
        cumulative_returns(backtest(preds, returns, n_groups=5), kind="both")


def test_cumulative_plot_has_a_line_per_method_and_the_universe(tiny, tmp_path):
    preds, returns = _two_models(tiny)
    fig = plot_cumulative_returns(backtest(preds, returns, n_groups=5))
    assert isinstance(fig, Figure)
    for ax in fig.axes:
        assert ax.get_legend_handles_labels()[1] == ["a", "b", "Universe"]
    path = save_figure(fig, tmp_path / "cum.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_decile_bar_chart(tiny):
    preds, returns = _two_models(tiny)
    means = mean_group_returns(group_returns(assign_groups(preds, n_groups=5), returns))
    fig = plot_decile_returns(means)
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(bars) == 10  # 5 groups x 2 models
    assert fig.axes[0].get_legend_handles_labels()[1] == ["a", "b"]
