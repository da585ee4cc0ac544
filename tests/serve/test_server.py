"""`finfusion serve` as a user runs it: a real uvicorn server in a subprocess (conftest.py), talked
to over HTTP: parity with the in-process APIs, concurrency, the error codes, the docs."""

from __future__ import annotations

import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from finfusion._version import __version__
from finfusion.data.readers import read_prices, read_texts
from finfusion.pipeline import forecast_records

sys.path.insert(0, str(Path(__file__).parent))
from fakes import FakeForecaster, market_records  # noqa: E402
from server_support import LIMITS, start_server, stop_server  # noqa: E402

TEXTS = ["stock rises after strong earnings", "shares slump", "", "profit", "stock rises after strong earnings",
         "the bank reports weak quarter results", "   "]


def assert_results_match(got: list[dict], expected: list[dict], scores: np.ndarray, tol: float) -> None:
    assert len(got) == len(expected) == len(scores)
    for g, e, s in zip(got, expected, scores):
        assert (g["label"], g["label_id"]) == (e["label"], e["label_id"])
        assert g["confidence"] == pytest.approx(e["confidence"], abs=tol)
        assert g["probs"].keys() == e["probs"].keys()
        assert all(g["probs"][k] == pytest.approx(e["probs"][k], abs=tol) for k in e["probs"])
        assert g["score"] == pytest.approx(s, abs=tol)


def test_healthz_is_open_and_names_the_models(server):
    response = httpx.get(f"{server.url}/healthz")  # no API key
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "finfusion_version": __version__, "forecasters": ["FakeMLP"],
                               "classifiers": ["other", "tiny"]}


@pytest.mark.parametrize("key, word", [(None, "missing"), ("test-key-0124", "wrong")])
def test_v1_needs_the_api_key(server, key, word):
    with server.client(key) as client:
        for response in (client.get("/v1/models"), client.post("/v1/sentiment", json={"text": "profit"}),
                         client.post("/v1/predict", json=market_records())):
            assert response.status_code == 401
            assert response.json()["detail"].startswith(f"{word} API key")


def test_models_says_what_is_loaded(server, classifier_dir):
    with server.client() as client:
        doc = client.get("/v1/models").json()
    assert doc["forecasters"] == {"FakeMLP": FakeForecaster().describe()}
    tiny = doc["classifiers"]["tiny"]
    assert tiny["labels"] == ["negative", "neutral", "positive"] and tiny["max_length"] == 128
    assert tiny["path"] == str(classifier_dir) and tiny["finfusion_version"] == __version__
    assert tiny["batching"]["max_batch"] == 64 and tiny["batching"]["deadline_ms"] == 5.0
    assert doc["classifiers"]["other"]["path"] == str(classifier_dir)


def test_sentiment_equals_predict_batch_in_process(server, classifier):
    with server.client() as client:
        many = client.post("/v1/sentiment", json={"texts": TEXTS, "model": "tiny"})
        one = client.post("/v1/sentiment", json={"text": TEXTS[1], "model": "other"})
    assert many.status_code == 200 and many.json()["model"] == "tiny"
    assert_results_match(many.json()["results"], classifier.predict_batch(TEXTS), classifier.score(TEXTS), 1e-9)
    assert one.json()["model"] == "other"
    assert_results_match(one.json()["results"], classifier.predict_batch(TEXTS[1:2]), classifier.score(TEXTS[1:2]),
                         1e-9)
    empty = many.json()["results"][2]  # no sentiment: uniform, no label, score 0
    assert empty["label"] is None and empty["probs"] == {k: pytest.approx(1 / 3) for k in empty["probs"]}
    assert empty["score"] == pytest.approx(0.0, abs=1e-12)


def test_concurrent_requests_get_the_answers_of_one_by_one(server):
    words = "stock shares price rises falls strong weak earnings profit loss bank company".split()
    sets = [[f"{words[i % 12]} {words[(i + j) % 12]} {'up ' * j}".strip() for j in range(1 + i % 3)]
            for i in range(16)]

    def post(texts: list[str], barrier: threading.Barrier | None = None) -> list[dict]:
        with server.client() as client:
            if barrier is not None:
                barrier.wait()
            response = client.post("/v1/sentiment", json={"texts": texts, "model": "tiny"})
            assert response.status_code == 200, response.text
            return response.json()["results"]

    one_by_one = [post(texts) for texts in sets]
    with server.client() as client:
        before = client.get("/v1/models").json()["classifiers"]["tiny"]["batching"]
    barrier = threading.Barrier(16)
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda texts: post(texts, barrier), sets))
    with server.client() as client:
        after = client.get("/v1/models").json()["classifiers"]["tiny"]["batching"]
    for got, expected in zip(together, one_by_one):
        # in a batch with other texts a text is padded to another length: float32 rounding only
        scores = np.array([e["score"] for e in expected])
        assert_results_match(got, expected, scores, 1e-6)
    assert after["requests"] - before["requests"] == 16
    assert after["items"] - before["items"] == sum(map(len, sets))
    assert 1 <= after["model_calls"] - before["model_calls"] <= 16 and after["failed_calls"] == 0


def test_predict_gives_finfusion_predicts_document(server, tmp_path):
    """What `finfusion predict --json` prints for these data read from files (the fake pipeline in
    place of a real one) is what /v1/predict answers for them sent as JSON."""
    data = market_records()
    pd.DataFrame(data["prices"]).to_csv(tmp_path / "prices.csv", index=False)
    pd.DataFrame(data["texts"]).to_csv(tmp_path / "texts.csv", index=False)
    prices = read_prices(tmp_path / "prices.csv")
    rows = FakeForecaster().predict(prices, read_texts(tmp_path / "texts.csv", tickers=sorted(prices["ticker"])))
    with server.client() as client:
        response = client.post("/v1/predict", json=data)
        earlier = client.post("/v1/predict", json={**data, "asof": "2024-03-06", "model": "FakeMLP"})
    assert response.status_code == 200, response.text
    assert response.json() == {"model": "FakeMLP", "rows": forecast_records(rows), "notes": dict(rows.attrs)}
    aaa = response.json()["rows"][0]  # 11.48 / 10 - 1 + 0.001 * 2 texts + 1e-6 * (15.5 + ... + 19.5)
    assert aaa["ticker"] == "AAA" and aaa["prediction"] == pytest.approx(0.1500875, abs=1e-12)
    assert response.json()["notes"] == {"asof": "2024-03-08", "texts_after_close": 1}
    assert earlier.status_code == 200 and {r["asof"] for r in earlier.json()["rows"]} == {"2024-03-06"}
    assert earlier.json()["notes"]["texts_after_close"] == 2  # 2024-03-07 and 2024-03-11


@pytest.mark.parametrize("body, loc, value", [
    ({"texts": ["fine", 3]}, ["body", "texts", 1], 3),
    ({"texts": ["a"], "text": "b"}, ["body"], None),
    ({"texts": ["a"], "colour": "red"}, ["body", "colour"], "red"),
    ({"texts": []}, ["body", "texts"], []),
])
def test_bad_sentiment_bodies_get_422_naming_field_and_value(server, body, loc, value):
    with server.client() as client:
        response = client.post("/v1/sentiment", json={**body, "model": "tiny"})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == loc and error["msg"]
    if value is not None:
        assert error["input"] == value


def test_bad_predict_bodies_get_422_naming_field_and_value(server):
    data = market_records()
    cases = [
        ({**data, "prices": [{**data["prices"][0], "close": "12.5"}, *data["prices"][1:]]},
         ["body", "prices", 0, "close"], "12.5"),
        ({**data, "texts": [{**data["texts"][0], "timestamp": "2024-03-05T15:30:00"}]},
         ["body", "texts", 0, "timestamp"], "2024-03-05T15:30:00"),
        ({**data, "asof": 20240306}, ["body", "asof"], 20240306),
        ({**data, "prices": [{**data["prices"][0], "pe": "high"}, *data["prices"][1:]]},
         ["body", "prices", 0, "pe"], "high"),
    ]
    with server.client() as client:
        for body, loc, value in cases:
            response = client.post("/v1/predict", json=body)
            assert response.status_code == 422, body
            error = response.json()["detail"][0]
            assert (error["loc"], error["input"]) == (loc, value)


def test_data_the_model_refuses_gets_422_with_its_message(server):
    data = market_records()
    short = [r for r in data["prices"] if not (r["ticker"] == "CCC" and r["date"] < "2024-03-07")]
    negative = [{**data["prices"][0], "close": -1.0}, *data["prices"][1:]]
    with server.client() as client:
        responses = [client.post("/v1/predict", json={**data, "prices": short}),
                     client.post("/v1/predict", json={**data, "asof": "2024-04-01"}),
                     client.post("/v1/predict", json={**data, "prices": negative})]
    assert [r.status_code for r in responses] == [422, 422, 422]
    errors = [r.json()["detail"][0] for r in responses]
    assert errors[0]["loc"] == ["body", "prices"] and "CCC has 2 row(s), the features need 3" in errors[0]["msg"]
    assert errors[1]["loc"] == ["body", "prices"] and "before asof 2024-04-01" in errors[1]["msg"]
    assert errors[2]["loc"] == ["body", "prices"] and "column 'close': got -1" in errors[2]["msg"]


def test_bodies_over_the_limits_get_413(server):
    data = market_records()
    over_rows = [{**data["prices"][0], "date": d.strftime("%Y-%m-%d")}
                 for d in pd.bdate_range("2024-01-01", periods=LIMITS["max_rows"] + 1)]
    with server.client() as client:
        cases = {
            "texts": client.post("/v1/sentiment", json={"texts": ["a"] * (LIMITS["max_texts"] + 1), "model": "tiny"}),
            "chars": client.post("/v1/sentiment", json={"text": "a" * (LIMITS["max_chars"] + 1), "model": "tiny"}),
            "rows": client.post("/v1/predict", json={**data, "prices": over_rows}),
            "text rows": client.post("/v1/predict", json={**data, "texts": [
                data["texts"][0], {**data["texts"][1], "text": "b" * (LIMITS["max_chars"] + 1)}]}),
            "body": client.post("/v1/sentiment", content=b"x" * (LIMITS["max_body_bytes"] + 1),
                                headers={"content-type": "application/json"}),
            "chunked body": client.post("/v1/sentiment", content=iter([b"x" * 15_000] * 2),
                                        headers={"content-type": "application/json"}),
        }
    assert {name: r.status_code for name, r in cases.items()} == dict.fromkeys(cases, 413)
    detail = {name: cases[name].json()["detail"][0] for name in ("texts", "chars", "rows", "text rows")}
    assert detail["texts"]["loc"] == ["body", "texts"] and detail["texts"]["input"] == LIMITS["max_texts"] + 1
    assert detail["texts"]["ctx"] == {"limit": LIMITS["max_texts"], "option": "--max-texts"}
    assert detail["chars"]["loc"] == ["body", "text"] and detail["chars"]["input"] == LIMITS["max_chars"] + 1
    assert detail["rows"]["loc"] == ["body", "prices"] and "over the limit of 60" in detail["rows"]["msg"]
    assert detail["text rows"]["loc"] == ["body", "texts", 1, "text"]


def test_model_names_404_and_422(server):
    with server.client() as client:
        unknown = client.post("/v1/sentiment", json={"text": "profit", "model": "finbert"})
        unnamed = client.post("/v1/sentiment", json={"text": "profit"})  # two classifiers are loaded
        unknown_pipeline = client.post("/v1/predict", json={**market_records(), "model": "LSTM"})
    assert unknown.status_code == 404 and unknown.json()["detail"].endswith("loaded: other, tiny")
    assert "'finbert'" in unknown.json()["detail"]
    assert unnamed.status_code == 422 and unnamed.json()["detail"][0]["loc"] == ["body", "model"]
    assert unknown_pipeline.status_code == 404 and "loaded: FakeMLP" in unknown_pipeline.json()["detail"]


def test_docs_and_openapi_are_served(server):
    docs = httpx.get(f"{server.url}/docs")
    schema = httpx.get(f"{server.url}/openapi.json")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/healthz", "/v1/models", "/v1/sentiment", "/v1/predict"} <= set(paths)
    assert "X-API-Key" in str(schema.json()["components"]["securitySchemes"])


def test_the_server_stops_on_sigterm(classifier_dir, tmp_path):
    running = start_server([str(classifier_dir)], tmp_path / "log.txt", env={"FINFUSION_API_KEY": ""})
    assert httpx.post(f"{running.url}/v1/sentiment", json={"text": "profit"}).status_code == 200  # no key needed
    stop_server(running)
    assert running.process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
    log = (tmp_path / "log.txt").read_text()
    assert "finfusion serve: http://127.0.0.1:" in log and "Traceback" not in log
