"""`finfusion data check`: read and validate a prices file (and optionally a texts file), align the
texts to the price sessions, and summarise what is there.

`check_data` reads files; `summarize_data` summarises frames already loaded (the CLI's
`data check --config` loads a run config's data with the run's own loader and passes them here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from finfusion.data.align import align_texts
from finfusion.data.calendar import TradingCalendar
from finfusion.data.frames import CleaningReport
from finfusion.data.readers import read_prices, read_texts
from finfusion.data.schema import OnInvalid


def check_data(
    prices_path: str | Path,
    texts_path: str | Path | None = None,
    *,
    close_time: str = "16:00",
    timezone: str = "America/New_York",
    default_tz: str | None = None,
    date_format: str | None = None,
    timestamp_format: str | None = None,
    text_lookback_days: int = 1,
    on_invalid: OnInvalid = "raise",
) -> dict[str, Any]:
    """Read + validate the files, then `summarize_data` them (a JSON-able dict).

    texts_path None: prices only (the text keys are then None). date_format / timestamp_format
    declare non-ISO formats (see `read_prices` / `read_texts`). Raises DataError on bad input
    when on_invalid="raise".
    """
    report = CleaningReport()
    prices = read_prices(prices_path, date_format=date_format, on_invalid=on_invalid, report=report)
    texts = (None if texts_path is None else
             read_texts(texts_path, default_tz=default_tz, timestamp_format=timestamp_format,
                        on_invalid=on_invalid, report=report))
    return summarize_data(prices, texts, report, prices_source=str(prices_path),
                          texts_source=None if texts_path is None else str(texts_path), close_time=close_time,
                          timezone=timezone, text_lookback_days=text_lookback_days)


def summarize_data(
    prices: pd.DataFrame,
    texts: pd.DataFrame | None,
    report: CleaningReport,
    *,
    prices_source: str,
    texts_source: str | None,
    close_time: str = "16:00",
    timezone: str = "America/New_York",
    calendar: str | None = None,
    text_lookback_days: int = 1,
) -> dict[str, Any]:
    """Align already validated frames as a run does and summarise them (a JSON-able dict).

    prices / texts: validated frames (`read_prices` / `read_texts`, or a run's loaded data);
    report: what reading them removed (alignment adds its own records to it). prices_source /
    texts_source: where the frames came from (a path, or e.g. "simulated"); texts None means prices
    only (the text keys are then None). calendar: an exchange_calendars name (a run's
    market.calendar), else the price dates are the sessions. text_lookback_days (sessions, as the
    run's text.lookback_days) sets how far before the first session texts are still kept.
    Keys: prices_path, texts_path (the sources), tickers (count), ticker_list, date_start, date_end
    (ISO dates), sessions, price_rows, texts_read (valid texts), texts_aligned, texts_per_session
    {mean, median, max} over all sessions (all tickers together, zeros included),
    share_ticker_days_with_text (fraction of price rows (ticker, day) with >= 1 aligned text),
    close_time, timezone, calendar, text_lookback_days, read (how each table was read: its layout
    and column mapping, `CleaningReport.read_records`), dropped (CleaningReport records).
    """
    sessions = _calendar(prices, calendar)
    tickers = sorted(prices["ticker"].unique().tolist())
    summary: dict[str, Any] = {
        "prices_path": prices_source,
        "texts_path": None if texts is None else texts_source,
        "tickers": len(tickers),
        "ticker_list": tickers,
        "date_start": _iso(sessions.sessions.min()),
        "date_end": _iso(sessions.sessions.max()),
        "sessions": len(sessions),
        "price_rows": len(prices),
        "texts_read": None,
        "texts_aligned": None,
        "texts_per_session": None,
        "share_ticker_days_with_text": None,
        "close_time": close_time,
        "timezone": timezone,
        "calendar": calendar,
        "text_lookback_days": text_lookback_days,
    }
    if texts is not None:
        aligned = align_texts(texts, sessions, close_time=close_time, timezone=timezone, tickers=tickers,
                              lookback_days=text_lookback_days, report=report)
        summary.update(_text_summary(prices, sessions, texts, aligned))
    summary["read"] = report.read_records()
    summary["dropped"] = report.to_records()
    return summary


def _calendar(prices: pd.DataFrame, exchange: str | None) -> TradingCalendar:
    """The sessions a run would use: the exchange's (market.calendar) over the price dates, else the price dates."""
    if exchange:
        return TradingCalendar.from_exchange(exchange, prices["date"].min(), prices["date"].max())
    return TradingCalendar.from_prices(prices)


def _text_summary(prices: pd.DataFrame, calendar: TradingCalendar, texts: pd.DataFrame,
                  aligned: pd.DataFrame) -> dict[str, Any]:
    per_session = aligned.groupby("date").size().reindex(calendar.sessions, fill_value=0)
    with_text = pd.MultiIndex.from_frame(aligned[["ticker", "date"]].drop_duplicates())
    panel = pd.MultiIndex.from_frame(prices[["ticker", "date"]])
    share = float(panel.isin(with_text).mean()) if len(panel) else 0.0
    return {
        "texts_read": len(texts),
        "texts_aligned": len(aligned),
        "texts_per_session": {
            "mean": float(per_session.mean()) if len(per_session) else 0.0,
            "median": float(per_session.median()) if len(per_session) else 0.0,
            "max": int(per_session.max()) if len(per_session) else 0,
        },
        "share_ticker_days_with_text": share,
    }


def format_check(summary: dict[str, Any]) -> str:
    """A short human-readable report of `check_data`'s summary (for the CLI)."""
    names = summary["ticker_list"]
    shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
    lines = [
        f"prices : {summary['prices_path']}",
        f"texts  : {summary['texts_path'] if summary['texts_path'] is not None else 'none given (prices only)'}",
        f"tickers: {summary['tickers']} ({shown})",
        f"dates  : {summary['date_start']} .. {summary['date_end']} ({summary['sessions']} sessions, "
        f"{summary['price_rows']} price rows)",
    ]
    if summary["texts_path"] is not None:
        tps = summary["texts_per_session"]
        lines += [
            f"texts  : {summary['texts_read']} read, {summary['texts_aligned']} aligned "
            f"(close {summary['close_time']} {summary['timezone']}{_alignment_notes(summary)})",
            f"per session: mean {tps['mean']:.2f}, median {tps['median']:g}, max {tps['max']}",
            f"(ticker, day) with any text: {100 * summary['share_ticker_days_with_text']:.1f} %",
        ]
    lines += [f"read   : {r['detail']}" for r in summary.get("read", [])]
    dropped = summary["dropped"]
    if not dropped:
        lines.append("dropped: nothing")
    else:
        lines.append(f"dropped: {sum(d['count'] for d in dropped)} row(s)")
        for d in dropped:
            example = f" e.g. {d['examples'][0]}" if d["examples"] else ""
            lines.append(f"  {d['step']}: {d['count']} - {d['reason']}{example}")
    return "\n".join(lines)


def _alignment_notes(summary: dict[str, Any]) -> str:
    """", calendar XNYS, look-back 5 sessions" for the settings that differ from the defaults."""
    notes = [f"calendar {summary['calendar']}"] if summary.get("calendar") else []
    if summary.get("text_lookback_days", 1) != 1:
        notes.append(f"look-back {summary['text_lookback_days']} sessions")
    return "".join(f", {n}" for n in notes)


def _iso(ts: pd.Timestamp) -> str | None:
    return None if ts is pd.NaT or pd.isna(ts) else ts.date().isoformat()

