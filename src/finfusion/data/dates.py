"""Parsing of price dates and text timestamps: ISO 8601 by default, other formats only when declared.

A date such as 08/01/2020 is ambiguous (8 January or 1 August?), and guessing silently gave
wrong dates, so text cells are read in exactly one of two ways:

* no format declared: ISO 8601 only -
  ``YYYY-MM-DD``, optionally followed by a time ``THH:MM[:SS[.fffffffff]]`` (or a space instead
  of the ``T``) and, after a time, an offset ``Z`` / ``+HH:MM`` / ``+HHMM`` / ``+HH``; or the
  compact date ``YYYYMMDD`` (also as an integer 20140102 in a prices file).
* a declared strftime format (``date_format="%d/%m/%Y"``, ``timestamp_format="%m/%d/%Y %H:%M %z"``):
  every text cell must match it exactly.

Datetime-typed columns (Parquet timestamps, pandas datetime64) and datetime / date objects are
unambiguous and always accepted as price dates.

A text timestamp that is a date only (``2015-01-02``, ``20150102``, a `datetime.date`, a naive
datetime64 column whose values are all midnight, or a declared format without a time such as
``%d/%m/%Y``) does not say when the text became available; read as midnight it would put the
text before the session it may describe. `date_only_days` finds such cells; the caller refuses
them unless a local time of availability (``text_time``, `parse_hhmm`) is declared. Values that cannot be read become NaT; the caller
(`finfusion.data.schema`) turns them into row problems with `date_expected` /
`timestamp_expected` and the hint of `iso_hint`. Representable years: 1678-2261
(datetime64[ns]); values outside become NaT too.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import numpy as np
import pandas as pd

from finfusion.errors import ConfigError, DataError

_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
ISO_NAIVE = re.compile(rf"{_DATE}(?:{_TIME})?|\d{{8}}")
ISO_AWARE = re.compile(rf"{_DATE}{_TIME}{_OFFSET}")

_NS_MIN, _NS_MAX = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")
YEARS = "years 1678-2261"


def check_timezone(name: str, *, what: str = "timezone") -> str:
    """Return `name` if it is a known IANA time zone, else raise ConfigError naming it."""
    try:
        zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{what}={name!r} is not a known time zone; expected an IANA name such as "
            "'UTC' or 'America/New_York'"
        ) from exc
    return str(name)


def check_format(fmt: str | None, *, what: str) -> str | None:
    """Return `fmt` if it is None or a strftime format (a string with a % directive), else ConfigError."""
    if fmt is None:
        return None
    if not isinstance(fmt, str) or "%" not in fmt:
        raise ConfigError(
            f"{what}={fmt!r} is not a strftime format; expected a string of % directives such as "
            "'%d/%m/%Y' (31/12/2020) or '%m/%d/%Y %H:%M %z' (12/31/2020 15:59 -0500)"
        )
    return fmt


def date_expected(date_format: str | None) -> str:
    """What a price date must look like (the 'expected ...' part of an error)."""
    if date_format is not None:
        return f"a date in the declared date_format {date_format!r} ({YEARS})"
    return f"an ISO 8601 date YYYY-MM-DD such as 2014-01-02, or YYYYMMDD ({YEARS})"


def timestamp_expected(timestamp_format: str | None) -> str:
    """What a text timestamp must look like (the 'expected ...' part of an error)."""
    if timestamp_format is not None:
        return f"a timestamp in the declared timestamp_format {timestamp_format!r} ({YEARS})"
    return (
        "an ISO 8601 timestamp such as 2014-01-02T15:59:00-05:00, 2014-01-02T20:59:00Z or "
        f"2014-01-02 20:59:00+00:00 ({YEARS})"
    )


def iso_hint(kind: str) -> str:
    """How to declare a non-ISO format; `kind` is "date" (prices) or "timestamp" (texts)."""
    if kind == "date":
        return (
            "dates other than ISO 8601 must be declared: 08/01/2020 could be 8 January or 1 August, so "
            "give the file's format as date_format='%d/%m/%Y' (day first) or '%m/%d/%Y' (month first) - "
            "run config key data.date_format, CLI option --date-format"
        )
    return (
        "timestamps other than ISO 8601 must be declared: give the file's strftime format, e.g. "
        "timestamp_format='%d/%m/%Y %H:%M %z' - run config key data.timestamp_format, "
        "CLI option --timestamp-format"
    )


# ---------------------------------------------------------------------------------------------
# price dates


def parse_dates(raw: pd.Series, *, date_format: str | None = None) -> pd.Series:
    """Price dates (n,) -> datetime64[ns] tz-naive midnight (n,), NaT where missing or refused.

    An aware value keeps its local calendar day (2014-01-02T23:00+09:00 -> 2014-01-02); a time
    of day is dropped. Integers are read as YYYYMMDD (or with `date_format` as its digits).
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        s = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        return _to_ns(s.dt.normalize())
    text, objects = _split_cells(raw, numbers_as_text=True)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    if date_format is not None:
        days = _strptime_unique(text, date_format)
    else:
        days = _iso_days(text)
    out.loc[days.index] = _to_ns(days).to_numpy()
    local = _objects_local(objects)
    out.loc[local.index] = local.to_numpy()
    return _to_ns(out.dt.normalize())


def _iso_days(text: pd.Series) -> pd.Series:
    """ISO strings -> their local calendar day (datetime64, NaT where invalid); others dropped."""
    iso = text[text.str.fullmatch(ISO_NAIVE.pattern) | text.str.fullmatch(ISO_AWARE.pattern)]
    valid = pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce").notna()
    compact = iso.str.fullmatch(r"\d{8}")
    days = pd.Series(pd.NaT, index=iso.index, dtype="datetime64[ns]")
    days.loc[compact] = _to_ns(pd.to_datetime(iso[compact], format="%Y%m%d", errors="coerce")).to_numpy()
    dashed = iso[~compact]
    days.loc[~compact] = _to_ns(pd.to_datetime(dashed.str[:10], format="%Y-%m-%d", errors="coerce")).to_numpy()
    return days.where(valid)


def _strptime_unique(text: pd.Series, fmt: str) -> pd.Series:
    """Strings read with `datetime.strptime(fmt)` (exact match), each distinct value once;
    an aware result keeps its local wall time. NaT where it does not match."""
    parsed = {}
    for v in pd.unique(text.to_numpy(dtype=object)):
        try:
            parsed[v] = pd.Timestamp(dt.datetime.strptime(v, fmt).replace(tzinfo=None))
        except (ValueError, OverflowError):
            parsed[v] = pd.NaT
    return pd.Series([parsed[v] for v in text], index=text.index, dtype="datetime64[us]")


def _objects_local(objects: pd.Series) -> pd.Series:
    """datetime / date objects -> their local wall time, datetime64[ns] (NaT for anything else)."""
    ok = objects.map(lambda v: isinstance(v, (dt.date, np.datetime64)))
    try:
        parsed = pd.to_datetime(objects[ok], errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
    except (ValueError, TypeError, OverflowError):  # e.g. mixed time zones: one at a time
        parsed = pd.Series([_object_local(v) for v in objects[ok]], index=objects[ok].index, dtype="datetime64[us]")
    return _to_ns(parsed).reindex(objects.index)


def _object_local(v: object) -> pd.Timestamp:
    """A datetime / date object -> its local wall time (naive Timestamp); NaT for anything else."""
    if not isinstance(v, (dt.date, np.datetime64)):
        return pd.NaT
    try:
        ts = pd.Timestamp(v)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT
    ts = ts.tz_localize(None) if ts.tzinfo is not None else ts
    return ts if _NS_MIN <= ts <= _NS_MAX else pd.NaT


# ---------------------------------------------------------------------------------------------
# text timestamps


def parse_timestamps(
    raw: pd.Series, *, timestamp_format: str | None = None, default_tz: str | None = None
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Text timestamps (n,) -> (datetime64[ns, UTC] with NaT where bad, naive mask, bad-local-time mask).

    `naive`: the value has no zone and no `default_tz` was given (an error for the caller).
    With `default_tz` naive values are local times there; one that does not exist or is
    ambiguous at a DST change is NaT and flagged in the third mask. Numbers are refused (their
    unit is unknown).
    """
    idx = raw.index
    aware = pd.Series(pd.NaT, index=idx, dtype="datetime64[ns, UTC]")
    naive = pd.Series(pd.NaT, index=idx, dtype="datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(raw):
        if getattr(raw.dt, "tz", None) is not None:
            aware = _to_ns(raw.dt.tz_convert("UTC"))
        else:
            naive = _to_ns(raw)
    else:
        text, objects = _split_cells(raw, numbers_as_text=False)
        if timestamp_format is not None:
            a, n = _format_stamps(text, timestamp_format)
        else:
            a, n = _iso_stamps(text)
        stamps = objects[objects.map(lambda v: isinstance(v, (dt.datetime, np.datetime64)))]
        zoned = stamps.map(lambda v: getattr(v, "tzinfo", None) is not None)
        parts = ((a, aware), (n, naive), (_objects_stamps(stamps[zoned], utc=True), aware),
                 (_objects_stamps(stamps[~zoned], utc=False), naive))
        for part, into in parts:
            into.loc[part.index] = part.to_numpy()
    return _localise(aware, naive, default_tz)


def _objects_stamps(objects: pd.Series, *, utc: bool) -> pd.Series:
    """datetime objects (all aware, or all naive) -> datetime64[ns, UTC] / datetime64[ns]."""
    return _to_ns(pd.to_datetime(objects, utc=utc, errors="coerce"))


def _iso_stamps(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO strings with an offset -> UTC, without -> naive (NaT where invalid); others dropped."""
    with_zone = text[text.str.fullmatch(ISO_AWARE.pattern)]
    without = text[text.str.fullmatch(ISO_NAIVE.pattern)]
    aware = _to_ns(pd.to_datetime(with_zone, format="ISO8601", utc=True, errors="coerce"))
    naive = _to_ns(pd.to_datetime(without, format="ISO8601", errors="coerce"))
    return aware, naive


def _format_stamps(text: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """Strings read with the declared strftime `fmt` -> (UTC part, naive part)."""
    zoned = "%z" in fmt or "%Z" in fmt
    try:
        parsed = pd.to_datetime(text, format=fmt, utc=zoned, errors="coerce")
    except (ValueError, TypeError):  # e.g. a format pandas' vectorised parser does not take
        parsed = None
    if parsed is None or (zoned and getattr(parsed.dt, "tz", None) is None):
        return _format_stamps_slow(text, fmt)
    empty = text.iloc[:0]
    if zoned:
        return _to_ns(parsed), _to_ns(pd.to_datetime(empty))
    return _to_ns(pd.to_datetime(empty, utc=True)), _to_ns(parsed)


def _format_stamps_slow(text: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """`_format_stamps` one value at a time with `datetime.strptime`."""
    aware: dict = {}
    naive: dict = {}
    for i, v in text.items():
        try:
            ts = pd.Timestamp(dt.datetime.strptime(v, fmt))
        except (ValueError, OverflowError):
            continue
        if ts.tzinfo is not None:
            aware[i] = ts.tz_convert("UTC")
        else:
            naive[i] = ts
    return (_to_ns(pd.Series(aware, dtype="datetime64[us, UTC]")),
            _to_ns(pd.Series(naive, dtype="datetime64[us]")))


def _localise(aware: pd.Series, naive: pd.Series, default_tz: str | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    is_naive = naive.notna()
    local_bad = pd.Series(False, index=aware.index)
    if default_tz is not None and is_naive.any():
        local = naive[is_naive].dt.tz_localize(default_tz, ambiguous="NaT", nonexistent="NaT")
        aware.loc[is_naive] = local.dt.tz_convert("UTC")
        local_bad.loc[is_naive] = local.isna().to_numpy()
        is_naive = pd.Series(False, index=aware.index)
    return aware, is_naive, local_bad


# ---------------------------------------------------------------------------------------------
# date-only text timestamps

HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_TIME_DIRECTIVES = re.compile(r"%[HIMSXcTRr]")
_DATE_ONLY_TEXT = rf"{_DATE}|\d{{8}}"


def parse_hhmm(value: str, *, what: str = "text_time") -> pd.Timedelta:
    """ "16:00" -> Timedelta(16 h): a local time of day written HH:MM (00:00 .. 23:59); ConfigError otherwise."""
    match = HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{what}={value!r}; expected a local time of day HH:MM such as '16:30' (00:00 .. 23:59)")
    return pd.Timedelta(hours=int(match.group(1)), minutes=int(match.group(2)))


def format_has_time(fmt: str) -> bool:
    """Whether the strftime format `fmt` reads a time of day (%H, %I, %M, %S, %X, %c, %T, %R, %r)."""
    return bool(_TIME_DIRECTIVES.search(fmt.replace("%%", "")))


def date_only_days(raw: pd.Series, *, timestamp_format: str | None = None) -> pd.Series:
    """Text timestamps (n,) -> the day (datetime64[ns] naive midnight) of each cell that is a date
    without a time of day, NaT for every other cell (timestamps with a time, missing or unreadable).

    Date-only cells: ISO ``YYYY-MM-DD`` / ``YYYYMMDD`` strings (no format declared), every string
    matching a declared `timestamp_format` that has no time directive, `datetime.date` objects
    (not datetimes), and every value of a naive datetime64 column whose values are all midnight.
    """
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(raw):
        present = raw.dropna()
        if getattr(raw.dt, "tz", None) is None and len(present) and (present == present.dt.normalize()).all():
            out = _to_ns(raw)
        return out
    text, objects = _split_cells(raw, numbers_as_text=False)
    if timestamp_format is None:
        dated = text[text.str.fullmatch(_DATE_ONLY_TEXT)]
        out.loc[dated.index] = _to_ns(pd.to_datetime(dated, format="ISO8601", errors="coerce")).to_numpy()
    elif not format_has_time(timestamp_format):
        out.loc[text.index] = _to_ns(_strptime_unique(text, timestamp_format)).to_numpy()
    dates = objects[objects.map(lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime))]
    if len(dates):
        out.loc[dates.index] = _to_ns(pd.to_datetime(dates.map(pd.Timestamp))).to_numpy()
    return out


def date_only_at(
    raw: pd.Series, local_time: str, timezone: str, *, source: str = "<frame>", timestamp_format: str | None = None
) -> tuple[pd.Series, int]:
    """Text timestamps (n,) with every date-only cell (`date_only_days`) replaced by its day at
    `local_time` ("HH:MM") in `timezone` (aware), other cells unchanged; and how many were replaced.

    A datetime64 column stays datetime64 (aware); any other column becomes objects (the replaced
    cells pandas Timestamps). DataError naming the first row (1-based) whose local time does not
    exist exactly once that day (a DST change)."""
    check_timezone(timezone)
    days = date_only_days(raw, timestamp_format=timestamp_format)
    mask = days.notna()
    if not mask.any():
        return raw, 0
    local = (days[mask] + parse_hhmm(local_time)).dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    if local.isna().any():
        pos = int(np.flatnonzero(mask.to_numpy())[int(np.flatnonzero(local.isna().to_numpy())[0])])
        raise DataError(f"{source}: row {pos + 1}: text_time {local_time} on {days.iloc[pos].date()} does not exist "
                        f"exactly once in {timezone} (a DST change); choose a text_time outside the change hour")
    if pd.api.types.is_datetime64_any_dtype(raw):
        return local.reindex(raw.index), int(mask.sum())
    stamps = raw.astype("object")
    stamps.loc[mask] = pd.Series(list(local), index=local.index, dtype="object")
    return stamps, int(mask.sum())


# ---------------------------------------------------------------------------------------------
# helpers


def _split_cells(raw: pd.Series, *, numbers_as_text: bool) -> tuple[pd.Series, pd.Series]:
    """(stripped strings, other non-missing objects). With `numbers_as_text`, integral numbers
    become their digits (20140102 -> "20140102") and other numbers their repr; else they go
    with the objects (and are refused there)."""
    vals = raw.astype("object")
    present = vals.notna()
    is_str = vals.map(lambda v: isinstance(v, str))
    text = vals[is_str].astype(str).str.strip()
    others = vals[present & ~is_str]
    if not numbers_as_text or not len(others):
        return text, others
    is_num = others.map(lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool))
    text = pd.concat([text, others[is_num].map(_number_text)]).astype(str)
    return text, others[~is_num]


def _number_text(v: object) -> str:
    f = float(v)
    return str(int(f)) if np.isfinite(f) and f.is_integer() else repr(f)


def _to_ns(s: pd.Series) -> pd.Series:
    """Cast a datetime Series to nanosecond resolution; values outside 1678..2261 become NaT."""
    tz = getattr(s.dt, "tz", None)
    if not len(s):
        return s.astype("datetime64[ns]" if tz is None else f"datetime64[ns, {tz}]")
    lo, hi = (_NS_MIN, _NS_MAX) if tz is None else (_NS_MIN.tz_localize("UTC"), _NS_MAX.tz_localize("UTC"))
    s = s.where((s >= lo) & (s <= hi))
    return s.astype("datetime64[ns]" if tz is None else f"datetime64[ns, {tz}]")
