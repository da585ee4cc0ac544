"""Everything a finished run writes: predictions, metrics, tables, plots, fingerprints, report.

    <run>/config.yaml          resolved config (written at the start)
    <run>/env.json             Python, platform and package versions
    <run>/data.json            data fingerprints, source facts, what cleaning removed
    <run>/predictions.parquet  one row per test sample, model, seed and sweep point
    <run>/metrics.json         metrics per unit and their summary
    <run>/metrics.csv          the same per-unit table
    <run>/tables/*.md|csv      mean (std) tables over seeds (sweeps); for classification runs also
                               fold_metrics, fold_means and significance (evaluate.folds / .significance),
                               and floors: majority of split, floor models, day-bootstrap intervals of
                               accuracy / MCC, paired tests against the best floor (evaluate.floors)
    <run>/tables/training_curves.csv  per-epoch losses of every neural model fit (long form); with
                               mixture models also mixture_curves and (regression) mixture_gate
    <run>/predictions.parquet  (above) also holds `labelled` when some rows are predicted only
                               (e.g. the StockNet backtest universe; metrics use the labelled rows)
    <run>/tables/pnl_daily.*, portfolio_ic.*  daily long/flat PnL and per-date portfolio IC (analysis_outputs)
    <run>/plots/*.png          tear-sheet charts (evaluate.tearsheet: ROC, reliability, confusion, rank IC,
                               training curves, attention, equity and drawdown), true vs predicted,
                               error distribution, violins
    <run>/report.html          self-contained report (docs/reports.md)

`write_outputs` returns a `RunResult` (run directory, predictions, metrics, data facts), the
value of `experiments.runner.run`. The units and their inputs come from `experiments.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import finfusion.io as io
from finfusion.data.predictions import Predictions
from finfusion.data.samples import constant_features
from finfusion.errors import DataError
from finfusion.evaluate.floors import floor_blocks, floor_table, majority_metrics
from finfusion.evaluate.folds import fold_metrics, mean_fold_metrics
from finfusion.evaluate.metrics import classification_metrics, directional_accuracy, regression_metrics
from finfusion.evaluate.mixture import alignment_table, mean_error_curves, plot_error_curves
from finfusion.evaluate.plots import (
    plot_error_distribution,
    plot_price_forecast,
    plot_true_vs_pred,
    plot_violin,
    save_figure,
)
from finfusion.evaluate.report import (
    Section,
    WarningBox,
    config_section,
    render_report,
    warning_sections,
    write_report,
)
from finfusion.evaluate.significance import date_significance, date_significance_notes, significance_table
from finfusion.evaluate.tables import drop_empty_std, mean_std_table, spread_note, to_markdown
from finfusion.evaluate.tearsheet import prediction_charts
from finfusion.experiments.analysis_outputs import (
    ANALYSIS_FIGURES,
    analysis_sections,
    analysis_tables,
    figure_blocks,
    pnl_plots,
    portfolio_plots,
    scored_rows,
    shap_plots,
)
from finfusion.experiments.config import RunConfig
from finfusion.experiments.plan import ModelUnit, PredictInputs, sweep_points
from finfusion.experiments.rundir import environment, recorded_warnings
from finfusion.fingerprint import frame_fingerprint
from finfusion.models.registry import get_predictor_class

PRICE_TOLERANCE = 1e-6  # relative: predicted and realised price changes smaller than this are no change
SIGNIFICANCE_METRICS = ("accuracy", "f1", "roc_auc")  # seed 003 tests AUC and F1 across test periods
MIN_FOLD_ROWS = 20  # smaller test folds (e.g. one-step rolling windows) give no meaningful per-fold metric
MAX_REPORT_FOLD_ROWS = 60  # longer per-fold tables stay in tables/fold_metrics.csv only
HEADLINE = {"regression": ("mse", "mae", "mse_ratio", "rmse", "directional_accuracy", "corr", "corr_text", "ic_mean"),
            "classification": ("accuracy", "f1", "roc_auc", "mcc")}


@dataclass(frozen=True)
class RunResult:
    """What a finished run returns: its directory, every prediction row (one per test sample,
    model, seed and sweep point), the per-unit metrics table and the data facts (data.json)."""

    run_dir: Path
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    meta: dict


def unit_metrics(predictions: pd.DataFrame, task: str, floors: dict | None = None) -> pd.DataFrame:
    """One row of metrics per (point, seed, model). With `floors` ((point, seed) -> the noise
    floor of that unit's simulated market) also noise_floor and mse_ratio = mse / noise_floor.
    When the predictions carry `last_price` (a price target, see `with_last_price`), the
    directional accuracy compares the predicted and the realised change from that price."""
    floors = floors or {}
    truth = Predictions.from_frame(predictions).truth  # e.g. the simulator's text term
    rows = []
    for (point, seed, model), frame in predictions.groupby(["point", "seed", "model"], sort=False):
        if task == "classification":
            values = classification_metrics(frame)  # with roc_auc when the frame has P(up)
        else:
            values = regression_metrics(frame)
            if "last_price" in frame.columns:  # a price level: its direction is the change from day t
                values["directional_accuracy"] = directional_accuracy(*_price_changes(frame))
        if "text_part" in truth.columns and task == "regression":
            values = {**values, "corr_text": float(frame["y_pred"].corr(truth.loc[frame.index, "text_part"]))}
        floor = floors.get((point, seed))
        if floor is not None and "mse" in values:
            values = {**values, "noise_floor": floor, "mse_ratio": values["mse"] / floor}
        rows.append({"point": point, "seed": seed, "model": model, "n": len(frame), **values,
                     "fit_seconds": float(frame["fit_seconds"].iloc[0]) if "fit_seconds" in frame else float("nan")})
    return pd.DataFrame(rows)


def _price_changes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Realised and predicted change from `last_price`; a change within 1e-6 of the price is no
    change (a price passed through the float32 features, as the naive forecast's is, keeps ~7 digits)."""
    last = frame["last_price"].to_numpy(np.float64)
    changes = [frame[c].to_numpy(np.float64) - last for c in ("y_true", "y_pred")]
    for change in changes:
        change[np.abs(change) <= PRICE_TOLERANCE * np.abs(last)] = 0.0
    return changes[0], changes[1]


def summary_table(metrics: pd.DataFrame, task: str) -> pd.DataFrame:
    """Mean over seeds of the headline metrics, one row per (point, model); no point column
    when the run has no sweep."""
    cols = [c for c in HEADLINE[task] if c in metrics.columns]
    table = metrics.groupby(["point", "model"], sort=False)[cols].mean().reset_index()
    return table.drop(columns="point") if set(table["point"]) == {"base"} else table


def with_last_price(predictions: pd.DataFrame, prices: pd.DataFrame, price_column: str = "close") -> pd.DataFrame:
    """`predictions` with column `last_price`: the `price_column` of each row's ticker on its date t
    (the no-change forecast of a next-price target, and the reference of its direction)."""
    ref = prices[["date", "ticker", price_column]].rename(columns={price_column: "last_price"})
    return predictions.merge(ref, on=["date", "ticker"], how="left", validate="m:1")


def _with_last_prices(predictions: pd.DataFrame, units: list[ModelUnit], inputs: PredictInputs,
                      price_column: str) -> pd.DataFrame:
    """`with_last_price` from the market each row's unit saw (units of a sweep may see different
    markets, e.g. `sweep.resample_data` on simulated data)."""
    owner = pd.DataFrame([(point, u.seed, u.model, u.data) for u in units for point in (u.point_id, *u.also)],
                         columns=["point", "seed", "model", "_data"])
    tagged = predictions.merge(owner, on=["point", "seed", "model"], how="left", validate="m:1")
    parts = [with_last_price(rows.drop(columns="_data"), inputs.by_key[key][0].prices, price_column)
             for key, rows in tagged.groupby("_data", sort=False)]
    return pd.concat(parts, ignore_index=True)


def _data_facts(units: list[ModelUnit], inputs: PredictInputs) -> dict:
    """data.json's facts of the first unit's data (source, fingerprints, samples, cleaning), with
    the sample counts per split of each sweep point (e.g. the StockNet benchmark's sample rules)."""
    data, samples = inputs.of(units[0])
    meta = {
        "source": data.meta,
        "fingerprints": {"prices": frame_fingerprint(data.prices), "texts": frame_fingerprint(data.texts)},
        "samples": {"n": len(samples), "features": list(samples.feature_names), "with_text": samples.texts is not None,
                    "skipped_features": [{"feature": f, "reason": r} for f, r in samples.skipped_features],
                    "constant_features": list(constant_features(samples))},
        "cleaning": data.report.to_records(),
    }
    per_point = {point: counts for unit in units if (counts := inputs.of(unit)[0].meta.get("samples_per_split"))
                 is not None for point in (unit.point_id, *unit.also)}
    if per_point:
        meta["samples_per_point"] = per_point
    return meta


def _all_plots(run_dir: Path, config: RunConfig, predictions: pd.DataFrame, metrics: pd.DataFrame,
               prices: pd.DataFrame, curves: pd.DataFrame | None, extra: dict, backtests: dict) -> dict:
    """Every chart of a prediction run: the tear sheet (`_plots`) and the analyses' charts."""
    figures = _plots(run_dir, config, predictions, metrics, config.target.task, prices, curves)
    figures.update(pnl_plots(run_dir, extra))
    figures.update(shap_plots(run_dir, extra, config.analysis.shap.top_k if config.analysis.shap else 10))
    figures.update(portfolio_plots(run_dir, extra, backtests))
    if "mixture_curves" in extra:
        figures["Mixture training errors"] = save_figure(plot_error_curves(extra["mixture_curves"]),
                                                         run_dir / "plots" / "mixture_curves.png")
    return figures


def write_outputs(run_dir: Path, config: RunConfig, units: list[ModelUnit], predictions: pd.DataFrame, *,
                  inputs: PredictInputs, curves: pd.DataFrame | None = None,
                  privacy: pd.DataFrame | None = None) -> RunResult:
    """Write what a finished run holds (module docstring) from its units' predictions, training
    `curves` (long form) and DP-fit rows `privacy` (analysis.privacy)."""
    task = config.target.task
    data, samples = inputs.of(units[0])
    if config.target.kind == "close" and "last_price" not in predictions.columns:
        predictions = _with_last_prices(predictions, units, inputs, config.target.price_column)
    floors = {(point, unit.seed): inputs.of(unit)[0].meta.get("noise_floor")
              for unit in units for point in (unit.point_id, *unit.also)}
    everything = predictions
    predictions = scored_rows(predictions)  # the portfolio backtest alone also trades the unlabelled rows
    metrics = unit_metrics(predictions, task, floors)
    meta = _data_facts(units, inputs)
    meta["warnings"] = recorded_warnings(run_dir)
    io.write_json(run_dir / "env.json", environment())
    Predictions.from_frame(everything).write(run_dir / "predictions.parquet")
    io.write_text(run_dir / "metrics.csv", metrics.to_csv(index=False))
    summary = summary_table(metrics, task)
    io.write_json(run_dir / "metrics.json", {
        "task": task,
        "noise_floor": data.meta.get("noise_floor"),
        "units": metrics.to_dict(orient="records"),
        "summary": summary.to_dict(orient="records"),
    })
    floor_rows = majority_metrics(predictions) if task == "classification" and not predictions.empty else None
    tables = _sweep_tables(run_dir, config, metrics, task, floor_rows)
    sig = config.analysis.significance
    folds = (classification_fold_tables(predictions, reference=sig.reference, all_pairs=sig.all_pairs)
             if task == "classification" else {})
    if task == "regression" and predictions["model"].nunique() > 1:  # per-date MSE, paired (the headline's notes)
        folds["date_significance"] = date_significance(predictions, reference=sig.reference)
    if task == "classification" and not predictions.empty:  # majority of split, floor models, intervals, tests
        folds["floors"] = floor_table(predictions, floor_labels(config), reference=sig.reference,
                                      configs_tried={m.display: m.configs_tried for m in config.models},
                                      text_models=[m.display for m in config.models
                                                   if get_predictor_class(m.name).uses_text])
    extra = analysis_tables(config, everything, data, samples, privacy)
    backtests = extra.pop("_backtests", {})
    if curves is not None:  # long: CSV only
        curves = curves[["point", "seed", "model", "fold", "epoch", "series", "value"]]
        io.write_text(run_dir / "tables" / "training_curves.csv", curves.to_csv(index=False))
        extra.update(mixture_tables(predictions, curves))
    for name, table in {**folds, **extra}.items():
        io.write_text(run_dir / "tables" / f"{name}.md", to_markdown(table) + "\n")
        io.write_text(run_dir / "tables" / f"{name}.csv", table.to_csv(index=False))
    figures = _all_plots(run_dir, config, predictions, metrics, data.prices, curves, extra, backtests) \
        if config.output.plots else {}
    meta["encoders"] = encoder_notes(config, predictions)
    io.write_json(run_dir / "data.json", meta)
    if config.output.report:
        _report(run_dir, config, meta, summary, tables, figures, folds, extra, n_seeds=metrics["seed"].nunique())
    return RunResult(run_dir, everything, metrics, meta)


def floor_labels(config: RunConfig) -> list[str]:
    """The labels of the run's floor models (predictors declaring `floor = True`, e.g. prior, logistic)."""
    return [spec.display for spec in config.models if getattr(get_predictor_class(spec.name), "floor", False)]


def mixture_tables(predictions: pd.DataFrame, curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """"mixture_curves" (mean training error per epoch of each component) and, for a regression
    run, "mixture_gate" (gate vs error alignment on the test rows), see evaluate.mixture."""
    out = {}
    means = mean_error_curves(curves)
    if not means.empty:
        out["mixture_curves"] = means
    gate = alignment_table(predictions)
    if not gate.empty:
        out["mixture_gate"] = gate
    return out


def encoder_notes(config: RunConfig, predictions: pd.DataFrame) -> list[dict]:
    """For each text model: its encoder, what the model card says about the pre-training dates,
    and a warning when test dates fall where the encoder may have read the test-period texts."""
    from finfusion.models.registry import get_predictor_class

    notes = []
    for spec in config.models:
        if not get_predictor_class(spec.name).uses_text:
            continue
        from finfusion.text.encoder import default_model_path, pretraining_info

        name = str(spec.params.get("model") or default_model_path())
        info = pretraining_info(name)
        dates = pd.to_datetime(predictions.loc[predictions["model"] == spec.display, "date"])
        first = dates.min().date() if len(dates) else None
        notes.append({"model": spec.display, "encoder": name, "cutoff": info.cutoff, "text_through": info.text_through,
                      "source": info.source, "warning": _leakage_warning(config, info, first)})
    return notes


def _leakage_warning(config: RunConfig, info, first_test) -> str | None:
    if config.data.source == "simulate" or first_test is None:
        return None  # simulated texts did not exist when any encoder was trained
    if info.cutoff is not None and first_test <= info.cutoff:
        return (f"Test dates from {first_test} lie before the encoder's pre-training cut-off {info.cutoff}: "
                "it may have read texts of the test period (look-ahead through pre-training).")
    if info.cutoff is None and info.text_through is not None and first_test < info.text_through:
        return (f"The encoder's model card lists pre-training text through at least {info.text_through}, after the "
                f"first test date {first_test}: it may have read texts of the test period.")
    if info.cutoff is None and info.text_through is None:
        return "No pre-training cut-off is known for this encoder: check its model card before trusting test results."
    return None


def classification_fold_tables(predictions: pd.DataFrame, *, reference: str | None = None,
                               all_pairs: bool = False) -> dict[str, pd.DataFrame]:
    """Tables of a classification run: "fold_metrics" (one row per point, seed, model and test
    fold), "fold_means" (mean and std over folds) and, with two models or more, "significance":
    paired t-test and Wilcoxon across folds (paired on seed and fold) of every model against
    `reference` (default: the first one), or of every pair, for accuracy, f1 and roc_auc, per
    sweep point. When the test folds are small (median
    below MIN_FOLD_ROWS rows, e.g. one-step rolling windows) only "fold_tables_skipped" says why."""
    if "fold" not in predictions.columns or predictions.empty:
        return {}
    size = float(predictions.groupby([c for c in ("point", "seed", "model", "fold") if c in predictions]).size().median())
    if size < MIN_FOLD_ROWS:
        return {"fold_tables_skipped": pd.DataFrame([{"reason": (
            f"the test folds have a median of {size:g} rows (fewer than {MIN_FOLD_ROWS}): per-fold metrics and "
            "tests across folds would be noise; use a walk-forward or chronological protocol with longer test "
            "periods (evaluate.folds and evaluate.significance work on any predictions frame)")}])}
    per_fold = fold_metrics(predictions)
    out = {"fold_metrics": per_fold, "fold_means": mean_fold_metrics(per_fold)}
    pair_on = tuple(c for c in ("seed", "fold") if c in per_fold.columns)
    points = per_fold.groupby("point", sort=False) if "point" in per_fold.columns else [(None, per_fold)]
    parts, skipped = [], []
    for point, rows in points:
        if rows["model"].nunique() < 2:
            continue
        for metric in (m for m in SIGNIFICANCE_METRICS if m in rows.columns):
            try:
                table = significance_table(rows, metric, pair_on=pair_on, reference=reference, all_pairs=all_pairs)
            except DataError as exc:  # e.g. models on different folds: report it, keep the run's outputs
                skipped.append({"point": point, "metric": metric, "reason": str(exc)})
                continue
            parts.append(table if point is None else table.assign(point=point))
    if parts:
        out["significance"] = pd.concat(parts, ignore_index=True)
    if skipped:
        out["significance_skipped"] = pd.DataFrame(skipped)
    return out


def _date_blocks(folds: dict | None) -> list:
    table = (folds or {}).get("date_significance")
    if table is None:
        return []
    return ["\n".join(date_significance_notes(table)),
            "Per-date MSE (mean over the date's tickers) of each model against the reference, paired over the test "
            "dates (and seeds): mean difference (model − reference), paired t-test and Wilcoxon p-values; dates are "
            "treated as independent pairs (tables/date_significance.csv).", table]


def _fold_blocks(folds: dict[str, pd.DataFrame]) -> list:
    if "fold_metrics" not in folds:
        return ["No per-fold tables: " + "; ".join(folds["fold_tables_skipped"]["reason"]) + "."]
    per_fold = folds["fold_metrics"]
    blocks: list = ["Mean (std) over test folds of each model run.", drop_empty_std(folds["fold_means"])]
    if len(per_fold) <= MAX_REPORT_FOLD_ROWS:
        blocks += ["Metrics of every test fold.", per_fold]
    else:
        blocks.append(f"{len(per_fold)} per-fold rows: see tables/fold_metrics.csv.")
    if "significance" in folds:
        blocks += ["Paired across folds (and seeds): mean difference (model − reference), paired t-test and "
                   "Wilcoxon signed-rank p-values (see docs/evaluation.md for the small-sample caveats).",
                   folds["significance"]]
    if "significance_skipped" in folds:
        blocks += [WarningBox("Some significance tests could not be run: " + "; ".join(
            folds["significance_skipped"]["reason"]), title="Significance skipped")]
    return blocks


def _sweep_metrics(config: RunConfig, metrics: pd.DataFrame, task: str) -> list[str]:
    """The metrics of the mean (std) tables and violins: the first three headline metrics, MCC for
    a classifier (StockNet's second metric), and RMSE and directional accuracy for a price target
    (seed 004 reports them)."""
    names = list(HEADLINE[task][:3]) + (["mcc"] if task == "classification" else []) \
        + (["rmse", "directional_accuracy"] if config.target.kind == "close" else [])
    return [c for c in names if c in metrics.columns]


def _sweep_tables(run_dir: Path, config: RunConfig, metrics: pd.DataFrame, task: str,
                  floor_rows: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """mean (std) tables over seeds per metric; `floor_rows` (`majority_metrics`) adds the majority of
    split as the first row of the tables of the metrics it has (accuracy, mcc)."""
    if config.sweep is None:
        return {}
    tables = {}
    order = [label for label, _ in sweep_points(config)]
    for metric in _sweep_metrics(config, metrics, task):
        rows = metrics if floor_rows is None or metric not in floor_rows else pd.concat([floor_rows, metrics])
        table = mean_std_table(rows, metric=metric, row="model", col="point", col_order=order, fmt="{:.4g}")
        tables[metric] = table
        io.write_text(run_dir / "tables" / f"{metric}.md", to_markdown(table) + "\n")
        io.write_text(run_dir / "tables" / f"{metric}.csv", table.to_csv())
    return tables


def _plots(run_dir: Path, config: RunConfig, predictions: pd.DataFrame, metrics: pd.DataFrame, task: str,
           prices: pd.DataFrame, curves: pd.DataFrame | None = None) -> dict:
    """PNG path (or, for a chart not drawn, the note why) by title: the tear-sheet charts of the
    first sweep point (evaluate.tearsheet), true vs predicted and errors of its first seed, violins."""
    point = predictions["point"].iloc[0]
    one_point = predictions[predictions["point"] == point]
    first = one_point[one_point["seed"] == one_point["seed"].iloc[0]]
    paths = {}
    for chart in prediction_charts(one_point, task, None if curves is None else curves[curves["point"] == point]):
        paths[chart.title] = (chart.note if chart.figure is None
                              else save_figure(chart.figure, run_dir / "plots" / f"{chart.name}.png"))
    if task == "regression":
        paths["true vs predicted"] = save_figure(plot_true_vs_pred(first), run_dir / "plots" / "true_vs_pred.png")
        paths["error distribution"] = save_figure(plot_error_distribution(first), run_dir / "plots" / "errors.png")
    if config.target.kind == "close":
        fig = plot_price_forecast(prices, first, price_column=config.target.price_column, horizon=config.target.horizon)
        paths["price: train, test and predictions"] = save_figure(fig, run_dir / "plots" / "price_forecast.png")
    if config.sweep is not None and metrics.groupby(["point", "model"])["seed"].nunique().max() < 2:
        paths["Metrics over repeats"] = "no violins: one seed per model and sweep point (the values are in the tables)"
    elif config.sweep is not None:
        for metric in _sweep_metrics(config, metrics, task):
            fig = plot_violin(metrics, metric=metric, group_col="model", facet_col="point")
            paths[f"{metric} over repeats"] = save_figure(fig, run_dir / "plots" / f"violin_{metric}.png")
    return paths


def _data_blocks(facts: dict, meta: dict) -> list:
    """The report's Data section: source facts, features left out or constant, what cleaning removed."""
    blocks: list = [facts]
    skipped, constant = meta["samples"].get("skipped_features"), meta["samples"].get("constant_features")
    if skipped:
        blocks += ["Features left out: a feature group asked for them, but the prices lack a column they read.",
                   pd.DataFrame(skipped)]
    if constant:
        blocks.append(WarningBox(f"Constant over all {meta['samples']['n']:,} samples (no model can learn from "
                                 f"them): {', '.join(constant)}.", title="Constant features"))
    blocks.append(pd.DataFrame(meta["cleaning"]) if meta["cleaning"] else "Cleaning removed nothing.")
    return blocks


def _report(run_dir: Path, config: RunConfig, meta: dict, summary: pd.DataFrame, tables: dict, figures: dict,
            folds: dict | None = None, extra: dict | None = None, *, n_seeds: int = 1) -> None:
    source = meta["source"]
    facts = {k: source[k] for k in ("source", "noise_floor") if k in source}
    if "variance_shares" in source:
        facts["variance_shares"] = ", ".join(f"{k} {v:.3f}" for k, v in source["variance_shares"].items())
    facts.update({"samples": meta["samples"]["n"], "features": ", ".join(meta["samples"]["features"])})
    for point, counts in meta.get("samples_per_point", {}).items():
        facts[f"samples per split ({point})"] = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    charts = figure_blocks({k: v for k, v in figures.items() if not k.startswith(ANALYSIS_FIGURES)})
    over = "one seed" if n_seeds == 1 else f"mean over {n_seeds} seeds"
    sections = [*warning_sections(meta.get("warnings", [])),
                Section("Results", [f"Test metrics of each model ({over}).", summary, *_date_blocks(folds),
                                    *(floor_blocks(folds["floors"]) if "floors" in (folds or {}) else [])]),
                *([Section("Charts", charts)] if charts else []),
                Section("Data", _data_blocks(facts, meta))]
    if meta.get("encoders"):
        blocks = []
        shared: dict[tuple, list[str]] = {}  # models with the same encoder and note are listed once
        for note in meta["encoders"]:
            key = tuple(note[k] for k in ("encoder", "cutoff", "text_through", "source", "warning"))
            shared.setdefault(key, []).append(note["model"])
        for (encoder, cutoff, text_through, source, warning), models in shared.items():
            blocks.append({"models": ", ".join(models), "encoder": encoder,
                           "cutoff": cutoff or "not stated on the model card", "text_through": text_through or "unknown",
                           "source": source})
            if warning:
                blocks.append(WarningBox(warning, title="Pre-training leakage"))
        if meta["source"].get("source") == "simulate":
            blocks.append("The texts are simulated, so no encoder can have read them during pre-training.")
        sections.append(Section("Text encoders", blocks))
    if folds and ({"fold_metrics", "fold_tables_skipped"} & set(folds)):  # a classification run's
        sections.append(Section("Test folds and significance", _fold_blocks(folds)))
    sections += analysis_sections(config, extra or {}, figures)
    if tables:
        sections.append(Section(f"Sweep: {spread_note(n_seeds)}", [b for m, t in tables.items() for b in (m, t)]))
    env = environment()
    env["packages"] = ", ".join(f"{k} {v}" for k, v in env["packages"].items())
    sections.append(Section("Environment", [env]))
    sections.append(config_section(config))
    html = render_report(title=f"finfusion run: {config.name}", sections=sections)
    write_report(run_dir / "report.html", html)
