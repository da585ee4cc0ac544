"""The micro-batcher alone, with a fake model that records its calls (asyncio, no server)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from finfusion.errors import ConfigError
from finfusion.serve.batching import MicroBatcher


class Recorder:
    """A fake model: upper-cases its items, records each call's items and thread; raises on "boom"."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.threads: list[threading.Thread] = []

    def __call__(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        self.threads.append(threading.current_thread())
        if "boom" in items:
            raise ValueError("boom in the batch")
        return [item.upper() for item in items]


def run(coro_fn, *args, **kwargs):
    """Run `coro_fn(batcher)` with a started MicroBatcher(*args, **kwargs), stopping it after."""

    async def main():
        batcher = MicroBatcher(*args, **kwargs)
        await batcher.start()
        try:
            return await coro_fn(batcher)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_concurrent_requests_run_as_one_call_and_get_their_own_results():
    model = Recorder()
    requests = [["a"], ["b", "c"], ["d", "e", "f"], ["g", "h", "i", "j"]]

    async def go(batcher):
        return await asyncio.gather(*(batcher.submit(r) for r in requests)), batcher.stats

    results, stats = run(go, model, max_batch=10, deadline_ms=5000)  # 10 items: the batch closes when all are in
    assert model.calls == [["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]]
    assert results == [[x.upper() for x in r] for r in requests]
    assert (stats.requests, stats.items, stats.model_calls, stats.largest_batch) == (4, 10, 1, 10)


def test_a_batch_closes_at_max_batch_without_splitting_requests():
    model = Recorder()
    requests = [[f"{i}a", f"{i}b"] for i in range(5)] + [["x", "y", "z", "w", "v"]]

    async def go(batcher):
        return await asyncio.gather(*(batcher.submit(r) for r in requests))

    results = run(go, model, max_batch=4, deadline_ms=5000)
    assert [len(c) for c in model.calls] == [4, 4, 2 + 5]  # the last batch closes once it holds >= 4 items
    assert results == [[x.upper() for x in r] for r in requests]


def test_the_deadline_closes_a_batch_that_is_not_full():
    model = Recorder()
    assert run(lambda b: b.submit(["alone"]), model, max_batch=64, deadline_ms=10) == ["ALONE"]
    assert model.calls == [["alone"]]


def test_an_exception_goes_to_every_request_of_its_batch_only():
    model = Recorder()

    async def go(batcher):
        first = await asyncio.gather(batcher.submit(["a"]), batcher.submit(["boom"]), return_exceptions=True)
        return first, await batcher.submit(["later", "on"]), batcher.stats

    (a, boom), later, stats = run(go, model, max_batch=2, deadline_ms=5000)
    assert isinstance(a, ValueError) and isinstance(boom, ValueError) and str(a) == "boom in the batch"
    assert later == ["LATER", "ON"] and stats.failed_calls == 1 and stats.model_calls == 2


def test_a_result_list_of_the_wrong_length_is_an_error_naming_the_model():
    async def go(batcher):
        return await batcher.submit(["a", "b"])

    with pytest.raises(RuntimeError, match="model 'short' returned 1 results for 2 items"):
        run(go, lambda items: items[:1], max_batch=8, deadline_ms=0, name="short")


def test_the_model_runs_in_a_worker_thread_while_the_loop_goes_on():
    """The model blocks until a coroutine on the event loop releases it: that only finishes if
    the model does not run on the loop's thread."""
    release = threading.Event()
    threads = []

    def blocking(items):
        threads.append(threading.current_thread())
        return ["released" if release.wait(timeout=20) else "loop was blocked" for _ in items]

    async def go(batcher):
        pending = asyncio.ensure_future(batcher.submit(["x"]))
        while not threads:  # the batch has reached the model
            await asyncio.sleep(0.001)
        release.set()  # runs on the loop: proof that it is not blocked
        return await pending

    assert run(go, blocking, max_batch=1, deadline_ms=0) == ["released"]
    assert threads[0] is not threading.main_thread()


def test_stop_fails_queued_requests_and_submit_needs_a_started_batcher():
    async def go():
        batcher = MicroBatcher(Recorder(), max_batch=64, deadline_ms=5000, name="m")
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit(["a"])
        await batcher.start()
        pending = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.01)  # taken by the worker, waiting for others until the deadline
        await batcher.stop()
        with pytest.raises(RuntimeError, match="batcher of 'm' stopped"):
            await pending

    asyncio.run(go())


@pytest.mark.parametrize("kwargs, message", [
    ({"max_batch": 0}, "max_batch must be an int >= 1, got 0"),
    ({"max_batch": 2.5}, "max_batch must be an int >= 1, got 2.5"),
    ({"deadline_ms": -1}, "batch deadline must be a number of milliseconds in \\[0, 10000\\], got -1"),
    ({"deadline_ms": "5"}, "batch deadline must be a number of milliseconds in \\[0, 10000\\], got '5'"),
])
def test_bad_settings_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MicroBatcher(Recorder(), **kwargs)
