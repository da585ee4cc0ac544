"""Read and write the two input frames as CSV, Parquet or JSON lines, chosen by file suffix.

Accepted suffixes: .csv, .csv.gz, .parquet, .pq, .jsonl, .ndjson. Reading returns a validated
frame (see `finfusion.data.schema`); writing validates first, writes atomically
(`finfusion.io.atomic_write`) and round-trips: ``read_prices(write_prices(df, p))`` equals
``validate_prices(df)`` for every format (float64 values are written exactly).

CSV and JSON-lines cells are read as text and converted by validation, so a ticker such as
"NA" or "TRUE" stays a ticker and error messages show the value as written in the file.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from finfusion.data.frames import CleaningReport
from finfusion.data.schema import OnInvalid, validate_prices, validate_texts
from finfusion.errors import DataError
from finfusion.io import atomic_write

Format = Literal["csv", "csv.gz", "parquet", "jsonl"]
SUFFIXES: dict[str, Format] = {
    ".csv.gz": "csv.gz",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def file_format(path: str | Path) -> Format:
    """The format named by `path`'s suffix; DataError naming the path and the accepted suffixes."""
    name = Path(path).name.lower()
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise DataError(f"{path}: unknown file type; expected a name ending in one of {list(SUFFIXES)}")


def read_prices(
    path: str | Path, *, on_invalid: OnInvalid = "raise", report: CleaningReport | None = None
) -> pd.DataFrame:
    """Read a prices file and return the validated frame (see `validate_prices`)."""
    raw = read_table(path)
    return validate_prices(raw, source=str(path), on_invalid=on_invalid, report=report)


def read_texts(
    path: str | Path,
    *,
    default_tz: str | None = None,
    on_invalid: OnInvalid = "raise",
    report: CleaningReport | None = None,
) -> pd.DataFrame:
    """Read a texts file and return the validated frame (timestamps in UTC; see `validate_texts`)."""
    raw = read_table(path)
    return validate_texts(raw, source=str(path), default_tz=default_tz, on_invalid=on_invalid, report=report)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read any accepted file into an unvalidated frame (CSV / JSONL cells stay as written)."""
    fmt = file_format(path)
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (accepted suffixes: {list(SUFFIXES)})")
    try:
        if fmt in ("csv", "csv.gz"):
            return pd.read_csv(
                path, dtype=str, keep_default_na=False, na_values=[""],
                compression="gzip" if fmt == "csv.gz" else None,
            )
        if fmt == "parquet":
            return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot be read as {fmt}: {exc}") from exc
    return _read_jsonl(path)


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line; a bad line raises naming the file and its number."""
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number} is not valid JSON ({exc.msg}): {line[:80]!r}") from exc
            if not isinstance(obj, dict):
                raise DataError(f"{path}: line {number}: expected a JSON object, got {type(obj).__name__}")
            yield number, obj


def _read_jsonl(path: Path) -> pd.DataFrame:
    """One JSON object per line; blank lines are skipped; a bad line raises naming its number."""
    frame = pd.DataFrame.from_records([obj for _, obj in iter_jsonl(path)])
    for col in frame.columns:  # keep strings as strings; numbers are converted by validation
        if frame[col].dtype == object and frame[col].map(lambda v: isinstance(v, str) or v is None).all():
            frame[col] = frame[col].astype("str")
    return frame


def write_prices(df: pd.DataFrame, path: str | Path) -> Path:
    """Validate `df` as prices and write it to `path` (format by suffix), atomically."""
    fmt = file_format(path)
    frame = validate_prices(df, source="write_prices")
    out = frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")) if fmt != "parquet" else frame
    return _write(out, Path(path), fmt)


def write_texts(df: pd.DataFrame, path: str | Path, *, default_tz: str | None = None) -> Path:
    """Validate `df` as texts and write it to `path` (format by suffix), atomically.

    Timestamps are written in UTC, ISO 8601 with offset for CSV / JSON lines.
    """
    fmt = file_format(path)
    frame = validate_texts(df, source="write_texts", default_tz=default_tz)
    out = frame
    if fmt != "parquet":
        out = frame.assign(timestamp=frame["timestamp"].map(lambda t: t.isoformat()))
    return _write(out, Path(path), fmt)


def _write(frame: pd.DataFrame, path: Path, fmt: Format) -> Path:
    if fmt == "parquet":
        return atomic_write(path, lambda p: frame.to_parquet(p, index=False))
    if fmt == "csv":
        return atomic_write(path, lambda p: frame.to_csv(p, index=False))
    if fmt == "csv.gz":  # no file name or time in the gzip header: same frame, same bytes
        data = gzip.compress(frame.to_csv(index=False).encode("utf-8"), mtime=0)
        return atomic_write(path, lambda p: p.write_bytes(data))
    return atomic_write(path, lambda p: _write_jsonl(frame, p))


def _write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    """One object per row; floats via repr (exact round trip); NaN / missing -> null."""
    obj = frame.astype("object")
    obj = obj.where(frame.notna().to_numpy(), None)
    cols = list(obj.columns)
    with path.open("w", encoding="utf-8") as fh:
        for row in obj.itertuples(index=False, name=None):
            rec = {c: (v.item() if isinstance(v, np.generic) else v) for c, v in zip(cols, row)}
            fh.write(json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n")
