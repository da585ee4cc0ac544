"""`create_app` in process (FastAPI's TestClient): batching of concurrent HTTP requests into one
model call, argument checks, the model-error field rule, predict without texts."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from finfusion.errors import ConfigError
from finfusion.serve import Limits, create_app
from finfusion.serve.app import _field_named

sys.path.insert(0, str(Path(__file__).parent))
from fakes import FakeForecaster, market_records  # noqa: E402


def test_concurrent_http_requests_share_one_model_call(classifier):
    """16 requests of 2 texts with max_batch 32: the batch closes when the 16th arrives (the
    deadline, 10 s, never comes), so the model runs once for all of them."""
    sets = [[f"stock {w} {i}", f"shares {w}"] for i, w in enumerate("rises falls surges slumps".split() * 4)]
    app = create_app(classifiers={"tiny": classifier}, max_batch=32, batch_deadline_ms=10_000)
    barrier = threading.Barrier(16)
    with TestClient(app) as client:
        def post(texts):
            barrier.wait()
            return client.post("/v1/sentiment", json={"texts": texts}).json()["results"]

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(post, sets))
        stats = client.get("/v1/models").json()["classifiers"]["tiny"]["batching"]
    assert (stats["model_calls"], stats["requests"], stats["items"], stats["largest_batch"]) == (1, 16, 32, 32)
    for got, texts in zip(results, sets):
        expected = classifier.predict_batch(texts)
        assert [g["label"] for g in got] == [e["label"] for e in expected]
        for g, e in zip(got, expected):  # another batch than alone: float32 padding rounding only
            assert g["probs"] == {k: pytest.approx(v, abs=1e-6) for k, v in e["probs"].items()}


def test_predict_without_texts_and_without_a_pipeline():
    fake = FakeForecaster("F")
    with TestClient(create_app(forecasters={"F": fake})) as client:
        response = client.post("/v1/predict", json={"prices": market_records()["prices"]})
        assert response.status_code == 200
        assert [r["texts"] for r in response.json()["rows"]] == [0, 0, 0]
        assert response.json()["notes"] == {"asof": "2024-03-08", "texts_after_close": 0}
        missing = client.post("/v1/sentiment", json={"text": "profit"})
    assert missing.status_code == 404 and missing.json()["detail"].startswith("no sentiment classifier is loaded")
    with TestClient(create_app()) as client:
        assert client.post("/v1/predict", json=market_records()).status_code == 404
        assert client.get("/healthz").json()["forecasters"] == []


@pytest.mark.parametrize("kwargs, message", [
    ({"forecasters": {"F": object()}}, r"forecasters\['F'\]: object is not a forecaster"),
    ({"classifiers": {"c": FakeForecaster()}}, r"classifiers\['c'\]: expected a SentimentClassifier"),
    ({"forecasters": {" F": FakeForecaster()}}, "model names must be non-empty strings"),
    ({"api_key": ""}, "api_key must be a non-empty string"),
    ({"max_batch": 0}, "max_batch must be an int >= 1"),
    ({"batch_deadline_ms": 20_000}, r"batch deadline must be a number of milliseconds in \[0, 10000\], got 20000"),
])
def test_create_app_checks_its_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        create_app(**kwargs)


def test_limits_must_be_positive_ints_named_by_their_option():
    with pytest.raises(ConfigError, match=r"limit max_chars \(--max-chars\) must be an int >= 1, got 0"):
        Limits(max_chars=0)


@pytest.mark.parametrize("message, field", [
    ("the prices end on 2024-03-08, before asof 2024-04-01", "prices"),
    ("asof '2024-13-01' is not a date (expected YYYY-MM-DD)", "asof"),
    ("texts: row 3, column 'timestamp': got 'x', expected an ISO 8601 timestamp", "texts"),
    ("2 ticker(s) cannot be forecast at the close of 2024-03-08:\n  AAA: no features", "prices"),
    ("pricesless wording", "prices"),
])
def test_a_model_error_is_reported_at_the_field_it_names_first(message, field):
    assert _field_named(message) == field


def test_one_classifier_under_two_names_has_one_batcher(classifier):
    """Its tokenizer is then only ever called from one thread (one batch at a time)."""
    with TestClient(create_app(classifiers={"a": classifier, "b": classifier})) as client:
        for name in ("a", "b"):
            assert client.post("/v1/sentiment", json={"text": "profit", "model": name}).status_code == 200
        batching = {name: c["batching"] for name, c in client.get("/v1/models").json()["classifiers"].items()}
    assert batching["a"] == batching["b"] and batching["a"]["requests"] == 2
