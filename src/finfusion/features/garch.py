"""Causal GARCH(1,1) volatility forecasts with periodic, expanding-window refits.

The `arch` package estimates the model and runs the variance recursion; the only code
here is the refit schedule. At each refit point k (k = min_obs, min_obs + refit_every,
...) the parameters are estimated on returns[0..k] only (`fit(last_obs=k+1)`, expanding
window, warm-started from the previous refit's parameters). With those parameters held
fixed, arch's one-step forecasts (`forecast(start=k, horizon=1)`) give, for every day t in
[k, next refit), sigma_{t+1|t}: the volatility of day t+1's return as forecast at the
close of day t. It uses returns <= t and the parameters fitted on returns <= k <= t, so
the value of day t never depends on anything after t.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from arch import arch_model


def garch_volatility(
    log_returns: pd.Series,
    *,
    refit_every: int = 21,
    min_obs: int = 250,
    scale: float = 100.0,
    mean: str = "Constant",
) -> pd.Series:
    """One-step-ahead GARCH(1,1) volatility, causal.

    Parameters
    ----------
    log_returns : Series (T,) of daily log returns of ONE ticker, in time order, as
        fractions (0.01 = 1 %), without NaN (drop the first row of a diffed series first).
    refit_every : re-estimate the parameters every this many observations.
    min_obs : first refit point; the estimation sample then has min_obs + 1 returns.
    scale : returns are multiplied by this before fitting (arch's optimiser prefers
        percent-sized data) and the result is divided by it.
    mean : "Constant" or "Zero" mean model; normal innovations.

    Returns
    -------
    Series (T,) aligned with `log_returns`: value at t = sigma_{t+1|t} in return units
    (per-day standard deviation, a fraction). NaN for t < min_obs.
    """
    _check_inputs(log_returns, refit_every=refit_every, min_obs=min_obs, scale=scale, mean=mean)
    y = log_returns.to_numpy(dtype="float64") * scale
    n = len(y)
    out = np.full(n, np.nan)
    params = None
    for k in range(min_obs, n, refit_every):
        stop = min(k + refit_every, n)
        model = arch_model(y[:stop], mean=mean, vol="GARCH", p=1, q=1, dist="normal", rescale=False)
        result, params = _fit(model, last_obs=k + 1, previous=params)
        variance = result.forecast(start=k, horizon=1, reindex=False).variance
        out[k:stop] = np.sqrt(variance.to_numpy()[:, 0]) / scale
    return pd.Series(out, index=log_returns.index, name="garch_vol")


def _fit(model, *, last_obs: int, previous: np.ndarray | None):
    """Fit on the first `last_obs` observations. If the optimiser fails and a previous fit
    exists, keep the previous parameters (fixed) rather than use a failed estimate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(
            last_obs=last_obs, starting_values=previous, disp="off", show_warning=False
        )
    params = result.params.to_numpy()
    if (result.convergence_flag != 0 or not np.all(np.isfinite(params))) and previous is not None:
        return model.fix(previous, last_obs=last_obs), previous
    return result, params


def _check_inputs(
    log_returns: pd.Series, *, refit_every: int, min_obs: int, scale: float, mean: str
) -> None:
    if not isinstance(log_returns, pd.Series):
        raise TypeError(f"garch_volatility: log_returns must be a pandas Series, got {type(log_returns).__name__}")
    if refit_every < 1:
        raise ValueError(f"garch_volatility: refit_every must be >= 1, got {refit_every}")
    if min_obs < 10:
        raise ValueError(f"garch_volatility: min_obs must be >= 10 to estimate 4 parameters, got {min_obs}")
    if not scale > 0:
        raise ValueError(f"garch_volatility: scale must be > 0, got {scale}")
    if mean not in ("Constant", "Zero"):
        raise ValueError(f"garch_volatility: mean must be 'Constant' or 'Zero', got {mean!r}")
    values = log_returns.to_numpy(dtype="float64")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"garch_volatility: log_returns must be finite; {bad.size} non-finite value(s), "
            f"first at position {bad[0]} (index {log_returns.index[bad[0]]!r}); "
            "drop the leading NaN of a diffed series before calling"
        )
