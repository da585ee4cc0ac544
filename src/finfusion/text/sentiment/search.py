"""Hyper-parameter search for the sentiment classifier (seed 004 §4): learning rate, batch size and
epochs, by grid (every combination) or by Optuna (TPE, optional: ``pip install finfusion[optuna]``).

Every trial is a `train_sentiment` run with the same base config and seed, so all trials train on
the same stratified split, start from the same head initialisation and are scored on the same
validation part; only the searched values differ. With early stopping, ``epochs`` is the maximum.

The output directory:

    results.csv     one row per finished trial: trial, lr, batch_size, epochs, epochs_run,
                    best_epoch, accuracy, f1, precision, recall, macro_f1, valid_loss, seconds
                    (written after every trial, so an interrupted search keeps what it finished)
    best.json       the best configuration: highest validation accuracy, ties broken by F1,
                    then by the earlier trial
    best_model/     the best trial's model directory (`SentimentClassifier.load`)
    trials/         the trials' run directories while they run (kept with keep_trials=True)
    optuna.db       the Optuna study (SQLite), which a resumed Optuna search continues
    report.html     the table and the best configuration

``resume=True`` skips the grid points already in results.csv (Optuna: runs the trials still
missing) and reruns a trial that was cut off.
"""

from __future__ import annotations

import itertools
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from finfusion.errors import ConfigError
from finfusion.io import atomic_write, write_json
from finfusion.text.sentiment.classifier import _replace_dir
from finfusion.text.sentiment.reporting import write_search_report
from finfusion.text.sentiment.train import _stderr, train_sentiment
from finfusion.text.sentiment.train_config import SentimentTrainConfig

Method = Literal["grid", "optuna"]
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


@dataclass(frozen=True)
class SearchSpace:
    """Values to try. Grid: every combination. Optuna: lr log-uniform between the smallest and the
    largest value, batch_size one of the values, epochs an int between the smallest and largest."""

    lrs: tuple[float, ...] = (5e-5, 2e-5, 1e-5)
    batch_sizes: tuple[int, ...] = (8, 16)
    epochs: tuple[int, ...] = (3, 5)

    def __post_init__(self) -> None:
        for name, values, ok in (
            ("lrs", self.lrs, lambda v: v > 0),
            ("batch_sizes", self.batch_sizes, lambda v: isinstance(v, int) and v >= 1),
            ("epochs", self.epochs, lambda v: isinstance(v, int) and v >= 1),
        ):
            if not values or not all(ok(v) for v in values):
                raise ConfigError(f"SearchSpace.{name} must be a non-empty list of positive values, got {list(values)}")

    def grid(self) -> list[dict]:
        return [
            {"lr": lr, "batch_size": bs, "epochs": ep}
            for lr, bs, ep in itertools.product(self.lrs, self.batch_sizes, self.epochs)
        ]


@dataclass
class SearchResult:
    table: pd.DataFrame
    best: dict
    best_model_dir: Path
    out_dir: Path


def best_trial(table: pd.DataFrame) -> pd.Series:
    """The row with the highest accuracy, ties broken by F1, then by the earlier trial."""
    if table.empty:
        raise ValueError("no finished trial")
    order = table.sort_values(["accuracy", "f1", "trial"], ascending=[False, False, True], kind="stable")
    return order.iloc[0]


def search_sentiment(
    data: pd.DataFrame,
    out_dir: str | Path,
    base: SentimentTrainConfig | None = None,
    space: SearchSpace | None = None,
    *,
    method: Method = "grid",
    n_trials: int | None = None,
    keep_trials: bool = False,
    resume: bool = False,
    source: str | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
) -> SearchResult:
    """Run the search on frame[text, label] and write `out_dir` (see the module docstring)."""
    base, space, log = base or SentimentTrainConfig(), space or SearchSpace(), log or _stderr
    if method not in ("grid", "optuna"):
        raise ConfigError(f"search method must be 'grid' or 'optuna', got {method!r}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not resume:
        raise ConfigError(f"{out}: exists and is not empty; choose another output directory or resume the search")
    out.mkdir(parents=True, exist_ok=True)
    table = _read_table(out / "results.csv") if resume else pd.DataFrame(columns=COLUMNS)
    _drop_unfinished_trials(out / "trials", set(table["trial"].astype(int)))
    runner = _TrialRunner(data, out, base, keep_trials, source, log, progress, table)
    if method == "grid":
        points = space.grid()
        done = {_key(r) for r in table[list(SEARCHED)].to_dict(orient="records")}
        for number, point in enumerate(points):
            if _key(point) in done:
                continue
            log(f"trial {number + 1}/{len(points)}: {point}")
            runner.run(number, point)
    else:
        _optuna_search(runner, space, base.seed, n_trials or 10, out, log)
    best = _best_dict(runner.table, out)
    write_json(out / "best.json", best)
    write_search_report(runner.table, best, out, method=method)
    log(
        f"best: trial {best['trial']} lr={best['lr']:g} batch_size={best['batch_size']} epochs={best['epochs']}: "
        f"accuracy {best['accuracy']:.4f}, f1 {best['f1']:.4f}; model in {out / 'best_model'}"
    )
    return SearchResult(runner.table, best, out / "best_model", out)


class _TrialRunner:
    """Runs one trial, appends its row to results.csv and keeps the best model so far."""

    def __init__(
        self, data, out: Path, base: SentimentTrainConfig, keep: bool, source, log, progress, table: pd.DataFrame
    ) -> None:
        self.data, self.out, self.base, self.keep = data, out, base, keep
        self.source, self.log, self.progress, self.table = source, log, progress, table

    def run(self, number: int, point: dict) -> dict:
        trial_dir = self.out / "trials" / f"trial-{number:03d}"
        if trial_dir.exists():  # cut off in an earlier run: start it again
            shutil.rmtree(trial_dir)
        config = self.base.replace(**point)
        res = train_sentiment(
            self.data,
            trial_dir,
            config,
            source=self.source,
            name=f"trial-{number:03d}",
            report=self.keep,
            log=lambda m: self.log(f"  {m}"),
            progress=self.progress,
        )
        best_row = res.history[res.history["epoch"] == res.best_epoch].iloc[0]
        row = {
            "trial": number,
            **point,
            "epochs_run": res.epochs_run,
            "best_epoch": res.best_epoch,
            **{k: res.valid.metrics[k] for k in ("accuracy", "f1", "precision", "recall", "macro_f1")},
            "valid_loss": float(best_row["valid_loss"]),
            "seconds": round(res.seconds, 2),
        }
        new = pd.DataFrame([row], columns=COLUMNS)
        self.table = new if self.table.empty else pd.concat([self.table, new], ignore_index=True)
        if int(best_trial(self.table)["trial"]) == number:
            _copy_model(res.model_dir, self.out / "best_model")
        table = self.table
        atomic_write(self.out / "results.csv", lambda p: table.to_csv(p, index=False))
        if not self.keep:
            shutil.rmtree(trial_dir, ignore_errors=True)
        self.log(f"  trial {number}: accuracy {row['accuracy']:.4f}, f1 {row['f1']:.4f}")
        return row


def _optuna_search(runner: _TrialRunner, space: SearchSpace, seed: int, n_trials: int, out: Path, log) -> None:
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "the Optuna search needs the optional package optuna: pip install 'finfusion[optuna]' "
            "(or use the grid search)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="sentiment",
        storage=f"sqlite:///{(out / 'optuna.db').resolve()}",
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    finished = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    lo, hi = min(space.lrs), max(space.lrs)
    e_lo, e_hi = min(space.epochs), max(space.epochs)

    def objective(trial) -> float:
        point = {
            "lr": trial.suggest_float("lr", lo, hi, log=True) if lo < hi else lo,
            "batch_size": trial.suggest_categorical("batch_size", list(space.batch_sizes)),
            "epochs": trial.suggest_int("epochs", e_lo, e_hi) if e_lo < e_hi else e_lo,
        }
        log(f"trial {trial.number + 1} (optuna, {n_trials} in all): {point}")
        return runner.run(trial.number, point)["accuracy"]

    if n_trials > finished:
        study.optimize(objective, n_trials=n_trials - finished)


def _drop_unfinished_trials(folder: Path, finished: set[int]) -> None:
    """Remove the run directories of trials cut off by an interruption (not in results.csv)."""
    if folder.is_dir():
        for trial_dir in folder.glob("trial-*"):
            if trial_dir.name.removeprefix("trial-").isdigit() and int(trial_dir.name[6:]) not in finished:
                shutil.rmtree(trial_dir, ignore_errors=True)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    table = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(f"{path}: not a results table of `finfusion sentiment search` (missing columns {missing})")
    return table[COLUMNS]


def _key(point: dict) -> tuple:
    return (round(math.log10(float(point["lr"])), 9), int(point["batch_size"]), int(point["epochs"]))


def _best_dict(table: pd.DataFrame, out: Path) -> dict:
    row = best_trial(table)
    best = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    best["trial"], best["batch_size"], best["epochs"] = int(best["trial"]), int(best["batch_size"]), int(best["epochs"])
    return best | {"model_dir": str(out / "best_model"), "selection": "accuracy, then f1, then earlier trial"}


def _copy_model(source: Path, target: Path) -> None:
    """Copy a model directory onto `target` (a temporary copy renamed into place)."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    _replace_dir(tmp, target)


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
