"""Targets worked out by hand, neutral-band drops, and look-ahead limited to h rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.data.frames import CleaningReport
from finfusion.data.targets import STOCKNET_BAND, make_targets
from finfusion.errors import ConfigError

DATES = pd.to_datetime(["2014-01-02", "2014-01-03", "2014-01-06", "2014-01-07", "2014-01-08"])


def prices() -> pd.DataFrame:
    a = [100.0, 110.0, 99.0, 99.4, 100.0]
    b = [10.0, 10.0, 12.5]
    rows = [(d, "A", p) for d, p in zip(DATES, a)] + [(d, "B", p) for d, p in zip(DATES[:3], b)]
    frame = pd.DataFrame(rows, columns=["date", "ticker", "close"])
    return frame.sample(frac=1.0, random_state=0)  # order must not matter


def test_simple_return_by_hand():
    report = CleaningReport()
    out = make_targets(prices(), kind="return", report=report)
    assert list(out.columns) == ["date", "ticker", "target", "target_date"]
    np.testing.assert_allclose(out["target"], [0.10, -0.10, 0.4 / 99, 0.6 / 99.4, 0.0, 0.25])
    assert out["target_date"].iloc[0] == pd.Timestamp("2014-01-03")
    assert out["ticker"].tolist() == ["A"] * 4 + ["B"] * 2
    assert report.total == 2  # the last row of A and of B


def test_log_return_close_and_horizon_two():
    out = make_targets(prices(), kind="log_return", horizon=2)
    np.testing.assert_allclose(out["target"], [np.log(0.99), np.log(99.4 / 110), np.log(100 / 99), np.log(1.25)])
    close = make_targets(prices(), kind="close", horizon=2)
    assert close["target"].tolist() == [99.0, 99.4, 100.0, 12.5]
    assert close["target_date"].tolist() == [DATES[2], DATES[3], DATES[4], DATES[2]]


def test_direction_default_band_and_stocknet_band():
    out = make_targets(prices(), kind="direction")
    assert out["target"].tolist() == [1, 0, 1, 1, 0, 1]  # a zero return is "down" (r <= 0)
    assert out["target"].dtype == "int64"
    report = CleaningReport()
    out = make_targets(prices(), kind="direction", neutral_band=STOCKNET_BAND, report=report)
    # A: +10 % up, -10 % down, +0.404 % neutral, +0.604 % up; B: 0 % neutral, +25 % up
    assert out["target"].tolist() == [1, 0, 1, 1]
    neutral = [d for d in report.dropped if "neutral band" in d.reason]
    assert neutral[0].count == 2 and neutral[0].examples == ("A 2014-01-06", "B 2014-01-02")


def test_band_edges():
    # binary-exact values: -25 % exactly is down (<= lower); +50 % exactly is neutral (<= upper); +50.2 % is up
    frame = pd.DataFrame({"date": DATES[:4], "ticker": "A", "close": [100.0, 75.0, 112.5, 169.0]})
    out = make_targets(frame, kind="direction", neutral_band=(-0.25, 0.5))
    assert out["target"].tolist() == [0, 1] and out["date"].tolist() == [DATES[0], DATES[2]]


def test_targets_only_look_h_rows_ahead():
    base = prices().sort_values(["ticker", "date"]).reset_index(drop=True)
    for h in (1, 2):
        before = make_targets(base, kind="return", horizon=h)
        changed = base.copy()
        changed.loc[(changed["ticker"] == "A") & (changed["date"] > DATES[2]), "close"] *= 3.0
        after = make_targets(changed, kind="return", horizon=h)
        safe = (before["date"] < DATES[3 - h]) | (before["ticker"] == "B")  # t + h <= DATES[2]
        pd.testing.assert_frame_equal(after[safe.to_numpy()], before[safe.to_numpy()])
        assert not after.equals(before)


def test_arguments_checked():
    with pytest.raises(ConfigError, match="kind"):
        make_targets(prices(), kind="sharpe")
    with pytest.raises(ConfigError, match="horizon"):
        make_targets(prices(), kind="return", horizon=0)
    with pytest.raises(ConfigError, match="neutral_band"):
        make_targets(prices(), kind="return", neutral_band=(-0.01, 0.01))
    with pytest.raises(ConfigError, match="lower <= upper"):
        make_targets(prices(), kind="direction", neutral_band=(0.01, -0.01))
