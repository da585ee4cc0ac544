"""A researcher's own data end to end (issue 17): close-only wide prices and headlines with mixed UTC
offsets, weekend and after-close times, mapped column names — through the CLI and through the
notebook API (`import finfusion as ff`), with identical predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import finfusion as ff
from finfusion.cli import main
from finfusion.errors import ConfigError, DataError

COLUMNS = {"date": "Date", "timestamp": "published_at", "ticker": "Symbol", "text": "headline"}
CONFIG = {
    "name": "mine",
    "features": {"groups": ["returns", "momentum", "volume", "sentiment"]},
    "models": [{"name": "mlp", "params": {"hidden": 8, "epochs": 2}}],
    "protocol": {"kind": "walk_forward", "train_size": 80, "test_size": 20, "n_folds": 3, "unit": "days"},
    "output": {"plots": False},
}


def _own_tables(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide close-only prices (Date, AAA, BBB, CCC; CCC listed 30 sessions late; 2 decimals) and
    headlines (published_at with -05:00 in winter and -04:00 in summer, some on weekends, some
    after the close; Symbol; headline)."""
    days = pd.bdate_range("2021-01-04", periods=190)
    wide = pd.DataFrame({"Date": days.strftime("%Y-%m-%d")})
    for i, name in enumerate(("AAA", "BBB", "CCC")):
        wide[name] = np.round((50 + 20 * i) * np.exp(np.cumsum(rng.normal(0, 0.015, len(days)))), 2)
    wide.loc[:29, "CCC"] = np.nan
    stamps, rows = pd.date_range("2021-01-02", "2021-09-30", freq="7h", tz="America/New_York"), []
    words = ("beats estimates", "misses estimates", "upgraded", "downgraded", "announces buyback", "faces lawsuit")
    for j, stamp in enumerate(stamps):
        symbol = ("AAA", "BBB", "CCC")[j % 3]
        rows.append({"published_at": stamp.isoformat(), "Symbol": symbol, "headline": f"{symbol} {words[j % 6]}"})
    return wide, pd.DataFrame(rows)


@pytest.fixture()
def own(tmp_path):
    wide, headlines = _own_tables(np.random.default_rng(7))
    wide.to_csv(tmp_path / "prices.csv", index=False)
    headlines.to_csv(tmp_path / "headlines.csv", index=False)
    return tmp_path


def test_the_tables_are_as_realistic_as_claimed(own):
    headlines = pd.read_csv(own / "headlines.csv")
    offsets = headlines["published_at"].str[-6:]
    assert set(offsets) == {"-05:00", "-04:00"}
    stamps = pd.to_datetime(headlines["published_at"], utc=True).dt.tz_convert("America/New_York")
    assert (stamps.dt.day_of_week >= 5).sum() > 50 and (stamps.dt.hour >= 16).sum() > 100
    assert list(pd.read_csv(own / "prices.csv").columns) == ["Date", "AAA", "BBB", "CCC"]


def test_cli_and_notebook_give_identical_predictions(own, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(own)
    config = {**CONFIG, "data": {"prices": "prices.csv", "texts": "headlines.csv", "columns": COLUMNS}}
    (own / "mine.yaml").write_text(json.dumps(config))  # JSON is YAML
    assert main(["run", "mine.yaml", "--out", "cli", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == "run directory: cli"

    data = ff.load_frames(pd.read_csv("prices.csv"), pd.read_csv("headlines.csv"), columns=COLUMNS)
    torch.set_num_threads(2)
    run = ff.run(CONFIG, data=data, out="notebook", progress=False)
    assert torch.get_num_threads() == 2  # the notebook keeps its setting; the run used executor.torch_threads
    assert json.loads((run.dir / "env.json").read_text())["torch_threads"] == 1

    cli = ff.open_run("cli")
    drop = ["fit_seconds"]
    pd.testing.assert_frame_equal(cli.predictions.drop(columns=drop), run.predictions.drop(columns=drop))
    assert len(run.predictions) == 3 * 20 * 3  # 3 folds x 20 days x 3 tickers
    pd.testing.assert_frame_equal(cli.summary, run.summary)
    assert run.report_path == run.dir / "report.html" and run.report_path.is_file()
    for view in (cli, run):  # both runs say how the tables were read and what was skipped
        samples, reads = view.data["samples"], view.data["source"]["read"]
        assert any("wide table: 3 tickers, cells = close" in r for r in reads)
        assert {s["feature"] for s in samples["skipped_features"]} == {"volume_log", "volume_change"}
        assert any(d["reason"].endswith("wide table cells without a price (not rows)") and d["count"] == 30
                   for d in view.data["cleaning"])
        assert any(name.startswith("sent_") for name in samples["features"])


def test_notebook_run_refuses_a_config_with_its_own_data_or_market(own, monkeypatch):
    monkeypatch.chdir(own)
    data = ff.load_frames(pd.read_csv("prices.csv"), pd.read_csv("headlines.csv"), columns=COLUMNS)
    with pytest.raises(ConfigError, match=r"names its own data \(data.prices, data.source\)"):
        ff.run({**CONFIG, "data": {"source": "files", "prices": "prices.csv"}}, data=data)
    with pytest.raises(ConfigError, match=r"market.close_time: '15:30' \(frames: '16:00'\)"):
        ff.run({**CONFIG, "market": {"close_time": "15:30"}}, data=data)
    with pytest.raises(TypeError, match="finfusion.load_frames"):
        ff.run(CONFIG, data=pd.read_csv("prices.csv"))


def test_overrides_use_double_underscores_for_dots(own, monkeypatch):
    monkeypatch.chdir(own)
    from finfusion.experiments.notebook import load_run

    config = load_run(CONFIG, {"protocol__n_folds": 2, "models__0__params__epochs": 1, "seed": 3})
    assert (config.protocol.n_folds, config.models[0].params["epochs"], config.seed) == (2, 1, 3)


def test_open_run_refuses_what_is_not_a_finished_run(tmp_path):
    with pytest.raises(ConfigError, match="is not a run directory"):
        ff.open_run(tmp_path)
    (tmp_path / "config.yaml").write_text("models: [{name: mlp}]\n")
    with pytest.raises(ConfigError, match=r"unfinished predict run .*ff.resume"):
        ff.open_run(tmp_path)


def test_a_config_file_takes_frames_too(own, monkeypatch):
    """A config read from a file has its paths resolved; that alone does not count as naming data."""
    from finfusion.experiments.notebook import load_run, with_frames

    monkeypatch.chdir(own)
    (own / "plain.yaml").write_text(json.dumps(CONFIG))
    data = ff.load_frames(pd.read_csv("prices.csv"), pd.read_csv("headlines.csv"), columns=COLUMNS)
    config = with_frames(load_run("plain.yaml"), data)
    assert config.data.source == "files" and config.data.prices.name == "prices.parquet"
    assert config.data.load_log.parent == config.data.prices.parent  # the record of what loading dropped
    again = with_frames(load_run("plain.yaml"), data)
    assert again.data.prices == config.data.prices  # the same frames are saved once (content-addressed)


def test_load_frames_shows_what_it_read_and_dropped(own):
    data = ff.load_frames(pd.read_csv(own / "prices.csv"), pd.read_csv(own / "headlines.csv"), columns=COLUMNS)
    shown = repr(data)
    assert "tickers: 3 (AAA, BBB, CCC)" in shown
    assert "read   : wide table: 3 tickers, cells = close" in shown
    assert "30 - prices: wide table cells without a price (not rows)" in shown
    assert data.summary["texts_read"] == len(pd.read_csv(own / "headlines.csv"))
    assert data.report.total == 30  # alignment drops are shown, but a run counts them itself


def test_load_frames_refuses_unknown_options_and_date_only_texts(own):
    prices = pd.read_csv(own / "prices.csv")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['colums'\]"):
        ff.load_frames(prices, colums=COLUMNS)
    texts = pd.DataFrame({"day": ["2021-03-01"], "Symbol": ["AAA"], "headline": ["AAA upgraded"]})
    shape = {**COLUMNS, "timestamp": "day"}
    with pytest.raises(DataError, match="text_time"):
        ff.load_frames(prices, texts, columns=shape)
    data = ff.load_frames(prices, texts, columns=shape, text_time="16:01")
    assert data.texts["timestamp"].tolist() == [pd.Timestamp("2021-03-01 21:01", tz="UTC")]
