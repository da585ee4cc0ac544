"""A fake forecasting pipeline for the service tests (the real one is tested in tests/pipeline),
a tiny saved sentiment classifier, and a small market as JSON records.

`FakeForecaster` follows the `finfusion.serve.Forecaster` protocol the way `Pipeline` does: it
validates its frames with finfusion's own validation, refuses short tickers and a late `asof`
with a DataError naming them, and returns `Pipeline.predict`'s columns. Its prediction is a
hand-checkable function of every input value it is given (closes, an extra column, texts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from finfusion.data.schema import validate_prices, validate_texts
from finfusion.errors import DataError
from finfusion.text.sentiment.classifier import SentimentClassifier

FAKE_MANIFEST = "pipeline.json"  # what makes `finfusion serve` take a directory for a pipeline


class FakeForecaster:
    """prediction = last close / first close - 1 + 0.001 * texts + 1e-6 * sum of the 'pe' column,
    per ticker, over the prices up to `asof`; texts after `asof` (UTC day) are ignored and counted."""

    def __init__(self, name: str = "FakeMLP", min_history: int = 3) -> None:
        self.name, self.min_history = name, min_history
        self.calls = 0

    @classmethod
    def load(cls, directory: str | Path, **_: Any) -> FakeForecaster:
        """What `finfusion serve` gets instead of `load_pipeline` in the server script."""
        spec = json.loads((Path(directory) / FAKE_MANIFEST).read_text())["fake"]
        return cls(spec["name"], spec["min_history"])

    @staticmethod
    def save(directory: Path, name: str = "FakeMLP", min_history: int = 3) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / FAKE_MANIFEST).write_text(json.dumps({"fake": {"name": name, "min_history": min_history}}))
        return directory

    def describe(self) -> dict[str, Any]:
        return {"model": {"label": self.name}, "task": "regression", "training": {"first_date": "2024-01-02",
                "last_date": "2024-02-29", "fingerprint": "abc123"}, "finfusion_version": "test"}

    def predict(self, prices: pd.DataFrame, texts: pd.DataFrame | None, asof=None) -> pd.DataFrame:
        self.calls += 1
        prices = validate_prices(prices, source="prices")
        last = prices["date"].max()
        day = last if asof is None else pd.Timestamp(asof)
        if day > last:
            raise DataError(f"the prices end on {last.date()}, before asof {day.date()}")
        prices = prices[prices["date"] <= day]
        sizes = prices.groupby("ticker").size()
        short = sizes[sizes < self.min_history]
        if len(short):
            raise DataError("not enough price history at the close of " f"{day.date()}: " + ", ".join(
                f"{t} has {n} row(s), the features need {self.min_history}" for t, n in short.items()))
        late = 0
        if texts is not None:
            texts = validate_texts(texts, source="texts", tickers=sorted(sizes.index))
            after = texts["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize() > day
            late, texts = int(after.sum()), texts.loc[~after]
        rows = []
        for ticker, group in prices.groupby("ticker"):
            mine = texts[texts["ticker"] == ticker] if texts is not None else pd.DataFrame()
            pe = float(group["pe"].fillna(0).sum()) if "pe" in group else 0.0
            rows.append({"ticker": ticker, "asof": day, "target_date": day + pd.offsets.BDay(1),
                         "prediction": group["close"].iloc[-1] / group["close"].iloc[0] - 1 + 0.001 * len(mine)
                         + 1e-6 * pe, "texts": len(mine),
                         "newest_text": mine["timestamp"].max() if len(mine) else None})
        out = pd.DataFrame(rows)
        out.attrs.update({"asof": str(day.date()), "texts_after_close": late})
        return out


def market_records() -> dict[str, list[dict[str, Any]]]:
    """Three tickers, 5 business days of OHLCV prices (AAA with an extra 'pe' column), and
    texts with mixed offsets, one after the last day (UTC) — as a client would send them."""
    days = [d.strftime("%Y-%m-%d") for d in pd.bdate_range("2024-03-04", periods=5)]
    prices = []
    for k, ticker in enumerate(("AAA", "BBB", "CCC")):
        for i, day in enumerate(days):
            close = 10.0 * (k + 1) + 0.37 * i - 0.11 * (i % 2)
            row = {"date": day, "ticker": ticker, "open": close - 0.1, "high": close + 0.2, "low": close - 0.3,
                   "close": close, "volume": 1000.0 + i}
            if ticker == "AAA":
                row["pe"] = 15.5 + i  # an extra feature column (missing for the others: NaN)
            prices.append(row)
    texts = [
        {"timestamp": "2024-03-05T15:30:00-05:00", "ticker": "AAA", "text": "shares rise after strong earnings"},
        {"timestamp": "2024-03-07T21:30:00+00:00", "ticker": "AAA", "text": "record profit"},
        {"timestamp": "2024-03-06T09:00:00Z", "ticker": "BBB", "text": "bank cuts guidance"},
        {"timestamp": "2024-03-11T14:00:00+00:00", "ticker": "CCC", "text": "after the last day"},
    ]
    return {"prices": prices, "texts": texts}


def tiny_classifier(tiny_bert: Path, out: Path, labels=("negative", "neutral", "positive"), name: str = "tiny"):
    """A 3-class classifier on the tiny BERT of tests/conftest.py, saved to `out`."""
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)})
    clf = SentimentClassifier(model, AutoTokenizer.from_pretrained(tiny_bert), labels, name=name, device="cpu")
    clf.save(out)
    return SentimentClassifier.load(out, device="cpu")
