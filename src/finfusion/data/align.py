"""Causal alignment of texts to trading sessions, and the daily newsflow string per (date, ticker).

The rule: **a feature of day t uses only texts published at or before the close of day t.**

`align_texts` gives each text the session ``date`` whose close is the first close at or after
the text's timestamp. The close of session d is ``d + close_time`` local time in ``timezone``
(default 16:00 America/New_York, DST handled by the zone). So a text published exactly at the
close belongs to that day, one second later to the next session; weekend and holiday texts
roll forward to the next session; texts after the last session's close are dropped and
counted. Early closes (half days) are not modelled: every session closes at ``close_time``.

Texts published before the first session's close belong to sessions before the data: the
calendar is extended backwards (weekdays, or the exchange's sessions for a calendar from
`TradingCalendar.from_exchange`), and such a text is kept - aligned to the first session - only
if the first session's newsflow reaches back to its session, i.e. if it was published after the
close of the ``lookback_days``-th session before the first one (lookback_days = 1: only texts
after the previous weekday's close). Older texts (e.g. a 1990 text for 2020 prices) are dropped
and counted. With lookback_days > 1 a kept pre-data text counts as a text of the first session
in `build_newsflow` (so it may stay in the windows of the first lookback_days sessions).

Tickers are matched exactly, case included: with `tickers=` (the price tickers), the texts of
other tickers are dropped and counted, and a ticker that matches a price ticker only up to case
('aapl' vs 'AAPL') is named in its own report record.

`build_newsflow` then joins, for every (date t, ticker) row of a panel, the texts aligned to
the last ``lookback_days`` sessions up to and including t - so it never sees a text published
after the close of t.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from finfusion.data.calendar import TradingCalendar
from finfusion.data.frames import CleaningReport
from finfusion.data.schema import check_timezone
from finfusion.errors import ConfigError, DataError

Order = Literal["oldest_first", "newest_first"]
STEP = "align_texts"


def session_closes(
    calendar: TradingCalendar, *, close_time: str = "16:00", timezone: str = "America/New_York"
) -> pd.DatetimeIndex:
    """The close of every session, (n_sessions,) DatetimeIndex in UTC."""
    check_timezone(timezone)
    offset = _close_offset(close_time)
    local = calendar.sessions + offset
    try:
        closes = local.tz_localize(timezone, ambiguous="raise", nonexistent="raise")
    except (ValueError, TypeError) as exc:  # a close time inside a DST gap / overlap
        raise ConfigError(
            f"close_time={close_time!r} does not exist exactly once in {timezone} on some day: {exc}"
        ) from exc
    return closes.tz_convert("UTC").as_unit("ns")


def align_texts(
    texts: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    close_time: str = "16:00",
    timezone: str = "America/New_York",
    tickers: Iterable[str] | None = None,
    lookback_days: int = 1,
    report: CleaningReport | None = None,
) -> pd.DataFrame:
    """Add column `date` (datetime64[ns], a session) to a validated texts frame; see the module rule.

    texts     validated texts frame (tz-aware `timestamp`, `ticker`, `text`, ...), n rows
    calendar  the sessions to align to
    tickers   optional set of tickers to keep (exact match); texts of other tickers are dropped
              and counted (case-only mismatches in their own record)
    lookback_days  the newsflow look-back in sessions (>= 1): how far before the first session a
              text may have been published and still be kept
    report    receives the counts of dropped texts (unknown ticker, before the first session's
              look-back, after the last close)
    Returns the kept rows (order kept, fresh index) with the extra column `date`.
    """
    _require_columns(texts, ("timestamp", "ticker", "text"), "align_texts: texts")
    _check_newsflow_args(lookback_days, None, None, None, "oldest_first")
    if not len(calendar):
        raise DataError("align_texts: the trading calendar has no sessions (no price rows?)")
    stamps = pd.DatetimeIndex(texts["timestamp"])
    if stamps.tz is None:
        raise DataError(
            "align_texts: texts 'timestamp' is tz-naive; validate the texts first "
            "(validate_texts / read_texts, with default_tz= for naive times)"
        )
    if stamps.hasnans:
        raise DataError(f"align_texts: {int(stamps.isna().sum())} text(s) have no timestamp; validate the texts first")
    report = report if report is not None else CleaningReport()
    keep = np.ones(len(texts), dtype=bool)
    if tickers is not None:
        keep &= _known_tickers(texts["ticker"], tickers, report)
    utc = stamps.tz_convert("UTC").as_unit("ns").asi8
    closes = session_closes(calendar, close_time=close_time, timezone=timezone)
    if (keep & (utc <= closes[0].value)).any():  # texts before the first close: from sessions before the data?
        keep &= ~_before_lookback(texts, stamps, utc, keep, calendar, lookback_days, close_time, timezone, report)
    pos = np.searchsorted(closes.asi8, utc, side="left")
    late = keep & (pos >= len(closes))
    if late.any():
        last = calendar.sessions[-1].date()
        reason = f"published after the close of the last session {last} ({closes[-1].isoformat()})"
        report.add(STEP, reason, int(late.sum()), _text_examples(texts, stamps, late))
    keep &= ~late
    out = texts.loc[keep].copy()
    out["date"] = calendar.sessions.values[pos[keep]]
    return out.reset_index(drop=True)


def _known_tickers(ticker: pd.Series, tickers: Iterable[str], report: CleaningReport) -> np.ndarray:
    """Mask of texts whose ticker is in `tickers` (exact match); the others are counted, those
    matching a given ticker only up to case in their own record naming both spellings."""
    allowed = {str(t) for t in tickers}
    known = ticker.isin(allowed).to_numpy()
    by_lower = {}
    for t in sorted(allowed):
        by_lower.setdefault(t.lower(), t)
    names = ticker.astype(str).to_numpy(dtype=object)
    folded = ticker.astype(str).str.lower().isin(set(by_lower)).to_numpy() & ~known
    other = ~known & ~folded
    unknown = tuple(map(str, pd.unique(names[other])[:3]))
    report.add(STEP, "ticker not among the given tickers", int(other.sum()), unknown)
    if folded.any():
        pairs = [f"{t!r} in the texts, {by_lower[t.lower()]!r} in the prices" for t in pd.unique(names[folded])]
        shown = "; ".join(pairs[:3]) + (f"; and {len(pairs) - 3} more" if len(pairs) > 3 else "")
        reason = (f"ticker differs from a price ticker only in case ({shown}): "
                  "tickers are matched exactly, case included")
        report.add(STEP, reason, int(folded.sum()), tuple(map(str, pd.unique(names[folded])[:3])))
    return known


def _before_lookback(
    texts: pd.DataFrame, stamps: pd.DatetimeIndex, utc: np.ndarray, keep: np.ndarray, calendar: TradingCalendar,
    lookback_days: int, close_time: str, timezone: str, report: CleaningReport,
) -> np.ndarray:
    """Mask of texts published at or before the close of the `lookback_days`-th session before
    the first one (outside the first session's newsflow); counted in `report`."""
    prior = TradingCalendar(calendar.sessions_before(lookback_days)[:1])
    limit = session_closes(prior, close_time=close_time, timezone=timezone)[0]
    old = keep & (utc <= limit.value)
    if old.any():
        kind = f"exchange {calendar.exchange}" if calendar.exchange else "weekdays"
        reason = (
            f"published at or before {limit.isoformat()}, the close of {prior.first.date()} ({lookback_days} "
            f"session(s) before the first session {calendar.first.date()}, {kind}): older than the text "
            f"look-back of the first session (lookback_days={lookback_days}); texts before the price data "
            "cannot enter any newsflow"
        )
        report.add(STEP, reason, int(old.sum()), _text_examples(texts, stamps, old))
    return old


def _text_examples(texts: pd.DataFrame, stamps: pd.DatetimeIndex, mask: np.ndarray) -> tuple[str, ...]:
    return tuple(f"{t} {s.isoformat()}" for t, s in zip(texts["ticker"][mask][:3], stamps[mask][:3]))


def build_newsflow(
    aligned: pd.DataFrame,
    panel: pd.DataFrame,
    *,
    lookback_days: int = 1,
    max_items: int | None = None,
    max_item_chars: int | None = None,
    max_chars: int | None = None,
    separator: str = " | ",
    order: Order = "oldest_first",
    calendar: TradingCalendar | None = None,
) -> pd.DataFrame:
    """One newsflow string per row of `panel`: the texts of that ticker over a look-back window.

    aligned   output of `align_texts` (timestamp, ticker, text, date)
    panel     frame with columns date, ticker (e.g. the prices), m rows
    Row i of the result describes panel row i: date, ticker, text, n_texts. `text` joins (with
    `separator`) the texts of the ticker aligned to the last `lookback_days` sessions up to and
    including the panel date (sessions from `calendar`, else the panel's dates; a text aligned
    to a non-session day counts from the next session). With more than `max_items` texts the
    most recent are kept; each item is cut at `max_item_chars`, the joined string at
    `max_chars` (from its start: with order="newest_first" the newest text survives).
    n_texts is the number of items joined; `items` the tuple of those texts (in `order`, each cut
    at `max_item_chars`; `max_chars` does not apply). No text -> "", 0 and ().
    """
    _check_newsflow_args(lookback_days, max_items, max_item_chars, max_chars, order)
    _require_columns(aligned, ("timestamp", "ticker", "text", "date"), "build_newsflow: aligned texts")
    _require_columns(panel, ("date", "ticker"), "build_newsflow: panel")
    sessions = (calendar or TradingCalendar.from_prices(panel)).sessions
    panel_dates = pd.DatetimeIndex(pd.to_datetime(panel["date"])).as_unit("ns")
    panel_pos = sessions.get_indexer(panel_dates)
    if (panel_pos < 0).any():
        bad = panel_dates[panel_pos < 0]
        raise DataError(f"build_newsflow: {len(bad)} panel date(s) are not sessions of the calendar, e.g. {bad[0].date()}")
    panel_tickers = panel["ticker"].astype(str).to_numpy(dtype=object)
    names = pd.Index(pd.unique(panel_tickers))
    n_sessions = len(sessions)
    keys, starts, ends, items = _window_items(aligned, sessions, names, lookback_days, max_items, order)
    if max_item_chars is not None:
        items = [t[:max_item_chars] for t in items]
    joined = [separator.join(items[a:b]) for a, b in zip(starts, ends)]
    if max_chars is not None:
        joined = [s[:max_chars] for s in joined]
    panel_keys = names.get_indexer(panel_tickers).astype("int64") * (n_sessions + 1) + panel_pos
    text, n_texts = _lookup(keys, np.asarray(joined, dtype=object), ends - starts, panel_keys)
    item_lists = [()] * len(panel_keys)
    if len(keys):
        where = np.minimum(np.searchsorted(keys, panel_keys), len(keys) - 1)
        for i in np.flatnonzero(keys[where] == panel_keys):
            item_lists[i] = tuple(items[starts[where[i]]:ends[where[i]]])
    return pd.DataFrame(
        {"date": panel_dates.values, "ticker": pd.Series(panel_tickers, dtype="str").values,
         "text": pd.Series(text, dtype="str").values, "n_texts": n_texts, "items": item_lists}
    )


def _window_items(
    aligned: pd.DataFrame,
    sessions: pd.DatetimeIndex,
    names: pd.Index,
    lookback_days: int,
    max_items: int | None,
    order: Order,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Each text copied into the `lookback_days` windows that contain it, grouped by window.

    A window is (ticker code c, session position p), key = c * (n_sessions + 1) + p.
    Returns sorted unique keys (G,), group starts and ends (G,) into `items`, and the item texts
    (ordered by time within a group as `order` says, capped at the newest `max_items`).
    """
    n_sessions = len(sessions)
    code = names.get_indexer(aligned["ticker"].astype(str).to_numpy(dtype=object))
    text_pos = sessions.searchsorted(pd.DatetimeIndex(aligned["date"]).as_unit("ns"), side="left")
    sel = np.flatnonzero((code >= 0) & (text_pos < n_sessions))
    src = np.repeat(sel, lookback_days)
    pos = text_pos[src] + np.tile(np.arange(lookback_days), len(sel))
    ok = pos < n_sessions
    src, pos = src[ok], pos[ok]
    key = code[src].astype("int64") * (n_sessions + 1) + pos
    ts = pd.DatetimeIndex(aligned["timestamp"]).as_unit("ns").asi8[src]
    perm = np.lexsort((src, ts, key))  # by window, then oldest first (ties: input order)
    src, key = src[perm], key[perm]
    if max_items is not None:
        _, starts, ends = _groups(key)
        rank_from_end = np.repeat(ends, ends - starts) - np.arange(len(key)) - 1
        newest = rank_from_end < max_items
        src, key = src[newest], key[newest]
    keys, starts, ends = _groups(key)
    if order == "newest_first":  # reverse each group in place: index i -> start + end - 1 - i
        src = src[np.repeat(starts + ends - 1, ends - starts) - np.arange(len(key))]
    texts = aligned["text"].to_numpy(dtype=object)
    return keys, starts, ends, [str(t) for t in texts[src]]


def _lookup(
    keys: np.ndarray, joined: np.ndarray, counts: np.ndarray, wanted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each wanted key (m,), the joined text and its count where `keys` (sorted) has it, else "" and 0."""
    text = np.full(len(wanted), "", dtype=object)
    n_texts = np.zeros(len(wanted), dtype="int64")
    if len(keys):
        where = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        hit = keys[where] == wanted
        text[hit] = joined[where[hit]]
        n_texts[hit] = counts[where[hit]]
    return text, n_texts


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal values in a sorted int array: (values, starts, ends)."""
    if not len(key):
        empty = np.zeros(0, dtype="int64")
        return empty, empty, empty
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    return key[starts], starts, ends


def _close_offset(close_time: str | dt.time) -> pd.Timedelta:
    try:
        t = close_time if isinstance(close_time, dt.time) else dt.time.fromisoformat(str(close_time))
    except ValueError as exc:
        raise ConfigError(f"close_time={close_time!r}; expected a local time such as '16:00'") from exc
    if t.tzinfo is not None:
        raise ConfigError(f"close_time={close_time!r} must not carry a time zone; use timezone=")
    return pd.Timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _check_newsflow_args(
    lookback_days: int, max_items: int | None, max_item_chars: int | None, max_chars: int | None, order: str
) -> None:
    if not isinstance(lookback_days, (int, np.integer)) or lookback_days < 1:
        raise ConfigError(f"lookback_days={lookback_days!r}; expected an integer >= 1 (sessions)")
    for name, value in (("max_items", max_items), ("max_item_chars", max_item_chars), ("max_chars", max_chars)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ConfigError(f"{name}={value!r}; expected None or an integer >= 1")
    if order not in ("oldest_first", "newest_first"):
        raise ConfigError(f"order={order!r}; expected 'oldest_first' or 'newest_first'")


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lack column(s) {missing}; found {list(frame.columns)}")
