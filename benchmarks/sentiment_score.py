"""Benchmark: throughput of `SentimentClassifier.score` on tweet-length texts, vs the transformers pipeline.

Usage:  python benchmarks/sentiment_score.py [--model DIR] [--texts FILE] [--n 2000] [--batch-size 64]
                                            [--repeats 3] [--threads N] [--quick]

Model: `--model` (a directory written by `finfusion sentiment train`), else the bundled
all-MiniLM-L6-v2 with a fresh (untrained) 3-class head, saved to a temporary directory first:
throughput does not depend on the head's weights. Texts: `--texts` (one per line), else `--n`
distinct simulated tweets, a cashtag + a simulated headline + a hashtag (about 19 words).

Timed (best of `--repeats`, after one warm-up call on other texts):

* score, cold: an empty token cache, so every text is tokenised (what a first call pays);
* score, warm: the same texts again (tokens cached; the network still runs on every text);
* disk cache: the same texts through a second load of the model with the on-disk probability
  cache on (in a temporary directory): the first call fills it (the network runs, rows are
  written), the second reads them as a new process would (the model does not run);
* micro-batches: the texts in consecutive chunks of `--batch-size` (as a server's micro-batches
  of requests arrive: mixed lengths), each chunk cut by `length_batches` (padding vs another
  call) against each chunk as one padded batch (sort by length and cut every batch_size texts,
  the rule of sentence-transformers and of finfusion before: here `length_batches` with a call
  cost so high that it never splits a chunk);
* transformers pipeline: ``pipeline("text-classification", top_k=None, batch_size=..., truncation=True,
  max_length=...)`` on the same model and texts, the usual way to batch a classifier; its
  p_pos - p_neg is compared with `score` (max |difference|).
* engines (issue 21): `score` cold with the model loaded for torch fp32, onnx fp32 and onnx int8
  (ONNX Runtime, `finfusion.text.onnx_engine`; the export happens in the warm-up), on short texts
  (the tweets) and long ones (news: five simulated texts joined, ~128 tokens after truncation),
  with the max |score difference| to torch.

Prints texts/s, the ratios, and the machine; ends with one line per ratio, ``ratio <name> <value>``
(e.g. ``ratio onnx_fp32_vs_torch 1.80``: both text sets together; ``..._short``, ``..._long`` per
set). ``--quick``: 64 texts, one repeat (checks that the script runs).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from finfusion.data.simulate import SimulatorConfig, simulate_market
from finfusion.text import disk_cache, tokens
from finfusion.text.cache import clear_cache
from finfusion.text.sentiment import SentimentClassifier

HASHTAGS = ("#stocks", "#earnings", "#investing", "#markets", "#trading", "#finance", "#bullish", "#bearish")


def make_tweets(n: int, seed: int = 0) -> list[str]:
    """`n` distinct tweet-like texts: "$TICK <simulated headline> #tag"."""
    n_tickers = max(1, n // 500 + 1)
    market = simulate_market(SimulatorConfig(seed=seed, n_tickers=n_tickers, n_days=n // n_tickers + 2))
    rng = np.random.default_rng(seed)
    tweets = [
        f"${ticker} {text} {HASHTAGS[rng.integers(len(HASHTAGS))]}"
        for ticker, text in zip(market.texts["ticker"], market.texts["text"])
    ]
    tweets = list(dict.fromkeys(tweets))
    if len(tweets) < n:
        raise SystemExit(f"the simulator gave only {len(tweets)} distinct texts, wanted {n}")
    return tweets[:n]


def untrained_model(folder: Path) -> Path:
    """The bundled all-MiniLM-L6-v2 with a new 3-class head, saved as a sentiment model directory."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from finfusion.text.encoder import default_model_path
    from finfusion.text.sentiment.classifier import quiet_hf

    labels = ("negative", "neutral", "positive")
    base = default_model_path()
    with quiet_hf():  # no report about the new head
        model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=3, id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)}
        )
    clf = SentimentClassifier(model, AutoTokenizer.from_pretrained(base), labels, name="untrained-minilm")
    return clf.save(folder / "model")


def best_time(fn, repeats: int, before=None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pipeline_scores(clf: SentimentClassifier, texts: list[str], batch_size: int):
    """(a function running the transformers pipeline on `texts`, a function turning its output into p_pos - p_neg)."""
    from transformers import pipeline

    pipe = pipeline("text-classification", model=clf.model, tokenizer=clf.tokenizer, top_k=None, device=clf.device)

    def run():
        return pipe(texts, batch_size=batch_size, truncation=True, max_length=clf.max_length)

    def to_scores(output) -> np.ndarray:
        rows = [{d["label"]: d["score"] for d in item} for item in output]
        return np.array([r["positive"] - r["negative"] for r in rows])

    return run, to_scores


def print_micro_batches(clf: SentimentClassifier, texts: list[str], bs: int, repeats: int) -> dict[str, float]:
    """texts/s of `texts` scored in consecutive chunks of `bs`: cut by `length_batches`, and as
    one padded batch per chunk (the call cost of an accelerator: a chunk is never split)."""
    def chunked():
        for start in range(0, len(texts), bs):
            clf.score(texts[start : start + bs], bs)

    t_cut = best_time(chunked, repeats)
    cpu_cost = tokens.CALL_TOKENS["cpu"]
    tokens.CALL_TOKENS["cpu"] = tokens.ACCELERATOR_CALL_TOKENS
    try:
        t_whole = best_time(chunked, repeats)
    finally:
        tokens.CALL_TOKENS["cpu"] = cpu_cost
    n = len(texts)
    print(f"micro-batches of {bs}: {n / t_cut:9,.0f} texts/s cut by length_batches, {n / t_whole:,.0f} texts/s "
          f"as one padded batch each")
    return {"length_batches_vs_one_padded_batch": t_whole / t_cut}


def print_disk_cache(model_dir: Path, texts: list[str], args: argparse.Namespace, ours: np.ndarray,
                     folder: Path) -> None:
    """texts/s of a second load of the model with the on-disk probability cache in `folder`."""
    os.environ[disk_cache.CACHE_ENV] = str(folder)
    cached, n, bs = SentimentClassifier.load(model_dir), len(texts), args.batch_size
    t_fill = best_time(lambda: cached.score(texts, bs), 1, before=clear_cache)
    t_hit = best_time(lambda: cached.score(texts, bs), args.repeats, before=disk_cache._cache.cache_clear)
    same = np.array_equal(cached.score(texts, bs), ours)
    print(f"disk cache, fill   : {n / t_fill:9,.0f} texts/s ({t_fill:.3f} s)")
    print(f"disk cache, read   : {n / t_hit:9,.0f} texts/s ({t_hit:.3f} s); scores equal to the model's: {same}")


def print_pipeline(clf: SentimentClassifier, texts: list[str], warmup: list[str], args: argparse.Namespace,
                   ours: np.ndarray, t_cold: float) -> None:
    """texts/s of the transformers pipeline on the same model and texts, against `score` cold."""
    run, to_scores = pipeline_scores(clf, warmup, args.batch_size)
    run()  # warm-up
    run, to_scores = pipeline_scores(clf, texts, args.batch_size)
    t_pipe = best_time(run, args.repeats)
    diff = float(np.abs(to_scores(run()) - ours).max())
    print(
        f"transformers pipeline : {len(texts) / t_pipe:9,.0f} texts/s ({t_pipe:.3f} s); score cold is "
        f"{t_pipe / t_cold:.2f}x its speed; max |score difference| {diff:.1e}"
    )


ENGINES = {"torch": dict(engine="torch"), "onnx_fp32": dict(engine="onnx"),
           "onnx_int8": dict(engine="onnx", precision="int8")}


def engine_section(model_dir: Path, tweets: list[str], args: argparse.Namespace) -> dict[str, float]:
    """texts/s of `score` (cold) per engine on short and long texts; the ratios to torch."""
    from encode import make_long_texts  # benchmarks/ is the script's folder, on sys.path

    sets = {"short": tweets, "long": make_long_texts(len(tweets))}
    models = {name: SentimentClassifier.load(model_dir, **kwargs) for name, kwargs in ENGINES.items()}
    warmup = make_tweets(64, seed=1)
    totals: dict[str, float] = {}
    ratios: dict[str, float] = {}
    print(f"engines            : score cold (empty token cache), batch size {args.batch_size}")
    for label, texts in sets.items():
        tokens = np.mean([len(t) for t in models["torch"].tokenizer(texts, truncation=True, max_length=128)["input_ids"]])
        reference = models["torch"].score(texts, args.batch_size)
        print(f"  {label} texts: {len(texts):,}, {tokens:.1f} tokens on average")
        times = {}
        for name, clf in models.items():
            clf.score(warmup, args.batch_size)  # ONNX: the export, once per model
            times[name] = best_time(lambda c=clf, t=texts: c.score(t, args.batch_size), args.repeats, before=clear_cache)
            totals[name] = totals.get(name, 0.0) + times[name]
            diff = float(np.abs(clf.score(texts, args.batch_size) - reference).max())
            print(f"    {name:10s}: {len(texts) / times[name]:9,.0f} texts/s ({times[name]:.3f} s); "
                  f"max |score difference| to torch {diff:.1e}")
        ratios |= {f"{name}_vs_torch_{label}": times["torch"] / times[name] for name in ("onnx_fp32", "onnx_int8")}
    return {f"{name}_vs_torch": totals["torch"] / totals[name] for name in ("onnx_fp32", "onnx_int8")} | ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=None, help="sentiment model directory (default: untrained MiniLM)"
    )
    parser.add_argument("--texts", type=Path, default=None, help="texts, one per line (default: simulated tweets)")
    parser.add_argument("--n", type=int, default=2000, help="number of simulated texts (default 2000)")
    parser.add_argument("--batch-size", type=int, default=64, help="inference batch size (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best is reported (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the transformers pipeline comparison")
    parser.add_argument("--quick", action="store_true", help="64 texts, 1 repeat: checks that the script runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 64, 1
    if args.threads:
        torch.set_num_threads(args.threads)

    os.environ[disk_cache.CACHE_ENV] = "off"  # the model timings below run the network
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or untrained_model(Path(tmp))
        clf = SentimentClassifier.load(model_dir)
        if args.texts:
            texts = [t for t in args.texts.read_text(encoding="utf-8").splitlines() if t.strip()]
        else:
            texts = make_tweets(args.n)
        warmup = make_tweets(64, seed=1)
        clf.score(warmup, args.batch_size)
        n, bs = len(texts), args.batch_size
        t_cold = best_time(lambda: clf.score(texts, bs), args.repeats, before=clear_cache)
        t_warm = best_time(lambda: clf.score(texts, bs), args.repeats)
        ours = clf.score(texts, bs)
        tokens = [len(t) for t in clf.tokenizer(texts, truncation=True, max_length=clf.max_length)["input_ids"]]

        print(f"model              : {clf.name} ({clf.path}), labels {list(clf.labels)}, max_length {clf.max_length}")
        print(
            f"texts              : {n:,} ({'from ' + str(args.texts) if args.texts else 'simulated tweets'}), "
            f"{np.mean([len(t.split()) for t in texts]):.1f} words and {np.mean(tokens):.1f} tokens on average, "
            f"batch size {bs}"
        )
        print(f"score, cold        : {n / t_cold:9,.0f} texts/s ({t_cold:.3f} s)")
        print(f"score, warm tokens : {n / t_warm:9,.0f} texts/s ({t_warm:.3f} s)")
        ratios = print_micro_batches(clf, texts, bs, args.repeats)
        print_disk_cache(model_dir, texts, args, ours, Path(tmp) / "cache")
        if not args.no_pipeline:
            print_pipeline(clf, texts, warmup, args, ours, t_cold)
        os.environ[disk_cache.CACHE_ENV] = "off"
        ratios = engine_section(model_dir, texts, args) | ratios
        print(
            f"machine            : {platform.platform()}, {os.cpu_count()} CPUs, "
            f"{platform.processor() or platform.machine()}, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, Python {platform.python_version()}"
        )
        for name, value in ratios.items():
            print(f"ratio {name} {value:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
