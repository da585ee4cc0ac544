"""Micro-batching: concurrent requests to one model run as one model call.

    batcher = MicroBatcher(classify, max_batch=64, deadline_ms=5, name="pb")
    await batcher.start()                       # in the server's event loop (the app's lifespan)
    results = await batcher.submit(["Profit rose", "Shares fell"])   # one result per item
    await batcher.stop()

A request puts its items (texts) on a queue and awaits a future. One worker task per model takes
the oldest request, then keeps taking requests until the batch holds `max_batch` items or
`deadline_ms` has passed since that oldest request arrived, and runs `fn` once over the union of
their items in a worker thread (`asyncio.to_thread`: the event loop keeps accepting requests
while the model runs). The results are split back per request in order. While a batch runs,
new requests queue up; their deadline has usually passed when it ends, so the next batch starts
at once with all of them: under load batches grow and the model is never idle waiting.
A request is never split: a batch closes as soon as it holds >= `max_batch` items (so a request
larger than `max_batch` closes the batch it joins; `fn` may batch further inside, as
`SentimentClassifier.predict_proba` does). An exception raised by `fn` (or a result list of the
wrong length) goes to every request of that batch; later batches are unaffected.

Written by hand (about 100 lines) after reading the libraries that do dynamic batching:
`batched` 0.1.5 (mixedbread-ai) wakes every `timeout_ms` while idle, sleeps a full timeout before
every batch even when the queued requests already waited longer (a few ms lost per batch under
load, which is what this service is measured on), has no public shutdown in its released version
and keeps one future per item; `async-batcher` 0.2.2 restarts its timeout for every item it
takes (a steady trickle never closes a batch until it is full) and polls once a second; Ray
Serve's `@serve.batch` needs Ray Serve. Neither batches requests of several items as units.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from finfusion.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Request(Generic[T, R]):
    items: list[T]
    future: asyncio.Future
    arrived: float  # event-loop time (s)


@dataclass
class BatchStats:
    """Counters of one batcher: requests served, items (texts) run, model calls (batches), the
    largest batch in items, and batches whose call raised."""

    requests: int = 0
    items: int = 0
    model_calls: int = 0
    largest_batch: int = 0
    failed_calls: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "items": self.items, "model_calls": self.model_calls,
                "largest_batch": self.largest_batch, "failed_calls": self.failed_calls}


def check_settings(max_batch: int, deadline_ms: float) -> None:
    """ConfigError unless max_batch is an int >= 1 and deadline_ms a number of milliseconds in [0, 10000]."""
    if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
        raise ConfigError(f"max_batch must be an int >= 1, got {max_batch!r}")
    if isinstance(deadline_ms, bool) or not isinstance(deadline_ms, (int, float)) or not 0 <= deadline_ms <= 10_000:
        raise ConfigError(f"the batch deadline must be a number of milliseconds in [0, 10000], got {deadline_ms!r}")


class MicroBatcher(Generic[T, R]):
    """Batches concurrent `submit` calls into calls of `fn` (see the module docstring).

    fn          list of n items -> sequence of n results (runs in a worker thread).
    max_batch   items after which a batch closes (>= 1).
    deadline_ms longest wait (ms) of the oldest request for others to join, in [0, 10000].
    name        the model's name, for messages.
    """

    def __init__(self, fn: Callable[[list[T]], Sequence[R]], *, max_batch: int = 64, deadline_ms: float = 5.0,
                 name: str = "model") -> None:
        check_settings(max_batch, deadline_ms)
        self.fn, self.max_batch, self.name = fn, max_batch, name
        self.deadline_s = deadline_ms / 1000
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Request[T, R]] | None = None
        self._worker: asyncio.Task | None = None
        self._taken: list[_Request[T, R]] = []  # off the queue, not answered yet

    async def start(self) -> None:
        """Start the worker in the running event loop (once)."""
        if self._worker is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Stop the worker; requests still queued fail with RuntimeError."""
        if self._worker is None:
            return
        waiting = list(self._taken)  # before the cancellation clears it
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._worker = None
        while self._queue is not None and not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        _fail(waiting, RuntimeError(f"the batcher of {self.name!r} stopped (the server is shutting down)"))

    async def submit(self, items: Sequence[T]) -> list[R]:
        """The results of `fn` for `items` (in order), computed in a batch with the items of
        concurrent requests. Raises what `fn` raised for that batch."""
        if self._worker is None or self._queue is None:
            raise RuntimeError(f"the batcher of {self.name!r} is not running (start it in the app's lifespan)")
        items = list(items)
        if not items:
            return []
        loop = asyncio.get_running_loop()
        request: _Request[T, R] = _Request(items, loop.create_future(), loop.time())
        self._queue.put_nowait(request)
        return await request.future

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            batch = await self._collect()
            await self._run(batch)

    async def _collect(self) -> list[_Request[T, R]]:
        """The next batch: the oldest request, then others until `max_batch` items or its deadline."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        batch = self._taken = [await self._queue.get()]
        size, deadline = len(batch[0].items), batch[0].arrived + self.deadline_s
        while size < self.max_batch:
            wait = deadline - loop.time()
            try:
                request = self._queue.get_nowait() if wait <= 0 else await asyncio.wait_for(self._queue.get(), wait)
            except (asyncio.QueueEmpty, TimeoutError):
                break
            batch.append(request)
            size += len(request.items)
        return batch

    async def _run(self, batch: list[_Request[T, R]]) -> None:
        """One call of `fn` over the batch's items in a worker thread; results or its exception
        to each request still waiting."""
        batch = [r for r in batch if not r.future.done()]  # a client that went away
        items = [item for r in batch for item in r.items]
        if not items:
            self._taken = []
            return
        stats = self.stats
        stats.requests += len(batch)
        stats.items += len(items)
        stats.model_calls += 1
        stats.largest_batch = max(stats.largest_batch, len(items))
        try:
            results = list(await asyncio.to_thread(self.fn, items))
            if len(results) != len(items):
                raise RuntimeError(f"the model {self.name!r} returned {len(results)} results for {len(items)} items")
        except Exception as err:  # noqa: BLE001 - every request of the batch gets it
            stats.failed_calls += 1
            _fail(batch, err)
            return
        finally:
            self._taken = []
        start = 0
        for request in batch:
            end = start + len(request.items)
            if not request.future.done():
                request.future.set_result(results[start:end])
            start = end

    def describe(self) -> dict[str, Any]:
        """Settings and counters, JSON-ready (shown by GET /v1/models)."""
        return {"max_batch": self.max_batch, "deadline_ms": self.deadline_s * 1000, **self.stats.as_dict()}


def _fail(requests: list[_Request], err: BaseException) -> None:
    for request in requests:
        if not request.future.done():
            request.future.set_exception(err)
