"""The two input frames and the record of what reading and cleaning did.

Prices frame (one row per trading day and ticker), sorted by (ticker, date):
    date    datetime64[ns], tz-naive, midnight: the trading day
    ticker  str
    close   float64 > 0
    open, high, low, adj_close (each optional) float64 > 0
    volume  (optional) float64 >= 0
    any further numeric columns are kept as extra features.
Only date, ticker and close are required: a close-only table (or close + volume) is a valid
prices frame; the features that read a missing column are the feature builder's business.

Texts frame (one row per text):
    timestamp  datetime64[ns, tz]: when the text was published (time-zone aware)
    ticker     str
    text       str, non-empty
    source     str (optional)

Dates and timestamps are read as ISO 8601 unless a strftime format is declared
(`finfusion.data.dates`); prices must satisfy low <= open, close <= high for the columns present.
Tables of other shapes (wide price tables, mapped column names, texts without a ticker column,
date-only timestamps) are turned into these frames by `finfusion.data.shapes`.

Aligned texts add `date`: the trading day whose close is the first one at or after the
text's timestamp (post-close, weekend and holiday texts roll forward); texts of tickers
without prices, older than the first session's text look-back or after the last close are
dropped and counted (`finfusion.data.align`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PRICE_COLUMNS = ("date", "ticker", "open", "high", "low", "close", "volume", "adj_close")  # output order
PRICE_REQUIRED = ("date", "ticker", "close")
PRICE_OPTIONAL = ("open", "high", "low", "volume", "adj_close")
PRICE_FIELDS = ("open", "high", "low", "close", "adj_close", "volume")  # the per-ticker values of a table
TEXT_REQUIRED = ("timestamp", "ticker", "text")
TEXT_OPTIONAL = ("source",)


@dataclass(frozen=True)
class Dropped:
    """One cleaning step's removal: `count` rows removed by `step` because `reason`."""

    step: str
    reason: str
    count: int
    examples: tuple[str, ...] = ()


Layout = Literal["long", "long_one_ticker", "wide", "wide_fields"]


@dataclass(frozen=True)
class TableRead:
    """How one input table was read (`finfusion.data.shapes`), so a report can show it.

    table    "prices" or "texts"
    layout   long (one row per date and ticker), long_one_ticker (no ticker column: one declared
             ticker), wide (one column per ticker, cells = one price field) or wide_fields (columns
             (field, ticker): several fields per ticker, e.g. yfinance.download)
    detail   one line for people, e.g. "wide table: 6 tickers, cells = close"
    """

    source: str
    table: Literal["prices", "texts"]
    layout: Layout
    detail: str

    def describe(self) -> str:
        return f"{self.source}: {self.detail}"


@dataclass
class CleaningReport:
    """Everything cleaning or alignment removed, so nothing vanishes silently, and how each input
    table was read (`reads`)."""

    dropped: list[Dropped] = field(default_factory=list)
    reads: list[TableRead] = field(default_factory=list)

    def add(self, step: str, reason: str, count: int, examples: tuple[str, ...] = ()) -> None:
        if count:
            self.dropped.append(Dropped(step, reason, int(count), tuple(examples)[:3]))

    def read(self, source: str, table: Literal["prices", "texts"], layout: Layout, detail: str) -> None:
        """Record how `source` was read (see `TableRead`)."""
        self.reads.append(TableRead(source, table, layout, detail))

    def extend(self, other: CleaningReport) -> None:
        self.dropped.extend(other.dropped)
        self.reads.extend(other.reads)

    @property
    def total(self) -> int:
        return sum(d.count for d in self.dropped)

    def to_records(self) -> list[dict]:
        return [
            {"step": d.step, "reason": d.reason, "count": d.count, "examples": list(d.examples)}
            for d in self.dropped
        ]

    def read_records(self) -> list[dict]:
        """How each input table was read: [{source, table, layout, detail}], in reading order."""
        return [{"source": r.source, "table": r.table, "layout": r.layout, "detail": r.detail} for r in self.reads]

    @classmethod
    def from_records(cls, dropped: list[dict], reads: list[dict] = ()) -> CleaningReport:
        """The report whose `to_records()` / `read_records()` are `dropped` / `reads` (e.g. a saved load log)."""
        return cls([Dropped(d["step"], d["reason"], int(d["count"]), tuple(d.get("examples", ()))) for d in dropped],
                   [TableRead(r["source"], r["table"], r["layout"], r["detail"]) for r in reads])

    def summary(self) -> str:
        if not self.dropped:
            return "nothing dropped"
        return "\n".join(f"{d.step}: dropped {d.count} ({d.reason})" for d in self.dropped)
