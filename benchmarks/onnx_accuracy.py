"""Accuracy of the ONNX Runtime engine: encoder cosines and a fine-tuned classifier's PhraseBank accuracy.

Usage:  python benchmarks/onnx_accuracy.py [--run DIR] [--data FILE] [--epochs 2] [--out DIR] [--quick]

The check behind `finfusion.text.inference.CLASSIFIER_INT8` (issue 21): int8 is offered for
sentiment classifiers only if a fine-tuned classifier's validation accuracy with int8 differs
from fp32 by at most 0.5 point.

* classifier: `--run DIR`, a run directory of `finfusion sentiment train` (model/ and
  splits/valid.jsonl), else all-MiniLM-L6-v2 fine-tuned here on `--data` (default: Financial
  PhraseBank Sentences_50Agree.txt of ../shared/data, 20 % stratified validation, `--epochs`,
  max_length 64) into `--out` (default: a temporary directory). The validation part is scored
  with torch fp32, onnx fp32, onnx int8 and torch bf16: accuracy, agreement of the labels with
  torch fp32, max |probability difference|.
* encoder: the pooled mean vectors of the bundled all-MiniLM-L6-v2 on the validation sentences:
  cosine of onnx fp32 to torch fp32, of onnx int8 and of torch bf16 to fp32 (min and mean), and
  max |difference| of onnx fp32.

Ends with machine-readable lines `metric <name> <value>` and `check classifier_int8 PASS|FAIL`.
`--quick`: 300 training texts, 1 epoch (checks that the script runs; the numbers mean little).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import finfusion.text.encoder as encoder_module
from finfusion.text import disk_cache
from finfusion.text.encoder import TextEncoder
from finfusion.text.sentiment import SentimentClassifier, SentimentTrainConfig, train_sentiment

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "phrasebank" / "Sentences_50Agree.txt"
MAX_POINTS = 0.5  # int8 vs fp32 validation accuracy, in points (percent)
RUNS = {"torch fp32": dict(engine="torch", precision="fp32"), "onnx fp32": dict(engine="onnx", precision="fp32"),
        "onnx int8": dict(engine="onnx", precision="int8"), "torch bf16": dict(engine="torch", precision="bf16")}


def fine_tuned(args: argparse.Namespace, out: Path) -> Path:
    """The run directory of a classifier: `--run`, else fine-tuned here into `out`."""
    if args.run is not None:
        return args.run
    config = SentimentTrainConfig(epochs=1 if args.quick else args.epochs, max_length=64, valid_fraction=0.2,
                                  limit=300 if args.quick else None, lr=5e-5, batch_size=16, seed=0, device="cpu",
                                  save_optimizer=False, save_total_limit=1)
    train_sentiment(args.data, out, config, report=False, progress=False)
    return out


def classifier_rows(run_dir: Path) -> tuple[list[str], dict[str, float]]:
    """(validation texts, metrics per engine / precision), printed as a table."""
    valid = pd.read_json(run_dir / "splits" / "valid.jsonl", lines=True)
    texts = valid["text"].tolist()
    probs = {}
    for name, run in RUNS.items():
        clf = SentimentClassifier.load(run_dir / "model", device="cpu" if run["engine"] == "torch" else None, **run)
        probs[name] = clf.predict_proba(texts)
    labels = np.array([clf.labels.index(label) for label in valid["label"]])
    reference = probs["torch fp32"].argmax(1)
    metrics = {}
    print(f"classifier         : {run_dir / 'model'}, {len(texts)} validation texts {valid['label'].value_counts().to_dict()}")
    for name, p in probs.items():
        accuracy = 100 * float((p.argmax(1) == labels).mean())
        agree = 100 * float((p.argmax(1) == reference).mean())
        diff = float(np.abs(p - probs["torch fp32"]).max())
        print(f"  {name:11s}: accuracy {accuracy:6.2f} %, labels equal to torch fp32 {agree:6.2f} %, "
              f"max |probability difference| {diff:.2e}")
        key = name.replace(" ", "_")
        metrics |= {f"classifier_{key}_accuracy": accuracy, f"classifier_{key}_agreement": agree,
                    f"classifier_{key}_max_prob_diff": diff}
    return texts, metrics


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def encoder_rows(texts: list[str]) -> dict[str, float]:
    """Cosines of the pooled mean vectors of MiniLM under each engine / precision to torch fp32."""
    vectors = {name: TextEncoder(pooling="mean", device="cpu" if run["engine"] == "torch" else None, **run)
               .frozen_outputs(texts).values for name, run in RUNS.items()}
    exact = vectors["torch fp32"]
    metrics = {}
    print(f"encoder            : all-MiniLM-L6-v2, mean pooling, the {len(texts)} validation sentences")
    for name, v in vectors.items():
        if name == "torch fp32":
            continue
        cos = cosines(v, exact)
        print(f"  {name:11s}: cosine to torch fp32 min {cos.min():.7f}, mean {cos.mean():.7f}; "
              f"max |difference| {np.abs(v - exact).max():.2e}")
        key = name.replace(" ", "_")
        metrics |= {f"encoder_{key}_min_cosine": float(cos.min()), f"encoder_{key}_mean_cosine": float(cos.mean()),
                    f"encoder_{key}_max_abs_diff": float(np.abs(v - exact).max())}
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="run directory of a fine-tuned classifier")
    parser.add_argument("--data", type=Path, default=DATA, help=f"labeled texts to fine-tune on (default {DATA})")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="where to fine-tune (default: a temporary directory)")
    parser.add_argument("--threads", type=int, default=None, help="torch / onnxruntime threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="300 texts, 1 epoch: checks that the script runs")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    encoder_module.PROGRESS_MIN_TEXTS = 10**9  # no progress bars
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[disk_cache.CACHE_ENV] = str(Path(tmp) / "cache")  # exports go here; no stale rows
        run_dir = fine_tuned(args, args.out or Path(tmp) / "run")
        texts, metrics = classifier_rows(run_dir)
        metrics |= encoder_rows(texts)
    points = abs(metrics["classifier_onnx_int8_accuracy"] - metrics["classifier_torch_fp32_accuracy"])
    print(f"machine            : {platform.platform()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    for name, value in metrics.items():
        print(f"metric {name} {value:.7g}")
    print(f"check classifier_int8 {'PASS' if points <= MAX_POINTS else 'FAIL'} "
          f"(|int8 - fp32| = {points:.2f} point(s), limit {MAX_POINTS})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
