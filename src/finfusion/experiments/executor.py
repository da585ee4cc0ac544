"""One small interface for independent units of work (sweep points x seeds x models).

`InProcessExecutor` runs them one after another; `ProcessPoolExecutor` spreads them over
local processes (each limited to `threads_per_worker` torch threads, so workers do not fight
for the cores). Protocols and recipes only call `map`, so a cluster backend can take over.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Results of fn(item) for every item, in the order of `items`."""


class InProcessExecutor:
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return [fn(item) for item in items]


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads set to `threads` for the block, then put back (a notebook that
    called `finfusion.run` keeps its own setting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ProcessPoolExecutor:
    def __init__(self, *, workers: int = 2, threads_per_worker: int = 1) -> None:
        if workers < 1 or threads_per_worker < 1:
            raise ValueError(f"workers and threads_per_worker must be >= 1, got {workers}, {threads_per_worker}")
        self.workers = workers
        self.threads_per_worker = threads_per_worker

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        items = list(items)
        with cf.ProcessPoolExecutor(
            max_workers=min(self.workers, max(1, len(items))),
            initializer=_init_worker,
            initargs=(self.threads_per_worker,),
        ) as pool:
            return list(pool.map(fn, items))


def make_executor(kind: str = "local", *, workers: int = 2) -> Executor:
    """'local' (in process) or 'processes' (a pool of `workers` processes)."""
    if kind == "local":
        return InProcessExecutor()
    if kind == "processes":
        return ProcessPoolExecutor(workers=workers)
    raise ValueError(f"executor must be 'local' or 'processes', got {kind!r}")
