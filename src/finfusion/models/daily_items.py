"""Day-structured newsflow: the base of models that read a sample's news items grouped by day,
e.g. HAN (Hu et al., "Listening to Chaotic Whispers", WSDM 2018) and StockNet (Xu & Cohen,
"Stock Movement Prediction from Tweets and Historical Prices", ACL 2018).

Each item's day comes from `Samples.text_item_ages` (calendar days before the sample's date;
the StockNet benchmark's lag tweets of d-1 .. d-5 have ages 1 .. 5). The window is the D = `days`
ages first_age_ .. first_age_ + D - 1, where first_age_ is the smallest age in the training
samples (learned in `fit`: 1 on the benchmark, whose lag excludes d itself). Day index D-1 is the
newest day of the window (age first_age_), 0 the oldest. Per day the newest K =
`max_items_per_day` items are kept, in time order (slot 0 the oldest kept). Items outside the
window or beyond K are dropped and counted: `item_drops(samples)`, and `item_drops_` for the
training samples of the last fit. Empty items ("" or blanks) are no items (`dated_news_items`).

A batch holds, besides "x" (the sample's X as float32, (B, d) or (B, L, d)) and "y":
    the encoder inputs of the batch's distinct items (as `ItemsDataset`: each encoded once)
    day_pos    (B, D, K) long: row of each (sample, day, slot) among those items (0 if empty)
    day_mask   (B, D, K) bool: True where a real item
    price_ages (B, L) long: extras["price_ages"] (StockNet benchmark samples), when the model
               was fitted on samples that carry it
    and each extras[name] of the subclass's `batch_extras` (required; float as float32, int as int64),
    e.g. "price_movements" (the raw movements of the price-window rows, StockNet's auxiliary targets)
`daily_item_vectors(encoder, batch)` turns them into (B, D, K, H) item vectors. A subclass
implements only `_build_module(n_outputs)`; its module's encoder is the attribute "encoder".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from finfusion.errors import DataError
from finfusion.models.base import Samples, store_params
from finfusion.models.newsflow import dated_news_items
from finfusion.models.params import (
    NonNegativeFloat,
    NonNegativeInt,
    Pooling,
    PositiveFloat,
    PositiveInt,
    Probability,
    Seed,
    TokenLength,
    Tuning,
)
from finfusion.models.text_models import ENCODER_PARAMS, TextPredictor
from finfusion.models.torch_predictor import TorchPredictor
from finfusion.models.trainer import ArrayDataset
from finfusion.text.inference import Engine, Precision

PRICE_AGES = "price_ages"
BENCHMARK_SOURCE = ("the StockNet benchmark source (data source 'stocknet_benchmark', i.e. "
                    "finfusion.data.samples.benchmark_to_samples)")
AGE_SOURCES = f"{BENCHMARK_SOURCE} gives them; samples built by build_samples (simulated or own data) do not yet"


@dataclass(frozen=True)
class DaySlots:
    """Each sample's kept items on a (D, K) grid of days and slots.

    texts  the kept items, sample after sample, day after day (what the encoder reads)
    slots  (n, D, K) int64: index into `texts` of each (sample, day, slot); -1 where empty
    drops  items dropped: {"outside_window": ..., "beyond_max_items_per_day": ...}
    """

    texts: list[str]
    slots: np.ndarray
    drops: dict[str, int]


def day_slots(dated: list[tuple[tuple[str, ...], tuple[int, ...]]], first_age: int, days: int,
              per_day: int) -> DaySlots:
    """Put each sample's (items, ages), items in time order, on days first_age .. first_age + days - 1
    (index days-1 = age first_age) keeping the newest `per_day` of each day."""
    slots = np.full((len(dated), days, per_day), -1, dtype=np.int64)
    texts: list[str] = []
    outside = beyond = 0
    for i, (items, ages) in enumerate(dated):
        grid: list[list[str]] = [[] for _ in range(days)]
        for text, age in zip(items, ages):
            day = days - 1 - (age - first_age)
            if 0 <= day < days:
                grid[day].append(text)
            else:
                outside += 1
        for day, day_texts in enumerate(grid):
            kept = day_texts[-per_day:]
            beyond += len(day_texts) - len(kept)
            slots[i, day, : len(kept)] = np.arange(len(texts), len(texts) + len(kept))
            texts.extend(kept)
    return DaySlots(texts, slots, {"outside_window": outside, "beyond_max_items_per_day": beyond})


class DailyItemsDataset(ArrayDataset):
    """Numeric arrays plus each sample's (D, K) grid of item ids among the distinct items (-1:
    empty); the collate gathers the batch's distinct items once and gives day_pos / day_mask."""

    def __init__(self, text_inputs, slots: np.ndarray, **arrays: np.ndarray) -> None:
        super().__init__(_slots=slots, **arrays)
        self.text_inputs = text_inputs

    def collate(self, batch):  # type: ignore[override]
        batch = dict(ArrayDataset.collate(batch))
        slots = batch.pop("_slots")  # (B, D, K) distinct-item ids, -1 where empty
        mask = slots >= 0
        unique, pos = torch.unique(slots[mask], return_inverse=True)
        if len(unique):
            batch.update(self.text_inputs.collate(unique))
        day_pos = torch.zeros_like(slots)
        day_pos[mask] = pos
        batch["day_pos"], batch["day_mask"] = day_pos, mask
        return batch


def daily_item_vectors(encoder: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The encoder's pooled vector of every (sample, day, slot): (B, D, K, H), zeros where day_mask is False."""
    pos, mask = batch["day_pos"], batch["day_mask"]  # (B, D, K)
    if not bool(mask.any()):  # no item in the batch: no encoder inputs either
        return torch.zeros(*pos.shape, encoder.hidden_size, device=pos.device)
    vectors = encoder(batch)  # (U, H): the batch's distinct items
    return vectors[pos].masked_fill(~mask.unsqueeze(-1), 0.0)  # (B, D, K, H)


class DailyNewsPredictor(TextPredictor):
    """Base of the models that read news items grouped by day (see the module docstring).

    days               D, calendar days of the window (from the newest age seen in training)
    max_items_per_day  K, the newest items kept per day
    Encoder parameters as `FusionPredictor` (default tuning "frozen": item vectors computed once
    and cached); training settings as `MLPPredictor`. Samples need `text_item_ages`.
    """

    needs_item_ages: ClassVar[bool] = True
    batch_extras: ClassVar[tuple[str, ...]] = ()  # further per-sample extras every batch carries (required)
    architecture_params = ("days", "max_items_per_day", *ENCODER_PARAMS)
    fitted_attributes = (*TorchPredictor.fitted_attributes, "first_age_", "price_ages_", "item_drops_")

    def __init__(self, *, model: str | None = None, pooling: Pooling = "mean", max_length: TokenLength = 64,
                 tuning: Tuning = "frozen", top_k: PositiveInt = 2, lora_rank: PositiveInt = 4,
                 lora_alpha: PositiveInt = 8, lora_dropout: Probability = 0.0,
                 encoder_dropout: Probability | None = None,
                 encoder_engine: Engine = "torch", encoder_precision: Precision = "fp32",
                 encoder_lr: PositiveFloat = 2e-5, encoder_frozen_epochs: NonNegativeInt = 0,
                 days: PositiveInt = 5, max_items_per_day: PositiveInt = 16,
                 epochs: PositiveInt = 10, batch_size: PositiveInt = 32, lr: PositiveFloat = 1e-3,
                 weight_decay: NonNegativeFloat = 1e-4, l2: NonNegativeFloat = 0.0,
                 grad_clip: PositiveFloat | None = 1.0, early_stopping_patience: PositiveInt | None = None,
                 seed: Seed = 0, warm_start: bool = False, warm_epochs: PositiveInt | None = None,
                 warm_replay: NonNegativeInt | None = None, show_progress: bool = False, device: str = "cpu") -> None:
        store_params(self, locals())
        self._check_encoder_inference()

    def fit(self, train: Samples, valid: Samples | None = None) -> DailyNewsPredictor:
        super().fit(train, valid)
        self.item_drops_ = self.item_drops(train)
        return self

    def item_drops(self, data: Samples) -> dict[str, int]:
        """Items of `data` the fitted window drops: {"outside_window", "beyond_max_items_per_day"}."""
        self.check_fitted()
        return self._slots(data).drops

    def _learn_inputs(self, train: Samples) -> None:
        ages = [a for _, sample in self._dated(train, "train") for a in sample]
        if not ages:
            raise DataError(f"{type(self).__name__}: the training samples hold no news item, so the window of "
                            "days (its newest age, first_age_) cannot be learned")
        super()._learn_inputs(train)
        self.first_age_ = int(min(ages))
        self.price_ages_ = PRICE_AGES in train.extras

    def _dated(self, data: Samples, role: str) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
        """Each sample's non-empty items and their ages; DataError without ages or with a negative one."""
        if data.text_item_ages is None:
            raise DataError(f"{type(self).__name__}: the {role} samples carry no text_item_ages (the calendar-day "
                            f"age of each news item), which this model needs to group the items by day; "
                            f"{AGE_SOURCES}")
        dated = dated_news_items(data, None)
        bad = next((i for i, (_, ages) in enumerate(dated) if any(a < 0 for a in ages)), None)
        if bad is not None:
            raise DataError(f"{type(self).__name__}: {role} sample {bad} ({data.index.iloc[bad].tolist()}) has a news "
                            f"item of negative age {min(dated[bad][1])}: an item dated after the sample's date")
        return dated

    def _slots(self, data: Samples) -> DaySlots:
        return day_slots(self._dated(data, "input"), self.first_age_, self.days, self.max_items_per_day)

    def _encoder_texts(self, data: Samples) -> list[str]:
        """The kept items (`DaySlots.texts`); before fit (window unknown) every non-empty item."""
        if not hasattr(self, "first_age_"):
            return [t for items, _ in self._dated(data, "input") for t in items]
        return self._slots(data).texts

    def _dataset(self, data: Samples, targets: np.ndarray | None) -> DailyItemsDataset:
        grid = self._slots(data)
        inputs = self._current_encoder().inputs(grid.texts)
        ids = inputs.ids if len(inputs.ids) else np.zeros(1, dtype=np.int64)
        slots = np.where(grid.slots >= 0, ids[np.maximum(grid.slots, 0)], -1)  # ids among the distinct items
        arrays = {"x": np.ascontiguousarray(data.X, dtype=np.float32)}
        if self.price_ages_:
            if PRICE_AGES not in data.extras:
                raise DataError(f"{type(self).__name__}: fitted on samples with extras['price_ages'] (the age of "
                                f"each price-window row), but these samples carry none; {BENCHMARK_SOURCE} gives it")
            arrays[PRICE_AGES] = np.asarray(data.extras[PRICE_AGES], dtype=np.int64)
        for name in self.batch_extras:
            if name not in data.extras:
                raise DataError(f"{type(self).__name__}: needs extras[{name!r}] in the samples, which carry "
                                f"{sorted(data.extras)}; {BENCHMARK_SOURCE} gives it")
            values = np.asarray(data.extras[name])
            arrays[name] = values.astype(np.float32 if values.dtype.kind == "f" else np.int64)
        if targets is not None:
            arrays["y"] = targets
        return DailyItemsDataset(inputs, slots, **arrays)
