"""Numeric-input helpers shared by every predictor: classes, target encoding, flattening, and the
fitted description of the inputs (`describe_inputs`, `check_input_shape`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from finfusion.errors import DataError
from finfusion.models.base import Samples


def learn_classes(train: Samples, owner: str) -> np.ndarray | None:
    """Sorted class labels of a classification train set (None for regression); needs >= 2."""
    if train.task != "classification":
        return None
    classes = np.unique(train.y)
    if len(classes) < 2:
        raise DataError(f"{owner}: classification needs >= 2 classes in train.y, got {classes.tolist()}")
    return classes


def encode_targets(y: np.ndarray, classes: np.ndarray | None, where: str, dtype: type = np.float32) -> np.ndarray:
    """Regression targets as finite `dtype`; class labels as int64 positions in `classes`."""
    if classes is None:
        y = np.asarray(y, dtype=dtype)
        if not np.isfinite(y).all():
            raise DataError(f"{where} y has {int((~np.isfinite(y)).sum())} non-finite values")
        return y
    unknown = np.setdiff1d(np.unique(y), classes)
    if len(unknown):
        raise DataError(f"{where} y has classes {unknown.tolist()} not seen in the first training set (classes_={classes.tolist()})")
    return np.searchsorted(classes, y).astype(np.int64)


def flat_feature_names(feature_names: tuple[str, ...], input_shape: tuple[int, ...]) -> list[str]:
    """Column names after flattening: the names themselves for (d,), "name@t-k" for (L, d)."""
    if len(input_shape) == 1:
        return list(feature_names)
    L = input_shape[0]
    return [f"{name}@t-{L - 1 - lag}" for lag in range(L) for name in feature_names]


def flatten_features(X: np.ndarray) -> np.ndarray:
    """(n, d) or (n, L, d) -> float32 (n, L*d); a look-back is flattened day-major."""
    return np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32)


def describe_inputs(owner: Any, train: Samples, classes: np.ndarray | None) -> None:
    """Set the fitted description of `train`'s inputs on `owner`: task_, classes_, input_shape_
    (the per-sample shape of X), n_features_in_ (its product) and feature_names_in_."""
    owner.task_, owner.classes_ = train.task, classes
    owner.input_shape_ = tuple(int(s) for s in train.X.shape[1:])
    owner.n_features_in_ = int(np.prod(owner.input_shape_))
    owner.feature_names_in_ = tuple(train.feature_names)


def check_input_shape(owner: Any, data: Samples, expected: tuple[int, ...], role: str = "") -> None:
    """DataError unless `data`'s per-sample X shape is `expected` (the fitted input_shape_)."""
    if tuple(data.X.shape[1:]) != tuple(expected):
        where = f"{role} X" if role else "X"
        raise DataError(f"{type(owner).__name__}: {where} has per-sample shape {tuple(data.X.shape[1:])}, "
                        f"the model was fitted on {tuple(expected)}")


class FittedInputs:
    """Mixin of the non-torch predictors: the fitted description of their inputs (task_,
    classes_, input_shape_, n_features_in_, feature_names_in_) as JSON for `save` / `load`."""

    @property
    def feature_names_out_(self) -> list[str]:
        """Names of the flattened model columns (what the model and SHAP see)."""
        self.check_fitted()  # type: ignore[attr-defined]
        return flat_feature_names(self.feature_names_in_, self.input_shape_)

    def _inputs_state(self) -> dict[str, Any]:
        return {
            "task_": self.task_,
            "classes_": None if self.classes_ is None else self.classes_.tolist(),
            "input_shape_": list(self.input_shape_),
            "n_features_in_": int(self.n_features_in_),
            "feature_names_in_": list(self.feature_names_in_),
        }

    def _load_inputs_state(self, fitted: dict[str, Any]) -> None:
        self.task_ = fitted["task_"]
        self.classes_ = None if fitted["classes_"] is None else np.asarray(fitted["classes_"])
        self.input_shape_ = tuple(fitted["input_shape_"])
        self.n_features_in_ = int(fitted["n_features_in_"])
        self.feature_names_in_ = tuple(fitted["feature_names_in_"])
