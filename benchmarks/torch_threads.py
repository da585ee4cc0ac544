"""Benchmark: fit time of one MLP with torch.set_num_threads(1), (2) and torch's default, idle and under load.

Usage:  python benchmarks/torch_threads.py [--days 1500] [--tickers 4] [--features 16] [--epochs 10]
                                           [--repeats 5] [--quick]

The same MLP (`make_predictor("mlp", ...)`, seeded) is fitted on the same simulated samples
(README "Library use": simulate_market -> build_samples with the "extra" group) with each thread
setting, first on an otherwise idle machine, then while N = os.cpu_count() + 1 busy-loop processes
compete for the cores (they are started for that phase and killed at its end, also on an error).
Each fit is timed `repeats` times, the settings interleaved per repeat so that drift affects them
alike; one untimed warm-up fit comes first. Prints min and median seconds per setting, the ratio of
each median to the default's, and the machine (platform, CPU count, torch version and its default
thread count). The numbers choose finfusion's default `torch_threads`; run it on an idle machine.
`--quick` (tiny sizes, one repeat) only checks that the script works.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import time

import torch

from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TextConfig
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.simulate import SimulatorConfig, simulate_market
from finfusion.models.base import Samples
from finfusion.models.registry import make_predictor

DEFAULT_THREADS = torch.get_num_threads()  # read before anything sets it


def _spin() -> None:
    """A busy loop: one process keeps one core busy until it is killed."""
    while True:
        pass


class BackgroundLoad:
    """`n` busy-loop processes for the duration of a `with` block (killed on exit, errors included)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list[mp.process.BaseProcess] = []

    def __enter__(self) -> BackgroundLoad:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self.procs = [ctx.Process(target=_spin, daemon=True) for _ in range(self.n)]
        for p in self.procs:
            p.start()
        time.sleep(0.5)  # let the scheduler spread them
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.join(timeout=5)


def make_samples(days: int, tickers: int, features: int) -> Samples:
    """Simulated regression samples: (days - warm-up) * tickers rows of `features` columns."""
    sim = simulate_market(SimulatorConfig(n_days=days, n_tickers=tickers, n_features=features, seed=0))
    spec = SampleSpec(features=FeatureConfig(groups=["extra"]), text=TextConfig(enabled=False))
    return build_samples(MarketData(sim.prices, sim.texts, sim.truth), spec)


def fit_seconds(samples: Samples, threads: int, params: dict) -> float:
    """Seconds of one fit of a fresh MLP with `threads` intra-op threads."""
    torch.set_num_threads(threads)
    model = make_predictor("mlp", params)
    start = time.perf_counter()
    model.fit(samples)
    return time.perf_counter() - start


def measure(samples: Samples, settings: dict[str, int], params: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds per setting (label -> `repeats` fit times), settings interleaved per repeat."""
    fit_seconds(samples, DEFAULT_THREADS, params)  # warm-up: first-call allocations, kernels
    times: dict[str, list[float]] = {label: [] for label in settings}
    for _ in range(repeats):
        for label, threads in settings.items():
            times[label].append(fit_seconds(samples, threads, params))
    return times


def report(phase: str, times: dict[str, list[float]], default: str) -> None:
    base = statistics.median(times[default])
    print(f"\n{phase}")
    print(f"  {'threads':<14}{'min s':>9}{'median s':>10}{'median / default':>18}")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"  {label:<14}{min(values):>9.3f}{median:>10.3f}{median / base:>18.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1500, help="simulated trading days per ticker")
    parser.add_argument("--tickers", type=int, default=4, help="simulated tickers")
    parser.add_argument("--features", type=int, default=16, help="numeric features d")
    parser.add_argument("--epochs", type=int, default=10, help="MLP epochs per fit")
    parser.add_argument("--hidden", type=int, default=64, help="MLP width")
    parser.add_argument("--batch-size", type=int, default=32, help="MLP batch size")
    parser.add_argument("--repeats", type=int, default=5, help="timed fits per setting and phase")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: checks that the script works")
    args = parser.parse_args()
    if args.quick:
        args.days, args.tickers, args.features, args.epochs, args.repeats = 80, 2, 4, 1, 1
    load = (os.cpu_count() or 1) + 1
    print(f"# {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} (default {DEFAULT_THREADS} intra-op threads, "
          f"{torch.get_num_interop_threads()} inter-op)")
    samples = make_samples(args.days, args.tickers, args.features)
    params = {"epochs": args.epochs, "hidden": args.hidden, "batch_size": args.batch_size, "seed": 0,
              "show_progress": False}
    print(f"# MLP {params} on {len(samples):,} samples x {samples.X.shape[-1]} features; {args.repeats} repeats; "
          f"load = {load} busy-loop processes")
    default = f"{DEFAULT_THREADS} (default)"
    settings = {str(t): t for t in (1, 2) if t != DEFAULT_THREADS}
    settings[default] = DEFAULT_THREADS
    report("idle machine", measure(samples, settings, params, args.repeats), default)
    with BackgroundLoad(load):
        loaded = measure(samples, settings, params, args.repeats)
    report(f"with {load} busy-loop processes", loaded, default)
    torch.set_num_threads(DEFAULT_THREADS)


if __name__ == "__main__":
    main()
