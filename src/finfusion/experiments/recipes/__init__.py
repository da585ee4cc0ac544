"""Packaged recipes: one YAML per experiment design and its description (loading one by name:
`finfusion.experiments.config.load_named_config`). Imports nothing heavy: `finfusion recipes` lists them fast."""

from __future__ import annotations

import re
from pathlib import Path

RECIPES_DIR = Path(__file__).parent


def available_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name: str) -> Path:
    path = RECIPES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no recipe named {name!r}; available: {', '.join(available_recipes())}")
    return path


def recipe_description(text: str) -> str:
    """The first paragraph of the comment block that opens a recipe YAML, as one line ("" if none):
    the leading '#' lines up to the first blank comment line or the first line that is not a comment."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#") or not line.lstrip("#").strip():
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


# Words that end with a period without ending a sentence ("eq. 28-29", "e.g. the", "vs. the").
ABBREVIATIONS = ("eq", "eqs", "e.g", "i.e", "vs", "cf", "fig", "no", "approx", "al", "etc", "resp", "sec")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def first_sentence(paragraph: str) -> str:
    """`paragraph` up to the end of its first sentence (a '.', '!' or '?' followed by a space and not
    ending one of ABBREVIATIONS); the whole paragraph when no sentence ends before its end."""
    for match in SENTENCE_END.finditer(paragraph):
        head = paragraph[: match.start()]
        word = head.split()[-1].rstrip(".!?").lstrip("(").lower()
        if word not in ABBREVIATIONS:
            return head
    return paragraph
