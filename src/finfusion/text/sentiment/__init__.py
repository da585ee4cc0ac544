"""Sentiment classification (seed 004): fine-tuning, hyper-parameter search, evaluation with error
analysis, and the batch inference API whose `score` is the scalar sentiment p_pos - p_neg of
seed 003 (definition 3).

    from finfusion.text.sentiment import SentimentClassifier
    clf = SentimentClassifier.load("runs/pb/model")
    clf.score(["Operating profit rose to EUR 13.1 mn"])   # array([0.97...])

Modules: `data` (reading labeled texts, 2-/3-class preparation, stratified split),
`classifier` (`SentimentClassifier`), `train_config` (`SentimentTrainConfig`, `TrainResult`),
`train` (`train_sentiment`; the Hugging Face `Trainer` wiring is in `hf`),
`search` (`SearchConfig`, `run_trial`: one trial; the search itself is the run kind
`finfusion.experiments.sentiment_runner`), `evaluation` and `error_analysis` (metrics,
confusion matrix, error buckets), `reporting` (HTML reports). Everything but the classifier is
imported on first use, so `import finfusion.text.sentiment` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from finfusion.text.sentiment.classifier import SentimentClassifier

_LAZY = {
    "read_labeled": "data",
    "prepare_labeled": "data",
    "stratified_split": "data",
    "LABELS_2": "data",
    "LABELS_3": "data",
    "SentimentTrainConfig": "train_config",
    "train_sentiment": "train",
    "TrainResult": "train_config",
    "SearchConfig": "search",
    "run_trial": "search",
    "best_trial": "search",
    "evaluate_classifier": "evaluation",
    "label_metrics": "evaluation",
    "Evaluation": "evaluation",
    "analyse_errors": "error_analysis",
    "buckets_of": "error_analysis",
}

__all__ = ["SentimentClassifier", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
