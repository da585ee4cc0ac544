"""Daily sentiment index per (ticker, trading day): the `sentiment` feature group (seed 004, seed 003).

Texts are first aligned to trading days by `finfusion.data.align.align_texts`: a text belongs to
the first session whose close is at or after its timestamp. The index of day t therefore uses
only texts available at the close of t (a text published one second after the close counts for
the next session). Each text is scored once by a sentiment `Scorer` (VADER by default, see
`finfusion.text.scorers`), s in [-1, 1], and the scores of (ticker, day t) are aggregated:

    sent_mean      weighted mean  Σ w_j s_j / Σ w_j
    sent_std       weighted standard deviation sqrt(Σ w_j (s_j - mean)² / Σ w_j) (volatility; 0 for one text)
    sent_n_pos     number of texts with s > neutral_band
    sent_n_neg     number of texts with s < -neutral_band
    sent_n_texts   number of texts
    sent_has_text  1.0 if the day has any text, else 0.0

Days without texts get 0 for every feature (and sent_has_text = 0), so a model can tell "no
news" from "neutral news"; nothing is forward-filled from earlier days.

Weights: w_j = exp(-decay · age_j), age_j = (close of day t − timestamp_j) in days (24 h).
decay = 0 (default) weights all texts equally; decay > 0 favours the texts nearest the close,
decay < 0 the earliest (seed 003 eq. 'normalised exponential decay' weights exp(-λτ) with τ the
time of day from midnight to the close, which favours early texts for λ > 0, is close to a
negative decay here). Counts are never weighted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from finfusion.data.align import session_closes
from finfusion.data.calendar import TradingCalendar
from finfusion.errors import ConfigError, DataError
from finfusion.text.scorers import Scorer, load_scorer, scorer_key

SENTIMENT_GROUP = "sentiment"
SENTIMENT_FEATURES = ("sent_mean", "sent_std", "sent_n_pos", "sent_n_neg", "sent_n_texts", "sent_has_text")
_DAY = pd.Timedelta(days=1)
# scorer identity -> {text: score}; every distinct text is scored once per process and scorer
_SCORE_CACHE: dict[str, dict[str, float]] = {}


@dataclass(frozen=True)
class SentimentIndexSpec:
    """How the `sentiment` feature group is computed.

    scorer        "vader", "lm" (Loughran-McDonald) or the directory of a fine-tuned classifier
                  (see `finfusion.text.scorers.load_scorer`).
    decay         λ of the weights exp(-λ · age in days); 0 = equal weights.
    neutral_band  scores in [-band, band] count neither as positive nor as negative
                  (0.05: VADER's neutral zone).
    batch_size    texts per scorer call (matters for transformer classifiers).
    """

    scorer: str = "vader"
    decay: float = 0.0
    neutral_band: float = 0.05
    batch_size: int = 64

    def __post_init__(self) -> None:
        if not np.isfinite(self.decay):
            raise ConfigError(f"sentiment decay={self.decay!r}; expected a finite number (0 = equal weights)")
        if not 0.0 <= self.neutral_band < 1.0:
            raise ConfigError(f"sentiment neutral_band={self.neutral_band!r}; expected 0 <= band < 1")
        if self.batch_size < 1:
            raise ConfigError(f"sentiment batch_size={self.batch_size!r}; expected an int >= 1")


def split_selection(
    features: Sequence[str] | None, groups: Sequence[str] | None, exclude_groups: Iterable[str] = ()
) -> tuple[list[str] | None, list[str] | None, list[str], list[str]]:
    """Separate the sentiment features from a feature selection.

    Returns (price features, price groups, exclude_groups without "sentiment", sentiment names):
    the first three go to `build_features` (None stays None), the last lists the requested
    SENTIMENT_FEATURES in their canonical order (all of them for the group "sentiment").
    """
    excluded = [g for g in exclude_groups if g != SENTIMENT_GROUP]
    wanted: set[str] = set()
    if groups is not None and SENTIMENT_GROUP in groups:
        wanted |= set(SENTIMENT_FEATURES)
    if features is not None:
        wanted |= {f for f in features if f in SENTIMENT_FEATURES}
    if SENTIMENT_GROUP in exclude_groups:
        wanted = set()
    price_features = None if features is None else [f for f in features if f not in SENTIMENT_FEATURES]
    price_groups = None if groups is None else [g for g in groups if g != SENTIMENT_GROUP]
    return price_features, price_groups, excluded, [f for f in SENTIMENT_FEATURES if f in wanted]


def wants_price_features(features: list[str] | None, groups: list[str] | None) -> bool:
    """Whether a selection (after `split_selection`) still names price features: both None is
    the default selection, otherwise at least one name or group must remain."""
    return (features is None and groups is None) or bool(features) or bool(groups)


def score_texts(
    texts: Sequence[str], scorer: str | Scorer, *, batch_size: int = 64, cache_key: str | None = None
) -> np.ndarray:
    """Sentiment scores (n,) float64 of `texts`, each distinct text scored once.

    scorer     a spec for `load_scorer` ("vader", "lm", a classifier directory) or a Scorer.
    cache_key  identity of a Scorer object for the process-wide score cache (a spec is its own
               key); without one, an object's scores are deduplicated within this call only.
    """
    if isinstance(scorer, str):
        cache_key, scorer = scorer_key(scorer), load_scorer(scorer)
    cache = _SCORE_CACHE.setdefault(cache_key, {}) if cache_key is not None else {}
    distinct = pd.unique(pd.Series(list(texts), dtype=object)) if len(texts) else np.array([], dtype=object)
    new = [t for t in distinct if t not in cache]
    if new:
        scores = np.asarray(scorer.score(new, batch_size=batch_size), dtype=np.float64)
        if scores.shape != (len(new),) or not np.all(np.abs(scores) <= 1.0 + 1e-9):
            raise DataError(
                f"sentiment scorer {getattr(scorer, 'name', scorer)!r} returned {scores.shape} scores for "
                f"{len(new)} texts (expected one finite value in [-1, 1] per text)"
            )
        cache.update(zip(new, np.clip(scores, -1.0, 1.0).tolist()))
    return np.fromiter((cache[t] for t in texts), dtype=np.float64, count=len(texts))


def clear_score_cache() -> None:
    """Forget every cached score (e.g. after retraining a classifier saved in the same directory)."""
    _SCORE_CACHE.clear()


def daily_sentiment_index(
    aligned: pd.DataFrame,
    scores: np.ndarray,
    panel: pd.DataFrame,
    *,
    decay: float = 0.0,
    neutral_band: float = 0.05,
    close_time: str = "16:00",
    timezone: str = "America/New_York",
) -> pd.DataFrame:
    """The sentiment index of every (date, ticker) row of `panel`.

    aligned  output of `align_texts` (timestamp, ticker, text, date), m rows
    scores   (m,) sentiment of each aligned text, in [-1, 1]
    panel    frame with columns date, ticker; n rows
    close_time, timezone  the market close (as given to `align_texts`), used for the text ages
             when decay != 0.
    Returns n rows in panel order: date, ticker and SENTIMENT_FEATURES (float64; 0 on days
    without texts, see the module docstring).
    """
    missing = [c for c in ("timestamp", "ticker", "date") if c not in aligned.columns]
    if missing:
        raise DataError(f"daily_sentiment_index: aligned texts lack column(s) {missing}; run align_texts first")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(aligned),):
        raise DataError(f"daily_sentiment_index: {len(aligned)} aligned texts but scores of shape {scores.shape}")
    frame = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(aligned["date"]).as_unit("ns"),
            "ticker": aligned["ticker"].astype(str).to_numpy(),
            "s": scores,
            "w": _weights(aligned, decay, close_time, timezone),
        }
    )
    daily = _aggregate(frame, neutral_band)
    out = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(pd.to_datetime(panel["date"])).as_unit("ns"),
            "ticker": panel["ticker"].astype(str).to_numpy(),
        }
    )
    out = out.merge(daily, on=["date", "ticker"], how="left", validate="m:1")
    out[list(SENTIMENT_FEATURES)] = out[list(SENTIMENT_FEATURES)].fillna(0.0)
    return out


def _weights(aligned: pd.DataFrame, decay: float, close_time: str, timezone: str) -> np.ndarray:
    """exp(-decay · age in days), scaled per (ticker, day) so that its largest weight is 1."""
    if decay == 0 or not len(aligned):
        return np.ones(len(aligned))
    dates = pd.DatetimeIndex(aligned["date"]).as_unit("ns")
    calendar = TradingCalendar(dates.unique())
    closes = session_closes(calendar, close_time=close_time, timezone=timezone).asi8[
        calendar.sessions.get_indexer(dates)
    ]
    stamps = pd.DatetimeIndex(aligned["timestamp"]).tz_convert("UTC").as_unit("ns").asi8
    age = (closes - stamps) / _DAY.value  # days, from publication to the close of the text's session
    log_w = pd.Series(-decay * age)
    groups = [aligned["ticker"].astype(str).to_numpy(), dates.to_numpy()]
    return np.exp(log_w - log_w.groupby(groups).transform("max")).to_numpy()


def _aggregate(frame: pd.DataFrame, neutral_band: float) -> pd.DataFrame:
    """One row per (date, ticker) with texts: the SENTIMENT_FEATURES of its scores and weights."""
    frame = frame.assign(ws=frame["w"] * frame["s"], pos=frame["s"] > neutral_band, neg=frame["s"] < -neutral_band)
    by = frame.groupby(["date", "ticker"], sort=False)
    mean = by["ws"].transform("sum") / by["w"].transform("sum")
    frame["wd2"] = frame["w"] * (frame["s"] - mean) ** 2
    by = frame.groupby(["date", "ticker"], sort=False)
    sums = by[["w", "ws", "wd2"]].sum()
    daily = pd.DataFrame(
        {
            "sent_mean": sums["ws"] / sums["w"],
            "sent_std": np.sqrt(sums["wd2"] / sums["w"]),
            "sent_n_pos": by["pos"].sum().astype(np.float64),
            "sent_n_neg": by["neg"].sum().astype(np.float64),
            "sent_n_texts": by["s"].size().astype(np.float64),
        }
    )
    daily["sent_has_text"] = 1.0
    return daily.reset_index()


def sentiment_features(
    aligned: pd.DataFrame,
    panel: pd.DataFrame,
    spec: SentimentIndexSpec,
    names: Sequence[str] = SENTIMENT_FEATURES,
    *,
    close_time: str = "16:00",
    timezone: str = "America/New_York",
) -> pd.DataFrame:
    """Score the aligned texts with `spec.scorer` (cached per distinct text) and return the index
    columns `names` for every panel row: date, ticker, *names (panel order)."""
    texts = aligned["text"].astype(str).tolist()
    scores = score_texts(texts, spec.scorer, batch_size=spec.batch_size)
    index = daily_sentiment_index(
        aligned,
        scores,
        panel,
        decay=spec.decay,
        neutral_band=spec.neutral_band,
        close_time=close_time,
        timezone=timezone,
    )
    return index[["date", "ticker", *names]]
