"""docs/config.md is generated from the config models, complete and up to date."""

from __future__ import annotations

import re
import typing
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from finfusion.experiments.config import RunConfig
from finfusion.experiments.config_reference import (
    COMMAND,
    prose,
    render_config_reference,
    sections,
    type_name,
    write_config_reference,
)
from finfusion.experiments.rl_config import RlConfig

DOC = Path(__file__).parents[2] / "docs" / "config.md"


@pytest.fixture(scope="module")
def reference() -> str:
    return render_config_reference()


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row, split on unescaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _row(text: str, heading: str, key: str) -> dict[str, str]:
    """The row of `key` in the table under the first heading that contains `heading`."""
    start = next(i for i, line in enumerate(text.splitlines()) if line.startswith("#") and heading in line)
    for line in text.splitlines()[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith(f"| `{key}` |"):
            return dict(zip(("key", "type", "default", "allowed", "description"), _cells(line), strict=True))
    raise AssertionError(f"no row {key!r} under the heading {heading!r}")


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every leaf key of `model`: a list item is `<i>`; the members of a union of models share the path."""
    paths = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        children = _models(field.annotation, in_list=False)
        if not children:
            paths.add(path)
        for child, in_list in children:
            paths |= _leaf_paths(child, f"{path}.<i>" if in_list else path)
    return paths


def _models(annotation: Any, *, in_list: bool) -> set[tuple[type[BaseModel], bool]]:
    if typing.get_origin(annotation) is Annotated:
        return _models(typing.get_args(annotation)[0], in_list=in_list)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {(annotation, in_list)}
    nested = in_list or typing.get_origin(annotation) is list
    found = set().union(*(_models(a, in_list=nested) for a in typing.get_args(annotation)))
    direct = {m for m, listed in found if not listed}
    return {(m, listed) for m, listed in found if not (listed and m in direct)}  # X | list[X]: X's path


def test_committed_reference_is_up_to_date(reference):
    assert DOC.is_file(), f"{DOC} is missing; generate it with `{COMMAND}`"
    assert DOC.read_text(encoding="utf-8") == reference, (
        f"{DOC} is out of date with the config models; regenerate it with `{COMMAND}` "
        "(or `finfusion config-reference --out docs/config.md`) and commit it"
    )


@pytest.mark.parametrize("model", [RunConfig, RlConfig], ids=["RunConfig", "RlConfig"])
def test_every_leaf_key_has_a_row(reference, model):
    rows = {_cells(line)[0].strip("`") for line in reference.splitlines() if line.startswith("| `")}
    missing = sorted(_leaf_paths(model) - rows)
    assert not missing, f"keys without a row in the reference: {missing}"
    assert {"data.benchmark.rule", "protocol.window", "protocol.train_size", "models.<i>.params",
            "analysis.privacy.models.<i>.name", "features.sentiment.scorer"} <= _leaf_paths(RunConfig)


def test_every_table_row_has_five_cells(reference):
    """A pipe inside a value (text.separator ' | ') is escaped and does not split its cell."""
    bad = [line for line in reference.splitlines() if line.startswith("| `") and len(_cells(line)) != 5]
    assert not bad, bad
    assert _row(reference, "`text` (TextConfig)", "text.separator")["default"] == r"`' \| '`"


def test_hand_checked_keys(reference):
    kind = _row(reference, "`target` (TargetConfig)", "target.kind")
    assert kind["default"] == "`return`"
    assert kind["allowed"] == "`return`, `log_return`, `direction`, `close`"
    window = _row(reference, "kind: rolling", "protocol.window")
    assert (window["type"], window["default"], window["allowed"]) == ("`int`", "`90`", "≥ 2")
    assert _row(reference, "kind: walk_forward", "protocol.valid")["default"] == "`0`"
    assert _row(reference, "kind: chronological", "protocol.valid")["default"] == "`0.1`"
    assert _row(reference, "Top level (RunConfig)", "protocol")["default"] == "`{kind: rolling}`"
    assert _row(reference, "Top level (RunConfig)", "models")["default"] == "*required*"
    assert _row(reference, "Top level (RunConfig)", "models")["allowed"] == "at least 1 item(s)"
    assert _row(reference, "Top level (RunConfig)", "sweep")["type"] == "`SweepConfig \\| None`"
    band = _row(reference, "`features.sentiment`", "features.sentiment.neutral_band")
    assert (band["default"], band["allowed"]) == ("`0.05`", "≥ 0.0, < 1.0")
    assert _row(reference, "`data` (DataConfig)", "data.tickers")["type"] == "`list[str] \\| None`"
    rule = _row(reference, "`data.benchmark`", "data.benchmark.rule")
    assert rule["allowed"] == "`paper`, `any_tweet`, `code`" and "which targets count" in rule["description"]
    eps = _row(reference, "`analysis.privacy`", "analysis.privacy.epsilons")
    assert eps["default"] == "`[0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, .inf]`"


def test_rl_section(reference):
    rl = reference[reference.index("## RL portfolio runs"):]
    assert _row(rl, "Top level (RlConfig)", "kind")["allowed"] == "`rl`"
    assert _row(rl, "`env` (EnvConfig)", "env.commission")["allowed"] == "≥ 0.0, < 0.5"
    assert _row(rl, "`text` (RlTextConfig)", "text.sentiment")["default"] == "`{stats: [mean, has_text]}`"
    assert "### `data` (DataConfig)" not in rl  # shared with a prediction run: shown once, above


class _Inner(BaseModel):
    """Inner docs."""

    when: date = Field(date(2020, 1, 2), description="a date")


class _A(BaseModel):
    kind: Literal["a"]
    size: int = Field(3, gt=0, le=9)


class _B(BaseModel):
    kind: Literal["b"]
    rate: float | None = None


class _Toy(BaseModel):
    inner: _Inner = Field(default_factory=_Inner)
    items: list[_Inner] = Field(default_factory=list)
    either: Annotated[_A | _B, Field(discriminator="kind")]
    one_or_many: _Inner | list[_Inner] = Field(default_factory=_Inner)
    table: dict[str, list[Any]] = Field(default_factory=dict)


def test_sections_walk_nested_lists_and_discriminated_unions():
    found = {(s.path, s.model.__name__, s.note): [r[0] for r in s.rows] for s in sections(_Toy)}
    assert found == {
        ("", "_Toy", ""): ["`inner`", "`items`", "`either`", "`one_or_many`", "`table`"],
        ("inner", "_Inner", ""): ["`inner.when`"],
        ("items.<i>", "_Inner", "a list item"): ["`items.<i>.when`"],
        ("either", "_A", "kind: a"): ["`either.kind`", "`either.size`"],
        ("either", "_B", "kind: b"): ["`either.kind`", "`either.rate`"],
        ("one_or_many", "_Inner", "or a list of them, `one_or_many.<i>`"): ["`one_or_many.when`"],
    }
    a = next(s for s in sections(_Toy) if s.model is _A)
    assert a.rows[1][2:4] == ("`3`", "> 0, ≤ 9")
    assert a.rows[0][2:4] == ("*required*", "`a`")
    inner = next(s for s in sections(_Toy) if s.path == "inner")
    assert inner.rows[0][2] == "`2020-01-02`"


@pytest.mark.parametrize(("annotation", "expected"), [
    (list[str] | None, "list[str] | None"),
    (dict[str, list[Any]], "dict[str, list[Any]]"),
    (tuple[float, ...] | None, "list[float] | None"),  # a frozen list: written as a YAML list
    (tuple[int, int], "tuple[int, int]"),
    (None | int, "int | None"),
    (Literal["x", "y"], "str"),
    (Annotated[int, Field(ge=1)], "int"),
])
def test_type_names(annotation, expected):
    assert type_name(annotation) == expected


def test_prose_escapes_angle_brackets_outside_code_spans():
    assert prose("names SIM<i>,\n  `a<b` and  r <= x") == r"names SIM\<i>, `a<b` and r \<= x"


def test_write_config_reference(tmp_path, reference):
    out = write_config_reference(tmp_path / "sub" / "config.md")
    assert out.read_text(encoding="utf-8") == reference
