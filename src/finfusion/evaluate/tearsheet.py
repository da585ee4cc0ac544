"""Tear-sheet charts of a run report: what alphalens / quantstats users look for.

    strategies     equity and drawdown curves of period returns (`performance.equity_curve` /
                   `drawdown_curve`, the one home of both), one line per strategy
    classifiers    ROC (sklearn roc_curve), reliability diagram (sklearn calibration_curve, equal-count
                   bins) and confusion matrices (sklearn confusion_matrix) per model, rows pooled over
                   the seeds and folds given
    IC             the information coefficient per date (`metrics.ic_by_date`) and its rolling mean
    training       loss (or any per-epoch series) per epoch: mean over fits with a ± 1 std band
    attention      per-token attention weights and their spread over dates, drawn only when they
                   are not uniform (`attention_verdict` states the rule)

Each chart has a data function (a plain DataFrame or value, tested on hand-made frames) and a
thin `plot_*` function that draws it with `evaluate.plots` (Agg canvas; write with `save_figure`).
Inputs are the flat predictions frame (date, ticker, y_true, y_pred, model, seed, ... and the
parts of `data.predictions`, read through that module) or plain return series (fractions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.calibration import calibration_curve
from sklearn.metrics import auc, confusion_matrix, roc_curve

from finfusion.data.predictions import UP_PROBA, Predictions
from finfusion.evaluate.metrics import ic_by_date
from finfusion.evaluate.performance import drawdown_curve, equity_curve
from finfusion.evaluate.plots import axes_note, model_colors, new_figure
from finfusion.evaluate.tables import ordered_levels, require_columns

MAX_POINTS = 1500  # a curve with more points keeps every k-th one (and its deepest drawdown)
CALIBRATION_BINS = 10
IC_WINDOW = 20  # dates of the rolling mean IC
UNIFORM_TOLERANCE = 0.005  # attention within this of 1/S everywhere (per-date means) says nothing
REFERENCE_STYLE = {"linestyle": "--", "linewidth": 1.1}
CURVE_SERIES = ("train_loss", "valid_loss")  # what the trainer records per epoch (models.trainer)


# --------------------------------------------------------------------------- strategies


def strategy_curves(returns: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Long frame strategy, date, equity, drawdown from each strategy's period returns R (a
    Series indexed by date, fractions, in time order): equity = value of 1 invested,
    drawdown = fall from the running peak (<= 0)."""
    parts = []
    for name, series in returns.items():
        series = series.sort_index()
        parts.append(pd.DataFrame({"strategy": name, "date": series.index,
                                   "equity": equity_curve(series).to_numpy(),
                                   "drawdown": drawdown_curve(series).to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=["strategy", "date", "equity", "drawdown"])
    return pd.concat(parts, ignore_index=True)


def plot_equity_drawdown(returns: Mapping[str, pd.Series], *, title: str, references: Sequence[str] = (),
                         max_points: int = MAX_POINTS) -> Figure:
    """Equity (top) and drawdown (bottom) of each strategy; `references` (benchmarks) are dashed.
    The legend gives each strategy's final value and maximum drawdown."""
    curves = strategy_curves(returns)
    names = list(returns)
    fig, axes = new_figure(width=12.5 if len(names) > 3 else 10.0, height=5.6)
    top, bottom = _stacked(fig)
    colors = model_colors(names)
    for name in names:
        line = _thin_curve(curves[curves["strategy"] == name], max_points)
        if line.empty:
            continue
        full = curves[curves["strategy"] == name]
        style = {"color": colors[name], **(REFERENCE_STYLE if name in references else {"linewidth": 1.3})}
        label = f"{name} ({full['equity'].iloc[-1]:.3f}, max DD {full['drawdown'].min():.1%})"
        top.plot(line["date"], line["equity"], label=label, **style)
        bottom.plot(line["date"], line["drawdown"], **style)
    top.axhline(1.0, color="0.6", linewidth=0.7)
    top.set_ylabel("value of 1 invested")
    bottom.set_ylabel("drawdown")
    bottom.yaxis.set_major_formatter(_percent)
    _legend(fig, top, many=len(names) > 3)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    if curves.empty:
        axes_note(top, "no periods")
    _dates(bottom)
    fig.suptitle(title, x=0.01, ha="left", fontsize="medium")
    return fig


# --------------------------------------------------------------------------- classifiers


def binary_rows(preds: pd.DataFrame) -> pd.DataFrame:
    """model, y_true, y_pred, p_up of the rows with a finite P(up) and a 0/1 label (pooled over
    the seeds, folds and points given); an empty frame when the predictions have no P(up)."""
    require_columns(preds, ("model", "y_true", "y_pred"), "predictions")
    columns = ["model", "y_true", "y_pred", "p_up"]
    if UP_PROBA not in preds.columns:
        return pd.DataFrame(columns=columns)
    frame = preds[["model", "y_true", "y_pred"]].assign(p_up=preds[UP_PROBA].astype("float64"))
    keep = np.isfinite(frame["p_up"].to_numpy()) & frame["y_true"].isin([0, 1]).to_numpy()
    return frame.loc[keep, columns].reset_index(drop=True)


def roc_points(y_true: Sequence[int], p_up: Sequence[float]) -> tuple[pd.DataFrame, float]:
    """The ROC curve (columns fpr, tpr, from (0, 0) to (1, 1)) and its area; NaN area and an
    empty curve when the labels hold one class only."""
    y = np.asarray(y_true)
    if np.unique(y).size < 2:
        return pd.DataFrame(columns=["fpr", "tpr"]), float("nan")
    fpr, tpr, _ = roc_curve(y, np.asarray(p_up, dtype="float64"))
    return pd.DataFrame({"fpr": fpr, "tpr": tpr}), float(auc(fpr, tpr))


def calibration_points(y_true: Sequence[int], p_up: Sequence[float], *, n_bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Reliability diagram points (columns mean_predicted, fraction_positive): equal-count bins
    of P(up) (sklearn's "quantile" strategy, so probabilities near 0.5 still get several bins)."""
    y = np.asarray(y_true)
    if y.size == 0:
        return pd.DataFrame(columns=["mean_predicted", "fraction_positive"])
    fraction, mean = calibration_curve(y, np.asarray(p_up, dtype="float64"), n_bins=n_bins, strategy="quantile")
    return pd.DataFrame({"mean_predicted": mean, "fraction_positive": fraction})


def confusion_counts(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> pd.DataFrame:
    """Counts with one row per true label and one column per predicted label (sklearn)."""
    labels = list(labels) if labels is not None else sorted(set(pd.unique(pd.Series(y_true)))
                                                            | set(pd.unique(pd.Series(y_pred))))
    counts = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=labels)
    return pd.DataFrame(counts, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="predicted"))


def plot_roc_calibration(preds: pd.DataFrame) -> Figure:
    """ROC curves (left) and the reliability diagram (right), one line per model, rows pooled."""
    rows = binary_rows(preds)
    models = ordered_levels(rows["model"], sort=False)
    colors = model_colors(ordered_levels(preds["model"], sort=False))
    fig, (roc_ax, cal_ax) = new_figure(1, 2, width=11.0, height=4.6)
    lows, highs = [], []
    for model in models:
        part = rows[rows["model"] == model]
        curve, area = roc_points(part["y_true"], part["p_up"])
        roc_ax.plot(curve["fpr"], curve["tpr"], color=colors[model], linewidth=1.3, label=f"{model} (AUC {area:.3f})")
        cal = calibration_points(part["y_true"], part["p_up"])
        cal_ax.plot(cal["mean_predicted"], cal["fraction_positive"], marker="o", markersize=3.5, color=colors[model],
                    linewidth=1.2)
        lows.append(min(cal.min(numeric_only=True).min(), 0.5))
        highs.append(max(cal.max(numeric_only=True).max(), 0.5))
    roc_ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=0.9)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    roc_ax.set_title("ROC", loc="left", fontsize="medium")
    lo, hi = (max(0.0, min(lows) - 0.03), min(1.0, max(highs) + 0.03)) if models else (0.0, 1.0)
    cal_ax.plot([lo, hi], [lo, hi], color="0.6", linestyle=":", linewidth=0.9)
    cal_ax.set(xlabel="mean predicted P(up) in the bin", ylabel="fraction up", xlim=(lo, hi), ylim=(lo, hi))
    cal_ax.set_title(f"Reliability: {CALIBRATION_BINS} equal-count bins per model (colours as left; dotted = "
                     "calibrated)", loc="left", fontsize="medium")
    for ax in (roc_ax, cal_ax):
        ax.grid(alpha=0.3)
    roc_ax.legend(fontsize="small", loc="lower right")
    if not models:
        axes_note(roc_ax, "no predicted probabilities")
    return fig


def plot_confusion_matrices(preds: pd.DataFrame, *, ncols: int = 4) -> Figure:
    """One confusion matrix per model (rows pooled): counts, shaded by the share of the true row."""
    require_columns(preds, ("model", "y_true", "y_pred"), "predictions")
    models = ordered_levels(preds["model"], sort=False)
    labels = sorted(set(pd.unique(preds["y_true"].dropna())) | set(pd.unique(preds["y_pred"].dropna())))
    ncols = max(1, min(ncols, len(models)))
    nrows = max(1, -(-len(models) // ncols))
    fig, axes = new_figure(nrows, ncols, width=2.9 * ncols + 0.4, height=2.6 * nrows + 0.3)
    for ax, model in zip(axes, models):
        part = preds[preds["model"] == model].dropna(subset=["y_true", "y_pred"])
        counts = confusion_counts(part["y_true"], part["y_pred"], labels)
        _matrix(ax, counts)
        ax.set_title(f"{model} (n={int(counts.to_numpy().sum()):,})", fontsize="medium")
    for ax in axes[len(models):]:
        ax.set_axis_off()
    return fig


def _matrix(ax: Axes, counts: pd.DataFrame) -> None:
    values = counts.to_numpy(dtype="float64")
    shares = values / np.where(values.sum(axis=1, keepdims=True) > 0, values.sum(axis=1, keepdims=True), 1.0)
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for (i, j), count in np.ndenumerate(values):
        ax.text(j, i, f"{int(count):,}\n{shares[i, j]:.0%}", ha="center", va="center", fontsize="small",
                color="white" if shares[i, j] > 0.6 else "black")
    ticks = range(len(counts.columns))
    ax.set_xticks(ticks, labels=[str(c) for c in counts.columns])
    ax.set_yticks(ticks, labels=[str(c) for c in counts.index])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")


# --------------------------------------------------------------------------- IC over time


def ic_over_time(preds: pd.DataFrame, *, method: str = "spearman", score: str = "y_pred",
                 target: str = "y_true") -> pd.DataFrame:
    """Columns model, date, ic: the cross-sectional correlation of `score` with `target` per date
    (`metrics.ic_by_date`; a date with < 2 tickers has none) per model and seed, mean over seeds."""
    require_columns(preds, ("model", "date", score, target), "predictions")
    keep = np.isfinite(preds[score].to_numpy(np.float64)) & np.isfinite(preds[target].to_numpy(np.float64))
    frame = preds[keep]
    keys = ["model"] + (["seed"] if "seed" in frame.columns else [])
    parts = []
    for key, group in frame.groupby(keys, sort=False, dropna=False):
        ic = ic_by_date(group, method=method, true_col=target, pred_col=score)
        parts.append(pd.DataFrame({"model": key[0], "date": ic.index, "ic": ic.to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=["model", "date", "ic"])
    out = pd.concat(parts, ignore_index=True).groupby(["model", "date"], sort=False)["ic"].mean().reset_index()
    return out.sort_values(["model", "date"], kind="mergesort", key=_appearance(out, ("model",))).reset_index(drop=True)


def plot_ic_over_time(per_date: pd.DataFrame, *, window: int = IC_WINDOW, title: str = "Rank IC per date") -> Figure:
    """Per-date IC (thin) and its trailing `window`-date mean (bold; from window / 2 dates on), one
    colour per model; the legend gives the mean IC and its t-statistic over dates."""
    require_columns(per_date, ("model", "date", "ic"), "per-date IC")
    models = ordered_levels(per_date["model"], sort=False)
    colors = model_colors(models)
    fig, (ax,) = new_figure(width=12.5 if len(models) > 3 else 10.0, height=3.8)
    for model in models:
        series = per_date[per_date["model"] == model].set_index("date")["ic"].sort_index().dropna()
        if series.empty:
            continue
        t = series.mean() / series.std(ddof=1) * np.sqrt(len(series)) if len(series) > 1 else float("nan")
        ax.plot(series.index, series.to_numpy(), color=colors[model], linewidth=0.6, alpha=0.35)
        ax.plot(series.index, series.rolling(window, min_periods=max(1, window // 2)).mean().to_numpy(), color=colors[model],
                linewidth=1.6, label=f"{model} (mean {series.mean():.3f}, t {t:.2f}, {len(series)} dates)")
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    ax.set_ylabel("IC")
    fig.suptitle(f"{title}: thin = each date, bold = rolling mean over {window} dates", x=0.01, ha="left",
                 fontsize="medium")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[1]:
        _legend(fig, ax, many=len(models) > 3)
    else:
        axes_note(ax, "no date with an IC (IC needs at least 2 tickers per date)")
    _dates(ax)
    return fig


# --------------------------------------------------------------------------- training curves


def curve_summary(curves: pd.DataFrame, *, panel: str = "model", line: str = "series") -> pd.DataFrame:
    """Mean, std (ddof=1; NaN for one fit) and count of `value` per (`panel`, `line`, epoch) over
    the fits (folds, seeds) of a long curves frame; panels and lines in order of appearance."""
    require_columns(curves, (panel, line, "epoch", "value"), "training curves")
    frame = curves[np.isfinite(curves["value"].to_numpy(np.float64))]
    grouped = frame.groupby([panel, line, "epoch"], sort=False)["value"]
    out = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1), "n": grouped.size()}).reset_index()
    return out.sort_values([panel, line, "epoch"], kind="mergesort",
                           key=_appearance(frame, (panel, line))).reset_index(drop=True)


def plot_training_curves(curves: pd.DataFrame, *, panel: str = "model", line: str = "series",
                         ylabel: str = "loss", ncols: int = 3) -> Figure:
    """One panel per `panel` value, one line per `line` value: the mean over fits per epoch with
    a ± 1 std band (from 2 fits on); the panel title says over how many fits."""
    summary = curve_summary(curves, panel=panel, line=line)
    panels = list(pd.unique(summary[panel]))
    lines = list(pd.unique(summary[line]))
    colors = model_colors(lines)
    ncols = max(1, min(ncols, len(panels)))
    nrows = max(1, -(-len(panels) // ncols))
    fig, axes = new_figure(nrows, ncols, width=4.2 * ncols + 0.4, height=3.0 * nrows + 0.3)
    for ax, name in zip(axes, panels):
        part = summary[summary[panel] == name]
        for key, rows in part.groupby(line, sort=False):
            ax.plot(rows["epoch"], rows["mean"], color=colors[key], linewidth=1.4, label=str(key),
                    marker="." if len(rows) <= 30 else None)
            band = rows["std"].fillna(0.0).to_numpy()
            ax.fill_between(rows["epoch"], rows["mean"] - band, rows["mean"] + band, color=colors[key], alpha=0.18,
                            linewidth=0)
        ax.set_title(f"{name} ({int(part['n'].max())} fit{'s' if part['n'].max() > 1 else ''})", fontsize="medium")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    if not panels:
        axes_note(axes[0], "no curves")
    return fig


# --------------------------------------------------------------------------- attention


@dataclass(frozen=True)
class AttentionVerdict:
    """Whether a model's attention says anything (`attention_verdict`), and why."""

    informative: bool
    deviation: float  # max over dates and tokens of |per-date mean weight - 1/S|
    n_tokens: int
    reason: str


def attention_by_date(preds: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per model with attention: the mean attention weight per date (over tickers and seeds),
    one column per token (`Predictions.attention`); models without attention are left out."""
    parsed = Predictions.from_frame(preds)
    weights = parsed.attention
    out = {}
    for model, core in parsed.core.groupby("model", sort=False):
        rows = weights.loc[core.index].dropna(axis=1, how="all").dropna(axis=0, how="all")
        if rows.shape[1]:
            out[model] = rows.groupby(core.loc[rows.index, "date"], sort=True).mean()
    return out


def attention_verdict(by_date: pd.DataFrame, *, tolerance: float = UNIFORM_TOLERANCE) -> AttentionVerdict:
    """The rule: attention over S tokens is shown only when some token's weight, averaged over a
    date's rows, moves further than `tolerance` from the uniform 1/S on some date; otherwise every
    bar would sit at 1/S and the chart would be noise. One token is weight 1 by construction."""
    n = int(by_date.shape[1])
    if n < 2:
        return AttentionVerdict(False, 0.0, n, "one token: its weight is 1 by construction, not shown")
    deviation = float(np.nanmax(np.abs(by_date.to_numpy(np.float64) - 1.0 / n))) if by_date.size else 0.0
    if not deviation > tolerance:
        return AttentionVerdict(False, deviation, n, f"attention is uniform: max |w − 1/S| = {deviation:.4f} < "
                                f"{tolerance:g} over {n} tokens and {len(by_date)} dates (per-date means, "
                                f"1/S = {1.0 / n:.3f}), not shown")
    return AttentionVerdict(True, deviation, n, f"max |w − 1/S| = {deviation:.4f} ≥ {tolerance:g} over {n} tokens "
                            f"and {len(by_date)} dates (per-date means, 1/S = {1.0 / n:.3f})")


def plot_attention_spread(by_date: Mapping[str, pd.DataFrame]) -> Figure:
    """Per model, a horizontal box per token of its per-date mean weights (the spread over dates;
    whiskers 5-95 %), the mean as a dot, and 1/S dashed."""
    models = list(by_date)
    n_tokens = max((f.shape[1] for f in by_date.values()), default=1)
    fig, axes = new_figure(1, max(1, len(models)), width=max(5.5, 5.0 * len(models)),
                           height=max(2.6, 0.3 * n_tokens + 1.2))
    for ax, model in zip(axes, models):
        frame = by_date[model]
        values = [frame[c].dropna().to_numpy(np.float64) for c in frame.columns]
        positions = np.arange(len(values))[::-1]  # the first token on top
        ax.boxplot(values, positions=positions, orientation="horizontal", whis=(5, 95), widths=0.6, showfliers=False,
                   medianprops={"color": "0.2"}, patch_artist=True, boxprops={"facecolor": "#c6dbef", "linewidth": 0.8})
        ax.scatter([v.mean() if v.size else np.nan for v in values], positions, s=12, color="#08519c", zorder=3)
        ax.axvline(1.0 / frame.shape[1], color="0.4", linestyle="--", linewidth=0.9)
        ax.set_yticks(positions, labels=[str(c) for c in frame.columns])
        ax.set_xlabel(f"attention weight (per-date mean; 1/S = {1.0 / frame.shape[1]:.3f} dashed)")
        ax.set_title(f"{model} ({len(frame)} dates)", fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
    if not models:
        axes_note(axes[0], "no attention weights")
    return fig


# --------------------------------------------------------------------------- a prediction run


@dataclass(frozen=True)
class Chart:
    """One tear-sheet chart: a file stem, a title and the figure, or a note why it is not drawn."""

    name: str
    title: str
    figure: Figure | None = None
    note: str | None = None


def prediction_charts(preds: pd.DataFrame, task: str, curves: pd.DataFrame | None = None) -> list[Chart]:
    """The tear-sheet charts of a prediction run's rows (one sweep point, every seed): ROC,
    reliability and confusion matrices of a classifier, the rank IC over time of a regression with
    cross-sections, the training curves (CURVE_SERIES of the long `curves` frame) and the attention
    of the models that have some (`attention_verdict` decides whether it is drawn)."""
    charts = []
    if task == "classification":
        if binary_rows(preds).empty:
            charts.append(Chart("roc_calibration", "ROC and reliability", note="not drawn: no model predicted P(up) "
                                "of 0/1 labels"))
        else:
            charts.append(Chart("roc_calibration", "ROC and reliability (rows pooled over seeds and folds)",
                                plot_roc_calibration(preds)))
        charts.append(Chart("confusion", "Confusion matrices (rows pooled over seeds and folds; shade = share of the "
                            "true class)", plot_confusion_matrices(preds)))
    elif preds.groupby("date")["ticker"].nunique().max() >= 2:
        charts.append(Chart("rank_ic", "Rank IC of y_pred with y_true per date (mean over seeds)",
                            plot_ic_over_time(ic_over_time(preds))))
    else:
        charts.append(Chart("rank_ic", "Rank IC over time", note="not drawn: one ticker per date (no cross-section)"))
    losses = None if curves is None else curves[curves["series"].isin(CURVE_SERIES)]
    if losses is not None and not losses.empty:
        charts.append(Chart("training_curves", "Training curves: loss per epoch, mean ± 1 std over folds and seeds",
                            plot_training_curves(losses)))
    by_date = attention_by_date(preds)
    verdicts = {model: attention_verdict(frame) for model, frame in by_date.items()}
    shown = {model: by_date[model] for model, v in verdicts.items() if v.informative}
    if shown:
        charts.append(Chart("attention", "Attention per token over dates (box: 25-75 %, whiskers 5-95 % of the "
                            "per-date means; dot: mean): " + "; ".join(f"{m}: {verdicts[m].reason}" for m in shown),
                            plot_attention_spread(shown)))
    charts += [Chart(f"attention_{i}", f"Attention of {model}", note=v.reason)
               for i, (model, v) in enumerate(verdicts.items()) if not v.informative]
    return charts


# --------------------------------------------------------------------------- helpers


def _stacked(fig: Figure) -> tuple[Axes, Axes]:
    """Replace the figure's axes by a tall top panel and a short bottom one sharing the x axis."""
    fig.clear()
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1.0]})
    return top, bottom


def _legend(fig: Figure, ax: Axes, *, many: bool) -> None:
    """The axes' legend: inside its upper left corner, or, for many lines, beside the figure."""
    if many:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    elif ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize="small", loc="upper left")


def _thin_curve(line: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """Every k-th point of a long curve, always with its last point and its deepest drawdown."""
    if len(line) <= max_points:
        return line
    step = -(-len(line) // max_points)
    keep = np.zeros(len(line), dtype=bool)
    keep[::step] = True
    keep[-1] = True
    keep[int(np.argmin(line["drawdown"].to_numpy()))] = True
    return line[keep]


def _appearance(frame: pd.DataFrame, columns: Sequence[str]):
    """A sort key that orders `columns` by first appearance in `frame` and others by value."""
    def key(column: pd.Series) -> pd.Series:
        if column.name not in columns:
            return column
        return column.map({v: i for i, v in enumerate(pd.unique(frame[column.name]))})

    return key


def _percent(value: float, _pos: int) -> str:
    return f"{value:.0%}"


def _dates(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
