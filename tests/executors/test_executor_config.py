"""ExecutorConfig: torch threads per unit, 'cores' resolved against this machine's CPUs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from finfusion.executors import ExecutorConfig, make_executor


@pytest.mark.parametrize(("settings", "cpus", "threads", "unit_cpus"), [
    ({"torch_threads": 3}, 8, 3, 3.0),
    ({"torch_threads": "cores"}, 8, 8, 8.0),                                  # local: all of them
    ({"torch_threads": "cores", "kind": "processes", "workers": 3}, 8, 2, 2.0),  # 8 // 3
    ({"torch_threads": "cores", "kind": "processes", "workers": 4}, 2, 1, 1.0),  # never below 1
    ({"torch_threads": "cores", "kind": "ray"}, 8, 1, 1.0),                   # ray: a unit's CPUs, default 1
    ({"torch_threads": "cores", "kind": "ray", "cpus_per_unit": 2}, 8, 2, 2.0),
])
def test_threads_and_unit_cpus(monkeypatch, settings, cpus, threads, unit_cpus):
    monkeypatch.setattr("finfusion.executors.local.os.cpu_count", lambda: cpus)
    config = ExecutorConfig(**settings)
    assert config.threads == threads
    assert config.unit_cpus == unit_cpus


def test_executors_get_the_resolved_threads(monkeypatch):
    monkeypatch.setattr("finfusion.executors.local.os.cpu_count", lambda: 6)
    assert make_executor(ExecutorConfig(torch_threads="cores")).torch_threads == 6
    assert make_executor(ExecutorConfig(kind="processes", workers=2, torch_threads="cores")).threads_per_worker == 3


@pytest.mark.parametrize("value", [0, -1, "all", 1.5])
def test_bad_torch_threads_are_refused(value):
    with pytest.raises(ValidationError, match="torch_threads"):
        ExecutorConfig(torch_threads=value)
