"""Labeled sentiment texts: reading, label names, 2-/3-class preparation and the stratified split.

Accepted files (chosen by suffix):

* ``.txt``: Financial PhraseBank, one ``sentence@label`` per line (any agreement level), read by
  `finfusion.data.adapters.phrasebank.read_phrasebank`;
* ``.csv``, ``.csv.gz``, ``.parquet``, ``.jsonl``, ``.ndjson``: a table with a text column and a
  label column (`finfusion.data.readers.read_table`). Default columns: the first of
  ``text, sentence, tweet`` and of ``label, labels, sentiment`` that the file has.

Labels end up as one of ``negative``, ``neutral``, ``positive``. Names are matched without case
and surrounding spaces, with the aliases in `ALIASES` (``pos``, ``bullish``, ...). Integer codes
are ambiguous (the seed paper's 0/1 is negative/positive, Hugging Face's financial_phrasebank
0/1/2 is negative/neutral/positive), so they need an explicit ``label_map``
(``{"0": "negative", "1": "positive"}``); an unmapped value raises `DataError` naming the file,
the 1-based data row (header not counted) and the column.

`prepare_labeled` turns such a frame into training data: 3 classes, or 2 classes with the neutral
rows dropped (counted); exact duplicates dropped (counted) and texts given conflicting labels
dropped (counted). `stratified_split` makes the seeded train / validation (/ test) split that
keeps each label's share in every part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from finfusion.errors import ConfigError, DataError

NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
LABELS_3 = (NEGATIVE, NEUTRAL, POSITIVE)
LABELS_2 = (NEGATIVE, POSITIVE)
ALIASES: dict[str, str] = {
    "negative": NEGATIVE,
    "neg": NEGATIVE,
    "bearish": NEGATIVE,
    "neutral": NEUTRAL,
    "neu": NEUTRAL,
    "none": NEUTRAL,
    "positive": POSITIVE,
    "pos": POSITIVE,
    "bullish": POSITIVE,
}
TEXT_COLUMNS = ("text", "sentence", "tweet")
LABEL_COLUMNS = ("label", "labels", "sentiment")
TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".jsonl", ".ndjson")
MAX_LISTED = 5  # problems quoted in one error message


def canonical_label(value: object, label_map: Mapping[str, str] | None = None) -> str | None:
    """The label name of a raw cell (`label_map` first, then names and aliases), or None."""
    raw = str(value).strip()
    if label_map and raw in label_map:
        return label_map[raw]
    return ALIASES.get(raw.lower())


def parse_label_map(spec: str | Mapping[str, str] | None) -> dict[str, str] | None:
    """``"0=negative,1=positive"`` (or a mapping) -> {"0": "negative", "1": "positive"}; every
    target must be a label name or alias."""
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return None
    if isinstance(spec, str):
        pairs = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"label map item {part.strip()!r} is not RAW=LABEL (e.g. '0=negative,1=positive')")
            pairs[key.strip()] = value.strip()
        spec = pairs
    out = {}
    for key, value in spec.items():
        name = ALIASES.get(str(value).strip().lower())
        if name is None:
            raise ConfigError(f"label map: {key!r} maps to {value!r}; expected one of {list(LABELS_3)}")
        out[str(key).strip()] = name
    return out


def read_labeled(
    path: str | Path,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    label_map: Mapping[str, str] | str | None = None,
) -> pd.DataFrame:
    """Read labeled texts: frame[text (str), label (one of LABELS_3)] in file order.

    Raises DataError naming the file, row and column for a missing column, an empty text or a
    label that is not a sentiment name (see the module docstring).
    """
    path = Path(path)
    mapping = parse_label_map(label_map)
    if path.name.lower().endswith(".txt"):
        from finfusion.data.adapters.phrasebank import read_phrasebank

        frame = read_phrasebank(path)  # labels are already names
        if mapping:
            frame["label"] = [mapping.get(v, v) for v in frame["label"]]
        return frame
    if not path.name.lower().endswith(TABLE_SUFFIXES):
        raise DataError(
            f"{path}: unknown file type; expected a PhraseBank .txt file (sentence@label) or a table "
            f"ending in one of {list(TABLE_SUFFIXES)}"
        )
    from finfusion.data.readers import read_table

    raw = read_table(path)
    tcol = pick_column(raw, text_col, TEXT_COLUMNS, path, "text")
    lcol = pick_column(raw, label_col, LABEL_COLUMNS, path, "label")
    texts = check_texts(raw[tcol], path, tcol)
    return pd.DataFrame({"text": texts, "label": _labels(raw[lcol], path, lcol, mapping)})


def read_texts_table(path: str | Path, *, text_col: str | None = None) -> tuple[pd.DataFrame, str]:
    """(the table, its text column) of a CSV / Parquet / JSONL file of texts to score."""
    from finfusion.data.readers import read_table

    raw = read_table(path)
    col = pick_column(raw, text_col, TEXT_COLUMNS, Path(path), "text")
    raw[col] = check_texts(raw[col], Path(path), col, allow_empty=True)
    return raw, col


def pick_column(frame: pd.DataFrame, wanted: str | None, defaults: tuple[str, ...], path: Path, what: str) -> str:
    if wanted is not None:
        if wanted not in frame.columns:
            raise DataError(f"{path}: no {what} column {wanted!r}; the file has columns {list(frame.columns)}")
        return wanted
    for name in defaults:
        if name in frame.columns:
            return name
    raise DataError(
        f"{path}: no {what} column; expected one of {list(defaults)} (or name it with the "
        f"{what}-column option), the file has columns {list(frame.columns)}"
    )


def check_texts(column: pd.Series, path: Path, col: str, *, allow_empty: bool = False) -> list[str]:
    """The cells as str; a missing cell (or an empty one unless `allow_empty`) raises naming its row."""
    out, bad = [], []
    for row, value in enumerate(column.tolist(), start=1):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            value = ""
        text = value if isinstance(value, str) else str(value)
        if not allow_empty and not text.strip():
            bad.append(row)
        out.append(text)
    if bad:
        raise DataError(
            f"{path}: column {col!r}: {len(bad)} empty text(s) at row(s) {bad[:MAX_LISTED]}"
            f"{' ...' if len(bad) > MAX_LISTED else ''} (row = 1-based data row, header not counted); "
            "expected non-empty text in every row"
        )
    return out


def _labels(column: pd.Series, path: Path, col: str, mapping: dict[str, str] | None) -> list[str]:
    names = [canonical_label(v, mapping) for v in column.tolist()]
    bad = [(row, v) for row, (v, n) in enumerate(zip(column.tolist(), names), start=1) if n is None]
    if not bad:
        return names  # type: ignore[return-value]
    values = sorted({str(v).strip() for _, v in bad})
    shown = ", ".join(f"row {row}: {str(v)!r}" for row, v in bad[:MAX_LISTED])
    hint = ""
    if all(_is_int(v) for v in values):
        example = ",".join(f"{v}={name}" for v, name in zip(values, LABELS_3 if len(values) == 3 else LABELS_2))
        hint = (
            f"; the labels are integer codes {values}: say what they mean with a label map, e.g. --label-map {example}"
        )
    raise DataError(
        f"{path}: column {col!r}: {len(bad)} label(s) that are not a sentiment ({shown}"
        f"{' ...' if len(bad) > MAX_LISTED else ''}); expected one of {list(LABELS_3)} or an alias "
        f"{sorted(ALIASES)}{hint}"
    )


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


# -- preparation and split ---------------------------------------------------------------------


@dataclass
class PreparedData:
    """Training data: frame[text, label_id] with `labels[label_id]` the name, and what was removed.

    removed  reason -> rows removed ("neutral (2-class)", "duplicate", "conflicting labels", "limit").
    counts   label name -> rows kept.
    """

    frame: pd.DataFrame
    labels: tuple[str, ...]
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        ids = self.frame["label_id"].to_numpy()
        return {name: int((ids == i).sum()) for i, name in enumerate(self.labels)}

    def summary(self) -> dict:
        return {"n": len(self.frame), "labels": list(self.labels), "counts": self.counts, "removed": dict(self.removed)}


def resolve_classes(labels: pd.Series, classes: int | None) -> tuple[str, ...]:
    """The label tuple for `classes` (None: 3 if any row is neutral, else 2)."""
    if classes not in (None, 2, 3):
        raise ConfigError(f"classes must be 2, 3 or None (from the data), got {classes!r}")
    if classes is None:
        classes = 3 if (labels == NEUTRAL).any() else 2
    return LABELS_3 if classes == 3 else LABELS_2


def prepare_labeled(
    frame: pd.DataFrame, *, classes: int | None = None, dedupe: bool = True, limit: int | None = None, seed: int = 0
) -> PreparedData:
    """frame[text, label names] -> `PreparedData` for training.

    classes  3, or 2 (neutral rows are dropped and counted), or None (3 if the data has a neutral
             row, else 2).
    dedupe   drop repeated (text, label) rows and every row of a text given two labels (counted),
             so no text is in two parts of a split.
    limit    keep a stratified random sample of this many rows (seeded; for quick runs).
    Every label of the chosen classes must occur at least twice (for the stratified split).
    """
    labels = resolve_classes(frame["label"], classes)
    work = frame[["text", "label"]].reset_index(drop=True)
    removed: dict[str, int] = {}
    if labels == LABELS_2:
        neutral = work["label"] == NEUTRAL
        if neutral.any():
            removed["neutral (2-class)"] = int(neutral.sum())
            work = work[~neutral]
    if dedupe:
        work, dup, conflict = _dedupe(work)
        if dup:
            removed["duplicate"] = dup
        if conflict:
            removed["conflicting labels"] = conflict
    counts = work["label"].value_counts()
    missing = [name for name in labels if counts.get(name, 0) < 2]
    if missing:
        raise DataError(
            f"{len(labels)}-class training needs at least 2 rows of every label; "
            f"{', '.join(f'{m}: {int(counts.get(m, 0))}' for m in missing)} after removing "
            f"{removed or 'nothing'} (use classes=2 for data without neutral rows)"
        )
    work = work.reset_index(drop=True)
    if limit is not None and limit < len(work):
        if limit < 2 * len(labels):
            raise ConfigError(f"limit must be >= {2 * len(labels)} (2 rows per label), got {limit}")
        keep = _stratified_pick(work["label"].to_numpy(), limit, seed)
        removed["limit"] = len(work) - limit
        work = work.iloc[np.sort(keep)].reset_index(drop=True)
    ids = work["label"].map({name: i for i, name in enumerate(labels)}).astype("int64")
    return PreparedData(pd.DataFrame({"text": work["text"].astype(str), "label_id": ids}), labels, removed)


def _dedupe(frame: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    n_labels = frame.groupby("text", sort=False)["label"].transform("nunique")
    conflict = n_labels > 1
    kept = frame[~conflict]
    dup = kept.duplicated(["text", "label"], keep="first")
    return kept[~dup], int(dup.sum()), int(conflict.sum())


def _stratified_pick(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    picked, _ = train_test_split(positions, train_size=n, stratify=y, random_state=seed)
    return np.asarray(picked)


def stratified_split(
    data: PreparedData, *, valid_fraction: float = 0.1, test_fraction: float = 0.0, seed: int = 0
) -> dict[str, pd.DataFrame]:
    """{"train", "valid"[, "test"]} frames (text, label_id), each keeping the label shares
    (sklearn's stratified `train_test_split`, seeded). Each part gets at least one row per label."""
    if not 0 < valid_fraction < 1 or not 0 <= test_fraction < 1 or valid_fraction + test_fraction >= 1:
        raise ConfigError(
            f"valid_fraction must be in (0, 1) and test_fraction in [0, 1) with a sum < 1, got "
            f"{valid_fraction} and {test_fraction}"
        )
    from sklearn.model_selection import train_test_split

    frame = data.frame
    k = len(data.labels)
    parts = {"valid": valid_fraction} | ({"test": test_fraction} if test_fraction > 0 else {})
    for name, fraction in parts.items():
        size = int(np.ceil(fraction * len(frame)))
        if size < k or len(frame) - size < k:
            raise DataError(
                f"a {name} part of {fraction:g} x {len(frame)} rows = {size} rows cannot hold one row of "
                f"each of the {k} labels with {k} left for training; use more data or another fraction"
            )
    rest, out = frame, {}
    remaining = 1.0
    for name, fraction in parts.items():
        try:
            rest, held = train_test_split(
                rest, test_size=fraction / remaining, stratify=rest["label_id"], random_state=seed
            )
        except ValueError as exc:  # e.g. a label with one row left for a stratified split
            raise DataError(
                f"cannot split off a stratified {name} part of {fraction:g} from {data.counts} rows per label: {exc}"
            ) from exc
        remaining -= fraction
        out[name] = held.reset_index(drop=True)
    return {"train": rest.reset_index(drop=True), **out}
