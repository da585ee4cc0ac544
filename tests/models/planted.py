"""A small StockNet-layout dataset with a planted signal, for the planted-signal tests of the
models that read the benchmark (HAN, StockNet, the per-tweet newsflow option, ...).

Layout and conventions as `finfusion.data.adapters.stocknet_benchmark` reads them: price files
newest first (date, movement, open, high, low, close, volume), one tweet file per calendar day,
JSON lines {"text": [tokens], "created_at": "Wed Jan 01 03:59:03 +0000 2014"}; the day of a tweet
is the name of its file. Trading days are the last `n_days` weekdays up to 2015-09-30, so the
targets fall in the benchmark's train [.., 2015-08-01) and dev [2015-08-01, 2015-10-01) splits
(320 weekdays start 2014-07-10).

Per ticker, each trading day d is a rise (movement in [0.006, 0.03]), a fall ([-0.03, -0.006])
or, with probability NEUTRAL_SHARE, a neutral day (in the band the adapter drops), at random.

signal="tweets": the calendar day d-1 (a tweet age of 1 for target d; Sunday for a Monday) holds
    one BULLISH tweet before a rise and one BEARISH tweet before a fall (none before a neutral
    day), among 0-2 noise tweets, at random times. Other calendar days hold 1-3 noise tweets or,
    with probability EMPTY_SHARE, no file. The same file is also in the next targets' windows
    (ages 2..5), where it says nothing about them: only a model that knows the tweets' days reads
    the signal cleanly (a mean over the whole window still sees part of it). Prices are noise.
signal="prices": the `open` field of trading day t is +0.015 before a rise on the next trading
    day and -0.015 before a fall (0 before a neutral one), plus N(0, 0.003) noise; it is in the
    last row of the target's price window. Tweets are noise only (no pattern anywhere).

Every tweet uses words of the tiny test BERT's vocabulary (tests/conftest.py WORDS).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from finfusion.data.adapters.stocknet_benchmark import DEFAULT_SPLITS, benchmark_samples
from finfusion.data.samples import benchmark_to_samples
from finfusion.models.base import Samples

Signal = Literal["tweets", "prices"]
BULLISH = "shares surge after strong earnings"
BEARISH = "shares slump after weak earnings"
NOISE = ("the company reports quarter results", "market today", "new ceo plan", "bank dividend outlook",
         "apple sales", "amazon price", "the stock price today", "company guidance")
LAST_DAY = "2015-09-30"
DEV_START = pd.Timestamp(dict((name, start) for name, start, _ in DEFAULT_SPLITS)["dev"])
NEUTRAL_SHARE = 0.08
EMPTY_SHARE = 0.2
_CREATED = "%a %b %d %H:%M:%S +0000 %Y"


def write_planted_stocknet(root: Path, *, signal: Signal = "tweets", n_tickers: int = 4, n_days: int = 320,
                           seed: int = 0) -> Path:
    """Write the planted dataset under `root` (see the module docstring) and return `root`.

    Tickers P00, P01, ...; `n_days` trading days per ticker (the last weekdays up to LAST_DAY).
    """
    if signal not in ("tweets", "prices"):
        raise ValueError(f"signal must be 'tweets' or 'prices', got {signal!r}")
    rng = np.random.default_rng(seed)
    days = [d.date() for d in pd.bdate_range(end=LAST_DAY, periods=n_days)]
    (root / "price" / "preprocessed").mkdir(parents=True, exist_ok=True)
    for k in range(n_tickers):
        ticker = f"P{k:02d}"
        moves = _movements(rng, len(days))
        _write_prices(root / "price" / "preprocessed" / f"{ticker}.txt", days, moves, signal, rng)
        _write_tweets(root / "tweet" / "preprocessed" / ticker, days, moves, signal, rng)
    return root


def planted_samples(tmp_path: Path, *, signal: Signal = "tweets", rule: str = "paper",
                    **kw) -> tuple[Samples, Samples]:
    """(train, dev) `Samples` of the planted dataset written under tmp_path, built through the real
    adapter (`benchmark_samples` under `rule`, then `benchmark_to_samples`); `kw` goes to
    `write_planted_stocknet` (n_tickers, n_days, seed)."""
    root = write_planted_stocknet(tmp_path / f"planted_{signal}", signal=signal, **kw)
    samples = benchmark_to_samples(benchmark_samples(root, rule=rule))
    dev = (samples.index["date"] >= DEV_START).to_numpy()
    return samples.subset(np.flatnonzero(~dev)), samples.subset(np.flatnonzero(dev))


def _movements(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) movements (fractions): rises, falls and a few neutral-band days."""
    size = rng.uniform(0.006, 0.03, size=n)
    moves = np.where(rng.random(n) < 0.5, size, -size)
    neutral = rng.random(n) < NEUTRAL_SHARE
    moves[neutral] = rng.uniform(-0.004, 0.005, size=int(neutral.sum()))
    return moves


def _hint(move: float) -> float:
    """+1 before a rise, -1 before a fall, 0 before a neutral day (the adapter's thresholds)."""
    return 1.0 if move >= 0.0055 else -1.0 if move < -0.005 else 0.0


def _write_prices(path: Path, days: list[date], moves: np.ndarray, signal: Signal, rng: np.random.Generator) -> None:
    lines = []
    for i, (day, move) in enumerate(zip(days, moves)):
        nxt = _hint(moves[i + 1]) if i + 1 < len(moves) else 0.0
        opening = 0.015 * nxt + rng.normal(0, 0.003) if signal == "prices" else rng.normal(0, 0.01)
        high, low = abs(rng.normal(0, 0.01)) + max(move, 0.0), -abs(rng.normal(0, 0.01)) + min(move, 0.0)
        volume = float(rng.integers(100_000, 5_000_000))
        fields = [day.isoformat(), *(f"{v:.6f}" for v in (move, opening, high, low, 100 * move, volume))]
        lines.append("\t".join(fields))
    path.write_text("\n".join(reversed(lines)) + "\n")  # newest first, as in the dataset


def _write_tweets(folder: Path, days: list[date], moves: np.ndarray, signal: Signal,
                  rng: np.random.Generator) -> None:
    """One file per calendar day from a week before the first trading day to the last one."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = {}  # calendar day d-1 -> the pattern for target d
    if signal == "tweets":
        for day, move in zip(days, moves):
            if _hint(move):
                pattern[day - timedelta(days=1)] = BULLISH if move > 0 else BEARISH
    day = days[0] - timedelta(days=7)
    while day < days[-1]:
        texts = [str(t) for t in rng.choice(NOISE, size=int(rng.integers(0, 3) if day in pattern
                                                                  else rng.integers(1, 4)))]
        if day in pattern:
            texts.insert(int(rng.integers(0, len(texts) + 1)), pattern[day])
        if texts and (day in pattern or rng.random() >= EMPTY_SHARE):
            _write_day(folder / day.isoformat(), day, texts, rng)
        day += timedelta(days=1)


def _write_day(path: Path, day: date, texts: list[str], rng: np.random.Generator) -> None:
    seconds = np.sort(rng.choice(86_400, size=len(texts), replace=False))
    lines = [json.dumps({"text": text.split(), "created_at": (datetime.combine(day, datetime.min.time())
                                                               + timedelta(seconds=int(s))).strftime(_CREATED),
                         "user_id_str": "1"})
             for text, s in zip(texts, seconds)]
    path.write_text("\n".join(reversed(lines)) + "\n")  # newest first
