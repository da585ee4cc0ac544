"""`finfusion check`-style data check: read, validate and align two files, summarise what is there."""

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
    texts_path: str | Path,
    *,
    close_time: str = "16:00",
    timezone: str = "America/New_York",
    default_tz: str | None = None,
    on_invalid: OnInvalid = "raise",
) -> dict[str, Any]:
    """Read + validate both files, align texts to the price sessions, and summarise (JSON-able dict).

    Keys: prices_path, texts_path, tickers (count), ticker_list, date_start, date_end (ISO dates),
    sessions, price_rows, texts_read (valid texts), texts_aligned, texts_per_session
    {mean, median, max} over all sessions (all tickers together, zeros included),
    share_ticker_days_with_text (fraction of price rows (ticker, day) with >= 1 aligned text),
    close_time, timezone, dropped (CleaningReport records). Raises DataError on bad input when
    on_invalid="raise".
    """
    report = CleaningReport()
    prices = read_prices(prices_path, on_invalid=on_invalid, report=report)
    texts = read_texts(texts_path, default_tz=default_tz, on_invalid=on_invalid, report=report)
    calendar = TradingCalendar.from_prices(prices)
    tickers = sorted(prices["ticker"].unique().tolist())
    aligned = align_texts(texts, calendar, close_time=close_time, timezone=timezone, tickers=tickers, report=report)
    per_session = aligned.groupby("date").size().reindex(calendar.sessions, fill_value=0)
    with_text = pd.MultiIndex.from_frame(aligned[["ticker", "date"]].drop_duplicates())
    panel = pd.MultiIndex.from_frame(prices[["ticker", "date"]])
    share = float(panel.isin(with_text).mean()) if len(panel) else 0.0
    return {
        "prices_path": str(prices_path),
        "texts_path": str(texts_path),
        "tickers": len(tickers),
        "ticker_list": tickers,
        "date_start": _iso(calendar.sessions.min()),
        "date_end": _iso(calendar.sessions.max()),
        "sessions": len(calendar),
        "price_rows": len(prices),
        "texts_read": len(texts),
        "texts_aligned": len(aligned),
        "texts_per_session": {
            "mean": float(per_session.mean()) if len(per_session) else 0.0,
            "median": float(per_session.median()) if len(per_session) else 0.0,
            "max": int(per_session.max()) if len(per_session) else 0,
        },
        "share_ticker_days_with_text": share,
        "close_time": close_time,
        "timezone": timezone,
        "dropped": report.to_records(),
    }


def format_check(summary: dict[str, Any]) -> str:
    """A short human-readable report of `check_data`'s summary (for the CLI)."""
    tps = summary["texts_per_session"]
    names = summary["ticker_list"]
    shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
    lines = [
        f"prices : {summary['prices_path']}",
        f"texts  : {summary['texts_path']}",
        f"tickers: {summary['tickers']} ({shown})",
        f"dates  : {summary['date_start']} .. {summary['date_end']} ({summary['sessions']} sessions, "
        f"{summary['price_rows']} price rows)",
        f"texts  : {summary['texts_read']} read, {summary['texts_aligned']} aligned "
        f"(close {summary['close_time']} {summary['timezone']})",
        f"per session: mean {tps['mean']:.2f}, median {tps['median']:g}, max {tps['max']}",
        f"(ticker, day) with any text: {100 * summary['share_ticker_days_with_text']:.1f} %",
    ]
    dropped = summary["dropped"]
    if not dropped:
        lines.append("dropped: nothing")
    else:
        lines.append(f"dropped: {sum(d['count'] for d in dropped)} row(s)")
        for d in dropped:
            example = f" e.g. {d['examples'][0]}" if d["examples"] else ""
            lines.append(f"  {d['step']}: {d['count']} - {d['reason']}{example}")
    return "\n".join(lines)


def _iso(ts: pd.Timestamp) -> str | None:
    return None if ts is pd.NaT or pd.isna(ts) else ts.date().isoformat()

