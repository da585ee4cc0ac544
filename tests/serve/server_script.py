"""`finfusion serve` as the tests run it in a subprocess: the real command (finfusion.cli_serve),
with the fake pipeline loader of fakes.py in place of `load_pipeline` (the real pipelines are
tested in tests/pipeline). Arguments: those of `finfusion serve`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("FINFUSION_CACHE_DIR", "off")  # as tests/conftest.py: no user caches

from fakes import FakeForecaster  # noqa: E402

import finfusion.cli_serve as cli_serve  # noqa: E402

cli_serve.load_pipeline = FakeForecaster.load

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="finfusion")
    cli_serve.add_serve_parser(parser.add_subparsers())
    args = parser.parse_args(sys.argv[1:])
    raise SystemExit(args.func(args))
