"""Bad inputs that only the data reveal fail before the run directory exists, saying why
(issue 16: items 3 and 12)."""

import json

import pytest

from finfusion.data.simulate import SimulatorConfig, simulate_market, write_market
from finfusion.errors import ConfigError
from finfusion.experiments import runner
from finfusion.experiments.config import parse_config


def _files(tmp_path, lower_case_texts=False):
    write_market(simulate_market(SimulatorConfig(n_days=80, n_tickers=2, n_features=2, seed=3)), tmp_path / "data")
    texts = tmp_path / "data" / "texts.jsonl"
    if lower_case_texts:
        rows = [json.loads(line) for line in texts.read_text().splitlines()]
        texts.write_text("".join(json.dumps({**r, "ticker": r["ticker"].lower()}) + "\n" for r in rows))
    return {"source": "files", "prices": str(tmp_path / "data" / "prices.csv"), "texts": str(texts)}


def test_a_text_model_whose_samples_have_no_text_is_refused_saying_why(tmp_path, tiny_bert):
    raw = {"progress": False, "data": _files(tmp_path, lower_case_texts=True), "features": {"groups": ["returns"]},
           "models": [{"name": "text_only", "params": {"model": str(tiny_bert), "epochs": 1}}],
           "protocol": {"kind": "rolling", "window": 30, "refit_every": 10}}
    with pytest.raises(ConfigError, match=r"(?s)'text_only' \(text_only\) reads texts, but none of the .* samples "
                                          r"has any text; 160 texts were read; removed: 160 .*only in case"):
        runner.run(parse_config(raw), run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


SIM = {"progress": False, "data": {"source": "simulate", "simulate": {"n_days": 120, "n_features": 2, "seed": 1}},
       "models": [{"name": "xgboost", "params": {"n_estimators": 5}}],
       "protocol": {"kind": "rolling", "window": 40, "refit_every": 10}}


@pytest.mark.parametrize("change, named", [
    ({"target": {"horizon": 500}}, r"make_targets: 120 \(no price 500 trading row\(s\) ahead"),
    ({"features": {"groups": ["volatility"]}}, r"garch_vol needs min_obs=250 daily returns"),
    ({"features": {"features": ["ma_100000"]}}, r"ma_100000 .*a smaller n in ma_<n> shortens it"),
])
def test_a_protocol_without_enough_data_names_what_consumed_it(tmp_path, change, named):
    with pytest.raises(ConfigError, match=rf"(?s)needs more than .*the samples hold 0 rows .*{named}"):
        runner.run(parse_config({**SIM, **change}), run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("features, message", [
    ({"groups": ["nonexistent"]}, r"unknown group\(s\) \['nonexistent'\]"),
    ({"features": ["foo_bar"]}, "unknown feature 'foo_bar'"),
    ({"features": ["rsi_0"]}, "feature 'rsi_0': window must be >= 1"),
])
def test_unknown_features_are_config_errors_before_the_run(tmp_path, features, message):
    with pytest.raises(ConfigError, match=message):
        runner.run(parse_config({**SIM, "features": features}), run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()
