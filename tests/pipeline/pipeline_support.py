"""Helpers of the pipeline tests (imported by conftest and the test modules)."""

from __future__ import annotations

from pathlib import Path

from finfusion.experiments.config import parse_config

WINDOW = 40


def run_config(prices: Path, texts: Path, models: list[dict] | None = None, **sections) -> dict:
    """A rolling-protocol run over the files (one fold per day, refit every fold, the last 4 days)."""
    return {
        "name": "pipe", "progress": False, "seed": 3,
        "data": {"source": "files", "prices": str(prices), "texts": str(texts)},
        "features": {"groups": ["returns", "extra"]},
        "models": models or [{"name": "mlp", "label": "MLP", "params": {"hidden": 8, "epochs": 3}}],
        "protocol": {"kind": "rolling", "window": WINDOW, "step": 1, "refit_every": 1, "max_folds": 4},
        "output": {"plots": False, "report": False},
        **sections,
    }


def config_of(raw: dict):
    return parse_config(raw, source="test")
