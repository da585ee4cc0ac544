"""Portfolio statistics against empyrical and by hand; MAPE, IC and the per-method table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError
from finfusion.portfolio import (
    backtest,
    ic_stats,
    information_coefficients,
    mape,
    portfolio_table,
)


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
