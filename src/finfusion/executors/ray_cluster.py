"""Units of work as Ray tasks, on a private Ray instance on this machine or on an existing cluster.

    executor = RayExecutor(address="local")             # a private instance for each map call
    executor = RayExecutor(address="10.0.0.5:6379")     # join the cluster whose head node is there
    outcomes = executor.map(fn, items, ids=ids, shared=inputs, on_result=save)

Same contract as the other executors (`finfusion.executors`): `fn(item, shared)` runs in a Ray
worker with `torch_threads` torch threads; `shared` goes into the object store once per map call
and each worker reads it from there once (numpy arrays zero-copy and read-only) and keeps it for
the units it runs; `on_result(i, result)` runs in the driver as units finish; a unit that raised,
or whose worker died more than `max_retries` times, gives a `UnitFailure` at its place while the
others run on.

Workers must be able to import finfusion and `fn`'s module. On a private instance they run in this
interpreter's environment. On a cluster, install finfusion (same version) on every node, or pass a
`runtime_env` (e.g. `{"pip": [...]}` or `{"py_modules": [...]}`; see Ray's runtime environments).
Units run on other machines (`shared_filesystem = False`): they get everything through `item`
and `shared`, and only the driver writes the run directory.

Clusters started with `ray start --head` use token authentication by default since Ray 2.59: the
driver (and each `ray start --address` of another node) then needs RAY_AUTH_MODE=token and the
cluster's token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token). A process keeps the
authentication mode of its first Ray instance: after a private instance (tokens on by default) it
can serve its objects only to clusters with token authentication (others fail with OwnerDiedError).
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from finfusion.errors import ConfigError
from finfusion.executors.local import UnitFailure, failure, torch_threads

try:
    import ray
    from ray.exceptions import RayError, RayTaskError
except ImportError as err:  # the [ray] extra is optional; make_executor imports this module only when asked
    raise ConfigError("executor kind 'ray' needs the extra: pip install 'finfusion[ray]'") from err

CONNECT_TIMEOUT_S = 10.0  # how long the reachability check of a cluster address waits, seconds
_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # RayTaskError's text colours its `ray::task()` header
_START_HINT = ("start a cluster with `ray start --head --port PORT` on the head machine and give its "
               "'host:PORT' (or 'auto' on a machine of the cluster, or set RAY_ADDRESS), or use address 'local' "
               "for a private instance on this machine")


_WORKER_SHARED: dict[str, Any] = {}  # a worker's copy of the shared inputs of the map call it serves, by object id


@ray.remote
def _run_unit(fn, item, shared_box: list, threads: int):
    """One unit in a Ray worker: `fn(item, shared)` with `threads` torch intra-op threads.
    `shared_box` holds the shared inputs' ObjectRef inside a list, so that Ray does not resolve it
    for every task: the worker reads it once per map call and keeps it for its next units."""
    (ref,) = shared_box
    key = ref.hex()
    if key not in _WORKER_SHARED:
        _WORKER_SHARED.clear()  # a new map call: drop the last one's inputs
        _WORKER_SHARED[key] = ray.get(ref)
    with torch_threads(threads):
        return fn(item, _WORKER_SHARED[key])


def _host_port(address: str) -> tuple[str, int]:
    """(host, port) of 'host:port' or 'ray://host:port'; ConfigError naming `address` otherwise."""
    netloc = address.removeprefix("ray://")
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError as err:
        raise ConfigError(f"executor.address {address!r} is not a Ray address ({err}); expected 'local', "
                          "'auto', 'host:port' or 'ray://host:port'") from err
    if not host or port is None or parts.path or parts.query:
        raise ConfigError(f"executor.address {address!r} is not a Ray address; expected 'local', 'auto', "
                          "'host:port' or 'ray://host:port'")
    return host, port


class RayExecutor:
    """Units as Ray tasks: `cpus_per_unit` CPUs each, re-run up to `max_retries` times when their
    worker process dies (a unit that raises is not re-run: the error is its result).

    address: 'local' starts a private Ray instance (all of this machine's CPUs) for each map call
    and stops it afterwards; 'auto', 'host:port' and 'ray://host:port' (Ray Client) join an
    existing cluster and disconnect afterwards. If Ray is already initialised in this process
    (a notebook's or a test's `ray.init`), that connection is used whatever `address` says and
    left running. `runtime_env` is passed to `ray.init` (see the module docstring)."""

    shared_filesystem = False

    def __init__(self, *, address: str = "local", cpus_per_unit: float = 1.0, max_retries: int = 2,
                 torch_threads: int = 1, runtime_env: dict[str, Any] | None = None) -> None:
        if cpus_per_unit <= 0 or max_retries < 0 or torch_threads < 1:
            raise ConfigError(f"RayExecutor needs cpus_per_unit > 0, max_retries >= 0 and torch_threads >= 1, got "
                              f"{cpus_per_unit}, {max_retries}, {torch_threads}")
        if address not in ("local", "auto"):
            _host_port(address)
        self.address = address
        self.cpus_per_unit = cpus_per_unit
        self.max_retries = max_retries
        self.torch_threads = torch_threads
        self.runtime_env = runtime_env

    def map(self, fn, items, *, ids, shared=None, on_result=None):
        """fn(item, shared) of every item as Ray tasks, results in the order of `items` (a failed
        unit's place holds its `UnitFailure`); `on_result(i, result)` runs here as unit i finishes.
        An exception in the driver (Ctrl-C, a failing `on_result`) cancels the outstanding tasks."""
        items, ids = list(items), list(ids)
        if len(items) != len(ids):
            raise ValueError(f"{len(items)} items but {len(ids)} ids")
        with self._session():
            shared_ref = ray.put(shared)  # once per map call; each worker reads this one copy once
            task = _run_unit.options(num_cpus=self.cpus_per_unit, max_retries=self.max_retries,
                                     retry_exceptions=False)
            refs = [task.remote(fn, item, [shared_ref], self.torch_threads) for item in items]
            return _gather(refs, ids, on_result)

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Ray initialised for the block: the process's existing connection (left running), else
        a private instance or a cluster connection of this executor's own, shut down after."""
        if ray.is_initialized():
            yield
            return
        self._connect()
        try:
            yield
        finally:
            ray.shutdown()

    def _connect(self) -> None:
        """`ray.init` for `self.address`; ConfigError naming the address when no cluster answers."""
        if self.address == "local":
            ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=True,
                     runtime_env=self.runtime_env, logging_level=logging.WARNING)
            return
        if self.address != "auto":
            _check_reachable(self.address)
        try:
            ray.init(address=self.address, runtime_env=self.runtime_env, log_to_driver=True,
                     logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, RayError) as err:
            raise ConfigError(
                f"could not connect to the Ray cluster at executor.address {self.address!r}: {str(err).rstrip('.')}. Check that a "
                f"Ray head node runs there (`ray status --address ...`); {_START_HINT}. A cluster with token "
                "authentication (the default of `ray start --head` since Ray 2.59) also needs RAY_AUTH_MODE=token "
                "and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token) in this process") from err


def _check_reachable(address: str) -> None:
    """Fail fast (within CONNECT_TIMEOUT_S) with a ConfigError when nothing listens at `address`:
    `ray.init` itself retries an unreachable address for minutes."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        raise ConfigError(f"no Ray cluster reachable at executor.address {address!r} ({err}): {_START_HINT}") from err


def _gather(refs: list[Any], ids: list[str], on_result) -> list[Any]:
    """Results of the task `refs` in their order, collected as they finish; `on_result(i, r)` for
    each success. Any exception here (KeyboardInterrupt included) cancels the tasks still running."""
    results: list[Any] = [None] * len(refs)
    pending = {ref: i for i, ref in enumerate(refs)}
    try:
        while pending:
            ready, rest = ray.wait(list(pending), num_returns=1)
            if rest:  # everything else that has finished too, without waiting
                ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in ready:
                i = pending.pop(ref)
                results[i] = _outcome(ref, ids[i])
                if on_result is not None and not isinstance(results[i], UnitFailure):
                    on_result(i, results[i])
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise
    return results


def _outcome(ref: Any, unit_id: str) -> Any:
    """The result of a finished task, or the `UnitFailure` of `unit_id`: the unit's own exception
    and remote traceback when it raised, Ray's error when its worker or node died past its retries."""
    try:
        return ray.get(ref)
    except RayTaskError as err:
        cause = err.cause if isinstance(err.cause, BaseException) else err
        return failure(unit_id, cause, _ANSI_COLOUR.sub("", str(err)))  # the remote traceback, less Ray's colours
    except RayError as err:  # WorkerCrashedError, NodeDiedError, TaskCancelledError, ObjectLostError, ...
        return failure(unit_id, err)
