"""What a finished run directory of each kind holds: the one table that every reader of run
directories (`open_run`, `finfusion compare`, `finfusion track`) uses to tell a finished run from
an unfinished one and to find its per-unit metrics.

    kind, raw, layout = finished_run(run_dir)     # ConfigError naming what is missing and how to finish
    pd.read_csv(run_dir / layout.units.file)     # one row per unit; layout.units.keys name the row

Kept free of the config models (it only reads `config.yaml` as YAML), so that the config's own
sections (e.g. `tracking`) may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finfusion.errors import ConfigError
from finfusion.experiments.yaml_loader import load_yaml

CONFIG = "config.yaml"


@dataclass(frozen=True)
class UnitTable:
    """A kind's per-unit metrics table: one row per unit (and baseline); `keys` name the row, the
    other numeric columns are its metrics; `history` (optional): per-`step` values of each row."""

    file: str
    keys: tuple[str, ...]
    history: str | None = None
    step: str = "epoch"


@dataclass(frozen=True)
class RunLayout:
    """`units`: the per-unit metrics table; `finished`: files that exist once the run finished
    (written by its summary, the last of them last)."""

    units: UnitTable
    finished: tuple[str, ...]


LAYOUTS: dict[str, RunLayout] = {
    "predict": RunLayout(UnitTable("metrics.csv", ("model", "point", "seed")), ("metrics.csv", "metrics.json")),
    "rl": RunLayout(UnitTable("metrics.csv", ("strategy", "group", "commission", "seed")),
                    ("metrics.csv", "summary.json")),
    "sentiment": RunLayout(UnitTable("results.csv", ("trial", "lr", "batch_size", "epochs"), history="history.csv"),
                           ("results.csv", "best.json")),
}


def saved_config(run_dir: Path) -> dict[str, Any]:
    """The raw mapping of `run_dir`'s config.yaml (ConfigError when it is not a run directory)."""
    path = Path(run_dir)
    if not path.exists():
        raise ConfigError(f"{path} does not exist (expected a run directory written by `finfusion run`)")
    if not path.is_dir():
        raise ConfigError(f"{path} is a file, not a run directory")
    source = path / CONFIG
    if not source.is_file():
        raise ConfigError(f"{path} is not a run directory: {source} is missing")
    raw = load_yaml(source.read_text(encoding="utf-8"), source=str(source))
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} is not a run's config (expected a mapping, got {type(raw).__name__})")
    return raw


def finished_run(run_dir: str | Path) -> tuple[str, dict[str, Any], RunLayout]:
    """(kind, raw config, layout) of the finished run in `run_dir`; a ConfigError names a missing
    directory, a directory that is not a run, an unknown kind or the files an unfinished run lacks."""
    path = Path(run_dir)
    raw = saved_config(path)
    kind = str(raw.get("kind") or "predict")
    if kind not in LAYOUTS:
        raise ConfigError(f"{path / CONFIG}: unknown run kind {kind!r}; known: {', '.join(LAYOUTS)}")
    layout = LAYOUTS[kind]
    missing = [f for f in layout.finished if not (path / f).is_file()]
    if missing:
        raise ConfigError(f"{path} holds an unfinished {kind} run ({', '.join(missing)} missing); continue it "
                          f"with `finfusion run --resume {path}` (Python: ff.resume({str(path)!r}))")
    return kind, raw, layout
