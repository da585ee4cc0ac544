"""The executor interface (`Executor`, `ExecutorConfig`, `UnitFailure`) and the two local
executors; Ray's is `finfusion.executors.ray_cluster`, and `finfusion.executors.make_executor`
picks one. Units run in this process, in local processes or as Ray tasks.

    executor = make_executor(ExecutorConfig(kind="processes", workers=2))
    outcomes = executor.map(fn, items, ids=ids, shared=inputs, on_result=save)

`fn(item, shared)` must be a module-level function (it is pickled to the workers). `shared` is
what many units read (market data, samples): it reaches each worker process once (Ray: the
object store, once per run), never once per unit. `on_result(i, result)` runs in the driver as
each unit finishes, in any order, so the driver alone writes the run directory. A unit that
raises gives a `UnitFailure` at its place in the returned list and the others still run.

Executors that run units on other machines say so with `shared_filesystem = False`: a unit may
then not read or write the driver's files (`fn` gets everything through `item` and `shared`).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator

from finfusion.errors import FinfusionError
from finfusion.strict import _Strict

ExecutorKind = Literal["local", "processes", "ray"]


class ExecutorConfig(_Strict):
    """Where the independent units of a run execute (`executor:` of a run config)."""

    kind: ExecutorKind = Field(
        "local", description="local: one after another in this process; processes: a pool of local processes; "
        "ray: Ray tasks on a local instance or an existing cluster (extra [ray]; docs/scale-out.md)")
    workers: int = Field(2, ge=1, description="processes for kind: processes")
    torch_threads: int | Literal["cores"] = Field(
        1, description="torch intra-op threads of each unit (every executor). 1 by default: "
        "on 2 cores an MLP fit takes as long with 1 thread as with 2 on an idle machine (0.99x) and is 5.6x "
        "faster beside other work (benchmarks/torch_threads.py); more can pay on an idle many-core machine. "
        "'cores': this machine's cores shared by the units that run at once (local: all; processes: "
        "cores // workers; ray: cpus_per_unit, else 1)")
    address: str = Field(
        "local", description="ray: 'local' starts a private Ray instance on this machine for the run; 'auto' "
        "joins the cluster this machine belongs to (`ray start`, or RAY_ADDRESS); 'ray://host:port' connects "
        "with Ray Client; 'host:port' joins the cluster of that head node")
    cpus_per_unit: float | None = Field(
        None, gt=0, description="ray: CPUs reserved per unit (num_cpus of its task); default: torch_threads, so "
        "units that use 2 torch threads reserve 2 CPUs and never oversubscribe a node")
    max_retries: int = Field(2, ge=0, description="ray: re-runs of a unit whose worker process died; a unit that "
                             "raises is not retried (the error is the result)")

    @field_validator("torch_threads")
    @classmethod
    def _at_least_one(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"torch_threads must be >= 1 or 'cores', got {value}")
        return value

    @property
    def threads(self) -> int:
        """torch threads of each unit: `torch_threads`, with 'cores' resolved on this machine."""
        if self.torch_threads != "cores":
            return self.torch_threads
        if self.kind == "ray":
            return max(1, int(self.cpus_per_unit or 1))
        concurrent = self.workers if self.kind == "processes" else 1
        return max(1, (os.cpu_count() or 1) // concurrent)

    @property
    def unit_cpus(self) -> float:
        """The CPUs a unit reserves on Ray: `cpus_per_unit`, or its torch threads."""
        return self.cpus_per_unit if self.cpus_per_unit is not None else float(self.threads)


@dataclass(frozen=True)
class UnitFailure:
    """A unit that raised (or whose worker died past its retries): its id, the error and the
    traceback as text; `exception` is the original exception where it could be carried back."""

    unit_id: str
    error: str
    traceback: str
    exception: BaseException | None = None


class UnitsFailed(FinfusionError):
    """Some units failed; the others finished (and were written). `failures` lists them."""

    def __init__(self, failures: Sequence[UnitFailure], total: int) -> None:
        self.failures = list(failures)
        lines = [f"{len(self.failures)} of {total} unit(s) failed; the others finished and are kept "
                 "(--resume reruns only the failed ones):"]
        for failure in self.failures:
            lines.append(f"- {failure.unit_id}: {failure.error}")
        lines.append(f"traceback of {self.failures[0].unit_id}:\n{self.failures[0].traceback.rstrip()}")
        super().__init__("\n".join(lines))


OnResult = Callable[[int, Any], None]


class Executor(Protocol):
    shared_filesystem: bool  # units may read and write the driver's files

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any], *, ids: Sequence[str],
            shared: Any = None, on_result: OnResult | None = None) -> list[Any]:
        """fn(item, shared) of every item, in the order of `items`; a failed unit's place holds
        its `UnitFailure`. `on_result(i, result)` is called in the driver as unit i finishes."""


def failure(unit_id: str, err: BaseException, trace: str | None = None) -> UnitFailure:
    """The `UnitFailure` of a unit that raised `err` (its traceback from `err` unless given)."""
    text = trace if trace is not None else "".join(traceback.format_exception(err))
    return UnitFailure(unit_id, f"{type(err).__name__}: {err}", text, err)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads set to `threads` for the block, then put back (a notebook that
    called `finfusion.run` keeps its own setting). torch is imported here, not with the module, so
    the command line reads `ExecutorConfig` without loading torch."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class InProcessExecutor:
    """Units one after another in this process, with `torch_threads` intra-op threads."""

    shared_filesystem = True

    def __init__(self, *, torch_threads: int = 1) -> None:
        self.torch_threads = torch_threads

    def map(self, fn, items, *, ids, shared=None, on_result=None):
        results: list[Any] = []
        with torch_threads(self.torch_threads):
            for i, (item, unit_id) in enumerate(zip(items, ids, strict=True)):
                try:
                    result = fn(item, shared)
                except Exception as err:  # noqa: BLE001 - reported as the unit's failure; the others run
                    result = failure(unit_id, err)
                results.append(result)
                if on_result is not None and not isinstance(result, UnitFailure):
                    on_result(i, result)
        return results


_SHARED: Any = None  # a pool worker's copy of `shared`, received once by its initializer


def _init_worker(threads: int, shared: Any) -> None:
    global _SHARED
    import torch  # (see torch_threads)

    torch.set_num_threads(threads)
    _SHARED = shared


def _call_with_shared(fn, item):
    return fn(item, _SHARED)


class ProcessPoolExecutor:
    """Units spread over `workers` local processes, each with `threads_per_worker` torch threads
    (so workers do not fight for the cores); `shared` is sent to each worker once."""

    shared_filesystem = True

    def __init__(self, *, workers: int = 2, threads_per_worker: int = 1) -> None:
        if workers < 1 or threads_per_worker < 1:
            raise ValueError(f"workers and threads_per_worker must be >= 1, got {workers}, {threads_per_worker}")
        self.workers = workers
        self.threads_per_worker = threads_per_worker

    def map(self, fn, items, *, ids, shared=None, on_result=None):
        items, ids = list(items), list(ids)
        if len(items) != len(ids):
            raise ValueError(f"{len(items)} items but {len(ids)} ids")
        results: list[Any] = [None] * len(items)
        with cf.ProcessPoolExecutor(max_workers=min(self.workers, max(1, len(items))), initializer=_init_worker,
                                    initargs=(self.threads_per_worker, shared)) as pool:
            futures = {pool.submit(_call_with_shared, fn, item): i for i, item in enumerate(items)}
            for future in cf.as_completed(futures):
                i = futures[future]
                err = future.exception()
                if err is None:
                    results[i] = future.result()
                    if on_result is not None:
                        on_result(i, results[i])
                else:
                    remote = err.__cause__  # concurrent.futures' _RemoteTraceback: the worker's traceback
                    results[i] = failure(ids[i], err, str(remote) if remote is not None else None)
        return results
