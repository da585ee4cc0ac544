"""`TorchPredictor`: the `Predictor` plumbing shared by every torch-backed model.

A subclass supplies only what differs between models:

* `_build_module(n_outputs)` -> the `nn.Module` (its forward takes the batch dict of
  `_dataset`; it reads fitted input attributes such as `input_shape_` from `self`);
* optionally `_dataset(data, targets)` -> a torch `Dataset` whose collate builds batch dicts
  (default: ``ArrayDataset(x=X flattened to (n, L*d), y=targets)``; a text model returns token
  ids / cached encoder outputs with a padding collate);
* optionally `_trainer_config(epochs, warm)` (e.g. add ``param_group_lrs={"encoder.": 2e-5}``) and
  `_learn_inputs(train)` / `fitted_attributes` for extra fitted state (e.g. a tokenizer name);
* optionally `_prepare(train_dataset, epochs)` -> the trainer's ``prepare=`` hook of one fit
  (e.g. Opacus' ``make_private`` for DP-SGD, models/dp.py); default None.

This base does the rest: target encoding (`classes_` for classification), seeded module
construction, warm starts, training through the one shared `Trainer`, prediction, and
save/load as ``weights.safetensors`` + ``config.json`` (no pickle anywhere).

Subclasses must accept these keyword parameters: epochs, batch_size, lr, weight_decay, l2,
grad_clip, early_stopping_patience, seed, warm_start, warm_epochs, warm_replay, show_progress, device.

Warm refits (rolling windows): with `warm_start` a second `fit` continues from the fitted weights
for `warm_epochs` epochs; with `warm_replay` = m it trains only on the rows dated after the last
fit plus m replayed earlier rows of the window (None: the whole window).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import Dataset

from finfusion.errors import DataError
from finfusion.io import atomic_write
from finfusion.models.base import Predictor, Samples
from finfusion.models.inputs import check_input_shape, describe_inputs, encode_targets, flatten_features, learn_classes
from finfusion.models.registry import read_config, write_config
from finfusion.models.trainer import ArrayDataset, Prepare, Trainer, TrainerConfig, TrainHistory
from finfusion.models.trainer import predict as predict_module

WEIGHTS_FILE = "weights.safetensors"


class TorchPredictor(Predictor):
    """Base of torch-backed predictors (see the module docstring for what subclasses supply)."""

    fitted_attributes: ClassVar[tuple[str, ...]] = (
        "task_",
        "input_shape_",
        "n_features_in_",
        "feature_names_in_",
        "classes_",
        "last_date_",
    )
    # Parameters that shape the network: a warm start refuses to continue if they changed.
    architecture_params: ClassVar[tuple[str, ...]] = ()
    predict_batch_size: ClassVar[int] = 1024

    # -- hooks for subclasses -----------------------------------------------------------------

    @abstractmethod
    def _build_module(self, n_outputs: int | None) -> nn.Module:
        """The network; `n_outputs` is the number of classes, or None for one real output (B,)."""

    def _dataset(self, data: Samples, targets: np.ndarray | None) -> Dataset:
        """Default inputs: the numeric features flattened to (n, L*d) float32 under "x"."""
        arrays: dict[str, np.ndarray] = {"x": flatten_features(data.X)}
        if targets is not None:
            arrays["y"] = targets
        return ArrayDataset(**arrays)

    def _trainer_config(self, epochs: int, warm: bool = False) -> TrainerConfig:
        """The training settings of one fit (`warm`: a warm refit continuing fitted weights)."""
        return TrainerConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            l2=self.l2,
            grad_clip=self.grad_clip,
            early_stopping_patience=self.early_stopping_patience,
            seed=self.seed,
            loss="cross_entropy" if self.task_ == "classification" else "mse",
            device=self.device,
            show_progress=self.show_progress,
        )

    def _prepare(self, train: Dataset, epochs: int) -> Prepare | None:
        """The `Trainer.fit(prepare=)` hook of one fit on `train` for `epochs` (default: none)."""
        return None

    def _learn_inputs(self, train: Samples) -> None:
        """Fitted description of the inputs, set on a cold fit (extend for extra fitted state)."""
        describe_inputs(self, train, learn_classes(train, type(self).__name__))

    # -- the Predictor contract ---------------------------------------------------------------

    def fit(self, train: Samples, valid: Samples | None = None) -> TorchPredictor:
        self.check_task(train)
        warm = self.warm_start and hasattr(self, "module_")
        if warm:
            self._check_warm(train)
        try:
            if not warm:
                self._learn_inputs(train)
            elif self.warm_replay is not None:
                train = self._replay(train)
            train_ds = self._dataset(self._checked(train, "train"), self._encode_targets(train, "train"))
            valid_ds = None
            if valid is not None:
                self.check_task(valid)
                valid_ds = self._dataset(self._checked(valid, "valid"), self._encode_targets(valid, "valid"))
            if not warm:
                self.module_ = self._seeded_module()
            epochs = self.warm_epochs if warm and self.warm_epochs is not None else self.epochs
            prepare = self._prepare(train_ds, epochs)
            self.history_ = Trainer(self._trainer_config(epochs, warm)).fit(self.module_, train_ds, valid_ds, prepare=prepare)
            self.last_date_ = str(pd.Timestamp(train.index["date"].max()))
        except BaseException:
            if not warm:
                self._forget_fit()
            raise
        return self

    def predict(self, data: Samples) -> np.ndarray:
        out = self._forward(data)
        if self.task_ == "classification":
            return self.classes_[out.argmax(dim=1).numpy()]
        return out.double().numpy()

    def predict_proba(self, data: Samples) -> np.ndarray:
        self.check_fitted()
        if self.task_ != "classification":
            raise TypeError(f"{type(self).__name__} was fitted for {self.task_}: predict_proba needs classification")
        return torch.softmax(self._forward(data).double(), dim=1).numpy()

    def training_curves(self) -> pd.DataFrame | None:
        """train_loss (and valid_loss) of the last fit per epoch; long form (epoch, series, value)."""
        history = getattr(self, "history_", None)
        if history is None:
            return None
        rows = [(e, name, float(v)) for name in ("train_loss", "valid_loss")
                for e, v in enumerate(getattr(history, name))]
        return pd.DataFrame(rows, columns=["epoch", "series", "value"])

    def save(self, directory: str | Path) -> None:
        self.check_fitted()
        directory = Path(directory)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._module_state().items()}
        atomic_write(directory / WEIGHTS_FILE, lambda p: save_file(tensors, str(p)))
        fitted = {name: _to_json(getattr(self, name)) for name in self.fitted_attributes}
        write_config(directory, self, fitted=fitted, history=self.history_.to_dict())

    def load(self, directory: str | Path) -> TorchPredictor:
        directory = Path(directory)
        config = read_config(directory, self)
        self.set_params(**config["params"])
        self._forget_fit()
        for name, value in config["fitted"].items():
            setattr(self, name, _from_json(name, value))
        module = self._new_module()
        self._load_module_state(module, load_file(str(directory / WEIGHTS_FILE)))
        self.module_ = module.eval()
        self.history_ = TrainHistory.from_dict(config["history"])
        return self

    def _replay(self, train: Samples) -> Samples:
        """Warm refit on what is new since the last fit plus `warm_replay` earlier rows of the
        window, drawn with the fit's seed (the rest of the window was learned before)."""
        dates = pd.to_datetime(train.index["date"])
        new = np.flatnonzero(dates > pd.Timestamp(self.last_date_))
        old = np.flatnonzero(dates <= pd.Timestamp(self.last_date_))
        rng = np.random.default_rng(self.seed)
        replay = rng.choice(old, size=min(self.warm_replay, len(old)), replace=False) if len(old) else old
        return train.subset(np.sort(np.concatenate([new, replay])))

    def _module_state(self) -> dict[str, torch.Tensor]:
        """The tensors `save` writes (default: the whole module; text models leave out frozen weights)."""
        return self.module_.state_dict()

    def _load_module_state(self, module: nn.Module, state: dict[str, torch.Tensor]) -> None:
        module.load_state_dict(state)

    def batch_outputs(self, data: Samples, take: Callable[[nn.Module, dict], torch.Tensor]) -> torch.Tensor:
        """take(module, batch) over `data`'s batches in eval mode without gradients, concatenated
        along dim 0 on the CPU: what the fitted network computes inside (attention weights, gates)."""
        self.check_fitted()
        dataset = self._dataset(self._checked(data, "predict"), None)
        return predict_module(self.module_, dataset, self.predict_batch_size, device=self.device, take=take)

    # -- helpers ------------------------------------------------------------------------------

    def _forward(self, data: Samples) -> torch.Tensor:
        self.check_fitted()
        self.check_task(data)
        dataset = self._dataset(self._checked(data, "predict"), None)
        return predict_module(self.module_, dataset, self.predict_batch_size, device=self.device)

    def _seeded_module(self) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return self._new_module()

    def _new_module(self) -> nn.Module:
        self._built_with = {p: getattr(self, p) for p in self.architecture_params}
        return self._build_module(None if self.task_ == "regression" else len(self.classes_))

    def _checked(self, data: Samples, role: str) -> Samples:
        """`data` after checking its input shape against the fitted one and that X is finite."""
        check_input_shape(self, data, self.input_shape_, role)
        if self.uses_numeric and not np.isfinite(data.X).all():
            bad = np.argwhere(~np.isfinite(data.X.reshape(len(data), -1, data.X.shape[-1])))
            col = data.feature_names[bad[0, 2]]
            raise DataError(
                f"{type(self).__name__}: {role} X has {len(bad)} non-finite values "
                f"(first: sample {bad[0, 0]}, feature {col!r}); impute or drop them first"
            )
        return data

    def _encode_targets(self, data: Samples, role: str) -> np.ndarray:
        return encode_targets(data.y, self.classes_, f"{type(self).__name__}: {role}", np.float32)

    def _check_warm(self, train: Samples) -> None:
        changed = {p: (v, getattr(self, p)) for p, v in self._built_with.items() if getattr(self, p) != v}
        if changed:
            raise ValueError(
                f"{type(self).__name__}: warm_start continues the fitted network, but its architecture "
                f"parameters changed (name: (built with, now)): {changed}. Use warm_start=False to refit."
            )
        shape = tuple(train.X.shape[1:])
        if train.task != self.task_ or shape != self.input_shape_:
            raise ValueError(
                f"{type(self).__name__}: warm_start continues the fitted network, which needs the same "
                f"architecture: fitted for task {self.task_!r} on inputs {self.input_shape_}, got task "
                f"{train.task!r} on inputs {shape}. Use warm_start=False to refit from scratch."
            )

    def _forget_fit(self) -> None:
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)


def _to_json(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):  # strict JSON has no Infinity
        return "inf" if value > 0 else "-inf"
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def _from_json(name: str, value: Any) -> Any:
    if value is None:
        return None
    if value in ("inf", "-inf"):
        return float(value)
    if name == "classes_":
        return np.asarray(value)
    if isinstance(value, list):
        return tuple(value)
    return value
