"""Plots of predictions and per-repeat metrics.

Every figure is a `matplotlib.figure.Figure` drawn on the Agg canvas (never pyplot), so nothing
opens a window, no global figure registry fills up, and plotting is safe in worker processes.
Plot functions return the Figure and close nothing; `save_figure` writes a PNG atomically.

Inputs:
    predictions frame  columns date (datetime64), ticker (str), y_true, y_pred (float), model
                       (str); seed and fold are optional here.
    per-repeat frame   one row per repeat (model x sweep level x seed) with a metric column.

All functions draw something for one model or many, NaN values and a handful of rows; a panel
with nothing to draw says so in its middle instead of raising.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from finfusion.errors import DataError
from finfusion.evaluate.metrics import ic_by_date
from finfusion.evaluate.tables import (
    format_cell,
    level_mask,
    ordered_levels,
    require_columns,
    require_numeric,
)
from finfusion.io import atomic_write

TRUE_COLOR = "0.2"
MARKER_BELOW = 60  # series with at most this many points also get markers (a single point is visible)
PerDateMetric = Callable[[pd.DataFrame], float]


# --------------------------------------------------------------------------- figures and files


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 8.0, height: float = 4.0,
               sharex: bool = False, sharey: bool = False) -> tuple[Figure, list[Axes]]:
    """A constrained-layout Figure on the Agg canvas and its axes as a flat list (row-major)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False)
    return fig, list(axes.ravel())


def figure_to_png(fig: Figure, *, dpi: int = 120) -> bytes:
    """The figure rendered as PNG bytes (the figure stays open)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120) -> Path:
    """Write `fig` as a PNG at `path` atomically, then close it (if pyplot manages it)."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    finally:
        pyplot = sys.modules.get("matplotlib.pyplot")  # a figure we made is not in pyplot's registry
        if pyplot is not None:
            pyplot.close(fig)


# --------------------------------------------------------------------------- prediction plots


def plot_true_vs_pred(preds: pd.DataFrame, *, max_points: int = 2000, ticker: str | None = None) -> Figure:
    """True and predicted values over time, one panel per model (seed 000 Fig. 3).

    Several seeds are averaged per date (the seed ensemble); several tickers are averaged per
    date too (the equal-weight cross-section) unless `ticker` picks one. A series longer than
    `max_points` dates keeps every k-th date, k = ceil(n / max_points).
    """
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    require_columns(preds, ("date", "ticker", "y_true", "y_pred", "model"), "predictions")
    frame = _select_ticker(preds, ticker)
    models = _models(frame)
    fig, axes = new_figure(max(len(models), 1), 1, width=9.0, height=0.6 + 2.4 * max(len(models), 1), sharex=True)
    if not models:
        return _empty(fig, axes[0], "no predictions")
    colors = model_colors(models)
    for ax, model in zip(axes, models):
        daily = _thin(_daily_mean(frame[frame["model"] == model], ["y_true", "y_pred"]), max_points)
        style = {"marker": "." if len(daily) <= MARKER_BELOW else None, "linewidth": 1.0}
        ax.plot(daily.index, daily["y_true"].to_numpy(float), color=TRUE_COLOR, label="true", **style)
        ax.plot(daily.index, daily["y_pred"].to_numpy(float), color=colors[model], label="predicted", **style)
        ax.set_title(str(model), loc="left", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
        if not daily[["y_true", "y_pred"]].notna().to_numpy().any():
            axes_note(ax, "no finite values")
    _date_axis(axes[-1], frame["date"])
    fig.suptitle(_scope_title("True vs predicted", frame, ticker))
    return fig


def plot_price_forecast(prices: pd.DataFrame, preds: pd.DataFrame, *, price_column: str = "close",
                        horizon: int = 1, ticker: str | None = None) -> Figure:
    """Price level over time (seed 004's plot): the period before the test, the test period and
    each model's predicted price, for one ticker (`ticker`, default the first in `preds`).

    prices  the prices frame (date, ticker, `price_column`).
    preds   predictions of a next-price target (target.kind "close"): y_pred on row date t is the
            price predicted for the ticker's price row t + `horizon`, and is drawn at that date.
            Several seeds are averaged per date.
    Two panels: the whole history, and the test period alone.
    """
    require_columns(preds, ("date", "ticker", "y_pred", "model"), "predictions")
    require_columns(prices, ("date", "ticker", price_column), "prices")
    fig, axes = new_figure(2, 1, width=9.0, height=6.4)
    if preds.empty:
        return _empty(fig, axes[0], "no predictions")
    ticker = ticker if ticker is not None else ordered_levels(preds["ticker"])[0]
    frame = _select_ticker(preds, ticker)
    series = prices.loc[prices["ticker"] == ticker, ["date", price_column]].sort_values("date")
    dates = pd.DatetimeIndex(series["date"])
    pos = dates.get_indexer(pd.DatetimeIndex(frame["date"])) + horizon
    ok = (pos >= horizon) & (pos < len(dates))
    if not ok.any():
        return _empty(fig, axes[0], f"no prices of {ticker} at the predicted dates")
    frame = frame.loc[ok].assign(target_date=dates[pos[ok]])
    start = frame["target_date"].min()
    actual = series.set_index("date")[price_column].astype(float)
    before, test = actual[actual.index < start], actual[actual.index >= start]
    colors = model_colors(_models(frame))
    for ax, show_before in zip(axes, (True, False)):
        if show_before:
            ax.plot(before.index, before.to_numpy(), color="0.6", linewidth=1.0, label="before test (train)")
        ax.plot(test.index, test.to_numpy(), color=TRUE_COLOR, linewidth=1.2, label="test (actual)")
        for model, color in colors.items():
            daily = frame[frame["model"] == model].groupby("target_date", sort=True)["y_pred"].mean()
            ax.plot(daily.index, daily.to_numpy(float), color=color, linewidth=1.0, label=f"{model} (predicted)")
        ax.set_ylabel(price_column)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        _date_axis(ax, series["date"])
    axes[0].set_title("whole history", loc="left", fontsize="medium")
    axes[1].set_title("test period", loc="left", fontsize="medium")
    fig.suptitle(f"Price and predicted price: {ticker}")
    return fig


def plot_error_distribution(preds: pd.DataFrame, *, bins: int = 40) -> Figure:
    """Histogram (density) of y_pred - y_true per model on common bins, with a Gaussian KDE
    where a model has at least two distinct errors. The legend gives mean, sd, n and how many
    rows had no finite error."""
    require_columns(preds, ("y_true", "y_pred", "model"), "predictions")
    models = _models(preds)
    fig, axes = new_figure(width=7.5, height=4.2)
    ax = axes[0]
    errors = {m: _errors(preds[preds["model"] == m]) for m in models}
    finite = [e[np.isfinite(e)] for e in errors.values()]
    if not finite or not any(e.size for e in finite):
        return _empty(fig, ax, "no finite errors")
    edges = np.histogram_bin_edges(np.concatenate(finite), bins=bins)
    colors = model_colors(models)
    for model, e in errors.items():
        _error_histogram(ax, e, edges, colors[model], str(model))
    ax.axvline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_xlabel("y_pred − y_true")
    ax.set_ylabel("density")
    ax.set_title("Prediction error distribution")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_metric_over_time(preds: pd.DataFrame, metric: str | PerDateMetric = "mse", *, window: int = 20) -> Figure:
    """A per-date metric per model, smoothed by a trailing rolling mean over `window` dates.

    metric  "mse" or "mae" (mean over the date's tickers), "ic" / "rank_ic" (Pearson / Spearman
            correlation of y_pred and y_true across the date's tickers, from
            `metrics.ic_by_date`: needs >= 2 tickers a date), or a callable taking one date's
            rows (of one model and seed) and returning a float.
    Per-date values are computed per seed (when a seed column exists) and averaged over seeds.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    require_columns(preds, ("date", "y_true", "y_pred", "model"), "predictions")
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    per_date = _per_date_metric(preds, metric)
    models = _models(preds)
    colors = model_colors(models)
    fig, axes = new_figure(width=9.0, height=3.8)
    ax = axes[0]
    drawn = 0
    for model in models:
        series = per_date[per_date["model"] == model].set_index("date")["value"].sort_index()
        smooth = series.rolling(window, min_periods=1).mean()
        if smooth.notna().any():
            marker = "." if len(smooth) <= MARKER_BELOW else None
            ax.plot(smooth.index, smooth.to_numpy(float), color=colors[model], label=str(model), marker=marker, linewidth=1.2)
            drawn += 1
    if not drawn:
        hint = " (IC needs at least 2 tickers per date)" if name in ("ic", "rank_ic") else ""
        return _empty(fig, ax, f"no finite {name} values{hint}")
    _date_axis(ax, preds["date"])
    ax.set_ylabel(f"{name} (rolling {window})")
    ax.set_title(f"{name} over time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# --------------------------------------------------------------------------- per-repeat plots


def plot_violin(per_repeat: pd.DataFrame, *, metric: str, group_col: str = "model",
                facet_col: str | None = None, title: str | None = None) -> Figure:
    """Violin plot of a per-repeat metric by `group_col`, one panel per `facet_col` level
    (seed 000 Figures 1-2: MSE over 5 repeats by model, panels d=4/6/8).

    Every repeat is also drawn as a point; a group with fewer than two distinct finite values
    gets its points only (a density of one value would be made up).
    """
    require_columns(per_repeat, [group_col, metric] + ([facet_col] if facet_col else []), "per-repeat table")
    require_numeric(per_repeat, metric, "per-repeat table")
    groups = ordered_levels(per_repeat[group_col], sort=False)
    facets = ordered_levels(per_repeat[facet_col]) if facet_col else [None]
    facets = facets or [None]
    fig, axes = new_figure(1, len(facets), width=max(4.5, 0.9 * len(groups) * len(facets) + 1.5),
                           height=4.2, sharey=True)
    colors = model_colors(groups)
    for ax, level in zip(axes, facets):
        rows = per_repeat if level is None else per_repeat[level_mask(per_repeat[facet_col], level)]
        _violin_panel(ax, rows, metric, group_col, groups, colors)
        if facet_col:
            ax.set_title(f"{facet_col}={format_cell(level)}", fontsize="medium")
    axes[0].set_ylabel(metric)
    fig.suptitle(title or f"{metric} over repeats")
    return fig


def plot_bar(data: pd.Series | pd.DataFrame, title: str, *, horizontal: bool = False,
             xlabel: str | None = None, ylabel: str | None = None) -> Figure:
    """Bars of a Series (one bar per index label) or a DataFrame (grouped: one bar per column
    within each index label), e.g. mean |SHAP| per feature or mean return per decile.
    Horizontal bars list the first label at the top."""
    frame = data.to_frame(data.name if data.name is not None else "value") if isinstance(data, pd.Series) else data
    for column in frame.columns:
        require_numeric(frame, column, f"bar data {title!r}")
    n = len(frame)
    size = max(2.5, 0.32 * n * max(1, len(frame.columns)) + 1.2)
    fig, axes = new_figure(width=7.5 if horizontal else max(5.0, size), height=size if horizontal else 4.0)
    ax = axes[0]
    if n == 0 or frame.columns.empty:
        return _empty(fig, ax, "nothing to plot", title)
    _bars(ax, frame, horizontal)
    ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if isinstance(data, pd.DataFrame) and len(frame.columns) > 1:
        ax.legend(fontsize="small")
    return fig


# --------------------------------------------------------------------------- helpers


def model_colors(names: Sequence) -> dict:
    """A stable colour per name (tab10 in the given order, cycling)."""
    palette = colormaps["tab10"].colors
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def _models(frame: pd.DataFrame) -> list:
    return ordered_levels(frame["model"], sort=False)


def _select_ticker(preds: pd.DataFrame, ticker: str | None) -> pd.DataFrame:
    if ticker is None:
        return preds
    frame = preds[preds["ticker"] == ticker]
    if frame.empty:
        known = ordered_levels(preds["ticker"])[:10]
        raise DataError(f"predictions have no rows for ticker {ticker!r}; tickers include {known}")
    return frame


def _daily_mean(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per-date means of `columns` (over tickers and seeds), sorted by date; NaT dates left out."""
    frame = frame[frame["date"].notna()]
    return frame.groupby("date", sort=True)[columns].mean()


def _thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    step = math.ceil(len(frame) / max_points) if len(frame) > max_points else 1
    return frame.iloc[::step]


def _scope_title(head: str, frame: pd.DataFrame, ticker: str | None) -> str:
    n = frame["ticker"].nunique()
    if ticker is not None or n == 1:
        return f"{head}: {ticker if ticker is not None else frame['ticker'].iloc[0]}"
    return f"{head}: mean over {n} tickers" if n else head


def _date_axis(ax: Axes, dates: pd.Series) -> None:
    if pd.api.types.is_datetime64_any_dtype(dates):
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _errors(frame: pd.DataFrame) -> np.ndarray:
    return (frame["y_pred"].to_numpy(float) - frame["y_true"].to_numpy(float)).ravel()


def _error_histogram(ax: Axes, errors: np.ndarray, edges: np.ndarray, color, model: str) -> None:
    finite = errors[np.isfinite(errors)]
    dropped = errors.size - finite.size
    note = f", {dropped} non-finite left out" if dropped else ""
    if finite.size == 0:
        ax.plot([], [], color=color, label=f"{model} (no finite errors{note})")
        return
    sd = float(np.std(finite, ddof=1)) if finite.size > 1 else float("nan")
    label = f"{model} (mean {finite.mean():.3g}, sd {sd:.3g}, n={finite.size}{note})"
    ax.hist(finite, bins=edges, density=True, histtype="stepfilled", alpha=0.35, color=color, label=label)
    if finite.size >= 2 and np.ptp(finite) > 0:
        from scipy.stats import gaussian_kde

        xs = np.linspace(edges[0], edges[-1], 200)
        ax.plot(xs, gaussian_kde(finite)(xs), color=color, linewidth=1.2)


def _per_date_metric(preds: pd.DataFrame, metric: str | PerDateMetric) -> pd.DataFrame:
    """Columns model, date, value: the metric per (model, seed, date), averaged over seeds."""
    keys = ["model"] + (["seed"] if "seed" in preds.columns else []) + ["date"]
    frame = preds[preds["date"].notna()]
    if callable(metric):
        values = frame.groupby(keys, sort=False).apply(lambda g: float(metric(g)), include_groups=False)
    elif metric in ("mse", "mae"):
        err = frame["y_pred"].astype(float) - frame["y_true"].astype(float)
        err = err**2 if metric == "mse" else err.abs()
        values = err.groupby([frame[k] for k in keys], sort=False).mean()
    elif metric in ("ic", "rank_ic"):
        values = _ic(frame, keys, "pearson" if metric == "ic" else "spearman")
    else:
        raise ValueError(f"metric must be 'mse', 'mae', 'ic', 'rank_ic' or a callable, got {metric!r}")
    values = values.rename("value").reset_index()
    return values.groupby(["model", "date"], sort=False)["value"].mean().reset_index()


def _ic(frame: pd.DataFrame, keys: list[str], method: str) -> pd.Series:
    """Cross-sectional IC per date (metrics.ic_by_date) within each (model[, seed]) group, on the
    rows where both y_true and y_pred are finite."""
    frame = frame[np.isfinite(frame["y_true"].to_numpy(float)) & np.isfinite(frame["y_pred"].to_numpy(float))]
    parts = {}
    for key, group in frame.groupby(keys[:-1], sort=False):
        ic = ic_by_date(group, method=method)
        parts[key] = ic.rename_axis("date")
    if not parts:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=keys))
    return pd.concat(parts, names=keys[:-1])


def _violin_panel(ax: Axes, rows: pd.DataFrame, metric: str, group_col: str, groups: list, colors: Mapping) -> None:
    positions, datasets = [], []
    for i, group in enumerate(groups):
        values = rows.loc[level_mask(rows[group_col], group), metric].to_numpy(float)
        values = values[np.isfinite(values)]
        if values.size >= 2 and np.ptp(values) > 0:
            positions.append(i)
            datasets.append(values)
        if values.size:
            jitter = np.linspace(-0.08, 0.08, values.size) if values.size > 1 else np.zeros(1)
            ax.scatter(i + jitter, values, s=14, color=colors[group], edgecolors="black", linewidths=0.4, zorder=3)
    if datasets:
        parts = ax.violinplot(datasets, positions=positions, widths=0.8, showextrema=False, showmedians=True)
        for body, pos in zip(parts["bodies"], positions):
            body.set_facecolor(colors[groups[pos]])
            body.set_edgecolor("0.3")
            body.set_alpha(0.35)
        parts["cmedians"].set_color("0.2")
    if not len(rows) or not np.isfinite(rows[metric].to_numpy(float)).any():
        axes_note(ax, "no finite values")
    labels = [format_cell(g) for g in groups]
    tilt = len(groups) > 1 and (len(groups) > 3 or max(map(len, labels)) > 8)
    ax.set_xticks(range(len(groups)), labels=labels, rotation=25 if tilt else 0, ha="right" if tilt else "center")
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.grid(axis="y", alpha=0.3)


def _bars(ax: Axes, frame: pd.DataFrame, horizontal: bool) -> None:
    n, k = len(frame), len(frame.columns)
    width = 0.8 / k
    base = np.arange(n, dtype=float)
    colors = model_colors(list(frame.columns))
    for j, column in enumerate(frame.columns):
        offsets = base - 0.4 + width * (j + 0.5)
        values = frame[column].to_numpy(float)
        style = {"label": format_cell(column), "color": colors[column]}
        if horizontal:
            ax.barh(offsets, values, height=width, **style)
        else:
            ax.bar(offsets, values, width=width, **style)
    labels = [" / ".join(map(format_cell, i)) if isinstance(i, tuple) else format_cell(i) for i in frame.index]
    if horizontal:
        ax.set_yticks(base, labels=labels)
        ax.invert_yaxis()
        ax.axvline(0.0, color="0.3", linewidth=0.8)
        ax.grid(axis="x", alpha=0.3)
    else:
        ax.set_xticks(base, labels=labels, rotation=30 if n > 6 else 0, ha="right" if n > 6 else "center")
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.grid(axis="y", alpha=0.3)


def axes_note(ax: Axes, text: str) -> None:
    """A grey note in the middle of `ax` (e.g. why a panel is empty)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4", fontsize="medium")


def _empty(fig: Figure, ax: Axes, text: str, title: str | None = None) -> Figure:
    axes_note(ax, text)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return fig
