"""The StockNet benchmark (Xu & Cohen, ACL 2018): target days, labels, lag windows and the three sample rules.

Layout under `root` (the dataset's original layout; `price/raw/` is not needed here):

    price/preprocessed/<T>.txt   tab-separated, newest first, 7 fields per line:
                                 date, movement, open, high, low, close, volume
    tweet/preprocessed/<T>/<YYYY-MM-DD>  JSON lines {"text": [tokens], "created_at": ..., ...}

The preprocessed price columns, as found in the files (checked against price/raw/):
    movement  adj_close[d] / adj_close[prev trading day] - 1 (a fraction: 0.011370 is +1.137 %)
    open, high, low  unadjusted price[d] / adj_close[prev trading day] - 1 (fractions)
    close     adj_close[d] - adj_close[prev trading day] (price units, not a fraction)
    volume    shares traded on d (raw count)
The released code feeds [high, low, close] (fields 3:6) to its model.

Conventions (they reproduce the counts of the released code / paper on the development copy, see below):

* Tickers: every `price/preprocessed/<T>.txt` (88). Trading days of a ticker are the dates of its own
  price file. An empty price file (GMRE, which also has no tweet directory) gives no targets; a
  ticker without a tweet directory keeps its targets with empty newsflows; both are reported.
* Target days: every row of the ticker's price file whose date d lies in a split; splits are
  half-open [start, end) on d: train [2014-01-01, 2015-08-01), dev [2015-08-01, 2015-10-01),
  test [2015-10-01, 2016-01-01). The development copy ends 2015-09-30, so its test split is empty.
* Label from d's own movement: fall (0) if movement < fall (-0.005), rise (1) if movement >= rise
  (0.0055), the neutral band fall <= movement < rise is dropped (exactly -0.5 % is dropped; the
  released code's `-0.005 <= mv < 0.0055`; the files hold 6 decimals, compared as parsed floats).
* Tweet lag window: the calendar days d-lag_days .. d-1 (d itself excluded), where a tweet's day is
  the *name of its file* (as the released code reads them), not its `created_at` UTC date. Tweets
  with an empty token list are skipped (as the released code does; none in the dataset). Texts are
  tokens joined by single spaces, ordered by (file day, created_at).
* Price window: the ticker's trading days t with d-(lag_days-1) <= t < d, i.e. [d-4, d) for a lag
  of 5 (the released code's `d_t_min <= t < main_target_date`).
* Rules (which non-neutral targets are kept):
    paper      all (empty newsflow allowed).
    any_tweet  at least one tweet in the lag window.
    code       the released code's `is_eligible` with max_threshold 0: its time steps are the
               price-window trading days *plus d itself*; each lag calendar day's tweets go to the
               first step strictly after that day (so d-1's tweets land on d), and every step must
               receive at least one tweet. Not applied: the released code's length check, which also
               needs one price row before the price window (its x_1 row) and so drops a ticker's first
               targets (3 more on the development copy, BABA 2014-09-22..24: 4,987 train).

Counts on the development copy per rule, and how they compare with the paper's: docs/stocknet.md.

Two options that are not part of the published protocol (both off by default):

* unlabelled_splits: the neutral-band targets of these splits are kept as *unlabelled* rows
  (label -1, labelled False) instead of dropped, under the same rule. A backtest needs them: the
  protocol's target set is chosen by the realised movement (a day a stock barely moves is not a
  sample), so trading only the labelled rows would pick the universe with hindsight. Models
  predict unlabelled rows but are never trained or scored on them.
* tweet_cutoff="close": a lag tweet counts only if it was created before the close (16:00
  America/New_York) of the ticker's last trading day before d. The protocol's lag takes all of
  calendar day d-1 (and the weekend before a Monday), i.e. tweets written after the close a
  trade at that close would be based on; with the cutoff every input is known when the position
  is taken at the close of d-1 and held to the close of d (the day d's movement measures).

Sample frame (one row per kept target), sorted by (ticker, date):
    ticker        str
    date          datetime64[ns]: the target day d
    split         str: the split name
    label         int64: 0 fall, 1 rise, -1 unlabelled (a kept neutral-band target)
    labelled      bool: label != -1
    movement      float64: d's movement (fraction)
    texts         tuple[str, ...]: the lag window's tweets in time order
    text_ages     tuple[int, ...], parallel to texts: each tweet's age in calendar days, d - its file day (1..lag_days)
    n_tweets      int64: len(texts)
    n_tweet_days  int64: calendar days of the lag window with at least one tweet
    prices        float64 ndarray (lag_days-1, 6): the price-window rows, columns PRICE_FEATURES,
                  right-aligned (last row = last trading day before d), zero rows in front as padding
    price_mask    bool ndarray (lag_days-1,): True where `prices` holds a real row
    price_ages    int64 ndarray (lag_days-1,): each row's age in calendar days, d - its trading day (0: padding)
    n_price_days  int64: price_mask.sum()
Volume and `close` are in raw units: scale them with a scaler fit on the training split only.
`finfusion.data.samples.benchmark_to_samples` turns the frame into model `Samples`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from finfusion.data.adapters.stocknet import _DATE_NAME, CREATED_AT_FORMAT
from finfusion.data.frames import CleaningReport
from finfusion.data.readers import iter_jsonl
from finfusion.data.schema import OnInvalid
from finfusion.errors import ConfigError, DataError

Rule = Literal["paper", "any_tweet", "code"]
RULES: tuple[str, ...] = get_args(Rule)
Cutoff = Literal["none", "close"]
CUTOFFS: tuple[str, ...] = get_args(Cutoff)
CLOSE = time(16, 0)
EXCHANGE_TZ = ZoneInfo("America/New_York")
DEFAULT_SPLITS: tuple[tuple[str, str, str], ...] = (
    ("train", "2014-01-01", "2015-08-01"),
    ("dev", "2015-08-01", "2015-10-01"),
    ("test", "2015-10-01", "2016-01-01"),
)
PRICE_FEATURES: tuple[str, ...] = ("movement", "open", "high", "low", "close", "volume")
COLUMNS = ("ticker", "date", "split", "label", "labelled", "movement", "texts", "text_ages", "n_tweets",
           "n_tweet_days", "prices", "price_mask", "price_ages", "n_price_days")
STEP = "stocknet_benchmark"
LAYOUT = "price/preprocessed/<TICKER>.txt and tweet/preprocessed/<TICKER>/<YYYY-MM-DD>"
_N_FIELDS = 1 + len(PRICE_FEATURES)


@dataclass(frozen=True)
class _Split:
    name: str
    start: date
    end: date


@dataclass(frozen=True)
class _Prices:
    """One ticker's preprocessed price file, ascending: dates (n,) datetime64[D], values (n, 6) float64."""

    dates: np.ndarray
    values: np.ndarray


def benchmark_samples(
    root: str | Path,
    *,
    rule: Rule = "paper",
    lag_days: int = 5,
    fall: float = -0.005,
    rise: float = 0.0055,
    splits: Sequence[tuple[str, str, str]] = DEFAULT_SPLITS,
    tickers: Iterable[str] | None = None,
    report: CleaningReport | None = None,
    unlabelled_splits: Sequence[str] = (),
    tweet_cutoff: Cutoff = "none",
    on_invalid: OnInvalid = "raise",
) -> pd.DataFrame:
    """StockNet benchmark samples under `rule` (see the module docstring for columns and conventions).

    lag_days  calendar days of tweets before d (the price window is the last lag_days-1 of them)
    fall, rise  label thresholds (fractions): fall if movement < fall, rise if movement >= rise
    splits    (name, start, end) triples of ISO dates, half-open [start, end) on the target day
    tickers   subset (default: every ticker with a price/preprocessed file)
    report    receives what was dropped: neutral targets, targets the rule rejects, tickers
              without data, tweets with empty text, ignored files
    unlabelled_splits  splits whose neutral-band targets are kept unlabelled (label -1), e.g.
              ("dev", "test") for a backtest universe; not part of the published protocol
    tweet_cutoff  "none" (the protocol) or "close": only tweets created before the close of
              the last trading day before d
    on_invalid  "raise": a malformed price line (field count, date, non-finite number, repeated
              date) or tweet line (created_at, text) raises naming the file and line; "drop":
              it is dropped and counted in `report` (one entry per file and problem, with lines)
    """
    if rule not in RULES:
        raise ConfigError(f"benchmark_samples: rule must be one of {list(RULES)}, got {rule!r}")
    report = report if report is not None else CleaningReport()
    frame = _candidates(root, lag_days, fall, rise, splits, tickers, report, unlabelled_splits, tweet_cutoff,
                        on_invalid)
    return _apply_rule(frame, rule, report)


def sample_counts(
    root: str | Path,
    *,
    lag_days: int = 5,
    fall: float = -0.005,
    rise: float = 0.0055,
    splits: Sequence[tuple[str, str, str]] = DEFAULT_SPLITS,
    tickers: Iterable[str] | None = None,
    report: CleaningReport | None = None,
    tweet_cutoff: Cutoff = "none",
    on_invalid: OnInvalid = "raise",
) -> pd.DataFrame:
    """Number of samples per rule (index: RULES) and split (columns: split names, then "total"); int64."""
    report = report if report is not None else CleaningReport()
    frame = _candidates(root, lag_days, fall, rise, splits, tickers, report, (), tweet_cutoff, on_invalid)
    names = [s.name for s in _check_splits(splits)]
    rows = {}
    for rule in RULES:
        kept = frame[_rule_mask(frame, rule)]
        rows[rule] = kept["split"].value_counts().reindex(names, fill_value=0)
    counts = pd.DataFrame(rows).T.astype("int64")
    counts["total"] = counts.sum(axis=1)
    counts.index.name, counts.columns.name = "rule", "split"
    return counts


def _apply_rule(frame: pd.DataFrame, rule: str, report: CleaningReport) -> pd.DataFrame:
    if rule == "any_tweet":
        report.add(STEP, "no tweet in the lag window (rule any_tweet)", int((~frame["_any"]).sum()),
                   _examples(frame[~frame["_any"]]))
    if rule == "code":
        report.add(STEP, "a lag trading day or the target day receives no tweet (rule code)",
                   int((~frame["_steps"]).sum()), _examples(frame[~frame["_steps"]]))
    kept = frame[_rule_mask(frame, rule)]
    return kept.loc[:, list(COLUMNS)].reset_index(drop=True)


def _rule_mask(frame: pd.DataFrame, rule: str) -> pd.Series:
    if rule == "paper":
        return pd.Series(True, index=frame.index)
    if rule == "any_tweet":
        return frame["_any"]
    return frame["_steps"]


def _examples(frame: pd.DataFrame) -> tuple[str, ...]:
    return tuple(f"{t} {d:%Y-%m-%d}" for t, d in zip(frame["ticker"][:3], frame["date"][:3]))


def _candidates(
    root: str | Path, lag_days: int, fall: float, rise: float,
    splits: Sequence[tuple[str, str, str]], tickers: Iterable[str] | None, report: CleaningReport,
    unlabelled_splits: Sequence[str] = (), tweet_cutoff: str = "none", on_invalid: OnInvalid = "raise",
) -> pd.DataFrame:
    """Every labelled (non-neutral) target, and the neutral ones of `unlabelled_splits`, with its
    lag inputs and the rule flags _any and _steps."""
    if not isinstance(lag_days, int) or isinstance(lag_days, bool) or lag_days < 1:
        raise ConfigError(f"benchmark_samples: lag_days must be an int >= 1, got {lag_days!r}")
    if not fall < rise:
        raise ConfigError(f"benchmark_samples: expected fall < rise, got fall={fall!r}, rise={rise!r}")
    if tweet_cutoff not in CUTOFFS:
        raise ConfigError(f"benchmark_samples: tweet_cutoff must be one of {list(CUTOFFS)}, got {tweet_cutoff!r}")
    checked = _check_splits(splits)
    names = [s.name for s in checked]
    unknown = [s for s in ([unlabelled_splits] if isinstance(unlabelled_splits, str) else unlabelled_splits)
               if s not in names]
    if unknown or isinstance(unlabelled_splits, str):
        raise ConfigError(f"benchmark_samples: unlabelled_splits must be a list of split names {names}, "
                          f"got {unlabelled_splits!r}")
    price_dir, tweet_dir = _check_root(Path(root))
    records: list[dict] = []
    tally = _Tally()
    with_prices = {p.name[:-4] for p in price_dir.iterdir() if p.name.endswith(".txt")}
    orphans = sorted(n for n in os.listdir(tweet_dir) if n not in with_prices and not n.startswith("."))
    tally.add(STEP, "tweet directory without a price/preprocessed file (ignored)", len(orphans), tuple(orphans))
    for ticker in _choose_tickers(price_dir, tickers):
        prices = _read_prices(price_dir / f"{ticker}.txt", on_invalid, tally)
        if not len(prices.dates):
            tally.add(STEP, "ticker without price rows (empty price file)", 1, (ticker,))
            continue
        targets = _targets(ticker, prices, checked, fall, rise, tally, set(unlabelled_splits))
        if not targets:
            continue
        lo = min(d for d, _, _ in targets) - timedelta(days=lag_days)
        hi = max(d for d, _, _ in targets) - timedelta(days=1)
        tweets = _read_tweets(tweet_dir, ticker, lo, hi, tally, on_invalid)
        records.extend(_sample(ticker, prices, tweets, d, i, name, lag_days, tweet_cutoff, tally)
                       for d, i, name in targets)
    tally.flush(report)
    return _to_frame(records, fall, rise)


class _Tally:
    """Drops summed over tickers, one CleaningReport entry per (step, reason) with the first examples."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], list] = {}

    def add(self, step: str, reason: str, count: int, examples: tuple[str, ...] = ()) -> None:
        if count:
            entry = self._counts.setdefault((step, reason), [0, []])
            entry[0] += int(count)
            entry[1].extend(examples[: 3 - len(entry[1])])

    def flush(self, report: CleaningReport) -> None:
        for (step, reason), (count, examples) in self._counts.items():
            report.add(step, reason, count, tuple(examples))


def _check_splits(splits: Sequence[tuple[str, str, str]]) -> list[_Split]:
    out = []
    for item in splits:
        try:
            name, start, end = item
            split = _Split(str(name), date.fromisoformat(str(start)), date.fromisoformat(str(end)))
        except (TypeError, ValueError):
            raise ConfigError(f"splits: expected (name, 'YYYY-MM-DD', 'YYYY-MM-DD') triples, got {item!r}") from None
        if not split.start < split.end:
            raise ConfigError(f"splits: split {split.name!r} must have start < end, got {item!r}")
        out.append(split)
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"splits: names must be unique, got {names}")
    ordered = sorted(out, key=lambda s: s.start)
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end:
            raise ConfigError(f"splits: {a.name!r} and {b.name!r} overlap ({a.start}..{a.end} vs {b.start}..{b.end})")
    return out


def _check_root(root: Path) -> tuple[Path, Path]:
    if not root.is_dir():
        raise DataError(f"StockNet root {str(root)!r} is not a directory; expected it to hold {LAYOUT}")
    price_dir, tweet_dir = root / "price" / "preprocessed", root / "tweet" / "preprocessed"
    for d in (price_dir, tweet_dir):
        if not d.is_dir():
            raise DataError(f"StockNet root {str(root)!r} has no {d.relative_to(root)}/ directory; expected {LAYOUT}")
    return price_dir, tweet_dir


def _choose_tickers(price_dir: Path, tickers: Iterable[str] | None) -> list[str]:
    available = sorted(p.name[:-4] for p in price_dir.iterdir() if p.name.endswith(".txt"))
    if tickers is None:
        return available
    chosen = list(dict.fromkeys([tickers] if isinstance(tickers, str) else map(str, tickers)))
    unknown = [t for t in chosen if t not in available]
    if unknown:
        raise DataError(f"StockNet: no price/preprocessed file for ticker(s) {unknown} in {str(price_dir)!r}; "
                        f"available: {available[:20]}" + (" ..." if len(available) > 20 else ""))
    return chosen


def _read_prices(path: Path, on_invalid: OnInvalid, tally: _Tally) -> _Prices:
    """Parse a preprocessed price file; a malformed line or a repeated date raises naming the file,
    line and value, or with on_invalid="drop" is dropped and counted in `tally`."""
    days: dict[date, int] = {}  # day -> its line
    rows, bad = [], []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                day, values = _price_line(line, days)
            except ValueError as exc:
                if on_invalid != "drop":
                    raise DataError(f"{path}: line {number}: {exc}") from None
                bad.append(f"line {number}: {line.strip()[:60]!r}")
                continue
            days[day] = number
            rows.append(values)
    tally.add(STEP, f"{path}: malformed price line or repeated date (dropped, on_invalid drop)", len(bad), tuple(bad))
    dates = np.array(list(days), dtype="datetime64[D]")
    order = np.argsort(dates, kind="stable")
    return _Prices(dates[order], np.array(rows, dtype=np.float64).reshape(-1, len(PRICE_FEATURES))[order])


def _price_line(line: str, seen: dict[date, int]) -> tuple[date, list[float]]:
    """(date, the 6 values) of one price line; ValueError saying what is wrong."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != _N_FIELDS:
        raise ValueError(f"expected {_N_FIELDS} tab-separated fields (date, {', '.join(PRICE_FEATURES)}), "
                         f"got {len(fields)}: {line[:80]!r}")
    try:
        day = date.fromisoformat(fields[0])
    except ValueError:
        raise ValueError(f"expected a YYYY-MM-DD date in field 1, got {fields[0]!r}") from None
    try:
        values = [float(v) for v in fields[1:]]
    except ValueError:
        raise ValueError(f"expected numbers in fields 2-{_N_FIELDS}, got {fields[1:]!r}") from None
    if not np.isfinite(values).all():
        raise ValueError(f"expected finite numbers in fields 2-{_N_FIELDS}, got {fields[1:]!r}")
    if day in seen:
        raise ValueError(f"date {day} appears more than once (first on line {seen[day]}); "
                         "expected one row per trading day")
    return day, values


def _targets(
    ticker: str, prices: _Prices, splits: list[_Split], fall: float, rise: float, tally: _Tally,
    unlabelled: set[str] = frozenset(),
) -> list[tuple[date, int, str]]:
    """(day, row index, split name) of the target days: the labelled ones and the neutral ones of
    `unlabelled` splits; counts neutral and out-of-split rows."""
    out, neutral, outside = [], [], 0
    for i, day in enumerate(prices.dates.astype(object)):
        split = next((s.name for s in splits if s.start <= day < s.end), None)
        if split is None:
            outside += 1
            continue
        if fall <= prices.values[i, 0] < rise and split not in unlabelled:
            neutral.append(f"{ticker} {day}")
            continue
        out.append((day, i, split))
    tally.add(STEP, "price rows dated in no split (not target days)", outside, (ticker,))
    tally.add(STEP, f"target day in the neutral band {fall} <= movement < {rise}", len(neutral), tuple(neutral))
    return out


def _read_tweets(tweet_dir: Path, ticker: str, lo: date, hi: date, tally: _Tally,
                 on_invalid: OnInvalid) -> dict[date, list[tuple[datetime, str]]]:
    """(created_at, text) per file day in [lo, hi], each day in created_at order; empty token lists are skipped."""
    folder = tweet_dir / ticker
    if not folder.is_dir():
        tally.add(STEP, "ticker without a tweet directory (its newsflows are empty)", 1, (ticker,))
        return {}
    days: dict[date, list[tuple[datetime, str]]] = {}
    for name in sorted(os.listdir(folder)):
        if not _DATE_NAME.match(name):
            if not name.startswith("."):
                tally.add(STEP, "tweet file name is not YYYY-MM-DD (ignored)", 1, (f"{ticker}/{name}",))
            continue
        day = date.fromisoformat(name)
        if lo <= day <= hi:
            texts = _read_tweet_file(folder / name, tally, on_invalid)
            if texts:
                days[day] = texts
    return days


def _read_tweet_file(path: Path, tally: _Tally, on_invalid: OnInvalid) -> list[tuple[datetime, str]]:
    """(created_at, text) of a tweet file in time order; a line without a token list or a valid
    created_at raises naming the file and line, or with on_invalid="drop" is dropped and counted
    (as is a line that is not UTF-8; a line that is not JSON always raises: `iter_jsonl`)."""
    stamped, empty, bad = [], 0, []
    undecodable = CleaningReport()
    for number, obj in iter_jsonl(path, on_invalid=on_invalid, report=undecodable):
        tokens, created = obj.get("text"), obj.get("created_at")
        try:
            if not isinstance(tokens, list | str) or not isinstance(created, str):
                raise ValueError(f"expected 'text' (a token list) and 'created_at' (a string); "
                                 f"got text={str(tokens)[:40]!r}, created_at={created!r}")
            stamp = _created_at(created)
        except ValueError as exc:
            if on_invalid != "drop":
                raise DataError(f"{path}: line {number}: {exc}") from None
            bad.append(f"line {number}")
            continue
        if not tokens:
            empty += 1
            continue
        stamped.append((stamp, " ".join(map(str, tokens)) if isinstance(tokens, list) else tokens))
    tally.add(STEP, "tweet with an empty token list (skipped, as in the released code)", empty, (str(path),))
    tally.add(STEP, f"{path}: tweet line without a token list or a valid created_at (dropped, on_invalid drop)",
              len(bad), tuple(bad))
    for d in undecodable.dropped:
        tally.add(d.step, d.reason, d.count, d.examples)
    stamped.sort(key=lambda pair: pair[0])
    return stamped


def _created_at(created: str) -> datetime:
    try:
        return datetime.strptime(created, CREATED_AT_FORMAT)
    except ValueError:
        raise ValueError(f"created_at {created!r} does not match {CREATED_AT_FORMAT!r} (e.g. 'Wed Jan 01 "
                         "03:59:03 +0000 2014')") from None


def _sample(
    ticker: str, prices: _Prices, tweets: dict[date, list[tuple[datetime, str]]], day: date, index: int, split: str,
    lag_days: int, tweet_cutoff: str = "none", tally: _Tally | None = None,
) -> dict:
    """One target's inputs and rule flags (see the module docstring)."""
    lag = [day - timedelta(days=k) for k in range(lag_days, 0, -1)]
    stamped = [tweets.get(c, []) for c in lag]
    if tweet_cutoff == "close":
        last = prices.dates[index - 1].astype(object) if index > 0 else day - timedelta(days=1)
        cutoff = datetime.combine(last, CLOSE, tzinfo=EXCHANGE_TZ)
        kept = [[pair for pair in day_tweets if pair[0] < cutoff] for day_tweets in stamped]
        if tally is not None:
            tally.add(STEP, "lag tweet created at or after the close before the target day (tweet_cutoff close; "
                      "counted per target)", sum(len(a) - len(b) for a, b in zip(stamped, kept)),
                      (f"{ticker} {day}",))
        stamped = kept
    per_day = [[text for _, text in day_tweets] for day_tweets in stamped]
    texts = tuple(t for day_texts in per_day for t in day_texts)
    text_ages = tuple((day - c).days for c, day_texts in zip(lag, per_day) for _ in day_texts)
    first = np.datetime64(day - timedelta(days=lag_days - 1), "D")
    start = int(np.searchsorted(prices.dates, first, side="left"))
    rows = prices.values[start:index]
    width = lag_days - 1
    window = np.zeros((width, len(PRICE_FEATURES)), dtype=np.float64)
    mask, ages = np.zeros(width, dtype=bool), np.zeros(width, dtype=np.int64)
    if len(rows):
        window[width - len(rows):], mask[width - len(rows):] = rows, True
        ages[width - len(rows):] = (np.datetime64(day, "D") - prices.dates[start:index]).astype(np.int64)
    steps = np.append(prices.dates[start:index], np.datetime64(day, "D"))  # the code's time steps
    received = np.zeros(len(steps), dtype=np.int64)
    for c, day_texts in zip(lag, per_day):
        received[int(np.searchsorted(steps, np.datetime64(c, "D"), side="right"))] += len(day_texts)
    return {
        "ticker": ticker, "date": day, "split": split, "movement": float(prices.values[index, 0]), "texts": texts,
        "text_ages": text_ages, "n_tweets": len(texts), "n_tweet_days": sum(1 for d in per_day if d),
        "prices": window, "price_mask": mask, "price_ages": ages, "n_price_days": int(mask.sum()),
        "_any": bool(texts), "_steps": bool((received > 0).all()),
    }


def _to_frame(records: list[dict], fall: float, rise: float) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=[*COLUMNS, "_any", "_steps"])
    neutral = (frame["movement"] >= fall) & (frame["movement"] < rise)  # kept only in unlabelled splits
    frame["label"] = np.where(neutral, -1, (frame["movement"] >= rise).astype("int64")).astype("int64")
    frame["labelled"] = ~neutral
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    frame = frame.astype({"ticker": object, "split": object, "n_tweets": "int64", "n_tweet_days": "int64",
                          "n_price_days": "int64", "movement": "float64", "_any": bool, "_steps": bool,
                          "labelled": bool})
    return frame.sort_values(["ticker", "date"], kind="mergesort").reset_index(drop=True)

