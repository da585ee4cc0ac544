"""The one home of Sharpe, Sortino, drawdown and annual return: by hand, against empyrical,
with a stated risk-free rate, and the curves behind the statistics."""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError, DataError
from finfusion.evaluate.performance import (
    drawdown_curve,
    equity_curve,
    performance_stats,
    periods_per_year,
    risk_free_note,
)

R = np.array([0.1, -0.05, 0.02])


def test_performance_stats_by_hand():
    stats = performance_stats(R, periods_per_year=12)
    growth = 1.1 * 0.95 * 1.02
    sd = np.sqrt(((0.1 - 0.07 / 3) ** 2 + (-0.05 - 0.07 / 3) ** 2 + (0.02 - 0.07 / 3) ** 2) / 2)
    assert stats["cumulative_return"] == pytest.approx(growth - 1)
    assert stats["annual_return"] == pytest.approx(growth ** (12 / 3) - 1)
    assert stats["annual_volatility"] == pytest.approx(sd * np.sqrt(12))
    assert stats["sharpe"] == pytest.approx(0.07 / 3 / sd * np.sqrt(12))
    assert stats["max_drawdown"] == pytest.approx(-0.05)  # from 1.1 down to 1.045
    assert stats["n_periods"] == 3


def test_performance_stats_match_empyrical():
    r = np.random.default_rng(0).normal(0.001, 0.02, 50)
    stats = performance_stats(r, periods_per_year=50.4)
    assert stats["annual_return"] == pytest.approx(empyrical.annual_return(r, annualization=50.4))
    assert stats["annual_volatility"] == pytest.approx(empyrical.annual_volatility(r, annualization=50.4))
    assert stats["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=50.4))
    assert stats["max_drawdown"] == pytest.approx(empyrical.max_drawdown(r))


def test_degenerate_series():
    assert np.isnan(performance_stats([0.01, 0.01], periods_per_year=252)["sharpe"])  # std 0, not inf
    one = performance_stats([0.01], periods_per_year=252)
    assert np.isnan(one["sharpe"]) and np.isnan(one["annual_volatility"])
    assert one["annual_return"] == pytest.approx(1.01**252 - 1)
    empty = performance_stats([], periods_per_year=252)
    assert empty["n_periods"] == 0 and np.isnan(empty["annual_return"])
    with pytest.raises(DataError, match="non-finite"):
        performance_stats([0.01, np.nan], periods_per_year=252)


def test_periods_per_year():
    assert periods_per_year(1) == 252.0 and periods_per_year(5) == 50.4
    assert periods_per_year(21, trading_days=252) == 12.0
    with pytest.raises(ConfigError):
        periods_per_year(0)


def test_risk_free_rate_is_annual_and_subtracted_per_period():
    r = np.array([0.01, -0.004, 0.006, 0.002])
    rf = 0.0252 / 252  # 2.52 % a year = 0.0001 a day
    excess = r - rf
    stats = performance_stats(r, periods_per_year=252, risk_free=0.0252)
    assert stats["sharpe"] == pytest.approx(excess.mean() / excess.std(ddof=1) * np.sqrt(252))
    downside = np.sqrt(np.mean(np.minimum(0.0, excess) ** 2))
    assert stats["sortino"] == pytest.approx(excess.mean() / downside * np.sqrt(252))
    assert stats["sharpe"] < performance_stats(r, periods_per_year=252)["sharpe"]
    # the rate changes only the risk-adjusted ratios
    assert stats["annual_return"] == performance_stats(r, periods_per_year=252)["annual_return"]


def test_calmar_by_hand_and_without_drawdown():
    stats = performance_stats([0.1, -0.5, 0.2], periods_per_year=12)
    assert stats["max_drawdown"] == pytest.approx(-0.5)
    assert stats["calmar"] == pytest.approx(((1.1 * 0.5 * 1.2) ** 4 - 1) / 0.5)
    assert np.isnan(performance_stats([0.01, 0.02], periods_per_year=252)["calmar"])


def test_curves_are_the_statistics_behind_them():
    r = pd.Series([0.1, -0.5, 0.2, 0.1], index=pd.date_range("2024-01-01", periods=4))
    equity = equity_curve(r)
    assert equity.tolist() == pytest.approx([1.1, 0.55, 0.66, 0.726])
    assert equity.index.equals(r.index)
    drawdown = drawdown_curve(r)
    assert drawdown.tolist() == pytest.approx([0.0, -0.5, 0.66 / 1.1 - 1, 0.726 / 1.1 - 1])
    assert drawdown.min() == pytest.approx(performance_stats(r)["max_drawdown"])
    assert equity.iloc[-1] - 1 == pytest.approx(performance_stats(r)["cumulative_return"])
    # a loss on the first day is a drawdown from the starting value 1
    assert drawdown_curve(pd.Series([-0.1, 0.05])).tolist() == pytest.approx([-0.1, 0.945 - 1])


def test_bad_inputs_are_named():
    with pytest.raises(ConfigError, match="periods_per_year"):
        performance_stats([0.01], periods_per_year=0)
    with pytest.raises(DataError, match="equity_curve: 1 non-finite"):
        equity_curve(pd.Series([0.01, np.inf]))


def test_risk_free_note_states_the_rate():
    assert "risk-free rate of 2.00% a year" in risk_free_note(0.02)
    assert "A = 50.4" in risk_free_note(0.0, 50.4)
