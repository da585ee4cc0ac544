"""TreeSHAP attributions of a fitted tree predictor, checked for additivity (seed 003 §5).

    expl = explain(model, test_samples)      # Explanation: values (n, d), base (n,), margin (n,)

The attributions are exact TreeSHAP values from XGBoost itself (`XGBoostPredictor.shap_values`,
``pred_contribs=True``) and explain the raw margin (log-odds of class 1 for a binary classifier):
margin_i = base_i + sum_j values[i, j], checked here. This is the computation the protocol engine
runs per fold (`analysis.shap`); the summaries, tables and plots of explanations are in
`finfusion.evaluate.explain`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from finfusion.errors import FinfusionError
from finfusion.models.base import Samples

DEFAULT_ATOL = 1e-4


class AdditivityError(FinfusionError, ArithmeticError):
    """SHAP values + base value do not reproduce the model's margin."""


@dataclass(frozen=True)
class Explanation:
    """TreeSHAP attributions of n samples over d features.

    values         (n, d) attributions in margin units (log-odds for a binary classifier)
    base           (n,) expected margin (the same for every row of one model)
    margin         (n,) the model's raw margin output
    data           (n, d) the feature values the model saw
    feature_names  d names (`XGBoostPredictor.feature_names_out_`)
    index          (n, 2) date, ticker of each sample
    max_error      max_i |base_i + sum_j values[i, j] - margin_i|
    """

    values: np.ndarray
    base: np.ndarray
    margin: np.ndarray
    data: np.ndarray
    feature_names: tuple[str, ...]
    index: pd.DataFrame
    max_error: float

    def local(self, i: int, *, top: int | None = None) -> pd.DataFrame:
        """Attributions of sample i: feature, value, shap, sorted by |shap| (largest first);
        `top` keeps the first rows. The frame's attrs hold base, margin, date and ticker."""
        n = len(self.values)
        if not -n <= i < n:
            raise IndexError(f"Explanation.local: sample {i} out of range for {n} samples")
        frame = pd.DataFrame({"feature": self.feature_names, "value": self.data[i], "shap": self.values[i]})
        frame = frame.reindex(frame["shap"].abs().sort_values(ascending=False, kind="mergesort").index)
        frame = frame.reset_index(drop=True).head(top) if top is not None else frame.reset_index(drop=True)
        row = self.index.iloc[i]
        frame.attrs.update(base=float(self.base[i]), margin=float(self.margin[i]), date=row["date"],
                           ticker=row["ticker"])
        return frame


def check_additivity(values: np.ndarray, base: np.ndarray, margin: np.ndarray, *,
                     atol: float = DEFAULT_ATOL) -> float:
    """max |base + values.sum(1) - margin|; raises AdditivityError naming the worst sample when it
    exceeds `atol` (margin units; XGBoost computes in float32, so ~1e-5 is rounding)."""
    error = np.abs(np.asarray(base) + np.asarray(values).sum(axis=1) - np.asarray(margin))
    worst = int(np.argmax(error)) if error.size else 0
    max_error = float(error[worst]) if error.size else 0.0
    if not np.isfinite(max_error) or max_error > atol:
        raise AdditivityError(
            f"SHAP additivity fails: base + sum of attributions differs from the model margin by {max_error:.3g} "
            f"at sample {worst} (tolerance {atol:g}); the attributions do not explain this model's output"
        )
    return max_error


def explain(model, samples: Samples, *, atol: float | None = DEFAULT_ATOL) -> Explanation:
    """TreeSHAP explanation of `model` (a fitted predictor with `shap_values` and `predict_margin`,
    i.e. XGBoostPredictor) on `samples`. `atol` None skips the additivity check (max_error is
    still recorded). Multi-class models are not supported (one margin per class)."""
    if not hasattr(model, "shap_values"):
        raise TypeError(f"explain: {type(model).__name__} has no shap_values (TreeSHAP needs the 'xgboost' predictor)")
    values, base = model.shap_values(samples)
    if values.ndim != 2:
        raise ValueError(f"explain: expected one margin per sample, got attributions of shape {values.shape} "
                         "(a multi-class model); explain one class at a time")
    margin = model.predict_margin(samples)
    if atol is None:
        max_error = float(np.abs(base + values.sum(axis=1) - margin).max(initial=0.0))
    else:
        max_error = check_additivity(values, base, margin, atol=atol)
    data = np.asarray(samples.X, dtype=np.float64).reshape(len(samples.X), -1)
    names = tuple(model.feature_names_out_) if hasattr(model, "feature_names_out_") else samples.feature_names
    return Explanation(values=values, base=base, margin=margin, data=data, feature_names=names,
                       index=samples.index[["date", "ticker"]].reset_index(drop=True), max_error=max_error)
