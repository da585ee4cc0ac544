import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle

from finfusion.errors import DataError
from finfusion.evaluate.plots import (
    plot_bar,
    plot_error_distribution,
    plot_metric_over_time,
    plot_true_vs_pred,
    plot_violin,
    save_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _preds(models=("Fusion", "MLP"), tickers=("AAA", "BBB", "CCC"), days=8, seeds=(0, 1)):
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2024-01-01", periods=days)
    rows = []
    for model in models:
        for seed in seeds:
            for ticker in tickers:
                y = rng.normal(0, 0.01, days)
                rows.append(pd.DataFrame({"date": dates, "ticker": ticker, "y_true": y,
                                          "y_pred": y + rng.normal(0, 0.01, days), "fold": 0,
                                          "model": model, "seed": seed}))
    return pd.concat(rows, ignore_index=True)


def _per_repeat():
    rng = np.random.default_rng(1)
    return pd.DataFrame([{"model": m, "d": d, "seed": s, "mse": rng.random()}
                         for m in ("Fusion", "MLP", "Text") for d in (4, 6, 8) for s in range(5)])


def _bodies(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def _points(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def test_true_vs_pred_one_panel_per_model_two_lines_each():
    fig = plot_true_vs_pred(_preds())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == ["true", "predicted"]
        assert len(ax.get_lines()[0].get_xdata()) == 8  # tickers and seeds averaged per date


def test_true_vs_pred_thins_and_selects_ticker():
    preds = _preds(models=("Fusion",), days=50)
    fig = plot_true_vs_pred(preds, max_points=10, ticker="BBB")
    assert len(fig.axes[0].get_lines()[1].get_xdata()) == 10  # every 5th of 50 dates
    with pytest.raises(DataError, match="ZZZ"):
        plot_true_vs_pred(preds, ticker="ZZZ")


def test_error_distribution_one_histogram_per_model():
    fig = plot_error_distribution(_preds(), bins=10)
    (ax,) = fig.axes
    assert len([p for p in ax.patches if isinstance(p, Polygon)]) == 2  # one stepfilled histogram per model
    assert len(ax.get_legend().get_texts()) == 2
    assert len(ax.get_lines()) == 3  # one KDE per model and the zero line


def test_violin_facets_and_bodies():
    fig = plot_violin(_per_repeat(), metric="mse", facet_col="d")
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["d=4", "d=6", "d=8"]
    for ax in fig.axes:
        assert len(_bodies(ax)) == 3
        assert len(_points(ax)) == 3
        assert sum(len(c.get_offsets()) for c in _points(ax)) == 15


def test_violin_without_facets_and_degenerate_groups():
    frame = pd.DataFrame({"model": ["A", "A", "B", "C", "C"], "mse": [1.0, 2.0, 3.0, np.nan, np.nan]})
    fig = plot_violin(frame, metric="mse")
    (ax,) = fig.axes
    assert len(_bodies(ax)) == 1  # only A has two distinct finite values
    assert len(_points(ax)) == 2  # A and B; C has nothing finite
    with pytest.raises(DataError, match="'mae'"):
        plot_violin(frame, metric="mae")


@pytest.mark.parametrize("metric", ["mse", "mae", "ic", "rank_ic"])
def test_metric_over_time_one_line_per_model(metric):
    fig = plot_metric_over_time(_preds(), metric, window=3)
    assert len(fig.axes[0].get_lines()) == 2


def test_metric_over_time_callable_and_unknown():
    fig = plot_metric_over_time(_preds(), lambda g: float((g["y_pred"] - g["y_true"]).abs().max()))
    assert len(fig.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="rmse"):
        plot_metric_over_time(_preds(), "rmse")


def test_ic_on_single_ticker_draws_a_note_not_an_error():
    fig = plot_metric_over_time(_preds(tickers=("AAA",)), "ic")
    assert not fig.axes[0].get_lines()
    assert "2 tickers" in fig.axes[0].texts[0].get_text()


def test_bar_series_and_grouped_frame():
    fig = plot_bar(pd.Series([0.1, -0.2, 0.3], index=["a", "b", "c"]), "shap", horizontal=True)
    assert len([p for p in fig.axes[0].patches if isinstance(p, Rectangle)]) == 3
    frame = pd.DataFrame({"long": [0.01, 0.02], "short": [-0.01, np.nan]}, index=[1, 2])
    fig = plot_bar(frame, "deciles")
    assert len(fig.axes[0].patches) == 4
    assert len(fig.axes[0].get_legend().get_texts()) == 2


@pytest.mark.parametrize(
    "preds",
    [
        _preds(models=("Only",), tickers=("AAA",), days=1, seeds=(0,)),  # one row
        _preds(models=("Only",), days=3).assign(y_pred=np.nan),  # all predictions NaN
        _preds(days=4).assign(y_true=lambda f: f["y_true"].where(f.index % 3 != 0)),  # some NaN
        _preds().iloc[:0],  # empty
    ],
    ids=["one-row", "all-nan", "some-nan", "empty"],
)
def test_edge_cases_do_not_crash(preds, tmp_path):
    figs = [plot_true_vs_pred(preds), plot_error_distribution(preds)]
    figs += [plot_metric_over_time(preds, m) for m in ("mse", "mae", "ic", "rank_ic")]
    for i, fig in enumerate(figs):
        assert isinstance(fig, Figure)
        save_figure(fig, tmp_path / f"{i}.png")  # drawing must succeed too


def test_violin_and_bar_edge_cases(tmp_path):
    one = pd.DataFrame({"model": ["A"], "d": [4], "mse": [0.5]})
    nan = pd.DataFrame({"model": ["A", "B"], "mse": [np.nan, np.nan]})
    figs = [plot_violin(one, metric="mse", facet_col="d"), plot_violin(nan, metric="mse"),
            plot_violin(one.iloc[:0], metric="mse"), plot_bar(pd.Series([], dtype=float), "empty"),
            plot_bar(pd.Series([np.nan, 1.0]), "nan")]
    for i, fig in enumerate(figs):
        save_figure(fig, tmp_path / f"{i}.png")


def test_save_figure_writes_png_atomically(tmp_path):
    path = save_figure(plot_bar(pd.Series([1.0, 2.0]), "x"), tmp_path / "sub" / "bar.png")
    assert path == tmp_path / "sub" / "bar.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in path.parent.iterdir()] == ["bar.png"]  # no temporary file left


def test_error_distribution_counts_non_finite_rows():
    preds = _preds(models=("Only",), tickers=("AAA",), days=6, seeds=(0,))
    preds.loc[[0, 1], "y_pred"] = np.nan
    (text,) = plot_error_distribution(preds).axes[0].get_legend().get_texts()
    assert "n=4" in text.get_text() and "2 non-finite left out" in text.get_text()


def test_ic_over_time_values_worked_by_hand():
    dates = pd.bdate_range("2024-01-01", periods=3)
    preds = pd.DataFrame({
        "date": dates.repeat(3), "ticker": ["A", "B", "C"] * 3, "model": "M",
        "y_true": [1.0, 2.0, 3.0] * 3,
        "y_pred": [1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 1.0, 2.0, 3.0],  # IC +1, -1, +1
    })
    (line,) = plot_metric_over_time(preds, "rank_ic", window=1).axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), [1.0, -1.0, 1.0])
    (line,) = plot_metric_over_time(preds, "ic", window=2).axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), [1.0, 0.0, 0.0])
    (line,) = plot_metric_over_time(preds.assign(seed=0), "mse", window=1).axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), [0.0, 8 / 3, 0.0])
