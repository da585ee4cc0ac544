"""The Hugging Face `Trainer` wiring of `train_sentiment`: token datasets padded per batch, the
classification model over the base encoder, training arguments (per-epoch evaluation and
checkpoints, retention limit, best-model restore, linear warm-up and decay, early stopping), the
metrics and the per-epoch progress lines.

It takes a `SentimentTrainConfig` (from `train_config`) and is called by `train.train_sentiment`;
it does not import `train`. transformers is imported inside the functions that use it, so
importing this module does not load the Hugging Face trainer."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import finfusion.progress as progress
from finfusion.seeding import seed_everything
from finfusion.text.sentiment.classifier import quiet_hf
from finfusion.text.sentiment.evaluation import label_metrics
from finfusion.text.sentiment.train_config import SentimentTrainConfig
from finfusion.text.tokens import ALLOW_DOWNLOAD_ENV, load_backbone, pad_ids, token_ids

Log = Callable[[str], None]


class _TokenDataset(torch.utils.data.Dataset):
    """Items {"input_ids": int32 array (L,), "labels": int}; batches padded by `collate`."""

    def __init__(self, tokens: list[np.ndarray], labels: np.ndarray, pad_id: int) -> None:
        self.tokens, self.labels, self.pad_id = tokens, np.asarray(labels, dtype=np.int64), pad_id

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.tokens[i], "labels": int(self.labels[i])}

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        input_ids, mask = pad_ids([it["input_ids"] for it in items], self.pad_id)  # (B, T), (B, T)
        return {
            "input_ids": input_ids,
            "attention_mask": mask,
            "labels": torch.tensor([it["labels"] for it in items], dtype=torch.long),
        }


def make_trainer(
    config: SentimentTrainConfig,
    labels: tuple[str, ...],
    splits: dict[str, pd.DataFrame],
    out: Path,
    log: Log,
    progress: bool,
):
    """(a Hugging Face `Trainer` over the base model with a new head, the base `Backbone`)."""
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    backbone = load_backbone(config.model)
    seed_everything(config.seed)  # the new classification head's initial weights
    model = _classification_model(backbone, labels)
    data = {
        name: _TokenDataset(
            token_ids(backbone, frame["text"].tolist(), config.max_length),
            frame["label_id"].to_numpy(),
            backbone.pad_id,
        )
        for name, frame in splits.items()
        if name in ("train", "valid")
    }
    use_cpu = config.device == "cpu" or not torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        save_total_limit=config.save_total_limit,
        save_only_model=not config.save_optimizer,
        load_best_model_at_end=True,
        metric_for_best_model=config.select_metric,
        greater_is_better=config.select_metric != "loss",
        learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(64, config.batch_size),
        num_train_epochs=config.epochs,
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        use_cpu=use_cpu,
        disable_tqdm=True,
        log_level="error",
        dataloader_num_workers=0,
        **_version_args(TrainingArguments, config),
    )
    callbacks = [_progress_callback(log, progress)]
    if config.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["valid"],
        data_collator=data["train"].collate,
        compute_metrics=_metrics_fn(labels),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # the progress callback prints one line per epoch instead
    return trainer, backbone


def _version_args(arguments: type, config: SentimentTrainConfig) -> dict[str, Any]:
    """Warm-up share and length grouping under the names of the installed transformers (5.x:
    float warmup_steps, train_sampling_strategy; 4.x: warmup_ratio, group_by_length)."""
    params = inspect.signature(arguments.__init__).parameters
    out: dict[str, Any] = {}
    if "warmup_ratio" in params:
        out["warmup_ratio"] = config.warmup_ratio
    else:
        out["warmup_steps"] = float(config.warmup_ratio) if config.warmup_ratio > 0 else 0
    if "train_sampling_strategy" in params:
        out["train_sampling_strategy"] = "group_by_length" if config.group_by_length else "random"
    else:
        out["group_by_length"] = config.group_by_length
    return out


def _classification_model(backbone, labels: tuple[str, ...]) -> torch.nn.Module:
    """The base model with a new classification head (`from_pretrained` keeps the pre-trained
    pooler; a head of another size, e.g. FinBERT's, is replaced)."""
    from transformers import AutoModelForSequenceClassification

    local = Path(backbone.key).is_dir()
    with quiet_hf():
        return AutoModelForSequenceClassification.from_pretrained(
            backbone.key,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)},
            ignore_mismatched_sizes=True,
            local_files_only=local or os.environ.get(ALLOW_DOWNLOAD_ENV) != "1",
        )


def _metrics_fn(labels: tuple[str, ...]):
    def compute(eval_pred) -> dict[str, float]:
        logits, y = eval_pred
        out = label_metrics(np.asarray(y), np.asarray(logits).argmax(axis=-1), labels)
        return {k: out[k] for k in ("accuracy", "precision", "recall", "f1")}

    return compute


def _progress_callback(log: Log, show: bool):
    """A `TrainerCallback`: one log line per epoch (train loss, validation loss and metrics) and,
    with `show`, a bar over steps (made here so importing this module does not import the trainer)."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def __init__(self) -> None:
            self.bar, self.train_loss = progress.NullBar(), None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = progress.bar(state.max_steps, "fine-tuning", unit="step", initial=state.global_step,
                                    enabled=show)

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(1)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.train_loss = logs["loss"]

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            m = metrics or {}
            loss = f"train loss {self.train_loss:.4f}, " if self.train_loss is not None else ""
            line = (
                f"epoch {round(state.epoch or 0)}/{int(args.num_train_epochs)}: {loss}valid loss "
                f"{m.get('eval_loss', float('nan')):.4f}, accuracy {m.get('eval_accuracy', float('nan')):.4f}, "
                f"f1 {m.get('eval_f1', float('nan')):.4f}"
            )
            with self.bar.external_write_mode(file=sys.stderr):  # the line above the bar, not inside it
                log(line)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()
            self.bar = progress.NullBar()

    return Progress()


def last_checkpoint(folder: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    return Path(found) if folder.is_dir() and (found := get_last_checkpoint(str(folder))) else None
