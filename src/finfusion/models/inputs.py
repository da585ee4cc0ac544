"""Numeric-input helpers shared by every predictor: classes, target encoding, flattening."""

from __future__ import annotations

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
