"""Benchmark: a bounded load test of `finfusion serve` on 127.0.0.1, against the same work in process.

Usage:  python benchmarks/serve_load.py [--model DIR] [--requests 400] [--max-seconds 30]
                                        [--clients 1 8 32] [--pipeline DIR --prices FILE [--texts FILE]]
                                        [--quick]

The server runs in a subprocess (this script with --serve: `create_app` + uvicorn, as `finfusion
serve` does, log level warning) with the sentiment model and a forecaster; the clients are
asyncio tasks over httpx (one keep-alive connection each) in this process. For each workload
and each number of concurrent clients, a fixed number of requests is sent (`--requests`, fewer
if `--max-seconds` runs out first): requests/s, p50 / p99 latency.

* sentiment, 1 text per request and 32 texts per request (POST /v1/sentiment);
* predict, 10 tickers x 60 days of prices with their texts per request (POST /v1/predict).

Reference: the same texts through `SentimentClassifier.predict_batch` in this process (batch
size 64, tokens already cached as they are on the warmed-up server): texts/s. The ratio served
texts/s over in-process texts/s at 32 clients is printed as `ratio serve_vs_inprocess_...`.
Goals (issue 19, 2 cores, the default MiniLM): >= 0.8 at 32 clients; p99 < 250 ms for one text
at 8 clients. Client and server share the machine's cores: the clients' own CPU is part of the
price here.

Model: `--model` (a sentiment model directory), else the bundled all-MiniLM-L6-v2 with a fresh
(untrained) 3-class head (throughput does not depend on the head's weights). Forecaster:
`--pipeline DIR` (a real pipeline, with `--prices` / `--texts` files it can forecast from), else
a FAKE forecaster (validates the prices as a pipeline does, returns the last return per ticker):
the output says which. The on-disk caches are off, so the network runs for every text.
`--quick`: a few requests per level, to check that the script works (no figures to quote).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["FINFUSION_CACHE_DIR"] = "off"  # before finfusion is imported: every text runs the network

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import uvicorn  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from sentiment_score import make_tweets, untrained_model  # noqa: E402

from finfusion.data.readers import read_prices, read_texts  # noqa: E402
from finfusion.data.schema import validate_prices  # noqa: E402
from finfusion.data.simulate import SimulatorConfig, simulate_market  # noqa: E402
from finfusion.pipeline import load_pipeline  # noqa: E402
from finfusion.serve import create_app  # noqa: E402
from finfusion.text.sentiment import SentimentClassifier  # noqa: E402


class FakeForecaster:
    """Stands in for a pipeline until one is given (--pipeline): validates the prices as
    `Pipeline.predict` does and returns its columns, prediction = the last daily return."""

    name = "FAKE"

    def describe(self) -> dict[str, Any]:
        return {"model": {"label": self.name}, "note": "benchmark stand-in, not a pipeline"}

    def predict(self, prices: pd.DataFrame, texts: pd.DataFrame | None, asof=None) -> pd.DataFrame:
        prices = validate_prices(prices, source="prices")
        day = prices["date"].max() if asof is None else pd.Timestamp(asof)
        last = prices[prices["date"] <= day].groupby("ticker")["close"].agg(lambda c: c.iloc[-1] / c.iloc[-2] - 1)
        out = pd.DataFrame({"ticker": last.index, "asof": day, "target_date": day + pd.offsets.BDay(1),
                            "prediction": last.to_numpy(), "texts": 0, "newest_text": None})
        out.attrs.update({"asof": str(day.date()), "texts_after_close": 0})
        return out


# -- the server (this script with --serve) ---------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    forecaster = load_pipeline(args.pipeline) if args.pipeline else FakeForecaster()
    app = create_app(forecasters={forecaster.name: forecaster},
                     classifiers={"sentiment": SentimentClassifier.load(args.model)})
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


def start_server(model: Path, pipeline: Path | None, port: int) -> subprocess.Popen:
    command = [sys.executable, __file__, "--serve", "--model", str(model), "--port", str(port)]
    process = subprocess.Popen(command + (["--pipeline", str(pipeline)] if pipeline else []))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not start on port {port}")


# -- the load -------------------------------------------------------------------------------------------


async def load(url: str, path: str, bodies: list[dict], clients: int, n_requests: int,
               max_seconds: float) -> dict[str, float]:
    """`clients` concurrent clients send bodies[i % len] until `n_requests` are done or
    `max_seconds` passed: requests/s and latency percentiles (ms)."""
    latencies: list[float] = []
    counter = iter(range(n_requests))
    stop_at = time.perf_counter() + max_seconds

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            for i in counter:
                if time.perf_counter() > stop_at:
                    return
                start = time.perf_counter()
                response = await http.post(path, json=bodies[i % len(bodies)])
                if response.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {response.status_code}: {response.text[:500]}")
                latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "seconds": elapsed, "rps": len(ms) / elapsed,
            "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def sentiment_bodies(texts: list[str], per_request: int) -> list[dict]:
    return [{"texts": texts[i : i + per_request]} for i in range(0, len(texts) - per_request + 1, per_request)]


def predict_bodies(pipeline: Path | None, prices: Path | None, texts: Path | None, quick: bool) -> list[dict]:
    """One /v1/predict body: the last 60 days of the given files (and the texts of those days),
    else a simulated market of 10 tickers x 60 days."""
    if pipeline is not None:
        frame = read_prices(prices)
        frame = frame[frame["date"] >= sorted(frame["date"].unique())[-60]].reset_index(drop=True)
        text_frame = read_texts(texts, tickers=sorted(frame["ticker"].unique())) if texts else None
        if text_frame is not None:
            first = frame["date"].min().tz_localize(text_frame["timestamp"].dt.tz)
            text_frame = text_frame[text_frame["timestamp"] >= first].reset_index(drop=True)
    else:
        market = simulate_market(SimulatorConfig(n_tickers=3 if quick else 10, n_days=60, seed=0))
        frame, text_frame = market.prices, market.texts
    body: dict[str, Any] = {"prices": json.loads(frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d"))
                                                 .to_json(orient="records"))}
    if text_frame is not None:
        stamps = [t.isoformat() for t in text_frame["timestamp"]]
        body["texts"] = [{"timestamp": s, "ticker": k, "text": x}
                         for s, k, x in zip(stamps, text_frame["ticker"], text_frame["text"])]
    return [body]


def in_process_texts_per_s(clf: SentimentClassifier, texts: list[str], repeats: int) -> float:
    clf.predict_batch(texts, 64)  # tokens cached, as on the warmed-up server
    best = min(_timed(lambda: clf.predict_batch(texts, 64)) for _ in range(repeats))
    return len(texts) / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- main -----------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="sentiment model directory (default: untrained MiniLM)")
    p.add_argument("--pipeline", type=Path, default=None, help="a pipeline directory (default: a FAKE forecaster)")
    p.add_argument("--prices", type=Path, default=None, help="with --pipeline: the prices to forecast from")
    p.add_argument("--texts", type=Path, default=None, help="with --pipeline: the texts")
    p.add_argument("--requests", type=int, default=400, help="requests per workload and level (default 400)")
    p.add_argument("--max-seconds", type=float, default=30.0, help="cap per workload and level (default 30)")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrency levels (default 1 8 32)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--quick", action="store_true", help="a few requests per level: check that it works")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server subprocess
    return p


def run_levels(url: str, workloads: dict[str, tuple[str, list[dict], int]], args) -> dict[tuple[str, int], dict]:
    """Every workload at every level: {(workload, clients): load()'s numbers}, printed as they come.
    First a warm-up: every text once (in the 32-text bodies) and every predict body once."""
    for name in ("sentiment 32 texts", "predict"):
        path, bodies, _ = workloads[name]
        asyncio.run(load(url, path, bodies, 4, len(bodies), args.max_seconds * 4))
    results = {}
    for name, (path, bodies, _) in workloads.items():
        for clients in args.clients:
            r = asyncio.run(load(url, path, bodies, clients, args.requests, args.max_seconds))
            results[name, clients] = r
            print(f"{name:<22} {clients:>3} clients: {r['rps']:8.1f} requests/s  p50 {r['p50']:7.1f} ms  "
                  f"p99 {r['p99']:7.1f} ms  ({r['requests']} requests in {r['seconds']:.1f} s)", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.serve:
        return serve(args)
    if args.quick:
        args.requests, args.max_seconds = 16, 10.0
    if args.pipeline is not None and args.prices is None:
        raise SystemExit("--pipeline needs --prices (data the pipeline can forecast from)")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or untrained_model(Path(tmp))
        texts = make_tweets(256 if args.quick else 2048)
        clf = SentimentClassifier.load(model)
        reference = in_process_texts_per_s(clf, texts, 1 if args.quick else 3)
        workloads = {"sentiment 1 text": ("/v1/sentiment", sentiment_bodies(texts, 1), 1),
                     "sentiment 32 texts": ("/v1/sentiment", sentiment_bodies(texts, 32), 32),
                     "predict": ("/v1/predict", predict_bodies(args.pipeline, args.prices, args.texts, args.quick), 0)}
        server = start_server(model, args.pipeline, args.port)
        try:
            print(f"model      : {clf.name} ({model}), max_length {clf.max_length}; {len(texts)} distinct texts")
            fake = "FAKE (no --pipeline given): the predict figures measure the service around a trivial model"
            print(f"forecaster : {args.pipeline or fake}")
            print(f"in-process : predict_batch(batch 64) {reference:,.0f} texts/s")
            results = run_levels(f"http://127.0.0.1:{args.port}", workloads, args)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report(results, workloads, reference, args)
    return 0


def report(results: dict, workloads: dict, reference: float, args) -> None:
    top = max(args.clients)
    for name, key in (("sentiment 1 text", "1text"), ("sentiment 32 texts", "32texts")):
        served = results[name, top]["rps"] * workloads[name][2]
        print(f"ratio serve_vs_inprocess_{top}clients_{key} {served / reference:.2f}")
    ratios = [results[n, top]["rps"] * workloads[n][2] / reference for n in ("sentiment 1 text", "sentiment 32 texts")]
    print(f"ratio serve_vs_inprocess_{top}clients {min(ratios):.2f}   (goal >= 0.80 at 32 clients on 2 cores)")
    if ("sentiment 1 text", 8) in results:
        print(f"p99 sentiment_1text_8clients_ms {results['sentiment 1 text', 8]['p99']:.1f}   (goal < 250)")
    print(f"machine    : {platform.platform()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads, Python {platform.python_version()}"
          + ("; --quick: not figures to quote" if args.quick else ""))


if __name__ == "__main__":
    raise SystemExit(main())
