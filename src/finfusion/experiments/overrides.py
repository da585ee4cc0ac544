"""`--set key=value` overrides: dotted paths into a raw (not yet validated) config mapping.

    apply_overrides(raw, ["models.0.params.epochs=5", "protocol.test_start=2015-10-01"])

Each value is parsed as YAML (`5` is an int, `2015-10-01` a date, `[a, b]` a list); list items
are addressed by number; a missing mapping on the way is created. Problems are ConfigErrors that
name the override.
"""

from __future__ import annotations

import copy
from typing import Any

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
