import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError
from finfusion.protocols.splitters import ChronologicalSplit, RollingWindow, WalkForward


def panel_dates(n_days: int, n_tickers: int = 2) -> np.ndarray:
    days = pd.bdate_range("2021-01-04", periods=n_days)
    return np.repeat(days.to_numpy(), n_tickers)


def days_of(dates: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.unique(dates[rows])


def test_rolling_window_matches_eq_25_26():
    dates = panel_dates(10)
    splits = list(RollingWindow(window=4, step=1).split(dates))
    unique = np.unique(dates)
    # T=10, W=4: folds k=0..5 train on days k..k+3 and test day k+4 (one-step-ahead).
    assert len(splits) == 6
    for k, s in enumerate(splits):
        assert list(days_of(dates, s.train)) == list(unique[k : k + 4])
        assert list(days_of(dates, s.test)) == [unique[k + 4]]
        assert len(s.test) == 2  # both tickers of the test day


def test_rolling_window_purges_horizon_minus_one_days():
    dates = panel_dates(12, 1)
    unique = np.unique(dates)
    s = next(RollingWindow(window=4).split(dates, horizon=3))
    # targets of the train days are realised 3 days later: the last train day (3) is known at day 6
    assert list(days_of(dates, s.train)) == list(unique[0:4])
    assert list(days_of(dates, s.test)) == [unique[6]]


def test_rolling_window_valid_refit_and_max_folds():
    dates = panel_dates(20, 1)
    splits = list(RollingWindow(window=6, valid=2, refit_every=3).split(dates))
    assert [s.refit for s in splits[:4]] == [True, False, False, True]
    s = splits[0]
    assert len(s.train) == 4 and len(s.valid) == 2
    assert s.train.max() < s.valid.min() < s.test.min()
    last = list(RollingWindow(window=6, max_folds=3).split(dates))
    assert len(last) == 3 and last[-1].test.max() == 19


def test_rolling_window_too_short_errors():
    with pytest.raises(ConfigError, match="needs more than 90 dates"):
        list(RollingWindow(window=90).split(panel_dates(50)))


def test_chronological_ratios_never_mix_dates():
    dates = panel_dates(100, 3)
    (s,) = ChronologicalSplit(0.8, 0.1, 0.1).split(dates)
    assert len(s.train) == 240 and len(s.valid) == 30 and len(s.test) == 30
    assert dates[s.train].max() < dates[s.valid].min() and dates[s.valid].max() < dates[s.test].min()


def test_chronological_by_dates_with_purge():
    dates = panel_dates(30, 1)
    unique = pd.DatetimeIndex(np.unique(dates))
    (s,) = ChronologicalSplit(test_start=str(unique[20].date()), valid_start=str(unique[15].date())).split(
        dates, horizon=2
    )
    assert list(s.train) == list(range(0, 14))  # day 14's target is realised at day 15: purged
    assert list(s.valid) == list(range(15, 19))
    assert list(s.test) == list(range(20, 30))


def test_chronological_ratios_must_sum_to_one():
    with pytest.raises(ConfigError, match="sum to 1"):
        ChronologicalSplit(0.7, 0.1, 0.1)


def test_walk_forward_days_last_fold_ends_at_last_date():
    dates = panel_dates(100, 1)
    splits = list(WalkForward(train_size=30, test_size=10, n_folds=5, unit="days").split(dates))
    assert len(splits) == 5
    assert splits[-1].test.max() == 99
    for a, b in zip(splits, splits[1:]):
        assert b.test.min() == a.test.max() + 1
    for s in splits:
        assert len(s.train) == 30 and len(s.test) == 10 and s.train.max() < s.test.min()


def test_walk_forward_months():
    days = pd.bdate_range("2018-01-01", "2021-12-31")
    splits = list(WalkForward(train_size=24, test_size=6, n_folds=2).split(days.to_numpy()))
    test0 = pd.DatetimeIndex(days[splits[0].test])
    assert test0.min() == pd.Timestamp("2021-01-01") and test0.max() == pd.Timestamp("2021-06-30")
    train0 = pd.DatetimeIndex(days[splits[0].train])
    assert train0.min() >= pd.Timestamp("2018-12-31") and train0.max() == pd.Timestamp("2020-12-31")


def test_walk_forward_not_enough_data():
    with pytest.raises(ConfigError, match="training data"):
        list(WalkForward(train_size=24, test_size=6, n_folds=2).split(pd.bdate_range("2020-01-01", "2022-01-01").to_numpy()))
