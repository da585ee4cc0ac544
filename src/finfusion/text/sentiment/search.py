"""Hyper-parameter search for the sentiment classifier (seed 004 §4): learning rate, batch size and
epochs, by grid (every combination) or by Optuna (TPE, optional: ``pip install finfusion[optuna]``).

This module holds the parts that do not depend on where trials run: the search settings
(`SearchConfig`, the `search:` section of a `kind: sentiment` run), one trial as a function of its
data and settings (`run_trial`), the Optuna loop (`optuna_search`) and the selection rule
(`best_trial`). The run kind `experiments.sentiment_runner` plans the trials as units of the run
skeleton (a grid point per unit, any executor; Optuna's sequential TPE as one unit), stores them and
writes the search's tables (`finfusion sentiment search`, `finfusion run`).

Every trial is a `train_sentiment` run with the same base config and seed, so all trials train on
the same stratified split, start from the same head initialisation and are scored on the same
validation part; only the searched values differ. With early stopping, ``epochs`` is the maximum.

    trial = run_trial(frame, work_dir, SentimentTrainConfig(lr=2e-5), number=0)
    trial.row["accuracy"], trial.model_files["model/model.safetensors"][:4]
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt

from finfusion.errors import ConfigError, DataError
from finfusion.io import atomic_write
from finfusion.strict import _Strict
from finfusion.text.sentiment.classifier import MANIFEST_NAME, _replace_dir
from finfusion.text.sentiment.reporting import write_train_report
from finfusion.text.sentiment.train import train_sentiment
from finfusion.text.sentiment.train_config import SentimentTrainConfig, TrainResult

Log = Callable[[str], None]
COLUMNS = [
    "trial",
    "lr",
    "batch_size",
    "epochs",
    "epochs_run",
    "best_epoch",
    "accuracy",
    "f1",
    "precision",
    "recall",
    "macro_f1",
    "valid_loss",
    "seconds",
]
SEARCHED = ("lr", "batch_size", "epochs")
MODEL = "model"  # a trial's model files: model/<file> (the `SentimentClassifier.save` layout)
REPORT = "report"  # a trial's training report: report/report.html, report/valid/..., report/test/...
SELECTION = "accuracy, then f1, then earlier trial"


class SearchConfig(_Strict):
    """Values to try and how. Grid: every combination. Optuna: lr log-uniform between the smallest
    and the largest value, batch_size one of the values, epochs an int between the smallest and largest."""

    method: Literal["grid", "optuna"] = Field("grid", description="grid: every combination of the lists; optuna: "
                                              "n_trials of Optuna's TPE sampler inside the lists' bounds")
    lrs: list[PositiveFloat] = Field(default_factory=lambda: [5e-5, 2e-5, 1e-5], min_length=1,
                                     description="learning rates")
    batch_sizes: list[PositiveInt] = Field(default_factory=lambda: [8, 16], min_length=1,
                                           description="training batch sizes")
    epochs: list[PositiveInt] = Field(default_factory=lambda: [3, 5], min_length=1,
                                      description="maximum epochs (with early stopping on, epochs_run may be fewer)")
    n_trials: PositiveInt = Field(10, description="optuna: trials to run")
    keep_trials: bool = Field(False, description="keep every trial's model in its unit folder (grid: with its "
                              "training report); default: only the best trial's, copied to best_model/")

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the lists, lr slowest: [{lr, batch_size, epochs}, ...]."""
        return [{"lr": lr, "batch_size": bs, "epochs": ep}
                for lr, bs, ep in itertools.product(self.lrs, self.batch_sizes, self.epochs)]


@dataclass
class Trial:
    """One finished trial: its results.csv `row`, per-epoch `history` (with a trial column), the
    data summary and metrics of `train_sentiment`, and its files as bytes by relative name:
    model/<file> (always) and report/<file> (when asked for)."""

    row: dict[str, Any]
    history: pd.DataFrame
    data: dict[str, Any]
    metrics: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def best_trial(table: pd.DataFrame) -> pd.Series:
    """The row with the highest accuracy, ties broken by F1, then by the earlier trial."""
    if table.empty:
        raise ValueError("no finished trial")
    order = table.sort_values(["accuracy", "f1", "trial"], ascending=[False, False, True], kind="stable")
    return order.iloc[0]


def run_trial(data: pd.DataFrame, work_dir: Path, config: SentimentTrainConfig, *, number: int,
              name: str | None = None, source: str | None = None, report: bool = False,
              log: Log | None = None, progress: bool = True) -> Trial:
    """Train `config` on frame[text, label] in `work_dir` (a `train_sentiment` run directory: a
    cut-off run of the same config there is resumed from its last checkpoint, a finished one is
    started again) and return the trial; `work_dir` is left for the caller to remove.

    report: also return the training report (report.html with the model directory shown as
    `model`, and the valid/ test/ evaluation files) under report/."""
    log = log or _quiet
    resume = (work_dir / "config.json").is_file() and not (work_dir / MODEL / MANIFEST_NAME).is_file()
    if work_dir.exists() and not resume:
        shutil.rmtree(work_dir)
    result = train_sentiment(data, work_dir, config, source=source, name=name or f"trial-{number:03d}",
                             resume=resume, report=False, log=log, progress=progress)
    files = read_tree(result.model_dir, MODEL)
    if report:
        write_train_report(replace(result, model_dir=Path(MODEL)), config)  # the model's place in the run directory
        files |= _report_files(work_dir)
    history = result.history.assign(trial=number)[["trial", *result.history.columns]]
    metrics = {"valid": result.valid.metrics} | ({"test": result.test.metrics} if result.test else {})
    return Trial(trial_row(number, config, result), history, dict(result.data), metrics, files)


def trial_row(number: int, config: SentimentTrainConfig, result: TrainResult) -> dict[str, Any]:
    """The results.csv row (`COLUMNS`) of a finished trial."""
    best = result.history[result.history["epoch"] == result.best_epoch].iloc[0]
    return {
        "trial": number,
        **{k: getattr(config, k) for k in SEARCHED},
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        **{k: float(result.valid.metrics[k]) for k in ("accuracy", "f1", "precision", "recall", "macro_f1")},
        "valid_loss": float(best["valid_loss"]),
        "seconds": round(result.seconds, 2),
    }


def read_tree(folder: Path, prefix: str) -> dict[str, bytes]:
    """{prefix/relative path: bytes} of every file under `folder`."""
    return {f"{prefix}/{p.relative_to(folder).as_posix()}": p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _report_files(work_dir: Path) -> dict[str, bytes]:
    files = {f"{REPORT}/report.html": (work_dir / "report.html").read_bytes()}
    for part in ("valid", "test"):
        if (work_dir / part).is_dir():
            files |= read_tree(work_dir / part, f"{REPORT}/{part}")
    return files


def write_files(files: dict[str, bytes], prefix: str, target: Path) -> Path:
    """Write the files under `prefix/` of a trial's `files` as the directory `target` (a temporary
    sibling first, renamed into place). Raises DataError when there is none."""
    chosen = {name.removeprefix(f"{prefix}/"): data for name, data in files.items() if name.startswith(f"{prefix}/")}
    if not chosen:
        raise DataError(f"no {prefix}/ files to write to {target}")
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for name, data in chosen.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    _replace_dir(tmp, target)
    return target


# -- Optuna -------------------------------------------------------------------------------------------


def optuna_search(data: pd.DataFrame, work_dir: Path, base: SentimentTrainConfig, search: SearchConfig, *,
                  source: str | None = None, log: Log | None = None, progress: bool = True) -> list[Trial]:
    """`search.n_trials` trials of Optuna's TPE sampler (seeded with `base.seed`), one after another
    (TPE proposes each trial from the finished ones). Returns the finished trials; only the best
    one keeps its model files (every one with `search.keep_trials`).

    `work_dir` holds the study (optuna.db), the trial being trained and the best model so far, so a
    search cut off at any point continues there: finished trials are kept, the cut-off one is
    marked failed and a new one is asked for (its values may differ from an uninterrupted run's)."""
    optuna = import_optuna()
    log = log or _quiet
    work_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="sentiment", storage=f"sqlite:///{(work_dir / 'optuna.db').resolve()}",
                                load_if_exists=True, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=base.seed))
    state = optuna.trial.TrialState
    for t in study.get_trials(states=(state.RUNNING,)):  # cut off by an interruption
        study.tell(t.number, state=state.FAIL)
    kept = {t.number: _from_attrs(t.user_attrs) for t in study.get_trials(states=(state.COMPLETE,))}
    _settle_best(work_dir, kept)
    while len(kept) < search.n_trials:
        ask = study.ask(_distributions(optuna, search))
        point = _point(ask.params, search)
        log(f"trial {len(kept) + 1}/{search.n_trials} (optuna trial {ask.number}): {point}")
        trial = run_trial(data, work_dir / f"trial-{ask.number:03d}", base.replace(**point), number=ask.number,
                          source=source, log=lambda m: log(f"  {m}"), progress=progress)
        for key, value in _to_attrs(trial).items():
            ask.set_user_attr(key, value)
        study.tell(ask, trial.row["accuracy"])
        kept[ask.number] = replace(trial, files={})  # the model stays on disk until the best is known
        _settle_best(work_dir, kept, keep=search.keep_trials)
    best = int(best_trial(pd.DataFrame([t.row for t in kept.values()]))["trial"])
    for number, trial in kept.items():
        if number == best or search.keep_trials:
            trial.files = read_tree(_model_dir(work_dir, number), MODEL)
    return [kept[n] for n in sorted(kept)]


def import_optuna():
    """The optuna module, or ConfigError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("the Optuna search needs the optional package optuna: pip install 'finfusion[optuna]' "
                          "(or use the grid search, search.method: grid)") from None
    return optuna


def _distributions(optuna, search: SearchConfig) -> dict:
    d = optuna.distributions
    lo, hi, e_lo, e_hi = min(search.lrs), max(search.lrs), min(search.epochs), max(search.epochs)
    out = {"batch_size": d.CategoricalDistribution(list(search.batch_sizes))}
    if lo < hi:
        out["lr"] = d.FloatDistribution(lo, hi, log=True)
    if e_lo < e_hi:
        out["epochs"] = d.IntDistribution(e_lo, e_hi)
    return out


def _point(params: dict, search: SearchConfig) -> dict[str, Any]:
    return {"lr": float(params.get("lr", min(search.lrs))), "batch_size": int(params["batch_size"]),
            "epochs": int(params.get("epochs", min(search.epochs)))}


def _to_attrs(trial: Trial) -> dict[str, Any]:
    """The trial as JSON values (Optuna user attributes: the study is the record of finished trials)."""
    attrs = {"row": trial.row, "history": trial.history.to_dict(orient="records"), "data": trial.data,
             "metrics": trial.metrics}
    return json.loads(json.dumps(attrs, default=lambda value: value.item()))  # numpy scalars -> Python


def _from_attrs(attrs: dict[str, Any]) -> Trial:
    return Trial(attrs["row"], pd.DataFrame(attrs["history"]), attrs["data"], attrs["metrics"])


def _model_dir(work_dir: Path, number: int) -> Path:
    return work_dir / "models" / f"trial-{number:03d}"


def _settle_best(work_dir: Path, kept: dict[int, Trial], *, keep: bool = False) -> None:
    """Move the finished trials' models out of their training directories into models/, then
    delete the training directories and (unless `keep`) every kept model but the best one's."""
    for number in kept:
        trained = work_dir / f"trial-{number:03d}" / MODEL
        if trained.is_dir() and not _model_dir(work_dir, number).exists():
            _model_dir(work_dir, number).parent.mkdir(parents=True, exist_ok=True)
            trained.rename(_model_dir(work_dir, number))
    for folder in work_dir.glob("trial-*"):
        shutil.rmtree(folder)
    if not kept:
        return
    best = int(best_trial(pd.DataFrame([t.row for t in kept.values()]))["trial"])
    if not (_model_dir(work_dir, best) / MANIFEST_NAME).is_file():
        raise DataError(f"{work_dir}: the model of the best Optuna trial {best} is missing; delete {work_dir} to "
                        "run the search again")
    for folder in (work_dir / "models").glob("trial-*"):
        if not keep and folder.name != f"trial-{best:03d}":
            shutil.rmtree(folder)


def write_table(path: Path, table: pd.DataFrame) -> Path:
    """results.csv: the trials' rows in `COLUMNS` order."""
    return atomic_write(path, lambda p: table[COLUMNS].to_csv(p, index=False))


def parse_values(text: str | Sequence, kind: type, name: str) -> tuple:
    """ "5e-5,2e-5" -> (5e-05, 2e-05) (CLI lists); a bad item raises ConfigError naming `name`."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    try:
        values = tuple(kind(v) for v in items if str(v).strip())
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated {kind.__name__} values, got {text!r}") from None
    if not values:
        raise ConfigError(f"{name}: no values given")
    return values


def _quiet(message: str) -> None:
    del message
