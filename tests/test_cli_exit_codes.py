"""Exit codes of `finfusion` (issue 17, item 5): 2 usage / config, 3 data, 4 protocol; and the
ProtocolError class that the splitters raise and the runner's preflight keeps."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from finfusion.cli import main
from finfusion.errors import ConfigError, ProtocolError
from finfusion.experiments import runner
from finfusion.experiments.config import parse_config
from finfusion.protocols.splitters import ChronologicalSplit, RollingWindow, WalkForward

DATES = pd.bdate_range("2020-01-01", periods=30)


@pytest.mark.parametrize("splitter, message", [
    (RollingWindow(window=40), "needs more than 40 dates, got 30"),
    (ChronologicalSplit(test_start="2019-01-01"), "leaves 0 train and 30 test rows over 30 dates"),
    (WalkForward(train_size=5, test_size=10, n_folds=4, unit="days"), "30 dates hold fewer than 4 test blocks"),
    (WalkForward(train_size=20, test_size=5, n_folds=3, unit="days"),
     r"fold 0 needs 20 days of training data before 2020-01-22; the first sample is on 2020-01-01"),
])
def test_splitters_raise_protocol_error_when_the_samples_are_too_short(splitter, message):
    with pytest.raises(ProtocolError, match=message):
        list(splitter.split(DATES))
    assert issubclass(ProtocolError, ConfigError)  # existing `pytest.raises(ConfigError)` still hold


def test_bad_settings_stay_plain_config_errors():
    with pytest.raises(ConfigError) as info:
        RollingWindow(window=0)
    assert not isinstance(info.value, ProtocolError)


SIM = {"progress": False, "data": {"source": "simulate", "simulate": {"n_days": 60, "n_features": 2, "seed": 1}},
       "models": [{"name": "xgboost", "params": {"n_estimators": 5}}],
       "protocol": {"kind": "rolling", "window": 200}}


def test_preflight_keeps_the_protocol_error_class_and_adds_the_data_story(tmp_path):
    with pytest.raises(ProtocolError, match=r"(?s)needs more than 200 dates.*the samples hold"):
        runner.run(parse_config(SIM), run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def _price_file(path, close="1"):
    path.write_text(f"date,ticker,open,high,low,close,volume\n2020-01-02,A,1,1,1,{close},5\n")
    return path


def test_exit_codes(tmp_path, capsys):
    (tmp_path / "short.yaml").write_text(json.dumps(SIM))
    assert main(["run", str(tmp_path / "short.yaml"), "--out", str(tmp_path / "r")]) == 4
    assert "needs more than 200 dates" in capsys.readouterr().err

    bad = _price_file(tmp_path / "p.csv", close="-1")
    assert main(["data", "check", str(bad)]) == 3
    assert "p.csv" in capsys.readouterr().err

    (tmp_path / "data.yaml").write_text(json.dumps({**SIM, "data": {"prices": str(bad)}}))
    assert main(["run", str(tmp_path / "data.yaml"), "--out", str(tmp_path / "r2")]) == 3
    capsys.readouterr()

    (tmp_path / "cfg.yaml").write_text("models: [{name: mlp}]\nprotocol: {kind: rolling, windw: 3}\n")
    assert main(["run", str(tmp_path / "cfg.yaml")]) == 2
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2  # FileNotFoundError: a usage error
    with pytest.raises(SystemExit) as info:
        main(["run", "--no-such-option"])
    assert info.value.code == 2


def test_exit_codes_are_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "2 usage or config error" in text and "3 data error" in text and "4 protocol error" in text
