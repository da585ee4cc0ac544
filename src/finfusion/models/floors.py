"""The floor rows of a direction table: rules and a linear model a result must beat to mean anything.

`PriorPredictor` ("prior") learns nothing but the training split's class frequencies: it predicts
the most frequent training class for every row and gives every row the training frequencies as
its probabilities (the train-prior rule; its MCC is 0 and its ROC-AUC 0.5 by construction).

`LogisticPredictor` ("logistic") is a plain L2-regularised logistic regression (scikit-learn) on
the model's feature columns, flattened over the look-back, optionally with the sample's tweet
count: on the StockNet benchmark with `features: [movement]` it is the logistic regression on the
lagged returns (the d-4 .. d-1 movements), with `tweet_count: true` on the lagged returns + the
number of lag tweets. Its inputs are standardised with a scaler fit on the training rows only.

Both declare `floor = True`: a run's floor table (`finfusion.evaluate.floors`) marks their rows
as floors, beside the majority class of the evaluated split (which is no model: it is computed
from the evaluated rows' labels, i.e. with hindsight).

Saved as JSON (config.json; no pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from finfusion.errors import DataError
from finfusion.io import read_json, write_json
from finfusion.models.base import Predictor, Samples, Task
from finfusion.models.inputs import (
    FittedInputs,
    check_input_shape,
    describe_inputs,
    encode_targets,
    flatten_features,
    learn_classes,
)
from finfusion.models.params import PositiveFloat, PositiveInt
from finfusion.models.registry import read_config, register, write_config

MODEL_FILE = "model.json"
TWEET_COUNT = "n_tweets"  # Samples.extras key of the StockNet benchmark's lag tweet count


@register("prior")
class PriorPredictor(FittedInputs, Predictor):
    """Train-prior rule: predict the training split's most frequent class (ties: the smallest
    label); probabilities (n, K) = the training class frequencies on every row.

    Fitted: classes_ (K,), class_prior_ (K,) (frequencies, sum 1), plus the input description
    (input_shape_, feature_names_in_) so that predicting on other inputs fails as for any model.
    """

    tasks: ClassVar[tuple[Task, ...]] = ("classification",)
    learns: ClassVar[bool] = False  # a fixed rule: the contract suite does not ask it to learn
    floor: ClassVar[bool] = True  # a floor row of the run's floor table

    def __init__(self) -> None:  # no parameters (an explicit signature for the registry and the catalogue)
        pass

    def fit(self, train: Samples, valid: Samples | None = None) -> PriorPredictor:
        """Count the classes of `train` (`valid` is not used)."""
        self.check_task(train)
        classes = learn_classes(train, type(self).__name__)
        codes = encode_targets(train.y, classes, f"{type(self).__name__}: train", np.int64)
        self.class_prior_ = np.bincount(codes, minlength=len(classes)) / len(codes)
        describe_inputs(self, train, classes)
        return self

    def predict_proba(self, data: Samples) -> np.ndarray:
        self.check_fitted()
        self.check_task(data)
        check_input_shape(self, data, self.input_shape_)
        return np.tile(self.class_prior_, (len(data), 1))  # (n, K)

    def predict(self, data: Samples) -> np.ndarray:
        proba = self.predict_proba(data)  # checks fitted, task and shape; every row the same
        return self.classes_[proba.argmax(axis=1)]  # argmax: the first (smallest) label on a tie

    def save(self, directory: str | Path) -> None:
        self.check_fitted()
        write_config(directory, self, fitted={**self._inputs_state(), "class_prior_": self.class_prior_.tolist()})

    def load(self, directory: str | Path) -> PriorPredictor:
        config = read_config(directory, self)
        self.set_params(**config["params"])
        self._load_inputs_state(config["fitted"])
        self.class_prior_ = np.asarray(config["fitted"]["class_prior_"], dtype=np.float64)
        return self


@register("logistic")
class LogisticPredictor(FittedInputs, Predictor):
    """Logistic regression on the feature columns (flattened look-back) and, with `tweet_count`,
    log(1 + the sample's tweet count); classification only.

    C            inverse L2 regularisation strength (scikit-learn's convention).
    tweet_count  add log(1 + n) with n = Samples.extras["n_tweets"] (the StockNet benchmark's lag
                 tweets), else the length of Samples.text_items; neither present -> DataError.
    max_iter     L-BFGS iterations.

    Inputs (n, L*d [+ 1]) are standardised with mean / std of the training rows (scaler_mean_,
    scaler_scale_). Fitted: coef_ (K', d'), intercept_ (K',) (K' = 1 for two classes), classes_.
    Deterministic (L-BFGS has no randomness), so it needs no seed.
    """

    tasks: ClassVar[tuple[Task, ...]] = ("classification",)
    floor: ClassVar[bool] = True

    def __init__(self, *, C: PositiveFloat = 1.0, tweet_count: bool = False, max_iter: PositiveInt = 1000) -> None:
        self.C = C
        self.tweet_count = tweet_count
        self.max_iter = max_iter

    def fit(self, train: Samples, valid: Samples | None = None) -> LogisticPredictor:
        """Fit scaler and regression on `train` (`valid` is not used)."""
        self.check_task(train)
        classes = learn_classes(train, type(self).__name__)
        y = encode_targets(train.y, classes, f"{type(self).__name__}: train", np.int64)
        X = self._inputs(train)
        scaler = StandardScaler().fit(X)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(scaler.transform(X), y)
        self.scaler_mean_, self.scaler_scale_ = scaler.mean_.astype(np.float64), scaler.scale_.astype(np.float64)
        self.coef_ = model.coef_.astype(np.float64)
        self.intercept_ = np.atleast_1d(model.intercept_).astype(np.float64)
        describe_inputs(self, train, classes)
        return self

    def predict_proba(self, data: Samples) -> np.ndarray:
        self.check_fitted()
        self.check_task(data)
        check_input_shape(self, data, self.input_shape_)
        scores = (self._inputs(data) - self.scaler_mean_) / self.scaler_scale_ @ self.coef_.T + self.intercept_
        if scores.shape[1] == 1:  # (n, 1): the log-odds of the second class
            p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - p, p])
        scores = scores - scores.max(axis=1, keepdims=True)  # multinomial softmax, as scikit-learn's
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, data: Samples) -> np.ndarray:
        best = self.predict_proba(data).argmax(axis=1)  # checks fitted before classes_ is read
        return self.classes_[best]

    def save(self, directory: str | Path) -> None:
        self.check_fitted()
        write_json(Path(directory) / MODEL_FILE, {k: getattr(self, k).tolist() for k in _ARRAYS})
        write_config(directory, self, fitted=self._inputs_state())

    def load(self, directory: str | Path) -> LogisticPredictor:
        config = read_config(directory, self)
        self.set_params(**config["params"])
        self._load_inputs_state(config["fitted"])
        arrays = read_json(Path(directory) / MODEL_FILE)
        for name in _ARRAYS:
            setattr(self, name, np.asarray(arrays[name], dtype=np.float64))
        return self

    def _inputs(self, data: Samples) -> np.ndarray:
        """(n, L*d) flattened features, with log(1 + tweet count) as a last column when asked."""
        X = flatten_features(data.X).astype(np.float64)
        if not np.isfinite(X).all():
            raise DataError(f"{type(self).__name__}: X has {int((~np.isfinite(X)).sum())} non-finite values")
        if not self.tweet_count:
            return X
        return np.column_stack([X, np.log1p(tweet_counts(data, type(self).__name__))])


_ARRAYS = ("coef_", "intercept_", "scaler_mean_", "scaler_scale_")


def tweet_counts(data: Samples, owner: str) -> np.ndarray:
    """Each sample's tweet count (n,) float64: extras["n_tweets"], else len(text_items[i])."""
    if TWEET_COUNT in data.extras:
        counts = np.asarray(data.extras[TWEET_COUNT], dtype=np.float64)
    elif data.text_items is not None:
        counts = np.array([len(items) for items in data.text_items], dtype=np.float64)
    else:
        raise DataError(f"{owner}: tweet_count needs the samples' tweet count (extras[{TWEET_COUNT!r}], as the "
                        "StockNet benchmark gives) or their text_items; these samples have neither")
    if not (np.isfinite(counts).all() and (counts >= 0).all()):
        raise DataError(f"{owner}: the tweet counts must be finite and >= 0")
    return counts
