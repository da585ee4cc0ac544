"""Registry: checked names, parameter checks, saved-model identity, import order."""

from __future__ import annotations

import subprocess
import sys

import pytest

from finfusion.errors import ConfigError
from finfusion.models import registry
from finfusion.models.mlp import MLPPredictor
from finfusion.models.registry import (
    available_predictors,
    get_predictor_class,
    load_predictor,
    make_predictor,
    predictor_params,
    register,
)
from finfusion.models.tree import XGBoostPredictor


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_builtin_models_are_registered():
    assert {"mlp", "xgboost"} <= set(available_predictors())
    assert available_predictors() == sorted(available_predictors())
    assert get_predictor_class("mlp") is MLPPredictor and get_predictor_class("xgboost") is XGBoostPredictor


def test_unknown_model_name_suggests():
    with pytest.raises(ConfigError, match=r"unknown model 'xgbost' \(did you mean 'xgboost'\?\).*available"):
        get_predictor_class("xgbost")


def test_unknown_params_name_model_keys_and_allowed():
    with pytest.raises(ConfigError) as err:
        make_predictor("mlp", {"hiden": 8, "zzz": 1, "epochs": 2})
    msg = str(err.value)
    assert "'mlp'" in msg and "['hiden', 'zzz']" in msg and "did you mean 'hidden'" in msg
    assert "allowed: [" in msg and "'warm_epochs'" in msg


def test_make_predictor_sets_params():
    model = make_predictor("xgboost", {"max_depth": 2})
    assert isinstance(model, XGBoostPredictor) and model.max_depth == 2
    assert "warm_start" in predictor_params("mlp") and "self" not in predictor_params("mlp")


def test_register_checks(scratch_registry):
    with pytest.raises(TypeError, match="Predictor subclass"):
        register("thing")(dict)

    @register("mlp_copy")
    class Copy(MLPPredictor):
        pass

    assert get_predictor_class("mlp_copy") is Copy
    with pytest.raises(ConfigError, match="already registered"):
        register("mlp")(Copy)


def test_unregistered_subclass_cannot_be_saved(make_samples, tmp_path):
    class Local(MLPPredictor):
        pass

    model = Local(hidden=4, epochs=1).fit(make_samples("regression", n=16))
    with pytest.raises(ConfigError, match="not registered"):
        model.save(tmp_path)


def test_saved_model_identity_is_checked(make_samples, tmp_path):
    XGBoostPredictor(n_estimators=5).fit(make_samples("regression", n=30)).save(tmp_path / "xgb")
    with pytest.raises(ConfigError, match="holds a 'xgboost' model, not 'mlp'"):
        MLPPredictor().load(tmp_path / "xgb")
    assert isinstance(load_predictor(tmp_path / "xgb"), XGBoostPredictor)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_predictor(tmp_path / "nothing")


def test_any_import_order_registers_the_builtins():
    firsts = ["registry", "mlp", "torch_predictor", "dp", "dp_linear"]  # the model modules import the registry and back
    code = "import finfusion.models.{}; from finfusion.models.registry import available_predictors as a; print(a())"
    procs = [subprocess.Popen([sys.executable, "-c", code.format(f)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in firsts]
    for first, proc in zip(firsts, procs):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"importing {first} first failed:\n{err}"
        assert "'mlp'" in out and "'xgboost'" in out, first
