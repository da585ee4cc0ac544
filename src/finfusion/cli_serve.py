"""`finfusion serve`: load saved pipelines and sentiment classifiers, then serve them over HTTP
(finfusion.serve; docs/serve.md).

    finfusion serve pipelines/mlp runs/pb/model --port 8000
    finfusion serve fast=pipelines/mlp slow=pipelines/fusion --api-key "$KEY"

Each MODEL is a directory, optionally NAME=DIR (the name requests use; default: the pipeline's
model label, or the classifier's name): a sentiment classifier (finfusion_sentiment.json, or
model/finfusion_sentiment.json in a run directory) or a forecasting pipeline (pipeline.json).
Anything else is a usage error (exit 2) naming the path. Every model is loaded before the server
starts; no request can make it load another.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

from finfusion.cli_options import add_inference_options
from finfusion.errors import ConfigError

API_KEY_ENV = "FINFUSION_API_KEY"
PIPELINE_MANIFEST = "pipeline.json"
SERVE_EXTRA = "pip install 'finfusion[serve]'"


def add_serve_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `serve` command."""
    p = sub.add_parser("serve", help="serve saved pipelines and sentiment classifiers over HTTP (FastAPI)",
                       description="Load each MODEL (a pipeline directory written by `finfusion fit`, or a "
                       "sentiment model directory written by `finfusion sentiment train`) and serve them: "
                       "POST /v1/predict, POST /v1/sentiment, GET /v1/models, GET /healthz, docs at /docs. "
                       "See docs/serve.md.")
    p.add_argument("models", nargs="+", metavar="[NAME=]DIR", help="a pipeline or sentiment model directory; "
                   "NAME= sets the name requests use (default: the pipeline's model label or the classifier's name)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only; "
                   "0.0.0.0 exposes the service to the network)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key", default=None, help=f"require the header X-API-Key with this value on /v1 "
                   f"(default: the environment variable {API_KEY_ENV}, if set)")
    p.add_argument("--max-texts", type=int, default=None, metavar="N", help="texts per request (default 1024)")
    p.add_argument("--max-chars", type=int, default=None, metavar="N", help="characters per text (default 10000)")
    p.add_argument("--max-rows", type=int, default=None, metavar="N", help="price rows per request (default 100000)")
    p.add_argument("--max-body-bytes", type=int, default=None, metavar="N",
                   help="request body size in bytes (default 16 MiB)")
    p.add_argument("--max-batch", type=int, default=64, metavar="N",
                   help="texts after which a micro-batch of sentiment requests runs (default 64)")
    p.add_argument("--batch-deadline-ms", type=float, default=5.0, metavar="MS",
                   help="longest wait of a sentiment request for others to join its batch (default 5)")
    add_inference_options(p, what="the sentiment classifiers (pipelines run as they were fit: their text models' "
                          "encoder_engine)")
    p.add_argument("--allow-version-mismatch", action="store_true",
                   help="load pipelines fit with other package versions (their predictions may differ)")
    p.set_defaults(func=_cmd_serve)
    return p


def load_pipeline(path: Path, *, allow_version_mismatch: bool = False):
    """`finfusion.pipeline.load_pipeline`, imported when a pipeline is served: building the command
    line's parser imports neither torch nor the models."""
    from finfusion.pipeline import load_pipeline as load

    return load(path, allow_version_mismatch=allow_version_mismatch)


def _load_classifier(path: Path, engine: str, precision: str):
    from finfusion.text.sentiment.classifier import SentimentClassifier  # torch loads when one is served

    return SentimentClassifier.load(path, device="cpu" if engine == "onnx" else None, engine=engine,
                                    precision=precision).prepare()


def load_models(specs: list[str], *, allow_version_mismatch: bool = False, engine: str = "torch",
                precision: str = "fp32") -> tuple[dict[str, Any], dict[str, Any]]:
    """(forecasters, classifiers) by name from `[NAME=]DIR` specs, the classifiers on `engine` at
    `precision`; ConfigError naming the path when it is neither kind, or when two models would
    have the same name."""
    forecasters: dict[str, Any] = {}
    classifiers: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for spec in specs:
        name, path = _split_spec(spec)
        kind = model_kind(path)
        if kind == "pipeline":
            model = load_pipeline(path, allow_version_mismatch=allow_version_mismatch)
            name, target = name or model.name, forecasters
        else:
            model = _load_classifier(path, engine, precision)
            name, target = name or model.name, classifiers
        if name in origin:
            raise ConfigError(f"two models are named {name!r} ({origin[name]} and {path}): give one another name "
                              f"with NAME={path}")
        origin[name] = str(path)
        target[name] = model
    return forecasters, classifiers


def model_kind(path: Path) -> str:
    """"pipeline" or "sentiment" by the manifest in `path`; ConfigError naming the path and
    what was expected otherwise."""
    from finfusion.text.sentiment.classifier import MANIFEST_NAME  # (see load_pipeline)

    if (path / PIPELINE_MANIFEST).is_file():
        return "pipeline"
    if (path / MANIFEST_NAME).is_file() or (path / "model" / MANIFEST_NAME).is_file():
        return "sentiment"
    found = "does not exist" if not path.exists() else "is not a directory" if not path.is_dir() else \
        f"has neither {PIPELINE_MANIFEST} nor {MANIFEST_NAME}"
    raise ConfigError(f"serve: {path} {found}; expected a forecasting pipeline directory ({PIPELINE_MANIFEST}, "
                      f"written by `finfusion fit`) or a sentiment model directory ({MANIFEST_NAME}, written by "
                      "`finfusion sentiment train`, or its run directory)")


def _split_spec(spec: str) -> tuple[str | None, Path]:
    """"NAME=DIR" -> (NAME, DIR); "DIR" -> (None, DIR). A DIR that exists as given wins (a
    directory whose name contains '=')."""
    if "=" in spec and not Path(spec).exists():
        name, _, path = spec.partition("=")
        if not name.strip() or name != name.strip() or not path:
            raise ConfigError(f"serve: {spec!r}: expected DIR or NAME=DIR with a non-empty NAME without spaces "
                              "around it")
        return name, Path(path)
    return None, Path(spec)


def _cmd_serve(args: argparse.Namespace) -> int:
    try:  # the optional extra: only this command needs it
        from finfusion.serve import Limits, create_app
        from finfusion.serve.runner import run_server, server_stack
    except ImportError as err:
        raise ConfigError(f"finfusion serve needs FastAPI and uvicorn ({err}): {SERVE_EXTRA}") from err

    given = {key: getattr(args, key) for key in ("max_texts", "max_chars", "max_rows", "max_body_bytes")}
    limits = Limits(**{key: value for key, value in given.items() if value is not None})
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    forecasters, classifiers = load_models(args.models, allow_version_mismatch=args.allow_version_mismatch,
                                           engine=args.engine, precision=args.precision)
    if not classifiers and (args.engine, args.precision) != ("torch", "fp32"):
        raise ConfigError(f"--engine {args.engine} --precision {args.precision}: applies to sentiment classifiers, and "
                          "none is served (a pipeline's text models run on the encoder_engine they were fit with)")
    app = create_app(forecasters=forecasters, classifiers=classifiers, limits=limits, api_key=api_key,
                     max_batch=args.max_batch, batch_deadline_ms=args.batch_deadline_ms)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"finfusion serve: http://{host}:{args.port}  (docs: http://{host}:{args.port}/docs)")
    for name, model in forecasters.items():
        print(f"  forecaster {name}: {getattr(model, 'directory', '')}")
    for name, model in classifiers.items():
        print(f"  sentiment classifier {name}: {model.path} (engine {model.engine}, {model.precision})")
    print(f"  API key: {'required (header X-API-Key)' if api_key else 'none'}; limits: {limits}")
    stack = server_stack()
    print(f"  server: {stack}", flush=True)
    if stack.missing:
        print(f"warning: {' and '.join(stack.missing)} not installed: the server runs, with more CPU per request "
              f"({SERVE_EXTRA})", file=sys.stderr, flush=True)
    if not api_key and not _is_loopback(args.host):
        print(f"warning: serving on {args.host} without an API key: anyone who can reach this port can use the "
              f"models (set --api-key or {API_KEY_ENV})", file=sys.stderr, flush=True)
    run_server(app, args.host, args.port, stack=stack)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
