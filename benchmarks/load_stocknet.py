"""Benchmark: load the full StockNet copy, align tweets to sessions and build the daily newsflow.

Usage:  python benchmarks/load_stocknet.py [--root PATH] [--lookback-days 1]

Prints tweets per second end to end, wall time per stage and in total, peak resident memory
(ru_maxrss) and the machine. Target: < 30 s and < 2 GiB on a laptop-class CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

from finfusion.data.adapters.stocknet import read_stocknet
from finfusion.data.align import align_texts, build_newsflow
from finfusion.data.calendar import TradingCalendar
from finfusion.data.frames import CleaningReport

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO_ROOT.parent / "shared" / "data" / "stocknet"


def peak_memory_mib() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"StockNet root (default {DEFAULT_ROOT})")
    parser.add_argument("--lookback-days", type=int, default=1, help="newsflow look-back in sessions (default 1)")
    parser.add_argument("--on-invalid", choices=("raise", "drop"), default="drop",
                        help="bad rows (the full public copy has null price rows): drop and count (default) or raise")
    args = parser.parse_args(argv)

    report = CleaningReport()
    times: dict[str, float] = {}
    t0 = start = time.perf_counter()
    prices, texts = read_stocknet(args.root, on_invalid=args.on_invalid, report=report)
    times["read_stocknet"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    calendar = TradingCalendar.from_prices(prices)
    times["calendar"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    aligned = align_texts(texts, calendar, tickers=set(prices["ticker"]), report=report)
    times["align_texts"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    newsflow = build_newsflow(aligned, prices, lookback_days=args.lookback_days, calendar=calendar)
    times["build_newsflow"] = time.perf_counter() - t0
    total = time.perf_counter() - start

    print(f"root            : {args.root}")
    print(f"prices          : {len(prices):,} rows, {prices['ticker'].nunique()} tickers, {len(calendar)} sessions")
    print(f"tweets          : {len(texts):,} read, {len(aligned):,} aligned")
    print(f"newsflow        : {len(newsflow):,} rows, {(newsflow['n_texts'] > 0).mean():.1%} with text "
          f"(lookback {args.lookback_days} session(s))")
    for stage, seconds in times.items():
        print(f"  {stage:<14}: {seconds:7.3f} s")
    print(f"total           : {total:7.3f} s")
    print(f"throughput      : {len(texts) / total:,.0f} tweets/s end to end")
    print(f"peak memory     : {peak_memory_mib():,.0f} MiB (ru_maxrss)")
    print(f"machine         : {platform.platform()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    print(f"dropped         : {report.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
