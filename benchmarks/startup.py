"""Start-up time of the command line and of `import finfusion` (issue 21: each < 1 s).

    python benchmarks/startup.py [--runs 5]

Times each command in a fresh interpreter (min / median / max of `--runs`), against the
interpreter's own start-up (`python -c pass`) as the reference, and prints the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (reference)": [sys.executable, "-c", "pass"],
    "import finfusion": [sys.executable, "-c", "import finfusion"],
    "finfusion --help": [sys.executable, "-m", "finfusion.cli", "--help"],
    "finfusion models": [sys.executable, "-m", "finfusion.cli", "models"],
    "finfusion recipes": [sys.executable, "-m", "finfusion.cli", "recipes"],
    "finfusion run --help": [sys.executable, "-m", "finfusion.cli", "run", "--help"],
    "finfusion serve --help": [sys.executable, "-m", "finfusion.cli", "serve", "--help"],
    "finfusion sentiment --help": [sys.executable, "-m", "finfusion.cli", "sentiment", "--help"],
}


def seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    worst = 0.0
    for name, argv in COMMANDS.items():
        seconds(argv)  # warm the file cache
        times = sorted(seconds(argv) for _ in range(args.runs))
        worst = max(worst, statistics.median(times)) if "reference" not in name else worst
        print(f"{name:32s} min {times[0]:.3f}  median {statistics.median(times):.3f}  max {times[-1]:.3f} s")
    print(f"slowest median (goal < 1 s): {worst:.3f} s")


if __name__ == "__main__":
    main()
