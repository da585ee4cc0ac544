"""Causal GARCH(1,1) volatility."""

import numpy as np
import pandas as pd
import pytest
from arch import arch_model

from finfusion.features.build import build_features
from finfusion.features.garch import garch_volatility


def garch_series(n=160, seed=0):
    """Simulated GARCH(1,1) returns (fractions, ~1 % daily)."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 0.05e-4, 0.08, 0.87
    var, out = omega / (1 - alpha - beta), np.empty(n)
    for t in range(n):
        out[t] = np.sqrt(var) * rng.standard_normal()
        var = omega + alpha * out[t] ** 2 + beta * var
    return pd.Series(out, index=pd.bdate_range("2020-01-01", periods=n))


def test_nan_before_min_obs_and_units():
    r = garch_series()
    vol = garch_volatility(r, min_obs=60, refit_every=10)
    assert vol.index.equals(r.index)
    assert vol.iloc[:60].isna().all() and vol.iloc[60:].notna().all()
    # return units (not percent): close to the sample std of ~1 % returns
    assert 0.3 * r.std() < vol.iloc[60:].mean() < 3 * r.std()


def test_first_refit_matches_arch_forecast():
    r = garch_series()
    k = 60
    vol = garch_volatility(r, min_obs=k, refit_every=10)
    res = arch_model(r.iloc[: k + 1].to_numpy() * 100, mean="Constant", vol="GARCH", p=1, q=1,
                     dist="normal", rescale=False).fit(disp="off")
    expected = np.sqrt(res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]) / 100
    assert vol.iloc[k] == pytest.approx(expected, rel=1e-6)


def test_causal():
    """Changing returns after t cannot change any value <= t."""
    r = garch_series()
    before = garch_volatility(r, min_obs=60, refit_every=10)
    t = 95  # between refits 90 and 100
    changed = r.copy()
    changed.iloc[t + 1 :] = changed.iloc[t + 1 :] * 5 + 0.01
    after = garch_volatility(changed, min_obs=60, refit_every=10)
    pd.testing.assert_series_equal(before.iloc[: t + 1], after.iloc[: t + 1])
    assert not np.allclose(before.iloc[t + 1 :], after.iloc[t + 1 :])


def test_rejects_nan_and_bad_arguments():
    r = garch_series()
    with pytest.raises(ValueError, match="position 0"):
        garch_volatility(pd.concat([pd.Series([np.nan]), r], ignore_index=True))
    with pytest.raises(ValueError, match="refit_every"):
        garch_volatility(r, refit_every=0)


def test_short_series_all_nan_and_build_feature():
    assert garch_volatility(garch_series(50), min_obs=60).isna().all()
    close = 100 * np.exp(np.cumsum(garch_series(270).to_numpy()))
    prices = pd.DataFrame({"date": pd.bdate_range("2020-01-01", periods=270), "ticker": "A",
                           "open": close, "high": close, "low": close, "close": close, "volume": 1.0})
    out = build_features(prices, ["garch_vol"])
    # one row lost to the first return, then min_obs=250 returns
    assert out["garch_vol"].isna().sum() == 251
