"""Trading calendars: the ordered set of trading sessions (days) that alignment and targets use."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from finfusion.errors import DataError


@dataclass(frozen=True)
class TradingCalendar:
    """Trading sessions as sorted, unique, tz-naive midnights (datetime64[ns]).

    Build one from the dates present in a prices frame (`from_prices`) or from an exchange's
    official calendar (`from_exchange`, needs the optional package ``exchange_calendars``).
    Session closes are not stored: alignment puts each session's close at a fixed local time
    (``align_texts(close_time=..., timezone=...)``); early closes (half days) are not modelled.
    `exchange` is the exchange_calendars name of a calendar built by `from_exchange` (None for
    one built from dates); `sessions_before` uses it to extend the calendar backwards.
    """

    sessions: pd.DatetimeIndex
    exchange: str | None = None

    def __post_init__(self) -> None:
        s = pd.DatetimeIndex(self.sessions)
        if s.tz is not None:
            raise DataError(f"TradingCalendar sessions must be tz-naive dates, got time zone {s.tz}")
        if s.hasnans:
            raise DataError("TradingCalendar sessions contain NaT; expected dates only")
        if len(s) and not (s == s.normalize()).all():
            bad = s[s != s.normalize()][0]
            raise DataError(f"TradingCalendar session {bad} has a time of day; expected midnight dates")
        s = s.as_unit("ns").unique().sort_values()
        object.__setattr__(self, "sessions", pd.DatetimeIndex(s, name="date"))

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def first(self) -> pd.Timestamp:
        self._require_sessions()
        return self.sessions[0]

    @property
    def last(self) -> pd.Timestamp:
        self._require_sessions()
        return self.sessions[-1]

    @classmethod
    def from_prices(cls, prices: pd.DataFrame) -> TradingCalendar:
        """The union of the `date` values of a (validated) prices frame."""
        if "date" not in prices.columns:
            raise DataError(f"prices frame has no 'date' column (columns: {list(prices.columns)})")
        dates = pd.DatetimeIndex(pd.to_datetime(prices["date"]).dropna().unique())
        return cls(dates.normalize())

    @classmethod
    def from_exchange(
        cls, name: str, start: str | pd.Timestamp, end: str | pd.Timestamp
    ) -> TradingCalendar:
        """Sessions of exchange `name` (e.g. "XNYS") from `start` to `end` inclusive.

        Uses the optional package ``exchange_calendars`` (pip install 'finfusion[calendars]').
        """
        try:
            import exchange_calendars as xcals
        except ImportError as exc:
            raise ImportError(
                "TradingCalendar.from_exchange needs the optional package 'exchange_calendars' "
                "(pip install 'finfusion[calendars]'); or use TradingCalendar.from_prices(prices)"
            ) from exc
        if name not in xcals.get_calendar_names():
            known = [n for n in ("XNYS", "XNAS", "XLON", "XTKS", "XHKG", "XSHG", "XETR") if n in xcals.get_calendar_names()]
            raise DataError(
                f"unknown exchange calendar {name!r}; expected an exchange_calendars name such as {known} "
                "(see exchange_calendars.get_calendar_names())"
            )
        start_ts, end_ts = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        try:
            with warnings.catch_warnings():  # the library's own pandas deprecation warnings
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                cal = xcals.get_calendar(name, start=start_ts, end=end_ts)
        except Exception as exc:  # out-of-bounds dates etc.; the library's own message is kept
            raise DataError(f"exchange calendar {name!r} from {start_ts.date()} to {end_ts.date()}: {exc}") from exc
        sessions = pd.DatetimeIndex(cal.sessions)
        if sessions.tz is not None:
            sessions = sessions.tz_localize(None)
        return cls(sessions.normalize(), exchange=name)

    def sessions_before(self, n: int) -> pd.DatetimeIndex:
        """The `n` sessions just before the first one, oldest first: (n,) tz-naive midnights.

        They are the exchange's sessions when the calendar came from `from_exchange`, else
        weekdays (Monday to Friday: holidays before the data are not known). Used to place
        texts published before the first session (see `finfusion.data.align.align_texts`).
        """
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise DataError(f"sessions_before: n={n!r}; expected an integer >= 1")
        first = self.first
        if self.exchange is None:
            return pd.bdate_range(end=first - pd.Timedelta(days=1), periods=int(n)).as_unit("ns").rename("date")
        start = first - pd.Timedelta(days=int(n) * 2 + 14)  # enough calendar days for n sessions
        earlier = TradingCalendar.from_exchange(self.exchange, start, first).sessions
        earlier = earlier[earlier < first]
        if len(earlier) < n:
            raise DataError(
                f"exchange calendar {self.exchange!r} has only {len(earlier)} session(s) between "
                f"{start.date()} and {first.date()}; expected {n} before the first session"
            )
        return earlier[-int(n):]

    def session_on_or_after(self, dates: pd.DatetimeIndex | pd.Series | list) -> pd.DatetimeIndex:
        """For each date (its calendar day; time of day ignored), the first session on or after it.

        Vectorised (`searchsorted`). NaT where the date is after the last session or is NaT.
        """
        days = self._as_days(dates)
        pos = self.sessions.searchsorted(days, side="left")
        ok = (~days.isna()) & (pos < len(self.sessions))
        out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[ns]")
        out[ok] = self.sessions.values[pos[ok]]
        return pd.DatetimeIndex(out, name="date")

    def position(self, dates: pd.DatetimeIndex | pd.Series | list) -> np.ndarray:
        """Index in `sessions` of each date's calendar day, int64 (n,); -1 where it is not a session."""
        days = self._as_days(dates)
        return self.sessions.get_indexer(days).astype("int64")

    def _as_days(self, dates: pd.DatetimeIndex | pd.Series | list) -> pd.DatetimeIndex:
        try:
            days = pd.DatetimeIndex(pd.to_datetime(dates))
        except (ValueError, TypeError) as exc:
            raise DataError(f"TradingCalendar: cannot read the given dates as dates: {exc}") from exc
        if days.tz is not None:
            raise DataError(
                f"TradingCalendar expects tz-naive dates, got time zone {days.tz}; "
                "use align_texts for timestamps"
            )
        return days.normalize().as_unit("ns")

    def _require_sessions(self) -> None:
        if not len(self.sessions):
            raise DataError("TradingCalendar has no sessions")
