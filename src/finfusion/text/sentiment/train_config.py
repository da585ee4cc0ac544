"""The plain types of a sentiment fine-tuning run: `SentimentTrainConfig` (what a run depends on,
saved as the run's config.json) and `TrainResult` (what `train_sentiment` returns).

They live apart from `train` so that the Hugging Face wiring (`hf`) and the run report
(`reporting`) can name them without importing the training driver: `train` imports `hf`,
`reporting` and this module, never the other way round. `finfusion.text.sentiment.train` re-exports
both names.

    config = SentimentTrainConfig(epochs=2, lr=1e-4)
    config.replace(batch_size=32).to_dict()["batch_size"]   # 32
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from finfusion.errors import ConfigError
from finfusion.text.sentiment.classifier import SentimentClassifier
from finfusion.text.sentiment.evaluation import Evaluation

SelectMetric = Literal["accuracy", "f1", "loss"]


@dataclass(frozen=True)
class SentimentTrainConfig:
    """Everything a fine-tuning run depends on.

    model                   base encoder: local directory or Hugging Face name (local cache only
                            unless FINFUSION_ALLOW_DOWNLOAD=1); None: the bundled all-MiniLM-L6-v2.
    classes                 3, 2 (neutral rows dropped, counted) or None (3 if the data has neutral).
    max_length              truncation in tokens, special tokens included.
    lr, batch_size, epochs  AdamW learning rate, training batch size, maximum epochs.
    weight_decay            AdamW decoupled weight decay.
    warmup_ratio            linear warm-up over this share of the steps, then linear decay to 0.
    early_stopping_patience stop after this many epochs without a better `select_metric`; None: never.
    select_metric           validation metric that picks the best epoch: "accuracy" (seed 004), "f1"
                            (binary on positive / macro) or "loss".
    valid_fraction, test_fraction   stratified split shares (test 0: no test part).
    save_total_limit        checkpoints kept (Hugging Face keeps the best one in addition).
    save_optimizer          checkpoints hold optimizer / scheduler / RNG state (needed to resume).
    group_by_length         batches of similar length (less padding; Hugging Face's sampler).
    dedupe                  drop duplicate texts and texts with conflicting labels before splitting.
    limit                   train on a stratified sample of this many rows (quick runs); None: all.
    seed                    split, head initialisation, shuffling and dropout.
    device                  "cpu", "cuda" or None (CUDA when available).
    """

    model: str | None = None
    classes: int | None = None
    max_length: int = 128
    lr: float = 5e-5
    batch_size: int = 16
    epochs: int = 4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    early_stopping_patience: int | None = 2
    select_metric: SelectMetric = "accuracy"
    valid_fraction: float = 0.1
    test_fraction: float = 0.0
    save_total_limit: int = 2
    save_optimizer: bool = True
    group_by_length: bool = True
    dedupe: bool = True
    limit: int | None = None
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        _check(self.classes in (None, 2, 3), "classes", self.classes, "2, 3 or None")
        _check(isinstance(self.max_length, int) and self.max_length >= 2, "max_length", self.max_length, "an int >= 2")
        _check(self.lr > 0, "lr", self.lr, "a float > 0")
        _check(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size", self.batch_size, "an int >= 1")
        _check(isinstance(self.epochs, int) and self.epochs >= 1, "epochs", self.epochs, "an int >= 1")
        _check(self.weight_decay >= 0, "weight_decay", self.weight_decay, "a float >= 0")
        _check(0 <= self.warmup_ratio < 1, "warmup_ratio", self.warmup_ratio, "a float in [0, 1)")
        _check(
            self.early_stopping_patience is None or self.early_stopping_patience >= 1,
            "early_stopping_patience",
            self.early_stopping_patience,
            "None or an int >= 1",
        )
        _check(
            self.select_metric in ("accuracy", "f1", "loss"),
            "select_metric",
            self.select_metric,
            "'accuracy', 'f1' or 'loss'",
        )
        _check(self.save_total_limit >= 1, "save_total_limit", self.save_total_limit, "an int >= 1")
        _check(self.limit is None or self.limit >= 1, "limit", self.limit, "None or an int >= 1")
        _check(
            self.device in (None, "cpu") or str(self.device).startswith("cuda"),
            "device",
            self.device,
            "None, 'cpu' or 'cuda[:n]'",
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SentimentTrainConfig:
        """Build from a mapping; unknown keys raise ConfigError naming them and the allowed ones."""
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ConfigError(f"SentimentTrainConfig: unknown key(s) {unknown}; allowed: {allowed}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> SentimentTrainConfig:
        return SentimentTrainConfig.from_dict(self.to_dict() | changes)


@dataclass
class TrainResult:
    """What `train_sentiment` produced (the files are in `run_dir`, laid out as the docstring of
    `finfusion.text.sentiment.train` describes)."""

    classifier: SentimentClassifier
    run_dir: Path
    model_dir: Path
    valid: Evaluation
    test: Evaluation | None
    history: pd.DataFrame
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    seconds: float
    data: dict[str, Any] = field(default_factory=dict)


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"SentimentTrainConfig.{name} must be {expected}, got {value!r}")
