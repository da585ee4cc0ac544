"""Causal technical indicators of one ticker's price history.

Every function takes the history of ONE ticker as a pandas Series (or the frame for the
indicators that need high/low/volume), indexed in date order, and returns a float64
Series aligned with it. The value on day t uses only rows <= t (pandas' rolling / ewm /
shift / diff are all backward-looking); the first rows, where an indicator is not yet
defined, are NaN ("warm-up"). Returns are fractions (0.01 = 1 %). Grouping by ticker is
done by `finfusion.features.build`; nothing here may see two tickers at once.

Warm-up lengths (number of leading NaN rows), for n >= 1:
    simple_return            1
    log_return_lag(k)        k
    ma_ratio(n)              n - 1
    rsi(n)                   n
    macd / macd_signal       slow - 1 / slow + signal - 2  (25 / 33 for 12/26/9)
    momentum(k)              k
    rolling_volatility(n)    n
    price_range              0
    volume_log               0
    volume_change            1
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _check_window(name: str, n: int) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name}: window must be a positive integer, got {n!r}")


def log_returns(prices: pd.Series) -> pd.Series:
    """log(p_t / p_{t-1}); NaN on the first row. prices: (T,) > 0."""
    return np.log(prices.astype("float64")).diff()


def simple_return(prices: pd.Series) -> pd.Series:
    """p_t / p_{t-1} - 1 (fraction); NaN on the first row."""
    return prices.astype("float64").pct_change(fill_method=None)


def log_return_lag(prices: pd.Series, k: int) -> pd.Series:
    """The log return that ended k-1 days before t: lag 1 = log(p_t/p_{t-1}),
    lag 2 = log(p_{t-1}/p_{t-2}), ...; known at the close of t. k >= 1."""
    _check_window("log_return_lag", k)
    return log_returns(prices).shift(k - 1)


def ma_ratio(prices: pd.Series, n: int) -> pd.Series:
    """p_t / mean(p_{t-n+1..t}) - 1: distance from the n-day moving average (scale-free)."""
    _check_window("ma_ratio", n)
    p = prices.astype("float64")
    return p / p.rolling(n, min_periods=n).mean() - 1.0


def rsi(prices: pd.Series, n: int = 14) -> pd.Series:
    """Relative strength index in [0, 100] with Wilder smoothing (EWM, alpha = 1/n).

    RSI = 100 - 100 / (1 + avg_gain / avg_loss). The averages are exponential with
    alpha = 1/n started at the first price change (pandas ewm, adjust=False), and the
    first n rows are NaN. avg_loss == 0 gives 100; a flat history (no gains, no losses)
    gives 50 (undefined ratio, read as neutral).
    """
    _check_window("rsi", n)
    delta = prices.astype("float64").diff()
    gain = delta.clip(lower=0.0).ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()
    loss = (-delta).clip(lower=0.0).ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    value = value.where(loss > 0, 100.0)
    value = value.where((gain > 0) | (loss > 0), 50.0)
    return value.where(gain.notna() & loss.notna())


def macd_lines(
    prices: pd.Series, *, fast: int = 12, slow: int = 26, signal: int = 9
) -> pd.DataFrame:
    """MACD, signal and histogram, each divided by the same day's price (scale-free).

    macd_raw = EMA_fast(p) - EMA_slow(p) (pandas ewm span, adjust=False), NaN until the
    slow EMA has `slow` observations; signal_raw = EMA_signal(macd_raw) with `signal`
    observations. Returns columns macd = macd_raw / p_t, macd_signal = signal_raw / p_t,
    macd_hist = macd - macd_signal.
    """
    for name, n in (("fast", fast), ("slow", slow), ("signal", signal)):
        _check_window(f"macd {name}", n)
    p = prices.astype("float64")
    ema_fast = p.ewm(span=fast, adjust=False).mean()
    ema_slow = p.ewm(span=slow, adjust=False, min_periods=slow).mean()
    raw = ema_fast - ema_slow
    sig = raw.ewm(span=signal, adjust=False, min_periods=signal).mean()
    out = pd.DataFrame({"macd": raw / p, "macd_signal": sig / p}, index=prices.index)
    out["macd_hist"] = out["macd"] - out["macd_signal"]
    return out


def momentum(prices: pd.Series, k: int) -> pd.Series:
    """p_t / p_{t-k} - 1 (fraction)."""
    _check_window("momentum", k)
    return prices.astype("float64").pct_change(periods=k, fill_method=None)


def rolling_volatility(prices: pd.Series, n: int) -> pd.Series:
    """Sample standard deviation (ddof=1) of the last n daily log returns (per-day units)."""
    _check_window("rolling_volatility", n)
    if n < 2:
        raise ValueError(f"rolling_volatility: window must be >= 2 for a standard deviation, got {n}")
    return log_returns(prices).rolling(n, min_periods=n).std(ddof=1)


def price_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """(high_t - low_t) / close_t: the day's range as a fraction of the close."""
    return (high.astype("float64") - low.astype("float64")) / close.astype("float64")


def volume_log(volume: pd.Series) -> pd.Series:
    """log(1 + volume_t)."""
    return np.log1p(volume.astype("float64"))


def volume_change(volume: pd.Series) -> pd.Series:
    """log((1 + v_t) / (1 + v_{t-1})): the log volume ratio vs the previous day.

    The +1 keeps zero-volume days finite (a plain log ratio would be +-inf).
    """
    return volume_log(volume).diff()
