"""Error analysis of a sentiment classifier: misclassified texts bucketed by surface patterns
(seed 004 §6: negation, ticker / hashtag noise, very short texts, URLs, ...).

Buckets are cheap heuristics on the raw text, not linguistic analysis; a text can fall in several
buckets, and "other" holds the texts that fall in none:

* ``negation``: a negation word (not, no, never, none, nothing, nobody, neither, nor, without,
  cannot, hardly, barely) or a contraction ending in n't;
* ``ticker_hashtag``: a cashtag ($AAPL: $ then a letter) or a hashtag (#earnings);
* ``short``: at most `SHORT_WORDS` (6) whitespace-separated words;
* ``url``: http(s):// or www. links;
* ``numbers_only``: no letter outside cashtags, hashtags and URLs, and at least one digit;
* ``mixed_polarity``: at least one word of `POSITIVE_CUES` and one of `NEGATIVE_CUES` (small
  hand-made finance lists; the full Loughran-McDonald lexicon is a separate scorer).

`analyse_errors` returns, per bucket, how many texts fall in it, how many of those were
misclassified, the error rate within the bucket (compare with the "all" row) and the bucket's
share of all errors, plus the most confident mistakes of each bucket as examples.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

SHORT_WORDS = 6
NEGATION = re.compile(
    r"\b(?:not|no|never|none|nothing|nobody|neither|nor|without|cannot|hardly|barely)\b"
    r"|\w+n['’]t\b",
    re.IGNORECASE,
)
CASHTAG = re.compile(r"(?<![\w$])\$[A-Za-z][A-Za-z0-9._]{0,11}")
HASHTAG = re.compile(r"(?<![\w#])#\w+")
URL = re.compile(r"https?://\S+|\bwww\.\S+", re.IGNORECASE)
LETTER = re.compile(r"[^\W\d_]")
WORD = re.compile(r"[a-z]+")
POSITIVE_CUES = frozenset(
    "gain gains gained rise rises rising rose risen up increase increased increases growth grew grow grows profit "
    "profits profitable beat beats strong stronger strength bullish higher high record surge surged surges improve "
    "improved improves improvement rally rallied upgrade upgraded outperform positive good great buy boost boosted "
    "exceed exceeded".split()
)
NEGATIVE_CUES = frozenset(
    "loss losses lost lose fall falls falling fell fallen drop drops dropped decline declined declines decrease "
    "decreased decreases down weak weaker weakness bearish lower low miss missed misses cut cuts slump slumped "
    "plunge plunged downgrade downgraded underperform negative bad sell short warning layoffs fail failed "
    "deficit".split()
)


def _words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def _numbers_only(text: str) -> bool:
    rest = HASHTAG.sub(" ", CASHTAG.sub(" ", URL.sub(" ", text)))
    return not LETTER.search(rest) and any(ch.isdigit() for ch in rest)


def _mixed(text: str) -> bool:
    words = _words(text)
    return bool(words & POSITIVE_CUES) and bool(words & NEGATIVE_CUES)


BUCKETS: dict[str, Callable[[str], bool]] = {
    "negation": lambda t: NEGATION.search(t) is not None,
    "ticker_hashtag": lambda t: CASHTAG.search(t) is not None or HASHTAG.search(t) is not None,
    "short": lambda t: len(t.split()) <= SHORT_WORDS,
    "url": lambda t: URL.search(t) is not None,
    "numbers_only": _numbers_only,
    "mixed_polarity": _mixed,
}
OTHER = "other"


def buckets_of(text: str) -> list[str]:
    """The buckets `text` falls in (in `BUCKETS` order); empty when none."""
    return [name for name, test in BUCKETS.items() if test(text)]


def bucket_flags(texts: pd.Series | list[str]) -> pd.DataFrame:
    """(n, len(BUCKETS) + 1) bool frame: one column per bucket and "other" (no bucket)."""
    texts = [str(t) for t in texts]
    flags = pd.DataFrame({name: [test(t) for t in texts] for name, test in BUCKETS.items()}, dtype=bool)
    flags[OTHER] = ~flags.any(axis=1) if len(flags.columns) else True
    return flags


@dataclass(frozen=True)
class ErrorAnalysis:
    """table     one row per bucket, "other" and "all": n_texts, n_errors, error_rate (errors / texts
                 in the bucket) and share_of_errors (bucket errors / all errors; buckets overlap, so
                 shares can sum to more than 1).
    examples  up to n_examples misclassified texts per bucket, most confident first: bucket, text,
              label, pred, confidence.
    errors    every misclassified text with its bucket flags."""

    table: pd.DataFrame
    examples: pd.DataFrame
    errors: pd.DataFrame


def analyse_errors(predictions: pd.DataFrame, *, n_examples: int = 5) -> ErrorAnalysis:
    """Bucket the misclassified rows of a frame with columns text, label, pred, confidence."""
    missing = [c for c in ("text", "label", "pred", "confidence") if c not in predictions.columns]
    if missing:
        raise ValueError(f"analyse_errors: predictions frame lacks columns {missing}")
    frame = predictions.reset_index(drop=True)
    flags = bucket_flags(frame["text"])
    wrong = (frame["label"] != frame["pred"]).to_numpy()
    n_errors = int(wrong.sum())
    rows = []
    for name in [*BUCKETS, OTHER]:
        member = flags[name].to_numpy()
        rows.append(_row(name, int(member.sum()), int((member & wrong).sum()), n_errors))
    rows.append(_row("all", len(frame), n_errors, n_errors))
    table = pd.DataFrame(rows)
    errors = pd.concat([frame[wrong].reset_index(drop=True), flags[wrong].reset_index(drop=True)], axis=1)
    examples = []
    for name in [*BUCKETS, OTHER]:
        picked = errors[errors[name]].sort_values("confidence", ascending=False, kind="stable").head(n_examples)
        examples.append(picked[["text", "label", "pred", "confidence"]].assign(bucket=name))
    columns = ["bucket", "text", "label", "pred", "confidence"]
    example_frame = pd.concat(examples, ignore_index=True)[columns] if examples else pd.DataFrame(columns=columns)
    return ErrorAnalysis(table=table, examples=example_frame, errors=errors)


def _row(bucket: str, n_texts: int, n_errors: int, total_errors: int) -> dict:
    return {
        "bucket": bucket,
        "n_texts": n_texts,
        "n_errors": n_errors,
        "error_rate": n_errors / n_texts if n_texts else np.nan,
        "share_of_errors": n_errors / total_errors if total_errors else np.nan,
    }
