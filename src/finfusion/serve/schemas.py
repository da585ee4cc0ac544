"""Request and response bodies of the HTTP service (pydantic models; they are the OpenAPI schema
at /docs).

Requests are strict: unknown fields are refused, numbers must be JSON numbers (not strings),
dates are "YYYY-MM-DD" strings and text timestamps ISO 8601 strings with an offset. A body
that does not fit gets FastAPI's 422, whose detail names each field (`loc`, e.g.
["body", "prices", 3, "close"]) and the value received (`input`). What these models check is
the shape; the data rules (positive prices, OHLC order, duplicate days, enough history) are
checked where the backtest checks them (`finfusion.data.schema`, the pipeline), whose error
comes back as a 422 naming the field and the row.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import pandas as pd
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, model_validator


def _text_only(what: str):
    """A before-validator refusing anything but a string (pydantic would read numbers as Unix times)."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"expected {what} as a string, got {type(value).__name__}")
        return value

    return BeforeValidator(check)


Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Day = Annotated[date, _text_only("a day YYYY-MM-DD"), Field(description="a day, YYYY-MM-DD")]
Timestamp = Annotated[AwareDatetime, _text_only("an ISO 8601 timestamp with an offset"),
                      Field(description="ISO 8601 with an offset, e.g. 2024-03-01T21:30:00+00:00")]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=200)]
MODEL_FIELD = Field(None, description="the loaded model to use, by name (GET /v1/models); optional when only one "
                    "model of this kind is loaded")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- /v1/sentiment ---------------------------------------------------------------------------------


class SentimentRequest(_Body):
    """Texts to classify: `texts` (a list) or `text` (one string)."""

    texts: list[StrictStr] | None = Field(None, min_length=1, examples=[["Profit rose 12 %", "Shares slump"]])
    text: StrictStr | None = Field(None, examples=["Operating profit rose to EUR 13.1 mn"])
    model: Name | None = MODEL_FIELD

    @model_validator(mode="after")
    def _one_of(self) -> SentimentRequest:
        if (self.texts is None) == (self.text is None):
            given = "both 'texts' and 'text'" if self.texts is not None else "neither 'texts' nor 'text'"
            raise ValueError(f"give 'texts' (a list of strings) or 'text' (one string); got {given}")
        return self

    def items(self) -> list[str]:
        return [self.text] if self.texts is None else list(self.texts)


class SentimentResult(BaseModel):
    """One text's classification (`SentimentClassifier.predict_batch` plus the score). An empty
    text carries no sentiment: label and label_id null, uniform probabilities."""

    label: str | None
    label_id: int | None
    confidence: float = Field(description="probability of the label")
    probs: dict[str, float] = Field(description="probability of each label")
    score: float = Field(description="p_positive - p_negative, in [-1, 1]")


class SentimentResponse(BaseModel):
    model: str
    results: list[SentimentResult]


# -- /v1/predict -------------------------------------------------------------------------------------


class PriceRow(BaseModel):
    """One day of one ticker. Further numeric fields are extra features (null allowed)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Number | None]

    date: Day
    ticker: Name
    close: Number
    open: Number | None = None
    high: Number | None = None
    low: Number | None = None
    volume: Number | None = None
    adj_close: Number | None = None


class TextRow(_Body):
    """One text: its publication time (ISO 8601 with an offset, e.g. 2024-03-01T21:30:00+00:00; a
    text after the market close belongs to the next session), the ticker it is about, the text."""

    timestamp: Timestamp
    ticker: Name
    text: StrictStr
    source: StrictStr | None = None


class PredictRequest(_Body):
    """Recent prices of every ticker to forecast (enough history for the pipeline's features, up
    to `asof`) and, for pipelines that read text, recent texts."""

    prices: list[PriceRow] = Field(min_length=1)
    texts: list[TextRow] = Field(default_factory=list)
    asof: Day | None = Field(None, description="forecast at the close of this day (default: the last price date)")
    model: Name | None = MODEL_FIELD

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The prices and texts as finfusion's frames (columns named as in the input files;
        dates and timestamps as ISO strings, as a file reader would give them to the
        validation). A field no row gives is no column; texts None when there are none."""
        prices = pd.DataFrame.from_records([r.model_dump(mode="json", exclude_none=True) for r in self.prices])
        if not self.texts:
            return prices, None
        return prices, pd.DataFrame.from_records([r.model_dump(mode="json", exclude_none=True) for r in self.texts])


class PredictResponse(BaseModel):
    """`finfusion predict --json`'s document: the model, one row per ticker, the notes."""

    model: str
    rows: list[dict[str, Any]]
    notes: dict[str, Any]


# -- /healthz, /v1/models -------------------------------------------------------------------------------


class Health(BaseModel):
    status: str
    finfusion_version: str
    forecasters: list[str]
    classifiers: list[str]


class Models(BaseModel):
    """What is loaded: forecasters by name (their `describe()`: model, task, training period,
    fingerprint, versions) and sentiment classifiers by name (manifest essentials and the
    micro-batcher's settings and counters)."""

    forecasters: dict[str, dict[str, Any]]
    classifiers: dict[str, dict[str, Any]]
