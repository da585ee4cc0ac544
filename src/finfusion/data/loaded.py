"""Your own frames, validated and aligned once: `load_frames` (exported as `finfusion.load_frames`).

    data = load_frames(prices_df, texts_df, close_time="16:00", timezone="America/New_York")
    print(data)          # tickers, dates, texts aligned per session, and every row dropped and why

`load_frames` takes the tables a researcher has — long or wide prices (one column per ticker,
or yfinance's (field, ticker) columns), close-only or OHLCV, texts with or without a ticker
column, timestamps with mixed UTC offsets or dates only (declared with `text_time`) — through
the same tidying and validation as the files of a `data.source: files` run
(`finfusion.data.shapes`, `finfusion.data.schema`), and aligns the texts to the sessions to
report what a run would see. `LoadedData.save(folder)` writes the validated frames as Parquet
(with the record of what loading dropped), which is how `finfusion.run(config, data=...)` hands
them to a run.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import finfusion.io as io
from finfusion.data.check import format_check, summarize_data
from finfusion.data.frames import CleaningReport
from finfusion.data.readers import write_prices, write_texts
from finfusion.data.schema import OnInvalid, validate_prices, validate_texts
from finfusion.data.shapes import InputShape
from finfusion.errors import DataError
from finfusion.fingerprint import frame_fingerprint

LOAD_LOG = "loaded.json"  # beside the saved frames: what loading dropped, and how the tables were read


@dataclass(frozen=True)
class LoadedData:
    """Validated frames (finfusion.data.frames schemas) and what loading them did.

    prices    one row per (date, ticker): date, ticker, close (+ open, high, low, volume, adj_close, extras)
    texts     one row per text: timestamp (UTC), ticker, text (+ source); None without texts
    report    rows validation dropped (on_invalid="drop"), cells a wide table had empty, ...
    close_time, timezone, calendar   the market the texts were aligned to (a run uses the same)
    summary   tickers, dates, sessions, texts read / aligned, per-session counts (data.check)
    """

    prices: pd.DataFrame
    texts: pd.DataFrame | None
    report: CleaningReport
    close_time: str
    timezone: str
    calendar: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return format_check(self.summary)

    def save(self, root: str | Path) -> dict[str, Path | None]:
        """Write the frames and their load log under `root/<sha256[:16]>/` (prices.parquet,
        texts.parquet, loaded.json), the hash over all three: a folder is written once and never
        changes, so runs that read it can be resumed. Returns the data-config keys that read them:
        {"prices", "texts", "load_log"}."""
        log = {"dropped": self.report.to_records(), "read": self.report.read_records(),
               "market": {"close_time": self.close_time, "timezone": self.timezone, "calendar": self.calendar}}
        parts = (frame_fingerprint(self.prices), frame_fingerprint(self.texts), json.dumps(log, sort_keys=True))
        folder = io.safe_join(root, hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16])
        files = {"prices": folder / "prices.parquet", "texts": folder / "texts.parquet" if self.texts is not None
                 else None, "load_log": folder / LOAD_LOG}
        if not files["load_log"].is_file():  # written last: its presence means the folder is complete
            write_prices(self.prices, files["prices"])
            if self.texts is not None:
                write_texts(self.texts, files["texts"])
            io.write_json(files["load_log"], log)
        return files


def read_load_log(path: str | Path) -> CleaningReport:
    """The CleaningReport a load log holds (`LoadedData.save`): what that load dropped and how it
    read the tables; DataError naming the file when it is not one."""
    try:
        log = io.read_json(path)
        return CleaningReport.from_records(log["dropped"], log.get("read", []))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: not a load log written by finfusion.load_frames ({err})") from None


def load_frames(
    prices: pd.DataFrame,
    texts: pd.DataFrame | None = None,
    *,
    close_time: str = "16:00",
    timezone: str = "America/New_York",
    calendar: str | None = None,
    text_lookback_days: int = 1,
    on_invalid: OnInvalid = "raise",
    formats: DateFormats | None = None,
    shape: InputShape | None = None,
    **shape_options: Any,
) -> LoadedData:
    """Validate `prices` (and `texts`), align the texts to the sessions, and report what was dropped.

    close_time, timezone, calendar  the market close (texts after it belong to the next session);
        calendar: an exchange_calendars name, else the price dates are the sessions
    text_lookback_days  sessions of texts per day, as a run's text.lookback_days (older texts are counted)
    on_invalid   "raise" (one DataError listing every bad row) or "drop" (dropped rows are counted)
    formats      non-ISO date / timestamp text, and the zone of naive timestamps (`DateFormats`)
    shape / shape_options  how the tables are laid out (finfusion.data.shapes.InputShape), e.g.
        columns={"date": "Date", "close": "Adj Close", "text": "headline", "timestamp": "published_at"},
        layout="wide", ticker="AAPL", text_time="09:00"; give either `shape` or its options.
    """
    shape = _shape(shape, shape_options)
    formats = formats or DateFormats()
    for name, frame in (("prices", prices), ("texts", texts)):
        if frame is not None and not isinstance(frame, pd.DataFrame):
            raise DataError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    report = CleaningReport()
    prices = validate_prices(prices, shape=shape, source="prices", date_format=formats.date_format,
                             on_invalid=on_invalid, report=report)
    if not len(prices):
        raise DataError(f"prices: none of the rows is valid; all were dropped:\n{report.summary()}")
    if texts is not None:
        texts = validate_texts(texts, shape=shape, source="texts", tickers=sorted(prices["ticker"].unique()),
                               timezone=timezone, default_tz=formats.default_tz,
                               timestamp_format=formats.timestamp_format, on_invalid=on_invalid, report=report)
    summary = summarize_data(prices, texts, copy.deepcopy(report), prices_source="prices (DataFrame)",
                             texts_source="texts (DataFrame)", close_time=close_time, timezone=timezone,
                             calendar=calendar, text_lookback_days=text_lookback_days)
    return LoadedData(prices, texts, report, close_time, timezone, calendar, summary)


@dataclass(frozen=True)
class DateFormats:
    """How dates and timestamps are written when they are text and not ISO 8601 (finfusion.data.dates).

    date_format       strftime of the prices' dates, e.g. "%d/%m/%Y"
    timestamp_format  strftime of the texts' timestamps, e.g. "%d/%m/%Y %H:%M %z"
    default_tz        the zone of timestamps written without one, e.g. "America/New_York"
    """

    date_format: str | None = None
    timestamp_format: str | None = None
    default_tz: str | None = None


def _shape(shape: InputShape | None, options: dict[str, Any]) -> InputShape:
    if shape is not None and options:
        raise TypeError(f"give shape=InputShape(...) or its options ({', '.join(sorted(options))}), not both")
    if shape is not None:
        return shape
    unknown = sorted(set(options) - set(InputShape.__dataclass_fields__))
    if unknown:
        known = ", ".join(InputShape.__dataclass_fields__)
        raise TypeError(f"load_frames: unknown option(s) {unknown}; shape options: {known}; see also "
                        "close_time, timezone, calendar, text_lookback_days, on_invalid, formats")
    return InputShape(**options)
