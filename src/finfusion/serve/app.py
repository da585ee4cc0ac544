"""The HTTP service: `create_app` builds the FastAPI app around models loaded by the caller.

    from finfusion.serve import create_app, Limits
    app = create_app(forecasters={"MLP": load_pipeline("pipelines/mlp")},
                     classifiers={"pb": SentimentClassifier.load("runs/pb/model")},
                     limits=Limits(max_texts=256), api_key="s3cret")
    uvicorn.run(app, host="127.0.0.1", port=8000)          # what `finfusion serve` does

Endpoints (docs/serve.md has a curl example of each):

    GET  /healthz        liveness, and the names of the loaded models (open: no API key)
    GET  /v1/models      what is loaded: forecasters' describe(), classifiers' manifest essentials
    POST /v1/sentiment   texts -> label, label_id, confidence, probs, score per text
    POST /v1/predict     recent prices (+ texts) -> `finfusion predict --json`'s document
    GET  /docs, /openapi.json   the OpenAPI documentation (open)

Every /v1 endpoint requires the header `X-API-Key` when the app has an `api_key` (401 when it
is missing or wrong; compared in constant time). No endpoint takes a path: models are loaded
before the app starts and a request only names one among them (`model`; optional when one of
that kind is loaded; an unknown name gets 404 listing the loaded ones).

Concurrency: the app runs in one process and one event loop. Concurrent /v1/sentiment requests
to one classifier are micro-batched (`finfusion.serve.batching`): one `predict_proba` call over
the union of their texts, in a worker thread. /v1/predict requests are not merged (each brings
its own price history and `asof`); each runs in a worker thread, one at a time (pipelines may
share a text encoder, whose tokenizer is not safe to call from two threads at once), and every
pipeline and classifier of the process shares the text caches (tokens, encoder
vectors), so texts already seen are not encoded again.

Errors: 422 for a body that does not validate (FastAPI's detail: field `loc` and value `input`)
and for data the model refuses (`DataError` / `ConfigError` from `predict`: the message, at the
field it names first among prices / texts / asof); 413 over a size limit (`limits`); 404
unknown model; 401 API key.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.security import APIKeyHeader

from finfusion._version import __version__
from finfusion.errors import ConfigError, DataError
from finfusion.pipeline import forecast_records
from finfusion.serve.batching import MicroBatcher, check_settings
from finfusion.serve.limits import Limits, check_rows, check_texts
from finfusion.serve.schemas import (
    Health,
    Models,
    PredictRequest,
    PredictResponse,
    SentimentRequest,
    SentimentResponse,
)
from finfusion.text.sentiment.classifier import SentimentClassifier

API_KEY_HEADER = "X-API-Key"
INPUT_FIELDS = ("prices", "texts", "asof")  # where a model's DataError / ConfigError is reported


@runtime_checkable
class Forecaster(Protocol):
    """What the service needs of a forecasting pipeline (`finfusion.pipeline.Pipeline` is one).

    name        the model's label, e.g. "MLP".
    describe()  JSON-ready: model, task, training period, fingerprint, versions.
    predict(prices, texts, asof)  one row per ticker (`Pipeline.predict`'s columns); frame.attrs
                holds JSON-ready notes. prices: date, ticker, close (+ open, high, low, volume,
                adj_close, extra numeric columns); texts: timestamp (ISO 8601 with an offset),
                ticker, text; asof a date or None (the last price date). Raises DataError /
                ConfigError naming the bad input.
    """

    name: str

    def describe(self) -> dict[str, Any]: ...

    def predict(self, prices: pd.DataFrame, texts: pd.DataFrame | None, asof: date | None = None) -> pd.DataFrame: ...


class Service:
    """The loaded models of one app, their micro-batchers (classifiers) and the lock that runs
    the forecasters one at a time."""

    def __init__(self, forecasters: Mapping[str, Forecaster], classifiers: Mapping[str, SentimentClassifier],
                 limits: Limits, max_batch: int, batch_deadline_ms: float) -> None:
        self.forecasters = dict(forecasters)
        self.classifiers = dict(classifiers)
        self.limits = limits
        by_object: dict[int, MicroBatcher] = {}  # one batcher per classifier object, whatever its names
        self.batchers = {name: by_object.setdefault(id(clf), MicroBatcher(
                             _classify_with(clf), max_batch=max_batch, deadline_ms=batch_deadline_ms, name=name))
                         for name, clf in self.classifiers.items()}
        # Pipelines run one at a time: they may share a text encoder, whose tokenizer must not be
        # called from two threads at once. (A classifier runs in its batcher's thread only.)
        self.forecast_lock: asyncio.Lock | None = None

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        self.forecast_lock = asyncio.Lock()  # in the server's loop
        batchers = list({id(b): b for b in self.batchers.values()}.values())
        for batcher in batchers:
            await batcher.start()
        try:
            yield
        finally:
            for batcher in batchers:
                await batcher.stop()

    def pick(self, kind: str, requested: str | None) -> str:
        """The name of the model of `kind` ("forecaster" | "classifier") a request asks for: 404
        when none of that kind is loaded or `requested` is not loaded; 422 when it names none
        and several are loaded."""
        loaded = sorted(self.forecasters if kind == "forecaster" else self.classifiers)
        what = "forecasting pipeline" if kind == "forecaster" else "sentiment classifier"
        if not loaded:
            raise HTTPException(404, detail=f"no {what} is loaded in this server (see GET /v1/models)")
        if requested is None:
            if len(loaded) == 1:
                return loaded[0]
            raise HTTPException(422, detail=[_error("missing", ["body", "model"], None, f"several {what}s are "
                                                    f"loaded: name one in 'model' (one of {', '.join(loaded)})")])
        if requested not in loaded:
            raise HTTPException(404, detail=f"no {what} named {requested!r} is loaded; loaded: {', '.join(loaded)}")
        return requested

    def describe(self) -> dict[str, Any]:
        return {"forecasters": {name: f.describe() for name, f in self.forecasters.items()},
                "classifiers": {name: {**classifier_summary(clf), "batching": self.batchers[name].describe()}
                                for name, clf in self.classifiers.items()}}


def create_app(*, forecasters: Mapping[str, Forecaster] | None = None,
               classifiers: Mapping[str, SentimentClassifier] | None = None, limits: Limits | None = None,
               api_key: str | None = None, max_batch: int = 64, batch_deadline_ms: float = 5.0) -> FastAPI:
    """The FastAPI app serving `forecasters` and `classifiers` (loaded by the caller), by name.

    limits             request size limits (413; `finfusion.serve.limits.Limits()` by default)
    api_key            when given, /v1 requires the header X-API-Key with this value (401)
    max_batch          texts after which a micro-batch of sentiment requests closes
    batch_deadline_ms  longest wait (ms) of a sentiment request for others to join its batch

    The app's lifespan starts the micro-batchers: serve it with uvicorn (or another ASGI server),
    or in tests inside `with TestClient(app) as client:`.
    """
    forecasters, classifiers = _checked_models(forecasters or {}, classifiers or {})
    limits = limits if limits is not None else Limits()
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise ConfigError(f"api_key must be a non-empty string or None, got {api_key!r}")
    check_settings(max_batch, batch_deadline_ms)
    service = Service(forecasters, classifiers, limits, max_batch, batch_deadline_ms)
    app = FastAPI(title="finfusion", version=__version__, lifespan=service.lifespan,
                  max_body_size=limits.max_body_bytes,
                  description="Forecasts of saved finfusion pipelines and sentiment of texts. See docs/serve.md.")
    app.state.service = service
    app.add_api_route("/healthz", healthz, methods=["GET"], response_model=Health, tags=["service"])
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(_key_check(api_key))])
    v1.add_api_route("/models", models, methods=["GET"], response_model=Models, tags=["service"])
    v1.add_api_route("/sentiment", sentiment, methods=["POST"], response_model=SentimentResponse, tags=["models"])
    v1.add_api_route("/predict", predict, methods=["POST"], response_model=PredictResponse, tags=["models"])
    app.include_router(v1)
    return app


# -- endpoints ---------------------------------------------------------------------------------------


async def healthz(request: Request) -> dict[str, Any]:
    """The server is up: its version and the names of the loaded models."""
    service: Service = request.app.state.service
    return {"status": "ok", "finfusion_version": __version__, "forecasters": sorted(service.forecasters),
            "classifiers": sorted(service.classifiers)}


async def models(request: Request) -> dict[str, Any]:
    """What is loaded: forecasters (model, task, training period, fingerprint, versions) and
    sentiment classifiers (labels, max_length, path, versions, micro-batching counters)."""
    return request.app.state.service.describe()


async def sentiment(body: SentimentRequest, request: Request) -> dict[str, Any]:
    """Classify texts: per text label, label_id, confidence, probs and score (p_pos - p_neg)."""
    service: Service = request.app.state.service
    texts = body.items()
    check_texts(texts, service.limits, ("texts",) if body.texts is not None else ("text",),
                single=body.texts is None)
    name = service.pick("classifier", body.model)
    return {"model": name, "results": await service.batchers[name].submit(texts)}


async def predict(body: PredictRequest, request: Request) -> dict[str, Any]:
    """Forecast every ticker of `prices` at the close of `asof`: `finfusion predict --json`'s
    document {model, rows, notes}."""
    service: Service = request.app.state.service
    check_rows(len(body.prices), service.limits)
    check_texts([t.text for t in body.texts], service.limits, ("texts",), key="text")
    name = service.pick("forecaster", body.model)
    prices, texts = await asyncio.to_thread(body.frames)  # many rows: not on the event loop
    try:
        async with service.forecast_lock:
            rows = await asyncio.to_thread(service.forecasters[name].predict, prices, texts, body.asof)
    except (DataError, ConfigError) as err:
        field = _field_named(str(err))
        raise HTTPException(422, detail=[_error("invalid_data", ["body", field], None, str(err))]) from err
    return {"model": name, "rows": forecast_records(rows), "notes": dict(rows.attrs)}


# -- helpers ----------------------------------------------------------------------------------------


def classifier_summary(clf: SentimentClassifier) -> dict[str, Any]:
    """A classifier's manifest essentials, JSON-ready."""
    info = clf.info
    return {"name": clf.name, "labels": list(clf.labels), "max_length": clf.max_length,
            "path": None if clf.path is None else str(clf.path), "format": info.get("format"),
            "base_model": info.get("base_model"), "finfusion_version": info.get("finfusion_version"),
            "saved_at": info.get("saved_at"), "engine": clf.engine, "precision": clf.precision}


def _classify_with(clf: SentimentClassifier):
    """The batch function of a classifier: texts -> one dict per text (predict_batch's keys +
    score = p_pos - p_neg of the same probabilities)."""

    def classify(texts: list[str]) -> list[dict[str, Any]]:
        results = clf.predict_batch(texts)
        probs = np.array([[r["probs"][label] for label in clf.labels] for r in results], dtype=np.float64)
        for result, score in zip(results, clf.score_from_proba(probs)):
            result["score"] = float(score)
        return results

    return classify


def _key_check(api_key: str | None):
    """The /v1 dependency: 401 unless the X-API-Key header equals `api_key` (when one is set)."""
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                          description="required by /v1 when the server was started with an API key")
    expected = None if api_key is None else api_key.encode()

    async def check(given: str | None = Depends(header)) -> None:
        if expected is None:
            return
        if given is None or not hmac.compare_digest(given.encode(), expected):
            what = "missing" if given is None else "wrong"
            raise HTTPException(401, detail=f"{what} API key: send the header {API_KEY_HEADER}: <key>")

    return check


def _error(kind: str, loc: list[str | int], value: Any, message: str) -> dict[str, Any]:
    """One item of an error body, in FastAPI's validation shape."""
    return {"type": kind, "loc": loc, "msg": message, "input": value}


def _field_named(message: str) -> str:
    """The input field a model's error message names first (prices when it names none)."""
    found = [(m.start(), name) for name in INPUT_FIELDS if (m := re.search(rf"\b{name}\b", message))]
    return min(found)[1] if found else "prices"


def _checked_models(forecasters: Mapping[str, Any], classifiers: Mapping[str, Any]) -> tuple[dict, dict]:
    """The two mappings, checked: str names, forecasters with name / describe / predict,
    SentimentClassifier instances; ConfigError naming the entry otherwise."""
    for kind, models in (("forecasters", forecasters), ("classifiers", classifiers)):
        if not isinstance(models, Mapping):
            raise ConfigError(f"{kind} must be a mapping of name -> model, got {type(models).__name__}")
        for name in models:
            if not isinstance(name, str) or not name or name != name.strip() or len(name) > 200:
                raise ConfigError(f"{kind}: model names must be non-empty strings without outer spaces, "
                                  f"got {name!r}")
    for name, model in forecasters.items():
        if not isinstance(model, Forecaster):
            raise ConfigError(f"forecasters[{name!r}]: {type(model).__name__} is not a forecaster (expected "
                              "name, describe() and predict(prices, texts, asof), as finfusion.pipeline.Pipeline)")
    for name, model in classifiers.items():
        if not isinstance(model, SentimentClassifier):
            raise ConfigError(f"classifiers[{name!r}]: expected a SentimentClassifier, got {type(model).__name__}")
    return dict(forecasters), dict(classifiers)
