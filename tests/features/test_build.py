"""Feature registry, selection, per-ticker causality and warm-up dropping."""

import numpy as np
import pandas as pd
import pytest

from finfusion.data.frames import CleaningReport
from finfusion.errors import DataError
from finfusion.features.build import (
    FEATURE_GROUPS,
    build_features,
    drop_warmup,
    resolve_feature,
    select_features,
    warmup_cause,
)


def make_prices(n=80, tickers=("AAA", "BBB"), seed=0, extra=True):
    rng = np.random.default_rng(seed)
    frames = []
    for i, ticker in enumerate(tickers):
        close = 50 * (i + 1) * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        frame = pd.DataFrame(
            {
                "date": pd.bdate_range("2021-01-04", periods=n),
                "ticker": ticker,
                "open": close,
                "high": close * 1.01,
                "low": close * 0.98,
                "close": close,
                "volume": rng.integers(1, 1000, n).astype(float),
            }
        )
        if extra:
            frame["x1"] = rng.normal(size=n)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_default_selection_columns_and_order():
    prices = make_prices()
    out = build_features(prices)
    expected = [n for g in FEATURE_GROUPS.values() for n in g if n != "garch_vol"] + ["x1"]
    assert list(out.columns) == ["date", "ticker", *expected]
    assert len(out) == len(prices)
    pd.testing.assert_frame_equal(out[["date", "ticker"]], prices[["date", "ticker"]])
    np.testing.assert_array_equal(out["x1"], prices["x1"])  # extras pass through unchanged


def test_unsorted_input_is_sorted_and_values_match_per_ticker():
    prices = make_prices()
    shuffled = prices.sample(frac=1.0, random_state=1)
    out = build_features(shuffled, ["ret_1"])
    pd.testing.assert_frame_equal(out[["date", "ticker"]], prices[["date", "ticker"]])
    # first row of each ticker has no previous day: the return never crosses tickers
    first_rows = prices.groupby("ticker").head(1).index
    assert out.loc[first_rows, "ret_1"].isna().all()
    b = prices[prices.ticker == "BBB"]["close"].to_numpy()
    np.testing.assert_allclose(out[out.ticker == "BBB"]["ret_1"].to_numpy()[1:], b[1:] / b[:-1] - 1)


def test_groups_exclude_and_parametric():
    prices = make_prices()
    out = build_features(prices, groups=["momentum", "extra"])
    assert list(out.columns[2:]) == ["mom_5", "mom_10", "x1"]
    out = build_features(prices, exclude_groups=["technical", "returns", "volume", "extra"])
    assert list(out.columns[2:]) == ["mom_5", "mom_10", "vol_5", "vol_20", "range"]
    out = build_features(prices, ["ma_7", "rsi_9", "vol_60", "logret_lag_8"], exclude_groups=["technical"])
    assert list(out.columns[2:]) == ["vol_60", "logret_lag_8"]
    assert out["vol_60"].notna().sum() == 2 * (80 - 60)


def test_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="unknown feature 'mom_x'.*known features: .*ma_5"):
        build_features(make_prices(), ["mom_x"])
    with pytest.raises(ValueError, match="unknown group"):
        build_features(make_prices(), groups=["sentiment"])
    with pytest.raises(ValueError, match="window must be >= 2"):
        resolve_feature("vol_1")
    with pytest.raises(ValueError, match="no features selected"):
        select_features(["ma_5"], exclude_groups=["technical"])


def test_missing_column_and_duplicates():
    prices = make_prices().drop(columns=["volume"])
    with pytest.raises(DataError, match="volume"):
        build_features(prices, ["volume_log"])
    build_features(prices, ["ma_5"])  # volume not needed there
    dup = pd.concat([make_prices(), make_prices().head(1)])
    with pytest.raises(DataError, match="duplicate"):
        build_features(dup, ["ma_5"])


def test_extra_column_clashing_with_feature_name():
    prices = make_prices().rename(columns={"x1": "ma_7"})
    with pytest.raises(DataError, match="clash"):
        build_features(prices)


def test_causal_per_ticker():
    """Changing AAA's rows after t and every BBB row leaves AAA's features <= t unchanged."""
    prices = make_prices(n=80)
    names = [n for g in FEATURE_GROUPS.values() for n in g if n != "garch_vol"] + ["x1", "ma_7"]
    before = build_features(prices, names)
    changed = prices.copy()
    cut = 50
    a_rows = np.flatnonzero(changed.ticker == "AAA")
    future = a_rows[cut + 1 :]
    rng = np.random.default_rng(5)
    for column in ("open", "high", "low", "close", "volume", "x1"):
        changed.loc[future, column] *= rng.uniform(0.5, 1.5, len(future))
    changed.loc[changed.ticker == "BBB", "close"] *= 3.0
    after = build_features(changed, names)
    past = a_rows[: cut + 1]
    pd.testing.assert_frame_equal(before.loc[past], after.loc[past])
    assert not before.loc[future, "ma_5"].equals(after.loc[future, "ma_5"])


def test_adj_close_as_price_column():
    prices = make_prices(extra=False)
    prices["adj_close"] = prices["close"] * 0.5
    out = build_features(prices, ["mom_5", "ma_5"], price_column="adj_close")
    ref = build_features(prices, ["mom_5", "ma_5"])  # scale-free features are equal
    np.testing.assert_allclose(out["mom_5"], ref["mom_5"])
    assert "adj_close" not in build_features(prices).columns  # schema column, not an extra


def test_infinite_values_become_nan_and_are_reported():
    prices = make_prices(extra=False)
    prices.loc[5, "close"] = 0.0
    report = CleaningReport()
    out = build_features(prices, ["ret_1"], report=report)
    assert np.isnan(out.loc[6, "ret_1"])  # 100/0 - 1 = inf -> NaN
    assert any("infinite ret_1" in d.reason for d in report.dropped)


def test_drop_warmup_counts_per_reason():
    prices = make_prices(n=30)
    prices.loc[25, "x1"] = np.nan  # a hole after warm-up in AAA
    out = build_features(prices, ["mom_5", "x1"])
    report = CleaningReport()
    kept = drop_warmup(out, report)
    # mom_5 warm-up: 5 rows per ticker -> 10 ; plus the one NaN x1 row
    assert len(kept) == 60 - 11
    counts = {d.reason.split(":")[0]: d.count for d in report.dropped}
    assert counts == {"warm-up": 10, "missing x1 after warm-up": 1}
    assert not kept.isna().any().any()


def test_warmup_reason_names_the_longest_feature_and_how_to_shorten_it():
    prices = make_prices(n=30)
    prices.loc[prices["ticker"] == "BBB", "x1"] = [np.nan] * 12 + [0.5] * 18  # x1 starts late in BBB
    report = CleaningReport()
    drop_warmup(build_features(prices, ["mom_5", "ma_10", "ret_1", "x1"]), report)
    (record,) = report.dropped
    assert record.count == 9 + 12
    cause = warmup_cause(report)
    assert record.reason == "warm-up: " + cause
    assert cause.startswith("first 9-12 rows per ticker; the longest (12 rows) set by x1 (")
    assert "extra column x1 of the prices is missing" in cause
    report = CleaningReport()
    drop_warmup(build_features(make_prices(n=30), ["mom_5", "ma_10", "vol_5"]), report)
    cause = warmup_cause(report)
    assert cause.startswith("first 9 rows per ticker, set by ma_10 (")
    assert "ma_<n>" in cause and "n=10" in cause and "smaller n" in cause


def test_warmup_reason_for_garch_and_ties_and_short_tickers():
    report = CleaningReport()
    prices = make_prices(n=300, tickers=("AAA",), extra=False)
    drop_warmup(build_features(prices, ["garch_vol", "ret_1"]), report)
    cause = warmup_cause(report)
    assert cause.startswith("first 251 rows per ticker, set by garch_vol (")
    assert "min_obs=250" in cause and "leave out garch_vol" in cause
    report = CleaningReport()
    prices = pd.concat([make_prices(n=30, tickers=("AAA",)), make_prices(n=4, tickers=("BBB",))], ignore_index=True)
    drop_warmup(build_features(prices, ["mom_5", "vol_5"]), report)
    cause = warmup_cause(report)
    assert cause.startswith("first 5 rows per ticker, set by mom_5, vol_5 (")
    assert "; 1 ticker(s) lost all their rows: BBB (4 rows; mom_5, vol_5 undefined) (mom_5 (k=5)" in cause
    assert report.dropped[0].count == 5 + 4
    assert warmup_cause(CleaningReport()) is None


def test_group_features_without_their_prices_columns_are_skipped_and_named_ones_refused():
    close_only = make_prices(extra=False)[["date", "ticker", "close"]]
    skipped = []
    out = build_features(close_only, skipped=skipped)  # the default selection
    left_out = ("range", "volume_log", "volume_change")
    assert list(out.columns[2:]) == [n for g in FEATURE_GROUPS.values() for n in g if n not in ("garch_vol", *left_out)]
    assert [s.feature for s in skipped] == list(left_out)
    assert skipped[0].reason == "group volatility: needs the prices column(s) high, low, absent (present: date, ticker, close)"
    assert skipped[1].reason == "group volume: needs the prices column(s) volume, absent (present: date, ticker, close)"
    with_volume = make_prices(extra=False)[["date", "ticker", "close", "volume"]]
    skipped = []
    out = build_features(with_volume, groups=["volatility", "volume"], skipped=skipped)
    assert list(out.columns[2:]) == ["vol_5", "vol_20", "garch_vol", "volume_log", "volume_change"]
    assert [s.feature for s in skipped] == ["range"]
    with pytest.raises(DataError, match=r"feature 'range' \(named in features\) reads the prices column\(s\) "
                                        r"\['high', 'low'\], .*columns present: \['date', 'ticker', 'close'\]"):
        build_features(close_only, ["ma_5", "range"], groups=["volatility"])  # named: refused, not skipped
    with pytest.raises(DataError, match=r"no feature of the selection can be computed from these prices: volume_log "
                                        r"\(group volume: needs the prices column\(s\) volume"):
        build_features(close_only, groups=["volume"])
