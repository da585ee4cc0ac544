"""Experiment tracking: a finished run directory mirrored into MLflow (extra `[mlflow]`).

    tracking: {kind: mlflow, uri: sqlite:///mlflow.db, experiment: my-study}     # in any run config

    log_run(run_dir)                     # what `finfusion track RUN_DIR` does, for any finished run

The run directory stays the record; MLflow gets a copy, written once the run has finished (a
resumed run logs once, at its end). `experiments.execute` calls `check_tracking` before anything
runs (MLflow installed, its store usable: no run fails at its end for a missing package) and
`log_finished` after the kind's summary; a tracking failure then raises `TrackingError`, which
says that the run directory is complete and how to log it again. Without `tracking:` nothing here
imports mlflow.

What one run becomes in MLflow (docs/tracking.md):
- a parent run, named after the run directory: the resolved config (config.yaml) as params with
  dotted keys (`models.0.params.hidden`), tags naming the run directory and kind, and the run's
  files as artifacts (report.html, config.yaml, metrics, tables/, plots/, predictions.parquet; not
  units/ and checkpoints/, and model weights only with `model_files`);
- a nested child run per row of the run's per-unit metrics table (`run_layout.LAYOUTS`: a prediction
  unit, an RL agent or baseline, a sentiment trial), named by the row's keys (its params), with
  the row's numbers as metrics. Child runs rather than metric keys naming the unit: every child
  has the same metric names (mse, sharpe, ...), so MLflow's run table sorts, filters and charts
  the units against each other; unit-named keys would give one run hundreds of keys to compare.
A directory logged before (a parent run tagged with it, finished) is not logged twice, unless
`replace` (the earlier runs are then deleted: MLflow keeps them restorable until `mlflow gc`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field

from finfusion._version import __version__
from finfusion.errors import ConfigError, FinfusionError
from finfusion.experiments.overrides import dotted_items
from finfusion.experiments.run_layout import UnitTable, finished_run, saved_config
from finfusion.strict import _Strict

INSTALL = "pip install 'finfusion[mlflow]'"
SKIPPED = {"units", "checkpoints", ".finfusion.lock", ".finfusion.lock.json"}  # not artifacts
WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5")  # model files: only with model_files
TRUNCATED = " ...[truncated; full value in the config.yaml artifact]"
_RUN_DIR_ID = "finfusion.run_dir_id"  # tag of a parent run: which run directory it mirrors


class TrackingConfig(_Strict):
    """Where a finished run is logged (`tracking:` of a run config; docs/tracking.md)."""

    kind: Literal["mlflow"] = Field("mlflow", description="the tracking system: mlflow (extra [mlflow])")
    uri: str | None = Field(
        None, description="MLflow tracking URI: sqlite:///mlflow.db (a local database; relative to the config "
        "file), http(s)://host:port (a tracking server), databricks, or a directory (MLflow 3 refuses a directory "
        "store unless MLFLOW_ALLOW_FILE_STORE=true); default: MLflow's own (MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db in the working directory)")
    experiment: str | None = Field(None, description="MLflow experiment (created if missing); default: the run's name")
    run_name: str | None = Field(None, description="name of the parent MLflow run; default: the run directory's name")
    tags: dict[str, str] = Field(default_factory=dict, description="extra tags of the parent MLflow run")
    artifact_location: str | None = Field(
        None, description="where a new experiment stores its artifacts; default: beside a sqlite database file "
        "(its folder's mlruns/), else the tracking server's default")
    model_files: bool = Field(False, description="also upload model weights found in the run directory (a "
                              "sentiment run's model/ or best_model/: hundreds of MB for a BERT)")

    def resolved(self, base: Path) -> TrackingConfig:
        """A copy with a relative directory or sqlite path made absolute against `base`."""
        return self.model_copy(update={"uri": absolute_uri(self.uri, base),
                                       "artifact_location": absolute_uri(self.artifact_location, base)})


class TrackingError(FinfusionError):
    """Logging a finished run failed; `run_dir` is complete, `result` is the run's result."""

    def __init__(self, message: str, *, run_dir: Path, result: Any = None) -> None:
        super().__init__(message)
        self.run_dir, self.result = run_dir, result


@dataclass(frozen=True)
class TrackedRun:
    """Where `log_run` logged a run directory (`already`: it was logged before and left as it was)."""

    run_id: str
    experiment_id: str
    experiment: str
    uri: str
    units: int
    artifacts: int
    already: bool = False

    def describe(self) -> str:
        if self.already:
            return (f"already logged to MLflow ({self.uri}) as run {self.run_id} of experiment {self.experiment!r}; "
                    "pass --replace (replace=True) to log it again")
        return (f"logged to MLflow ({self.uri}): experiment {self.experiment!r}, run {self.run_id}, "
                f"{self.units} unit runs, {self.artifacts} artifacts")


def absolute_uri(uri: str | None, base: Path) -> str | None:
    """`uri` with a relative local path (a plain directory, `sqlite:///relative.db`) made absolute."""
    if uri is None:
        return None
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rest = uri[len("sqlite:///"):]
        return uri if not rest or rest.startswith(":memory:") else "sqlite:///" + str((base / rest).resolve())
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri):  # any other URI (file:, http:, databricks, ...)
        return uri
    return str((base / Path(uri).expanduser()).resolve())


# -- before and after a run ----------------------------------------------------------------------


def check_tracking(tracking: TrackingConfig | None, *, name: str | None = None) -> None:
    """Before a run starts: MLflow is installed, its store opens and the experiment is usable
    (ConfigError otherwise). Nothing happens (and mlflow is not imported) without `tracking`."""
    if tracking is None:
        return
    client = _client(tracking)
    experiment = tracking.experiment or name or "Default"
    found = _call(lambda: client.get_experiment_by_name(experiment), tracking, "reading the experiment")
    if found is not None and found.lifecycle_stage == "deleted":
        raise ConfigError(f"tracking.experiment {experiment!r} was deleted in MLflow; restore it "
                          "(mlflow experiments restore) or name another experiment")


def log_finished(run_dir: Path, tracking: TrackingConfig | None, result: Any = None, *,
                 show: bool = True) -> TrackedRun | None:
    """After a run finished: log it (`log_run`); a failure raises TrackingError saying that the run
    directory is complete and how to log it again. Nothing happens without `tracking`."""
    if tracking is None:
        return None
    try:
        tracked = log_run(run_dir, tracking)
    except Exception as err:
        where = tracking.uri or "MLflow's default tracking URI"
        raise TrackingError(
            f"the run finished and its directory {run_dir} is complete, but logging it to MLflow ({where}) "
            f"failed: {type(err).__name__}: {err}\nlog it again with: finfusion track {run_dir}",
            run_dir=run_dir, result=result) from err
    if show:
        print(f"finfusion: {tracked.describe()}", file=sys.stderr)
    return tracked


# -- logging a run directory ------------------------------------------------------------------------


def saved_tracking(run_dir: Path, **changes: Any) -> TrackingConfig:
    """The `tracking` section saved in a run's config.yaml (MLflow's defaults when it has none),
    with `changes` (values None are ignored), e.g. another `uri` for `finfusion track`."""
    raw = saved_config(Path(run_dir)).get("tracking") or {}
    merged = {**raw, **{k: v for k, v in changes.items() if v is not None}}
    try:
        return TrackingConfig.model_validate(merged)
    except ValueError as err:
        raise ConfigError(f"tracking settings of {run_dir}: {err}") from None


def log_run(run_dir: str | Path, tracking: TrackingConfig | None = None, *, replace: bool = False) -> TrackedRun:
    """Log a finished run directory to MLflow: a parent run (config params, artifacts) with a
    child run per row of its per-unit metrics table. `tracking` defaults to the run's own section."""
    run_dir = Path(run_dir).resolve()
    _, raw, layout = finished_run(run_dir)
    tracking = tracking or saved_tracking(run_dir)
    table = layout.units
    client = _client(tracking)
    name = tracking.experiment or str(raw.get("name") or "Default")
    experiment_id = _experiment_id(client, name, tracking)
    uri = client.tracking_uri
    earlier = _earlier_runs(client, experiment_id, run_dir)
    done = [r for r in earlier if r.info.status == "FINISHED"]
    if done and not replace:
        return TrackedRun(done[0].info.run_id, experiment_id, name, uri, 0, 0, already=True)
    for run in earlier:  # unfinished ones are a failed attempt of ours; finished ones: replace
        _delete_with_children(client, experiment_id, run.info.run_id)
    start, end = _times(run_dir)
    parent = client.create_run(experiment_id, start_time=start, run_name=tracking.run_name or run_dir.name,
                               tags=_parent_tags(run_dir, raw, tracking)).info.run_id
    try:
        _log_batches(client, parent, params=_params(raw))
        units = _log_units(client, experiment_id, parent, run_dir, table, (start, end))
        artifacts = _log_artifacts(client, parent, run_dir, model_files=tracking.model_files)
        client.set_terminated(parent, "FINISHED", end_time=end)
    except BaseException:
        try:
            client.set_terminated(parent, "FAILED")
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        raise
    return TrackedRun(parent, experiment_id, name, uri, units, artifacts)


def _mlflow() -> Any:
    """The mlflow module, or ConfigError naming the extra to install."""
    try:
        import mlflow
        import mlflow.tracking  # noqa: F401 - MlflowClient
    except ImportError as err:
        raise ConfigError(f"tracking (kind: mlflow) needs MLflow, which is not importable ({err}): "
                          f"{INSTALL}") from None
    return mlflow


def _client(tracking: TrackingConfig) -> Any:
    """An MlflowClient for `tracking.uri`; ConfigError when MLflow refuses the store."""
    mlflow = _mlflow()
    try:
        with warnings.catch_warnings():  # MLflow's sqlite store on SQLAlchemy 2.1: a warning about MLflow's own
            warnings.filterwarnings("ignore", message=".*noload.*", category=DeprecationWarning)  # mappers
            return _call(lambda: mlflow.tracking.MlflowClient(tracking_uri=tracking.uri), tracking, "opening the store")
    except ImportError as err:  # e.g. a sqlite store without sqlalchemy (mlflow-skinny alone)
        raise ConfigError(f"tracking.uri {tracking.uri or '(MLflow default)'}: this MLflow store needs a package "
                          f"that is not importable ({err}): {INSTALL}") from None


def _call(action: Any, tracking: TrackingConfig, what: str) -> Any:
    """`action()`, with MLflow's own errors turned into a ConfigError naming the tracking URI."""
    from mlflow.exceptions import MlflowException

    try:
        return action()
    except MlflowException as err:
        hint = (" (use a database, e.g. tracking.uri: sqlite:///mlflow.db)"
                if "MLFLOW_ALLOW_FILE_STORE" in str(err) else "")
        raise ConfigError(f"tracking.uri {tracking.uri or '(MLflow default)'}: MLflow failed {what}: "
                          f"{err}{hint}") from None


def _experiment_id(client: Any, name: str, tracking: TrackingConfig) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = tracking.artifact_location
    uri = client.tracking_uri
    if location is None and uri.startswith("sqlite:///") and ":memory:" not in uri:
        location = str(Path(uri[len("sqlite:///"):].split("?")[0]).parent / "mlruns")
    return client.create_experiment(name, artifact_location=location)


def _run_dir_id(run_dir: Path) -> str:
    return hashlib.sha256(str(run_dir).encode()).hexdigest()[:20]


def _earlier_runs(client: Any, experiment_id: str, run_dir: Path) -> list[Any]:
    """Parent runs that mirror `run_dir` already (newest first)."""
    return list(client.search_runs([experiment_id], filter_string=f"tags.`{_RUN_DIR_ID}` = '{_run_dir_id(run_dir)}'",
                                   order_by=["attributes.start_time DESC"]))


def _delete_with_children(client: Any, experiment_id: str, run_id: str) -> None:
    for child in client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'"):
        client.delete_run(child.info.run_id)
    client.delete_run(run_id)


def _times(run_dir: Path) -> tuple[int, int]:
    """(start, end) in ms: when config.yaml was written, and the newest file directly in the run."""
    files = [p for p in run_dir.iterdir() if p.is_file() and p.name not in SKIPPED]
    start = int((run_dir / "config.yaml").stat().st_mtime * 1000)
    return start, max([start, *(int(p.stat().st_mtime * 1000) for p in files)])


def _parent_tags(run_dir: Path, raw: dict[str, Any], tracking: TrackingConfig) -> dict[str, str]:
    note = (f"finfusion run directory `{run_dir}` (kind {raw.get('kind') or 'predict'}). Its report is the "
            "report.html artifact; one nested run per unit holds the unit's metrics.")
    return {"finfusion.run_dir": str(run_dir), _RUN_DIR_ID: _run_dir_id(run_dir),
            "finfusion.kind": str(raw.get("kind") or "predict"), "finfusion.name": str(raw.get("name", "")),
            "finfusion.version": __version__, "mlflow.note.content": note, **tracking.tags}


# -- params, metrics, artifacts --------------------------------------------------------------------


def param_key(key: str) -> str:
    """`key` with the characters MLflow refuses in a param or metric name replaced by `_`."""
    return re.sub(r"[^\w.\- ]", "_", key).lstrip(".")[:250] or "_"


def param_value(value: Any, limit: int) -> str:
    """A param value as text (YAML's spelling: true, null, [], 2020-06-30), cut to `limit` chars."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def _params(raw: dict[str, Any]) -> dict[str, str]:
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH  # 6000 in MLflow 3, 500 in older versions

    return {param_key(k): param_value(v, MAX_PARAM_VAL_LENGTH) for k, v in dotted_items(raw, plain_lists=True)}


def _log_batches(client: Any, run_id: str, *, params: dict[str, str] | None = None,
                 metrics: list[tuple[str, float, int, int]] = ()) -> None:
    """Params (100 per request) and metrics (key, value, timestamp, step; 1000 per request)."""
    from mlflow.entities import Metric, Param

    items = [Param(k, v) for k, v in (params or {}).items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i:i + 100])
    points = [Metric(k, v, t, s) for k, v, t, s in metrics]
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[i:i + 1000])


def _log_units(client: Any, experiment_id: str, parent: str, run_dir: Path, table: UnitTable,
               times: tuple[int, int]) -> int:
    """A nested child run per row of the unit table: keys as params and name, numbers as metrics."""
    rows = pd.read_csv(run_dir / table.file)
    keys = [k for k in table.keys if k in rows.columns]
    history = pd.read_csv(run_dir / table.history) if table.history and (run_dir / table.history).is_file() else None
    start, end = times
    for _, row in rows.iterrows():
        named = {k: _key_text(row[k]) for k in keys if not _missing(row[k])}
        name = " / ".join(v if isinstance(row[k], str) else f"{k}={v}" for k, v in named.items())
        tags = {"mlflow.parentRunId": parent, "finfusion.unit": name}
        child = client.create_run(experiment_id, start_time=start, run_name=name, tags=tags).info.run_id
        metrics = [(param_key(c), float(row[c]), end, 0) for c in rows.columns
                   if c not in keys and _number(row[c])]
        if history is not None:
            metrics += _history(history, named, table.step, keys, end)
        _log_batches(client, child, params={param_key(k): v for k, v in named.items()}, metrics=metrics)
        client.set_terminated(child, "FINISHED", end_time=end)
    return len(rows)


def _history(history: pd.DataFrame, named: dict[str, str], step: str, keys: list[str], when: int) -> list[tuple]:
    """`epoch/<column>` metrics at each step of the history rows of one unit (matched on its keys)."""
    mine = history
    for key in (k for k in named if k in history.columns):
        mine = mine[mine[key].map(_key_text) == named[key]]
    if step not in mine.columns:
        return []
    return [(f"{step}/{param_key(c)}", float(r[c]), when, int(r[step])) for _, r in mine.iterrows()
            for c in mine.columns if c not in (step, *keys) and _number(r[c])]


def _key_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a seed read as 1.0 (a column with blanks)
    return str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> bool:
    """A finite number (NaN and infinite values are not logged: MLflow would store them lossy)."""
    return pd.api.types.is_number(value) and not pd.api.types.is_bool(value) and math.isfinite(value)


def artifact_files(run_dir: Path, *, model_files: bool = False) -> list[Path]:
    """The files of a run directory that are logged: all but units/, checkpoints/, the lock files
    and (unless `model_files`) model weights."""
    found = []
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        if not path.is_file() or rel.parts[0] in SKIPPED or any(p.startswith(".") for p in rel.parts):
            continue
        if model_files or not path.name.endswith(WEIGHTS):
            found.append(path)
    return found


def _log_artifacts(client: Any, run_id: str, run_dir: Path, *, model_files: bool) -> int:
    files = artifact_files(run_dir, model_files=model_files)
    for path in files:
        folder = path.parent.relative_to(run_dir).as_posix()
        client.log_artifact(run_id, str(path), artifact_path=None if folder == "." else folder)
    return len(files)
