"""Benchmark: frozen text-encoding throughput of finfusion's `TextEncoder` vs sentence-transformers.

Usage:  python benchmarks/encode.py [--n 2000] [--batch-size 64] [--repeats 3] [--threads N] [--quick]
        [--engines-only]

Same model (the bundled all-MiniLM-L6-v2), same texts (simulated headline-like texts from
`finfusion.data.simulate`, all distinct), same truncation (128 tokens).

* sentence-transformers: ``SentenceTransformer(path).encode(texts, batch_size=64)`` (it sorts by
  length, mean-pools and L2-normalises).
* finfusion cold: an empty cache, ``TextEncoder(pooling="mean").inputs(texts)`` — tokenise every
  distinct text, run the frozen model in batch-invariant calls (finfusion.text.encoding: a fixed
  number of texts of one length per call, no padding, each text at a row fixed by its tokens, so
  a text's vector never depends on the texts encoded with it), cache the pooled vectors.
* finfusion cold, bfloat16: the same with ``precision="bf16"`` (autocast; fast where the
  CPU has AMX / AVX512-BF16), and its accuracy cost.
* finfusion warm: the same call again with a new encoder (what every later window, clone and
  predictor pays): tokens and vectors come from the process-wide cache.
* finfusion disk cache: a new encoder after the in-memory store is cleared, reading the pooled
  vectors from the on-disk cache (filled once first, in a temporary directory) as a new process
  would: what a re-run of a recipe pays instead of the cold encoding.
* top_k: the cold fill of the lower-layer states for ``tuning="top_k", top_k=2`` (float16),
  their bytes per text, and the effect of float16 storage on the pooled output.

* engines (issue 21), on short texts (simulated tweets, ~28 tokens) and long ones (news: five
  simulated texts joined, ~128 tokens after truncation): sentence-transformers' encode with its
  torch backend, with its ONNX backend (``backend="onnx"``, where optimum is installed; else the
  reason it was skipped is printed), and finfusion cold with ``engine="onnx"`` at fp32 and int8.
  Targets: onnx fp32 >= 2x sentence-transformers torch and >= 1x its ONNX backend; int8 >= 3x.
  Then the float32 peak of MiniLM's matrix shapes in torch and in ONNX Runtime (best of 20,
  before and after the engines) and the GFLOPS sentence-transformers sustained: their ratio
  bounds what any fp32 engine can gain here (the "roofline" lines).

Both sides load the model and run one warm-up batch on other texts before timing (the ONNX
export, once per model, happens in the warm-up). Prints texts/s (best of `--repeats`), the
ratios, the max abs difference of the normalised mean-pooled embeddings, and the machine; ends
with one line per ratio, ``ratio <name> <value>`` (e.g. ``ratio onnx_fp32_vs_st_torch 2.31``:
both text sets together; ``..._short`` and ``..._long`` per set). Targets: cold >= 1x
sentence-transformers, aim 2x. ``--quick``: 64 texts, one repeat (checks that it runs).
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
from finfusion.text import disk_cache
from finfusion.text.cache import cache_info, clear_cache
from finfusion.text.encoder import TextEncoder, default_model_path
from finfusion.text.encoding import rows_for


def make_texts(n: int, seed: int = 0) -> list[str]:
    """`n` distinct simulated headline-like texts (a headline plus one distractor sentence)."""
    n_tickers = max(1, n // 1000 + 1)
    market = simulate_market(SimulatorConfig(seed=seed, n_tickers=n_tickers, n_days=n // n_tickers + 2))
    texts = list(dict.fromkeys(market.texts["text"].tolist()))
    if len(texts) < n:
        raise SystemExit(f"the simulator gave only {len(texts)} distinct texts, wanted {n}")
    return texts[:n]


def best_time(fn, repeats: int, before=None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def top_k_section(texts: list[str], repeats: int) -> tuple[float, float, float, float]:
    """(cold fill seconds, cache bytes per text, max |diff| and min cosine of the normalised
    pooled output from float16 states vs the full float32 model)."""
    t_fill = best_time(lambda: TextEncoder(pooling="mean", tuning="top_k", top_k=2).inputs(texts), repeats,
                       before=clear_cache)
    bytes_per_text = cache_info().kind("states").bytes / len(texts)
    sub = texts[:500]
    top = unit(TextEncoder(pooling="mean", tuning="top_k", top_k=2).embed(sub))
    full = unit(TextEncoder(pooling="mean", tuning="full").embed(sub))
    return t_fill, bytes_per_text, float(np.abs(top - full).max()), float((top * full).sum(1).min())


def cache_section(args: argparse.Namespace, st, path: str) -> None:
    """finfusion's torch encoder against sentence-transformers on headlines: cold, bf16, warm, disk, top_k."""
    texts = make_texts(args.n)
    warmup = make_texts(args.n + 64, seed=1)[-64:]
    st.encode(warmup, batch_size=args.batch_size)
    reference = st.encode(texts, batch_size=args.batch_size)
    t_st = best_time(lambda: st.encode(texts, batch_size=args.batch_size), args.repeats)

    TextEncoder(pooling="mean").inputs(warmup)  # loads the model once per process
    t_cold = best_time(lambda: TextEncoder(pooling="mean").inputs(texts), args.repeats, before=clear_cache)
    n_tokens = sum(len(t) for t in TextEncoder(pooling="mean", tuning="full").inputs(texts)._rows)
    t_warm = best_time(lambda: TextEncoder(pooling="mean").inputs(texts), args.repeats)
    ours = unit(TextEncoder(pooling="mean").embed(texts))
    diff = float(np.abs(ours - reference).max())
    info = cache_info()

    t_bf16 = best_time(lambda: TextEncoder(pooling="mean", precision="bf16").inputs(texts), args.repeats,
                       before=clear_cache)
    bf16 = unit(TextEncoder(pooling="mean", precision="bf16").embed(texts))
    diff_bf16, cos_bf16 = float(np.abs(bf16 - reference).max()), float((bf16 * reference).sum(1).min())
    t_top, top_bytes, top_diff, top_cos = top_k_section(texts, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[disk_cache.CACHE_ENV] = str(Path(tmp))
        clear_cache()
        TextEncoder(pooling="mean").inputs(texts)  # fills the disk cache

        def new_process():
            clear_cache()
            disk_cache._cache.cache_clear()

        t_disk = best_time(lambda: TextEncoder(pooling="mean").inputs(texts), args.repeats, before=new_process)
        new_process()
        same = np.array_equal(unit(TextEncoder(pooling="mean").embed(texts)), ours)
        disk_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("part-*")) / len(texts)
        os.environ[disk_cache.CACHE_ENV] = "off"

    n = len(texts)
    print(f"model              : {path}")
    print(f"texts              : {n:,} distinct simulated headlines, {n_tokens / n:.1f} tokens on average "
          f"(max_length 128); sentence-transformers batch size {args.batch_size}, finfusion "
          f"{rows_for('cpu', 'pooled')} texts of one length per call (top_k states: {rows_for('cpu', 'states')})")
    print(f"sentence-transformers encode : {n / t_st:9,.0f} texts/s ({t_st:.3f} s)")
    print(f"finfusion cold (empty cache) : {n / t_cold:9,.0f} texts/s ({t_cold:.3f} s)  "
          f"ratio {t_st / t_cold:.2f}x")
    print(f"finfusion cold, bfloat16     : {n / t_bf16:9,.0f} texts/s ({t_bf16:.3f} s)  "
          f"ratio {t_st / t_bf16:.2f}x")
    print(f"finfusion warm (cached)      : {n / t_warm:9,.0f} texts/s ({t_warm:.4f} s)  "
          f"ratio {t_st / t_warm:.0f}x")
    print(f"finfusion disk cache (read)  : {n / t_disk:9,.0f} texts/s ({t_disk:.4f} s)  ratio {t_st / t_disk:.0f}x; "
          f"equal to the computed vectors: {same}; {disk_bytes:,.0f} bytes per text on disk (the pooling in use)")
    print(f"max |diff| of normalised mean-pooled embeddings vs sentence-transformers: float32 {diff:.2e}; "
          f"bfloat16 {diff_bf16:.2e} (min cosine {cos_bf16:.6f})")
    print(f"frozen cache       : {info.bytes / 2**20:.1f} MiB for {info.entries:,} entries "
          f"({info.bytes / n:,.0f} bytes per text: token ids + cls and mean vectors)")
    print(f"top_k=2 cold fill  : {n / t_top:9,.0f} texts/s ({t_top:.3f} s, 4 of 6 layers); float16 states "
          f"{top_bytes:,.0f} bytes per text ({2 * 1024**3 / top_bytes:,.0f} texts per 2 GiB)")
    print(f"top_k float16 cost : max |diff| {top_diff:.2e}, min cosine {top_cos:.7f} of the normalised pooled "
          f"output vs the float32 full model (500 texts)")


def make_long_texts(n: int, seed: int = 0) -> list[str]:
    """`n` distinct news-length texts: five consecutive simulated texts joined (~128 tokens after truncation)."""
    parts = make_texts(5 * n, seed=seed)
    return [" ".join(parts[5 * i : 5 * i + 5]) for i in range(n)]


def st_onnx_backend(path: str):
    """(sentence-transformers with its ONNX backend, None) or (None, why it cannot be used here)."""
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(path, device="cpu", backend="onnx")
    except Exception as exc:  # its optimum dependency: missing, or not for this transformers
        return None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"
    model.max_seq_length = 128
    return model, None


ENGINES = {"onnx_fp32": dict(engine="onnx"), "onnx_int8": dict(engine="onnx", precision="int8"),
           "torch_fp32": dict()}


def engine_times(args: argparse.Namespace, references: dict, texts: list[str], warmup: list[str]) -> dict:
    """Seconds (best of `--repeats`) of each sentence-transformers reference and each finfusion
    engine (cold: empty cache) on `texts`, after a warm-up on other texts (ONNX: the export)."""
    times = {}
    for name, model in references.items():
        model.encode(warmup, batch_size=args.batch_size)
        times[name] = best_time(lambda m=model: m.encode(texts, batch_size=args.batch_size), args.repeats)
    for name, kwargs in ENGINES.items():
        TextEncoder(pooling="mean", **kwargs).inputs(warmup)
        times[name] = best_time(lambda k=kwargs: TextEncoder(pooling="mean", **k).inputs(texts), args.repeats,
                                before=clear_cache)
    return times


def engine_section(args: argparse.Namespace, st, path: str) -> dict[str, float]:
    """Texts/s of sentence-transformers (torch, ONNX) and finfusion's engines on short and long
    texts; returns the ratios (per set, and over both sets: total time of each side)."""
    from sentiment_score import make_tweets  # benchmarks/ is the script's folder, on sys.path

    config = st[0].auto_model.config
    peaks = matmul_peaks(config.hidden_size, config.intermediate_size)  # first: no ONNX Runtime threads spinning
    st_onnx, why = st_onnx_backend(path)
    references = {"st_torch": st} | ({"st_onnx": st_onnx} if st_onnx is not None else {})
    sets = {"short": (make_tweets(args.n), make_tweets(args.n + 64, seed=1)[-64:]),
            "long": (make_long_texts(args.n), make_long_texts(64, seed=1))}
    totals: dict[str, float] = {}
    ratios, achieved = {}, {}
    print("engines            : sentence-transformers encode (batch size "
          f"{args.batch_size}) vs finfusion cold fills (empty cache), all-MiniLM-L6-v2, mean pooling")
    if why:
        print(f"  sentence-transformers ONNX backend: skipped ({why}); optimum-onnx needs transformers < 4.58")
    for label, (texts, warmup) in sets.items():
        times = engine_times(args, references, texts, warmup)
        lengths = [len(t) for t in TextEncoder(tuning="full").inputs(texts)._rows]
        tokens = np.mean(lengths)
        exact = unit(st.encode(texts[:200], batch_size=args.batch_size))
        onnx = unit(TextEncoder(pooling="mean", engine="onnx").embed(texts[:200]))
        print(f"  {label} texts: {len(texts):,}, {tokens:.1f} tokens on average; onnx fp32 vs sentence-transformers: "
              f"max |diff| {np.abs(onnx - exact).max():.1e} of the normalised embeddings")
        for name, seconds in times.items():
            totals[name] = totals.get(name, 0.0) + seconds
            print(f"    {name:10s}: {len(texts) / seconds:9,.0f} texts/s ({seconds:.3f} s)")
        ratios |= _ratios(times, f"_{label}")
        achieved[label] = sum(flops_per_text(config, n) for n in lengths) / times["st_torch"] / 1e9  # ST, GFLOPS
    again = matmul_peaks(config.hidden_size, config.intermediate_size)
    peaks = {name: max(peaks[name], again[name]) for name in peaks}
    print("matmul peak        : float32 matrix products of MiniLM's layer shapes (4,096 x 384 @ 384 x 1,536 and "
          "4,096 x 1,536 @ 1,536 x 384), best of 20 each, before and after the engines: "
          + ", ".join(f"{name} {value:.0f} GFLOPS" for name, value in peaks.items()))
    best = max(peaks.values())
    for label, gflops in achieved.items():
        print(f"roofline ({label:5s})   : sentence-transformers runs the model at {gflops:.0f} GFLOPS, so no fp32 engine "
              f"can be more than {best / gflops:.2f}x sentence-transformers on this machine (the best peak / that)")
    return _ratios(totals, "") | ratios


def matmul_peaks(hidden: int, intermediate: int, repeats: int = 20) -> dict[str, float]:
    """GFLOPS of float32 matrix products of MiniLM's FFN shapes (4,096 rows), best of `repeats`,
    in torch and in ONNX Runtime (MLAS, what the onnx engine runs): what this machine's cores
    give the model's dominant operation."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    best = {"torch": 0.0, "onnxruntime": 0.0}
    for k, n in ((hidden, intermediate), (intermediate, hidden)):
        a, b = torch.randn(4096, k), torch.randn(k, n)
        graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "matmul",
                                  [helper.make_tensor_value_info("a", TensorProto.FLOAT, [4096, k])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4096, n])],
                                  [numpy_helper.from_array(b.numpy(), "b")])
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                                       .SerializeToString(), options, providers=["CPUExecutionProvider"])
        runs = {"torch": lambda: a @ b, "onnxruntime": lambda: session.run(None, {"a": a.numpy()})}  # noqa: B023
        for name, run in runs.items():
            run()
            for _ in range(repeats):
                t0 = time.perf_counter()
                run()
                best[name] = max(best[name], 2 * 4096 * k * n / (time.perf_counter() - t0) / 1e9)
    return best


def flops_per_text(config, tokens: float) -> float:
    """Float operations of one BERT-style forward pass on a text of `tokens` tokens: the layers'
    matrix products (4 H^2 + 2 H I per token) and attention (4 T H per token), per layer."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return layers * tokens * 2 * (4 * h * h + 2 * h * i + 2 * tokens * h)


def _ratios(times: dict[str, float], suffix: str) -> dict[str, float]:
    pairs = [("onnx_fp32", "st_torch"), ("onnx_int8", "st_torch"), ("onnx_fp32", "st_onnx"), ("torch_fp32", "st_torch")]
    return {f"{a}_vs_{b}{suffix}": times[b] / times[a] for a, b in pairs if a in times and b in times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of texts (default 2000)")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="sentence-transformers' batch size (default 64); finfusion's calls are fixed "
                        "(finfusion.text.encoding.ROWS)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best is reported (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="64 texts, 1 repeat: checks that the script runs")
    parser.add_argument("--engines-only", action="store_true",
                        help="only the engines section (sentence-transformers vs finfusion's engines) and its ratios")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 64, 1
    os.environ[disk_cache.CACHE_ENV] = "off"  # the cold timings run the network
    if args.threads:
        torch.set_num_threads(args.threads)

    from sentence_transformers import SentenceTransformer

    import finfusion.text.encoder as encoder_module

    encoder_module.PROGRESS_MIN_TEXTS = 10**9  # no progress bar inside timings
    path = str(default_model_path())
    st = SentenceTransformer(path, device="cpu")
    st.max_seq_length = 128  # finfusion's default truncation
    if not args.engines_only:
        cache_section(args, st, path)
    ratios = engine_section(args, st, path)
    print(f"machine            : {platform.platform()}, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads, Python {platform.python_version()}")
    for name, value in ratios.items():
        print(f"ratio {name} {value:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
