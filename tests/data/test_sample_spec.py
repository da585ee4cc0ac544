"""The config sections are the sample spec, and one sentiment spec type serves config and code (issue 18)."""

from __future__ import annotations

import re

import pytest
import yaml
from pydantic import ValidationError

from finfusion.data.sample_spec import FeatureConfig, MarketConfig, SampleSpec, TargetConfig, TextConfig
from finfusion.errors import ConfigError
from finfusion.experiments.config import config_to_dict, parse_config
from finfusion.experiments.rl_config import RlTextConfig
from finfusion.features.sentiment import SentimentSpec

MODELS = [{"name": "naive"}]


def test_a_run_configs_sample_spec_is_made_of_its_own_sections():
    config = parse_config({
        "models": MODELS,
        "features": {"groups": ["returns", "sentiment"], "lookback": 3,
                     "sentiment": [{"name": "vader"}, {"name": "lm", "scorer": "lm", "stats": ["mean"]}]},
        "target": {"kind": "direction", "horizon": 2},
        "text": {"enabled": False, "lookback_days": 2},
        "market": {"close_time": "15:30", "timezone": "Europe/London"},
    })
    spec = config.sample_spec
    assert isinstance(spec, SampleSpec)
    assert spec.features is config.features and spec.target is config.target  # no copies, no field mirrors
    assert spec.text is config.text and spec.market is config.market
    assert spec.features.sentiment[1] == SentimentSpec(name="lm", scorer="lm", stats=("mean",))
    assert (spec.features.lookback, spec.target.horizon, spec.text.lookback_days) == (3, 2, 2)


def test_the_default_sample_spec_is_the_default_runs():
    config = parse_config({"models": MODELS})
    assert config.sample_spec == SampleSpec()
    assert SampleSpec() == SampleSpec(features=FeatureConfig(), target=TargetConfig(), text=TextConfig(),
                                      market=MarketConfig())
    assert SampleSpec().features.sentiment == SentimentSpec() and SampleSpec().text.enabled


def test_sample_spec_refuses_the_old_flat_keys():
    with pytest.raises(ValidationError, match=r"use_text\n  Extra inputs are not permitted"):
        SampleSpec(use_text=False)


def test_sentiment_spec_takes_a_yaml_list_of_stats_and_stays_hashable():
    spec = SentimentSpec(stats=["mean", "max"], fill="neutral")
    assert spec.stats == ("mean", "max") and spec == SentimentSpec(stats=("mean", "max"), fill="neutral")
    assert len({spec, SentimentSpec(stats=("mean", "max"), fill="neutral")}) == 1
    with pytest.raises(ValidationError, match="frozen"):
        spec.decay = 1.0
    with pytest.raises(ValidationError, match=r"stats\n  Input should be a valid tuple .*input_value='mean'"):
        SentimentSpec(stats="mean")
    with pytest.raises(ValidationError, match=r"stats\n  Value error, sentiment stats=\[\]; expected a non-empty list"):
        SentimentSpec(stats=[])


REJECTED = [  # (settings, where a run config reports it, the message SentimentIndexSpec gave: key and value)
    ({"name": "Fin-BERT"}, "features.sentiment.1.name", "sentiment name='Fin-BERT'; expected lower-case letters, digits and _ (e.g. 'vader')"),
    ({"stats": ["mean", "staleness"]}, "features.sentiment.1",
     "sentiment stats include 'staleness' but fill='zero'; staleness needs fill 'ffill'"),
    ({"scorer": "vader", "alpha": 2.0}, "features.sentiment.1",
     "sentiment alpha=2.0, beta=1.0: the lexicon 'vader' gives one score per text; α and β weight a classifier's "
     "p_pos and p_neg (keep them at 1)"),
]


@pytest.mark.parametrize(("settings", "path", "message"), REJECTED)
def test_sentiment_spec_rejects_what_the_old_spec_rejected_with_the_same_message(settings, path, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        SentimentSpec(**settings)
    with pytest.raises(ConfigError, match=re.escape(f"  {path}: {message}")):
        parse_config({"models": MODELS, "features": {"sentiment": [{"name": "a"}, {"name": "b", **settings}]}})


def test_the_rl_text_section_uses_the_same_spec_and_the_saved_config_reloads():
    assert RlTextConfig().sentiment == SentimentSpec(stats=("mean", "has_text"))
    config = parse_config({"models": MODELS, "features": {"sentiment": {"stats": ["mean", "kurt"], "decay": 0.5}}})
    saved = config_to_dict(config)
    assert saved["features"]["sentiment"]["stats"] == ["mean", "kurt"]  # a YAML list, as written
    assert parse_config(yaml.safe_load(yaml.safe_dump(saved))) == config
