"""Packaged recipes: one YAML per experiment design."""

from __future__ import annotations

from pathlib import Path

RECIPES_DIR = Path(__file__).parent


def available_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name: str) -> Path:
    path = RECIPES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no recipe named {name!r}; available: {', '.join(available_recipes())}")
    return path
