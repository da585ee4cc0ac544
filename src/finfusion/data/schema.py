"""Validation of the two input frames (see `finfusion.data.frames` for the schemas).

`validate_prices` and `validate_texts` take any frame (read from a file or built in memory) of
any accepted shape (`finfusion.data.shapes`: mapped column names, wide price tables, texts
without a ticker column, date-only timestamps with a declared time), tidy it into the long frame,
normalise its column names, parse dates / timestamps, check every row, and either raise one
`DataError` that lists the problems (``on_invalid="raise"``) or drop the offending rows and
record each reason in a `CleaningReport` (``on_invalid="drop"``). Missing columns always raise.

Row numbers in messages are 1-based data rows in the order given: row 1 is the first data
row of a file (the line after a CSV header, the first line of a JSON-lines file); a cell of a
wide table is named by its row and ticker column ("row 3 of ticker column 'AAPL'").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from finfusion.data.dates import (  # noqa: F401 - check_timezone re-exported (its home moved to dates)
    check_format,
    check_timezone,
    date_expected,
    date_only_days,
    iso_hint,
    parse_dates,
    parse_timestamps,
    timestamp_expected,
)
from finfusion.data.frames import (
    PRICE_COLUMNS,
    PRICE_OPTIONAL,
    PRICE_REQUIRED,
    TEXT_OPTIONAL,
    TEXT_REQUIRED,
    CleaningReport,
)
from finfusion.data.shapes import InputShape, normalise_column_name, tidy_prices_located, tidy_texts
from finfusion.errors import ConfigError, DataError

OnInvalid = Literal["raise", "drop"]
PRICE_POSITIVE = ("open", "high", "low", "close", "adj_close")
MAX_LISTED = 20  # problems listed in one error message before "... and N more"
ROW_NOTE = "row = 1-based data row, header line not counted"
# Magnitude bounds: far above any real price / volume / feature, and low enough that a value, its
# square and price x volume stay finite in the float32 feature arrays (float32 max 3.4e38).
MAX_PRICE = 1e12
MAX_VOLUME = 1e18
MAX_EXTRA = 1e15
BOUNDS_NOTE = "(larger values cannot be real and overflow the float32 features, max 3.4e38)"
REL_TOL = 1e-9  # OHLC comparisons: prices equal up to float rounding count as equal
DATE_ONLY_HINT = (
    "a date without a time of day does not say when a text became available (read as midnight it would come "
    "before the session it may describe); declare the local time, in the market time zone, at which such texts "
    "became available: config key data.text_time: 'HH:MM' (InputShape(text_time=...)), e.g. '16:01' = after "
    "the close"
)


def validate_prices(
    df: pd.DataFrame,
    *,
    source: str = "<frame>",
    date_format: str | None = None,
    on_invalid: OnInvalid = "raise",
    report: CleaningReport | None = None,
    shape: InputShape | None = None,
) -> pd.DataFrame:
    """Check and normalise a prices frame; return it sorted by (ticker, date) with a fresh index.

    The frame is first tidied by `finfusion.data.shapes.tidy_prices` with `shape` (default
    `InputShape()`: layout auto, no mapping): a wide table or a (field, ticker) column MultiIndex
    becomes long, mapped columns get finfusion's names, the others are renamed (strip,
    lower-case, spaces -> '_': "Adj Close" -> adj_close). Required: date, ticker, close; open,
    high, low, volume, adj_close are optional. Output: date datetime64[ns] tz-naive midnight (a
    time of day is dropped; an aware date keeps its local calendar day), ticker str, the price
    columns present as float64 (order: open, high, low, close, volume, adj_close), and every
    further column as float64 extra features (NaN allowed there). A mostly non-numeric extra
    column is an error whatever `on_invalid` says.

    Dates: ISO 8601 (YYYY-MM-DD, optionally with a time and offset), YYYYMMDD (text or
    integer) and datetime-typed columns are read by default; any other text (e.g. 08/01/2020,
    day or month first?) is refused unless `date_format` (strftime, e.g. "%d/%m/%Y") declares
    it, and then every text cell must match that format (see `finfusion.data.dates`).

    Row problems: unparsable/missing date, missing ticker, price not a finite number > 0 or
    above 1e12, volume not a finite number >= 0 or above 1e18, an extra-column cell that is
    not a number or has |value| > 1e15 (these bounds keep the float32 features finite), OHLC
    not consistent (high >= low, low <= open <= high, low <= close <= high - each comparison
    only where its columns are present - with a relative tolerance of 1e-9 so equal prices
    written with different digits pass), duplicate (date, ticker). With "drop", duplicates keep
    their first occurrence and `report` (created if None, so pass one to see it) receives one
    record per reason with counts and examples.
    """
    _check_on_invalid(on_invalid)
    check_format(date_format, what="date_format")
    report = report if report is not None else CleaningReport()
    tidy, where = tidy_prices_located(df, shape, source=source, report=report)
    frame = _normalise_columns(tidy, source)
    _require_columns(frame, PRICE_REQUIRED, source, what="prices")
    issues = _Issues(source, len(frame), where=where, note=ROW_NOTE)
    out = pd.DataFrame(index=frame.index)
    out["date"] = parse_dates(frame["date"], date_format=date_format)
    issues.add(out["date"].isna(), "date", frame["date"], date_expected(date_format),
               hint=None if date_format is not None else iso_hint("date"))
    out["ticker"] = _clean_strings(frame["ticker"])
    issues.add(out["ticker"].isna(), "ticker", frame["ticker"], "a non-empty ticker")
    _price_columns(frame, out, issues)
    _check_ohlc(out, issues)
    for col in [c for c in frame.columns if c not in PRICE_REQUIRED + PRICE_OPTIONAL]:
        out[col] = _extra_numeric(frame[col], col, source, issues)
    keys_ok = out["date"].notna() & out["ticker"].notna()
    base = keys_ok if on_invalid == "raise" else keys_ok & ~issues.any_mask()
    _add_duplicates(issues, out, base, ["date", "ticker"])
    out = issues.resolve(out, on_invalid=on_invalid, report=report, step="validate_prices")
    out = out.sort_values(["ticker", "date"], kind="mergesort").reset_index(drop=True)
    return out


def _price_columns(frame: pd.DataFrame, out: pd.DataFrame, issues: _Issues) -> None:
    """Prices (> 0, <= MAX_PRICE) and volume (>= 0, <= MAX_VOLUME) into `out` as float64."""
    for col in [c for c in PRICE_COLUMNS[2:] if c in frame.columns]:
        num = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        positive = col in PRICE_POSITIVE
        ok = np.isfinite(num) & ((num > 0) if positive else (num >= 0))
        issues.add(~ok, col, frame[col], "a finite number > 0" if positive else "a finite number >= 0")
        limit, what = (MAX_PRICE, "price") if positive else (MAX_VOLUME, "volume")
        issues.add(ok & (num > limit), col, frame[col], f"a {what} <= {limit:g} {BOUNDS_NOTE}")
        out[col] = num


def _check_ohlc(out: pd.DataFrame, issues: _Issues) -> None:
    """high >= low and open, close within [low, high] (relative tolerance REL_TOL), each check only
    where its columns are present, on the rows whose present prices are otherwise valid."""
    cols = {k: out[k].to_numpy() for k in ("open", "high", "low", "close") if k in out.columns}
    valid = np.ones(len(out), dtype=bool)
    for v in cols.values():
        valid &= np.isfinite(v) & (v > 0) & (v <= MAX_PRICE)
    h, lo = cols.get("high"), cols.get("low")
    crossed = np.zeros(len(out), dtype=bool)
    if h is not None and lo is not None:
        crossed = valid & _below(h, lo)
        shown = _shown(crossed, lambda i: f"high={float(h[i])!r} < low={float(lo[i])!r}")
        issues.add(crossed, "high", shown, "high >= low")
    for name in ("close", "open"):
        if name in cols and (h is not None or lo is not None):
            _check_within(name, cols[name], lo, h, valid & ~crossed, issues)


def _below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a < b beyond float rounding (relative tolerance REL_TOL)."""
    return a < b - REL_TOL * np.maximum(np.abs(a), np.abs(b))


def _check_within(
    name: str, v: np.ndarray, lo: np.ndarray | None, h: np.ndarray | None, rows: np.ndarray, issues: _Issues
) -> None:
    """Flag the `rows` where price `name` lies below `lo` or above `h` (either may be absent)."""
    outside = np.zeros(len(v), dtype=bool)
    if lo is not None:
        outside |= _below(v, lo)
    if h is not None:
        outside |= _below(h, v)
    outside &= rows
    if lo is not None and h is not None:
        describe = lambda i: f"{name}={float(v[i])!r} outside [low={float(lo[i])!r}, high={float(h[i])!r}]"  # noqa: E731
        expected = f"low <= {name} <= high"
    elif lo is not None:
        describe, expected = (lambda i: f"{name}={float(v[i])!r} below low={float(lo[i])!r}"), f"low <= {name}"
    else:
        describe, expected = (lambda i: f"{name}={float(v[i])!r} above high={float(h[i])!r}"), f"{name} <= high"
    issues.add(outside, name, _shown(outside, describe), expected)


def _shown(mask: np.ndarray, describe) -> pd.Series:
    """Values shown in messages: describe(i) for the rows of `mask`, else missing."""
    shown = pd.Series(np.nan, index=range(len(mask)), dtype="object")
    for i in np.flatnonzero(mask):
        shown.iat[i] = _Raw(describe(int(i)))
    return shown


def validate_texts(
    df: pd.DataFrame,
    *,
    source: str = "<frame>",
    default_tz: str | None = None,
    timestamp_format: str | None = None,
    on_invalid: OnInvalid = "raise",
    report: CleaningReport | None = None,
    shape: InputShape | None = None,
    tickers: Sequence[str] = (),
    timezone: str | None = None,
) -> pd.DataFrame:
    """Check and normalise a texts frame; return it sorted by (ticker, timestamp), fresh index.

    The frame is first tidied by `finfusion.data.shapes.tidy_texts` with `shape` (mapped
    column names; no ticker column -> `shape.ticker` or the only one of `tickers`, the prices'
    tickers; `shape.text_time` puts date-only timestamps at that local time in `timezone`, the
    market time zone). Columns timestamp, ticker, text (+ optional source; further columns are
    kept unchanged).
    Timestamps are ISO 8601 strings ("2014-01-02T15:59:00-05:00", "...Z",
    "2014-01-02 15:59:00+00:00") or datetimes; any other text is refused unless
    `timestamp_format` (strftime, e.g. "%d/%m/%Y %H:%M %z") declares it, and then every text
    cell must match it (see `finfusion.data.dates`). Naive timestamps (no offset) are an error
    unless `default_tz` (an IANA name such as "UTC" or "America/New_York") is given; they are
    then read as local times in that zone (a local time that does not exist or is ambiguous at
    a DST change is a row problem).
    A column may mix offsets (-05:00 and -04:00 across a DST change; aware datetimes of
    different offsets). The output `timestamp` is always converted to UTC: datetime64[ns, UTC].
    Row problems: unparsable/naive timestamp, a date-only timestamp (no time of day, and no
    `shape.text_time` declared), missing ticker, missing or blank text.
    """
    return _validate_texts(df, source=source, default_tz=default_tz, timestamp_format=timestamp_format,
                           on_invalid=on_invalid, report=report, shape=shape, tickers=tickers, timezone=timezone)


def _validate_texts(
    df: pd.DataFrame,
    *,
    source: str,
    default_tz: str | None,
    on_invalid: OnInvalid,
    report: CleaningReport | None,
    where: Sequence[str] | None = None,
    timestamp_format: str | None = None,
    shape: InputShape | None = None,
    tickers: Sequence[str] = (),
    timezone: str | None = None,
) -> pd.DataFrame:
    """`validate_texts`, with optional per-row location labels (`where[i]` names row i)."""
    _check_on_invalid(on_invalid)
    if default_tz is not None:
        check_timezone(default_tz, what="default_tz")
    check_format(timestamp_format, what="timestamp_format")
    tidy = tidy_texts(df, shape, source=source, tickers=tickers, timezone=timezone,
                      report=report if report is not None else CleaningReport(), timestamp_format=timestamp_format)
    frame = _normalise_columns(tidy, source)
    _require_columns(frame, TEXT_REQUIRED, source, what="texts")
    issues = _Issues(source, len(frame), where=where)
    out = frame.copy()
    stamps, naive, local_bad = parse_timestamps(frame["timestamp"], timestamp_format=timestamp_format,
                                                default_tz=default_tz)
    out["timestamp"] = stamps
    date_only = date_only_days(frame["timestamp"], timestamp_format=timestamp_format).notna().to_numpy()
    issues.add(date_only, "timestamp", frame["timestamp"], "a timestamp with a time of day", hint=DATE_ONLY_HINT)
    unparsable = stamps.isna() & ~naive & ~local_bad & ~date_only
    issues.add(unparsable, "timestamp", frame["timestamp"], timestamp_expected(timestamp_format),
               hint=None if timestamp_format is not None else iso_hint("timestamp"))
    issues.add(naive & ~date_only, "timestamp", frame["timestamp"],
               "a time zone in the timestamp (e.g. +00:00), or pass default_tz= for naive times")
    issues.add(local_bad, "timestamp", frame["timestamp"],
               f"a local time that exists exactly once in {default_tz} (DST change)")
    out["ticker"] = _clean_strings(frame["ticker"])
    issues.add(out["ticker"].isna(), "ticker", frame["ticker"], "a non-empty ticker")
    text = frame["text"].astype("object")
    text = text.where(text.isna(), text.astype(str))
    blank = text.isna().to_numpy() | (text.fillna("").astype(str).str.strip() == "").to_numpy()
    issues.add(blank, "text", frame["text"], "a non-empty text")
    out["text"] = text.astype("str")
    if "source" in out.columns:
        src = out["source"].astype("object")
        out["source"] = src.where(src.isna(), src.astype(str)).astype("str")
    out = issues.resolve(out, on_invalid=on_invalid, report=report, step="validate_texts")
    first = [c for c in TEXT_REQUIRED + TEXT_OPTIONAL if c in out.columns]
    out = out[first + [c for c in out.columns if c not in first]]
    out = out.sort_values(["ticker", "timestamp"], kind="mergesort").reset_index(drop=True)
    return out


# ---------------------------------------------------------------------------------------------
# columns


def _check_on_invalid(on_invalid: str) -> None:
    if on_invalid not in ("raise", "drop"):
        raise ConfigError(f"on_invalid={on_invalid!r}; expected 'raise' or 'drop'")


def _normalise_columns(df: pd.DataFrame, source: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{source}: expected a pandas DataFrame, got {type(df).__name__}")
    names = [normalise_column_name(c) for c in df.columns]
    seen: dict[str, object] = {}
    for raw, name in zip(df.columns, names):
        if name in seen:
            raise DataError(
                f"{source}: columns {seen[name]!r} and {raw!r} both normalise to {name!r}; "
                "expected unique column names"
            )
        seen[name] = raw
    frame = df.reset_index(drop=True)
    frame.columns = names
    return frame


def _require_columns(frame: pd.DataFrame, required: Sequence[str], source: str, *, what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: {what} frame is missing required column(s) {missing}; found {list(frame.columns)} "
            f"(names normalised: stripped, lower-case, spaces -> '_'); expected {list(required)} - map your "
            "names with the column mapping (data.columns / InputShape(columns=...)), e.g. {close: 'Adj Close'}"
        )


def _clean_strings(raw: pd.Series) -> pd.Series:
    """Values as stripped str; missing or blank -> NaN."""
    obj = raw.astype("object")
    s = obj.where(obj.isna(), obj.astype(str).str.strip())
    s = s.where(s != "", np.nan)
    return s.astype("str")


def _extra_numeric(raw: pd.Series, col: str, source: str, issues: _Issues) -> pd.Series:
    """An extra price column as float64; a mostly non-numeric column raises, stray cells are row issues."""
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("float64")
    num = pd.to_numeric(raw, errors="coerce").astype("float64")
    present = raw.notna() & (raw.astype("object").astype(str).str.strip() != "")
    failed = present & num.isna() & ~raw.astype("object").astype(str).str.strip().str.lower().isin(["nan"])
    if present.any() and failed.sum() > present.sum() / 2:
        first = int(np.flatnonzero(failed.to_numpy())[0])
        raise DataError(
            f"{source}: extra column {col!r} is not numeric (row {first + 1}: {_show(raw.iloc[first])}); "
            "extra price columns must be numeric features - remove or encode it"
        )
    issues.add(failed, col, raw, "a number (extra feature column; empty/NaN allowed)")
    huge = np.abs(num.to_numpy()) > MAX_EXTRA
    issues.add(huge, col, raw, f"|value| <= {MAX_EXTRA:g} (extra feature column) {BOUNDS_NOTE}")
    return num


def _add_duplicates(issues: _Issues, out: pd.DataFrame, base: pd.Series, keys: list[str]) -> None:
    """Flag rows whose `keys` repeat an earlier row among the rows where `base` is True."""
    sub = out.loc[base.to_numpy(), keys]
    dup = sub.duplicated(keep="first")
    if not dup.any():
        return
    first_pos = pd.Series(sub.index, index=sub.index).groupby([sub[k] for k in keys], sort=False).transform("first")
    shown = pd.Series(np.nan, index=out.index, dtype="object")
    for i in sub.index[dup.to_numpy()][:MAX_LISTED]:
        vals = ", ".join(_fmt_key(out.at[i, k]) for k in keys)
        shown.at[i] = _Raw(f"({vals}), already at {issues.locate(int(first_pos.at[i]))}")
    mask = pd.Series(False, index=out.index)
    mask.loc[sub.index[dup.to_numpy()]] = True
    issues.add(mask, "(" + ", ".join(keys) + ")", shown, f"one row per ({', '.join(keys)}); later copies are dropped")


def _fmt_key(v: object) -> str:
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d") if v == v.normalize() else v.isoformat()
    return str(v)


# ---------------------------------------------------------------------------------------------
# collecting problems


class _Raw(str):
    """A value shown as-is in messages (no quotes)."""

    def __repr__(self) -> str:
        return str(self)


def _show(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return "<missing>"
    if isinstance(v, str) and not isinstance(v, _Raw) and len(v) > 60:
        v = v[:57] + "..."
    if isinstance(v, (np.generic,)):
        v = v.item()
    return repr(v)


class _Issues:
    """Row problems found by vectorised checks: (mask, column, raw values, what was expected)."""

    def __init__(self, source: str, n: int, *, where: Sequence[str] | None = None, note: str | None = None) -> None:
        self.source = source
        self.n = n
        self.where = where
        self.note = ROW_NOTE if where is None else note  # how rows are numbered, said once in the error
        self.items: list[tuple[np.ndarray, str, pd.Series, str, str | None]] = []

    def add(
        self, mask: pd.Series | np.ndarray, column: str, values: pd.Series, expected: str, *, hint: str | None = None
    ) -> None:
        """Record a problem: rows `mask` of `column` (shown as `values`) are not `expected`;
        `hint` (how to fix it) is said once at the end of the error and in the report reason."""
        m = np.asarray(mask, dtype=bool)
        if m.any():
            self.items.append((m, column, values, expected, hint))

    def any_mask(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for m, *_ in self.items:
            out |= m
        return out

    def locate(self, pos: int) -> str:
        """Where row `pos` (0-based, in the frame checked) came from, e.g. "row 3"."""
        return self.where[pos] if self.where is not None else f"row {pos + 1}"

    def _line(self, pos: int, item: int) -> str:
        _, column, values, expected, _ = self.items[item]
        return f"{self.source}: {self.locate(pos)}, column {column!r}: got {_show(values.iloc[pos])}, expected {expected}"

    def message(self) -> str:
        rows = np.concatenate([np.flatnonzero(m) for m, *_ in self.items])
        which = np.concatenate([np.full(int(m.sum()), k) for k, (m, *_) in enumerate(self.items)])
        order = np.lexsort((which, rows))
        total = len(rows)
        note = f" ({self.note})" if self.note else ""
        lines = [f"{self.source}: {total} problem(s) among {self.n} rows{note}:"]
        lines += ["  " + self._line(int(rows[o]), int(which[o])) for o in order[:MAX_LISTED]]
        if total > MAX_LISTED:
            lines.append(f"  ... and {total - MAX_LISTED} more")
        hints = dict.fromkeys(h for *_, h in self.items if h)
        lines += [f"  hint: {h}" for h in hints]
        return "\n".join(lines)

    def resolve(
        self, out: pd.DataFrame, *, on_invalid: str, report: CleaningReport | None, step: str
    ) -> pd.DataFrame:
        """Raise one DataError listing every problem, or drop the bad rows and record why."""
        if not self.items:
            return out
        if on_invalid == "raise":
            raise DataError(self.message())
        report = report if report is not None else CleaningReport()
        taken = np.zeros(self.n, dtype=bool)  # each dropped row is counted once, under its first problem
        for m, column, values, expected, hint in self.items:
            pos = np.flatnonzero(m & ~taken)
            taken |= m
            examples = tuple(f"{self.locate(int(p))}: {_show(values.iloc[int(p)])}" for p in pos[:3])
            reason = f"{self.source}: column {column!r}: expected {expected}" + (f"; {hint}" if hint else "")
            report.add(step, reason, len(pos), examples)
        return out.loc[~self.any_mask()]
