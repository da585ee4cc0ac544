"""A real pipeline served over HTTP by the real `finfusion serve`: /v1/predict gives exactly the
rows of `finfusion predict --json` for the same prices and texts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from finfusion.cli import main
from finfusion.data.readers import write_prices, write_texts
from finfusion.data.simulate import SimulatorConfig, simulate_market
from finfusion.pipeline import fit

sys.path.insert(0, str(Path(__file__).parent))
from server_support import start_server, stop_server  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, prices, texts, prices file, texts file, pipeline dir) of an MLP pipeline."""
    root = tmp_path_factory.mktemp("served")
    sim = simulate_market(SimulatorConfig(n_days=90, n_tickers=3, n_features=2, seed=5))
    prices_file, texts_file = write_prices(sim.prices, root / "p.csv"), write_texts(sim.texts, root / "t.jsonl")
    config = {"name": "served", "progress": False, "features": {"groups": ["returns", "extra"]},
              "data": {"source": "files", "prices": str(prices_file), "texts": str(texts_file)},
              "models": [{"name": "mlp", "label": "MLP", "params": {"hidden": 8, "epochs": 3}}]}
    (root / "c.yaml").write_text(yaml.safe_dump(config))
    fit(root / "c.yaml", "MLP", root / "pipe")
    server = start_server([str(root / "pipe")], root / "server.log", real=True)
    try:
        yield server, sim.prices, sim.texts, prices_file, texts_file, root / "pipe"
    finally:
        stop_server(server)


def test_http_predict_equals_the_cli(served, capsys):
    server, prices, texts, prices_file, texts_file, pipe = served
    body = {"prices": json.loads(prices.assign(date=prices["date"].dt.strftime("%Y-%m-%d")).to_json(orient="records")),
            "texts": [{"timestamp": t.isoformat(), "ticker": k, "text": x} for t, k, x in
                      zip(texts["timestamp"], texts["ticker"], texts["text"])]}
    with server.client(key=None) as client:
        answer = client.post("/v1/predict", json=body)
        models = client.get("/v1/models").json()
    assert answer.status_code == 200, answer.text
    assert main(["predict", str(pipe), "--prices", str(prices_file), "--texts", str(texts_file), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert answer.json() == expected  # model, rows and notes, to the last digit
    assert models["forecasters"]["MLP"]["training"]["fingerprint"]


def test_http_predict_names_the_bad_input(served):
    server, prices, *_ = served
    rows = json.loads(prices.assign(date=prices["date"].dt.strftime("%Y-%m-%d")).to_json(orient="records"))
    with server.client(key=None) as client:
        late = client.post("/v1/predict", json={"prices": rows, "asof": "2099-01-01"})
        short = client.post("/v1/predict", json={"prices": rows[:3]})  # three days of one ticker: no returns yet
    assert late.status_code == 422 and "before asof 2099-01-01" in late.text
    assert short.status_code == 422 and "no features on" in short.text
