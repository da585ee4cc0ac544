"""Daily sentiment features per (ticker, trading day): the `sentiment` feature group(s) (seeds 003, 004).

Texts are first aligned to trading days by `finfusion.data.align.align_texts`: a text belongs to
the first session whose close is at or after its timestamp. The features of day t therefore use
only texts available at the close of t (a text published one second after the close counts for
the next session). Each text is scored once by a sentiment `Scorer` (VADER by default, see
`finfusion.text.scorers`), s in [-1, 1], and the scores of (ticker, day t) are aggregated into the
statistics of `finfusion.features.sentiment_stats` (weighted mean, std, max, min, range, excess
kurtosis, counts, has_text, staleness), with text weights by age or by time of day, and a
declared fill for days without text (zero, neutral or ffill).

One `SentimentSpec` makes one set of features. Unnamed (the default, seed 004), its
features are `sent_<stat>` in the group "sentiment", and its default statistics are the six
SENTIMENT_FEATURES:

    sent_mean sent_std sent_n_pos sent_n_neg sent_n_texts sent_has_text

with equal weights and fill "zero" (no news -> 0 and sent_has_text = 0; nothing forward-filled).
Several named specs (e.g. one per scorer, to compare VADER with a fine-tuned classifier in one
run) give features `sent_<name>_<stat>` in the groups "sentiment_<name>"; the group "sentiment"
then holds them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

import finfusion.progress as progress
from finfusion.errors import ConfigError, DataError
from finfusion.features.sentiment_stats import (
    STATS,
    DecayBasis,
    Fill,
    daily_statistics,
    fill_panel,
    text_weights,
)
from finfusion.strict import _Strict
from finfusion.text.inference import Engine, Precision, check_inference
from finfusion.text.scorers import Scorer, check_lexicon_inference, is_lexicon, load_scorer, scorer_key

SENTIMENT_GROUP = "sentiment"
DEFAULT_STATS = ("mean", "std", "n_pos", "n_neg", "n_texts", "has_text")
SENTIMENT_FEATURES = tuple(f"sent_{s}" for s in DEFAULT_STATS)
SEED003_STATS = ("mean", "std", "max", "range", "kurt", "n_texts")  # seed 003 §4.2 (+ the count)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# scorer identity -> {text: score}; every distinct text is scored once per process and scorer
_SCORE_CACHE: dict[str, dict[str, float]] = {}


class SentimentSpec(_Strict):
    """One set of sentiment features (finfusion.features.sentiment); `features.sentiment` is one such
    mapping or a list of named ones (e.g. one per scorer), and `sentiment_features` computes one.

    Frozen and hashable (`stats` is a tuple; a YAML list is accepted). Bad values raise pydantic's
    ValidationError (a ValueError) naming the key and the value; a run config reports it under its
    key path (`features.sentiment.<i>.<key>`). Settings (see each field's description):

    scorer        "vader", "lm" (Loughran-McDonald) or the directory of a fine-tuned classifier
                  (see `finfusion.text.scorers.load_scorer`).
    decay_basis   x of the text weights exp(-λ · x): "age" (days from publication to the close)
                  or "time_of_day" (seed 003's τ); see `finfusion.features.sentiment_stats`.
    alpha, beta   weights of a classifier's score α·p_pos − β·p_neg (seed 003 definition 3); a
                  lexicon gives one score and needs the default α = β = 1.
    stats         statistics of the group, from STATS (default: the six SENTIMENT_FEATURES;
                  SEED003_STATS for seed 003 §4.2). Features are in STATS order.
    fill          "zero" always adds has_text and "ffill" always adds staleness, so the fill is
                  visible to the model; "staleness" needs "ffill".
    """

    name: str | None = Field(
        None, description="None: features sent_<stat> in group 'sentiment'; a name: sent_<name>_<stat> in 'sentiment_<name>'"
    )
    scorer: str = Field("vader", description="'vader', 'lm' (Loughran-McDonald) or a fine-tuned classifier directory")
    decay: float = Field(0.0, allow_inf_nan=False, description="λ of the text weights exp(-λ · x); 0 = equal weights")
    decay_basis: DecayBasis = Field(
        "age", description="x = age in days to the close (λ>0: late texts count more) or seed 003's τ = time of "
        "day, 0 at midnight and 1 at the close (λ>0: early texts count more)"
    )
    neutral_band: float = Field(0.05, ge=0.0, lt=1.0, description="|score| <= band counts as neither pos nor neg")
    batch_size: int = Field(64, ge=1, description="texts per scorer call")
    stats: tuple[Literal[STATS], ...] = Field(  # type: ignore[valid-type]
        DEFAULT_STATS, description=f"statistics, from {list(STATS)}"
    )
    alpha: float = Field(1.0, ge=0.0, allow_inf_nan=False,
                         description="weight of p_pos in a classifier's score α·p_pos − β·p_neg")
    beta: float = Field(1.0, ge=0.0, allow_inf_nan=False, description="weight of p_neg (a lexicon needs α = β = 1)")
    fill: Fill = Field("zero", description="days without text: zero (+ has_text), neutral, or ffill (+ staleness)")
    engine: Engine = Field("torch", description="a classifier scorer runs on torch or onnx (ONNX Runtime, extra "
                           "[onnx]; docs/text.md)")
    precision: Precision = Field("fp32", description="a classifier scorer's precision: fp32, int8 (onnx) or bf16 "
                                 "(torch autocast)")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.fullmatch(value):
            raise ValueError(f"sentiment name={value!r}; expected lower-case letters, digits and _ (e.g. 'vader')")
        return value

    @field_validator("stats")
    @classmethod
    def _check_stats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(f"sentiment stats=[]; expected a non-empty list of {list(STATS)}")
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> SentimentSpec:
        if (self.alpha, self.beta) != (1.0, 1.0) and is_lexicon(self.scorer):
            raise ValueError(f"sentiment alpha={self.alpha!r}, beta={self.beta!r}: the lexicon {self.scorer!r} gives one "
                             "score per text; α and β weight a classifier's p_pos and p_neg (keep them at 1)")
        if "staleness" in self.stats and self.fill != "ffill":
            raise ValueError(f"sentiment stats include 'staleness' but fill={self.fill!r}; staleness needs fill 'ffill'")
        if is_lexicon(self.scorer):
            check_lexicon_inference(self.scorer, self.engine, self.precision)
        else:
            check_inference(self.engine, self.precision, target="classifier", where=f"sentiment scorer {self.scorer!r}")
        return self

    @property
    def group(self) -> str:
        """The feature group of this spec: "sentiment" (unnamed) or "sentiment_<name>"."""
        return SENTIMENT_GROUP if self.name is None else f"{SENTIMENT_GROUP}_{self.name}"

    @property
    def feature_stats(self) -> tuple[str, ...]:
        """The statistics this spec produces, in STATS order, with the fill's indicator."""
        forced = {"zero": {"has_text"}, "ffill": {"staleness"}}.get(self.fill, set())
        wanted = set(self.stats) | forced
        return tuple(s for s in STATS if s in wanted)

    @property
    def prefix(self) -> str:
        """Feature name prefix: "sent_" (unnamed) or "sent_<name>_"."""
        return "sent_" if self.name is None else f"sent_{self.name}_"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.prefix + s for s in self.feature_stats)


def as_specs(sentiment: SentimentSpec | Sequence[SentimentSpec]) -> tuple[SentimentSpec, ...]:
    """One spec or several as a checked tuple: several specs need distinct names."""
    specs = (sentiment,) if isinstance(sentiment, SentimentSpec) else tuple(sentiment)
    if not specs:
        raise ConfigError("sentiment: expected one spec or a non-empty list of named specs")
    if len(specs) > 1:
        names = [s.name for s in specs]
        if None in names or len(set(names)) != len(names):
            raise ConfigError(f"sentiment: several specs need distinct names (e.g. vader, finbert), got {names}")
    return specs


def sentiment_catalog(specs: Sequence[SentimentSpec]) -> dict[str, SentimentSpec]:
    """Feature name -> the spec that makes it, over every spec (in spec, then STATS order)."""
    return {name: spec for spec in specs for name in spec.feature_names}


def split_selection(
    features: Sequence[str] | None,
    groups: Sequence[str] | None,
    exclude_groups: Iterable[str] = (),
    specs: Sequence[SentimentSpec] = (SentimentSpec(),),
) -> tuple[list[str] | None, list[str] | None, list[str], list[str]]:
    """Separate the sentiment features from a feature selection.

    Returns (price features, price groups, exclude_groups without sentiment groups, sentiment
    names): the first three go to `build_features` (None stays None), the last lists the
    requested sentiment features in catalog order. The group "sentiment" is every spec's
    features, "sentiment_<name>" one named spec's. Unknown sentiment groups or sent_* names
    raise ConfigError naming the known ones.
    """
    catalog = sentiment_catalog(specs)
    members = {SENTIMENT_GROUP: set(catalog)} | {s.group: set(s.feature_names) for s in specs}
    exclude_groups = list(exclude_groups)
    for group in [*(groups or ()), *exclude_groups]:
        if group.startswith(SENTIMENT_GROUP) and group not in members:
            raise ConfigError(f"unknown sentiment group {group!r}; known: {sorted(members)}")
    unknown = [f for f in features or () if f.startswith("sent_") and f not in catalog]
    if unknown:
        raise ConfigError(
            f"unknown sentiment feature(s) {unknown}; known: {list(catalog)} "
            "(add a statistic to features.sentiment.stats to compute it)"
        )
    wanted: set[str] = set()
    for group in groups or ():
        wanted |= members.get(group, set())
    wanted |= {f for f in features or () if f in catalog}
    for group in exclude_groups:
        wanted -= members.get(group, set())
    excluded = [g for g in exclude_groups if g not in members]
    price_features = None if features is None else [f for f in features if f not in catalog]
    price_groups = None if groups is None else [g for g in groups if g not in members]
    return price_features, price_groups, excluded, [f for f in catalog if f in wanted]


def wants_price_features(features: list[str] | None, groups: list[str] | None) -> bool:
    """Whether a selection (after `split_selection`) still names price features: both None is
    the default selection, otherwise at least one name or group must remain."""
    return (features is None and groups is None) or bool(features) or bool(groups)


def score_texts(
    texts: Sequence[str],
    scorer: str | Scorer,
    *,
    batch_size: int = 64,
    cache_key: str | None = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    engine: Engine = "torch",
    precision: Precision = "fp32",
) -> np.ndarray:
    """Sentiment scores (n,) float64 of `texts`, each distinct text scored once.

    alpha, beta  a classifier's score α·p_pos − β·p_neg, in [−β, α]; a scorer without these
                 weights (a lexicon) needs α = β = 1.

    scorer     a spec for `load_scorer` ("vader", "lm", a classifier directory) or a Scorer.
    cache_key  identity of a Scorer object for the process-wide score cache (a spec is its own
               key); without one, an object's scores are deduplicated within this call only.
    engine, precision  what a classifier spec runs on (`finfusion.text.inference`).
    """
    if isinstance(scorer, str):
        cache_key = scorer_key(scorer, engine, precision)
        scorer = load_scorer(scorer, engine=engine, precision=precision)
    weights = {}
    if (alpha, beta) != (1.0, 1.0):
        if not _accepts(scorer, "alpha"):
            raise ConfigError(f"sentiment alpha={alpha!r}, beta={beta!r}: scorer {getattr(scorer, 'name', scorer)!r} "
                              "gives one score per text; α and β weight a classifier's p_pos and p_neg")
        weights = {"alpha": float(alpha), "beta": float(beta)}
        cache_key = None if cache_key is None else f"{cache_key}|alpha={alpha!r}|beta={beta!r}"
    low, high = -float(beta) if weights else -1.0, float(alpha) if weights else 1.0
    cache = _SCORE_CACHE.setdefault(cache_key, {}) if cache_key is not None else {}
    distinct = pd.unique(pd.Series(list(texts), dtype=object)) if len(texts) else np.array([], dtype=object)
    new = [t for t in distinct if t not in cache]
    if new:
        kwargs = {**weights, **_progress_kwargs(scorer)}
        scores = np.asarray(scorer.score(new, batch_size=batch_size, **kwargs), dtype=np.float64)
        if scores.shape != (len(new),) or not np.all((scores >= low - 1e-9) & (scores <= high + 1e-9)):
            raise DataError(
                f"sentiment scorer {getattr(scorer, 'name', scorer)!r} returned {scores.shape} scores for "
                f"{len(new)} texts (expected one finite value in [{low:g}, {high:g}] per text)"
            )
        cache.update(zip(new, np.clip(scores, low, high).tolist()))
    return np.fromiter((cache[t] for t in texts), dtype=np.float64, count=len(texts))


def _accepts(scorer: Scorer, keyword: str) -> bool:
    import inspect

    return keyword in inspect.signature(scorer.score).parameters


def _progress_kwargs(scorer: Scorer) -> dict:
    """show_progress (the context's `finfusion.progress.enabled()`) for a scorer that has a bar
    (the classifier, which shows it from its own PROGRESS_MIN_TEXTS texts on); {} for the others."""
    return {"show_progress": progress.enabled()} if _accepts(scorer, "show_progress") else {}


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
    decay_basis: DecayBasis = "age",
    fill: Fill = "zero",
    stats: Sequence[str] = DEFAULT_STATS,
    prefix: str = "sent_",
) -> pd.DataFrame:
    """The sentiment statistics of every (date, ticker) row of `panel`.

    aligned  output of `align_texts` (timestamp, ticker, text, date), m rows
    scores   (m,) sentiment of each aligned text, in [-1, 1]
    panel    frame with columns date, ticker; n rows
    close_time, timezone  the market close (as given to `align_texts`), for the text weights
             when decay != 0.
    Returns n rows in panel order: date, ticker and prefix + stat for each of `stats` (float64;
    days without texts as `fill` says, see `finfusion.features.sentiment_stats`).
    """
    missing = [c for c in ("timestamp", "ticker", "date") if c not in aligned.columns]
    if missing:
        raise DataError(f"daily_sentiment_index: aligned texts lack column(s) {missing}; run align_texts first")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(aligned),):
        raise DataError(f"daily_sentiment_index: {len(aligned)} aligned texts but scores of shape {scores.shape}")
    bad = [s for s in stats if s not in STATS]
    if bad:
        raise ConfigError(f"daily_sentiment_index: unknown stats {bad}; expected names from {STATS}")
    if "staleness" in stats and fill != "ffill":
        raise ConfigError(f"daily_sentiment_index: stats include 'staleness' but fill={fill!r}; it needs 'ffill'")
    weights = text_weights(aligned, decay, basis=decay_basis, close_time=close_time, timezone=timezone)
    daily = daily_statistics(
        pd.DatetimeIndex(aligned["date"]).as_unit("ns"),
        aligned["ticker"].astype(str).to_numpy(),
        scores,
        weights,
        neutral_band,
    )
    out = fill_panel(daily, panel, fill)
    return out[["date", "ticker", *stats]].rename(columns={s: prefix + s for s in stats})


def sentiment_features(
    aligned: pd.DataFrame,
    panel: pd.DataFrame,
    spec: SentimentSpec,
    names: Sequence[str] | None = None,
    *,
    close_time: str = "16:00",
    timezone: str = "America/New_York",
) -> pd.DataFrame:
    """Score the aligned texts with `spec.scorer` (cached per distinct text) and return the
    feature columns `names` (default: all of `spec.feature_names`) for every panel row:
    date, ticker, *names (panel order)."""
    names = list(spec.feature_names if names is None else names)
    unknown = [n for n in names if n not in spec.feature_names]
    if unknown:
        raise ConfigError(f"sentiment_features: {unknown} are not features of this spec {list(spec.feature_names)}")
    texts = aligned["text"].astype(str).tolist()
    scores = score_texts(texts, spec.scorer, batch_size=spec.batch_size, alpha=spec.alpha, beta=spec.beta,
                         engine=spec.engine, precision=spec.precision)
    index = daily_sentiment_index(
        aligned,
        scores,
        panel,
        decay=spec.decay,
        neutral_band=spec.neutral_band,
        close_time=close_time,
        timezone=timezone,
        decay_basis=spec.decay_basis,
        fill=spec.fill,
        stats=spec.feature_stats,
        prefix=spec.prefix,
    )
    return index[["date", "ticker", *names]]
