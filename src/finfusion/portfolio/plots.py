"""Plots of decile backtests: mean decile returns (seed 001 Fig. 6), cumulative returns (Fig. 5)
with their drawdowns, and the IC per rebalance date.

Figures are drawn with `evaluate.plots` (Agg canvas, nothing opens a window); write them with
`evaluate.plots.save_figure`.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure

from finfusion.evaluate.performance import drawdown_curve, equity_curve
from finfusion.evaluate.plots import model_colors, new_figure, plot_bar
from finfusion.portfolio.backtest import UNIVERSE, Backtest, method_label
from finfusion.portfolio.metrics import information_coefficients
from finfusion.portfolio.returns import attach_returns
from finfusion.portfolio.selection import unit_mask

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
    """Cumulative return prod(1 + R) - 1 and drawdown after each period, per method and book.

    Returns columns method, strategy, date (the period's decision date), cumulative, drawdown
    (`performance.equity_curve` / `drawdown_curve`); the method label is `backtest.method_label`
    of the unit's key values ("Universe" for the universe rows).
    """
    if kind not in ("net", "gross"):
        raise ValueError(f"kind must be 'net' or 'gross', got {kind!r}")
    periods = result.periods.sort_values("date", kind="mergesort")
    keys = list(result.keys)
    labels = [UNIVERSE if strategy == "universe" else method_label(dict(zip(keys, values)))
              for strategy, values in zip(periods["strategy"], periods[keys].itertuples(index=False, name=None))]
    frame = periods[["strategy", "date", kind]].assign(method=labels)
    books = frame[kind].groupby([frame["method"], frame["strategy"]], sort=False)
    growth, drawdown = books.transform(equity_curve), books.transform(drawdown_curve)
    return frame.assign(cumulative=growth - 1.0, drawdown=drawdown)[["method", "strategy", "date", "cumulative",
                                                                     "drawdown"]]


def ic_by_rebalance_date(result: Backtest, predictions: pd.DataFrame, returns: pd.DataFrame) -> pd.DataFrame:
    """The IC and rank IC of each unit's score with the realised return per rebalance date (the
    dates `metrics.portfolio_table` averages): columns method, keys..., date, ic, rank_ic."""
    keys = list(result.keys)
    traded = predictions[predictions["date"].isin(result.rebalance_dates)]
    traded = traded[keys + ["date", "ticker", result.score_col]].rename(columns={result.score_col: "score"})
    traded = attach_returns(traded, returns, return_col=result.return_col, what="predicted ticker")
    units = traded.groupby(keys, sort=False, dropna=False) if keys else [((), traded)]
    parts = []
    for values, _ in units:
        labels = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        per_date = information_coefficients(traded[unit_mask(traded, labels)])
        parts.append(per_date.assign(method=method_label(labels), **labels))
    if not parts:
        return pd.DataFrame(columns=["method", *keys, "date", "ic", "rank_ic"])
    out = pd.concat(parts, ignore_index=True)
    return out[["method", *keys, "date", "ic", "rank_ic"]]


def plot_cumulative_returns(result: Backtest, *, kind: str = "net", title: str | None = None) -> Figure:
    """Cumulative returns (top row) and drawdowns (bottom row) per method: a long-only and a
    long-short column, each with the equal-weight universe as a dashed grey reference. Points sit
    at the decision dates."""
    curves = cumulative_returns(result, kind=kind)
    methods = [m for m in pd.unique(curves["method"]) if m != UNIVERSE]
    colors = model_colors(methods)
    fig, axes = new_figure(2, 2, width=12.0, height=6.6, sharex=True)
    axes[1].sharey(axes[0])
    axes[3].sharey(axes[2])
    universe = curves[curves["strategy"] == "universe"]
    for column, book in enumerate(BOOK_TITLES):
        for row, value in enumerate(("cumulative", "drawdown")):
            ax = axes[2 * row + column]
            for method in methods:
                line = curves[(curves["method"] == method) & (curves["strategy"] == book)]
                ax.plot(line["date"], line[value], color=colors[method], label=method, linewidth=1.3)
            ax.plot(universe["date"], universe[value], color=UNIVERSE_COLOR, linestyle="--", label="Universe",
                    linewidth=1.1)
            ax.axhline(0.0, color="0.6", linewidth=0.7)
            ax.grid(alpha=0.3)
        axes[column].set_title(BOOK_TITLES[book], loc="left", fontsize="medium")
        locator = mdates.AutoDateLocator()
        axes[2 + column].xaxis.set_major_locator(locator)
        axes[2 + column].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[0].set_ylabel(f"cumulative return ({kind})")
    axes[2].set_ylabel("drawdown")
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize="small", loc="outside right upper")
    fig.suptitle(title or f"Cumulative returns, {result.cost_bps:g} bps per side")
    return fig
