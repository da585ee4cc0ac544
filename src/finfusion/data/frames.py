"""The two input frames and the record of what cleaning removed.

Prices frame (one row per trading day and ticker), sorted by (ticker, date):
    date    datetime64[ns], tz-naive, midnight: the trading day
    ticker  str
    open, high, low, close  float64 > 0
    volume  float64 >= 0
    adj_close (optional) float64 > 0
    any further numeric columns are kept as extra features.

Texts frame (one row per text):
    timestamp  datetime64[ns, tz]: when the text was published (time-zone aware)
    ticker     str
    text       str, non-empty
    source     str (optional)

Dates and timestamps are read as ISO 8601 unless a strftime format is declared
(`finfusion.data.dates`); prices must satisfy low <= open, close <= high.

Aligned texts add `date`: the trading day whose close is the first one at or after the
text's timestamp (post-close, weekend and holiday texts roll forward); texts of tickers
without prices, older than the first session's text look-back or after the last close are
dropped and counted (`finfusion.data.align`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRICE_REQUIRED = ("date", "ticker", "open", "high", "low", "close", "volume")
PRICE_OPTIONAL = ("adj_close",)
TEXT_REQUIRED = ("timestamp", "ticker", "text")
TEXT_OPTIONAL = ("source",)


@dataclass(frozen=True)
class Dropped:
    """One cleaning step's removal: `count` rows removed by `step` because `reason`."""

    step: str
    reason: str
    count: int
    examples: tuple[str, ...] = ()


@dataclass
class CleaningReport:
    """Everything cleaning or alignment removed, so nothing vanishes silently."""

    dropped: list[Dropped] = field(default_factory=list)

    def add(self, step: str, reason: str, count: int, examples: tuple[str, ...] = ()) -> None:
        if count:
            self.dropped.append(Dropped(step, reason, int(count), tuple(examples)[:3]))

    def extend(self, other: CleaningReport) -> None:
        self.dropped.extend(other.dropped)

    @property
    def total(self) -> int:
        return sum(d.count for d in self.dropped)

    def to_records(self) -> list[dict]:
        return [
            {"step": d.step, "reason": d.reason, "count": d.count, "examples": list(d.examples)}
            for d in self.dropped
        ]

    def summary(self) -> str:
        if not self.dropped:
            return "nothing dropped"
        return "\n".join(f"{d.step}: dropped {d.count} ({d.reason})" for d in self.dropped)
