"""`text.engine` / `text.precision`: one switch for a run's frozen text inference (issue 21)."""

from __future__ import annotations

import typing

import pytest

from finfusion.data.sample_spec import TextConfig
from finfusion.errors import ConfigError
from finfusion.experiments.config import ModelSpec, RunConfig, parse_config
from finfusion.text.inference import ENGINES, PRECISIONS

MODELS = [
    {"name": "news"},                                                    # frozen by default: takes the run's
    {"name": "news", "label": "lora", "params": {"tuning": "lora"}},     # trains its encoder: keeps torch
    {"name": "mlp"},                                                     # no text encoder
    {"name": "fusion_concat", "params": {"encoder_engine": "torch"}},    # its own setting wins, both keys
]


def test_the_run_wide_engine_fills_frozen_text_models_and_classifier_specs():
    config = parse_config({"models": MODELS, "text": {"engine": "onnx", "precision": "int8"},
                           "features": {"sentiment": [{"name": "lex", "scorer": "vader"},
                                                      {"name": "clf", "scorer": "some/classifier"},
                                                      {"name": "own", "scorer": "other/classifier",
                                                       "precision": "fp32"}]}})
    assert [m.params for m in config.models] == [{"encoder_engine": "onnx", "encoder_precision": "int8"},
                                                 {"tuning": "lora"}, {}, {"encoder_engine": "torch"}]
    assert [(s.engine, s.precision) for s in config.features.sentiment] == [
        ("torch", "fp32"), ("onnx", "int8"), ("torch", "fp32")]


def test_without_it_every_model_keeps_its_own_settings():
    config = parse_config({"models": MODELS})
    assert [m.params for m in config.models] == [m.get("params", {}) for m in MODELS]
    assert (config.text.engine, config.text.precision) == (None, None)


def test_configs_built_in_python_get_it_too():
    config = RunConfig(models=[ModelSpec(name="news"), ModelSpec(name="mlp", label="m")],
                       text=TextConfig(precision="bf16"))
    assert config.models[0].params == {"encoder_precision": "bf16"} and config.models[1].params == {}


def test_a_combination_no_engine_offers_fails_naming_the_model():
    with pytest.raises(ConfigError, match=r"(?s)models.0 \(news\).*precision 'bf16' needs engine 'torch'"):
        parse_config({"models": [{"name": "news"}], "text": {"engine": "onnx", "precision": "bf16"}})
    with pytest.raises(ConfigError, match=r"text.engine"):
        parse_config({"models": [{"name": "news"}], "text": {"engine": "tensorrt"}})


def test_the_config_names_are_the_engines_names():
    """data/sample_spec.py spells them out (data sits below text); they must not drift."""
    fields = TextConfig.model_fields
    assert set(typing.get_args(typing.get_args(fields["engine"].annotation)[0])) == set(ENGINES)
    assert set(typing.get_args(typing.get_args(fields["precision"].annotation)[0])) == set(PRECISIONS)
