"""The day-structured newsflow base (models/daily_items.py), through a tiny subclass that averages
the item vectors of one day (or of all days) and applies a linear layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from finfusion.errors import DataError
from finfusion.models.base import Samples
from finfusion.models.daily_items import DailyNewsPredictor, daily_item_vectors
from finfusion.models.newsflow import dated_news_items, news_items
from tests.models.planted import planted_samples


class _DayMeanNet(nn.Module):
    """Mean of the item vectors of day index `day` -> linear."""

    def __init__(self, encoder: nn.Module, n_outputs: int | None, day: int) -> None:
        super().__init__()
        self.encoder, self.n_outputs, self.day = encoder, n_outputs, day
        self.out = nn.Linear(encoder.hidden_size, n_outputs or 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        vectors = daily_item_vectors(self.encoder, batch)  # (B, D, K, H)
        mask = batch["day_mask"][:, self.day].to(vectors.dtype)  # (B, K)
        mean = vectors[:, self.day].sum(1) / mask.sum(1).clamp_min(1.0).unsqueeze(-1)  # (B, H)
        out = self.out(mean)
        return out if self.n_outputs else out[:, 0]


class _NewestDay(DailyNewsPredictor):
    registered_name = "_test_newest_day"  # for save / load; not in the registry (the contract suite runs over it)
    read_day = -1  # the newest day, D-1

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return _DayMeanNet(self._take_encoder(), n_outputs, self.read_day % self.days)


class _OldestDay(_NewestDay):
    read_day = 0


def _two_samples() -> Samples:
    """Sample 0: items in time order with ages 6, 3, 2, 2, 2, 2 (blank), 1; sample 1: ages 2, 1."""
    items = (("x old", "x three", "x two a", "x two b", "x two c", "  ", "x one"), ("y two", "x one"))
    ages = ((6, 3, 2, 2, 2, 2, 1), (2, 1))
    index = pd.DataFrame({"date": pd.to_datetime(["2015-01-05", "2015-01-06"]), "ticker": "AAA"})
    return Samples(index=index, X=np.array([[0.5, 1.0], [-0.5, 2.0]], np.float32), y=np.array([0, 1]),
                   feature_names=("f0", "f1"), task="classification", texts=tuple(" | ".join(i) for i in items),
                   text_items=items, text_item_ages=ages)


def _params(tiny_bert: Path, **kw) -> dict:
    return {"model": str(tiny_bert), "tuning": "frozen", "max_length": 16, "epochs": 1, "batch_size": 32,
            "lr": 1e-2, **kw}


def _batches(model: DailyNewsPredictor, data: Samples, batch_size: int = 64) -> list[dict]:
    dataset = model._dataset(data, None)
    return list(DataLoader(dataset, batch_size=batch_size, collate_fn=dataset.collate))


def test_dated_news_items_keep_ages_parallel_when_dropping_blanks_and_old_items():
    data = _two_samples()
    dated = dated_news_items(data, 3)
    assert dated[0] == (("x two b", "x two c", "x one"), (2, 2, 1))  # the blank (age 2) is no item
    assert dated[1] == (("y two", "x one"), (2, 1))
    assert news_items(data, 3) == [texts for texts, _ in dated]
    assert dated_news_items(data.with_arrays(), None)[0][1] == (6, 3, 2, 2, 2, 1)
    no_items = Samples(index=data.index, X=data.X, y=data.y, feature_names=data.feature_names,
                       task="classification", texts=("a | b", " "))
    assert dated_news_items(no_items, None) == [(("a | b",), None), ((), None)]


def test_two_samples_land_on_the_days_and_slots_worked_out_by_hand(tiny_bert):
    data = _two_samples()
    model = _NewestDay(**_params(tiny_bert, days=3, max_items_per_day=2)).fit(data)
    assert model.first_age_ == 1  # the newest age seen in training
    # window ages 3, 2, 1 -> days 0, 1, 2; age 6 is outside; day 1 of sample 0 keeps the newest two of three
    assert model.item_drops_ == {"outside_window": 1, "beyond_max_items_per_day": 1}
    (batch,) = _batches(model, data)
    # distinct items in first-seen order: x three 0, x two b 1, x two c 2, x one 3, y two 4
    assert batch["day_pos"].tolist() == [[[0, 0], [1, 2], [3, 0]], [[0, 0], [4, 0], [3, 0]]]
    assert batch["day_mask"].tolist() == [[[True, False], [True, True], [True, False]],
                                          [[False, False], [True, False], [True, False]]]
    assert batch["day_pos"].dtype == torch.long and batch["day_mask"].dtype == torch.bool
    assert batch["text_emb"].shape[0] == 5  # "x one" of both samples encoded once
    assert batch["x"].shape == (2, 2) and "price_ages" not in batch
    encoder = model.module_.encoder
    vectors = daily_item_vectors(encoder, batch)  # (B, D, K, H)
    assert vectors.shape == (2, 3, 2, encoder.hidden_size)
    alone = encoder(encoder.inputs(["x two c", "x one"]).collate([0, 1]))
    torch.testing.assert_close(vectors[0, 1, 1], alone[0])
    torch.testing.assert_close(vectors[1, 2, 0], alone[1])
    assert (vectors[~batch["day_mask"]] == 0).all()


def test_the_window_starts_at_the_first_age_seen_in_training(tiny_bert):
    data = _two_samples()
    shifted = Samples(**{**data.__dict__, "text_item_ages": tuple(tuple(a + 1 for a in s) for s in data.text_item_ages)})
    model = _NewestDay(**_params(tiny_bert, days=2, max_items_per_day=4)).fit(shifted)
    assert model.first_age_ == 2
    # predicting on unshifted ages: age 1 is now newer than the window (dropped), ages 2, 3 kept
    assert model.item_drops(data) == {"outside_window": 3, "beyond_max_items_per_day": 0}
    (batch,) = _batches(model, data)
    assert batch["day_mask"].sum(dim=(1, 2)).tolist() == [4, 1]
    # a batch whose items all fall outside the window: no encoder inputs, zero vectors, predictions still made
    far = Samples(**{**data.__dict__, "text_item_ages": tuple(tuple(a + 10 for a in s) for s in data.text_item_ages)})
    (batch,) = _batches(model, far)
    assert not batch["day_mask"].any() and "text_emb" not in batch
    assert torch.equal(daily_item_vectors(model.module_.encoder, batch), torch.zeros(2, 2, 4, 32))
    assert np.isfinite(model.predict_proba(far)).all()


def test_samples_without_ages_or_with_negative_ages_raise(tiny_bert):
    data = _two_samples()
    model = _NewestDay(**_params(tiny_bert))
    with pytest.raises(DataError, match=r"no text_item_ages .*stocknet_benchmark"):
        model.fit(Samples(**{**data.__dict__, "text_item_ages": None}))
    future = ((6, 3, 2, 2, 2, 2, 1), (2, -1))
    with pytest.raises(DataError, match=r"sample 1 .* negative age -1"):
        model.fit(Samples(**{**data.__dict__, "text_item_ages": future}))
    blank = Samples(**{**data.__dict__, "text_items": (("",), ("  ",)), "text_item_ages": ((1,), (2,))})
    with pytest.raises(DataError, match="hold no news item"):
        model.fit(blank)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return planted_samples(tmp_path_factory.mktemp("planted"), signal="tweets", n_tickers=3, n_days=200)


def test_the_newest_day_reads_the_planted_pattern_and_the_oldest_does_not(planted, tiny_bert):
    train, dev = planted
    params = _params(tiny_bert, epochs=15, lr=2e-2)
    newest = _NewestDay(**params).fit(train)
    oldest = _OldestDay(**params).fit(train)
    assert newest.first_age_ == 1 and newest.item_drops_ == {"outside_window": 0, "beyond_max_items_per_day": 0}
    assert (newest.predict(dev) == dev.y).mean() > 0.9  # the pattern sits at age 1: day D-1
    assert (oldest.predict(dev) == dev.y).mean() < 0.75  # age 5 holds other days' patterns


def test_benchmark_batches_carry_the_price_window_and_its_ages(planted, tiny_bert, tmp_path: Path):
    train, dev = planted
    model = _NewestDay(**_params(tiny_bert, days=2, max_items_per_day=1)).fit(train)
    assert model.item_drops_["outside_window"] > 0 and model.item_drops_["beyond_max_items_per_day"] > 0
    batch = _batches(model, dev, batch_size=8)[0]
    assert batch["x"].shape == (8, *train.X.shape[1:])  # (B, L, d) kept 3-D
    assert torch.equal(batch["price_ages"], torch.from_numpy(dev.extras["price_ages"][:8]))
    assert batch["day_pos"].shape == batch["day_mask"].shape == (8, 2, 1)
    model.save(tmp_path / "m")
    restored = _NewestDay().load(tmp_path / "m")
    assert restored.first_age_ == 1 and restored.price_ages_ and restored.item_drops_ == model.item_drops_
    np.testing.assert_array_equal(restored.predict_proba(dev), model.predict_proba(dev))
    without = Samples(**{**dev.__dict__, "extras": {k: v for k, v in dev.extras.items() if k != "price_ages"}})
    with pytest.raises(DataError, match="price_ages"):
        model.predict(without)


def test_batch_extras_come_as_float32_or_int64_and_are_required(planted, tiny_bert):
    train, dev = planted

    class _WithMovements(_NewestDay):
        batch_extras = ("price_movements", "n_tweets")

    model = _WithMovements(**_params(tiny_bert)).fit(train)
    batch = _batches(model, dev, batch_size=4)[0]
    assert batch["price_movements"].dtype == torch.float32 and batch["n_tweets"].dtype == torch.int64
    np.testing.assert_allclose(batch["price_movements"].numpy(), dev.extras["price_movements"][:4], rtol=1e-6)
    without = Samples(**{**dev.__dict__, "extras": {k: v for k, v in dev.extras.items() if k != "n_tweets"}})
    with pytest.raises(DataError, match=r"needs extras\['n_tweets'\]"):
        model.predict(without)


def test_before_fit_the_encoder_texts_are_every_non_empty_item(tiny_bert):
    data = _two_samples()
    model = _NewestDay(**_params(tiny_bert, days=3, max_items_per_day=2))
    assert model._encoder_texts(data) == ["x old", "x three", "x two a", "x two b", "x two c", "x one", "y two",
                                          "x one"]
    (outputs,) = model.frozen_text_outputs(data)
    assert len(outputs.values) == 7  # the distinct ones
