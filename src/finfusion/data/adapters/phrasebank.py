"""Financial PhraseBank (Malo et al., 2014): lines ``sentence@label`` -> frame[text, label].

Files such as Sentences_50Agree.txt hold one sentence per line, its label after the LAST '@'
(sentences may themselves contain '@'). Labels: positive, negative, neutral. Blank lines are
skipped; duplicate sentences are kept (the corpus has a few).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from finfusion.errors import DataError

LABELS = ("positive", "negative", "neutral")


def read_phrasebank(path: str | Path, *, encoding: str | None = None) -> pd.DataFrame:
    """Read one PhraseBank file; return frame with columns text (str), label (str), n rows in file order.

    encoding  None tries UTF-8, then Latin-1 (the corpus ships in both); otherwise that codec.
    A line without '@', with an empty sentence or an unknown label raises DataError naming the
    file and the 1-based line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such PhraseBank file; expected lines 'sentence@label'")
    content = _decode(path, path.read_bytes(), encoding)
    texts, labels = [], []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        sentence, sep, label = line.rpartition("@")
        label = label.strip().lower()
        if not sep or not sentence.strip() or label not in LABELS:
            problem = "no '@'" if not sep else ("an empty sentence" if not sentence.strip() else f"label {label!r}")
            raise DataError(
                f"{path}: line {number}: {problem} in {line[:80]!r}; expected 'sentence@label' "
                f"with label one of {list(LABELS)}"
            )
        texts.append(sentence.strip())
        labels.append(label)
    return pd.DataFrame({"text": pd.Series(texts, dtype="str"), "label": pd.Series(labels, dtype="str")})


def _decode(path: Path, data: bytes, encoding: str | None) -> str:
    if encoding is not None:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise DataError(f"{path}: cannot be decoded as {encoding!r}: {exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # never fails: every byte is a Latin-1 character
