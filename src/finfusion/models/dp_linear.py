"""ε-differentially private logistic regression ("dp_logistic"): the DP alternative for the
tree / linear family (DP-SGD cannot train gradient-boosted trees, whatever seed 003 says).

The mechanism is diffprivlib's objective perturbation (Chaudhuri, Monteleoni & Sarwate 2011):
the L2-regularised logistic loss gets a random linear term bᵀw / n (b from the `Vector`
mechanism, sensitivity set by the row norm bound) and is minimised exactly (L-BFGS).

**What the guarantee covers.** ε-DP (pure, δ = 0) with respect to adding or removing one
training row (one (date, ticker) sample), *provided every row's feature vector has L2 norm
<= data_norm*. That is why `fit` clips each row to norm `data_norm` (rows inside the ball are
unchanged, rows outside are scaled onto it), after the protocol's feature scaling. Choosing
data_norm from the data itself (e.g. the largest row norm of the training set, diffprivlib's
fallback) leaks information about the rows, so it is a parameter chosen a priori: on z-scored
features a ball of radius about sqrt(d) keeps most rows intact; the default 1.0 shrinks most
rows, which costs little (the model is refit on the shrunken features) and keeps the noise small.
With k classes, k one-vs-rest models each spend ε / k (sequential composition: ε in total).

Not covered: the feature scaler, which the protocol fits on the same training rows (its mean /
std are released without privacy) — the guarantee is end to end only with a scaler fit on
public data or features bounded by construction; correlated rows (k rows of one user: group
privacy kε); repeated fits on the same rows (their ε add up).

`epsilon=None` fits scikit-learn's (non-private) LogisticRegression with the same C, intercept
and row clipping: the ε = ∞ row of a privacy-utility table.

diffprivlib 0.6.6's `LogisticRegression` class passes `multi_class=` to scikit-learn's
constructor, which scikit-learn >= 1.8 no longer accepts, and its package import reads two
constants that scikit-learn >= 1.7 dropped from `sklearn.tree._tree`. We therefore call its
mechanism function (`_logistic_regression_path`, what the class calls per class) directly and
restore the two constants (scikit-learn's own former values) when they are missing.

Saved as JSON (`model.json`: coefficients, intercepts, classes); no pickle.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from finfusion.errors import ConfigError, DataError
from finfusion.io import read_json, write_json
from finfusion.models.base import Predictor, Samples
from finfusion.models.inputs import (
    FittedInputs,
    check_input_shape,
    describe_inputs,
    encode_targets,
    flatten_features,
    learn_classes,
)
from finfusion.models.params import PositiveFloat, PositiveInt, Seed
from finfusion.models.registry import read_config, register, write_config

MODEL_FILE = "model.json"


def clip_rows(X: np.ndarray, max_norm: float) -> np.ndarray:
    """Rows of X (n, d) scaled onto the L2 ball of radius `max_norm` when outside it (float64)."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X * (max_norm / np.maximum(norms, max_norm))  # factor 1 inside the ball


def objective_perturbation_path():
    """diffprivlib's `_logistic_regression_path` (objective-perturbed logistic regression)."""
    try:
        from diffprivlib.models.logistic_regression import _logistic_regression_path
    except ImportError as exc:
        if "sklearn.tree._tree" not in str(exc):
            raise
        import sklearn.tree._tree as sk_tree

        for name, value in (("DOUBLE", np.float64), ("DTYPE", np.float32)):  # removed in scikit-learn 1.7
            if not hasattr(sk_tree, name):
                setattr(sk_tree, name, value)
        for module in [m for m in sys.modules if m == "diffprivlib" or m.startswith("diffprivlib.")]:
            del sys.modules[module]  # drop the half-imported package before retrying
        from diffprivlib.models.logistic_regression import _logistic_regression_path
    return _logistic_regression_path


@register("dp_logistic")
class DPLogisticPredictor(FittedInputs, Predictor):
    """ε-DP logistic regression by objective perturbation (diffprivlib); classification only.

    epsilon      ε of the pure ε-DP guarantee (> 0); None: non-private (epsilon_ = inf).
    data_norm    L2 bound of a training row after scaling; rows are clipped to it in fit and
                 predict. Choose it without looking at the private rows (see the module doc).
    C            inverse L2 regularisation strength (scikit-learn's convention).
    fit_intercept, max_iter, tol
                 as in scikit-learn's LogisticRegression.
    seed         seeds the privacy noise (for reproducible runs; a real deployment should use
                 fresh randomness).

    Inputs: Samples.X (n, d) or (n, L, d), flattened to L*d columns. Fitted: coef_ (K, d'),
    intercept_ (K,) (K = 1 for two classes, one-vs-rest rows otherwise), classes_, epsilon_.
    """

    tasks = ("classification",)

    def __init__(
        self,
        *,
        epsilon: PositiveFloat | None = 1.0,
        data_norm: PositiveFloat = 1.0,
        C: PositiveFloat = 1.0,
        fit_intercept: bool = True,
        max_iter: PositiveInt = 100,
        tol: PositiveFloat = 1e-4,
        seed: Seed = 0,
    ) -> None:
        self.epsilon = epsilon
        self.data_norm = data_norm
        self.C = C
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed

    def fit(self, train: Samples, valid: Samples | None = None) -> DPLogisticPredictor:
        """Fit on the clipped rows of `train` (`valid` is not used)."""
        self.check_task(train)
        self._check_params()
        classes = learn_classes(train, type(self).__name__)
        X = self._clipped(train, tuple(train.X.shape[1:]), "train")
        y = encode_targets(train.y, classes, f"{type(self).__name__}: train", np.int64)
        coef, intercept = self._fit_private(X, y, len(classes)) if self.epsilon is not None else self._fit_plain(X, y)
        describe_inputs(self, train, classes)
        self.coef_, self.intercept_ = coef, intercept
        self.epsilon_ = math.inf if self.epsilon is None else float(self.epsilon)
        return self

    def decision_function(self, data: Samples) -> np.ndarray:
        """Linear scores (n, K) of the clipped rows."""
        self.check_fitted()
        self.check_task(data)
        return self._clipped(data, self.input_shape_, "predict") @ self.coef_.T + self.intercept_

    def predict_proba(self, data: Samples) -> np.ndarray:
        p = expit(self.decision_function(data))
        if len(self.classes_) == 2:
            return np.column_stack([1.0 - p[:, 0], p[:, 0]])
        return p / p.sum(axis=1, keepdims=True)  # one-vs-rest, normalised as scikit-learn does

    def predict(self, data: Samples) -> np.ndarray:
        best = self.predict_proba(data).argmax(axis=1)  # checks fitted before classes_ is read
        return self.classes_[best]

    def save(self, directory: str | Path) -> None:
        self.check_fitted()
        write_json(Path(directory) / MODEL_FILE, {"coef": self.coef_.tolist(), "intercept": self.intercept_.tolist()})
        fitted = {**self._inputs_state(), "epsilon_": None if math.isinf(self.epsilon_) else self.epsilon_}
        write_config(directory, self, fitted=fitted)

    def load(self, directory: str | Path) -> DPLogisticPredictor:
        config = read_config(directory, self)
        self.set_params(**config["params"])
        fitted, model = config["fitted"], read_json(Path(directory) / MODEL_FILE)
        self._load_inputs_state(fitted)
        self.epsilon_ = math.inf if fitted["epsilon_"] is None else float(fitted["epsilon_"])
        self.coef_ = np.asarray(model["coef"], dtype=np.float64)
        self.intercept_ = np.asarray(model["intercept"], dtype=np.float64)
        return self

    # -- helpers ------------------------------------------------------------------------------

    def _fit_private(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        path = objective_perturbation_path()
        positives = [1] if n_classes == 2 else list(range(n_classes))
        rng = np.random.RandomState(self.seed)  # one stream: the K one-vs-rest noises are independent
        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # scipy's L-BFGS-B `iprint`, used by diffprivlib
            for k in positives:
                coefs, _, _ = path(X, y, epsilon=self.epsilon / len(positives), data_norm=self.data_norm, pos_class=k,
                                   Cs=[self.C], fit_intercept=self.fit_intercept, max_iter=self.max_iter, tol=self.tol,
                                   random_state=rng, check_input=False)  # fmt: skip
                rows.append(coefs[0])
        return self._split(np.asarray(rows))

    def _fit_plain(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.C, fit_intercept=self.fit_intercept, max_iter=self.max_iter, tol=self.tol)
        if len(np.unique(y)) > 2:
            from sklearn.multiclass import OneVsRestClassifier

            ovr = OneVsRestClassifier(model).fit(X, y)
            coef = np.vstack([e.coef_ for e in ovr.estimators_])
            return coef, np.concatenate([np.atleast_1d(e.intercept_) for e in ovr.estimators_])
        model.fit(X, y)
        return model.coef_.astype(np.float64), np.atleast_1d(model.intercept_).astype(np.float64)

    def _split(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.fit_intercept:
            return rows[:, :-1].copy(), rows[:, -1].copy()
        return rows, np.zeros(len(rows))

    def _clipped(self, data: Samples, expected: tuple[int, ...], role: str) -> np.ndarray:
        check_input_shape(self, data, expected, role)
        X = flatten_features(data.X)
        if not np.isfinite(X).all():
            raise DataError(f"{type(self).__name__}: {role} X has {int((~np.isfinite(X)).sum())} non-finite values")
        return clip_rows(X, self.data_norm)

    def _check_params(self) -> None:
        checks: list[tuple[bool, str, Any, str]] = [
            (self.epsilon is None or self.epsilon > 0, "epsilon", self.epsilon, "> 0 or None (non-private)"),
            (self.data_norm > 0, "data_norm", self.data_norm, "> 0"),
            (self.C > 0, "C", self.C, "> 0"),
        ]
        for ok, name, value, expected in checks:
            if not ok:
                raise ConfigError(f"{type(self).__name__}: {name} must be {expected}, got {value!r}")
