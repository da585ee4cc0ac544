"""Plots of decile backtests: mean decile returns (seed 001 Fig. 6) and cumulative returns (Fig. 5).

Figures are drawn with `evaluate.plots` (Agg canvas, nothing opens a window); write them with
`evaluate.plots.save_figure`.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure

from finfusion.evaluate.performance import equity_curve
from finfusion.evaluate.plots import model_colors, new_figure, plot_bar
from finfusion.portfolio.backtest import UNIVERSE, Backtest, method_label

UNIVERSE_COLOR = "0.35"
BOOK_TITLES = {"long_only": "Long-only (top group)", "long_short": "Long-short (top minus bottom)"}


def plot_decile_returns(mean_returns: pd.DataFrame | pd.Series, *,
                        title: str = "Mean realised return by predicted decile") -> Figure:
    """Bar chart of `selection.mean_group_returns` output: one bar group per decile
    (0 = lowest predicted), one bar per method."""
    fig = plot_bar(mean_returns, title, xlabel="predicted group (0 = lowest)", ylabel="mean return per period")
    fig.set_size_inches(10.0, 4.5)  # plot_bar widens with every bar; ten groups of many methods stay readable
    return fig


def cumulative_returns(result: Backtest, *, kind: str = "net") -> pd.DataFrame:
    """Cumulative return prod(1 + R) - 1 after each period, per method and book.

    Returns columns method, strategy, date (the period's decision date), cumulative; the method
    label is `backtest.method_label` of the unit's key values ("Universe" for the universe rows).
    """
    if kind not in ("net", "gross"):
        raise ValueError(f"kind must be 'net' or 'gross', got {kind!r}")
    periods = result.periods.sort_values("date", kind="mergesort")
    keys = list(result.keys)
    labels = [UNIVERSE if strategy == "universe" else method_label(dict(zip(keys, values)))
              for strategy, values in zip(periods["strategy"], periods[keys].itertuples(index=False, name=None))]
    frame = periods[["strategy", "date", kind]].assign(method=labels)
    growth = frame[kind].groupby([frame["method"], frame["strategy"]], sort=False).transform(equity_curve)
    return frame.assign(cumulative=growth - 1.0)[["method", "strategy", "date", "cumulative"]]


def plot_cumulative_returns(result: Backtest, *, kind: str = "net", title: str | None = None) -> Figure:
    """Cumulative returns per method: a long-only and a long-short panel, each with the
    equal-weight universe as a dashed grey reference. Points sit at the decision dates."""
    curves = cumulative_returns(result, kind=kind)
    methods = [m for m in pd.unique(curves["method"]) if m != UNIVERSE]
    colors = model_colors(methods)
    fig, axes = new_figure(1, 2, width=11.0, height=4.2, sharey=True)
    universe = curves[curves["strategy"] == "universe"]
    for ax, book in zip(axes, BOOK_TITLES):
        for method in methods:
            line = curves[(curves["method"] == method) & (curves["strategy"] == book)]
            ax.plot(line["date"], line["cumulative"], color=colors[method], label=method, linewidth=1.3)
        ax.plot(universe["date"], universe["cumulative"], color=UNIVERSE_COLOR, linestyle="--", label="Universe",
                linewidth=1.1)
        ax.axhline(0.0, color="0.6", linewidth=0.7)
        ax.set_title(BOOK_TITLES[book], loc="left", fontsize="medium")
        ax.grid(alpha=0.3)
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[0].set_ylabel(f"cumulative return ({kind})")
    axes[0].legend(fontsize="small", loc="upper left")
    fig.suptitle(title or f"Cumulative returns, {result.cost_bps:g} bps per side")
    return fig
