"""`finfusion fit` and `finfusion predict` as a user runs them: from a run directory to forecasts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from finfusion.cli import main
from finfusion.pipeline import forecast_records, load_pipeline

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_support import WINDOW, run_config  # noqa: E402


def test_run_then_fit_then_predict(tmp_path, files, market, capsys):
    prices_file, texts_file = files("mine")
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump(run_config(prices_file, texts_file)))
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["fit", str(tmp_path / "run"), "--model", "MLP", "--out", str(tmp_path / "pipe"),
                 "--window", str(WINDOW)]) == 0
    assert "fitted MLP on 120 rows" in capsys.readouterr().out  # 40 dates x 3 tickers
    pipeline = load_pipeline(tmp_path / "pipe")
    backtest = pipeline.manifest["backtest"]
    assert backtest and backtest[0]["model"] == "MLP" and "mse" in backtest[0]  # the run's metrics, recorded

    out = tmp_path / "forecast.csv"
    assert main(["predict", str(tmp_path / "pipe"), "--prices", str(prices_file), "--texts", str(texts_file),
                 "--out", str(out)]) == 0
    written = pd.read_csv(out)
    prices, texts = market
    expected = pipeline.predict(prices, texts)
    assert list(written["ticker"]) == list(expected["ticker"])
    assert written["prediction"].tolist() == expected["prediction"].tolist()
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "pipe"), "--prices", str(prices_file), "--texts", str(texts_file),
                 "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["rows"] == forecast_records(expected)
    assert document["rows"][0]["asof"] == str(prices["date"].max().date())
    assert document["notes"]["texts_after_close"] == expected.attrs["texts_after_close"]


def test_cli_errors_exit_with_their_codes(tmp_path, files, capsys):
    prices_file, texts_file = files("mine")
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump(run_config(prices_file, texts_file)))
    assert main(["fit", str(config), "--model", "Nope", "--out", str(tmp_path / "p")]) == 2
    assert "no model labelled 'Nope'" in capsys.readouterr().err
    assert main(["fit", str(config), "--model", "MLP", "--out", str(tmp_path / "p")]) == 0
    assert main(["predict", str(tmp_path / "p"), "--prices", str(prices_file), "--asof", "2099-01-01"]) == 3
    assert "before asof 2099-01-01" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), "--prices", str(prices_file)]) == 2
    assert "is not a finfusion pipeline" in capsys.readouterr().err
