"""Run one predictor through a splitter: scale per fold, fit, predict, checkpoint, resume.

Scalers of features (and of a regression target) are fit on the training rows of each fold
only, and predictions are mapped back to target units. With `warm_start` the predictor keeps
its weights from fold to fold; otherwise a fresh clone is fit on every refit fold.

Checkpoints (when `checkpoint_dir` is given) make a long run resumable with identical
results: after each fold its predictions are written atomically to `folds/`, and every
`checkpoint_every` folds the model and scalers go to `state/fold_NNNNN/` before
`progress.json` is replaced to point at them. Each fold is trained with a seed derived from
(seed, fold), so a resumed run repeats exactly what the uninterrupted run would have done.

With `progress`, a bar counts the folds, and the first fit of a call (for a text model the
encoding of a whole window of texts plus all its epochs: up to minutes) is announced on stderr
and shows the model's epoch bar (models with `show_progress`).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

import finfusion.io as io
import finfusion.progress as progress_bars
from finfusion.data.predictions import REQUIRED, Predictions
from finfusion.errors import ConfigError, DataError
from finfusion.features.scalers import Scaler
from finfusion.models.base import LABELLED, Predictor, Samples
from finfusion.models.explain import explain as tree_shap
from finfusion.protocols.splitters import Split, Splitter
from finfusion.seeding import derive_seed


@dataclass
class FoldState:
    """The model and scalers of the last refit fold (what a checkpoint and a saved forecasting
    pipeline hold)."""

    model: Predictor | None = None
    x_scaler: Scaler | None = None
    y_scaler: Scaler | None = None

    def save(self, directory: Path) -> None:
        """The model in `directory`/model (its own format: safetensors / JSON) and the scalers in
        `directory`/scalers.json."""
        self.model.save(directory / "model")
        io.write_json(directory / "scalers.json", {"x": self.x_scaler.state_dict(), "y": self.y_scaler.state_dict()})

    @classmethod
    def load(cls, directory: Path, predictor: Predictor) -> FoldState:
        """What `save` wrote, the model restored into a clone of `predictor` (same model and params)."""
        scalers = io.read_json(directory / "scalers.json")
        x_scaler, y_scaler = Scaler.from_state(scalers["x"]), Scaler.from_state(scalers["y"])
        return cls(clone(predictor).load(directory / "model"), x_scaler, y_scaler)


def run_protocol(
    predictor: Predictor,
    samples: Samples,
    splitter: Splitter,
    *,
    horizon: int = 1,
    model_name: str = "model",
    seed: int = 0,
    scale_features: str = "zscore",
    scale_target: str = "zscore",
    warm_start: bool = False,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 1,
    progress: bool | None = None,
    explain: bool = False,
    on_refit=None,
) -> pd.DataFrame:
    """Predictions frame over all test folds (the flat layout of `data.predictions.Predictions`):
    its REQUIRED columns, plus p_<class> for classifiers,
    `labelled` when the samples mark rows without a target (extras[LABELLED]: never fit on; the
    caller scores only labelled rows),
    and att_<token> (attention weight, mean over heads) for models with `predict_attention`.
    With `explain` (models with `shap_values`, i.e. trees) each row also gets its exact TreeSHAP
    attributions shap_<feature> and shap_base (margin units; additivity checked per fold, see
    models.explain), computed on the fold's scaled test features the model saw.
    A predictor that declares `needs_raw_units` (a fixed rule in data units, e.g. the naive
    last-value forecast) always gets unscaled features and targets.
    Regression models with `predict_components` (the mixture) add component_<name> columns in
    target units. `on_refit(fold, model)` is called after every refit (e.g. to store the
    model's training curves). `progress` None follows `finfusion.progress.enabled()`."""
    predictor.check_task(samples)
    if explain and not hasattr(predictor, "shap_values"):
        raise ConfigError(f"{type(predictor).__name__} has no TreeSHAP attributions (explain needs a tree model)")
    if getattr(type(predictor), "needs_raw_units", False):
        scale_features = scale_target = "none"
    if warm_start:
        if "warm_start" not in predictor.get_params():
            raise ConfigError(f"{type(predictor).__name__} cannot warm-start; set protocol.warm_start to false")
        predictor = clone(predictor).set_params(warm_start=True)
    splits = list(splitter.split(samples.dates, horizon=horizon))
    ckpt = _Checkpoint(Path(checkpoint_dir)) if checkpoint_dir is not None else None
    state, done, frames = FoldState(), -1, []
    if ckpt is not None:
        done, frames, state = ckpt.restore(predictor)
    todo = [s for s in splits if s.fold > done]
    show = progress_bars.enabled(progress)
    bar = progress_bars.bar(len(splits), model_name, initial=len(splits) - len(todo), enabled=show)
    first = show  # the first fit (a window of texts to encode, all epochs) can take minutes: show it
    for split in todo:
        if split.refit or state.model is None:
            if first:
                bar.write(f"{model_name}: fitting fold {split.fold} of {len(splits)} on {len(split.train):,} "
                          f"training rows{'; encoding its texts first' if predictor.uses_text else ''}",
                          file=sys.stderr)
            state = refit(predictor, samples, split, state, seed, scale_features, scale_target, warm_start,
                           show_epochs=first)
            first = False
            if on_refit is not None:
                on_refit(split.fold, state.model)
        frames.append(predict_fold(state, samples, split, model_name, seed, explain))
        if ckpt is not None:
            ckpt.save_fold(split.fold, frames[-1])
            if split.fold % checkpoint_every == 0 or split is todo[-1]:
                ckpt.save_state(split.fold, state)
        bar.update(1)
    bar.close()
    return pd.concat(frames, ignore_index=True) if frames else _empty_predictions()


def refit(
    predictor: Predictor,
    samples: Samples,
    split: Split,
    state: FoldState,
    seed: int,
    scale_features: str,
    scale_target: str,
    warm_start: bool,
    show_epochs: bool = False,
) -> FoldState:
    """Fit a fresh clone (or, warm-starting, the last model) on the fold's training rows.
    `show_epochs`: a model with `show_progress` shows its epoch bar during this fit only."""
    train = samples.subset(samples.labelled_rows(split.train))  # rows without a target are never fit on
    valid = (samples.subset(samples.labelled_rows(split.valid))
             if split.valid is not None and len(samples.labelled_rows(split.valid)) else None)
    x_scaler = Scaler(scale_features).fit(train.X)
    regress = samples.task == "regression"
    y_scaler = Scaler(scale_target if regress else "none").fit(train.y.astype(np.float64))
    model = state.model if (warm_start and state.model is not None) else clone(predictor)
    if "seed" in model.get_params():
        model.set_params(seed=derive_seed(seed, split.fold))
    quiet_epochs = show_epochs and model.get_params().get("show_progress") is False
    if quiet_epochs:
        model.set_params(show_progress=True)
    try:
        model.fit(_scaled(train, x_scaler, y_scaler, regress), _scaled(valid, x_scaler, y_scaler, regress))
    finally:
        if quiet_epochs:  # checkpoints and later fits keep the configured setting
            model.set_params(show_progress=False)
    return FoldState(model, x_scaler, y_scaler)


def _scaled(data: Samples | None, x_scaler: Scaler, y_scaler: Scaler, regress: bool) -> Samples | None:
    if data is None:
        return None
    y = y_scaler.transform(data.y.astype(np.float64)) if regress else data.y
    return data.with_arrays(X=x_scaler.transform(data.X).astype(np.float32), y=y)


def predict_fold(state: FoldState, samples: Samples, split: Split, model_name: str, seed: int,
                  explain: bool = False) -> pd.DataFrame:
    test = samples.subset(split.test)
    regress = samples.task == "regression"
    scaled = _scaled(test, state.x_scaler, state.y_scaler, regress)
    y_pred = state.model.predict(scaled)
    if regress:
        y_pred = state.y_scaler.inverse_transform(np.asarray(y_pred, dtype=np.float64))
    core = test.index[["date", "ticker"]].assign(y_true=test.y, y_pred=y_pred, fold=split.fold, model=model_name,
                                                 seed=seed)
    if LABELLED in test.extras:  # rows without a target: predicted (e.g. a backtest universe), never scored
        core[LABELLED] = np.asarray(test.extras[LABELLED], dtype=bool)
    parts: dict[str, pd.DataFrame] = {}
    part = lambda columns: pd.DataFrame(columns, index=core.index)  # noqa: E731
    if not regress:
        proba = state.model.predict_proba(scaled)
        parts["proba"] = part({str(cls): proba[:, j] for j, cls in enumerate(state.model.classes_)})
    if hasattr(state.model, "predict_attention"):
        weights = state.model.predict_attention(scaled).mean(axis=1)  # (n, heads, S) -> (n, S)
        parts["attention"] = part({name: weights[:, j] for j, name in enumerate(state.model.token_names())})
    if regress and hasattr(state.model, "predict_components"):
        parts["components"] = part({name: state.y_scaler.inverse_transform(np.asarray(values, dtype=np.float64))
                                    for name, values in state.model.predict_components(scaled).items()})
    base = None
    if explain:
        expl = tree_shap(state.model, scaled)
        parts["shap"] = pd.DataFrame(expl.values, columns=list(expl.feature_names), index=core.index)
        base = pd.Series(expl.base, index=core.index)
    return Predictions(core=core, shap_base=base, **parts).to_frame()


def _empty_predictions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in REQUIRED})


class _Checkpoint:
    """Fold predictions and model state on disk; `progress.json` is the only pointer trusted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.progress = root / "progress.json"

    def save_fold(self, fold: int, frame: pd.DataFrame) -> None:
        io.write_parquet(self.root / "folds" / f"fold_{fold:05d}.parquet", frame)

    def save_state(self, fold: int, state: FoldState) -> None:
        target = self.root / "state" / f"fold_{fold:05d}"
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        state.save(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        io.write_json(self.progress, {"last_fold": fold, "state": target.name})
        for old in (self.root / "state").iterdir():
            if old.name != target.name:
                shutil.rmtree(old, ignore_errors=True)

    def restore(self, predictor: Predictor) -> tuple[int, list[pd.DataFrame], FoldState]:
        """(last completed fold, its and earlier fold predictions, restored state); (-1, [], empty) if none.
        A damaged or foreign checkpoint raises DataError naming the file (never followed outside
        this checkpoint directory)."""
        if not self.progress.exists():
            return -1, [], FoldState()
        last, state_dir = self._pointer()
        frames = [self._read_fold(k) for k in range(last + 1)]
        try:
            state = FoldState.load(state_dir, predictor)
        except Exception as err:  # any damage: name the directory, say how to recover
            raise DataError(f"checkpoint {state_dir} cannot be restored ({type(err).__name__}: {err}); "
                            f"{self._recover}") from err
        return last, frames, state

    @property
    def _recover(self) -> str:
        return (f"delete {self.root} to recompute this model from its first fold on --resume, "
                "or start a new run")

    def _pointer(self) -> tuple[int, Path]:
        """(last completed fold, its state directory) from progress.json, checked."""
        try:
            pointer = io.read_json(self.progress)
            last, name = int(pointer["last_fold"]), str(pointer["state"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(f"{self.progress} is damaged ({type(err).__name__}: {err}); {self._recover}") from None
        try:
            state_dir = io.safe_join(self.root / "state", name)
        except ValueError as err:
            raise DataError(f"{self.progress}: state {name!r} points outside {self.root / 'state'} ({err}); "
                            f"{self._recover}") from None
        if last < 0 or not state_dir.is_dir():
            raise DataError(f"{self.progress}: fold {last}, state {name!r}: no such checkpoint; {self._recover}")
        return last, state_dir

    def _read_fold(self, fold: int) -> pd.DataFrame:
        return io.read_parquet(self.root / "folds" / f"fold_{fold:05d}.parquet", recover=self._recover)
