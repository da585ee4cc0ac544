"""StockNet (Xu & Cohen, 2018) in its original layout -> validated prices and texts frames.

Layout under `root`:

    price/raw/<TICKER>.csv                  Date,Open,High,Low,Close,Adj Close,Volume (daily)
    tweet/preprocessed/<TICKER>/<YYYY-MM-DD>  JSON lines: {"text": [tokens], "created_at":
                                            "Wed Jan 01 03:59:03 +0000 2014", "user_id_str": ...}

A text is its tokens joined by single spaces (the dataset's placeholders such as AT_USER and
URL are kept); its timestamp is `created_at` (UTC); its source is "twitter". The file name's
date is not used for alignment (it is not always the UTC date of the tweets inside).

The published dataset's price/raw/PTR.csv, REX.csv and SNP.csv hold a row of nulls
(`2016-06-29,null,null,null,null,null,null`): it raises naming the file and row unless read with
on_invalid="drop", which drops and counts it (runs: `data.on_invalid: drop`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from finfusion.data.frames import CleaningReport
from finfusion.data.readers import iter_jsonl, read_table
from finfusion.data.schema import OnInvalid, _validate_texts, validate_prices
from finfusion.errors import DataError

CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"
STEP = "read_stocknet"
LAYOUT = "price/raw/<TICKER>.csv and tweet/preprocessed/<TICKER>/<YYYY-MM-DD>"
MARGIN = pd.Timedelta(days=2)
_DATE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_stocknet(
    root: str | Path,
    *,
    tickers: Iterable[str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    on_invalid: OnInvalid = "raise",
    report: CleaningReport | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read StockNet from `root`; return (prices, texts), both validated (see `finfusion.data.frames`).

    tickers   subset to read (default: every ticker with a price file)
    start, end  inclusive: price rows with start <= date <= end, and tweets whose UTC timestamp
              falls on a calendar day in [start, end]
    on_invalid, report  as in `validate_prices` / `validate_texts`; the report also records tickers
              without price rows or tweet directory, and tweet directories without a price file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"StockNet root {str(root)!r} is not a directory; expected it to hold {LAYOUT}")
    price_dir, tweet_dir = root / "price" / "raw", root / "tweet" / "preprocessed"
    for d in (price_dir, tweet_dir):
        if not d.is_dir():
            raise DataError(f"StockNet root {str(root)!r} has no {d.relative_to(root)}/ directory; expected {LAYOUT}")
    report = report if report is not None else CleaningReport()
    available = sorted(p.name[:-4] for p in price_dir.iterdir() if p.name.endswith(".csv"))
    chosen = _choose_tickers(available, tickers, price_dir)
    orphans = sorted(set(os.listdir(tweet_dir)) - set(available))
    report.add(STEP, "tweet directory without a price file (ignored)", len(orphans), tuple(orphans))
    lo = pd.Timestamp(start).normalize() if start is not None else None
    hi = pd.Timestamp(end).normalize() if end is not None else None
    prices = _read_prices(price_dir, chosen, lo, hi, on_invalid, report)
    texts = _read_tweets(tweet_dir, chosen, lo, hi, on_invalid, report)
    return prices, texts


def read_stocknet_prices(
    root: str | Path,
    *,
    tickers: Iterable[str] | None = None,
    on_invalid: OnInvalid = "raise",
    report: CleaningReport | None = None,
) -> pd.DataFrame:
    """Only the validated prices of `read_stocknet` (price/raw/<TICKER>.csv; no tweet is read).

    The published dataset's PTR, REX and SNP files hold a row of nulls (2016-06-29): it raises
    naming the file and row, or with on_invalid="drop" is dropped and counted in `report`."""
    price_dir = Path(root) / "price" / "raw"
    if not price_dir.is_dir():
        raise DataError(f"StockNet root {str(root)!r} has no price/raw/ directory; expected price/raw/<TICKER>.csv")
    available = sorted(p.name[:-4] for p in price_dir.iterdir() if p.name.endswith(".csv"))
    chosen = _choose_tickers(available, tickers, price_dir)
    report = report if report is not None else CleaningReport()
    return _read_prices(price_dir, chosen, None, None, on_invalid, report)


def _choose_tickers(available: list[str], tickers: Iterable[str] | None, price_dir: Path) -> list[str]:
    if tickers is None:
        return available
    chosen = [str(t) for t in ([tickers] if isinstance(tickers, str) else tickers)]
    unknown = [t for t in chosen if t not in available]
    if unknown:
        raise DataError(
            f"StockNet: no price file for ticker(s) {unknown}: looked for "
            f"{[str(price_dir / f'{t}.csv') for t in unknown[:3]]}; available: {available[:20]}"
            + (f" and {len(available) - 20} more" if len(available) > 20 else "")
        )
    return list(dict.fromkeys(chosen))


def _read_prices(
    price_dir: Path, tickers: list[str], lo: pd.Timestamp | None, hi: pd.Timestamp | None,
    on_invalid: OnInvalid, report: CleaningReport,
) -> pd.DataFrame:
    """Each price file validated on its own (so errors name the file and its row)."""
    frames = []
    for ticker in tickers:
        path = price_dir / f"{ticker}.csv"
        raw = read_table(path)
        frame = validate_prices(raw.assign(ticker=ticker), source=str(path), on_invalid=on_invalid, report=report)
        if frame.empty:
            report.add(STEP, "ticker without price rows (empty price file)", 1, (ticker,))
        frames.append(frame)
    prices = pd.concat(frames, ignore_index=True) if frames else validate_prices(
        pd.DataFrame(columns=["date", "ticker", "open", "high", "low", "close", "volume"]))
    inside = _within(prices["date"], lo, hi)
    report.add(STEP, "price rows outside start..end", int((~inside).sum()), ())
    prices = prices[inside]
    return prices.sort_values(["ticker", "date"], kind="mergesort").reset_index(drop=True)


def _read_tweets(
    tweet_dir: Path, tickers: list[str], lo: pd.Timestamp | None, hi: pd.Timestamp | None,
    on_invalid: OnInvalid, report: CleaningReport,
) -> pd.DataFrame:
    cols: dict[str, list] = {"ticker": [], "created_at": [], "text": [], "where": []}
    for ticker in tickers:
        d = tweet_dir / ticker
        if not d.is_dir():
            report.add(STEP, "ticker without a tweet directory (no texts)", 1, (ticker,))
            continue
        for name in sorted(os.listdir(d)):
            if not _DATE_NAME.match(name):
                if not name.startswith("."):
                    report.add(STEP, "tweet file name is not YYYY-MM-DD (ignored)", 1, (f"{ticker}/{name}",))
                continue
            day = pd.Timestamp(name)  # files hold tweets of about that day (+- 1 in UTC): read a margin
            if (lo is not None and day < lo - MARGIN) or (hi is not None and day > hi + MARGIN):
                continue
            _read_tweet_file(d / name, f"{ticker}/{name}", ticker, cols)
    created = pd.Series(cols["created_at"], dtype=object)
    stamps = pd.to_datetime(created, format=CREATED_AT_FORMAT, utc=True, errors="coerce")
    if stamps.isna().any():  # let validation name the bad values
        stamps = stamps.astype(object).where(stamps.notna(), created)
    raw = pd.DataFrame({"timestamp": stamps, "ticker": cols["ticker"], "text": cols["text"], "source": "twitter"})
    texts = _validate_texts(raw, source=str(tweet_dir), default_tz=None, on_invalid=on_invalid, report=report,
                            where=cols["where"])
    inside = _within(texts["timestamp"].dt.tz_localize(None).dt.normalize(), lo, hi)
    report.add(STEP, "tweets outside start..end (UTC days; files more than 2 days outside are not read)", int((~inside).sum()), ())
    return texts.loc[inside].reset_index(drop=True)


def _within(days: pd.Series, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.Series:
    """Mask of `days` in [lo, hi] (either bound optional)."""
    keep = pd.Series(True, index=days.index)
    if lo is not None:
        keep &= days >= lo
    if hi is not None:
        keep &= days <= hi
    return keep


def _read_tweet_file(path: Path, label: str, ticker: str, cols: dict[str, list]) -> None:
    """Append the tweets of one file to `cols`; a malformed line raises naming file and line."""
    for number, obj in iter_jsonl(path):
        if "text" not in obj or "created_at" not in obj:
            raise DataError(
                f"{path}: line {number}: expected a JSON object with 'text' (token list) and "
                f"'created_at'; got the keys {sorted(obj)}"
            )
        tokens = obj["text"]
        cols["ticker"].append(ticker)
        cols["created_at"].append(obj["created_at"])
        cols["text"].append(" ".join(map(str, tokens)) if isinstance(tokens, list) else tokens)
        cols["where"].append(f"{label} line {number}")
