"""Tiny hand-checkable frames shared by the portfolio tests (fixture `tiny`)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

DATES = pd.bdate_range("2024-03-04", periods=4)
TICKERS = [f"T{i}" for i in range(10)]


def two_dates(model: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """2 dates x 10 tickers. Date 1: return of Ti = 0.01 * i; date 2: -0.01 * i. The score is
    2 * return, so with 5 groups: date 1 top = {T8, T9}, bottom = {T0, T1}; date 2 the reverse."""
    rows = [(DATES[d], t, sign * 0.01 * i) for d, sign in ((0, 1), (1, -1)) for i, t in enumerate(TICKERS)]
    returns = pd.DataFrame(rows, columns=["date", "ticker", "return"])
    preds = returns.assign(y_pred=2 * returns["return"])[["date", "ticker", "y_pred"]]
    if model is not None:
        preds = preds.assign(model=model)
    return preds, returns


@pytest.fixture
def tiny() -> SimpleNamespace:
    """DATES, TICKERS and two_dates(model=None) -> (predictions, returns)."""
    return SimpleNamespace(DATES=DATES, TICKERS=TICKERS, two_dates=two_dates)
