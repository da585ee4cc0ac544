"""Input shapes: the tables researchers actually have, turned into finfusion's long frames.

`InputShape` declares what cannot be guessed safely; `tidy_prices` / `tidy_texts` turn a raw
table (from a file or in memory) into a long frame with finfusion's column names, not yet
validated. `finfusion.data.schema.validate_prices` / `validate_texts` call them first, so files
(`finfusion.data.readers`) and DataFrames take one path.

* **columns** ``{"date": "Date", "ticker": "Symbol", "close": "Adj Close"}``: finfusion's names
  (`COLUMN_KEYS`) -> the table's names exactly as written, applied before (and instead of) the
  usual normalisation (strip, lower-case, spaces -> '_'). A mapped name missing from the table,
  or another column also read as a mapped key (``close: "Adj Close"`` beside a ``Close``
  column), is a DataError. ``ticker`` serves both tables, so a table without the mapped ticker
  column is read as a table without a ticker column.
* **layout** (prices) ``auto`` | ``long`` | ``wide``. long: a row per (date, ticker); without a
  ticker column it is ONE ticker's table and needs ``ticker``. wide: a date column (or a
  DatetimeIndex) and a column per ticker, cells = ``wide_value`` (close, or adj_close - then
  also the close); empty cells are not rows, counted as "wide table cells without a price (not
  rows)". A DataFrame with two column levels (field, ticker) or (ticker, field) and dates as the
  index (``yfinance.download``, with or without ``group_by="ticker"``) is stacked alike. auto: a
  column MultiIndex -> wide with fields; a ticker column -> long; only price field names besides
  the date -> one ticker's table; no price field name -> wide; a mix -> DataError.
* **texts**: without a ticker column every text belongs to ``ticker`` or to the prices' only
  ticker (several: DataError). A date-only timestamp ("2015-01-02", a date column) is refused by
  validation unless ``text_time="HH:MM"`` declares the local time (market time zone) at which
  such texts became available; full timestamps keep theirs.

How a table was read is recorded in the `CleaningReport` (`TableRead`, ``report.reads``) when
the shape did anything. A notebook loader (DataFrames or files) is this call sequence::

    report = CleaningReport()
    shape = InputShape(columns={"ticker": "Symbol", "text": "headline"}, text_time="16:01")
    prices = validate_prices(prices_df, shape=shape, report=report)           # long, validated
    texts = validate_texts(texts_df, shape=shape, report=report,
                           tickers=sorted(prices["ticker"].unique()),         # for texts without tickers
                           timezone="America/New_York")                       # the market's, for text_time
    report.reads, report.dropped                                              # what was done

(files: ``read_prices(path, shape=...)``, ``read_texts(path, shape=..., tickers=..., timezone=...)``).
Passing the shape to validate_* (rather than validating `tidy_prices`' output) keeps the wide
table's cell locations ("row 3 of ticker column 'AAPL'") in error messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from finfusion.data.dates import date_only_at, parse_hhmm
from finfusion.data.frames import PRICE_COLUMNS, PRICE_FIELDS, TEXT_OPTIONAL, TEXT_REQUIRED, CleaningReport
from finfusion.errors import ConfigError, DataError

COLUMN_KEYS = PRICE_COLUMNS + ("timestamp", "text", "source")  # the keys of a column mapping
TEXT_KEYS = TEXT_REQUIRED + TEXT_OPTIONAL
LAYOUTS = ("auto", "long", "wide")
WIDE_VALUES = ("close", "adj_close")
PRICE_NAMES = ("open", "high", "low", "close", "adj_close")  # the prices of a wide table with fields
WIDE_EMPTY = "wide table cells without a price (not rows)"
MAPPING = "the column mapping (data.columns)"


def normalise_column_name(name: object) -> str:
    """'  Adj Close ' -> 'adj_close': strip, lower-case, runs of spaces -> one '_'."""
    return "_".join(str(name).strip().lower().split())


def check_columns(columns: Mapping[str, str]) -> dict[str, str]:
    """A column mapping {finfusion name: the table's name} as a plain dict; ConfigError naming an
    unknown key (and the allowed ones), an empty name, or one table column mapped twice."""
    if not isinstance(columns, Mapping):
        raise ConfigError(f"columns must map finfusion names to your column names, got {type(columns).__name__}")
    unknown = [k for k in columns if k not in COLUMN_KEYS]
    if unknown:
        raise ConfigError(f"columns: unknown key(s) {unknown}; allowed keys (finfusion's names): {list(COLUMN_KEYS)}")
    bad = {k: v for k, v in columns.items() if not isinstance(v, str) or not v.strip()}
    if bad:
        raise ConfigError(f"columns: {bad} - each key needs your column's name, a non-empty string")
    seen: dict[str, str] = {}
    for key, name in columns.items():
        if name in seen:
            raise ConfigError(f"columns: {seen[name]!r} and {key!r} both map to the column {name!r}; "
                              "expected one finfusion name per column")
        seen[name] = key
    return dict(columns)


@dataclass(frozen=True)
class InputShape:
    """How to read a prices / texts table (see the module docstring).

    columns     {finfusion name: the table's column name as written}; keys from `COLUMN_KEYS`
    layout      prices: "auto", "long" or "wide"
    wide_value  prices, wide tables: the cells are "close" or "adj_close" (then also the close)
    ticker      the ticker of a table without a ticker column (prices: one ticker's long table;
                texts: every text); a table that has tickers of its own must contain it
    text_time   texts: "HH:MM" local time (market time zone) at which a date-only text became available
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    layout: Literal["auto", "long", "wide"] = "auto"
    wide_value: Literal["close", "adj_close"] = "close"
    ticker: str | None = None
    text_time: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", MappingProxyType(check_columns(self.columns)))
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout={self.layout!r}; expected one of {list(LAYOUTS)}")
        if self.wide_value not in WIDE_VALUES:
            raise ConfigError(f"wide_value={self.wide_value!r}; expected one of {list(WIDE_VALUES)}")
        if self.ticker is not None and (not isinstance(self.ticker, str) or self.ticker.strip() != self.ticker
                                        or not self.ticker):
            raise ConfigError(f"ticker={self.ticker!r}; expected a ticker such as 'AAPL' (no surrounding spaces)")
        if self.text_time is not None:
            parse_hhmm(self.text_time)

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.columns.items())), self.layout, self.wide_value, self.ticker, self.text_time))

    def __reduce__(self):  # a mapping proxy does not pickle; the shape travels to workers as its fields
        return (InputShape, (dict(self.columns), self.layout, self.wide_value, self.ticker, self.text_time))


# ---------------------------------------------------------------------------------------------
# prices


def tidy_prices(
    raw: pd.DataFrame, shape: InputShape | None = None, *, source: str = "<frame>",
    report: CleaningReport | None = None,
) -> pd.DataFrame:
    """A prices table of any accepted shape -> long frame (n, k) with finfusion's column names
    (date, ticker, price fields, extra columns), fresh index, values as in the table (not yet
    validated: see `finfusion.data.schema.validate_prices`). Empty wide cells are counted in
    `report`, and how the table was read is recorded there (`report.reads`)."""
    return tidy_prices_located(raw, shape, source=source, report=report)[0]


def tidy_prices_located(
    raw: pd.DataFrame, shape: InputShape | None, *, source: str, report: CleaningReport | None
) -> tuple[pd.DataFrame, Sequence[str] | None]:
    """`tidy_prices`, and for a wide table where each long row came from ("row 3 of ticker
    column 'AAPL'"), for error messages; None for a long table (row i is the table's row i)."""
    shape = shape if shape is not None else InputShape()
    report = report if report is not None else CleaningReport()
    if not isinstance(raw, pd.DataFrame):
        raise DataError(f"{source}: expected a pandas DataFrame, got {type(raw).__name__}")
    if isinstance(raw.columns, pd.MultiIndex):
        if shape.layout == "long":
            raise DataError(f"{source}: layout 'long' declared, but the columns have {raw.columns.nlevels} "
                            "levels; expected one level (a long table) or layout 'auto' / 'wide'")
        return _stack_fields(raw, shape, source, report)
    frame = _index_to_columns(raw, "date")
    layout = _price_layout(frame, shape, source)
    if layout == "wide":
        return _melt(frame, shape, source, report)
    names, renamed = _rename_names(list(frame.columns), shape.columns, PRICE_COLUMNS, source=source, optional=("ticker",))
    frame = frame.set_axis(names, axis=1)
    if layout == "long_one_ticker":
        frame.insert(min(1, frame.shape[1]), "ticker", shape.ticker)
        report.read(source, "prices", layout, f"long table of one ticker (no ticker column): ticker {shape.ticker!r}"
                    + renamed)
    else:
        _check_own_ticker(frame["ticker"], shape.ticker, source, what="the ticker column")
        if renamed:
            report.read(source, "prices", "long", "long table" + renamed)
    return frame, None


def _price_layout(frame: pd.DataFrame, shape: InputShape, source: str) -> str:
    """"long", "long_one_ticker" or "wide" for a one-level table (see the module docstring)."""
    names = _read_names(frame.columns, shape.columns, PRICE_COLUMNS)
    has_ticker = "ticker" in names
    if shape.layout == "wide":
        if has_ticker:
            raise DataError(f"{source}: layout 'wide' declared, but the table has a ticker column; a wide table "
                            f"has one column per ticker (columns: {_shown(frame.columns)}); use layout 'long'")
        return "wide"
    if has_ticker:
        return "long"
    fields = [n for n in names if n != "date"]
    if shape.layout == "long" or (fields and set(fields) <= set(PRICE_FIELDS)):
        if shape.ticker is None:
            raise DataError(
                f"{source}: the table has no ticker column (columns: {_shown(frame.columns)}), so it is one "
                f"ticker's table; declare that ticker (data.ticker / InputShape(ticker=...)), or map the "
                f"ticker column ({MAPPING}: {{ticker: <column>}})" + _absent_note(frame, shape))
        return "long_one_ticker"
    if any(n in PRICE_FIELDS for n in fields):
        raise DataError(
            f"{source}: cannot tell the layout: no ticker column, and the columns {_shown(frame.columns)} mix "
            "price field names (open, high, low, close, adj_close, volume) with others; declare layout 'long' "
            "(with a ticker column mapped, or one declared ticker) or layout 'wide' (one column per ticker)"
            + _absent_note(frame, shape))
    return "wide"


def _melt(frame: pd.DataFrame, shape: InputShape, source: str, report: CleaningReport) -> tuple[pd.DataFrame, _Cells]:
    """A wide table (date column + one column per ticker) -> long (date, ticker, wide_value)."""
    date_col = _wide_date_column(frame, shape, source)
    cols = [c for c in frame.columns if c != date_col]
    tickers = _ticker_labels(cols, source, what="ticker column")
    _check_own_ticker(pd.Series(tickers, dtype="object"), shape.ticker, source, what="the wide table's columns")
    value = shape.wide_value
    long = pd.DataFrame({
        "date": pd.concat([frame[date_col]] * len(cols), ignore_index=True),
        "ticker": np.repeat(np.array(tickers, dtype=object), len(frame)),
        value: pd.concat([frame[c] for c in cols], ignore_index=True),
    })
    where = _Cells(np.tile(np.arange(len(frame)), len(cols)), long["ticker"].to_numpy(), "ticker column")
    long, where = _drop_empty(long, where, [value], source, report)
    if value == "adj_close":
        long.insert(2, "close", long["adj_close"])
    detail = f"wide table: {len(tickers)} tickers, cells = {value}" + ("; close = adj_close" if value == "adj_close" else "")
    report.read(source, "prices", "wide", detail)
    return long, where


def _stack_fields(
    raw: pd.DataFrame, shape: InputShape, source: str, report: CleaningReport
) -> tuple[pd.DataFrame, _Cells]:
    """Columns (field, ticker) or (ticker, field), dates as the index -> long (date, ticker, fields)."""
    if raw.columns.nlevels != 2:
        raise DataError(f"{source}: the columns have {raw.columns.nlevels} levels; expected 2 (field, ticker)")
    dates = raw.index
    if not isinstance(dates, pd.DatetimeIndex):
        raise DataError(f"{source}: a table with (field, ticker) columns needs its dates as the index (a "
                        f"DatetimeIndex, as yfinance.download returns); got a {type(dates).__name__}")
    level = _field_level(raw.columns, shape, source)
    labels = list(dict.fromkeys(raw.columns.get_level_values(level)))
    names, renamed = _rename_names(labels, shape.columns, PRICE_FIELDS, source=source, optional=())
    field_of = dict(zip(labels, names))
    raw_tickers = list(dict.fromkeys(raw.columns.get_level_values(1 - level)))
    tickers = _ticker_labels(raw_tickers, source, what="ticker label")
    _check_own_ticker(pd.Series(tickers, dtype="object"), shape.ticker, source, what="the table's tickers")
    parts = []
    for raw_ticker, ticker in zip(raw_tickers, tickers):
        part = raw.xs(raw_ticker, axis=1, level=1 - level, drop_level=True)
        part = part.rename(columns=field_of).reset_index(drop=True)
        part.insert(0, "ticker", ticker)
        part.insert(0, "date", pd.Series(dates.array, index=part.index))
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    where = _Cells(np.tile(np.arange(len(raw)), len(tickers)), long["ticker"].to_numpy(), "ticker")
    long, where = _drop_empty(long, where, [c for c in PRICE_NAMES if c in long.columns], source, report)
    order = [c for c in PRICE_COLUMNS if c in long.columns]
    long = long[order + [c for c in long.columns if c not in order]]
    report.read(source, "prices", "wide_fields",
                f"wide table with (field, ticker) columns: {len(tickers)} tickers, fields {names}" + renamed)
    return long, where


def _field_level(columns: pd.MultiIndex, shape: InputShape, source: str) -> int:
    """Which of two column levels holds the price fields (the other holds the tickers)."""
    mapped = {v for k, v in shape.columns.items() if k in PRICE_FIELDS}

    def fieldish(i: int) -> bool:
        labels = columns.get_level_values(i).unique()
        return any(str(v) in mapped or normalise_column_name(v) in PRICE_FIELDS for v in labels)

    candidates = [i for i in (0, 1) if fieldish(i)]
    named = [i for i in (0, 1) if normalise_column_name(columns.names[i] or "") in ("ticker", "tickers", "symbol")]
    if len(candidates) == 2 and len(named) == 1:
        candidates = [1 - named[0]]
    if len(candidates) != 1:
        shown = "; ".join(f"level {i} ({columns.names[i]}): {_shown(list(columns.get_level_values(i).unique()))}"
                          for i in (0, 1))
        raise DataError(f"{source}: cannot tell which column level holds the price fields (open, high, low, close, "
                        f"adj_close, volume) and which the tickers - {shown}; expected exactly one level of field "
                        "names (name the ticker level 'Ticker' if both look like fields)")
    return candidates[0]


def _wide_date_column(frame: pd.DataFrame, shape: InputShape, source: str) -> object:
    """The raw name of a wide table's date column (mapped, or the one that normalises to 'date')."""
    fields = [k for k in shape.columns if k in PRICE_FIELDS]
    if fields:
        raise DataError(f"{source}: {MAPPING} maps {fields}, but a wide table has one column per ticker (cells = "
                        f"wide_value {shape.wide_value!r}); remove those keys or declare layout 'long'")
    mapped = shape.columns.get("date")
    found = [c for c in frame.columns if (str(c) == mapped if mapped else normalise_column_name(c) == "date")]
    if mapped and not found:
        raise DataError(_absent(source, "date", mapped, frame.columns))
    if len(found) != 1:
        raise DataError(
            f"{source}: a wide table needs one date column; found {len(found)} among {_shown(frame.columns)}; "
            f"name it 'date', map it ({MAPPING}: {{date: <column>}}) or, for a DataFrame, use a DatetimeIndex")
    return found[0]


def _drop_empty(
    long: pd.DataFrame, where: _Cells, values: list[str], source: str, report: CleaningReport
) -> tuple[pd.DataFrame, _Cells]:
    """Drop the (date, ticker) rows without any of `values` (empty cells of a wide table) and count them."""
    empty = np.full(len(long), bool(values))
    for col in values:
        empty &= _missing(long[col])
    positions = np.flatnonzero(empty)
    report.add("tidy_prices", f"{source}: {WIDE_EMPTY}", len(positions), tuple(where[p] for p in positions[:3]))
    keep = np.flatnonzero(~empty)
    return long.iloc[keep].reset_index(drop=True), where.take(keep)


@dataclass(frozen=True)
class _Cells(Sequence):
    """Where each long row of a wide table came from, (n,) labels made on demand (messages only):
    "row 3 of ticker column 'AAPL'" (`rows` 0-based table rows, `tickers` Python str)."""

    rows: np.ndarray
    tickers: np.ndarray
    label: str

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):  # type: ignore[override] - positions only
        return f"row {int(self.rows[i]) + 1} of {self.label} {self.tickers[i]!r}"

    def take(self, positions: np.ndarray) -> _Cells:
        return _Cells(self.rows[positions], self.tickers[positions], self.label)


def _missing(cells: pd.Series) -> np.ndarray:
    """(n,) bool: empty cells - missing, or text that is blank or 'nan' (any case)."""
    if pd.api.types.is_numeric_dtype(cells):
        return cells.isna().to_numpy()
    obj = cells.astype("object")
    text = obj.map(lambda v: v.strip().lower() if isinstance(v, str) else None)
    return (cells.isna() | text.isin(["", "nan"])).to_numpy()


def _ticker_labels(labels: Sequence[object], source: str, *, what: str) -> list[str]:
    """Ticker column names / labels as written (stripped, case kept); DataError if blank or repeated."""
    tickers = [str(t).strip() for t in labels]
    if not tickers or not all(tickers):
        raise DataError(f"{source}: a wide table needs a non-blank ticker per {what}; got {_shown(labels)}")
    repeated = sorted({t for t in tickers if tickers.count(t) > 1})
    if repeated:
        raise DataError(f"{source}: {what}(s) {repeated} appear twice; expected one column per ticker")
    return tickers


def _check_own_ticker(tickers: pd.Series, declared: str | None, source: str, *, what: str) -> None:
    """A declared ticker must be one of the table's own tickers (catches a typo such as 'APPL')."""
    if declared is None:
        return
    own = set(tickers.dropna().astype(str).str.strip())
    if declared not in own:
        raise DataError(f"{source}: ticker {declared!r} is declared, but {what} hold(s) other tickers "
                        f"{sorted(own)[:10]}; expected the declared ticker among them")


# ---------------------------------------------------------------------------------------------
# texts


def tidy_texts(
    raw: pd.DataFrame, shape: InputShape | None = None, *, source: str = "<frame>", tickers: Sequence[str] = (),
    timezone: str | None = None, report: CleaningReport | None = None, timestamp_format: str | None = None,
) -> pd.DataFrame:
    """A texts table -> frame (n, k) with finfusion's column names and a ticker column, fresh
    index (not yet validated: see `finfusion.data.schema.validate_texts`).

    tickers   the prices' tickers: a table without a ticker column belongs to the declared
              `shape.ticker`, else to the only one of these; several (or none) -> DataError.
    timezone  the market time zone (IANA), needed with `shape.text_time`: date-only timestamps
              (see `finfusion.data.dates.date_only_days`, `timestamp_format` as declared for
              the file) become that local time of their day; full timestamps keep theirs.
    """
    shape = shape if shape is not None else InputShape()
    report = report if report is not None else CleaningReport()
    if not isinstance(raw, pd.DataFrame) or isinstance(raw.columns, pd.MultiIndex):
        raise DataError(f"{source}: expected a pandas DataFrame with one level of column names, got {type(raw).__name__}"
                        + (f" with {raw.columns.nlevels} levels" if isinstance(raw, pd.DataFrame) else ""))
    frame = _index_to_columns(raw, "timestamp")
    names, renamed = _rename_names(list(frame.columns), shape.columns, TEXT_KEYS, source=source, optional=("ticker",))
    frame = frame.set_axis(names, axis=1)
    notes = [renamed.removeprefix("; ")] if renamed else []
    tickers = [str(t) for t in tickers]
    if tickers:
        _check_own_ticker(pd.Series(tickers, dtype="object"), shape.ticker, source, what="the prices' tickers")
    if "ticker" not in frame.columns:
        ticker = _texts_ticker(frame, shape, tickers, source)
        frame.insert(min(1, frame.shape[1]), "ticker", ticker)
        notes.append(f"no ticker column: every text belongs to {ticker!r}")
    if shape.text_time is not None and "timestamp" in frame.columns:
        if timezone is None:
            raise ConfigError(f"text_time={shape.text_time!r} is a local time in the market time zone; pass "
                              "timezone= (a run passes market.timezone)")
        frame["timestamp"], n = date_only_at(frame["timestamp"], shape.text_time, timezone, source=source,
                                             timestamp_format=timestamp_format)
        if n:
            notes.append(f"{n} date-only timestamp(s) read as {shape.text_time} {timezone} (text_time)")
    if notes:
        report.read(source, "texts", "long", "texts: " + "; ".join(notes))
    return frame


def _texts_ticker(frame: pd.DataFrame, shape: InputShape, tickers: list[str], source: str) -> str:
    """The ticker of every text of a table without a ticker column."""
    if shape.ticker is not None:
        return shape.ticker
    if len(set(tickers)) == 1:
        return tickers[0]
    known = f"the prices have {len(set(tickers))} tickers {sorted(set(tickers))[:10]}" if tickers else \
        "no tickers were given (tickers=)"
    raise DataError(
        f"{source}: the texts have no ticker column (columns: {_shown(frame.columns)}) and {known}; expected "
        f"one of: map the column holding each text's ticker ({MAPPING}: {{ticker: <column>}}); declare the one "
        "ticker all texts belong to (data.ticker / InputShape(ticker=...)); or use prices of one ticker"
        + _absent_note(frame, shape))


# ---------------------------------------------------------------------------------------------
# columns


def _index_to_columns(raw: pd.DataFrame, default: str) -> pd.DataFrame:
    """A datetime index (or a row MultiIndex with a datetime level) becomes leading column(s) -
    an unnamed datetime level is called `default` - unless the table already has columns of
    those names (then the columns hold the data and the index is dropped). Fresh RangeIndex."""
    idx = raw.index
    levels = [idx.get_level_values(i) for i in range(idx.nlevels)]
    if not any(isinstance(lv, pd.DatetimeIndex) for lv in levels):
        return raw.reset_index(drop=True)
    names = [lv.name if lv.name is not None else (default if isinstance(lv, pd.DatetimeIndex) else f"level_{i}")
             for i, lv in enumerate(levels)]
    taken = {normalise_column_name(c) for c in raw.columns}
    if any(normalise_column_name(n) in taken for n in names):
        return raw.reset_index(drop=True)
    out = raw.reset_index(drop=True)
    for i, (name, lv) in enumerate(zip(names, levels)):
        out.insert(i, name, pd.Series(lv.array, index=out.index))
    return out


def _read_names(columns: pd.Index, mapping: Mapping[str, str], keys: Sequence[str]) -> list[str]:
    """The finfusion name each column would get (mapped key, else the normalised name)."""
    applied = {name: key for key, name in mapping.items() if key in keys}
    return [applied.get(str(c)) or normalise_column_name(c) for c in columns]


def _rename_names(
    columns: list, mapping: Mapping[str, str], keys: Sequence[str], *, source: str, optional: Sequence[str]
) -> tuple[list[str], str]:
    """Finfusion names for `columns`: a mapped column gets its key (exact match on the name as
    written), every other column its normalised name. A mapped name that is absent (unless its
    key is `optional`) or a second column read as a mapped key raises DataError."""
    present = [str(c) for c in columns]
    applied: dict[str, str] = {}
    for key, name in mapping.items():
        if key not in keys:
            continue
        if name in present:
            applied[name] = key
        elif key not in optional:
            raise DataError(_absent(source, key, name, columns))
    for raw_name in present:
        clash = normalise_column_name(raw_name)
        if raw_name not in applied and clash in applied.values():
            mapped = next(n for n, k in applied.items() if k == clash)
            advice = (" (to use the adjusted close, keep close and adj_close and set target.price_column: adj_close)"
                      if clash in ("close", "adj_close") else "")
            raise DataError(f"{source}: {MAPPING} maps {clash} -> {mapped!r}, but the table also has the column "
                            f"{raw_name!r}, read as {clash!r}; expected one column per name: remove one of them "
                            f"from the table or map {clash} to the other{advice}")
    names = [applied.get(n) or normalise_column_name(n) for n in present]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise DataError(f"{source}: columns {present[names.index(name)]!r} and {present[i]!r} both normalise "
                            f"to {name!r}; expected unique column names")
    note = "; ".join(f"{k} <- {n!r}" for n, k in applied.items())
    return names, (f"; columns mapped: {note}" if note else "")


def _absent(source: str, key: str, name: str, columns: Sequence[object]) -> str:
    return (f"{source}: {MAPPING} maps {key} -> {name!r}, but the table has no column {name!r}; columns present: "
            f"{_shown(columns)} (mapped names are matched exactly as written)")


def _absent_note(frame: pd.DataFrame, shape: InputShape) -> str:
    """A reminder that the mapped ticker column is not in this table."""
    name = shape.columns.get("ticker")
    if name is None or name in [str(c) for c in frame.columns]:
        return ""
    return f" ({MAPPING} maps ticker -> {name!r}, which is not a column of this table)"


def _shown(columns: Sequence[object], limit: int = 12) -> str:
    names = [str(c) for c in columns]
    return str(names[:limit])[:-1] + (f", ... {len(names) - limit} more]" if len(names) > limit else "]")
