"""Gradient-boosted trees ("xgboost"): XGBRegressor for regression, XGBClassifier for classification.

Inputs are the numeric features only; a look-back (n, L, d) is flattened to L*d columns (named by
`flat_feature_names`, e.g. "rsi@t-1"). The model does not scale anything and accepts NaN in X
(XGBoost learns a default direction for missing values).

Saved as XGBoost's native JSON model (`model.json`) + `config.json`; no pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import xgboost as xgb

from finfusion.io import write_bytes
from finfusion.models.base import Predictor, Samples
from finfusion.models.inputs import (
    FittedInputs,
    check_input_shape,
    describe_inputs,
    encode_targets,
    flatten_features,
    learn_classes,
)
from finfusion.models.params import Fraction, NonNegativeFloat, NonNegativeInt, PositiveInt, Seed
from finfusion.models.registry import read_config, register, write_config

MODEL_FILE = "model.json"


@register("xgboost")
class XGBoostPredictor(FittedInputs, Predictor):
    """XGBoost with the hist tree method (deterministic on CPU for a given seed).

    max_depth, learning_rate, n_estimators, subsample, colsample_bytree, min_child_weight,
    reg_lambda, reg_alpha
                    XGBoost's parameters of the same names.
    early_stopping_rounds  stop when the loss on `valid` has not improved for this many rounds
                    and predict with the best iteration; needs `valid`. None disables.
    seed            XGBoost's random_state (row and column subsampling).
    n_jobs          threads per fit; 1 by default so that parallel windows / seeds run by the
                    executor do not oversubscribe the CPU. Predictions do not depend on it.
    warm_start      a second `fit` continues boosting from the fitted trees on the new data
                    (XGBoost's `xgb_model=`), adding `warm_estimators` trees (None:
                    `n_estimators`); the inputs, task and (for classification) the set of
                    classes must be unchanged.
    """

    def __init__(
        self,
        *,
        max_depth: NonNegativeInt = 6,
        learning_rate: Fraction = 0.05,
        n_estimators: PositiveInt = 300,
        subsample: Fraction = 0.8,
        colsample_bytree: Fraction = 0.8,
        min_child_weight: NonNegativeFloat = 1.0,
        reg_lambda: NonNegativeFloat = 1.0,
        reg_alpha: NonNegativeFloat = 0.0,
        early_stopping_rounds: PositiveInt | None = None,
        seed: Seed = 0,
        n_jobs: PositiveInt | Literal[-1] = 1,
        warm_start: bool = False,
        warm_estimators: PositiveInt | None = None,
    ) -> None:
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.warm_estimators = warm_estimators

    # -- the Predictor contract ---------------------------------------------------------------

    def fit(self, train: Samples, valid: Samples | None = None) -> XGBoostPredictor:
        self.check_task(train)
        if self.early_stopping_rounds is not None and valid is None:
            raise ValueError(f"{type(self).__name__}: early_stopping_rounds is set but no valid samples were given")
        warm = self.warm_start and hasattr(self, "model_")
        if warm:
            self._check_warm(train)
        task = self.task_ if warm else train.task
        classes = self.classes_ if warm else learn_classes(train, type(self).__name__)
        model = self._estimator(task, n_estimators=self.warm_estimators if warm and self.warm_estimators else self.n_estimators)
        fit_kwargs: dict[str, Any] = {"verbose": False}
        if valid is not None:
            self.check_task(valid)
            fit_kwargs["eval_set"] = [(self._X(valid, train.X.shape[1:]), _encode(valid.y, classes, "valid"))]
        if warm:
            fit_kwargs["xgb_model"] = self.model_.get_booster()
        model.fit(self._X(train, train.X.shape[1:]), _encode(train.y, classes, "train"), **fit_kwargs)
        describe_inputs(self, train, classes)
        self.model_ = model
        return self

    def predict(self, data: Samples) -> np.ndarray:
        X = self._checked_X(data)
        if self.task_ == "classification":
            return self.classes_[self.model_.predict(X).astype(np.int64)]
        return self.model_.predict(X).astype(np.float64)

    def predict_proba(self, data: Samples) -> np.ndarray:
        X = self._checked_X(data)
        if self.task_ != "classification":
            raise TypeError(f"{type(self).__name__} was fitted for {self.task_}: predict_proba needs classification")
        return self.model_.predict_proba(X).astype(np.float64)

    def shap_values(self, data: Samples) -> tuple[np.ndarray, np.ndarray]:
        """Exact TreeSHAP attributions (XGBoost's native ``pred_contribs=True``) of the raw margin.

        data   samples as the model sees them (already scaled by the protocol, if it scales).
        Returns (values, base): values (n, d) over `feature_names_out_` and base (n,), the expected
        margin, in margin units (log-odds of classes_[1] for a binary classifier, target units
        for regression), such that values.sum(1) + base == `predict_margin(data)` up to float
        rounding. A multi-class model gives values (n, k, d) and base (n, k), one per class.
        """
        contribs = self._booster_predict(data, pred_contribs=True)
        return contribs[..., :-1].astype(np.float64), contribs[..., -1].astype(np.float64)

    def predict_margin(self, data: Samples) -> np.ndarray:
        """Raw model output before the link: log-odds (n,) for binary classification, (n, k) for
        k > 2 classes, predictions (n,) for regression (same trees as `predict`)."""
        return self._booster_predict(data, output_margin=True).astype(np.float64)

    def _booster_predict(self, data: Samples, **kwargs: bool) -> np.ndarray:
        X = self._checked_X(data)
        best = getattr(self.model_, "best_iteration", None) if self.early_stopping_rounds is not None else None
        rounds = (0, int(best) + 1) if best is not None else (0, 0)  # (0, 0): every tree
        return self.model_.get_booster().predict(xgb.DMatrix(X, missing=np.nan), iteration_range=rounds, **kwargs)

    def save(self, directory: str | Path) -> None:
        self.check_fitted()
        write_bytes(Path(directory) / MODEL_FILE, bytes(self.model_.get_booster().save_raw(raw_format="json")))
        write_config(directory, self, fitted=self._inputs_state())

    def load(self, directory: str | Path) -> XGBoostPredictor:
        config = read_config(directory, self)
        self.set_params(**config["params"])
        fitted = config["fitted"]
        model = self._estimator(fitted["task_"], n_estimators=self.n_estimators)
        model.load_model(bytearray((Path(directory) / MODEL_FILE).read_bytes()))
        self._load_inputs_state(fitted)
        self.model_ = model
        return self

    # -- helpers ------------------------------------------------------------------------------

    def _estimator(self, task: str, n_estimators: int) -> xgb.XGBModel:
        cls = xgb.XGBClassifier if task == "classification" else xgb.XGBRegressor
        return cls(
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            n_estimators=n_estimators,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            min_child_weight=self.min_child_weight,
            reg_lambda=self.reg_lambda,
            reg_alpha=self.reg_alpha,
            early_stopping_rounds=self.early_stopping_rounds,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            tree_method="hist",
        )

    def _checked_X(self, data: Samples) -> np.ndarray:
        self.check_fitted()
        self.check_task(data)
        return self._X(data, self.input_shape_)

    def _X(self, data: Samples, expected_shape: tuple[int, ...]) -> np.ndarray:
        check_input_shape(self, data, expected_shape)
        return flatten_features(data.X)

    def _check_warm(self, train: Samples) -> None:
        shape = tuple(train.X.shape[1:])
        same_classes = train.task != "classification" or np.array_equal(np.unique(train.y), self.classes_)
        if train.task != self.task_ or shape != self.input_shape_ or not same_classes:
            raise ValueError(
                f"{type(self).__name__}: warm_start continues boosting the fitted trees, which needs the same "
                f"task, inputs and classes: fitted for {self.task_!r} on {self.input_shape_} "
                f"(classes {None if self.classes_ is None else self.classes_.tolist()}), got {train.task!r} on {shape}"
                f"{' with classes ' + str(np.unique(train.y).tolist()) if train.task == 'classification' else ''}. "
                "Use warm_start=False to refit from scratch."
            )


def _encode(y: np.ndarray, classes: np.ndarray | None, role: str) -> np.ndarray:
    return encode_targets(y, classes, f"XGBoostPredictor: {role}", np.float64)
