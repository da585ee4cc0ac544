"""Portfolio statistics against empyrical and by hand; MAPE, IC and the per-method table."""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError, DataError
from finfusion.portfolio import (
    backtest,
    ic_stats,
    information_coefficients,
    mape,
    performance_stats,
    periods_per_year,
    portfolio_table,
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


def test_mape_excludes_near_zero_returns_and_counts_them():
    out = mape([0.02, -0.01, 0.0005, 0.04], [0.01, 0.01, 0.03, 0.04], eps=1e-3)
    assert out["mape"] == pytest.approx((0.5 + 2.0 + 0.0) / 3)
    assert out["mape_n_used"] == 3 and out["mape_n_excluded"] == 1
    assert np.isnan(mape([0.0], [0.1])["mape"])
    with pytest.raises(ConfigError):
        mape([0.1], [0.1], eps=0.0)


def test_information_coefficients_by_hand():
    d = pd.bdate_range("2024-01-01", periods=2)
    rows = pd.DataFrame({"date": np.repeat(d, 3), "score": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
                         "return": [0.01, 0.03, 0.02, 0.03, 0.02, 0.01]})
    per_date = information_coefficients(rows)
    np.testing.assert_allclose(per_date["ic"], [0.5, -1.0])  # corr([1,2,3], [1,3,2]) = 0.5
    np.testing.assert_allclose(per_date["rank_ic"], [0.5, -1.0])
    stats = ic_stats(per_date)
    sd = np.sqrt(2 * 0.75**2)
    assert stats["ic"] == pytest.approx(-0.25) and stats["ic_std"] == pytest.approx(sd)
    assert stats["icir"] == pytest.approx(-0.25 / sd) and stats["rank_icir"] == pytest.approx(-0.25 / sd)
    assert stats["n_ic_dates"] == 2


def test_portfolio_table_by_hand(tiny):
    preds, returns = tiny.two_dates(model="m")
    result = backtest(preds, returns, n_groups=5, cost_bps=10.0)
    table = portfolio_table(result, preds, returns).set_index("method")
    assert list(table.index) == ["m", "Universe"]
    assert list(table.columns[:8]) == ["model", "long_only_annual_return", "long_only_sharpe",
                                       "long_short_annual_return", "long_short_sharpe", "mape", "ic", "rank_ic"]
    m = table.loc["m"]
    assert m["long_only_annual_return"] == pytest.approx((1.084 * 0.993) ** (252 / 2) - 1)
    lo = np.array([0.084, -0.007])
    assert m["long_only_sharpe"] == pytest.approx(lo.mean() / lo.std(ddof=1) * np.sqrt(252))
    assert m["long_short_annual_return"] == pytest.approx((1.078 * 1.076) ** 126 - 1)
    assert m["long_only_max_drawdown"] == pytest.approx(-0.007)
    assert m["long_only_turnover"] == pytest.approx(1.5) and m["long_short_turnover"] == pytest.approx(3.0)
    assert m["mape"] == pytest.approx(1.0)  # score = 2 * return: |2y - y| / |y| = 1
    assert m["mape_n_excluded"] == 2  # T0 has return 0 on both dates
    assert m["ic"] == pytest.approx(1.0) and m["rank_ic"] == pytest.approx(1.0) and np.isnan(m["icir"])
    assert m["n_periods"] == 2 and m["n_skipped"] == 0
    u = table.loc["Universe"]
    assert u["long_only_annual_return"] == pytest.approx((1.044 * 0.955) ** 126 - 1)
    assert np.isnan(u["long_short_sharpe"]) and np.isnan(u["ic"])
    gross = portfolio_table(result, preds, returns, kind="gross", periods_per_year=12).set_index("method")
    assert gross.loc["m", "long_only_annual_return"] == pytest.approx((1.085 * 0.995) ** 6 - 1)
    with pytest.raises(ConfigError, match="kind"):
        portfolio_table(result, preds, returns, kind="both")
    probability = portfolio_table(result, preds, returns, with_mape=False)  # a p(rise) score has no MAPE
    assert not [c for c in probability.columns if c.startswith("mape")]
    assert probability.set_index("method").loc["m", "ic"] == pytest.approx(1.0)


def test_portfolio_table_one_row_per_model(tiny):
    a, returns = tiny.two_dates(model="a")
    b = a.assign(model="b", y_pred=-a["y_pred"])  # the reverse ranking loses what a wins
    preds = pd.concat([a, b])
    table = portfolio_table(backtest(preds, returns, n_groups=5, cost_bps=0.0), preds, returns).set_index("method")
    assert list(table.index) == ["a", "b", "Universe"]
    assert table.loc["b", "ic"] == pytest.approx(-1.0)
    assert table.loc["b", "long_short_cumulative_return"] == pytest.approx(0.92**2 - 1)  # -0.08 twice


def test_portfolio_table_names_seeds_and_plain_predictions(tiny):
    preds, returns = tiny.two_dates(model="m")
    seeds = pd.concat([preds.assign(seed=0), preds.assign(seed=1)])
    table = portfolio_table(backtest(seeds, returns, n_groups=5), seeds, returns)
    assert table["method"].tolist() == ["m (seed=0)", "m (seed=1)", "Universe"]
    assert table["seed"].tolist()[:2] == [0, 1]
    plain = preds.drop(columns="model")
    table = portfolio_table(backtest(plain, returns, n_groups=5), plain, returns)
    assert table["method"].tolist() == ["predictions", "Universe"]
