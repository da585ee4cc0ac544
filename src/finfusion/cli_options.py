"""Command-line options that several finfusion commands share (`cli`, `cli_sentiment`, `cli_serve`)."""

from __future__ import annotations

import argparse

from finfusion.text.inference import ENGINES, PRECISIONS


def add_executor_options(p: argparse.ArgumentParser, *, what: str = "the units", address: bool = True,
                         workers_help: str = "") -> None:
    """--executor local|processes|ray, --workers N and (unless `address` is False) --address."""
    p.add_argument("--executor", choices=("local", "processes", "ray"), default=None,
                   help=f"where {what} run (default: the config's executor.kind, local: one after another); "
                   "allowed with --resume: it changes where units run, never their results (docs/scale-out.md)")
    if address:
        p.add_argument("--address", default=None, help="with --executor ray: local (a private Ray instance, the "
                       "default), auto (the cluster of `ray start`), HOST:PORT or ray://HOST:PORT")
    p.add_argument("--workers", type=int, default=None,
                   help=f"with --executor processes: how many processes (default 2){workers_help}")


def add_inference_options(p: argparse.ArgumentParser, *, what: str = "a fine-tuned classifier") -> None:
    """--engine torch|onnx and --precision fp32|int8|bf16 of `what` (`finfusion.text.inference`)."""
    p.add_argument("--engine", choices=ENGINES, default="torch",
                   help=f"what runs {what}: torch (default) or onnx (ONNX Runtime on the CPU, extra "
                   "finfusion[onnx]; exported once per model into the cache; docs/text.md)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 (default), int8 (engine onnx: int8 weights and activations, calibrated scales) or bf16 (engine torch: autocast)")
