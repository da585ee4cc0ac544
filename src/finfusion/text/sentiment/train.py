"""Fine-tuning a sentiment classifier (seed 004 §3): Hugging Face `Trainer` over any encoder.

Why Hugging Face's `Trainer` and not finfusion's own (`finfusion.models.trainer`): fine-tuning an
``AutoModelForSequenceClassification`` with per-epoch evaluation on a metric, per-epoch
checkpoints with a retention limit, best-checkpoint restore and resume is exactly what it does
(the seed paper uses it); finfusion's trainer stops on the validation loss and keeps no
checkpoints.

    result = train_sentiment(read_labeled("Sentences_AllAgree.txt"), "runs/pb", SentimentTrainConfig())
    result.classifier.score(["Operating profit rose 12 %"])

`finfusion sentiment train | search` run this through the run kind `sentiment`
(`finfusion.experiments.sentiment_runner`): each trial is a `train_sentiment` run in a working
folder (`search.run_trial`), whose model and report the kind places in its run directory.

`SentimentTrainConfig` and `TrainResult` are defined in `train_config` (so that `hf` and
`reporting` need not import this module) and importable from here as before. The `Trainer` wiring
is in `hf`, the HTML report in `reporting`.

The directory `train_sentiment` writes:

    config.json            the resolved `SentimentTrainConfig` (a resume must match it)
    data.json              source, fingerprint, label counts, rows removed and why, split sizes
    splits/                train / valid (/ test) .jsonl: text, label (the exact split)
    checkpoints/           Hugging Face checkpoints, one per epoch, at most `save_total_limit`
                           (plus the best one); with optimizer state unless save_optimizer=False
    model/                 the self-describing model (`SentimentClassifier.load`): weights
                           (safetensors), tokenizer, finfusion_sentiment.json (labels, max_length,
                           base model, training config, data summary, metrics, history)
    history.csv            per epoch: train loss, validation loss and metrics
    metrics.json           metrics of the restored best model on valid (and test)
    valid/, test/          evaluation files (confusion matrix PNG, error buckets, predictions)
    report.html            run, training curves, metrics, confusion matrix, error analysis
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from finfusion.errors import ConfigError
from finfusion.io import atomic_write, read_json, write_json
from finfusion.text.encoder import pretraining_info
from finfusion.text.sentiment.classifier import MANIFEST_NAME, SentimentClassifier, quiet_hf
from finfusion.text.sentiment.data import PreparedData, prepare_labeled, read_labeled, stratified_split
from finfusion.text.sentiment.evaluation import evaluate_classifier
from finfusion.text.sentiment.hf import last_checkpoint, make_trainer
from finfusion.text.sentiment.reporting import write_train_report
from finfusion.text.sentiment.train_config import SelectMetric, SentimentTrainConfig, TrainResult

Log = Callable[[str], None]


def train_sentiment(
    data: pd.DataFrame | str | Path,
    out_dir: str | Path,
    config: SentimentTrainConfig | None = None,
    *,
    source: str | None = None,
    name: str | None = None,
    resume: bool = False,
    report: bool = True,
    log: Log | None = None,
    progress: bool = True,
) -> TrainResult:
    """Fine-tune `config.model` on labeled texts and write the run directory `out_dir`.

    data      frame[text, label] (label names; see `read_labeled`) or a file for `read_labeled`.
    resume    continue an interrupted run in `out_dir` from its last checkpoint (same config and data).
    report    write report.html (and the valid/ test/ evaluation files).
    log       receives one line per stage and per epoch (default: print to stderr); progress: step bar.
    """
    started = time.perf_counter()
    config = config or SentimentTrainConfig()
    log = log or _stderr
    if not isinstance(data, pd.DataFrame):
        source = source or str(data)
        data = read_labeled(data)
    out = Path(out_dir)
    prepared, splits = prepare_splits(data, config)
    summary = _data_summary(prepared, splits, source)
    _start_run_dir(out, config, summary, resume)
    write_splits(out / "splits", splits, prepared.labels)
    log(
        f"data: {summary['n']} texts {summary['counts']}, removed {summary['removed'] or 'nothing'}; "
        f"split {summary['split_sizes']}"
    )
    checkpoint = last_checkpoint(out / "checkpoints") if resume else None
    if resume:
        log(f"resuming from {checkpoint}" if checkpoint else "resume: no checkpoint yet, starting from the beginning")
    with quiet_hf():  # the Trainer sets transformers' log level; restored afterwards
        trainer, backbone = make_trainer(config, prepared.labels, splits, out, log, progress)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    history = _history(trainer.state.log_history)
    best_epoch = _best_epoch(history, config.select_metric, trainer.state.best_metric)
    clf = SentimentClassifier(
        trainer.model,
        backbone.tokenizer,
        prepared.labels,
        max_length=config.max_length,
        name=name or out.resolve().name,
        tokens_key=backbone.key,
        device=config.device,
    )
    frames = {k: with_names(v, prepared.labels) for k, v in splits.items()}
    valid = evaluate_classifier(clf, frames["valid"], name="valid")
    test = evaluate_classifier(clf, frames["test"], name="test") if "test" in frames else None
    stopped = len(history) < config.epochs
    metrics = {"valid": valid.metrics} | ({"test": test.metrics} if test else {})
    info = _manifest_info(backbone, config, summary, metrics, history, best_epoch, stopped)
    clf.save(out / "model", extra=info)
    atomic_write(out / "history.csv", lambda p: history.to_csv(p, index=False))
    write_json(
        out / "metrics.json", metrics | {"best_epoch": best_epoch, "epochs_run": len(history), "stopped_early": stopped}
    )
    seconds = time.perf_counter() - started
    result = TrainResult(
        clf, out, out / "model", valid, test, history, best_epoch, len(history), stopped, seconds, summary
    )
    if report:
        write_train_report(result, config)
    log(
        f"best epoch {best_epoch}: valid accuracy {valid.metrics['accuracy']:.4f}, f1 {valid.metrics['f1']:.4f} "
        f"({seconds:.1f} s)"
    )
    return result


def prepare_splits(data: pd.DataFrame, config: SentimentTrainConfig) -> tuple[PreparedData, dict[str, pd.DataFrame]]:
    """(the training data of frame[text, label] under `config`'s classes, dedupe, limit and seed;
    its stratified {"train", "valid"[, "test"]} frames [text, label_id]): the split every trial
    with these settings trains on. Bad data or fractions raise DataError / ConfigError."""
    prepared = prepare_labeled(data, classes=config.classes, dedupe=config.dedupe, limit=config.limit, seed=config.seed)
    splits = stratified_split(
        prepared, valid_fraction=config.valid_fraction, test_fraction=config.test_fraction, seed=config.seed
    )
    return prepared, splits


# -- run directory, history, manifest ---------------------------------------------------------------


def _start_run_dir(out: Path, config: SentimentTrainConfig, summary: dict, resume: bool) -> None:
    saved = out / "config.json"
    if resume:
        if (out / "model" / MANIFEST_NAME).is_file():
            raise ConfigError(f"{out}: the run is complete (model/ exists); nothing to resume")
        if not saved.is_file():
            raise ConfigError(f"{out}: no config.json, so no run to resume; start it without resume")
        before = read_json(saved)
        now = json.loads(json.dumps(config.to_dict()))
        diff = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if diff:
            raise ConfigError(
                f"{out}: resume needs the same config; these keys differ from config.json: "
                + ", ".join(f"{k} ({before.get(k)!r} there, {now.get(k)!r} now)" for k in diff)
            )
        old = read_json(out / "data.json").get("fingerprint") if (out / "data.json").is_file() else None
        if old != summary["fingerprint"]:
            raise ConfigError(f"{out}: resume needs the same data; its fingerprint differs from data.json")
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not empty; choose another output directory or resume the run")
    write_json(saved, config.to_dict())
    write_json(out / "data.json", summary)


def _data_summary(prepared: PreparedData, splits: dict[str, pd.DataFrame], source: str | None) -> dict:
    digest = hashlib.sha256()
    for text, label in zip(prepared.frame["text"], prepared.frame["label_id"]):
        digest.update(f"{label}\t{text}\n".encode())
    counts = {k: {n: int((v["label_id"] == i).sum()) for i, n in enumerate(prepared.labels)} for k, v in splits.items()}
    return prepared.summary() | {
        "source": source,
        "fingerprint": digest.hexdigest(),
        "split_sizes": {k: len(v) for k, v in splits.items()},
        "split_counts": counts,
    }


def with_names(frame: pd.DataFrame, labels: tuple[str, ...]) -> pd.DataFrame:
    """frame[text, label_id] -> frame[text, label] with the label names."""
    return pd.DataFrame({"text": frame["text"], "label": [labels[i] for i in frame["label_id"]]})


def write_splits(folder: Path, splits: dict[str, pd.DataFrame], labels: tuple[str, ...]) -> None:
    """<folder>/<part>.jsonl (text, label) of each part of a split: the exact split of a run."""
    for name, frame in splits.items():
        named = with_names(frame, labels)
        atomic_write(
            folder / f"{name}.jsonl", lambda p, f=named: f.to_json(p, orient="records", lines=True, force_ascii=False)
        )


def _history(log_history: list[dict]) -> pd.DataFrame:
    """One row per evaluated epoch: epoch, step, train_loss, valid_loss, accuracy, precision, recall, f1."""
    rows: dict[int, dict] = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        epoch = int(round(entry["epoch"]))
        row = rows.setdefault(epoch, {"epoch": epoch})
        if "loss" in entry:
            row["train_loss"] = entry["loss"]
        if "eval_loss" in entry:
            row["step"] = entry.get("step")
            row["valid_loss"] = entry["eval_loss"]
            for key in ("accuracy", "precision", "recall", "f1"):
                row[key] = entry.get(f"eval_{key}")
    columns = ["epoch", "step", "train_loss", "valid_loss", "accuracy", "precision", "recall", "f1"]
    frame = pd.DataFrame([r for r in rows.values() if "valid_loss" in r], columns=columns)
    return frame.sort_values("epoch").reset_index(drop=True)


def _best_epoch(history: pd.DataFrame, metric: SelectMetric, best_value: float | None) -> int:
    """The first epoch whose validation `metric` equals the trainer's best (its tie rule: the
    first epoch reaching the best value wins)."""
    column = history["valid_loss" if metric == "loss" else metric].to_numpy(float)
    target = best_value if best_value is not None else (column.min() if metric == "loss" else column.max())
    return int(history["epoch"].iloc[int(np.flatnonzero(np.isclose(column, target, rtol=0, atol=1e-12))[0])])


def _manifest_info(
    backbone,
    config: SentimentTrainConfig,
    summary: dict,
    metrics: dict,
    history: pd.DataFrame,
    best_epoch: int,
    stopped: bool,
) -> dict:
    return {
        "base_model": backbone.name,
        "base_model_pretraining": pretraining_info(backbone.name).source,
        "training": config.to_dict(),
        "data": summary,
        "metrics": metrics,
        "best_epoch": best_epoch,
        "stopped_early": stopped,
        "history": history.to_dict(orient="records"),
    }


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
