"""Benchmark: one sweep with the local, processes and ray executors; Ray's overhead per unit; peak
driver memory of each.

Usage:  python benchmarks/scale_out.py [--days 3000] [--epochs 60] [--patience 8] [--seeds 3] [--workers 2]
                                       [--empty 200] [--quick]

The sweep is `seed000_simulation` reduced to 24 units: models Num-only MLP and Text-only (frozen
encoder), a grid of n_features {4, 8} x batch_size {16, 32}, 3 seeds (each seed a new market),
`--days` days (the recipe's 3000), at most `--epochs` epochs with early stopping (the recipe's 60). Each executor runs the same config in a fresh child process (`--one KIND`), so its
wall time includes the executor's start (the Ray instance, the pool) and its peak resident memory
(VmHWM of the child) is the driver's alone; Ray's workers and object store are other
processes. Planning the sweep once first encodes every text of its markets into the text-encoder
disk cache (all executors then read encoded texts from it, as a second run of a study would; the
processes and ray drivers read them there to ship them to their workers).

Then Ray's scheduling overhead per unit: `--empty` units that do nothing, mapped by the Ray
executor on a running instance vs in process; (ray - local) / units.

Prints every figure, the ratios to `local` (speed-up = local time / time) and the machine.
`--quick` (tiny sizes) only checks that the script works. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray

import finfusion.progress as progress
from finfusion.executors import InProcessExecutor
from finfusion.executors.ray_cluster import RayExecutor
from finfusion.experiments.config import load_config
from finfusion.experiments.plan import plan_units
from finfusion.experiments.recipes import recipe_path
from finfusion.experiments.runner import PREDICT, run

KINDS = ("local", "processes", "ray")


def sweep_config(args: argparse.Namespace, out: Path, kind: str, *, seeds: int | None = None):
    """The reduced seed000_simulation sweep, run by executor `kind`."""
    patience = args.patience if args.patience > 0 else "null"
    models = ('[{name: mlp, label: Num-only MLP, params: {epochs: %d, early_stopping_patience: %s, lr: 0.001}},'
              ' {name: text_only, label: Text-only, params: {tuning: frozen, epochs: %d, '
              'early_stopping_patience: %s, lr: 0.001}}]') % (args.epochs, patience, args.epochs, patience)
    sets = [f"data.simulate.n_days={args.days}", f"models={models}", "sweep.mode=grid",
            "sweep.params={data.simulate.n_features: [4, 8], models.*.params.batch_size: [16, 32]}",
            f"sweep.seeds={list(range(seeds or args.seeds))}", "output.plots=false", "output.report=false",
            "progress=false", f"output.dir={out}", f"executor.kind={kind}", f"executor.workers={args.workers}"]
    return load_config(recipe_path("seed000_simulation"), sets)


def one(args: argparse.Namespace) -> None:
    """Child process: run the sweep with `args.one` and print a JSON line of its figures."""
    config = sweep_config(args, Path(args.out), args.one)
    started = time.perf_counter()
    result = run(config, run_dir=Path(args.out) / args.one)
    seconds = time.perf_counter() - started
    peak_mib = peak_rss_mib()
    units = len(plan_units(config))
    print(json.dumps({"kind": args.one, "seconds": seconds, "units": units, "peak_mib": peak_mib,
                      "rows": len(result.predictions)}))


def peak_rss_mib() -> float:
    """This process's peak resident memory, MiB: VmHWM of /proc/self/status (Linux). Not
    getrusage's ru_maxrss, which a child started by fork + exec inherits from its parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (the memory figure needs Linux)")


def _noop(item, shared):
    return item


def overhead(n: int) -> tuple[float, float, float]:
    """(seconds per unit in process, seconds per unit on Ray, seconds to start a private Ray instance
    and its workers) of `n` empty units; the instance's start is timed apart (a cost per run, not
    per unit)."""
    ids = [str(i) for i in range(n)]
    started = time.perf_counter()
    InProcessExecutor().map(_noop, list(range(n)), ids=ids)
    local = (time.perf_counter() - started) / n
    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        executor = RayExecutor()
        executor.map(_noop, list(range(4)), ids=ids[:4])  # workers started
        start = time.perf_counter() - started
        started = time.perf_counter()
        executor.map(_noop, list(range(n)), ids=ids)
        on_ray = (time.perf_counter() - started) / n
    finally:
        ray.shutdown()
    return local, on_ray, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=8, help="early-stopping patience (0: none, every epoch runs)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="processes of the processes executor")
    parser.add_argument("--empty", type=int, default=200, help="empty units for the overhead figure")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script works")
    parser.add_argument("--one", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.days, args.epochs, args.seeds, args.empty = 300, 2, 1, 20
    if args.one:
        return one(args)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"ray {ray.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        with progress.showing(False):  # encodes every text of the sweep once, into the disk cache
            PREDICT.plan(sweep_config(args, Path(tmp), "processes"))
        figures = {}
        for kind in KINDS:
            child = [sys.executable, __file__, "--one", kind, "--out", tmp, "--days", str(args.days),
                     "--epochs", str(args.epochs), "--patience", str(args.patience), "--seeds", str(args.seeds),
                     "--workers", str(args.workers)]
            done = subprocess.run(child, check=True, capture_output=True, text=True)
            figures[kind] = json.loads(done.stdout.strip().splitlines()[-1])
            f = figures[kind]
            print(f"{kind:9s}: {f['seconds']:7.1f} s for {f['units']} units, driver peak RSS {f['peak_mib']:6.0f} MiB")
    base = figures["local"]
    for kind in KINDS[1:]:
        f = figures[kind]
        print(f"{kind:9s}: speed-up {base['seconds'] / f['seconds']:.2f}x vs local; "
              f"driver memory {f['peak_mib'] / base['peak_mib']:.2f}x local's")
    print(f"ray vs processes: {figures['processes']['seconds'] / figures['ray']['seconds']:.2f}x "
          "(>1: ray faster)")
    local, on_ray, start = overhead(args.empty)
    print(f"overhead per empty unit: in process {local * 1e3:.3f} ms, ray {on_ray * 1e3:.2f} ms "
          f"({args.empty} units, instance running); starting a private instance and its first workers: "
          f"{start:.1f} s (once per run with address local)")


if __name__ == "__main__":
    main()
