"""`finfusion serve`'s command line: what it loads from which directory, its errors (exit 2 through
finfusion.cli), names, the API key from the environment. uvicorn.run is replaced: no server here
(tests/serve/test_server.py runs the real one)."""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

import finfusion.cli_serve as cli_serve
from finfusion.cli import _exit_code
from finfusion.errors import ConfigError
from finfusion.serve.runner import ServerStack

sys.path.insert(0, str(Path(__file__).parent))
from fakes import FakeForecaster  # noqa: E402


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="finfusion")
    cli_serve.add_serve_parser(parser.add_subparsers())
    return parser.parse_args(["serve", *argv])


@pytest.fixture
def fake_pipelines(monkeypatch):
    monkeypatch.setattr(cli_serve, "load_pipeline", FakeForecaster.load)


def test_defaults_bind_localhost():
    args = parse(["some/dir"])
    assert (args.host, args.port, args.api_key, args.max_batch, args.batch_deadline_ms) == (
        "127.0.0.1", 8000, None, 64, 5.0)


def test_a_directory_of_neither_kind_is_a_usage_error_naming_it(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    expected = {"missing": "does not exist", "empty": "has neither pipeline.json nor finfusion_sentiment.json",
                "file.txt": "is not a directory"}
    for name, found in expected.items():
        with pytest.raises(ConfigError) as err:
            cli_serve.load_models([str(tmp_path / name)])
        assert f"{tmp_path / name} {found}; expected a forecasting pipeline directory" in str(err.value)
        assert _exit_code(err.value) == 2  # what `finfusion serve` exits with


def test_loads_each_kind_by_its_manifest_with_names(classifier_dir, fake_pipeline_dir, fake_pipelines, tmp_path):
    run_dir = tmp_path / "run"  # a sentiment run directory: the model in model/
    shutil.copytree(classifier_dir, run_dir / "model")
    forecasters, classifiers = cli_serve.load_models(
        [str(fake_pipeline_dir), str(classifier_dir), f"pb={run_dir}", f"second={fake_pipeline_dir}"])
    assert sorted(forecasters) == ["FakeMLP", "second"] and sorted(classifiers) == ["pb", "tiny"]
    assert classifiers["pb"].path == run_dir / "model"


def test_two_models_of_one_name_are_refused(classifier_dir):
    with pytest.raises(ConfigError, match=f"two models are named 'tiny' .*NAME={classifier_dir}"):
        cli_serve.load_models([str(classifier_dir), str(classifier_dir)])
    with pytest.raises(ConfigError, match="expected DIR or NAME=DIR"):
        cli_serve.load_models([f"={classifier_dir}"])


def test_serve_runs_uvicorn_with_the_api_key_of_the_environment(classifier_dir, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    monkeypatch.setenv(cli_serve.API_KEY_ENV, "from-env")
    args = parse([str(classifier_dir), "--port", "8123", "--max-texts", "5"])
    assert args.func(args) == 0
    (app, kwargs), = calls
    # the extra's fast event loop and HTTP parser, chosen explicitly and said
    assert kwargs == {"host": "127.0.0.1", "port": 8123, "log_level": "warning", "loop": "uvloop",
                      "http": "httptools"}
    captured = capsys.readouterr()
    assert "http://127.0.0.1:8123" in captured.out and f"sentiment classifier tiny: {classifier_dir}" in captured.out
    assert "server: uvicorn " in captured.out and "event loop uvloop, HTTP parser httptools" in captured.out
    assert "not installed" not in captured.err
    with TestClient(app) as client:
        assert client.post("/v1/sentiment", json={"text": "profit"}).status_code == 401
        headers = {"X-API-Key": "from-env"}
        assert client.post("/v1/sentiment", json={"text": "profit"}, headers=headers).status_code == 200
        assert client.post("/v1/sentiment", json={"texts": ["a"] * 6}, headers=headers).status_code == 413


def test_serve_runs_classifiers_on_the_engine_asked_for(classifier_dir, classifier, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")  # the [onnx] extra (in the test extra)
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(app))
    monkeypatch.delenv(cli_serve.API_KEY_ENV, raising=False)
    args = parse([str(classifier_dir), "--engine", "onnx"])
    assert args.func(args) == 0
    assert f"sentiment classifier tiny: {classifier_dir} (engine onnx, fp32)" in capsys.readouterr().out
    texts = ["profit rises", "loss widens after a weak quarter", ""]
    with TestClient(calls[0]) as client:
        described = client.get("/v1/models").json()["classifiers"]["tiny"]
        assert (described["engine"], described["precision"]) == ("onnx", "fp32")
        got = client.post("/v1/sentiment", json={"texts": texts}).json()["results"]
    expected = classifier.predict_batch(texts)  # torch, in this process
    for g, e in zip(got, expected):
        assert g["label"] == e["label"]
        assert max(abs(g["probs"][k] - e["probs"][k]) for k in e["probs"]) < 1e-5


def test_an_engine_without_a_classifier_to_run_is_refused(fake_pipeline_dir, fake_pipelines, monkeypatch):
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    args = parse([str(fake_pipeline_dir), "--precision", "int8", "--engine", "onnx"])
    with pytest.raises(ConfigError, match="applies to sentiment classifiers, and none is served"):
        args.func(args)
    with pytest.raises(SystemExit):
        parse([str(fake_pipeline_dir), "--engine", "tensorrt"])


def test_serving_beyond_this_machine_without_a_key_warns(classifier_dir, monkeypatch, capsys):
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    monkeypatch.delenv(cli_serve.API_KEY_ENV, raising=False)
    args = parse([str(classifier_dir), "--host", "0.0.0.0"])
    args.func(args)
    assert "warning: serving on 0.0.0.0 without an API key" in capsys.readouterr().err


def test_without_uvloop_and_httptools_it_serves_on_asyncio_and_h11_and_says_so(classifier_dir, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("uvloop", "httptools") else real_find_spec(name, *a))
    args = parse([str(classifier_dir)])
    args.func(args)
    assert (calls[0]["loop"], calls[0]["http"]) == ("asyncio", "h11")
    captured = capsys.readouterr()
    assert "event loop asyncio, HTTP parser h11" in captured.out
    assert "warning: uvloop and httptools not installed: the server runs, with more CPU per request (pip install " \
           "'finfusion[serve]')" in captured.err


def test_server_stack_names_only_known_parts():
    assert ServerStack("uvloop", "httptools").missing == []
    assert ServerStack("asyncio", "httptools").missing == ([] if sys.platform == "win32" else ["uvloop"])
    with pytest.raises(ValueError, match="unknown server stack 'trio'"):
        ServerStack("trio", "h11")
