"""RayExecutor on real Ray: a private instance, an instance this process started, a two-node
cluster on this machine (two `ray start` nodes) and an address where no cluster runs."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import torch
from ray import cloudpickle

from finfusion.errors import ConfigError
from finfusion.executors import ExecutorConfig, InProcessExecutor, UnitFailure, make_executor, ray_cluster
from finfusion.executors.ray_cluster import RayExecutor

# Ray workers cannot import this test module (pytest's importlib mode): ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _seeded_fit(item: int, shared) -> tuple[float, int]:
    """A few seeded gradient steps of a linear model on `shared`'s data; (loss, torch threads)."""
    torch.manual_seed(item)
    x = torch.as_tensor(np.array(shared["x"]), dtype=torch.float32)  # (64, 4)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(64)
    model = torch.nn.Linear(4, 1)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(20):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
        loss.backward()
        optimiser.step()
    return loss.item(), torch.get_num_threads()


def _shared_view(item: int, shared) -> tuple[bool, float]:
    """(whether the worker's shared array is writeable, item + its sum)."""
    prices = shared["prices"]
    return bool(prices.flags.writeable), item + float(prices.sum())


class _CountsLoads:
    """Shared inputs that append a line to `log` each time they are unpickled."""

    def __init__(self, log: str, value: float) -> None:
        self.log, self.value = log, value

    def __reduce__(self):
        return _loaded, (self.log, self.value)


def _loaded(log: str, value: float) -> _CountsLoads:
    with open(log, "a") as out:
        out.write(f"{os.getpid()}\n")
    return _CountsLoads(log, value)


def _worker_copy(item: int, shared: _CountsLoads) -> tuple[int, float]:
    return os.getpid(), shared.value


def _fail_on_two(item: int, shared) -> int:
    if item == 2:
        raise ValueError(f"bad item {item}")
    return item * 10


def _die_first_time(item: int, shared) -> int:
    """Kills its own worker process on the first attempt of item 1 (a marker file in `shared`'s
    directory records the attempt), as an out-of-memory kill or a lost machine would."""
    if item == 1:
        marker = Path(shared) / "attempted"
        if not marker.exists():
            marker.write_text("1")
            os.kill(os.getpid(), signal.SIGKILL)
    return item + 100


def _always_die(item: int, shared) -> int:
    if item == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return item


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_private_instance_gives_inprocess_results_in_order_and_stops():
    items = [3, 1, 4, 1, 5]
    ids = [f"u{i}" for i in range(len(items))]
    shared = {"x": np.random.default_rng(0).normal(size=(64, 4))}
    expected = InProcessExecutor(torch_threads=1).map(_seeded_fit, items, ids=ids, shared=shared)
    assert not ray.is_initialized()
    got = RayExecutor(address="local", torch_threads=1).map(_seeded_fit, items, ids=ids, shared=shared)
    assert got == expected  # same seeds, same numbers, item order (units 1 and 3 are the same item)
    assert got[1] == got[3] and got[0] != got[1]
    assert all(threads == 1 for _, threads in got)
    assert not ray.is_initialized()  # the private instance is shut down after map


class TestOnRunningInstance:
    """Units on a Ray instance this process started (as a notebook would): the executor uses it
    and leaves it running."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def instance(cls):
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
        yield
        ray.shutdown()

    def test_shared_is_put_once_and_read_zero_copy(self, monkeypatch):
        """Invariant: one `ray.put` per map call however many units, and the workers read that one
        object-store copy (numpy arrays arrive read-only: views on the store, not copies)."""
        puts = []
        real_put = ray.put

        def counting_put(value, **kwargs):
            puts.append(value)
            return real_put(value, **kwargs)

        monkeypatch.setattr(ray, "put", counting_put)
        shared = {"prices": np.arange(1000, dtype=np.float64)}
        got = RayExecutor().map(_shared_view, [0, 1, 2, 3], ids=list("abcd"), shared=shared)
        assert len(puts) == 1 and puts[0] is shared
        assert got == [(False, i + 499500.0) for i in range(4)]
        assert ray.is_initialized()  # not the executor's instance: left running

    def test_each_worker_reads_shared_once_per_map_call(self, tmp_path):
        """Invariant: a worker hands every unit of a map call the same copy of `shared` (read from
        the store once, as the processes executor's initializer does); the next map call's units
        get that call's inputs, not the last one's."""
        log = tmp_path / "loads"
        first = RayExecutor().map(_worker_copy, list(range(8)), ids=[f"u{i}" for i in range(8)],
                                  shared=_CountsLoads(str(log), 1.0))
        workers = {pid for pid, _ in first}
        assert sorted(map(int, log.read_text().split())) == sorted(workers)  # one load per worker, not per unit
        assert {value for _, value in first} == {1.0}
        second = RayExecutor().map(_worker_copy, list(range(4)), ids=list("abcd"), shared=_CountsLoads(str(log), 2.0))
        assert {value for _, value in second} == {2.0}

    def test_failing_unit_gives_its_failure_and_others_finish(self):
        seen = []
        got = RayExecutor().map(_fail_on_two, [0, 1, 2, 3], ids=["u0", "u1", "u2", "u3"],
                                on_result=lambda i, result: seen.append((i, result)))
        assert [got[i] for i in (0, 1, 3)] == [0, 10, 30]
        assert isinstance(got[2], UnitFailure)
        assert got[2].unit_id == "u2"
        assert got[2].error == "ValueError: bad item 2"
        assert isinstance(got[2].exception, ValueError)
        assert "in _fail_on_two" in got[2].traceback and 'raise ValueError(f"bad item {item}")' in got[2].traceback
        assert "\x1b[" not in got[2].traceback
        assert sorted(seen) == [(0, 0), (1, 10), (3, 30)]

    def test_killed_worker_is_retried(self, tmp_path):
        got = RayExecutor(max_retries=2).map(_die_first_time, [0, 1, 2], ids=["a", "b", "c"], shared=str(tmp_path))
        assert (tmp_path / "attempted").exists()  # the first attempt of unit b did die
        assert got == [100, 101, 102]

    def test_worker_dead_past_retries_is_a_failure(self):
        got = RayExecutor(max_retries=0).map(_always_die, [0, 1], ids=["dies", "lives"])
        assert got[1] == 1
        assert isinstance(got[0], UnitFailure) and got[0].unit_id == "dies"
        assert got[0].error.startswith("WorkerCrashedError")

    def test_driver_interrupt_propagates(self):
        def interrupt(i, result):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            RayExecutor().map(_fail_on_two, [0, 1, 3], ids=["a", "b", "c"], on_result=interrupt)
        assert RayExecutor().map(_fail_on_two, [4], ids=["d"]) == [40]  # the instance still serves


def _start_node(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`ray start ARGS --block` in the background, once it reports the node started; the node's
    processes end with it (SIGTERM)."""
    with log.open("w") as out:
        process = subprocess.Popen([shutil.which("ray") or "ray", "start", *args, "--block"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while "Ray runtime started" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            _stop_node(process)
            raise RuntimeError(f"`ray start {' '.join(args)}` did not start a node:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return process


def _stop_node(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def two_node_cluster():
    """A head node and a worker node on this machine, one CPU each, without token authentication
    (Ray 2.60 turns it on for `ray start --head` but not for the `ray start --address` that
    joins it); yields (the head's 'host:port', its Ray Client 'ray://host:port', the environment of
    its processes). Both nodes are stopped afterwards, even on failure."""
    temp_dir = Path(tempfile.mkdtemp(prefix="ffray-"))  # short: Ray's socket paths live under it
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    port, client_port = _free_port(), _free_port()
    address = f"127.0.0.1:{port}"
    nodes = []
    try:
        nodes.append(_start_node(["--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                                  "--ray-client-server-port", str(client_port), "--num-cpus", "1",
                                  "--include-dashboard", "false", "--temp-dir", str(temp_dir)],
                                 env, temp_dir / "head.log"))
        nodes.append(_start_node(["--address", address, "--num-cpus", "1"], env, temp_dir / "worker.log"))
        yield address, f"ray://127.0.0.1:{client_port}", env
    finally:
        for node in reversed(nodes):
            _stop_node(node)
        shutil.rmtree(temp_dir, ignore_errors=True)


# The driver runs in a fresh interpreter: a process keeps the authentication mode of its first
# Ray instance (token, for this module's private instances), so a driver that ran one cannot
# serve the objects of a cluster without tokens to that cluster's other node (OwnerDiedError).
_DRIVER = """
import json, os, sys, time
import ray
from finfusion.executors import UnitFailure
from finfusion.executors.ray_cluster import RayExecutor

def where(item, shared):
    # waits (up to 60 s) until two units run at once: with one CPU per node, on both nodes
    marker = os.path.join(shared, f"started_{item}")
    open(marker, "w").close()
    deadline = time.monotonic() + 60
    while len(os.listdir(shared)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.getpid(), ray.get_runtime_context().get_node_id(), shared

report = {}
for n, address in enumerate(sys.argv[2:]):
    markers = os.path.join(sys.argv[1], str(n))
    os.makedirs(markers)
    results = RayExecutor(address=address).map(where, list(range(4)), ids=[f"u{i}" for i in range(4)], shared=markers)
    report[address] = {"results": [r.error if isinstance(r, UnitFailure) else r for r in results],
                       "connected_after": ray.is_initialized()}
print(json.dumps(report))
"""


def test_units_run_on_both_nodes_of_a_cluster(two_node_cluster, tmp_path):
    """The cluster joined as 'host:port' and through Ray Client ('ray://host:port')."""
    address, client_address, env = two_node_cluster
    run = subprocess.run([sys.executable, "-c", _DRIVER, str(tmp_path), address, client_address], env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert list(report) == [address, client_address]
    for outcome in report.values():
        assert outcome["connected_after"] is False  # the executor disconnected
        results = outcome["results"]
        assert all(isinstance(result, list) and Path(result[2]).parent == tmp_path for result in results), results
        assert len({node for _, node, _ in results}) == 2  # both nodes ran units
        assert len({pid for pid, _, _ in results}) >= 2


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_unreachable_address_is_a_config_error(scheme):
    address = f"{scheme}127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(ConfigError, match=f"no Ray cluster reachable at executor.address '{address}'.*ray start --head"):
        RayExecutor(address=address).map(_fail_on_two, [0], ids=["a"])
    assert not ray.is_initialized()


@pytest.mark.parametrize("address", ["nowhere", "ray://host", "10.0.0.1:port"])
def test_malformed_address_is_a_config_error(address):
    with pytest.raises(ConfigError, match=f"executor.address '{address}' is not a Ray address"):
        RayExecutor(address=address)


def test_make_executor_builds_the_configured_ray_executor():
    executor = make_executor(ExecutorConfig(kind="ray", address="auto", cpus_per_unit=0.5, max_retries=1,
                                            torch_threads=2))
    assert isinstance(executor, RayExecutor) and executor.shared_filesystem is False
    assert (executor.address, executor.cpus_per_unit, executor.max_retries, executor.torch_threads) == (
        "auto", 0.5, 1, 2)
    two_threads = make_executor(ExecutorConfig(kind="ray", torch_threads=2))  # by default a unit reserves its threads
    assert two_threads.cpus_per_unit == 2.0 and ExecutorConfig().unit_cpus == 1.0


def test_without_ray_the_module_names_the_extra(monkeypatch):
    spec = importlib.util.spec_from_file_location("ray_cluster_without_ray", ray_cluster.__file__)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(ConfigError, match=r"executor kind 'ray' needs the extra: pip install 'finfusion\[ray\]'"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
