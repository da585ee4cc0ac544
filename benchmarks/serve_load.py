"""Benchmark: a bounded load test of `finfusion serve` on 127.0.0.1, against the same work in process.

Usage:  python benchmarks/serve_load.py [--model DIR] [--requests 2048] [--max-seconds 30]
                                        [--clients 1 8 32] [--pipeline DIR --prices FILE [--texts FILE]]
                                        [--workloads sentiment-1 sentiment-32 predict]
                                        [--client aiohttp|httpx] [--loop uvloop|asyncio] [--http httptools|h11]
                                        [--constant-model] [--quick]

The server runs in a subprocess (this script with --serve: `create_app` + `run_server`, as
`finfusion serve` does, log level warning) with the sentiment model and a forecaster; the clients
are asyncio tasks in this process, each with its own keep-alive connection (aiohttp by default;
`--client httpx` for comparison). For each workload and each number of concurrent clients, a
fixed number of requests is sent (`--requests`, fewer if `--max-seconds` runs out first):
requests/s, p50 / p99 latency, and the CPU each side spent (cores busy, ms per request: the
server process from /proc through psutil, the clients from this process's CPU time).

* sentiment-1 and sentiment-32: 1 and 32 texts per request (POST /v1/sentiment);
* predict: 10 tickers x 60 days of prices with their texts per request (POST /v1/predict).

Reference: the same texts through `SentimentClassifier.predict_batch` in this process (batch
size 64, tokens already cached as they are on the warmed-up server; the median of 3 runs):
texts/s and CPU ms per text. The ratio served texts/s over in-process texts/s at the highest
level is printed as `ratio serve_vs_inprocess_...`. A second reference, run after the server
stopped, calls predict_batch on as many texts per call as the server's model calls held on
average for one-text requests at the highest level (from GET /v1/models' batching counters):
closed-loop clients that wait for their answers cannot give the server larger batches than
that, and `ratio serve_vs_inprocess_same_batches_...` is the service's own cost beside it.
Goals (issue 19, 2 cores, the default MiniLM): >= 0.8 at 32 clients; p99 < 250 ms for one text
at 8 clients. Client and server share the machine's cores:
the load generator's own CPU is part of the price here, which is why it is aiohttp (about a
tenth of httpx's CPU per request; `--client httpx` shows it).

Model: `--model` (a sentiment model directory), else the bundled all-MiniLM-L6-v2 with a fresh
(untrained) 3-class head (throughput does not depend on the head's weights). Forecaster:
`--pipeline DIR` (a real pipeline, with `--prices` / `--texts` files it can forecast from), else
a FAKE forecaster (validates the prices as a pipeline does, returns the last return per ticker):
the output says which. The on-disk caches are off, so the network runs for every text. Server
stack: uvloop + httptools when installed (finfusion[serve]); `--loop asyncio --http h11` measures
the server without them. `--constant-model`: the server's classifier returns uniform
probabilities without running the network, which measures the service's own cost. `--quick`:
a few requests per level, to check that the script works (no figures to quote). Needs the test extra (aiohttp, httpx; psutil comes with accelerate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ["FINFUSION_CACHE_DIR"] = "off"  # before finfusion is imported: every text runs the network

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from sentiment_score import make_tweets, untrained_model  # noqa: E402

from finfusion.data.readers import read_prices, read_texts  # noqa: E402
from finfusion.data.schema import validate_prices  # noqa: E402
from finfusion.data.simulate import SimulatorConfig, simulate_market  # noqa: E402
from finfusion.pipeline import load_pipeline  # noqa: E402
from finfusion.serve import create_app  # noqa: E402
from finfusion.serve.runner import ServerStack, run_server, server_stack  # noqa: E402
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
    classifier = SentimentClassifier.load(args.model)
    if args.constant_model:  # the service alone: the network replaced by uniform probabilities
        classifier.predict_proba = lambda texts, *_, **__: np.full((len(texts), len(classifier.labels)),
                                                                   1 / len(classifier.labels))
    app = create_app(forecasters={forecaster.name: forecaster}, classifiers={"sentiment": classifier})
    run_server(app, "127.0.0.1", args.port, stack=ServerStack(args.loop, args.http))
    return 0


def start_server(model: Path, args: argparse.Namespace) -> subprocess.Popen:
    port = args.port
    command = [sys.executable, __file__, "--serve", "--model", str(model), "--port", str(port),
               "--loop", args.loop, "--http", args.http] + (["--constant-model"] if args.constant_model else [])
    process = subprocess.Popen(command + (["--pipeline", str(args.pipeline)] if args.pipeline else []))
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
               max_seconds: float, client: str = "aiohttp") -> dict[str, float]:
    """`clients` concurrent clients (each on its own keep-alive connection) send bodies[i % len]
    until `n_requests` are done or `max_seconds` passed: requests/s and latency percentiles (ms)."""
    latencies: list[float] = []
    counter = iter(range(n_requests))
    stop_at = time.perf_counter() + max_seconds
    post = _post_aiohttp if client == "aiohttp" else _post_httpx

    async def one_client() -> None:
        async with post(url) as send:
            for i in counter:
                if time.perf_counter() > stop_at:
                    return
                start = time.perf_counter()
                status, text = await send(path, bodies[i % len(bodies)])
                if status != 200:
                    raise SystemExit(f"{path}: HTTP {status}: {text[:500]}")
                latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "seconds": elapsed, "rps": len(ms) / elapsed,
            "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


@contextlib.asynccontextmanager
async def _post_aiohttp(url: str):
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=1),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def send(path: str, body: dict) -> tuple[int, str]:
            async with session.post(path, json=body) as response:
                return response.status, await response.text()

        yield send


@contextlib.asynccontextmanager
async def _post_httpx(url: str):
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        async def send(path: str, body: dict) -> tuple[int, str]:
            response = await http.post(path, json=body)
            return response.status_code, response.text

        yield send


def measured_load(server: psutil.Process, url: str, *load_args, **load_kwargs) -> dict[str, float]:
    """load()'s numbers, with the CPU the server process and this process (the clients) spent
    (cores busy on average, ms per request) and the sentiment model's calls meanwhile (texts
    per call on average, from GET /v1/models' batching counters)."""
    calls_before = _batching(url)
    before_server, before_client, started = server.cpu_times(), time.process_time(), time.perf_counter()
    result = asyncio.run(load(url, *load_args, **load_kwargs))
    after = server.cpu_times()
    wall, n = time.perf_counter() - started, max(result["requests"], 1)
    server_s = (after.user + after.system) - (before_server.user + before_server.system)
    client_s = time.process_time() - before_client
    calls_after = _batching(url)
    calls = calls_after["model_calls"] - calls_before["model_calls"]
    return {**result, "server_cores": server_s / wall, "server_ms": 1000 * server_s / n,
            "client_cores": client_s / wall, "client_ms": 1000 * client_s / n,
            "texts_per_call": (calls_after["items"] - calls_before["items"]) / calls if calls else 0.0}


def _batching(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/v1/models", timeout=30).json()["classifiers"]["sentiment"]["batching"]


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


def in_process_reference(clf: SentimentClassifier, texts: list[str], repeats: int,
                         chunk: int | None = None) -> tuple[float, float]:
    """texts/s of predict_batch(texts, 64) (the median of `repeats`, tokens cached as on the
    warmed-up server) and its CPU ms per text (all threads). `chunk`: the texts in consecutive
    calls of `chunk` texts each (as a server's micro-batches of that size), else in one call."""
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)] if chunk else [texts]
    clf.predict_batch(texts, 64)
    timings = []
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        for part in chunks:
            clf.predict_batch(part, 64)
        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
    wall, cpu = sorted(timings)[len(timings) // 2]
    return len(texts) / wall, 1000 * cpu / len(texts)


# -- main -----------------------------------------------------------------------------------------------

WORKLOADS = ("sentiment-1", "sentiment-32", "predict")


def _parser() -> argparse.ArgumentParser:
    stack = server_stack()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="sentiment model directory (default: untrained MiniLM)")
    p.add_argument("--pipeline", type=Path, default=None, help="a pipeline directory (default: a FAKE forecaster)")
    p.add_argument("--prices", type=Path, default=None, help="with --pipeline: the prices to forecast from")
    p.add_argument("--texts", type=Path, default=None, help="with --pipeline: the texts")
    p.add_argument("--requests", type=int, default=2048, help="requests per workload and level (default 2048)")
    p.add_argument("--max-seconds", type=float, default=30.0, help="cap per workload and level (default 30)")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrency levels (default 1 8 32)")
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    p.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp", help="the load generator's library")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default=stack.loop, help=f"default {stack.loop}")
    p.add_argument("--http", choices=("httptools", "h11"), default=stack.http, help=f"default {stack.http}")
    p.add_argument("--constant-model", action="store_true",
                   help="the server's classifier returns uniform probabilities without running the network: "
                        "the service's own cost (the ratios then mean nothing)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--quick", action="store_true", help="a few requests per level: check that it works")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server subprocess
    return p


def run_levels(url: str, server: psutil.Process, workloads: dict[str, tuple[str, list[dict], int]],
               texts: list[str], args) -> dict[tuple[str, int], dict]:
    """Every workload at every level: {(workload, clients): measured_load()'s numbers}, printed
    as they come. First a warm-up: every text once (in 32-text bodies, which fills the server's
    token cache as the in-process reference's is) and every predict body once."""
    warm = [("/v1/sentiment", sentiment_bodies(texts, 32))]
    warm += [(path, bodies) for name, (path, bodies, _) in workloads.items() if name == "predict"]
    for path, bodies in warm:
        asyncio.run(load(url, path, bodies, 4, len(bodies), args.max_seconds * 4, args.client))
    results = {}
    for name, (path, bodies, _) in workloads.items():
        for clients in args.clients:
            r = measured_load(server, url, path, bodies, clients, args.requests, args.max_seconds, args.client)
            results[name, clients] = r
            batches = f"; {r['texts_per_call']:.1f} texts per model call" if name != "predict" else ""
            print(f"{name:<13} {clients:>3} clients: {r['rps']:7.1f} requests/s  p50 {r['p50']:7.1f} ms  "
                  f"p99 {r['p99']:7.1f} ms  ({r['requests']} in {r['seconds']:.1f} s) | CPU: server "
                  f"{r['server_cores']:.2f} cores, {r['server_ms']:.1f} ms/request; clients {r['client_cores']:.2f} "
                  f"cores, {r['client_ms']:.2f} ms/request{batches}", flush=True)
    return results


def workloads_of(args, texts: list[str]) -> dict[str, tuple[str, list[dict], int]]:
    """{name: (path, bodies, texts per request)} of the workloads `--workloads` names."""
    makers = {"sentiment-1": lambda: ("/v1/sentiment", sentiment_bodies(texts, 1), 1),
              "sentiment-32": lambda: ("/v1/sentiment", sentiment_bodies(texts, 32), 32),
              "predict": lambda: ("/v1/predict", predict_bodies(args.pipeline, args.prices, args.texts, args.quick), 0)}
    return {name: makers[name]() for name in WORKLOADS if name in args.workloads}


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
        reference = in_process_reference(clf, texts, 1 if args.quick else 3)
        workloads = workloads_of(args, texts)
        server = start_server(model, args)
        try:
            print(f"model      : {clf.name} ({model}), max_length {clf.max_length}; {len(texts)} distinct texts")
            fake = "FAKE (no --pipeline given): the predict figures measure the service around a trivial model"
            print(f"forecaster : {args.pipeline or fake}")
            if args.constant_model:
                print("classifier : CONSTANT (--constant-model): the network does not run; the service alone")
            print(f"server     : {ServerStack(args.loop, args.http)}; load generator {args.client} "
                  f"{version(args.client)}, in this process")
            print(f"in-process : predict_batch(batch 64) {reference[0]:,.0f} texts/s, CPU {reference[1]:.1f} ms/text")
            results = run_levels(f"http://127.0.0.1:{args.port}", psutil.Process(server.pid), workloads, texts,
                                 args)
        finally:
            server.terminate()
            server.wait(timeout=30)
        same_batches = batch_size_reference(clf, texts, results, args)
    report(results, workloads, reference[0], same_batches, args)
    return 0


def batch_size_reference(clf: SentimentClassifier, texts: list[str], results: dict, args) -> float | None:
    """In-process texts/s in calls of as many texts as the server's model calls held on average
    for one-text requests at the highest level (run after the server stopped): what the model
    alone does with the batches that load lets the server form."""
    top = max(args.clients)
    if ("sentiment-1", top) not in results:
        return None
    per_call = max(1, round(results["sentiment-1", top]["texts_per_call"]))
    rate, cpu = in_process_reference(clf, texts, 1 if args.quick else 3, chunk=per_call)
    print(f"in-process : predict_batch in calls of {per_call} texts (the server's mean at {top} one-text clients) "
          f"{rate:,.0f} texts/s, CPU {cpu:.1f} ms/text")
    return rate


def report(results: dict, workloads: dict, reference: float, same_batches: float | None, args) -> None:
    top = max(args.clients)
    ratios = []
    for name in ("sentiment-1", "sentiment-32"):
        if (name, top) in results:
            ratios.append(results[name, top]["rps"] * workloads[name][2] / reference)
            key = name.split("-")[1] + "text" + ("s" if name.endswith("32") else "")
            print(f"ratio serve_vs_inprocess_{top}clients_{key} {ratios[-1]:.2f}")
    print(f"ratio serve_vs_inprocess_{top}clients {min(ratios):.2f}   (goal >= 0.80 at 32 clients on 2 cores)")
    if same_batches:
        print(f"ratio serve_vs_inprocess_same_batches_{top}clients_1text "
              f"{results['sentiment-1', top]['rps'] / same_batches:.2f}   (the service's own cost)")
    if ("sentiment-1", 8) in results:
        print(f"p99 sentiment_1text_8clients_ms {results['sentiment-1', 8]['p99']:.1f}   (goal < 250)")
    print(f"machine    : {platform.platform()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads, Python {platform.python_version()}"
          + ("; --quick: not figures to quote" if args.quick else ""))


if __name__ == "__main__":
    raise SystemExit(main())
