"""Predictor parameters are checked against their constructor's annotations: the annotations are the spec.

    class MLPPredictor(TorchPredictor):
        def __init__(self, *, hidden: PositiveInt = 64, dropout: Probability = 0.0, ...): ...

    validate_params(MLPPredictor, {"epochs": True}, model="mlp")
    # ConfigError: model 'mlp' parameter 'epochs': got True, expected an integer >= 1

The validation is strict (pydantic's strict mode): an int parameter takes only ints (not True,
5.5 or "5"), a float parameter takes ints and floats but not bools or strings, and floats must
be finite. Ranges are written into the annotations with the aliases below (a new constraint is
a new alias here, so that `describe` can state it in words). Numpy scalars count as the Python
numbers they hold. `registry.make_predictor` calls `validate_params` for every model it makes,
which is how a run config's model parameters are checked when the config is parsed.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import annotated_types as at
import numpy as np
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from finfusion.errors import ConfigError

# -- reusable constrained types -------------------------------------------------------------------

PositiveInt = Annotated[int, Field(ge=1)]  # sizes, epochs, batch sizes, counts
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]  # learning rates, norms, temperatures
NonNegativeFloat = Annotated[float, Field(ge=0)]  # weight decay, l2, regularisation
Probability = Annotated[float, Field(ge=0, lt=1)]  # dropout rates: [0, 1)
Fraction = Annotated[float, Field(gt=0, le=1)]  # sampling shares: (0, 1]
OpenUnit = Annotated[float, Field(gt=0, lt=1)]  # (0, 1), e.g. a DP delta
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # what numpy, torch and xgboost all accept
TokenLength = Annotated[int, Field(ge=2)]  # a tokenizer's max_length (special tokens included)
Names = Annotated[list[str], Field(min_length=1)]  # a non-empty list of feature names

Pooling = Literal["cls", "mean"]
Tuning = Literal["frozen", "full", "top_k", "lora"]
LrSchedule = Literal["linear", "constant"]

_STRICT = ConfigDict(strict=True, allow_inf_nan=False)
_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_NAMES = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
_PLURALS = {bool: "booleans", int: "integers", float: "finite numbers", str: "strings"}


@dataclass(frozen=True)
class ParamSpec:
    """One constructor parameter: its resolved annotation, default, validator and the words for it."""

    name: str
    annotation: Any
    default: Any
    adapter: TypeAdapter
    expected: str


def init_parameters(cls: type) -> list[inspect.Parameter]:
    """The keyword parameters of `cls.__init__` (without self)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p for p in params if p.kind in _KINDS]


@functools.cache
def param_specs(cls: type) -> dict[str, ParamSpec]:
    """name -> ParamSpec for each `__init__` parameter of `cls`, built once per class.

    Raises TypeError when a parameter has no annotation or one `describe` does not understand
    (the contract suite checks every registered model builds)."""
    hints = typing.get_type_hints(cls.__init__, include_extras=True)
    specs = {}
    for p in init_parameters(cls):
        if p.name not in hints:
            raise TypeError(f"{cls.__qualname__}.__init__: parameter {p.name!r} has no annotation")
        annotation = hints[p.name]
        specs[p.name] = ParamSpec(
            name=p.name,
            annotation=annotation,
            default=p.default,
            adapter=TypeAdapter(annotation, config=_STRICT),
            expected=describe(annotation),
        )
    return specs


def validate_params(cls: type, params: dict[str, Any], *, model: str) -> dict[str, Any]:
    """`params` checked against `cls.__init__`'s annotations; returns the validated values.

    Raises ConfigError naming `model`, every unknown parameter (with the allowed ones) and every
    bad value (the parameter, the value received and what was expected), all in one message."""
    specs = param_specs(cls)
    problems = []
    unknown = sorted(set(params) - set(specs))
    if unknown:
        problems.append(_unknown_message(model, unknown, sorted(specs)))
    values = {}
    for name, value in params.items():
        if name not in specs:
            continue
        try:
            values[name] = specs[name].adapter.validate_python(_plain(value))
        except ValidationError:
            problems.append(f"model {model!r} parameter {name!r}: got {value!r}, expected {specs[name].expected}")
    if problems:
        raise ConfigError("\n".join(problems))
    return values


def _unknown_message(model: str, unknown: list[str], allowed: list[str]) -> str:
    hints = {k: difflib.get_close_matches(k, allowed, n=1) for k in unknown}
    suggest = "".join(f"; {k!r}: did you mean {h[0]!r}?" for k, h in hints.items() if h)
    return f"model {model!r} got unknown parameter(s) {unknown}{suggest}; allowed: {allowed}"


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (np.int64(3) -> 3); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


# -- annotations in words -------------------------------------------------------------------------


def describe(annotation: Any) -> str:
    """What `annotation` accepts, in words: "an integer >= 1 or None", "one of 'cls', 'mean'".

    Raises TypeError for an annotation it does not know (keep parameter types to bool, int, float,
    str, Literal, list of those, `X | None` and the constrained aliases of this module)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _constrained(args[0], _constraints(args[1:]))
    if origin in (Union, types.UnionType):
        parts = [describe(a) for a in args if a is not type(None)]
        return " or ".join(parts + (["None"] if type(None) in args else []))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args) if len(args) > 1 else repr(args[0])
    if origin is list and len(args) == 1 and args[0] in _PLURALS:
        return f"a list of {_PLURALS[args[0]]}"
    if annotation in _NAMES:
        return _NAMES[annotation]
    raise TypeError(f"unsupported parameter annotation {annotation!r}")


def _constraints(metadata: tuple[Any, ...]) -> list[Any]:
    """The annotated_types constraints in Annotated metadata (Field(...) holds them in .metadata)."""
    out = []
    for item in metadata:
        out.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return out


def _constrained(base: Any, constraints: list[Any]) -> str:
    lower = upper = None
    non_empty = False
    for c in constraints:
        if isinstance(c, (at.Ge, at.Gt)):
            lower = ("[", c.ge) if isinstance(c, at.Ge) else ("(", c.gt)
        elif isinstance(c, (at.Le, at.Lt)):
            upper = ("]", c.le) if isinstance(c, at.Le) else (")", c.lt)
        elif isinstance(c, at.MinLen) and c.min_length == 1:
            non_empty = True
        else:
            raise TypeError(f"unsupported constraint {c!r} on {base!r}")
    words = describe(base)
    if non_empty:
        if not words.startswith("a list"):
            raise TypeError(f"unsupported constraint min_length on {base!r}")
        return words.replace("a list", "a non-empty list", 1)
    if lower and upper:
        return f"{words} in {lower[0]}{lower[1]}, {upper[1]}{upper[0]}"
    if lower:
        return f"{words} {'>=' if lower[0] == '[' else '>'} {lower[1]}"
    if upper:
        return f"{words} {'<=' if upper[0] == ']' else '<'} {upper[1]}"
    return words
