"""Sentiment fine-tuning and hyper-parameter search as a run kind (`kind: sentiment`, seed 004 §3-4).

The labelled texts are read and checked once (the plan: a bad label, too few rows per class or a
split that cannot be stratified fail before the run directory is made) and sent to every unit.
Units (`experiments.execute`, any executor):

- one training run (`search: null`) is one unit, `trial-000`;
- a grid search is one unit per grid point, `trial-000`, `trial-001`, ... (lr slowest, then
  batch_size, then epochs), run in parallel by the processes or Ray executor;
- an Optuna search is ONE unit, `optuna`: TPE proposes each trial from the finished ones, so its
  trials run one after another inside that unit (where the filesystem is shared, its study and
  best model so far live in `<run>/checkpoints/optuna/`, so an interrupted search continues).

A unit trains in `<run>/checkpoints/<unit_id>/` where the executor shares this machine's
filesystem (an interrupted training resumes from its last epoch checkpoint), else in a temporary
folder, and returns its results.csv row(s), per-epoch history and model files as bytes; the driver
stores them under `<run>/units/<unit_id>/` (files/trial-NNN/model/...), so `--resume` reruns only
the trials that did not finish.

The run directory (besides config.yaml, inputs.json, units/):

    results.csv     one row per trial: trial, lr, batch_size, epochs, epochs_run, best_epoch,
                    accuracy, f1, precision, recall, macro_f1 (validation), valid_loss, seconds
    history.csv     per trial and epoch: train loss, validation loss and metrics
    best.json       the best trial: highest validation accuracy, then F1, then the earlier trial
    metrics.json    the best trial's validation (and test) metrics
    data.json       source, fingerprint, label counts, rows removed and why, split sizes
    splits/         train / valid (/ test) .jsonl: the exact split every trial used
    model/          one training run: the model (`SentimentClassifier.load(run_dir)` finds it) and
                    report.html, valid/, test/ (evaluation files) of `finfusion sentiment train`
    best_model/     a search: the best trial's model, and report.html with the table

Once the best model is copied out, the other trials' model files are deleted from units/ (unless
search.keep_trials): a later trial can only replace the best by being better, and it brings its files.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import finfusion.io as io
import finfusion.progress as progress
from finfusion.errors import DataError
from finfusion.executors import ExecutorConfig
from finfusion.experiments.execute import execute
from finfusion.experiments.rundir import FILES, unit_dir
from finfusion.experiments.sentiment_config import SentimentRunConfig
from finfusion.experiments.units import Headline, Plan, UnitResult, UnitSpec
from finfusion.fingerprint import frame_fingerprint
from finfusion.text.sentiment.classifier import MANIFEST_NAME
from finfusion.text.sentiment.data import read_labeled
from finfusion.text.sentiment.reporting import write_search_report
from finfusion.text.sentiment.search import (
    COLUMNS,
    MODEL,
    REPORT,
    SELECTION,
    SearchConfig,
    Trial,
    best_trial,
    import_optuna,
    optuna_search,
    run_trial,
    write_files,
    write_table,
)
from finfusion.text.sentiment.train import prepare_splits, write_splits
from finfusion.text.sentiment.train_config import SentimentTrainConfig

RESULTS, HISTORY, BEST = "results.csv", "history.csv", "best.json"
MODEL_DIR, BEST_MODEL = "model", "best_model"  # the model of one training run / of a search's best trial


@dataclass(frozen=True, eq=False)
class TrialUnit(UnitSpec):
    """One training run with `train` (a grid point applied): trial `number` of the run."""

    train: SentimentTrainConfig
    number: int
    name: str  # the classifier's name (its manifest, reports)
    source: str  # the data file, recorded in data.json and the model manifest
    report: bool  # also return the training report files

    @property
    def unit_id(self) -> str:
        return trial_id(self.number)


@dataclass(frozen=True, eq=False)
class OptunaUnit(UnitSpec):
    """An Optuna search: `search.n_trials` trials of TPE around `train`, one after another."""

    train: SentimentTrainConfig
    search: SearchConfig
    source: str

    @property
    def unit_id(self) -> str:
        return "optuna"


@dataclass
class SentimentContext:
    """What the summary needs besides the trials (driver only): the split and its labels."""

    splits: dict[str, pd.DataFrame]
    labels: tuple[str, ...]


@dataclass
class SentimentRunResult:
    """A finished sentiment run: `table` (results.csv), `best` (best.json), `model_dir` (the best
    model), `history` (history.csv) and the best trial's `metrics` ({"valid": ..., "test": ...})."""

    run_dir: Path
    table: pd.DataFrame
    best: dict[str, Any]
    model_dir: Path
    history: pd.DataFrame
    metrics: dict[str, Any]



def trial_id(number: int) -> str:
    """The id of a trial (its unit's folder under <run>/units/ for a grid point; its files' prefix)."""
    return f"trial-{number:03d}"


class SentimentKind:
    """Sentiment runs (`SentimentRunConfig`, `kind: sentiment`): the run kind `sentiment` of
    `experiments.kinds` (module docstring)."""

    name = "sentiment"
    unit_bars = True  # each training shows its step bar

    def plan(self, config: SentimentRunConfig) -> Plan:
        d = config.data
        frame = read_labeled(d.path, text_col=d.text_col, label_col=d.label_col, label_map=d.label_map)
        prepared, splits = prepare_splits(frame, config.train)  # bad data fail here, before the run directory
        source = str(d.path)
        search = config.search
        if search is None:
            units: list = [TrialUnit(config.train, 0, config.name, source, config.output.report)]
        elif search.method == "grid":
            report = search.keep_trials and config.output.report
            units = [TrialUnit(config.train.replace(**point), i, trial_id(i), source, report)
                     for i, point in enumerate(search.grid())]
        else:
            import_optuna()  # a missing extra fails before the run directory is made
            units = [OptunaUnit(config.train, search, source)]
        return Plan(units, frame, [str(frame_fingerprint(frame))], SentimentContext(splits, prepared.labels))

    def run_unit(self, unit: TrialUnit | OptunaUnit, shared: pd.DataFrame, checkpoints: Path | None) -> UnitResult:
        """Train the unit's trial(s) on the shared labelled frame; rows, histories and model files back."""
        log = _stderr if progress.enabled() else None
        with _work_dir(checkpoints, unit.unit_id) as work:
            if isinstance(unit, OptunaUnit):
                trials = optuna_search(shared, work, unit.train, unit.search, source=unit.source, log=log,
                                       progress=progress.enabled())
            else:
                if log is not None:
                    log(f"{unit.unit_id}: lr={unit.train.lr:g}, batch_size={unit.train.batch_size}, "
                        f"epochs={unit.train.epochs}")
                trials = [run_trial(shared, work, unit.train, number=unit.number, name=unit.name,
                                    source=unit.source, report=unit.report, log=log, progress=progress.enabled())]
        return trials_result(trials)

    def summarize(self, config: SentimentRunConfig, run_dir: Path, plan: Plan,
                  results: list[UnitResult]) -> SentimentRunResult:
        """results.csv, history.csv, best.json, metrics.json, data.json, splits/, the best model
        and the report (module docstring); then the other trials' model files are deleted."""
        table = pd.concat([r.frames["trial"] for r in results], ignore_index=True).sort_values("trial")
        table = table.reset_index(drop=True)[COLUMNS]
        history = pd.concat([r.frames["history"] for r in results], ignore_index=True).sort_values(["trial", "epoch"])
        infos = {int(t["trial"]): t for r in results for t in r.info["trials"]}
        files = {name: data for r in results for name, data in r.files.items()}
        row = best_trial(table)
        number = int(row["trial"])
        target = run_dir / (MODEL_DIR if config.search is None else BEST_MODEL)
        _place_model(run_dir, files, number, target)
        best = _best_dict(row, target, config)
        context: SentimentContext = plan.context
        write_table(run_dir / RESULTS, table)
        io.atomic_write(run_dir / HISTORY, lambda p: history.to_csv(p, index=False))
        write_splits(run_dir / "splits", context.splits, context.labels)
        io.write_json(run_dir / "data.json", infos[number]["data"])
        io.write_json(run_dir / "metrics.json", infos[number]["metrics"] | {
            k: best[k] for k in ("trial", "best_epoch", "epochs_run", "stopped_early")})
        if config.output.report:
            if config.search is None:
                _write_into(run_dir, files, f"{trial_id(number)}/{REPORT}")
            else:
                write_search_report(table, best, run_dir, method=config.search.method)
        io.write_json(run_dir / BEST, best)  # last: names the model now in `target`
        if config.search is None or not config.search.keep_trials:
            _drop_model_files(run_dir, plan)
        return SentimentRunResult(run_dir, table, best, target, history, infos[number]["metrics"])


    def headline(self, result: SentimentRunResult) -> Headline:
        """The trials' table (results.csv): validation metrics of every trial."""
        return Headline(result.table, "classification")


SENTIMENT = SentimentKind()


def run_sentiment(config: SentimentRunConfig | None, *, run_dir: Path | None = None, resume: bool = False,
                  progress: bool | None = None, overwrite: bool = False, force: bool = False,
                  executor: ExecutorConfig | None = None) -> SentimentRunResult:
    """Train or search as `config` asks and write the run directory (module docstring); `resume`
    continues `run_dir` (refusing changed inputs unless `force`)."""
    return execute(SENTIMENT, config, run_dir=run_dir, resume=resume, progress_bars=progress, overwrite=overwrite,
                   force=force, executor=executor)


def trials_result(trials: list[Trial]) -> UnitResult:
    """A unit's result: frames "trial" (rows) and "history", info (per trial: data summary and
    metrics), files under trial-NNN/ (model/..., report/...)."""
    rows = pd.DataFrame([t.row for t in trials], columns=COLUMNS)
    history = pd.concat([t.history for t in trials], ignore_index=True)
    info = {"seconds": float(rows["seconds"].sum()),
            "trials": [{"trial": int(t.row["trial"]), "data": t.data, "metrics": t.metrics} for t in trials]}
    files = {f"{trial_id(int(t.row['trial']))}/{name}": data for t in trials for name, data in t.files.items()}
    return UnitResult({"trial": rows, "history": history}, info, files)


@contextlib.contextmanager
def _work_dir(checkpoints: Path | None, unit_id: str) -> Iterator[Path]:
    """Where a unit trains: <checkpoints>/<unit_id> (kept when the unit fails or is cut off, so it
    resumes there; removed once it finished), or a temporary folder without a shared filesystem."""
    if checkpoints is None:
        with tempfile.TemporaryDirectory(prefix=f"finfusion-{unit_id}-") as tmp:
            yield Path(tmp) / unit_id
        return
    where = io.safe_join(checkpoints, unit_id)
    yield where
    shutil.rmtree(where, ignore_errors=True)


def _place_model(run_dir: Path, files: dict[str, bytes], number: int, target: Path) -> None:
    """Write the best trial's model files to `target`; when they were deleted already (a resumed run
    whose best did not change), check that `target` holds that trial's model (best.json)."""
    prefix = f"{trial_id(number)}/{MODEL}"
    if any(name.startswith(f"{prefix}/") for name in files):
        write_files(files, prefix, target)
        return
    recorded = io.read_json(run_dir / BEST).get("trial") if (run_dir / BEST).is_file() else None
    if recorded != number or not (target / MANIFEST_NAME).is_file():
        raise DataError(f"{run_dir}: the model files of the best trial {number} are missing (from "
                        f"{unit_dir(run_dir, trial_id(number))} and {target}); delete its unit folder and resume "
                        "to train it again")


def _best_dict(row: pd.Series, target: Path, config: SentimentRunConfig) -> dict[str, Any]:
    best = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    for key in ("trial", "batch_size", "epochs", "epochs_run", "best_epoch"):
        best[key] = int(best[key])
    best["stopped_early"] = best["epochs_run"] < best["epochs"]
    return best | {"model_dir": str(target), "selection": SELECTION,
                   "method": "single run" if config.search is None else config.search.method}


def _write_into(run_dir: Path, files: dict[str, bytes], prefix: str) -> None:
    """The files under `prefix/` written into the run directory at their relative paths."""
    for name, data in files.items():
        if name.startswith(f"{prefix}/"):
            io.write_bytes(io.safe_join(run_dir, name.removeprefix(f"{prefix}/")), data)


def _drop_model_files(run_dir: Path, plan: Plan) -> None:
    """Delete the model files kept in the unit folders (the best one is in model/ or best_model/)."""
    for unit in plan.units:
        for folder in (unit_dir(run_dir, unit.unit_id) / FILES).glob(f"trial-*/{MODEL}"):
            shutil.rmtree(folder)
            if not any(folder.parent.iterdir()):
                folder.parent.rmdir()


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
