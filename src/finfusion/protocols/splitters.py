"""Splitters: objects that yield time-ordered (train, valid, test) row positions.

All splitters work on the sample dates (one row per (date, ticker)); a date is never split
across train and test. A sample of day t has a target realised `horizon` trading days later,
so a training sample is only admitted when its target is known by the test day:
between the last training date and the first test date lie `horizon - 1` purged dates
(no gap for the one-step-ahead case, as in seed 000 eq. 25-27).

Invalid settings raise ConfigError when a splitter is made; samples too short for valid settings
(too few dates for the window, no training data before a fold) raise ProtocolError when it splits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from finfusion.errors import ConfigError, ProtocolError


@dataclass(frozen=True)
class Split:
    """One fold: row positions into the samples, in time order.

    refit is False when the protocol reuses the model (and scalers) of the last refit fold
    (rolling windows with refit_every > 1).
    """

    fold: int
    train: np.ndarray
    test: np.ndarray
    valid: np.ndarray | None = None
    refit: bool = True


class Splitter(ABC):
    """Yields `Split`s for samples with the given dates."""

    @abstractmethod
    def split(self, dates: np.ndarray | pd.Series, *, horizon: int = 1) -> Iterator[Split]:
        """Splits of the rows whose day is `dates` (n,), targets `horizon` days ahead."""

    def n_splits(self, dates: np.ndarray | pd.Series, *, horizon: int = 1) -> int:
        return sum(1 for _ in self.split(dates, horizon=horizon))


def _date_positions(dates: np.ndarray | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Unique sorted dates (u,) and, for each row, the position of its date in them (n,)."""
    values = pd.to_datetime(pd.Series(np.asarray(dates))).to_numpy()
    unique, inverse = np.unique(values, return_inverse=True)
    return unique, inverse


def _rows(inverse: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows whose date position lies in [start, stop)."""
    return np.flatnonzero((inverse >= start) & (inverse < stop))


def _check_split_dates(valid_start, test_start) -> None:
    """Refuse boundary dates that would put a date in two parts: `valid_start` needs `test_start`
    and must come strictly before it (ConfigError naming both)."""
    if valid_start is not None and test_start is None:
        raise ConfigError(f"chronological split: valid_start {valid_start} needs test_start (train before "
                          "valid_start, valid from valid_start, test from test_start); without test_start the "
                          "train / valid / test ratios decide the split")
    if valid_start is not None and not pd.Timestamp(valid_start) < pd.Timestamp(test_start):
        raise ConfigError(f"chronological split: valid_start {valid_start} must come before test_start "
                          f"{test_start}; otherwise dates from {test_start} to {valid_start} would be both trained "
                          "on and tested")


@dataclass(frozen=True)
class ChronologicalSplit(Splitter):
    """One train / valid / test split by date ratios (e.g. 8:1:1) or by boundary dates.

    With dates: train is before `valid_start`, valid before `test_start`, test from `test_start`.
    """

    train: float = 0.8
    valid: float = 0.1
    test: float = 0.1
    valid_start: str | date | None = None
    test_start: str | date | None = None

    def __post_init__(self) -> None:
        _check_split_dates(self.valid_start, self.test_start)
        if self.test_start is None and abs(self.train + self.valid + self.test - 1.0) > 1e-9:
            raise ConfigError(
                f"chronological split ratios must sum to 1, got train={self.train} valid={self.valid} test={self.test}"
            )

    def _bounds(self, unique: np.ndarray) -> tuple[int, int]:
        u = len(unique)
        if self.test_start is not None:
            test_at = int(np.searchsorted(unique, np.datetime64(pd.Timestamp(self.test_start))))
            valid_at = (
                int(np.searchsorted(unique, np.datetime64(pd.Timestamp(self.valid_start))))
                if self.valid_start is not None
                else test_at
            )
            return valid_at, test_at
        valid_at = int(round(u * self.train))
        return valid_at, int(round(u * (self.train + self.valid)))

    def split(self, dates, *, horizon: int = 1) -> Iterator[Split]:
        unique, inverse = _date_positions(dates)
        valid_at, test_at = self._bounds(unique)
        gap = horizon - 1
        train = _rows(inverse, 0, valid_at - gap)  # valid_at == test_at when there is no validation part
        valid = _rows(inverse, valid_at, test_at - gap) if valid_at < test_at else None
        test = _rows(inverse, test_at, len(unique))
        if len(train) == 0 or len(test) == 0:
            raise ProtocolError(
                f"chronological split leaves {len(train)} train and {len(test)} test rows over "
                f"{len(unique)} dates; use more data or other ratios/dates"
            )
        yield Split(0, train, test, valid if valid is not None and len(valid) else None)


@dataclass(frozen=True)
class RollingWindow(Splitter):
    """Rolling window of seed 000 (eq. 25-27): train on `window` dates, test the next `step`.

    Fold k trains on dates [k*step, k*step + window) and tests the `step` dates that follow
    (after `horizon - 1` purged dates). With `valid` > 0 the last `valid` dates of the
    window are held out for early stopping. With `refit_every` = r the model and scalers are
    refit on every r-th fold only; the folds between reuse them (cheaper, no look-ahead).
    `max_folds` keeps only the last folds (e.g. for a quick run).
    """

    window: int = 90
    step: int = 1
    valid: int = 0
    refit_every: int = 1
    max_folds: int | None = None

    def __post_init__(self) -> None:
        for name in ("window", "step", "refit_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"rolling.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.valid < self.window:
            raise ConfigError(f"rolling.valid must be in [0, window), got {self.valid}")

    def split(self, dates, *, horizon: int = 1) -> Iterator[Split]:
        unique, inverse = _date_positions(dates)
        gap = horizon - 1
        starts = range(0, len(unique) - self.window - gap, self.step)
        if len(starts) == 0:
            raise ProtocolError(
                f"rolling window of {self.window} dates (+{gap} purged) needs more than "
                f"{self.window + gap} dates, got {len(unique)}"
            )
        first = 0 if self.max_folds is None else max(0, len(starts) - self.max_folds)
        for fold, start in enumerate(starts[first:]):
            end = start + self.window
            fit_end = end - self.valid
            test_at = end + gap
            yield Split(
                fold=fold,
                train=_rows(inverse, start, fit_end - (gap if self.valid else 0)),
                valid=_rows(inverse, fit_end, end) if self.valid else None,
                test=_rows(inverse, test_at, test_at + self.step),
                refit=fold % self.refit_every == 0,
            )


@dataclass(frozen=True)
class WalkForward(Splitter):
    """Walk-forward folds of seed 003: `n_folds` folds of `train_size` then `test_size`.

    Sizes are in trading days (`unit="days"`) or calendar months (`unit="months"`). Folds
    slide by the test size and are placed so the last test ends at the last date; with
    `expanding=True` every fold trains from the first date. The last `valid` train periods
    (same unit) are held out for early stopping when `valid` > 0.
    """

    train_size: int = 24
    test_size: int = 6
    n_folds: int = 5
    unit: str = "months"
    expanding: bool = False
    valid: int = 0

    def __post_init__(self) -> None:
        if self.unit not in ("days", "months"):
            raise ConfigError(f"walk_forward.unit must be 'days' or 'months', got {self.unit!r}")
        if min(self.train_size, self.test_size, self.n_folds) < 1:
            raise ConfigError("walk_forward train_size, test_size and n_folds must be >= 1")

    def _offset(self, unique: np.ndarray, count: int) -> np.ndarray:
        """Position boundaries (in dates) of consecutive blocks of `count` units, ending at the last date."""
        if self.unit == "days":
            return np.arange(len(unique), -1, -count)[::-1]
        months = pd.DatetimeIndex(unique).to_period("M")
        month_ids = (months.year * 12 + months.month).to_numpy()
        last = month_ids[-1]
        edges = [len(unique)]
        while True:
            cut = last - count * len(edges) + 1
            pos = int(np.searchsorted(month_ids, cut))
            if pos <= 0:
                break
            edges.append(pos)
        return np.array(edges[::-1])

    def split(self, dates, *, horizon: int = 1) -> Iterator[Split]:
        unique, inverse = _date_positions(dates)
        gap = horizon - 1
        test_edges = self._offset(unique, self.test_size)
        needed = self.n_folds + 1
        if len(test_edges) < needed:
            raise ProtocolError(f"walk-forward: {len(unique)} dates hold fewer than {self.n_folds} test blocks")
        for fold, (t0, t1) in enumerate(zip(test_edges[-needed:-1], test_edges[-self.n_folds:])):
            train_start = 0 if self.expanding else self._train_start(unique, t0)
            if train_start < 0:
                raise ProtocolError(
                    f"walk-forward fold {fold} needs {self.train_size} {self.unit} of training data "
                    f"before {pd.Timestamp(unique[t0]).date()}; the first sample is on {pd.Timestamp(unique[0]).date()} "
                    "(after feature warm-up)"
                )
            valid_start = self._valid_start(unique, t0 - gap) if self.valid else t0 - gap
            yield Split(
                fold=fold,
                train=_rows(inverse, train_start, valid_start - (gap if self.valid else 0)),
                valid=_rows(inverse, valid_start, t0 - gap) if self.valid else None,
                test=_rows(inverse, t0, t1),
            )

    def _train_start(self, unique: np.ndarray, t0: int) -> int:
        if self.unit == "days":
            return t0 - self.train_size
        first_day = pd.Timestamp(unique[t0]) - pd.DateOffset(months=self.train_size)
        if first_day < pd.Timestamp(unique[0]) - pd.Timedelta(days=7):
            return -1
        return int(np.searchsorted(unique, np.datetime64(first_day)))

    def _valid_start(self, unique: np.ndarray, end: int) -> int:
        if self.unit == "days":
            return end - self.valid
        first_day = pd.Timestamp(unique[end - 1]) - pd.DateOffset(months=self.valid)
        return int(np.searchsorted(unique, np.datetime64(first_day), side="right"))
