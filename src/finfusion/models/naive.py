"""The no-change baseline ("tomorrow = today") that every forecaster must beat to mean anything.

`NaivePredictor` ("naive") learns nothing. For a next-close target (`target.kind: close`) it
predicts close_{t+h} = close_t, read from the feature `price` of day t (the last step of a
look-back); for a return target it predicts a return of 0 (`feature=None`).

Its forecast is in the units of the data it is given, so it must see unscaled features and
targets: `run_protocol` runs it without scaling whatever it is asked (the class declares
`needs_raw_units`).

Its directional accuracy on a price target is 0 by the metric's rule: it never predicts a move,
and a predicted change of 0 counts as wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from finfusion.errors import DataError
from finfusion.models.base import Predictor, Samples, Task
from finfusion.models.inputs import check_input_shape
from finfusion.models.registry import read_config, register, write_config


@register("naive")
class NaivePredictor(Predictor):
    """Last-value forecast: the value of `feature` on day t, or 0 when `feature` is None.

    feature  name of the feature whose day-t value is the forecast ("price" for a next-close
             target); None forecasts 0 (no change of a return or log-return target).
    """

    tasks: ClassVar[tuple[Task, ...]] = ("regression",)
    uses_text = False
    needs_raw_units: ClassVar[bool] = True  # run_protocol gives it unscaled features and targets
    learns: ClassVar[bool] = False  # a fixed rule: the contract suite does not ask it to learn

    def __init__(self, *, feature: str | None = None) -> None:
        self.feature = feature

    def fit(self, train: Samples, valid: Samples | None = None) -> NaivePredictor:
        self.check_task(train)
        if self.feature is not None and self.feature not in train.feature_names:
            raise DataError(
                f"NaivePredictor: feature {self.feature!r} is not among the samples' features "
                f"{list(train.feature_names)}; select it (e.g. features: [price]) or use feature=None"
            )
        self.input_shape_ = tuple(int(s) for s in train.X.shape[1:])
        self.feature_names_in_ = tuple(train.feature_names)
        return self

    def predict(self, data: Samples) -> np.ndarray:
        self.check_fitted()
        self.check_task(data)
        check_input_shape(self, data, self.input_shape_)
        if self.feature is None:
            return np.zeros(len(data), dtype=np.float64)
        column = self.feature_names_in_.index(self.feature)
        last = data.X.reshape(len(data), -1, data.X.shape[-1])[:, -1, column].astype(np.float64)
        if not np.isfinite(last).all():
            row = int(np.flatnonzero(~np.isfinite(last))[0])
            raise DataError(f"NaivePredictor: feature {self.feature!r} is not finite in sample {row}")
        return last

    def save(self, directory: str | Path) -> None:
        self.check_fitted()
        fitted = {"input_shape_": list(self.input_shape_), "feature_names_in_": list(self.feature_names_in_)}
        write_config(directory, self, fitted=fitted)

    def load(self, directory: str | Path) -> NaivePredictor:
        config = read_config(directory, self)
        self.set_params(**config["params"])
        self.input_shape_ = tuple(config["fitted"]["input_shape_"])
        self.feature_names_in_ = tuple(config["fitted"]["feature_names_in_"])
        return self
