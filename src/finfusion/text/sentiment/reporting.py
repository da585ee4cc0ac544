"""Run reports of the sentiment commands (one self-contained HTML file each, via
`finfusion.evaluate.report`): training runs, evaluations and hyper-parameter searches.

It reads the run's types from `train_config`; `train` and `search` call it, it imports neither."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from finfusion.evaluate.plots import new_figure
from finfusion.evaluate.report import Image, KeyValues, Paragraph, Section, Table, render_report, write_report
from finfusion.text.sentiment.evaluation import Evaluation, evaluation_sections, write_evaluation
from finfusion.text.sentiment.train_config import SentimentTrainConfig, TrainResult


def plot_history(history: pd.DataFrame, metric: str = "accuracy") -> Figure:
    """Training and validation loss per epoch (left) and the validation metrics (right)."""
    fig, (left, right) = new_figure(1, 2, width=10.0, height=3.6)
    epochs = history["epoch"].to_numpy()
    for column, label in (("train_loss", "train loss"), ("valid_loss", "valid loss")):
        left.plot(epochs, history[column].to_numpy(float), marker="o", label=label)
    left.set_xlabel("epoch")
    left.set_title("loss")
    left.legend(fontsize="small")
    for column in ("accuracy", "f1"):
        right.plot(epochs, history[column].to_numpy(float), marker="o", label=f"valid {column}")
    right.set_xlabel("epoch")
    right.set_title(f"validation metrics (best epoch chosen by {metric})")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def write_train_report(result: TrainResult, config: SentimentTrainConfig) -> Path:
    """Evaluation files in valid/ (and test/) and report.html in the run directory."""
    run = {
        "model directory": str(result.model_dir),
        "base model": result.classifier.info.get("base_model"),
        "base model pre-training": result.classifier.info.get("base_model_pretraining"),
        "labels": list(result.classifier.labels),
        "data source": result.data.get("source"),
        "texts used": result.data.get("n"),
        "label counts": result.data.get("counts"),
        "rows removed": result.data.get("removed") or "none",
        "split sizes": result.data.get("split_sizes"),
        "best epoch": result.best_epoch,
        "epochs run": result.epochs_run,
        "stopped early": result.stopped_early,
        "seconds": round(result.seconds, 1),
    }
    settings = {k: "None" if v is None else v for k, v in config.to_dict().items()}
    sections = [
        Section("Run", [KeyValues(run), KeyValues(settings, caption="training configuration (None: the default)")]),
        Section(
            "Training",
            [
                Table(result.history, caption="per epoch (validation metrics)"),
                Image(plot_history(result.history, config.select_metric)),
            ],
        ),
    ]
    for ev in (result.valid, result.test):
        if ev is not None:
            write_evaluation(ev, result.run_dir / ev.name)
            sections += evaluation_sections(ev)
    html = render_report(
        title=f"Sentiment classifier: {result.classifier.name}",
        subtitle="fine-tuning run (finfusion sentiment train)",
        sections=sections,
    )
    return write_report(result.run_dir / "report.html", html)


def write_eval_report(
    ev: Evaluation, out_dir: str | Path, *, model_name: str, model_info: dict, data_source: str
) -> Path:
    """Evaluation files and report.html in `out_dir`."""
    out = Path(out_dir)
    write_evaluation(ev, out)
    about = {
        "model": model_name,
        "labels": list(ev.labels),
        "data": data_source,
        "base model": model_info.get("base_model"),
        "trained on": (model_info.get("data") or {}).get("source"),
    }
    html = render_report(
        title=f"Sentiment evaluation: {model_name}",
        subtitle="finfusion sentiment evaluate",
        sections=[Section("Run", [KeyValues(about)]), *evaluation_sections(ev)],
    )
    return write_report(out / "report.html", html)


def write_search_report(table: pd.DataFrame, best: dict, out_dir: Path, *, method: str) -> Path:
    """The results table (one row per trial) and the best configuration."""
    text = (
        f"{method} search; every trial trains on the same stratified split and is scored on the same "
        "validation part. The best configuration has the highest validation accuracy, ties broken by F1."
    )
    html = render_report(
        title="Sentiment hyper-parameter search",
        subtitle="finfusion sentiment search",
        sections=[
            Section("Best configuration", [Paragraph(text), KeyValues(best)]),
            Section("All trials", [Table(table, caption="results.csv")]),
        ],
    )
    return write_report(out_dir / "report.html", html)
