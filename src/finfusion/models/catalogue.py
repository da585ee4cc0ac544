"""The catalogue of registered models as data (`catalogue.json`, packaged), so that listing them
(`finfusion models`) needs neither torch nor the model modules: 0.2 s instead of ~7 s.

    read_catalogue()      # [{name, class, tasks, uses_text, params: {name: default}}], from the JSON file
    build_catalogue()     # the same from the registry itself (imports every model)

The file is generated from the registry (`python -m finfusion.models.catalogue`), like
docs/config.md from the config models; `tests/models/test_catalogue.py` fails when it is out of
date, so the fast listing cannot drift from the models.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).with_name("catalogue.json")


def build_catalogue() -> list[dict[str, Any]]:
    """Every registered predictor: name, class, tasks, uses_text and its parameters' defaults."""
    from finfusion.models.registry import available_predictors, get_predictor_class  # the heavy part, on purpose

    models = []
    for name in available_predictors():
        cls = get_predictor_class(name)
        params = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"}
        models.append({"name": name, "class": cls.__name__, "tasks": list(cls.tasks), "uses_text": cls.uses_text,
                       "params": params})
    return json.loads(json.dumps(models))  # JSON's spelling (tuples as lists), as read_catalogue gives it


def read_catalogue(path: Path = CATALOGUE) -> list[dict[str, Any]]:
    """The packaged catalogue (no model is imported)."""
    return json.loads(path.read_text(encoding="utf-8"))


def write_catalogue(path: Path = CATALOGUE) -> Path:
    path.write_text(json.dumps(build_catalogue(), indent=1) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write_catalogue(Path(sys.argv[1]) if len(sys.argv) > 1 else CATALOGUE)}")
