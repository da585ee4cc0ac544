"""Model parameters are checked against the constructors' annotations when a model is made."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, get_args

import numpy as np
import pytest
from pydantic import Field

from finfusion.errors import ConfigError
from finfusion.evaluate.privacy import private_model
from finfusion.models.mlp import MLPPredictor
from finfusion.models.params import Fraction, Names, Pooling, PositiveInt, Probability, Tuning, describe, param_specs
from finfusion.models.registry import make_predictor
from finfusion.text import encoder

BAD = [
    # (model, params, parameter, value as shown, what is expected)
    ("mlp", {"epochs": "five"}, "epochs", "'five'", "an integer >= 1"),
    ("mlp", {"epochs": 5.5}, "epochs", "5.5", "an integer >= 1"),
    ("mlp", {"epochs": True}, "epochs", "True", "an integer >= 1"),
    ("mlp", {"epochs": "ten"}, "epochs", "'ten'", "an integer >= 1"),
    ("mlp", {"lr": math.nan}, "lr", "nan", "a finite number > 0"),
    ("mlp", {"lr": math.inf}, "lr", "inf", "a finite number > 0"),
    ("mlp", {"lr": True}, "lr", "True", "a finite number > 0"),
    ("mlp", {"hidden": -16}, "hidden", "-16", "an integer >= 1"),
    ("mlp", {"dropout": 1.0}, "dropout", "1.0", "a finite number in [0, 1)"),
    ("mlp", {"weight_decay": -1e-4}, "weight_decay", "-0.0001", "a finite number >= 0"),
    ("mlp", {"warm_start": 1}, "warm_start", "1", "true or false"),
    ("mlp", {"grad_clip": 0.0}, "grad_clip", "0.0", "a finite number > 0 or None"),
    ("mlp", {"seed": -1}, "seed", "-1", "an integer in [0, 4294967295]"),
    ("xgboost", {"max_depth": -3}, "max_depth", "-3", "an integer >= 0"),
    ("xgboost", {"subsample": 0.0}, "subsample", "0.0", "a finite number in (0, 1]"),
    ("xgboost", {"early_stopping_rounds": 0}, "early_stopping_rounds", "0", "an integer >= 1 or None"),
    ("lstm", {"activation": "tanh"}, "activation", "'tanh'", "one of 'linear', 'relu'"),
    ("lstm", {"features": "f0"}, "features", "'f0'", "a non-empty list of strings or None"),
    ("lstm", {"features": []}, "features", "[]", "a non-empty list of strings or None"),
    ("fusion", {"tuning": "partial"}, "tuning", "'partial'", "one of 'frozen', 'full', 'top_k', 'lora'"),
    ("fusion", {"heads": 0}, "heads", "0", "an integer >= 1"),
    ("factors", {"lr_schedule": "cosine"}, "lr_schedule", "'cosine'", "one of 'linear', 'constant'"),
    ("mixture", {"tau": 0}, "tau", "0", "a finite number > 0"),
    ("news", {"no_news": "zero"}, "no_news", "'zero'", "one of 'embedding', 'mask'"),
    ("dp_mlp", {"accountant": "gdp"}, "accountant", "'gdp'", "one of 'rdp', 'prv'"),
    ("dp_mlp", {"delta": 1.5}, "delta", "1.5", "a finite number in (0, 1) or None"),
    ("dp_logistic", {"epsilon": 0.0}, "epsilon", "0.0", "a finite number > 0 or None"),
    ("dp_logistic", {"max_iter": 10.0}, "max_iter", "10.0", "an integer >= 1"),
    ("naive", {"feature": 3}, "feature", "3", "a string or None"),
]


@pytest.mark.parametrize(("name", "params", "param", "shown", "expected"), BAD, ids=[f"{b[0]}-{b[3]}" for b in BAD])
def test_bad_value_is_refused_naming_model_param_value(name, params, param, shown, expected):
    with pytest.raises(ConfigError) as err:
        make_predictor(name, params)
    assert f"model {name!r} parameter {param!r}: got {shown}, expected {expected}" in str(err.value)


def test_every_bad_param_is_listed_at_once():
    with pytest.raises(ConfigError) as err:
        make_predictor("mlp", {"epochs": True, "lr": math.nan, "hidden": -16, "zzz": 1})
    msg = str(err.value)
    for part in ("parameter 'epochs': got True", "parameter 'lr': got nan", "parameter 'hidden': got -16", "'zzz'"):
        assert part in msg, msg


def test_constructor_receives_the_validated_values():
    model = make_predictor("mlp", {"lr": 1, "epochs": np.int64(3), "grad_clip": None, "warm_epochs": None})
    assert model.lr == 1.0 and type(model.lr) is float
    assert model.epochs == 3 and type(model.epochs) is int
    assert model.grad_clip is None and model.warm_epochs is None
    lstm = make_predictor("lstm", {"features": ["f0", "f1"], "activation": "relu"})
    assert lstm.features == ["f0", "f1"] and lstm.activation == "relu"


def test_private_model_params_are_validated():
    with pytest.raises(ConfigError, match=r"model 'dp_mlp' parameter 'epochs': got True, expected an integer >= 1"):
        private_model("dp_mlp", 1.0, {"epochs": True})
    with pytest.raises(ConfigError, match=r"model 'dp_logistic' parameter 'C': got nan"):
        private_model("dp_logistic", 2.0, {"C": math.nan})
    with pytest.raises(ConfigError, match=r"epsilon must be > 0, a number .*got True"):
        private_model("dp_mlp", True)
    assert private_model("dp_mlp", math.inf, {"epochs": 2}).target_epsilon is None


def test_describe_states_the_constraints_and_refuses_unknown_annotations():
    assert describe(PositiveInt | None) == "an integer >= 1 or None"
    assert describe(Probability) == "a finite number in [0, 1)"
    assert describe(Fraction) == "a finite number in (0, 1]"
    assert describe(Names | None) == "a non-empty list of strings or None"
    assert describe(Literal["a", "b"]) == "one of 'a', 'b'"
    for unknown in (Any, dict[str, int], Annotated[str, Field(min_length=1)], Annotated[int, Field(multiple_of=2)]):
        with pytest.raises(TypeError, match="unsupported"):
            describe(unknown)


def test_a_parameter_without_annotation_is_refused():
    class Loose(MLPPredictor):
        def __init__(self, *, hidden=64) -> None:
            self.hidden = hidden

    with pytest.raises(TypeError, match="'hidden' has no annotation"):
        param_specs(Loose)


def test_the_text_choices_match_the_encoder():
    assert get_args(Pooling) == get_args(encoder.Pooling) and get_args(Tuning) == get_args(encoder.Tuning)
