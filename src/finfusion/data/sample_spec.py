"""How frames become samples: the `features:`, `target:`, `text:` and `market:` sections of a run
config, and `SampleSpec`, their composition, which `finfusion.data.samples.build_samples` reads.

The config sections are the spec (no field-by-field copy): `RunConfig.sample_spec` passes its own
section objects, and a script builds one directly, e.g.

    SampleSpec(features=FeatureConfig(groups=["extra"]), target=TargetConfig(kind="direction"))

Every model is pydantic, frozen, with unknown keys refused (`finfusion.strict._Strict`).
`experiments.config` re-exports the sections; `experiments.rl_config` uses MarketConfig.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from finfusion.features.sentiment import SentimentSpec, as_specs
from finfusion.strict import _Strict


class MarketConfig(_Strict):
    close_time: str = Field("16:00", description="market close, HH:MM local time; later texts go to the next day")
    timezone: str = Field("America/New_York", description="time zone of the close")
    calendar: str | None = Field(None, description="exchange calendar name (needs exchange_calendars); default: price dates")


class TextConfig(_Strict):
    enabled: bool = Field(True, description="give text models their newsflow (false: prices only)")
    lookback_days: int = Field(1, ge=1, description="trading days of texts in each newsflow (day t included)")
    max_items: int | None = Field(None, ge=1, description="most recent texts per newsflow; default: all")
    max_item_chars: int | None = Field(None, ge=1, description="characters kept of each text")
    max_chars: int | None = Field(None, ge=1, description="characters kept of a whole newsflow")
    separator: str = Field(" | ", description="between the texts of one newsflow")
    # the names of finfusion.text.inference.ENGINES / PRECISIONS (data sits below text: not imported; a test keeps them equal)
    engine: Literal["torch", "onnx"] | None = Field(
        None, description="run-wide engine of frozen text inference: the default encoder_engine of every text model "
        "with tuning frozen and engine of every classifier sentiment spec (a value set on a model or spec wins); "
        "none: each model's own (torch)")
    precision: Literal["fp32", "int8", "bf16"] | None = Field(
        None, description="run-wide precision of the same (encoder_precision / precision), as text.engine")


class FeatureConfig(_Strict):
    """The feature selection. `groups` / `features` may name the text-derived group "sentiment"
    (or its features, see `finfusion.features.sentiment`), computed with `sentiment`; the others
    come from prices. `sentiment` is one spec or a list of named specs (one feature group
    "sentiment_<name>" each; "sentiment" is then all of them)."""

    features: list[str] | None = Field(None, description="explicit feature names; default: the groups")
    groups: list[str] | None = Field(None, description="feature groups (technical, momentum, volatility, returns, "
                                     "volume, extra, sentiment); default: all but garch_vol")
    exclude_groups: list[str] = Field(default_factory=list, description="groups left out of the selection")
    lookback: int = Field(1, ge=1, description="days of features per sample; >1 gives X of shape (n, L, d)")
    sentiment: SentimentSpec | list[SentimentSpec] = Field(
        default_factory=SentimentSpec, description="one sentiment spec, or a list of named specs"
    )

    @model_validator(mode="after")
    def _check_sentiment(self) -> FeatureConfig:
        as_specs(self.sentiment)  # several specs need distinct names
        return self


class TargetConfig(_Strict):
    kind: Literal["return", "log_return", "direction", "close"] = Field(
        "return", description="return (p[t+h]-p[t])/p[t], log_return, direction (1 if the return > upper band) or "
        "close p[t+h]")
    horizon: int = Field(1, ge=1, description="trading days ahead")
    price_column: Literal["close", "adj_close"] = Field("close", description="the price targets and returns use")
    neutral_band: tuple[float, float] | None = Field(
        None, description="(lower, upper): direction 0 if r <= lower, 1 if r > upper, others dropped"
    )

    @property
    def task(self) -> Literal["regression", "classification"]:
        return "classification" if self.kind == "direction" else "regression"


class SampleSpec(_Strict):
    """How to turn frames into samples: the feature selection (and sentiment specs), the target,
    the newsflow texts and the market close / calendar the texts are aligned to. Every part has
    defaults; `SampleSpec()` is the default run's samples."""

    features: FeatureConfig = Field(default_factory=FeatureConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    text: TextConfig = Field(default_factory=TextConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
