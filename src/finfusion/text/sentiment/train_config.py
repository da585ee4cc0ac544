"""The types of a sentiment fine-tuning run: `SentimentTrainConfig` (what a run depends on: the
`train:` section of a `kind: sentiment` run config, saved as a training directory's config.json)
and `TrainResult` (what `train_sentiment` returns).

They live apart from `train` so that the Hugging Face wiring (`hf`) and the run report
(`reporting`) can name them without importing the training driver: `train` imports `hf`,
`reporting` and this module, never the other way round. `finfusion.text.sentiment.train` re-exports
both names.

    config = SentimentTrainConfig(epochs=2, lr=1e-4)
    config.replace(batch_size=32).to_dict()["batch_size"]   # 32 (validated again)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from finfusion.strict import _Strict

if TYPE_CHECKING:
    from finfusion.text.sentiment.classifier import SentimentClassifier
    from finfusion.text.sentiment.evaluation import Evaluation

SelectMetric = Literal["accuracy", "f1", "loss"]


class SentimentTrainConfig(_Strict):
    """Everything a fine-tuning run depends on (unknown keys and bad values fail naming the key)."""

    model: str | None = Field(
        None, description="base encoder: a local directory (relative to the config file) or a Hugging Face name "
        "in the local cache (downloads only with FINFUSION_ALLOW_DOWNLOAD=1); None: the bundled all-MiniLM-L6-v2")
    classes: Literal[2, 3] | None = Field(
        None, description="3, or 2 (neutral rows dropped, counted); None: 3 if the data has a neutral row")
    max_length: int = Field(128, ge=2, description="truncation in tokens, special tokens included")
    lr: float = Field(5e-5, gt=0, description="AdamW learning rate")
    batch_size: int = Field(16, ge=1, description="training batch size")
    epochs: int = Field(4, ge=1, description="maximum epochs")
    weight_decay: float = Field(0.01, ge=0, description="AdamW decoupled weight decay")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="linear warm-up over this share of the steps, "
                                "then linear decay to 0")
    early_stopping_patience: int | None = Field(
        2, ge=1, description="stop after this many epochs without a better select_metric; None: never")
    select_metric: SelectMetric = Field(
        "accuracy", description="validation metric that picks the best epoch: accuracy (seed 004), f1 (binary on "
        "positive / macro) or loss")
    valid_fraction: float = Field(0.1, gt=0, lt=1, description="stratified validation share")
    test_fraction: float = Field(0.0, ge=0, lt=1, description="stratified test share (0: no test part)")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept (Hugging Face keeps the best one besides)")
    save_optimizer: bool = Field(True, description="checkpoints hold optimizer / scheduler / RNG state (needed to "
                                 "resume a cut-off training)")
    group_by_length: bool = Field(True, description="batches of similar length (less padding)")
    dedupe: bool = Field(True, description="drop duplicate texts and texts with conflicting labels before splitting")
    limit: int | None = Field(None, ge=1, description="train on a stratified sample of this many rows (quick runs); "
                              "None: all")
    seed: int = Field(0, description="split, head initialisation, shuffling and dropout")
    device: str | None = Field(None, description="cpu, cuda or cuda:N; None: CUDA when available")

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str | None) -> str | None:
        if value is not None and value != "cpu" and not value.startswith("cuda"):
            raise ValueError(f"device must be None, 'cpu' or 'cuda[:n]', got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_fractions(self) -> SentimentTrainConfig:
        if self.valid_fraction + self.test_fraction >= 1:
            raise ValueError(f"valid_fraction + test_fraction must be < 1 (training needs the rest), got "
                             f"{self.valid_fraction} + {self.test_fraction}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every setting (config.json, the model manifest)."""
        return self.model_dump(mode="json")

    def replace(self, **changes: Any) -> SentimentTrainConfig:
        """A copy with `changes` applied and validated (a bad value raises like the constructor)."""
        return type(self).model_validate(self.model_dump() | changes)


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

