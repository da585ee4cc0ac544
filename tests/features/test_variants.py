"""Several sentiment scorers in one run, feature groups on Samples, and model variants as column selections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TargetConfig, TextConfig
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.schema import validate_prices, validate_texts
from finfusion.errors import ConfigError
from finfusion.experiments import plan, runner
from finfusion.experiments.config import config_to_dict, parse_config
from finfusion.features.build import FEATURE_GROUPS
from finfusion.features.sentiment import SENTIMENT_FEATURES, SentimentSpec, as_specs, split_selection
from finfusion.models.base import Samples, resolve_selection

VADER = SentimentSpec(name="vader", stats=("mean", "max"), fill="neutral")
AGED = SentimentSpec(name="aged", decay=1.0, stats=("mean", "kurt"))  # fill zero: + has_text
NO_TEXT = TextConfig(enabled=False)


def market(n: int = 40) -> MarketData:
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2014-01-02", periods=n)
    close = 20 + rng.normal(size=n).cumsum() * 0.2
    prices = validate_prices(pd.DataFrame({"date": dates, "ticker": "A", "open": close, "high": close + 1,
                                           "low": close - 1, "close": close, "volume": rng.uniform(1e5, 2e5, n)}))
    rows = [(f"{d.date()}T{h:02d}:00:00-05:00", "A", str(rng.choice(["great quarter", "awful losses", "plain day"])))
            for d in dates for h in (9, 13)]
    return MarketData(prices, validate_texts(pd.DataFrame(rows, columns=["timestamp", "ticker", "text"])))


def test_named_specs_give_prefixed_features_and_groups():
    spec = SampleSpec(features=FeatureConfig(groups=["technical", "returns", "sentiment"], sentiment=[VADER, AGED]),
                      target=TargetConfig(kind="direction"), text=NO_TEXT)
    samples = build_samples(market(), spec)
    sent = ("sent_vader_mean", "sent_vader_max", "sent_aged_mean", "sent_aged_kurt", "sent_aged_has_text")
    assert samples.feature_names == (*FEATURE_GROUPS["technical"], *FEATURE_GROUPS["returns"], *sent)
    assert samples.feature_groups == {
        "technical": FEATURE_GROUPS["technical"], "returns": FEATURE_GROUPS["returns"], "sentiment": sent,
        "sentiment_vader": sent[:2], "sentiment_aged": sent[2:],
    }
    # a selection of one named group (plus one feature of another) computes the same values
    only = build_samples(market(), SampleSpec(features=FeatureConfig(groups=["sentiment_vader"], features=["sent_aged_kurt"],
                                                                     sentiment=[VADER, AGED]), text=NO_TEXT))
    assert only.feature_names == ("sent_vader_mean", "sent_vader_max", "sent_aged_kurt")
    col = samples.feature_names.index("sent_vader_mean")
    same = only.index["date"].isin(samples.index["date"]).to_numpy()
    assert len(only) == 39 and same.sum() == len(samples) == 6  # no price warm-up without price features
    np.testing.assert_array_equal(only.X[same, 0], samples.X[:, col])


def test_selection_errors_name_the_known_sentiment_features_and_groups():
    specs = (VADER, AGED)
    assert split_selection(None, ["sentiment", "volume"], ["sentiment_aged"], specs) == (
        None, ["volume"], [], ["sent_vader_mean", "sent_vader_max"])
    with pytest.raises(ConfigError, match=r"unknown sentiment group 'sentiment_finbert'.*sentiment_vader"):
        split_selection(None, ["sentiment_finbert"], (), specs)
    with pytest.raises(ConfigError, match=r"unknown sentiment feature\(s\) \['sent_vader_kurt'\].*stats"):
        split_selection(["sent_vader_kurt"], None, (), specs)
    with pytest.raises(ValidationError, match="distinct names"):
        SampleSpec(features=FeatureConfig(groups=["sentiment"], sentiment=[VADER, SentimentSpec()]))


def toy(X: np.ndarray) -> Samples:
    n = X.shape[0]
    index = pd.DataFrame({"date": pd.bdate_range("2020-01-01", periods=n), "ticker": "A"})
    return Samples(index, X, np.zeros(n), ("ma_5", "rsi_14", "mom_5", "vol_5", "sent_v_mean", "sent_f_mean"),
                   feature_groups={"technical": ("ma_5", "rsi_14"), "momentum": ("mom_5",), "volatility": ("vol_5",),
                                   "sentiment": ("sent_v_mean", "sent_f_mean"), "sentiment_v": ("sent_v_mean",),
                                   "sentiment_f": ("sent_f_mean",)})


def test_samples_select_keeps_columns_in_order_for_2d_and_3d_inputs():
    X = np.arange(3 * 6, dtype=np.float32).reshape(3, 6)
    data = toy(X)
    out = data.select(["sentiment_f", "technical", "vol_5"], exclude=["rsi_14"])
    assert out.feature_names == ("ma_5", "vol_5", "sent_f_mean")
    np.testing.assert_array_equal(out.X, X[:, [0, 3, 5]])
    assert out.feature_groups == {"technical": ("ma_5",), "volatility": ("vol_5",), "sentiment": ("sent_f_mean",),
                                  "sentiment_f": ("sent_f_mean",)}
    assert data.select() is data and data.select(exclude=["sentiment"]).feature_names[-1] == "vol_5"
    seq = toy(np.arange(3 * 2 * 6, dtype=np.float32).reshape(3, 2, 6)).select(exclude=["sentiment_v", "momentum"])
    assert seq.X.shape == (3, 2, 4) and seq.X[1, 1].tolist() == [18, 19, 21, 23]
    assert seq.subset([0, 2]).feature_groups == seq.feature_groups


def test_selection_errors_are_clear():
    data = toy(np.zeros((2, 6), dtype=np.float32))
    with pytest.raises(ConfigError, match=r"exclude: unknown group or feature name\(s\) \['volume'\]; groups"):
        data.select(exclude=["volume"])
    with pytest.raises(ConfigError, match="leaves no features"):
        data.select(["momentum"], exclude=["mom_5"])
    with pytest.raises(ConfigError, match="got the string 'technical'"):
        resolve_selection(data.feature_names, data.feature_groups, "technical")
    with pytest.raises(ValueError, match="not feature_names"):
        Samples(data.index, data.X, data.y, data.feature_names, feature_groups={"volume": ("volume_log",)})


SEED003_VARIANTS = """
features:
  groups: [technical, momentum, volatility, returns, volume, sentiment]
  sentiment:
    - {name: vader, scorer: vader, decay: 1.5, decay_basis: time_of_day, stats: [mean, std, max, range, kurt, n_texts]}
    - {name: finbert, scorer: lm, decay: 1.5, decay_basis: time_of_day, stats: [mean, std, max, range, kurt, n_texts]}
target: {kind: direction}
models:
  - {name: xgboost, label: T, exclude: [momentum, sentiment]}
  - {name: xgboost, label: T+M, exclude: [sentiment]}
  - {name: xgboost, label: T+V, exclude: [sentiment_finbert]}
  - {name: xgboost, label: T+F, exclude: [sentiment_vader]}
  - {name: xgboost, label: T+F-V, exclude: [sentiment_vader, volatility]}
  - {name: xgboost, label: T+F-M, exclude: [sentiment_vader, momentum]}
"""


def test_the_six_seed003_variants_share_one_run_and_select_their_columns(monkeypatch, tmp_path):
    raw = yaml.safe_load(SEED003_VARIANTS)
    raw["features"]["groups"].remove("volatility")  # garch_vol needs 250 days of warm-up
    raw["features"]["features"] = ["vol_5", "vol_20"]
    raw["features"]["sentiment"][1]["scorer"] = "vader"  # no classifier directory in a unit test
    config = parse_config(raw)
    assert [s.name for s in as_specs(config.features.sentiment)] == ["vader", "finbert"]
    assert parse_config(yaml.safe_load(yaml.safe_dump(config_to_dict(config)))) == config  # the saved config reloads
    seen: dict[str, tuple[str, ...]] = {}

    def fake_protocol(predictor, samples, splitter, **kwargs):
        seen[kwargs["model_name"]] = samples.feature_names
        return pd.DataFrame({"date": samples.index["date"][:1], "ticker": "A", "y_true": 0, "y_pred": 0})

    monkeypatch.setattr(runner, "run_protocol", fake_protocol)
    units = plan.plan_units(config)
    inputs = plan.PredictInputs({units[0].data: (None, build_samples(market(), config.sample_spec))})
    assert {u.data for u in units} == {units[0].data}  # the variants share one data setting
    for unit in units:
        runner.run_model_unit(unit, inputs, None)
    tech = (*FEATURE_GROUPS["technical"], *FEATURE_GROUPS["returns"], *FEATURE_GROUPS["volume"])
    assert set(seen["T"]) == {*tech, "vol_5", "vol_20"}
    assert set(seen["T+M"]) == set(seen["T"]) | set(FEATURE_GROUPS["momentum"])
    assert set(seen["T+V"]) - set(seen["T+M"]) == {f"sent_vader_{s}" for s in ("mean", "std", "max", "range", "kurt", "n_texts", "has_text")}
    assert {f for f in seen["T+F"] if f.startswith("sent_")} == {f.replace("vader", "finbert") for f in set(seen["T+V"]) - set(seen["T+M"])}
    assert set(seen["T+F"]) - set(seen["T+F-V"]) == {"vol_5", "vol_20"}
    assert set(seen["T+F"]) - set(seen["T+F-M"]) == set(FEATURE_GROUPS["momentum"])


def test_unknown_variant_names_fail_in_preflight_and_the_single_spec_form_is_unchanged(monkeypatch):
    raw = {"features": {"groups": ["returns", "sentiment"]}, "target": {"kind": "direction"},
           "models": [{"name": "xgboost", "exclude": ["sentiment_finbert"]}]}
    config = parse_config(raw)
    assert config.features.sentiment.scorer == "vader" and config.features.sentiment == SentimentSpec()
    units = plan.plan_units(config)
    samples = build_samples(market(), config.sample_spec)
    with pytest.raises(ConfigError, match=r"unknown group or feature name\(s\) \['sentiment_finbert'\]"):
        runner.preflight(units, plan.PredictInputs({units[0].data: (None, samples)}))
    assert samples.feature_names[-6:] == SENTIMENT_FEATURES and samples.feature_groups["sentiment"] == SENTIMENT_FEATURES
    with pytest.raises(ConfigError, match="distinct names"):
        parse_config({**raw, "features": {"sentiment": [{"scorer": "vader"}, {"name": "lm", "scorer": "lm"}]}})
    with pytest.raises(ConfigError, match="staleness needs fill 'ffill'"):
        parse_config({**raw, "features": {"sentiment": {"stats": ["mean", "staleness"]}}})
    with pytest.raises(ConfigError, match=r"features.sentiment.1.decay_basis: Input should be 'age' or 'time_of_day'") as err:
        parse_config({**raw, "features": {"sentiment": [{"name": "v"}, {"name": "w", "decay_basis": "hour"}]}})
    assert "valid dictionary" not in str(err.value)  # the other shape of the union is not reported
