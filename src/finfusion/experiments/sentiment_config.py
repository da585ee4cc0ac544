"""Configuration of a sentiment fine-tuning run or hyper-parameter search (seed 004 §3-4): a YAML
with `kind: sentiment`.

    finfusion run seed004_sentiment [--quick] [--set search.lrs=[2e-5]] [--executor processes]

Same loading rules as the other run kinds (`experiments.config`): unknown keys and bad values fail
with their path, `--set` overrides, a `quick:` section, paths relative to the config file (the
labelled file `data.path`, and `train.model` when it names a directory there).

    kind: sentiment
    data: {path: Sentences_AllAgree.txt}          # + text_col, label_col, label_map for a table
    train: {epochs: 4, lr: 5e-5}                   # text.sentiment.train_config.SentimentTrainConfig
    search: {method: grid, lrs: [5e-5, 2e-5], batch_sizes: [8, 16], epochs: [3, 5]}   # or null: one run
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from finfusion.executors import ExecutorConfig
from finfusion.experiments.shared_config import OutputConfig, RunName
from finfusion.experiments.tracking import TrackingConfig
from finfusion.strict import _Strict
from finfusion.text.sentiment.data import parse_label_map
from finfusion.text.sentiment.search import SearchConfig
from finfusion.text.sentiment.train_config import SentimentTrainConfig


class SentimentDataConfig(_Strict):
    """The labelled texts (`finfusion.text.sentiment.data.read_labeled`)."""

    path: Path = Field(description="labelled texts: a Financial PhraseBank .txt file (sentence@label) or a table "
                       "(.csv, .csv.gz, .parquet, .jsonl) with a text and a label column")
    text_col: str | None = Field(None, description="text column of a table (default: text, sentence or tweet)")
    label_col: str | None = Field(None, description="label column of a table (default: label, labels or sentiment)")
    label_map: dict[str, str] | None = Field(
        None, description="what raw label values mean, e.g. {'0': negative, '1': neutral, '2': positive} "
        "(integer codes need one; names and aliases such as pos, bearish are matched without it)")

    @field_validator("label_map", mode="before")
    @classmethod
    def _check_label_map(cls, value):
        if isinstance(value, dict):
            value = {str(k): v for k, v in value.items()}  # YAML reads 0: negative with an int key
        return parse_label_map(value)


class SentimentRunConfig(_Strict):
    kind: Literal["sentiment"] = Field("sentiment", description="the run kind: sentiment fine-tuning / search")
    name: RunName = Field("sentiment", description="the run's name: its directory stem, report title and (one "
                          "training run) the classifier's name")
    data: SentimentDataConfig
    train: SentimentTrainConfig = Field(default_factory=SentimentTrainConfig,
                                        description="the training settings (a search varies lr, batch_size, epochs)")
    search: SearchConfig | None = Field(None, description="the hyper-parameter search; null: one training run")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    tracking: TrackingConfig | None = Field(
        None, description="log the finished run to MLflow (extra [mlflow]; docs/tracking.md)")
    output: OutputConfig = Field(default_factory=OutputConfig)
    progress: bool = Field(True, description="progress bars and log lines on stderr")

    def with_resolved_paths(self, base: Path) -> SentimentRunConfig:
        """A copy with data.path, output.dir and a train.model directory that exists under `base`
        made absolute against `base` (the config file's folder); a model name that is no directory
        there (a Hugging Face name) stays as it is. Called by `experiments.config.resolve_paths`."""

        def fix(p: Path) -> Path:
            return p if p.is_absolute() else (base / p).resolve()

        model = self.train.model
        if model is not None and not Path(model).is_absolute() and (base / model).is_dir():
            model = str(fix(Path(model)))
        return self.model_copy(update={
            "data": self.data.model_copy(update={"path": fix(self.data.path)}),
            "output": self.output.model_copy(update={"dir": fix(self.output.dir)}),
            "train": self.train.model_copy(update={"model": model}),
        })
