"""The configuration reference (docs/config.md), generated from the pydantic config models.

Every key of a prediction run (`RunConfig`), an RL run (`RlConfig`, `kind: rl`) and a sentiment
run (`SentimentRunConfig`, `kind: sentiment`) with its
type, default, allowed values or bounds and description, read from `model_fields`: the models are
the one home of the keys, this module only renders them. Regenerate the committed file with

    python -m finfusion.experiments.config_reference docs/config.md

Paths are dotted as in `--set` overrides: a list item is `<i>` (`models.<i>.params` is set as
`models.0.params.hidden=32`); the members of a union of sections (`protocol`: chronological,
rolling, walk_forward) each get their own table, keyed by the member's `kind`.
"""

from __future__ import annotations

import inspect
import math
import sys
import types
import typing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from finfusion.experiments.config import RunConfig
from finfusion.experiments.rl_config import RlConfig
from finfusion.experiments.sentiment_config import SentimentRunConfig
from finfusion.io import write_text

COMMAND = "python -m finfusion.experiments.config_reference docs/config.md"
_COLUMNS = ("key", "type", "default", "allowed", "description")


@dataclass(frozen=True)
class Section:
    """One table: the fields of one config model at one dotted path."""

    path: str  # e.g. "data.benchmark", "" for the top level
    model: type[BaseModel]
    note: str = ""  # e.g. "kind: rolling", "a list item"
    rows: tuple[tuple[str, ...], ...] = ()  # one (key, type, default, allowed, description) per field


# -- types, defaults, bounds ---------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` -> X (repeatedly)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def type_name(annotation: Any) -> str:
    """A readable type: `list[str] | None`, `dict[str, list[Any]]`, `tuple[float, float]`; a
    Literal is named by the type of its values (the values go to the "allowed" column)."""
    annotation = _unwrap(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None) or annotation is None:
        return "None"
    if annotation is Any:
        return "Any"
    if origin is Literal:
        return " | ".join(dict.fromkeys(type(a).__name__ for a in args))
    if _is_union(annotation):
        members = sorted(args, key=lambda a: a is type(None))  # None last
        return " | ".join(type_name(a) for a in members)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:  # a frozen (hashable) list: a YAML list
        return f"list[{type_name(args[0])}]"
    if origin is not None:
        shown = ["..." if a is Ellipsis else type_name(a) for a in args]
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(shown)}]"
    return getattr(annotation, "__name__", str(annotation))


def literal_values(annotation: Any) -> list[Any]:
    """Every value of every Literal inside `annotation` (through unions, lists, Annotated)."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    return [v for a in typing.get_args(annotation) for v in literal_values(a)]


def models_in(annotation: Any) -> dict[type[BaseModel], set[str]]:
    """The config models inside `annotation`, each with where it appears: {"mapping"} (`SweepConfig
    | None`), {"item"} (`list[ModelSpec]`) or both (`SentimentSpec | list[SentimentSpec]`)."""
    found: dict[type[BaseModel], set[str]] = {}

    def visit(a: Any, in_list: bool) -> None:
        a = _unwrap(a)
        if isinstance(a, type) and issubclass(a, BaseModel):
            found.setdefault(a, set()).add("item" if in_list else "mapping")
            return
        is_list = typing.get_origin(a) in (list, tuple)
        for arg in typing.get_args(a):
            visit(arg, in_list or is_list)

    visit(annotation, False)
    return found


def fmt_value(value: Any) -> str:
    """A value as it is written in YAML (flow style): `null`, `.inf`, `'16:00'`, `[0.1, .inf]`."""
    if isinstance(value, BaseModel):
        return fmt_value(value.model_dump(mode="python", exclude_defaults=True))  # what differs from its defaults
    text = yaml.safe_dump(_plain(value), default_flow_style=True, width=math.inf, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _plain(value: Any) -> Any:
    """Values YAML can write: dates stay dates (written unquoted), tuples become lists, paths and
    times strings; inf stays a float (`.inf`)."""
    if isinstance(value, date):
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return to_jsonable_python(value)


def default_text(field: FieldInfo) -> str:
    """The default as a markdown cell: *required*, "see its table" (a section of defaults) or the
    value in YAML notation (a default_factory is called)."""
    if field.is_required():
        return "*required*"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel) and not value.model_dump(exclude_defaults=True):
        return "see its table"
    return f"`{fmt_value(value)}`"


_BOUNDS = (("ge", "≥ {}"), ("gt", "> {}"), ("le", "≤ {}"), ("lt", "< {}"),
           ("min_length", "at least {} item(s)"), ("max_length", "at most {} item(s)"))


def bounds(field: FieldInfo) -> list[str]:
    """The numeric and length constraints of a field (Field(ge=..., lt=..., min_length=...)): pydantic
    keeps each as a metadata object with that attribute (annotated_types.Ge(ge=2), MinLen(...))."""
    return [fmt.format(fmt_value(getattr(m, attr)))
            for m in field.metadata for attr, fmt in _BOUNDS if getattr(m, attr, None) is not None]


def allowed_text(field: FieldInfo) -> str:
    literals = ", ".join(f"`{fmt_value(v)}`" for v in dict.fromkeys(literal_values(field.annotation)))
    return "; ".join(part for part in (literals, ", ".join(bounds(field))) if part)


# -- walking the models --------------------------------------------------------------------------


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _kind_of(model: type[BaseModel], discriminator: str) -> str:
    """The discriminator's value of one union member (`kind: rolling`)."""
    values = literal_values(model.model_fields[discriminator].annotation)
    return f"{discriminator}: {', '.join(str(v) for v in values)}"


def _row(path: str, field: FieldInfo) -> tuple[str, ...]:
    return (f"`{path}`", f"`{type_name(field.annotation)}`", default_text(field),
            allowed_text(field), prose(field.description or ""))


def sections(model: type[BaseModel], path: str = "", note: str = "") -> list[Section]:
    """The table of `model` at `path`, then (depth first, in field order) those of its nested models."""
    rows, nested = [], []
    for name, field in model.model_fields.items():
        sub = _join(path, name)
        rows.append(_row(sub, field))
        found = models_in(field.annotation)
        discriminator = field.discriminator if isinstance(field.discriminator, str) else None
        for child, where in found.items():
            if discriminator and len(found) > 1:
                nested += sections(child, sub, _kind_of(child, discriminator))
            elif where == {"item"}:
                nested += sections(child, _join(sub, "<i>"), "a list item")
            else:
                nested += sections(child, sub, f"or a list of them, `{sub}.<i>`" if "item" in where else "")
    return [Section(path, model, note, tuple(rows)), *nested]


# -- markdown ------------------------------------------------------------------------------------


def prose(text: str) -> str:
    """Free text on one line, `<` escaped outside code spans (GitHub would read `SIM<i>` as italics)."""
    parts = " ".join(text.split()).split("`")
    return "`".join(p if i % 2 else p.replace("<", "\\<") for i, p in enumerate(parts))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe ends a table cell, even inside a code span


def _doc(model: type[BaseModel]) -> str:
    """The first paragraph of the model's own docstring (joined to one line), or ''."""
    doc = model.__dict__.get("__doc__")
    return prose(inspect.cleandoc(doc).split("\n\n")[0]) if doc else ""


def render_section(section: Section, level: int) -> str:
    title = f"`{section.path}`" if section.path else "Top level"
    extra = f", {section.note}" if section.note else ""
    lines = [f"{'#' * level} {title} ({section.model.__name__}{extra})", ""]
    if _doc(section.model):
        lines += [_doc(section.model), ""]
    lines += ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows]
    return "\n".join(lines) + "\n"


_INTRO = f"""\
# Configuration reference

<!-- Generated from the pydantic config models by `{COMMAND}`
     (or `finfusion config-reference --out docs/config.md`); do not edit by hand. -->

A run is one YAML file (or a packaged recipe, `finfusion recipes`). Unknown keys and bad values
are refused with the key path, the value received and what is allowed. Every key below can be
overridden on the command line with `--set key=value` (dotted paths; list items by number,
`--set models.0.params.epochs=5`). Relative paths are resolved from the config file's folder (for
a packaged recipe: the working directory). A recipe may also hold a top-level `quick:` mapping of
dotted paths to values, applied by `--quick` before the `--set` overrides.

Columns: *type* in Python notation (a section's type is its config class, described in its own
table); *default* as written in YAML (`null` = none, `.inf` = infinity; *required*: no default);
*allowed*: the closed choices and the bounds (≥, >, ≤, <) that validation enforces. The keys of
`models.<i>.params` are the keyword arguments of the named predictor (`finfusion models` lists
them with their defaults), checked against the predictor's signature when the config is read.
"""


def _and(items: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    return " and ".join(x for x in (", ".join(items[:-1]), items[-1] if items else "") if x)


def render_config_reference() -> str:
    """The whole reference as markdown: prediction runs (RunConfig), then RL runs (RlConfig), then
    sentiment runs (SentimentRunConfig); a later kind lists only the sections not shown above."""
    run = sections(RunConfig)
    shown = {(s.path, s.model) for s in run}
    parts = [_INTRO, "## Prediction runs (`finfusion run`)\n", *(render_section(s, 3) for s in run)]
    for model, title, intro in (
        (RlConfig, "RL portfolio runs (`kind: rl`)",
         "A config with `kind: rl` is an RL portfolio experiment (seed 002, `docs/rl.md`)."),
        (SentimentRunConfig, "Sentiment runs (`kind: sentiment`)",
         "A config with `kind: sentiment` fine-tunes the sentiment classifier, once or over a search "
         "grid (seed 004, `docs/sentiment.md`; recipe `seed004_sentiment`)."),
    ):
        kind = sections(model)
        shared = [f"`{s.path}`" for s in kind if (s.path, s.model) in shown and "." not in s.path]
        parts += [f"## {title}\n", f"{intro} Its {_and(shared)} sections are those shown above.\n"
                  if shared else f"{intro}\n"]
        parts += [render_section(s, 3) for s in kind if (s.path, s.model) not in shown]
        shown |= {(s.path, s.model) for s in kind}
    return "\n".join(parts)


def write_config_reference(path: str | Path) -> Path:
    """Write `render_config_reference()` to `path` (atomically); return the path."""
    return write_text(path, render_config_reference())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {COMMAND.replace('docs/config.md', 'PATH')}")
    print(f"wrote {write_config_reference(sys.argv[1])}")
