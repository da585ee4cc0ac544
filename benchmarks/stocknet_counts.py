"""Benchmark: StockNet benchmark sample counts per rule and split, with wall time and machine.

Usage:  python benchmarks/stocknet_counts.py [--root PATH] [--lag-days 5]

Expected on the development copy (../shared/data/stocknet, up to 2015-09-30), train / dev / test:
    paper 20345 / 2555 / 0, any_tweet 14192 / 1871 / 0, code 4990 / 656 / 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from finfusion.data.adapters.stocknet_benchmark import sample_counts
from finfusion.data.frames import CleaningReport

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO_ROOT.parent / "shared" / "data" / "stocknet"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"StockNet root (default {DEFAULT_ROOT})")
    parser.add_argument("--lag-days", type=int, default=5, help="calendar days of tweets before d (default 5)")
    args = parser.parse_args(argv)

    report = CleaningReport()
    start = time.perf_counter()
    counts = sample_counts(args.root, lag_days=args.lag_days, report=report)
    wall = time.perf_counter() - start
    print(f"StockNet benchmark samples on {args.root} (lag {args.lag_days} calendar days)")
    print(counts.to_string())
    print("\ndropped before the rules:")
    print(report.summary())
    print(f"\nwall time: {wall:.2f} s")
    print(f"machine: {platform.platform()}, python {platform.python_version()}, {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
