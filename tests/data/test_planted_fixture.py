"""The planted StockNet fixture (tests/models/planted.py) holds the signal it promises, read back
through the real benchmark adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finfusion.data.adapters.stocknet_benchmark import benchmark_samples
from finfusion.data.samples import BENCHMARK_FEATURES
from tests.models.planted import BEARISH, BULLISH, DEV_START, planted_samples, write_planted_stocknet

OPEN = BENCHMARK_FEATURES.index("open")


def _age_one(samples) -> list[tuple[str, ...]]:
    return [tuple(t for t, a in zip(items, ages) if a == 1)
            for items, ages in zip(samples.text_items, samples.text_item_ages)]


@pytest.fixture(scope="module")
def tweets(tmp_path_factory) -> tuple:
    return planted_samples(tmp_path_factory.mktemp("planted"), signal="tweets")


def test_splits_cover_train_and_dev_with_every_weekday_target_but_the_neutral_ones(tweets, tmp_path: Path):
    train, dev = tweets
    assert train.index["date"].max() < DEV_START <= dev.index["date"].min()
    assert dev.index["date"].max() == pd.Timestamp("2015-09-30")
    # 4 tickers x 320 weekdays (from 2014-07-10), 43 of them in Aug-Sep 2015; the neutral band drops ~8 %
    dev_days = len(pd.bdate_range("2015-08-01", "2015-09-30"))
    assert dev_days == 43 and pd.bdate_range(end="2015-09-30", periods=320)[0] == pd.Timestamp("2014-07-10")
    frame = benchmark_samples(write_planted_stocknet(tmp_path / "again", signal="tweets"))
    assert len(train) + len(dev) == len(frame)
    assert 0.85 * 4 * 320 < len(frame) < 0.97 * 4 * 320
    assert 0.85 * 4 * dev_days < len(dev) <= 4 * dev_days
    assert set(train.index["ticker"]) == {"P00", "P01", "P02", "P03"}
    assert 0.4 < train.y.mean() < 0.6  # rises and falls at random


def test_the_tweet_pattern_of_age_one_precedes_every_rise_and_fall(tweets):
    for samples in tweets:
        newest = _age_one(samples)
        bullish = np.array([BULLISH in day for day in newest])
        bearish = np.array([BEARISH in day for day in newest])
        assert int((bullish & (samples.y == 1)).sum()) == int((samples.y == 1).sum())  # every rise
        assert int((bearish & (samples.y == 0)).sum()) == int((samples.y == 0).sum())  # every fall
        assert not (bullish & bearish).any()
        # older days (ages 2..5) carry other targets' patterns: about as often before rises as before falls
        older = np.array([sum(t == BULLISH for t, a in zip(i, g) if a > 1)
                          for i, g in zip(samples.text_items, samples.text_item_ages)])
        assert abs(older[samples.y == 1].mean() - older[samples.y == 0].mean()) < 0.5


def test_ages_are_parallel_to_the_items_and_the_price_rows(tweets):
    train, _ = tweets
    assert train.text_item_ages is not None
    assert all(len(a) == len(t) for a, t in zip(train.text_item_ages, train.text_items))
    assert {a for ages in train.text_item_ages for a in ages} == {1, 2, 3, 4, 5}
    assert any(not items for items in train.text_items) or any(len(set(a)) < 5 for a in train.text_item_ages)
    price_ages = train.extras["price_ages"]
    present = train.X[..., -1] == 1
    assert price_ages.shape == train.X.shape[:2] and price_ages.dtype == np.int64
    assert (price_ages[~present] == 0).all() and (price_ages[present] >= 1).all() and (price_ages <= 4).all()
    # the price window [d-4, d) right-aligned: Monday Thu, Fri; Tuesday Fri, Mon; ...; Friday Mon..Thu
    expected = {0: [0, 0, 4, 3], 1: [0, 0, 4, 1], 2: [0, 0, 2, 1], 3: [0, 3, 2, 1], 4: [4, 3, 2, 1]}
    later = (train.index["date"] > pd.Timestamp("2014-07-17")).to_numpy()  # past the first week
    for weekday, ages in expected.items():
        rows = later & (train.index["date"].dt.day_of_week == weekday).to_numpy()
        assert rows.sum() > 100 and (price_ages[rows] == ages).all()


def test_the_price_signal_is_in_the_last_row_and_the_tweets_are_noise(tmp_path: Path):
    train, _ = planted_samples(tmp_path, signal="prices", n_tickers=2, n_days=120)
    has_row = train.X[:, -1, -1] == 1  # the first targets have no price row yet
    assert has_row.sum() > 0.95 * len(train)
    last_open = train.X[has_row, -1, OPEN]
    assert ((last_open > 0) == (train.y[has_row] == 1)).all()  # +-0.015, noise sd 0.003
    assert not any(BULLISH in items or BEARISH in items for items in train.text_items)
