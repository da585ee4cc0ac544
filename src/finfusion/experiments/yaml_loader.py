"""Read YAML configs safely: no Python objects, no duplicate keys, bounded size and alias expansion.

`load_yaml(text, source=...)` returns plain data (dicts, lists, scalars, dates) or raises one
`ConfigError` naming the source and the line:

- PyYAML's safe loader (a `!!python/...` tag is refused), reading 1e-5 (no decimal point) as a
  float and 16:00 as text (not YAML 1.1's base-60 number 960), as YAML 1.2 does;
- a key given twice in one mapping is an error (YAML says keys are unique; PyYAML silently keeps
  the last value);
- a document over `MAX_YAML_CHARS` characters, or one whose aliases expand to more than
  `MAX_YAML_VALUES` values (a "billion laughs" alias bomb: nine nested levels of 9 aliases expand
  to 387 million values), or a recursive alias, is refused before anything is built from it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from finfusion.errors import ConfigError

MAX_YAML_CHARS = 2_000_000  # a config is a few kB; recipes are < 10 kB
MAX_YAML_VALUES = 200_000  # scalars + collections after alias expansion
MAX_ECHO_CHARS = 200  # longest value echoed back in an error message


class _YamlLoader(yaml.SafeLoader):
    """The safe loader, with 1e-5 as a float, no base-60 numbers and duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found the key {shorten(key)} twice (first on line {first.line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
# YAML 1.1's base-60 numbers are gone (as in YAML 1.2): `close_time: 16:00` is the text "16:00", not 960
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_YamlLoader.add_implicit_resolver(
    _FLOAT, re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)
_YamlLoader.add_implicit_resolver(  # 1e-5 (no decimal point) is a float, as in YAML 1.2
    _FLOAT, re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"),
)


def load_yaml(text: str, *, source: str = "<yaml>") -> Any:
    """Parse YAML text safely (module docstring); ConfigError naming `source` on any problem."""
    if len(text) > MAX_YAML_CHARS:
        raise ConfigError(f"{source}: {len(text):,} characters; a config may have at most {MAX_YAML_CHARS:,}")
    loader = _YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        count = _expanded_size(node, {}, set())
        if count > MAX_YAML_VALUES:
            raise ConfigError(f"{source}: the YAML expands to more than {MAX_YAML_VALUES:,} values "
                              "(nested or recursive aliases?); a config this large is refused")
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {_yaml_message(err)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: the YAML nests too deeply") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int]) -> int:
    """Number of values `node` stands for once every alias is expanded (memoised per node)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:  # a recursive alias (an anchor used inside itself) expands forever
        return MAX_YAML_VALUES + 1
    active.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, sizes, active)
            if total > MAX_YAML_VALUES:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, sizes, active) + _expanded_size(v, sizes, active)
            if total > MAX_YAML_VALUES:
                break
    active.discard(key)
    sizes[key] = total
    return total


def _yaml_message(err: yaml.YAMLError) -> str:
    """PyYAML's message on one or two lines, with the line and column, without echoing the document."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark, context = err.problem_mark or err.context_mark, err.context
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        if context and err.context_mark is not None and err.context_mark.line != mark.line:
            context += f" (from line {err.context_mark.line + 1}, column {err.context_mark.column + 1})"
        what = " ".join(p for p in (context, err.problem) if p)
        return shorten_text(where + what, 2 * MAX_ECHO_CHARS)
    return shorten_text(str(err), 2 * MAX_ECHO_CHARS)


def shorten(value: Any) -> str:
    """repr(value), cut to MAX_ECHO_CHARS characters for an error message."""
    return shorten_text(repr(value), MAX_ECHO_CHARS)


def shorten_text(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text):,} characters)"
