"""Forecasting pipelines: fit, save, load checks and the refusals of `predict`."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from finfusion.errors import ConfigError, DataError
from finfusion.pipeline import fit, load_pipeline

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_support import WINDOW, config_of, run_config  # noqa: E402


@pytest.fixture
def pipeline(tmp_path, files):
    fit(config_of(run_config(*files("all"))), "MLP", tmp_path / "pipe")
    return load_pipeline(tmp_path / "pipe")


def test_manifest_records_the_training_period_and_is_described(pipeline, market):
    prices, _ = market
    m = pipeline.manifest
    last_labelled = sorted(prices["date"].unique())[-2]  # horizon 1: the last day has no target yet
    assert m["training"]["last_date"] == str(pd.Timestamp(last_labelled).date())
    assert m["training"]["window"] is None and m["training"]["fold"] == 0
    assert m["model"] == {"label": "MLP", "name": "mlp", "params": {"hidden": 8, "epochs": 3}}
    assert m["encoder"] is None and m["packages"]["torch"]
    assert pipeline.describe()["training"]["fingerprint"] == m["training"]["fingerprint"]
    assert (pipeline.directory / "state" / "model" / "config.json").is_file()


def test_asof_gives_the_forecast_the_prices_up_to_that_day_give(pipeline, market):
    prices, texts = market
    day = sorted(prices["date"].unique())[-5]
    a = pipeline.predict(prices, texts, asof=day)
    b = pipeline.predict(prices[prices["date"] <= day], texts)
    pd.testing.assert_frame_equal(a, b)
    assert (a["asof"] == day).all()
    assert (a["target_date"] == day + pd.offsets.BDay(1)).all()
    assert list(a.columns[:4]) == ["ticker", "asof", "target_date", "prediction"]


def test_stale_and_short_tickers_are_refused_by_name(pipeline, market):
    prices, texts = market
    last = prices["date"].max()
    tickers = sorted(prices["ticker"].unique())
    stale = prices[~((prices["ticker"] == tickers[0]) & (prices["date"] == last))]
    with pytest.raises(DataError, match=rf"{tickers[0]}: prices end on .*, before asof {last.date()}"):
        pipeline.predict(stale, texts)
    young = prices[prices["ticker"] == tickers[1]].tail(3).assign(ticker="NEW")  # 3 days: no return features yet
    with pytest.raises(DataError, match=rf"NEW: no features on {last.date()}"):
        pipeline.predict(pd.concat([prices, young]), texts)
    with pytest.raises(DataError, match=r"the prices end on .*, before asof 2099-01-01"):
        pipeline.predict(prices, texts, asof="2099-01-01")


def test_unknown_model_label_and_occupied_out_are_refused(tmp_path, files, pipeline):
    config = config_of(run_config(*files("all")))
    with pytest.raises(ConfigError, match="no model labelled 'Nope' in the config; its models: MLP"):
        fit(config, "Nope", tmp_path / "other")
    with pytest.raises(ConfigError, match="holds a pipeline already; pass --overwrite"):
        fit(config, "MLP", pipeline.directory)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="non-empty directory that holds no pipeline"):
        fit(config, "MLP", tmp_path / "busy")


def test_other_package_versions_are_refused_unless_allowed(pipeline):
    manifest = json.loads((pipeline.directory / "pipeline.json").read_text())
    manifest["packages"]["torch"] = "0.0.1"
    (pipeline.directory / "pipeline.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"torch 0\.0\.1 at fit, .* now"):
        load_pipeline(pipeline.directory)
    assert load_pipeline(pipeline.directory, allow_version_mismatch=True).name == "MLP"


def test_not_a_pipeline(tmp_path):
    with pytest.raises(ConfigError, match="is not a finfusion pipeline: .*pipeline.json is missing"):
        load_pipeline(tmp_path)


def test_window_fit_trains_on_the_last_window_only(tmp_path, files, market):
    prices, _ = market
    fit(config_of(run_config(*files("all"))), "MLP", tmp_path / "w", window=WINDOW)
    training = load_pipeline(tmp_path / "w").manifest["training"]
    dates = sorted(prices["date"].unique())
    assert training["last_date"] == str(pd.Timestamp(dates[-2]).date())
    assert training["first_date"] == str(pd.Timestamp(dates[-1 - WINDOW]).date())
    assert training["rows"] == WINDOW * prices["ticker"].nunique() and training["window"] == WINDOW


TEXT_MODEL = {"name": "text_only", "label": "Text", "params": {"tuning": "frozen", "epochs": 1, "max_length": 16,
                                                                 "hidden": 8}}


@pytest.fixture
def text_pipeline(tmp_path, files, tiny_bert):
    encoder = shutil.copytree(tiny_bert, tmp_path / "encoder")
    model = {**TEXT_MODEL, "params": {**TEXT_MODEL["params"], "model": str(encoder)}}
    fit(config_of(run_config(*files("all"), [model], text={"lookback_days": 2})), "Text", tmp_path / "text")
    return tmp_path / "text", encoder


def test_texts_after_the_close_are_counted_and_never_used(text_pipeline, market):
    prices, texts = market
    pipeline = load_pipeline(text_pipeline[0])
    day = prices["date"].max()
    before = pipeline.predict(prices, texts)
    late = pd.DataFrame({"timestamp": [day + pd.Timedelta(hours=h) for h in (17, 20)], "ticker": prices["ticker"].iloc[0],
                         "text": ["record profits", "shares soar"], "source": "late"})
    late["timestamp"] = late["timestamp"].dt.tz_localize("America/New_York")
    after = pipeline.predict(prices, pd.concat([texts, late], ignore_index=True))
    pd.testing.assert_frame_equal(after, before)
    assert after.attrs["texts_after_close"] == before.attrs["texts_after_close"] + 2
    assert (before["texts"] >= 0).all() and before["texts"].sum() > 0
    assert pipeline.manifest["encoder"]["sha256"]


def test_a_changed_encoder_is_refused(text_pipeline):
    directory, encoder = text_pipeline
    weights = next(p for p in encoder.iterdir() if p.suffix in (".safetensors", ".bin"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(ConfigError, match=r"its text encoder .* is not the one it was fit with: sha256"):
        load_pipeline(directory)


def test_a_bundled_encoder_travels_with_the_pipeline(tmp_path, files, market, tiny_bert):
    prices, texts = market
    encoder = shutil.copytree(tiny_bert, tmp_path / "encoder")
    model = {**TEXT_MODEL, "params": {**TEXT_MODEL["params"], "model": str(encoder)}}
    config = config_of(run_config(*files("all"), [model]))
    fit(config, "Text", tmp_path / "bundled", bundle_encoder=True)
    before = load_pipeline(tmp_path / "bundled").predict(prices, texts)
    shutil.rmtree(encoder)  # the encoder it was fit with is gone, and the pipeline moves
    moved = shutil.move(tmp_path / "bundled", tmp_path / "elsewhere")
    pipeline = load_pipeline(moved)
    assert pipeline.manifest["encoder"]["bundled"] is True
    pd.testing.assert_frame_equal(pipeline.predict(prices, texts), before)
    with pytest.raises(ConfigError, match="is not the one it was fit with"):  # the bundle is checked too
        weights = next(p for p in (Path(moved) / "encoder").iterdir() if p.suffix in (".safetensors", ".bin"))
        weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
        load_pipeline(moved)


def test_a_fusion_pipeline_gives_its_attention_weights(tmp_path, files, market, tiny_bert):
    prices, texts = market
    model = {"name": "fusion", "label": "Fusion", "params": {"model": str(tiny_bert), "tuning": "frozen", "epochs": 1,
                                                              "max_length": 16, "hidden": 8, "heads": 2}}
    fit(config_of(run_config(*files("all"), [model])), "Fusion", tmp_path / "fusion")
    rows = load_pipeline(tmp_path / "fusion").predict(prices, texts)
    attention = rows.filter(like="att_")
    pipeline = load_pipeline(tmp_path / "fusion")
    assert list(attention.columns) == [f"att_{name}" for name in pipeline.state.model.token_names()]
    assert ((attention.sum(axis=1) - 1).abs() < 1e-5).all()  # a distribution over the tokens, per ticker


def test_a_changed_sentiment_classifier_is_refused(tmp_path, files, tiny_bert):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from finfusion.text.sentiment.classifier import SentimentClassifier

    labels = ("negative", "neutral", "positive")
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=3, id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    scorer = SentimentClassifier(model, AutoTokenizer.from_pretrained(tiny_bert), labels).save(tmp_path / "clf")
    raw = run_config(*files("all"), features={"groups": ["returns", "sentiment"], "sentiment": {"scorer": str(scorer)}})
    fit(config_of(raw), "MLP", tmp_path / "pipe")
    recorded = load_pipeline(tmp_path / "pipe").manifest["scorers"]
    assert [r["scorer"] for r in recorded] == [str(scorer)]
    (Path(scorer) / "finfusion_sentiment.json").write_text((Path(scorer) / "finfusion_sentiment.json").read_text() + " ")
    with pytest.raises(ConfigError, match=r"the sentiment classifier .*clf whose scores are features is not the one"):
        load_pipeline(tmp_path / "pipe")
