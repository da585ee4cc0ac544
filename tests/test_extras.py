"""The test extra includes every optional extra, so that CI (which installs `.[test]`) exercises them."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def test_the_test_extra_holds_every_requirement_of_every_other_extra():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    test = set(extras.pop("test"))
    missing = {name: sorted(set(requirements) - test) for name, requirements in extras.items()}
    assert {name: reqs for name, reqs in missing.items() if reqs} == {}
    assert {"ray", "serve", "optuna", "calendars"} <= set(extras)
