"""Benchmark: training throughput of a newsflow model with the frozen (cached) encoder vs LoRA.

Usage:  python benchmarks/lora_speed.py [--n 256] [--items 8] [--threads 2]

Fusion Combination on `n` samples of `items` distinct tweet-like texts each (max_length 64, one
epoch): with `tuning: frozen` every text is encoded once and cached, so the epoch is one encoder
pass plus a tiny head; with `tuning: lora` (rank 4 on every linear layer) each step runs the
encoder forward and backward on the batch's texts. Prints texts/s of each and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
import torch

from finfusion.models.base import Samples
from finfusion.models.registry import make_predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="samples")
    parser.add_argument("--items", type=int, default=8, help="texts per sample")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    os.environ["FINFUSION_CACHE_DIR"] = "off"  # time the encoding, not the on-disk cache
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    words = "stock price up down earnings beat miss guidance buy sell bullish bearish $AAPL $MSFT rally drop".split()
    items = tuple(tuple(" ".join(rng.choice(words, 18)) + f" {i}-{k}" for k in range(args.items))
                  for i in range(args.n))
    index = pd.DataFrame({"date": pd.date_range("2014-01-01", periods=args.n), "ticker": "A"})
    samples = Samples(index=index, X=rng.normal(size=(args.n, 5)).astype(np.float32), y=rng.normal(size=args.n),
                      feature_names=tuple("abcde"), texts=tuple(" | ".join(t) for t in items), text_items=items)
    print(f"# {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {args.threads} threads")
    texts = args.n * args.items
    for tuning in ("frozen", "lora"):
        model = make_predictor("fusion_concat", {"tuning": tuning, "epochs": 1, "max_length": 64})
        start = time.perf_counter()
        model.fit(samples)
        seconds = time.perf_counter() - start
        print(f"{tuning}: {seconds:.1f} s for one epoch over {texts} texts = {texts / seconds:,.0f} texts/s")


if __name__ == "__main__":
    main()
