"""`finfusion data check` on files and on a run config's data settings, as text and as JSON
(issue 17, items 6 and 7)."""

from __future__ import annotations

import json

import pytest

from finfusion.cli import main
from finfusion.data.check import check_data, format_check


def _files(tmp_path):
    prices = tmp_path / "prices.csv"
    rows = ["date,ticker,open,high,low,close,volume"]
    rows += [f"{d},{t},1,1,1,1,10" for t in ("A", "B") for d in ("2014-01-02", "2014-01-03", "2014-01-06")]
    prices.write_text("\n".join(rows) + "\n")
    texts = tmp_path / "texts.jsonl"
    items = [("2014-01-02T15:00:00-05:00", "A"), ("2014-01-02T17:00:00-05:00", "A"),  # 17:00 > 16:00: next day
             ("2013-12-31T12:00:00-05:00", "B"), ("2014-01-03T10:00:00Z", "Z")]
    texts.write_text("".join(json.dumps({"timestamp": s, "ticker": t, "text": "news"}) + "\n" for s, t in items))
    return prices, texts


def _config(tmp_path, prices, texts, **market):
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps({
        "data": {"prices": prices.name, "texts": texts.name},  # relative to the config file
        "market": {"close_time": "18:00", "timezone": "America/New_York", **market},
        "text": {"lookback_days": 3},
        "models": [{"name": "xgboost"}],
    }))
    return path


def test_config_form_uses_the_run_settings_and_prints_the_file_form_summary(tmp_path, capsys):
    prices, texts = _files(tmp_path)
    config = _config(tmp_path, prices, texts)
    assert main(["data", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    expected = check_data(prices, texts, close_time="18:00", text_lookback_days=3)
    assert out == format_check(expected) + "\n"
    # 18:00 close keeps the 17:00 text on 2014-01-02; a 3-session look-back keeps the 31 Dec text
    assert expected["texts_aligned"] == 3 and "look-back 3 sessions" in out and "close 18:00" in out

    assert main(["data", "check", "--config", str(config), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(json.dumps(expected))
    assert doc["prices_path"] == str(prices) and doc["texts_path"] == str(texts)


def test_config_form_takes_overrides(tmp_path, capsys):
    prices, texts = _files(tmp_path)
    config = _config(tmp_path, prices, texts)
    assert main(["data", "check", "--config", str(config), "--set", 'market.close_time="16:00"',
                 "--set", "text.lookback_days=1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["texts_aligned"] == 2 and doc["close_time"] == "16:00" and doc["text_lookback_days"] == 1


def test_file_form_json(tmp_path, capsys):
    prices, texts = _files(tmp_path)
    assert main(["data", "check", str(prices), str(texts), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tickers"] == 2 and doc["sessions"] == 3 and doc["texts_read"] == 4 and doc["texts_aligned"] == 2
    assert {d["reason"] for d in doc["dropped"]} >= {"ticker not among the given tickers"}


@pytest.mark.parametrize("argv, message", [
    ([], "give PRICES [TEXTS] or --config CONFIG"),
    (["P", "--config", "C"], "give PRICES [TEXTS] or --config CONFIG, not both"),
    (["--config", "C", "--close-time", "17:00"], "--close-time comes from the config"),
    (["--config", "C", "--drop-invalid"], "--drop-invalid comes from the config"),
    (["P", "--set", "x=1"], "--set applies to --config"),
])
def test_exactly_one_of_prices_or_config(argv, message, capsys):
    assert main(["data", "check", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "usage: finfusion data check" in err


def test_config_form_names_a_missing_config(tmp_path, capsys):
    assert main(["data", "check", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml is neither a file nor a recipe" in capsys.readouterr().err
