"""Evaluation of a sentiment classifier: metrics, confusion matrix, error analysis, report parts.

Metrics (`label_metrics`, from `finfusion.evaluate.metrics`): accuracy; precision, recall and F1
of the positive class for 2 classes (``average = "binary"``, seed 004) or macro-averaged for 3;
the macro averages in both cases; Matthews correlation. `evaluate_classifier` runs a classifier
on labeled texts and returns all of it; `write_evaluation` stores it (metrics.json,
confusion_matrix.png, per_class.csv, error_buckets.csv, errors.csv, predictions.csv) and
`evaluation_sections` renders it for `finfusion.evaluate.report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from finfusion.data.predictions import proba_column
from finfusion.errors import DataError
from finfusion.evaluate import metrics as M
from finfusion.evaluate.plots import new_figure, save_figure
from finfusion.evaluate.report import Image, KeyValues, Paragraph, Section, Table
from finfusion.io import atomic_write, write_json
from finfusion.text.sentiment.data import POSITIVE
from finfusion.text.sentiment.error_analysis import BUCKETS, SHORT_WORDS, ErrorAnalysis, analyse_errors


def label_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, float]:
    """Metrics of class ids (indices into `labels`): n, accuracy, precision / recall / f1 (binary on
    the positive class with 2 labels, macro with more; `average` says which), macro_precision,
    macro_recall, macro_f1 and mcc."""
    a, b = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    binary = len(labels) == 2
    average = "binary" if binary else "macro"
    pos = list(labels).index(POSITIVE) if binary else 1
    out = {"n": int(a.size), "accuracy": M.accuracy(a, b)}
    for name, fn in (("precision", M.precision), ("recall", M.recall), ("f1", M.f1)):
        out[name] = fn(a, b, average=average, pos_label=pos)
    for name, fn in (("precision", M.precision), ("recall", M.recall), ("f1", M.f1)):
        out[f"macro_{name}"] = fn(a, b, average="macro")
    out["mcc"] = M.mcc(a, b)
    return out | {"average": average}


def confusion_frame(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> pd.DataFrame:
    """Counts: rows = true label, columns = predicted label (both in `labels` order)."""
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(y_true, y_pred, labels=list(range(len(labels))))
    return pd.DataFrame(counts, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="predicted"))


def per_class_frame(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support of each label."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(range(len(labels))), zero_division=0.0)
    return pd.DataFrame({"label": list(labels), "precision": p, "recall": r, "f1": f, "support": s})


def plot_confusion(confusion: pd.DataFrame, *, title: str = "Confusion matrix") -> Figure:
    """Heat map of a `confusion_frame`: counts, and each cell's share of its true-label row."""
    counts = confusion.to_numpy()
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    k = len(confusion)
    fig, (ax,) = new_figure(width=1.6 * k + 2.2, height=1.4 * k + 1.4)
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{counts[i, j]}\n{shares[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if shares[i, j] > 0.6 else "black",
                fontsize="medium",
            )
    ax.set_xticks(range(k), [str(c) for c in confusion.columns])
    ax.set_yticks(range(k), [str(c) for c in confusion.index])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return fig


@dataclass
class Evaluation:
    """What `evaluate_classifier` measured on one labeled set.

    predictions  text, label, pred, confidence, score, correct (one row per evaluated text).
    removed      rows left out (e.g. neutral rows for a 2-class model): reason -> count.
    """

    name: str
    labels: tuple[str, ...]
    metrics: dict[str, float]
    confusion: pd.DataFrame
    per_class: pd.DataFrame
    predictions: pd.DataFrame
    errors: ErrorAnalysis
    removed: dict[str, int] = field(default_factory=dict)


def evaluate_classifier(
    clf,
    data: pd.DataFrame,
    *,
    name: str = "test",
    batch_size: int = 64,
    n_examples: int = 5,
    show_progress: bool = False,
) -> Evaluation:
    """Run `clf` (a `SentimentClassifier`) on frame[text, label names] and measure it. Rows whose
    label the model does not have (neutral for a 2-class model) are left out and counted."""
    known = data["label"].isin(clf.labels)
    removed = {f"label not in the model ({', '.join(sorted(set(data.loc[~known, 'label'])))})": int((~known).sum())}
    removed = {k: v for k, v in removed.items() if v}
    frame = data[known].reset_index(drop=True)
    if frame.empty:
        raise DataError(
            f"{name}: no row has a label of the model {list(clf.labels)} (labels found: {sorted(set(data['label']))})"
        )
    probs = clf.predict_proba(frame["text"].tolist(), batch_size, show_progress=show_progress)
    y_true = frame["label"].map({n: i for i, n in enumerate(clf.labels)}).to_numpy(np.int64)
    y_pred = probs.argmax(axis=1)
    labels = tuple(clf.labels)
    predictions = pd.DataFrame(
        {
            "text": frame["text"],
            "label": frame["label"],
            "pred": [labels[i] for i in y_pred],
            "confidence": probs.max(axis=1),
            "score": clf.score_from_proba(probs),
            "correct": y_true == y_pred,
        }
    )
    for i, label in enumerate(labels):
        predictions[proba_column(label)] = probs[:, i]
    return Evaluation(
        name=name,
        labels=labels,
        metrics=label_metrics(y_true, y_pred, labels),
        confusion=confusion_frame(y_true, y_pred, labels),
        per_class=per_class_frame(y_true, y_pred, labels),
        predictions=predictions,
        errors=analyse_errors(predictions, n_examples=n_examples),
        removed=removed,
    )


def write_evaluation(ev: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """Write the evaluation's files into `out_dir` (atomically, one file each); returns them by name."""
    out = Path(out_dir)
    paths = {
        "metrics": write_json(
            out / "metrics.json",
            {
                "metrics": ev.metrics,
                "removed": ev.removed,
                "confusion": ev.confusion.to_numpy().tolist(),
                "labels": list(ev.labels),
            },
        ),
        "confusion_matrix": save_figure(
            plot_confusion(ev.confusion, title=f"Confusion matrix ({ev.name})"), out / "confusion_matrix.png"
        ),
    }
    tables = {
        "per_class": ev.per_class,
        "error_buckets": ev.errors.table,
        "errors": ev.errors.errors,
        "predictions": ev.predictions,
    }
    for key, frame in tables.items():
        paths[key] = atomic_write(out / f"{key}.csv", lambda p, f=frame: f.to_csv(p, index=False))
    return paths


def evaluation_sections(ev: Evaluation) -> list[Section]:
    """Report sections: metrics, confusion matrix, error analysis."""
    m = ev.metrics
    which = "of the positive class" if m["average"] == "binary" else "macro-averaged over the labels"
    headline = {k: m[k] for k in ("n", "accuracy", "precision", "recall", "f1", "macro_f1", "mcc")}
    blocks = [
        Paragraph(f"{m['n']} texts. Precision, recall and F1 are {which}."),
        KeyValues(headline, caption="metrics"),
        Table(ev.per_class, caption="per label"),
    ]
    if ev.removed:
        blocks.append(KeyValues(ev.removed, caption="rows left out"))
    bucket_text = (
        "Misclassified texts bucketed by surface pattern (heuristics; a text can be in several buckets): "
        f"{', '.join(BUCKETS)}; 'short' means at most {SHORT_WORDS} words and 'other' none of the buckets. "
        "error_rate is the share of the bucket's texts that were misclassified (compare with the 'all' row); "
        "share_of_errors is the bucket's share of all mistakes."
    )
    return [
        Section(f"Metrics ({ev.name})", blocks),
        Section(
            f"Confusion matrix ({ev.name})",
            [
                Table(ev.confusion, caption="rows: true label, columns: predicted"),
                Image(plot_confusion(ev.confusion), caption="counts and row shares"),
            ],
        ),
        Section(
            f"Error analysis ({ev.name})",
            [
                Paragraph(bucket_text),
                Table(ev.errors.table, caption="error buckets"),
                Table(ev.errors.examples, caption="most confident mistakes per bucket"),
            ],
        ),
    ]
