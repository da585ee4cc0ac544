"""Fixtures of the service tests: a tiny saved sentiment classifier, a fake pipeline directory,
and `finfusion serve` running in a subprocess on a free 127.0.0.1 port (always stopped)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from finfusion.text.sentiment import SentimentClassifier

sys.path.insert(0, str(Path(__file__).parent))
from fakes import FakeForecaster, tiny_classifier  # noqa: E402
from server_support import API_KEY, LIMITS, start_server, stop_server  # noqa: E402


@pytest.fixture(scope="session")
def classifier_dir(tiny_bert, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serve") / "tiny-clf"
    tiny_classifier(tiny_bert, out)
    return out


@pytest.fixture(scope="session")
def classifier(classifier_dir):
    """The served classifier, loaded in the test process (the in-process reference)."""
    return SentimentClassifier.load(classifier_dir, device="cpu")


@pytest.fixture(scope="session")
def fake_pipeline_dir(tmp_path_factory) -> Path:
    return FakeForecaster.save(tmp_path_factory.mktemp("serve") / "fake-pipeline")


@pytest.fixture(scope="module")
def server(classifier_dir, fake_pipeline_dir, tmp_path_factory):
    """The service: the fake pipeline, the tiny classifier twice ("tiny" and "other"), an API key
    and small limits (LIMITS)."""
    limits = [arg for key, value in LIMITS.items() for arg in (f"--{key.replace('_', '-')}", str(value))]
    running = start_server([str(fake_pipeline_dir), str(classifier_dir), f"other={classifier_dir}",
                            "--api-key", API_KEY, *limits], tmp_path_factory.mktemp("serve-log") / "server.log")
    yield running
    stop_server(running)
