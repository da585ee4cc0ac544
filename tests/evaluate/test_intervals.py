"""Day-bootstrap intervals of accuracy and MCC (evaluate.intervals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, matthews_corrcoef

from finfusion.evaluate.intervals import (
    bootstrap_table,
    confusion_by_date,
    day_bootstrap,
    metrics_from_confusion,
)


def _predictions(n_days: int, *, skill: float = 0.65, n_tickers: int = 5, seeds=(0,), model: str = "m",
                 rng_seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = []
    dates = pd.bdate_range("2022-01-03", periods=n_days)
    for seed in seeds:
        y = rng.integers(0, 2, size=(n_days, n_tickers))
        hit = rng.random((n_days, n_tickers)) < skill
        pred = np.where(hit, y, 1 - y)
        rows.append(pd.DataFrame({"date": np.repeat(dates, n_tickers), "ticker": np.tile(np.arange(n_tickers), n_days),
                                  "y_true": y.ravel(), "y_pred": pred.ravel(), "seed": seed, "model": model}))
    return pd.concat(rows, ignore_index=True)


def test_confusion_metrics_match_scikit_learn():
    frame = _predictions(30, skill=0.6)
    _, counts = confusion_by_date(frame, np.array([0, 1]))
    assert counts.shape == (1, 30, 2, 2) and counts.sum() == len(frame)
    values = metrics_from_confusion(counts.sum(axis=1))
    assert values["accuracy"][0] == pytest.approx(accuracy_score(frame["y_true"], frame["y_pred"]))
    assert values["mcc"][0] == pytest.approx(matthews_corrcoef(frame["y_true"], frame["y_pred"]))
    constant = metrics_from_confusion(np.array([[3.0, 0.0], [2.0, 0.0]]))  # always predicts class 0
    assert constant["accuracy"] == pytest.approx(0.6) and constant["mcc"] == 0.0


def test_interval_contains_the_point_estimate_and_narrows_with_more_days():
    short = day_bootstrap(_predictions(20), n_resamples=500)
    long = day_bootstrap(_predictions(320), n_resamples=500)
    for result in (short, long):
        for name in ("accuracy", "mcc"):
            assert result[f"{name}_lo"] <= result[name] <= result[f"{name}_hi"]
    width = {k: (r["accuracy_hi"] - r["accuracy_lo"]) for k, r in (("short", short), ("long", long))}
    assert width["long"] < 0.5 * width["short"]  # 16x the days: about a quarter of the width
    assert short["n_days"] == 20 and long["n_days"] == 320


def test_point_is_the_mean_over_seeds_and_the_draws_are_reproducible():
    frame = _predictions(40, seeds=(0, 1))
    result = day_bootstrap(frame, n_resamples=200, seed=7)
    per_seed = [accuracy_score(g["y_true"], g["y_pred"]) for _, g in frame.groupby("seed")]
    assert result["accuracy"] == pytest.approx(np.mean(per_seed)) and result["n_seeds"] == 2
    assert day_bootstrap(frame, n_resamples=200, seed=7) == result
    assert day_bootstrap(frame, n_resamples=200, seed=8) != result


def test_rows_of_a_day_move_together():
    """When all tickers of a day are right or wrong together, resampling days (not rows) must give
    the wide interval of n_days draws, not the narrow one of n_rows independent rows."""
    rng = np.random.default_rng(1)
    n_days, n_tickers = 60, 20
    day_hit = rng.random(n_days) < 0.6
    y = np.ones((n_days, n_tickers), dtype=int)
    pred = np.where(day_hit[:, None], 1, 0) * np.ones((1, n_tickers), dtype=int)
    frame = pd.DataFrame({"date": np.repeat(pd.bdate_range("2022-01-03", periods=n_days), n_tickers),
                          "y_true": y.ravel(), "y_pred": pred.ravel()})
    result = day_bootstrap(frame, n_resamples=1000)
    p = day_hit.mean()
    day_se = np.sqrt(p * (1 - p) / n_days)
    assert result["accuracy_hi"] - result["accuracy_lo"] == pytest.approx(2 * 1.96 * day_se, rel=0.2)


def test_bootstrap_table_has_one_row_per_point_and_model():
    frame = pd.concat([_predictions(20, model="a").assign(point="p1"), _predictions(20, model="b").assign(point="p1"),
                       _predictions(20, model="a").assign(point="p2")], ignore_index=True)
    table = bootstrap_table(frame, n_resamples=50)
    assert table[["point", "model"]].values.tolist() == [["p1", "a"], ["p1", "b"], ["p2", "a"]]
    assert {"accuracy_lo", "accuracy_hi", "mcc_lo", "mcc_hi", "n_days", "n_seeds"} <= set(table.columns)


def _frame(y_true, y_pred, dates, seed=0):
    return pd.DataFrame({"date": dates, "y_true": y_true, "y_pred": y_pred, "seed": seed})


def test_paired_difference_of_mcc_by_hand_and_its_pairing():
    from sklearn.metrics import matthews_corrcoef

    from finfusion.errors import DataError
    from finfusion.evaluate.intervals import paired_difference

    rng = np.random.default_rng(3)
    dates = np.repeat(pd.bdate_range("2021-01-01", periods=40), 5)
    y = rng.integers(0, 2, len(dates))
    good = np.where(rng.random(len(y)) < 0.7, y, 1 - y)
    a = _frame(y, good, dates)
    same = paired_difference(a, a, n_resamples=200)
    assert same["diff"] == 0 and same["se"] == 0 and same["z"] == 0  # a model against itself: no difference
    perfect, constant = _frame(y, y, dates), _frame(y, np.zeros_like(y), dates)
    sure = paired_difference(perfect, constant, n_resamples=200)
    assert sure["diff"] == pytest.approx(1.0) and sure["se"] == 0 and sure["z"] == np.inf  # MCC 1 vs 0 everywhere
    flipped = good.copy()
    flipped[:3] = 1 - flipped[:3]  # b differs from a on 3 rows of 200
    b = _frame(y, flipped, dates)
    close = paired_difference(a, b, n_resamples=500)
    assert close["diff"] == pytest.approx(matthews_corrcoef(y, good) - matthews_corrcoef(y, flipped))
    assert close["lo"] <= close["diff"] <= close["hi"]
    alone = [day_bootstrap(f, n_resamples=500) for f in (a, b)]
    unpaired = np.hypot(*[(r["mcc_hi"] - r["mcc_lo"]) / 3.92 for r in alone])
    assert close["se"] < unpaired / 3  # the same days for both: far below the unpaired SE
    with pytest.raises(DataError, match="different test dates"):
        paired_difference(a, a.iloc[5:], n_resamples=10)
