"""Feature / target scaling fit on a training window only.

`Scaler` wraps scikit-learn's StandardScaler / MinMaxScaler so that 1-D targets (n,),
2-D features (n, d) and 3-D look-back windows (n, L, d) share one interface: the
statistics are per feature (last axis) and computed over all other axes, i.e. the array
is reshaped to (-1, d) for scikit-learn and back. Constant columns are handled by
scikit-learn (scale 1), so they never produce NaN or inf. The fitted state can be saved
as a JSON-able dict (`state_dict`) and restored (`Scaler.from_state`) without pickle.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from finfusion.errors import NotFittedError

ScalerKind = Literal["zscore", "minmax", "none"]
_KINDS = ("zscore", "minmax", "none")
# The fitted attributes of each scikit-learn scaler that `state_dict` saves.
_STATE_ATTRIBUTES = {
    "zscore": ("mean_", "var_", "scale_"),
    "minmax": ("min_", "scale_", "data_min_", "data_max_", "data_range_"),
    "none": (),
}


class Scaler:
    """Per-feature scaling of 1-D, 2-D or 3-D arrays.

    kind : "zscore" (x - mean) / std, "minmax" to [0, 1], or "none" (identity).

    Fitted state: `n_features_` (d; 1 for 1-D input), `ndim_` (the ndim seen by fit) and
    `scaler_` (the scikit-learn estimator, None for kind="none").
    """

    def __init__(self, kind: ScalerKind = "zscore") -> None:
        if kind not in _KINDS:
            raise ValueError(f"Scaler: kind must be one of {_KINDS}, got {kind!r}")
        self.kind = kind

    def fit(self, X: np.ndarray) -> Scaler:
        """Learn per-feature statistics from X (n,), (n, d) or (n, L, d); returns self.

        Raises ValueError naming the first feature (last-axis) index with NaN or inf."""
        X = np.asarray(X, dtype="float64")
        flat = _flatten(X, "fit")
        bad = ~np.isfinite(flat).all(axis=0)
        if bad.any():
            column = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"Scaler.fit: feature column {column} (last-axis index) contains NaN or inf; "
                f"{int(bad.sum())} column(s) affected. Drop or impute them before fitting"
            )
        self.ndim_ = X.ndim
        self.n_features_ = flat.shape[1]
        self.scaler_ = _make(self.kind)
        if self.scaler_ is not None:
            self.scaler_.fit(flat)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Scale X with the fitted statistics; same shape as X, float64."""
        return self._apply(X, "transform")

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """Undo `transform`; same shape as X, float64."""
        return self._apply(X, "inverse_transform")

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def _apply(self, X: np.ndarray, method: str) -> np.ndarray:
        if not hasattr(self, "n_features_"):
            raise NotFittedError(f"Scaler.{method} called before fit")
        X = np.asarray(X, dtype="float64")
        flat = _flatten(X, method)
        if flat.shape[1] != self.n_features_:
            raise ValueError(
                f"Scaler.{method}: expected {self.n_features_} feature(s) on the last axis, "
                f"got array of shape {X.shape}"
            )
        if self.scaler_ is None:
            return X.copy()
        return getattr(self.scaler_, method)(flat).reshape(X.shape)

    def state_dict(self) -> dict:
        """JSON-able fitted state: {"kind", "ndim", "n_features", "params": {name: list}}."""
        if not hasattr(self, "n_features_"):
            raise NotFittedError("Scaler.state_dict called before fit")
        params = {
            name: getattr(self.scaler_, name).tolist() for name in _STATE_ATTRIBUTES[self.kind]
        }
        if self.scaler_ is not None:
            params["n_samples_seen_"] = int(self.scaler_.n_samples_seen_)
        return {"kind": self.kind, "ndim": self.ndim_, "n_features": self.n_features_, "params": params}

    @classmethod
    def from_state(cls, state: dict) -> Scaler:
        """Rebuild a fitted Scaler from `state_dict()` output."""
        missing = {"kind", "ndim", "n_features", "params"} - set(state)
        if missing:
            raise ValueError(f"Scaler.from_state: state lacks key(s) {sorted(missing)}")
        scaler = cls(kind=state["kind"])
        scaler.ndim_ = int(state["ndim"])
        scaler.n_features_ = int(state["n_features"])
        scaler.scaler_ = _make(scaler.kind)
        if scaler.scaler_ is not None:
            params = state["params"]
            for name in (*_STATE_ATTRIBUTES[scaler.kind], "n_samples_seen_"):
                if name not in params:
                    raise ValueError(f"Scaler.from_state: params lack {name!r} for kind {scaler.kind!r}")
            for name in _STATE_ATTRIBUTES[scaler.kind]:
                value = np.asarray(params[name], dtype="float64")
                if value.shape != (scaler.n_features_,):
                    raise ValueError(
                        f"Scaler.from_state: {name} has shape {value.shape}, expected ({scaler.n_features_},)"
                    )
                setattr(scaler.scaler_, name, value)
            scaler.scaler_.n_samples_seen_ = params["n_samples_seen_"]
            scaler.scaler_.n_features_in_ = scaler.n_features_
        return scaler

    def __repr__(self) -> str:
        return f"Scaler(kind={self.kind!r})"


def _make(kind: str) -> StandardScaler | MinMaxScaler | None:
    if kind == "zscore":
        return StandardScaler()
    if kind == "minmax":
        return MinMaxScaler()
    return None


def _flatten(X: np.ndarray, method: str) -> np.ndarray:
    """(n,) -> (n, 1); (n, d) as is; (n, L, d) -> (n * L, d)."""
    if X.ndim == 1:
        return X.reshape(-1, 1)
    if X.ndim in (2, 3):
        return X.reshape(-1, X.shape[-1])
    raise ValueError(f"Scaler.{method}: expected a 1-D, 2-D or 3-D array, got shape {X.shape}")
