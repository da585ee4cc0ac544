"""Dotted-path changes of a config: `--set key=value` into the raw (not yet validated) mapping,
and sweep points into a validated config (`with_values`).

    apply_overrides(raw, ["models.0.params.epochs=5", "protocol.test_start=2015-10-01"])
    dict(dotted_items(raw))       # {"models.0.params.epochs": 5, ...}: the same keys, read back
    select_models(raw, ["HAN", "prior"])  # keep only these model specs (by label or name)

Each value is parsed as YAML (`5` is an int, `2015-10-01` a date, `[a, b]` a list); list items
are addressed by number; a missing mapping on the way is created. Problems are ConfigErrors that
name the override.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from finfusion.errors import ConfigError
from finfusion.experiments.yaml_loader import load_yaml, shorten


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of `raw` with each 'a.b.0.c=value' set (value parsed as YAML)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        set_path(raw, key.strip(), load_yaml(value, source=f"--set {item}"))
    return raw


def select_models(raw: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """A copy of `raw` whose `models` list keeps only the specs named in `wanted`, each by its label
    or its registered name (a name keeps every spec of that model), in the config's order: a
    subset of a recipe for a quick run (`finfusion run stocknet --models "Train prior,HAN"`).
    A name that matches no spec is a ConfigError listing the labels there are."""
    specs = raw.get("models")
    if not isinstance(specs, list) or not specs:
        raise ConfigError("--models selects among the config's models, but it has no 'models' list")
    names = [s.strip() for s in wanted if s.strip()]
    if not names:
        raise ConfigError("--models needs at least one model label or name")

    def keys(spec: Any) -> set[str]:
        if not isinstance(spec, dict):
            return set()
        return {str(spec.get("label") or spec.get("name")), str(spec.get("name"))}

    unknown = [n for n in names if not any(n in keys(spec) for spec in specs)]
    if unknown:
        shown = ", ".join(repr(str(s.get("label") or s.get("name"))) for s in specs if isinstance(s, dict))
        raise ConfigError(f"--models: no model labelled or named {', '.join(map(repr, unknown))}; "
                          f"the config's models are {shown}")
    return {**raw, "models": [spec for spec in specs if keys(spec) & set(names)]}


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `raw[a][b][0][c] = value` for dotted 'a.b.0.c', creating mappings on the way."""
    parts = dotted.split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        node = _child(node, part, dotted, create=not parts[i + 1].isdigit())
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"--set {dotted}: {last!r} is not an index of a list of {len(node)}")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        parent = dotted.rsplit(".", 1)[0]
        raise ConfigError(f"--set {dotted}: {parent} is {shorten(node)}, not a mapping with keys")


def _child(node: Any, part: str, dotted: str, *, create: bool) -> Any:
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise ConfigError(f"--set {dotted}: {part!r} is not an index of a list of {len(node)}")
        return node[int(part)]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {dotted}: cannot descend into {part!r}, its parent is not a mapping")
    if part not in node or node[part] is None:
        if not create:
            raise ConfigError(f"--set {dotted}: {part!r} must already be a list")
        node[part] = {}
    return node[part]


def with_values(config: BaseModel, sets: list[tuple[str, Any]], *, source: str) -> Any:
    """A copy of the validated `config` with each (dotted path, value) set: every model on the
    path is validated again with the new value (its validators run), the rest is shared, not
    copied. A bad path or value is a ConfigError naming `source` and the path."""
    for dotted, value in sets:
        try:
            config = _with(config, dotted.split("."), value, dotted)
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or dotted}: {e['msg'].removeprefix('Value error, ')}"
                                 for e in err.errors())
            raise ConfigError(f"invalid configuration in {source}: {dotted}={shorten(value)}: {problems}") from None
    return config


def _with(node: Any, parts: list[str], value: Any, dotted: str) -> Any:
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if isinstance(node, BaseModel):
        fields = type(node).model_fields
        if head not in fields:
            raise ConfigError(f"{dotted}: {head!r} is not a key here (keys: {', '.join(fields)})")
        values = {name: getattr(node, name) for name in fields}
        values[head] = _with(values[head], rest, value, dotted)
        return type(node).model_validate(values)
    if isinstance(node, list):
        if not head.isdigit() or int(head) >= len(node):
            raise ConfigError(f"{dotted}: {head!r} is not an index of a list of {len(node)}")
        return [_with(item, rest, value, dotted) if i == int(head) else item for i, item in enumerate(node)]
    if isinstance(node, dict):
        return {**node, head: _with(node.get(head), rest, value, dotted) if rest else value}
    if node is None and rest:
        return {head: _with(None, rest, value, dotted)}
    raise ConfigError(f"{dotted}: cannot descend into {head!r}, its parent is {shorten(node)}")


def dotted_items(raw: Any, prefix: str = "", *, plain_lists: bool = False) -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf value) of a nested config mapping, the keys as `--set` takes them: list
    items by number (`models.0.name`). With `plain_lists` a list of plain values stays one value
    (`seeds`: [0, 1]); an empty mapping or list is a leaf. The one flattening of configs (run
    directories' input paths, `finfusion compare`'s config differences, MLflow params)."""
    if isinstance(raw, dict) and raw:
        for key, value in raw.items():
            yield from dotted_items(value, f"{prefix}.{key}" if prefix else str(key), plain_lists=plain_lists)
    elif isinstance(raw, list) and raw and not (plain_lists and not any(isinstance(v, dict | list) for v in raw)):
        for i, value in enumerate(raw):
            yield from dotted_items(value, f"{prefix}.{i}", plain_lists=plain_lists)
    else:
        yield prefix, raw
