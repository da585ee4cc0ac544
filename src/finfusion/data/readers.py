"""Read and write the two input frames as CSV, Parquet or JSON lines, chosen by file suffix.

Accepted suffixes: .csv, .csv.gz, .parquet, .pq, .jsonl, .ndjson. Reading returns a validated
frame (see `finfusion.data.schema`); writing validates first, writes atomically
(`finfusion.io.atomic_write`) and round-trips: ``read_prices(write_prices(df, p))`` equals
``validate_prices(df)`` for every format (float64 values are written exactly).

CSV and JSON-lines cells are read as text and converted by validation, so a ticker such as
"NA" or "TRUE" stays a ticker and error messages show the value as written in the file.

`shape` (`finfusion.data.shapes.InputShape`) declares a table of another shape: mapped column
names, a wide price table (a date column and one column per ticker), one ticker's table, texts
without a ticker column or with date-only timestamps. Files take the same path as DataFrames:
`read_table` then `validate_prices` / `validate_texts`. A table with two header rows (yfinance's
(field, ticker) columns) is read as a DataFrame only: pass it to `validate_prices`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from finfusion.data.frames import PRICE_OPTIONAL, PRICE_REQUIRED, CleaningReport
from finfusion.data.schema import OnInvalid, validate_prices, validate_texts
from finfusion.data.shapes import InputShape
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
    path: str | Path,
    *,
    date_format: str | None = None,
    on_invalid: OnInvalid = "raise",
    report: CleaningReport | None = None,
    shape: InputShape | None = None,
) -> pd.DataFrame:
    """Read a prices file and return the validated frame (see `validate_prices`; `date_format`
    declares a non-ISO date format such as "%d/%m/%Y"; `shape` a table of another shape).

    A file without data rows (only a header, or empty) raises DataError naming it; so does a
    file none of whose rows is valid under on_invalid="drop" (with the reasons).
    """
    raw = read_table(path, on_invalid=on_invalid, report=report)
    if not len(raw):
        raise DataError(
            f"{path}: no data rows (only a header line, or an empty file); expected at least one row "
            f"with the columns {list(PRICE_REQUIRED)} (optional: {list(PRICE_OPTIONAL)}), or a wide table "
            "(a date column and one column per ticker)"
        )
    local = CleaningReport()
    out = validate_prices(raw, source=str(path), date_format=date_format, on_invalid=on_invalid, report=local,
                          shape=shape)
    if report is not None:
        report.extend(local)
    if not len(out):
        raise DataError(
            f"{path}: none of the {len(raw)} data row(s) is valid; all were dropped:\n{local.summary()}"
        )
    return out


def read_texts(
    path: str | Path,
    *,
    default_tz: str | None = None,
    timestamp_format: str | None = None,
    on_invalid: OnInvalid = "raise",
    report: CleaningReport | None = None,
    shape: InputShape | None = None,
    tickers: Sequence[str] = (),
    timezone: str | None = None,
) -> pd.DataFrame:
    """Read a texts file and return the validated frame (timestamps in UTC; see `validate_texts`;
    `timestamp_format` declares a non-ISO timestamp format such as "%d/%m/%Y %H:%M %z").

    `shape` declares a table of another shape; `tickers` (the prices' tickers) give the ticker of
    a file without a ticker column when there is one; `timezone` (the market's) is needed with
    `shape.text_time`.

    With on_invalid="drop" a JSON-lines line that is not valid UTF-8 is dropped and counted
    (step "read_jsonl"); a CSV file that is not UTF-8 always raises, naming the line.
    """
    raw = read_table(path, on_invalid=on_invalid, report=report)
    return validate_texts(raw, source=str(path), default_tz=default_tz, timestamp_format=timestamp_format,
                          on_invalid=on_invalid, report=report, shape=shape, tickers=tickers, timezone=timezone)


def read_table(
    path: str | Path, *, on_invalid: OnInvalid = "raise", report: CleaningReport | None = None
) -> pd.DataFrame:
    """Read any accepted file into an unvalidated frame (CSV / JSONL cells stay as written).

    Text files must be UTF-8: a CSV that is not raises DataError naming the line and byte
    offset; so does a JSON-lines line, unless on_invalid="drop" (then it is dropped and counted
    in `report`).
    """
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
    except UnicodeDecodeError as exc:
        raise DataError(_csv_not_utf8(path, fmt)) from exc
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot be read as {fmt}: {exc}") from exc
    return _read_jsonl(path, on_invalid=on_invalid, report=report)


NOT_UTF8 = "expected UTF-8 text; re-encode the file (e.g. iconv -f latin1 -t utf-8)"


def _csv_not_utf8(path: Path, fmt: Format) -> str:
    """The message for a CSV file that is not UTF-8: the line and byte offset of the first bad byte."""
    data = path.read_bytes()
    if fmt == "csv.gz":
        data = gzip.decompress(data)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = "of the decompressed text " if fmt == "csv.gz" else ""
        return (f"{path}: line {line} is not valid UTF-8 (byte offset {exc.start} {where}is "
                f"{data[exc.start:exc.start + 1]!r}); {NOT_UTF8}")
    return f"{path}: is not valid UTF-8; {NOT_UTF8}"


def iter_jsonl(
    path: Path, *, on_invalid: OnInvalid = "raise", report: CleaningReport | None = None
) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line; a bad line raises naming the file and its number.

    A line that is not UTF-8 raises naming its number and byte offset, or with on_invalid="drop"
    is skipped and counted in `report` (step "read_jsonl").
    """
    skipped: list[str] = []
    offset = 0
    with Path(path).open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            start, offset = offset, offset + len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = f"line {number} (byte offset {start + exc.start}: {raw[exc.start:exc.start + 1]!r})"
                if on_invalid != "drop":
                    raise DataError(f"{path}: line {number} is not valid UTF-8 (byte offset "
                                    f"{start + exc.start} is {raw[exc.start:exc.start + 1]!r}); {NOT_UTF8}") from exc
                skipped.append(bad)
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number} is not valid JSON ({exc.msg}): {line[:80]!r}") from exc
            if not isinstance(obj, dict):
                raise DataError(f"{path}: line {number}: expected a JSON object, got {type(obj).__name__}")
            yield number, obj
    if skipped and report is not None:
        report.add("read_jsonl", f"{path}: line is not valid UTF-8 (dropped)", len(skipped), tuple(skipped))


def _read_jsonl(path: Path, *, on_invalid: OnInvalid, report: CleaningReport | None) -> pd.DataFrame:
    """One JSON object per line; blank lines are skipped; a bad line raises naming its number."""
    report = report if report is not None else CleaningReport()
    frame = pd.DataFrame.from_records([obj for _, obj in iter_jsonl(path, on_invalid=on_invalid, report=report)])
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
