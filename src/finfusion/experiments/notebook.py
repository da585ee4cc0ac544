"""The notebook API: run a config on your own frames and read a finished run.

    import finfusion as ff

    data = ff.load_frames(prices_df, texts_df, close_time="16:00", timezone="America/New_York")
    run = ff.run("my.yaml", data=data, protocol__window=60)   # a YAML path, a dict, a recipe name or a RunConfig
    run.metrics, run.predictions, run.report_path, run.dir
    again = ff.open_run(run.dir)                               # the same view of a finished run

`run` is the CLI's `finfusion run` as a function: the same config validation, the same run
directory, the same outputs. In-memory frames are first saved as Parquet files (content-
addressed, under `<output.dir>/frames/<sha256[:16]>/`, with the record of what loading them
dropped), and the run reads those files like any `data.source: files` run — so a run on frames
and a run of the CLI on the same tables give identical predictions, and both resume with
`finfusion run --resume RUN_DIR` or `ff.resume(RUN_DIR)`.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

import finfusion.io as io
from finfusion.data.loaded import LoadedData
from finfusion.data.predictions import Predictions
from finfusion.errors import ConfigError
from finfusion.experiments.config import (
    DataConfig,
    MarketConfig,
    RunConfig,
    apply_overrides,
    load_named_config,
    parse_config,
    resolve_paths,
)
from finfusion.experiments.kinds import run as run_any
from finfusion.experiments.overrides import with_values
from finfusion.experiments.rl_config import RlConfig
from finfusion.experiments.run_layout import finished_run
from finfusion.experiments.rundir import load_run_config, recorded_warnings

# data keys a config may keep when it runs on given frames: filters of what the frames hold
FRAME_COMPATIBLE = frozenset({"tickers", "start", "end", "on_invalid"})


class Run:
    """A run directory, read lazily: what `finfusion run` wrote, as Python objects.

    dir          the run directory
    config       the resolved config saved there (RunConfig, or RlConfig for `kind: rl`)
    metrics      one row per unit (sweep point x seed x model) and metric columns (metrics.csv)
    predictions  one row per (model, seed, point, date, ticker) test prediction (predictions.parquet,
                 validated); prediction_parts: the same as a typed `Predictions`
    summary      the mean metrics per model (metrics.json "summary"; an RL run: summary.json)
    data         data.json: source, fingerprints, samples, what cleaning removed
    report_path  report.html, or None when the run wrote no report (output.report: false)
    warnings     warnings the run recorded (e.g. a resume with changed inputs under --force)
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.kind, _, self._layout = finished_run(self.dir)  # ConfigError: not a run, or unfinished

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r})"

    @cached_property
    def config(self) -> RunConfig | RlConfig:
        return load_run_config(self.dir)

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.dir / self._layout.units.file)

    @cached_property
    def predictions(self) -> pd.DataFrame:
        path = self.dir / "predictions.parquet"
        if not path.is_file():
            raise ConfigError(f"{self.dir} has no predictions.parquet (an RL run writes daily.parquet: "
                              "see `.daily`)")
        return Predictions.read(path).to_frame()

    @cached_property
    def prediction_parts(self) -> Predictions:
        """The predictions as a typed object: core columns and the named parts (proba, attention,
        components, truth, shap); see `finfusion.data.predictions`."""
        return Predictions.from_frame(self.predictions)

    @cached_property
    def daily(self) -> pd.DataFrame:
        """An RL run's daily portfolio returns and weights (daily.parquet)."""
        return io.read_parquet(self.dir / "daily.parquet")

    @cached_property
    def summary(self) -> pd.DataFrame | dict:
        if (self.dir / "metrics.json").is_file():
            return pd.DataFrame(io.read_json(self.dir / "metrics.json")["summary"])
        return io.read_json(self.dir / "summary.json")

    @cached_property
    def data(self) -> dict:
        return io.read_json(self.dir / "data.json")

    @property
    def report_path(self) -> Path | None:
        path = self.dir / "report.html"
        return path if path.is_file() else None

    @property
    def warnings(self) -> list[str]:
        return recorded_warnings(self.dir)


def open_run(run_dir: str | Path) -> Run:
    """The finished run in `run_dir` (ConfigError when it is not a run or not finished)."""
    return Run(run_dir)


def run(
    config: str | Path | dict[str, Any] | RunConfig | RlConfig,
    data: LoadedData | None = None,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    **overrides: Any,
) -> Run:
    """Run `config` (a YAML path, a recipe name, a raw dict or a config object) and return its `Run`.

    data       frames from `finfusion.load_frames`: the run reads them instead of the config's
               data section (which may only filter them: tickers, start, end); their market
               close and time zone become the config's `market` (a config that sets others is
               refused). None: the config's own data.
    out        run directory (default `<output.dir>/<name>-<time>`); overwrite as `--overwrite`.
    progress   show progress bars (default: the config's `progress`).
    overrides  config values by dotted path with `__` for the dots, e.g. `protocol__window=60`,
               `models__0__params__epochs=5` (as `--set protocol.window=60`).
    """
    resolved = load_run(config, overrides)
    if data is not None:
        resolved = with_frames(resolved, data)
    out = Path(out) if out is not None else None
    return Run(run_any(resolved, run_dir=out, progress=progress, overwrite=overwrite).run_dir)


def resume(run_dir: str | Path, *, force: bool = False, progress: bool | None = None) -> Run:
    """Continue an interrupted run (as `finfusion run --resume RUN_DIR [--force]`)."""
    return Run(run_any(None, run_dir=Path(run_dir), resume=True, progress=progress, force=force).run_dir)


def load_run(config: str | Path | dict[str, Any] | RunConfig | RlConfig,
             overrides: dict[str, Any] | None = None) -> RunConfig | RlConfig:
    """A validated config with relative paths resolved (a file's from its folder, others' from the
    working directory) and `overrides` (`a__b=value` for `a.b`) applied."""
    sets = [f"{key.replace('__', '.')}={_yaml_value(value)}" for key, value in (overrides or {}).items()]
    if isinstance(config, dict):
        parsed = parse_config(apply_overrides(config, sets), source="the config dict")
        return resolve_paths(parsed, Path.cwd())
    if isinstance(config, (RunConfig, RlConfig)):
        given = [(key.replace("__", "."), value) for key, value in (overrides or {}).items()]
        return resolve_paths(with_values(config, given, source="the overrides"), Path.cwd())
    if not isinstance(config, (str, Path)):
        raise TypeError(f"config must be a YAML path, a recipe name, a dict or a RunConfig, got {type(config).__name__}")
    return load_named_config(config, sets)


def _yaml_value(value: Any) -> str:
    """A Python value as the YAML text of a `--set` override (dates and paths as strings)."""
    return json.dumps(value if isinstance(value, (int, float, bool, list, dict, type(None))) else str(value))


def with_frames(config: RunConfig | RlConfig, data: LoadedData) -> RunConfig | RlConfig:
    """`config` reading the frames of `data` (saved under `<output.dir>/frames/`), with their market."""
    if not isinstance(data, LoadedData):
        raise TypeError(f"data must come from finfusion.load_frames(...), got {type(data).__name__}")
    own = sorted(set(config.data.model_fields_set) - FRAME_COMPATIBLE)
    if own:
        raise ConfigError(f"run(data=...) reads the given frames, but the config names its own data "
                          f"(data.{', data.'.join(own)}); remove those keys or pass data=None")
    market = {"close_time": data.close_time, "timezone": data.timezone, "calendar": data.calendar}
    clash = [f"market.{k}: {getattr(config.market, k)!r} (frames: {v!r})" for k, v in market.items()
             if k in config.market.model_fields_set and getattr(config.market, k) != v]
    if clash:
        raise ConfigError("the config's market differs from the one the frames were aligned with: "
                          + "; ".join(clash) + "; pass the same close_time / timezone / calendar to load_frames")
    files = data.save(io.safe_join(config.output.dir, "frames"))
    kept = {k: getattr(config.data, k) for k in config.data.model_fields_set & FRAME_COMPATIBLE}
    data_config = DataConfig.model_validate({**kept, "source": "files", **files})
    return config.model_copy(update={"data": data_config, "market": MarketConfig(**market)})
