"""The hand-off between data and models (`Samples`) and the `Predictor` contract.

Every predictor is a scikit-learn shaped estimator: explicit keyword arguments in
`__init__` (no **kwargs), `fit(train, valid=None)` returns self, fitted state ends in `_`.
Protocols never know which model they run; they only use this contract.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from finfusion.errors import ConfigError, NotFittedError
from finfusion.text.cache import FrozenOutputs

Task = Literal["regression", "classification"]
LABELLED = "labelled"  # optional extras key: False marks rows that are predicted but never trained or scored on


@dataclass(frozen=True)
class Samples:
    """Aligned model inputs, one row per (date, ticker) sample, in time order.

    index    DataFrame with columns date (datetime64, the day t whose close the features use)
             and ticker (str); row i describes sample i.
    X        float32 array (n, d) of numeric features of day t, or (n, L, d) with a look-back of
             L days ending at t (the last step is day t).
    y        target array (n,): float returns/prices for regression, int class ids for
             classification. Returns are fractions (0.01 = 1 %).
    texts    optional tuple of n strings: the newsflow of day t ("" where there is none).
    text_items  optional tuple of n tuples of strings: the same newsflow as its separate texts,
             oldest first (() where there is none); models that encode each text and aggregate
             them read it (models/newsflow.py).
    text_item_ages  optional, parallel to text_items: tuple of n tuples of ints, the calendar-day
             age of each item relative to the sample's date (0: the sample's own day; the
             StockNet benchmark's lag tweets of d-1 .. d-5 have ages 1 .. 5). Models that
             attend over days (HAN, StockNet) bin items by it.
    feature_names  d names of the columns of X.
    task     "regression" or "classification".
    extras   optional named per-sample arrays (n, ...) for models or reports, e.g. the
             simulated sentiment term. extras[LABELLED] (bool), where present, marks rows without
             a target as False (their y is a placeholder, -1 or NaN): protocols predict them (e.g.
             to fill a backtest universe) but never train or score on them.
    feature_groups  group name -> its feature names (e.g. "technical", "sentiment",
             "sentiment_vader"), each a subset of feature_names; used by `select`.
    skipped_features  (feature, reason) pairs: features a group or the default selection asked
             for that the prices could not give (a missing column; finfusion.features.build).
    """

    index: pd.DataFrame
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    task: Task = "regression"
    texts: tuple[str, ...] | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    feature_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    text_items: tuple[tuple[str, ...], ...] | None = None
    text_item_ages: tuple[tuple[int, ...], ...] | None = None
    skipped_features: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.index)
        if list(self.index.columns[:2]) != ["date", "ticker"]:
            raise ValueError(f"Samples.index must have columns ['date', 'ticker'], got {list(self.index.columns)}")
        if self.X.ndim not in (2, 3) or len(self.X) != n:
            raise ValueError(f"Samples.X must be (n, d) or (n, L, d) with n={n}, got shape {self.X.shape}")
        if self.X.shape[-1] != len(self.feature_names):
            raise ValueError(
                f"Samples.X has {self.X.shape[-1]} features but {len(self.feature_names)} feature_names"
            )
        if self.y.shape != (n,):
            raise ValueError(f"Samples.y must have shape ({n},), got {self.y.shape}")
        if self.texts is not None and len(self.texts) != n:
            raise ValueError(f"Samples.texts must have {n} entries, got {len(self.texts)}")
        if self.text_items is not None and len(self.text_items) != n:
            raise ValueError(f"Samples.text_items must have {n} entries, got {len(self.text_items)}")
        if self.text_item_ages is not None:
            if self.text_items is None:
                raise ValueError("Samples.text_item_ages needs text_items (one age per item)")
            if len(self.text_item_ages) != n or any(len(a) != len(t) for a, t in zip(self.text_item_ages,
                                                                                    self.text_items)):
                raise ValueError("Samples.text_item_ages must hold one age per item of text_items")
        for name, arr in self.extras.items():
            if len(arr) != n:
                raise ValueError(f"Samples.extras[{name!r}] must have {n} rows, got {len(arr)}")
        for group, members in self.feature_groups.items():
            stray = [m for m in members if m not in self.feature_names]
            if stray:
                raise ValueError(f"Samples.feature_groups[{group!r}] names {stray}, which are not feature_names")

    def __len__(self) -> int:
        return len(self.index)

    @property
    def dates(self) -> np.ndarray:
        return self.index["date"].to_numpy()

    def labelled_rows(self, rows: np.ndarray) -> np.ndarray:
        """The positions among `rows` that have a target (all of them without extras[LABELLED])."""
        rows = np.asarray(rows)
        if LABELLED not in self.extras:
            return rows
        return rows[np.asarray(self.extras[LABELLED], dtype=bool)[rows]]

    def subset(self, rows: np.ndarray | slice) -> Samples:
        """The samples at positions `rows` (an index array or slice)."""
        rows = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows)
        return replace(
            self,
            index=self.index.iloc[rows].reset_index(drop=True),
            X=self.X[rows],
            y=self.y[rows],
            texts=None if self.texts is None else tuple(self.texts[i] for i in rows),
            text_items=None if self.text_items is None else tuple(self.text_items[i] for i in rows),
            text_item_ages=None if self.text_item_ages is None else tuple(self.text_item_ages[i] for i in rows),
            extras={k: v[rows] for k, v in self.extras.items()},
        )

    def select(self, features: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> Samples:
        """The samples with only some feature columns (last axis of X), e.g. a model variant.

        features  group names or feature names to keep (None: all), see `resolve_selection`
        exclude   group names or feature names to drop afterwards
        Column order stays that of feature_names; groups keep their selected members.
        """
        if features is None and not exclude:
            return self
        names = resolve_selection(self.feature_names, self.feature_groups, features, exclude)
        if names == self.feature_names:
            return self
        cols = [self.feature_names.index(n) for n in names]
        groups = {g: tuple(m for m in v if m in names) for g, v in self.feature_groups.items()}
        return replace(
            self, X=self.X[..., cols], feature_names=names, feature_groups={g: v for g, v in groups.items() if v}
        )

    def with_arrays(self, X: np.ndarray | None = None, y: np.ndarray | None = None) -> Samples:
        """A copy with X and/or y replaced (e.g. scaled)."""
        return replace(self, X=self.X if X is None else X, y=self.y if y is None else y)


def resolve_selection(
    feature_names: Sequence[str],
    feature_groups: dict[str, Sequence[str]],
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> tuple[str, ...]:
    """The feature names a (features, exclude) selection keeps, in feature_names order.

    Each item names a group of `feature_groups` (all its members) or a feature. Unknown names,
    a string instead of a list and an empty result raise ConfigError naming what is available.
    """
    def expand(items: Sequence[str], key: str) -> set[str]:
        if isinstance(items, str):
            raise ConfigError(f"{key} must be a list of group or feature names, got the string {items!r}")
        unknown = [i for i in items if i not in feature_groups and i not in feature_names]
        if unknown:
            raise ConfigError(
                f"{key}: unknown group or feature name(s) {unknown}; groups of these samples: "
                f"{sorted(feature_groups)}; features: {list(feature_names)}"
            )
        return {m for i in items for m in (feature_groups[i] if i in feature_groups else (i,))}

    keep = set(feature_names) if features is None else expand(features, "features")
    drop = expand(exclude, "exclude")
    names = tuple(n for n in feature_names if n in keep and n not in drop)
    if not names:
        raise ConfigError(f"the selection features={features!r}, exclude={list(exclude)!r} leaves no features")
    return names


class Predictor(BaseEstimator, ABC):
    """Base class of all predictors.

    Subclasses declare `tasks` (which targets they support), `uses_text` (whether they read
    `Samples.texts`), implement `fit`, `predict` and, for classification, `predict_proba`,
    and `save`/`load` so a fitted model can be stored without pickle.
    A predictor with `warm_start=True` continues from its fitted state on the next `fit`.
    """

    tasks: ClassVar[tuple[Task, ...]] = ("regression", "classification")
    uses_text: ClassVar[bool] = False
    uses_numeric: ClassVar[bool] = True

    @abstractmethod
    def fit(self, train: Samples, valid: Samples | None = None) -> Predictor:
        """Fit on `train` (early-stop on `valid` where the model supports it); return self."""

    @abstractmethod
    def predict(self, data: Samples) -> np.ndarray:
        """Regression: predicted values (n,). Classification: predicted class ids (n,)."""

    def predict_proba(self, data: Samples) -> np.ndarray:
        """Classification only: class probabilities (n, n_classes)."""
        raise TypeError(f"{type(self).__name__} does not predict probabilities")

    @abstractmethod
    def save(self, directory: str | Path) -> None:
        """Write the fitted state to `directory` (safetensors/JSON, never pickle)."""

    @abstractmethod
    def load(self, directory: str | Path) -> Predictor:
        """Restore the fitted state written by `save`; returns self."""

    def training_curves(self) -> pd.DataFrame | None:
        """What the last fit recorded per epoch, long form (epoch, series, value), or None."""
        return None

    def frozen_text_outputs(self, samples: Samples) -> list[FrozenOutputs]:
        """Frozen encoder outputs that `fit` / `predict` on any rows of `samples` would compute,
        for a runner to compute once and `finfusion.text.cache.seed` into every worker. Default:
        [] (this model encodes no text with a frozen encoder; text models override it)."""
        return []

    def check_fitted(self) -> None:
        fitted = [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]
        if not fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(train) first")

    def check_task(self, data: Samples) -> None:
        if data.task not in self.tasks:
            raise ValueError(f"{type(self).__name__} supports tasks {self.tasks}, got {data.task!r}")
        if self.uses_text and data.texts is None:
            raise ValueError(f"{type(self).__name__} reads texts but the samples carry none")


def store_params(estimator: object, params: dict) -> None:
    """Store an `__init__`'s keyword arguments as given (scikit-learn style); `params` = locals()."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
