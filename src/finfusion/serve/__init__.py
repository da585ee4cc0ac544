"""`finfusion serve`: forecasting pipelines and sentiment classifiers over HTTP (FastAPI + uvicorn;
the optional extra `finfusion[serve]`). See docs/serve.md.

    from finfusion.serve import Limits, create_app
    app = create_app(classifiers={"pb": SentimentClassifier.load("runs/pb/model")}, limits=Limits(max_texts=256))

Modules: `app` (`create_app`, the endpoints, the `Forecaster` protocol), `schemas` (the request and
response bodies), `limits` (`Limits`, the 413 checks), `batching` (`MicroBatcher`).
"""

from __future__ import annotations

from finfusion.serve.app import Forecaster, create_app
from finfusion.serve.batching import MicroBatcher
from finfusion.serve.limits import Limits

__all__ = ["Forecaster", "Limits", "MicroBatcher", "create_app"]
