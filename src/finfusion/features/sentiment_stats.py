"""Daily sentiment statistics per (ticker, trading day): text weights, weighted moments, fills.

`finfusion.features.sentiment` scores the texts and chooses what to compute; this module turns
(aligned texts, one score each) into one row of statistics per (date, ticker) of a panel.
Definitions (n texts of ticker i on day t, scores s_j in [-1, 1], weights w_j summing to 1):

    mean       M1 = Σ w_j s_j
    std        sqrt(Σ w_j (s_j - M1)²)               (= sqrt(M2 - M1²) of seed 003 §4.2; 0 for one text)
    max, min   max_j s_j, min_j s_j                 (unweighted)
    range      max - min                            (seed 003's δ)
    kurt       excess kurtosis Σ w_j (s_j - M1)⁴ / std⁴ - 3
               (= seed 003's (M4 - 4 M3 M1 + 6 M2 M1² - 3 M1⁴) / σ⁴ - 3, computed from central
               moments for numerical stability). Defined as 0 (the excess kurtosis of a normal law:
               no evidence of heavy or light tails) when n < KURTOSIS_MIN_TEXTS (4) or std <= 1e-6:
               with so few texts (or identical scores) the shape is not estimable.
    n_pos      number of texts with s > neutral_band; n_neg: s < -neutral_band (unweighted)
    n_texts    number of texts
    has_text   1.0 on days with at least one text, else 0.0
    staleness  sessions since the ticker's last day with text (0 on such days; fill "ffill" only)

Weights (`decay_basis`), always normalised per (ticker, day) so that Σ w_j = 1:

    age          w_j ∝ exp(-λ · age_j), age_j = (close of day t - timestamp_j) in days of 24 h;
                 λ > 0 favours the texts nearest the close.
    time_of_day  w_j ∝ exp(-λ · τ_j) (seed 003 §4.2), τ_j = (timestamp_j - local midnight of
                 day t) / (close of t - local midnight of t) in [0, 1]: 0 at midnight, 1 at the
                 close; λ > 0 favours the earliest texts of the day. A text aligned to day t but
                 published before its midnight (the previous evening, a weekend, a holiday) gets
                 τ = 0: it was available from the start of the day.

λ = 0 gives equal weights with either basis.

Fills of (ticker, day) rows without any text, always declared by the caller (never implicit):

    zero     every statistic 0 and has_text = 0.
    neutral  the statistics of neutral news: mean = max = min = 0, std = range = kurt = 0, counts
             0. With scores centred on 0 the values equal those of "zero"; the two differ in
             what the feature spec adds (see `SentimentSpec`): "zero" always adds has_text so
             a model can tell "no news" from "neutral news", "neutral" declares them the same.
    ffill    the statistics of the ticker's last day with text (counts included), has_text = 0
             and staleness = sessions since that day. Rows before a ticker's first text have no
             statistics (NaN): `build_samples` drops them as feature warm-up and counts them.
             Days with texts but no prices row of that ticker still carry forward.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from finfusion.data.align import session_closes
from finfusion.data.calendar import TradingCalendar
from finfusion.errors import ConfigError

DecayBasis = Literal["age", "time_of_day"]
Fill = Literal["zero", "neutral", "ffill"]
DECAY_BASES = ("age", "time_of_day")
FILLS = ("zero", "neutral", "ffill")
STATS = ("mean", "std", "max", "min", "range", "kurt", "n_pos", "n_neg", "n_texts", "has_text", "staleness")
KURTOSIS_MIN_TEXTS = 4
_MIN_STD = 1e-6
_DAY = pd.Timedelta(days=1)


def text_weights(
    aligned: pd.DataFrame,
    decay: float,
    *,
    basis: DecayBasis = "age",
    close_time: str = "16:00",
    timezone: str = "America/New_York",
) -> np.ndarray:
    """(m,) weights exp(-decay · x_j), x = age in days or τ (see module), scaled per (ticker, day)
    so that its largest weight is 1 (normalised to sum 1 by `daily_statistics`)."""
    if basis not in DECAY_BASES:
        raise ConfigError(f"sentiment decay_basis={basis!r}; expected one of {DECAY_BASES}")
    if decay == 0 or not len(aligned):
        return np.ones(len(aligned))
    dates = pd.DatetimeIndex(aligned["date"]).as_unit("ns")
    calendar = TradingCalendar(dates.unique())
    closes = session_closes(calendar, close_time=close_time, timezone=timezone).asi8[
        calendar.sessions.get_indexer(dates)
    ]
    stamps = pd.DatetimeIndex(aligned["timestamp"]).tz_convert("UTC").as_unit("ns").asi8
    if basis == "age":
        x = (closes - stamps) / _DAY.value  # days, from publication to the close of the text's session
    else:
        midnights = dates.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward")
        midnights = midnights.tz_convert("UTC").as_unit("ns").asi8
        span = (closes - midnights).astype(np.float64)  # ns from local midnight to the close
        x = np.clip((stamps - midnights) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    log_w = pd.Series(-decay * np.asarray(x, dtype=np.float64))
    groups = [aligned["ticker"].astype(str).to_numpy(), dates.to_numpy()]
    return np.exp(log_w - log_w.groupby(groups).transform("max")).to_numpy()


def daily_statistics(
    dates: pd.DatetimeIndex, tickers: np.ndarray, scores: np.ndarray, weights: np.ndarray, neutral_band: float
) -> pd.DataFrame:
    """One row per (date, ticker) with texts: date, ticker and every STATS column but staleness."""
    frame = pd.DataFrame({"date": dates, "ticker": tickers, "s": scores, "w": weights})
    by = frame.groupby(["date", "ticker"], sort=False)
    frame["w"] = frame["w"] / by["w"].transform("sum")
    frame["ws"] = frame["w"] * frame["s"]
    mean = frame.groupby(["date", "ticker"], sort=False)["ws"].transform("sum")
    d = frame["s"] - mean
    frame = frame.assign(
        wd2=frame["w"] * d**2, wd4=frame["w"] * d**4, pos=frame["s"] > neutral_band, neg=frame["s"] < -neutral_band
    )
    by = frame.groupby(["date", "ticker"], sort=False)
    sums = by[["ws", "wd2", "wd4"]].sum()
    n = by["s"].size().astype(np.float64)
    std = np.sqrt(sums["wd2"])
    shaped = (n >= KURTOSIS_MIN_TEXTS) & (std > _MIN_STD)
    kurt = np.where(shaped, sums["wd4"] / np.where(shaped, sums["wd2"], 1.0) ** 2 - 3.0, 0.0)
    high, low = by["s"].max(), by["s"].min()
    daily = pd.DataFrame(
        {
            "mean": sums["ws"],
            "std": std,
            "max": high,
            "min": low,
            "range": high - low,
            "kurt": kurt,
            "n_pos": by["pos"].sum().astype(np.float64),
            "n_neg": by["neg"].sum().astype(np.float64),
            "n_texts": n,
        }
    )
    daily["has_text"] = 1.0
    return daily.reset_index()


def fill_panel(daily: pd.DataFrame, panel: pd.DataFrame, fill: Fill) -> pd.DataFrame:
    """Statistics for every panel row (date, ticker; panel order): daily rows where the day has
    texts, `fill` elsewhere (see module). Returns date, ticker and every STATS column."""
    if fill not in FILLS:
        raise ConfigError(f"sentiment fill={fill!r}; expected one of {FILLS}")
    keys = pd.DataFrame(
        {"date": pd.DatetimeIndex(pd.to_datetime(panel["date"])).as_unit("ns"), "ticker": panel["ticker"].astype(str).to_numpy()}
    )
    values = [s for s in STATS if s != "staleness"]
    if fill != "ffill":
        out = keys.merge(daily, on=["date", "ticker"], how="left", validate="m:1")
        out[values] = out[values].fillna(0.0)
        out["staleness"] = 0.0
        return out
    extra = keys.drop_duplicates().merge(daily[["date", "ticker"]], how="left", indicator=True)
    extra = extra.loc[extra["_merge"] == "left_only", ["date", "ticker"]]
    both = pd.concat([daily, extra], ignore_index=True).sort_values(["ticker", "date"], kind="stable")
    seen = both["has_text"].notna()
    run = seen.astype(np.int64).groupby(both["ticker"], sort=False).cumsum()  # text days so far
    both["staleness"] = both.groupby([both["ticker"], run], sort=False).cumcount().astype(np.float64)
    both.loc[run == 0, "staleness"] = np.nan  # before the ticker's first text
    filled = [s for s in values if s != "has_text"]
    both[filled] = both.groupby("ticker", sort=False)[filled].ffill()
    both["has_text"] = seen.astype(np.float64)
    return keys.merge(both, on=["date", "ticker"], how="left", validate="m:1")
