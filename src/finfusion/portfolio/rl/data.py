"""Inputs of the RL portfolio system (seed 002): a validated market window and the train-only scaler.

Two wide frames, index = trading dates (DatetimeIndex, ascending, unique), columns = tickers:

    returns  simple close-to-close return of each date (close t-1 -> close t), a fraction > -1.
    text     the text feature of each asset and date, already causally aligned (texts published by
             the close of date t belong to date t) and centred to [-1, 1]; NaN = no text that date,
             read as 0 (neutral) and counted in `MarketWindow.n_text_missing`.

A `MarketWindow` is one period (train, validation or test) plus the rows before it that the state
window needs: its decision dates are the dates >= `start`; the rows before `start` are history
only (they are never traded). `split_market` cuts train / validation / test windows that way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from finfusion.errors import ConfigError, DataError


@dataclass(frozen=True)
class MarketWindow:
    """One period of the market. Decision dates = the index dates >= `start` (default: all but
    the first `window` rows are decided when the env is built, see `decision_rows`).

    returns  (T, N) simple returns, fractions.
    text     (T, N) text features in [-1, 1] or NaN, or None for no text (all 0, not counted).
    start    first decision date; None = the row `window` of the frame (the env's default).
    """

    returns: pd.DataFrame
    text: pd.DataFrame | None = None
    start: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        check_frames(self.returns, self.text)
        if self.start is not None:
            start = pd.Timestamp(self.start)
            if start not in self.returns.index:
                raise DataError(f"MarketWindow start={start.date()} is not a date of the returns index "
                                f"({self.returns.index[0].date()} .. {self.returns.index[-1].date()})")
            object.__setattr__(self, "start", start)

    @property
    def tickers(self) -> list[str]:
        return [str(c) for c in self.returns.columns]

    @property
    def n_assets(self) -> int:
        return int(self.returns.shape[1])

    @property
    def n_text_missing(self) -> int:
        """NaN text cells (read as 0) over the whole frame, history rows included; 0 without text."""
        return 0 if self.text is None else int(self.text.isna().to_numpy().sum())

    @property
    def n_text_missing_decided(self) -> int:
        """NaN text cells on the dates >= start (all rows when start is None)."""
        if self.text is None:
            return 0
        rows = self.text.index >= self.start if self.start is not None else slice(None)
        return int(self.text.loc[rows].isna().to_numpy().sum())

    def decision_rows(self, window: int) -> range:
        """Row positions traded by an env with state window `window`; DataError if the window
        does not fit (fewer than `window` history rows before the first decision date)."""
        if window < 1:
            raise ConfigError(f"window={window!r}; expected an integer >= 1")
        first = window if self.start is None else int(self.returns.index.get_loc(self.start))
        n = len(self.returns)
        if first < window:
            raise DataError(f"MarketWindow: first decision date {self.returns.index[first].date()} has {first} "
                            f"history row(s); the state window needs {window}")
        if first >= n:
            raise DataError(f"MarketWindow: {n} rows leave no decision date after a {window}-day window; "
                            f"expected at least {window + 1} rows")
        return range(first, n)

    def decision_dates(self, window: int) -> pd.DatetimeIndex:
        return self.returns.index[self.decision_rows(window).start:]

    def text_array(self) -> np.ndarray:
        """(T, N) float64 text features with NaN -> 0."""
        if self.text is None:
            return np.zeros(self.returns.shape)
        return np.nan_to_num(self.text.to_numpy(dtype="float64"), nan=0.0)


def check_frames(returns: pd.DataFrame, text: pd.DataFrame | None) -> None:
    """DataError naming the first problem: index/columns, non-finite or <= -1 returns, text
    outside [-1, 1]."""
    if not isinstance(returns, pd.DataFrame) or returns.shape[1] == 0 or len(returns) == 0:
        raise DataError(f"returns: expected a non-empty wide DataFrame (dates x tickers), got {type(returns).__name__}"
                        f"{'' if not isinstance(returns, pd.DataFrame) else f' of shape {returns.shape}'}")
    idx = returns.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataError(f"returns: index must be a DatetimeIndex of trading dates, got {type(idx).__name__}")
    if not idx.is_unique or not idx.is_monotonic_increasing:
        raise DataError("returns: index dates must be unique and ascending")
    if not returns.columns.is_unique:
        raise DataError(f"returns: duplicated ticker columns {list(returns.columns[returns.columns.duplicated()])}")
    values = returns.to_numpy(dtype="float64")
    bad = ~np.isfinite(values) | (values <= -1.0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"returns: {int(bad.sum())} value(s) not finite or <= -1, first at "
                        f"{idx[r].date()} / {returns.columns[c]}: {float(values[r, c])!r}; expected a finite fraction > -1")
    if text is None:
        return
    if not isinstance(text, pd.DataFrame):
        raise DataError(f"text: expected a DataFrame like returns, got {type(text).__name__}")
    if not text.index.equals(idx):
        raise DataError(f"text: index differs from returns ({len(text)} vs {len(idx)} dates); "
                        "expected the same trading dates")
    if list(text.columns) != list(returns.columns):
        raise DataError(f"text: columns {list(text.columns)} differ from returns columns {list(returns.columns)}")
    tv = text.to_numpy(dtype="float64")
    bad = ~np.isnan(tv) & ~((tv >= -1.0) & (tv <= 1.0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"text: {int(bad.sum())} value(s) outside [-1, 1], first at {idx[r].date()} / "
                        f"{text.columns[c]}: {float(tv[r, c])!r}; expected a centred feature in [-1, 1] or NaN")


def split_market(returns: pd.DataFrame, text: pd.DataFrame | None, *, train_end, valid_end,
                 window: int = 30) -> tuple[MarketWindow, MarketWindow, MarketWindow]:
    """Train (dates <= train_end), validation (train_end < d <= valid_end) and test (d > valid_end)
    windows; validation and test carry the `window` rows before their first date as history."""
    check_frames(returns, text)
    idx = returns.index
    a = int(idx.searchsorted(pd.Timestamp(train_end), side="right"))
    b = int(idx.searchsorted(pd.Timestamp(valid_end), side="right"))
    if not window < a < b < len(idx):
        raise DataError(f"split_market: train_end={train_end}, valid_end={valid_end} give {a} train, {b - a} "
                        f"validation and {len(idx) - b} test rows; expected > {window} train rows and at least "
                        "one row in each of the others")

    def cut(lo: int, hi: int, first: int | None) -> MarketWindow:
        rows = slice(lo, hi)
        return MarketWindow(returns.iloc[rows], None if text is None else text.iloc[rows],
                            None if first is None else idx[first])

    return cut(0, a, None), cut(a - window, b, a), cut(b - window, len(idx), b)


class Standardizer:
    """Per-asset standardisation of log returns, fit on the TRAINING window only and then passed
    to the validation / test envs: z = (log(1 + r) - mean_) / std_ (std with ddof=0)."""

    def fit(self, returns: pd.DataFrame) -> Standardizer:
        check_frames(returns, None)
        logr = np.log1p(returns.to_numpy(dtype="float64"))
        std = logr.std(axis=0)
        if (std <= 0).any():
            bad = [str(c) for c, s in zip(returns.columns, std) if s <= 0]
            raise DataError(f"Standardizer: constant log returns for {bad} in the training window; expected variation")
        self.tickers_ = [str(c) for c in returns.columns]
        self.mean_ = logr.mean(axis=0)
        self.std_ = std
        return self

    def transform(self, returns: pd.DataFrame) -> np.ndarray:
        """(T, N) standardised log returns of `returns` (same tickers as the fit, in order)."""
        if not hasattr(self, "mean_"):
            from finfusion.errors import NotFittedError

            raise NotFittedError("Standardizer.transform before fit")
        if [str(c) for c in returns.columns] != self.tickers_:
            raise DataError(f"Standardizer: tickers {list(returns.columns)} differ from the fit's {self.tickers_}")
        return (np.log1p(returns.to_numpy(dtype="float64")) - self.mean_) / self.std_

    def to_dict(self) -> dict:
        return {"tickers": self.tickers_, "mean": self.mean_.tolist(), "std": self.std_.tolist()}

    @classmethod
    def from_dict(cls, state: dict) -> Standardizer:
        out = cls()
        out.tickers_ = list(state["tickers"])
        out.mean_ = np.asarray(state["mean"], dtype="float64")
        out.std_ = np.asarray(state["std"], dtype="float64")
        return out
