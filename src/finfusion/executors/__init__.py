"""Executors: where the independent units of a run execute (this process, local processes, a
Ray cluster). The interface and the local executors are in `executors.local`, Ray's in
`executors.ray_cluster` (an optional extra, imported only when asked for).

    executor = make_executor(ExecutorConfig(kind="processes", workers=2))
    outcomes = executor.map(fn, items, ids=ids, shared=inputs, on_result=save)
"""

from __future__ import annotations

from finfusion.executors.local import (
    Executor,
    ExecutorConfig,
    ExecutorKind,
    InProcessExecutor,
    ProcessPoolExecutor,
    UnitFailure,
    UnitsFailed,
    failure,
    torch_threads,
)

__all__ = ["Executor", "ExecutorConfig", "ExecutorKind", "InProcessExecutor", "ProcessPoolExecutor", "UnitFailure",
           "UnitsFailed", "failure", "make_executor", "torch_threads"]


def make_executor(config: ExecutorConfig) -> Executor:
    """The executor `config` describes (Ray's is imported only when asked for: it is an extra)."""
    if config.kind == "local":
        return InProcessExecutor(torch_threads=config.threads)
    if config.kind == "processes":
        return ProcessPoolExecutor(workers=config.workers, threads_per_worker=config.threads)
    from finfusion.executors.ray_cluster import RayExecutor  # optional extra [ray]: imported only when used

    return RayExecutor(address=config.address, cpus_per_unit=config.unit_cpus,
                       max_retries=config.max_retries, torch_threads=config.threads)
