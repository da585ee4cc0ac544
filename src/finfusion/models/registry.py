"""Checked names for predictors: config names map to classes, and saved models name their class.

    @register("mlp")
    class MLPPredictor(TorchPredictor): ...

    make_predictor("mlp", {"hidden": 32})   # unknown keys and bad values fail, naming the model and
                                            # each parameter (the constructor's annotations are the spec)
    load_predictor("runs/x/model")          # reads config.json, builds the named model, loads it

The built-in models are imported on the first lookup (`_registry`), so importing this module is
enough to use any of them, and model modules import `register`, `read_config` and `write_config`
from here at their top. A new built-in model adds its module to `_BUILTIN_MODULES`.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any, TypeVar

from finfusion.errors import ConfigError
from finfusion.io import read_json, write_json
from finfusion.models.base import Predictor
from finfusion.models.params import init_parameters, validate_params

CONFIG_FILE = "config.json"
FORMAT = "finfusion.predictor"
FORMAT_VERSION = 1

_REGISTRY: dict[str, type[Predictor]] = {}
P = TypeVar("P", bound=type[Predictor])


def register(name: str):
    """Class decorator: register a `Predictor` subclass under `name` (sets `cls.registered_name`)."""

    def decorate(cls: P) -> P:
        if not (isinstance(cls, type) and issubclass(cls, Predictor)):
            raise TypeError(f"register({name!r}) needs a Predictor subclass, got {cls!r}")
        known = _REGISTRY.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ConfigError(f"predictor name {name!r} is already registered to {known.__module__}.{known.__qualname__}")
        _REGISTRY[name] = cls
        cls.registered_name = name
        return cls

    return decorate


def available_predictors() -> list[str]:
    """Registered predictor names, sorted."""
    return sorted(_registry())


def get_predictor_class(name: str) -> type[Predictor]:
    try:
        return _registry()[name]
    except KeyError:
        hint = difflib.get_close_matches(name, _REGISTRY, n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"unknown model {name!r}{did_you_mean}; available: {available_predictors()}") from None


def predictor_params(name: str) -> list[str]:
    """The keyword parameters of the predictor registered as `name` (its __init__ signature)."""
    return [p.name for p in init_parameters(get_predictor_class(name))]


def make_predictor(name: str, params: dict[str, Any] | None = None) -> Predictor:
    """A new, unfitted predictor `name` with `params` checked against its constructor's annotations
    (`finfusion.models.params`): unknown names and bad values raise one ConfigError listing them all;
    the constructor receives the validated values."""
    cls = get_predictor_class(name)
    return cls(**validate_params(cls, dict(params or {}), model=name))


def write_config(directory: str | Path, predictor: Predictor, **sections: Any) -> Path:
    """Write `config.json` for a saved predictor: its registered name, params and `sections`."""
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": _name_of(predictor),
        "class": f"{type(predictor).__module__}.{type(predictor).__qualname__}",
        "params": predictor.get_params(deep=False),
        **sections,
    }
    return write_json(Path(directory) / CONFIG_FILE, config)


def read_config(directory: str | Path, predictor: Predictor | None = None) -> dict[str, Any]:
    """Read `config.json` of a saved predictor, checking it was written for `predictor`'s model."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no saved predictor in {str(directory)!r}: {CONFIG_FILE} is missing")
    config = read_json(path)
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{path}: format {config.get('format')!r} version {config.get('format_version')!r}, "
            f"expected {FORMAT!r} version {FORMAT_VERSION}"
        )
    if predictor is not None and config.get("model") != _name_of(predictor):
        raise ConfigError(f"{path} holds a {config.get('model')!r} model, not {_name_of(predictor)!r}")
    return config


def load_predictor(directory: str | Path) -> Predictor:
    """The fitted predictor saved in `directory` (any registered model)."""
    config = read_config(directory)
    return make_predictor(config["model"], config["params"]).load(directory)


def _name_of(predictor: Predictor) -> str:
    name = vars(type(predictor)).get("registered_name")  # not inherited: a subclass needs its own name
    if name is None:
        raise ConfigError(f"{type(predictor).__name__} is not registered: decorate it with @register(name)")
    return name


_BUILTIN_MODULES = (  # the built-in models: each registers itself when its module is imported
    "finfusion.models.mlp",
    "finfusion.models.tree",
    "finfusion.models.text_models",
    "finfusion.models.newsflow",
    "finfusion.models.han",
    "finfusion.models.stocknet",
    "finfusion.models.lstm",
    "finfusion.models.adv_alstm",
    "finfusion.models.naive",
    "finfusion.models.floors",
    "finfusion.models.dp",
    "finfusion.models.dp_linear",
)


def _registry() -> dict[str, type[Predictor]]:
    """The registry with the built-in models loaded (on first use: they import `register` from
    this module, which therefore imports none of them at its top)."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)  # a no-op once imported
    return _REGISTRY
