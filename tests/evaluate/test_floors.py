"""The floor table of a direction run (evaluate.floors) and the per-date error rate it tests on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import DataError
from finfusion.evaluate.floors import (
    KIND_FLOOR,
    KIND_MAJORITY,
    KIND_MODEL,
    MAJORITY,
    display_table,
    floor_blocks,
    floor_table,
    floor_warnings,
    majority_predictions,
)
from finfusion.evaluate.report import WarningBox
from finfusion.evaluate.significance import date_significance, per_date_errors


def _frame(y_true, y_pred, *, model="m", fold=0, seed=0, start="2024-01-01", tickers=1) -> pd.DataFrame:
    n = len(y_true)
    dates = np.repeat(pd.date_range(start, periods=n // tickers), tickers)
    return pd.DataFrame({"point": "base", "seed": seed, "fold": fold, "date": dates,
                         "ticker": np.tile([f"T{i}" for i in range(tickers)], n // tickers),
                         "y_true": y_true, "y_pred": y_pred, "model": model})


def test_majority_of_split_by_hand_per_fold_with_ties_to_the_smallest_label():
    fold0 = _frame([1, 1, 0, 1], [0, 0, 0, 0], fold=0)  # majority 1: accuracy 3/4
    fold1 = _frame([0, 1, 0, 1], [1, 1, 1, 1], fold=1, start="2024-02-01")  # tie: label 0, accuracy 2/4
    preds = pd.concat([fold0, fold1, fold0.assign(model="other"), fold1.assign(model="other")], ignore_index=True)
    majority = majority_predictions(preds)
    assert len(majority) == 8 and set(majority["model"]) == {MAJORITY}  # each evaluated row once
    assert majority.groupby("fold")["y_pred"].first().tolist() == [1, 0]
    table = floor_table(preds, n_resamples=50).set_index("model")
    assert table.loc[MAJORITY, "accuracy"] == pytest.approx(5 / 8)
    assert table.loc[MAJORITY, ["mcc", "mcc_lo", "mcc_hi"]].tolist() == [0.0, 0.0, 0.0]  # by convention
    assert table.loc[MAJORITY, "kind"] == KIND_MAJORITY and table.loc["m", "kind"] == KIND_MODEL


def test_per_date_error_rate_by_hand():
    preds = _frame([1, 0, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0], tickers=2)  # days: 1 of 2 wrong, 1 of 2, 0 of 2
    per_date = per_date_errors(preds, loss="error_rate")
    assert per_date["error_rate"].tolist() == [0.5, 0.5, 0.0]
    ragged = pd.DataFrame({"model": "m", "seed": 0, "date": pd.to_datetime(["2024-01-01"] * 3 + ["2024-01-02"]),
                           "y_true": [1, 0, 1, 1], "y_pred": [1, 1, 0, 1]})  # 2 of 3 wrong, then 0 of 1
    per_date = per_date_errors(ragged, loss="error_rate")  # errors over the mean 2 rows per date
    assert per_date["error_rate"].tolist() == [1.0, 0.0] and per_date["error_rate"].mean() == 0.5  # 2 of 4 wrong
    with pytest.raises(DataError, match="unknown loss 'hinge'"):
        per_date_errors(preds, loss="hinge")


def _two_models(skill_a: float, skill_b: float, n_days: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n_days * 4)
    frames = []
    for name, skill in (("A", skill_a), ("B", skill_b), ("Prior", None)):
        pred = np.ones_like(y) if skill is None else np.where(rng.random(y.size) < skill, y, 1 - y)
        frames.append(_frame(y, pred, model=name, tickers=4))
    return pd.concat(frames, ignore_index=True)


def test_paired_test_detects_a_planted_difference_and_not_a_null_one():
    planted = floor_table(_two_models(0.75, 0.5), ["Prior"], n_resamples=100).set_index("model")
    best = planted.loc[MAJORITY if planted.loc[MAJORITY, "accuracy"] >= planted.loc["Prior", "accuracy"]
                       else "Prior"]
    assert (planted["best_floor"] == best.name).all()
    assert planted.loc["A", "p_t"] < 1e-3 and planted.loc["A", "acc_diff"] > 0.15
    assert planted.loc["A", "n_pairs"] == 120
    assert planted.loc["A", "acc_diff"] == pytest.approx(planted.loc["A", "accuracy"] - best["accuracy"])
    null_p = [floor_table(_two_models(0.5, 0.5, seed=s), n_resamples=20).set_index("model").loc["A", "p_t"]
              for s in range(20)]
    assert np.mean(np.array(null_p) < 0.05) <= 0.15  # about 5 % false alarms, not a detection


def test_the_paired_test_is_date_significance_on_the_error_rate():
    preds = _two_models(0.7, 0.55)
    table = floor_table(preds, ["Prior"], n_resamples=20).set_index("model")
    reference = table["best_floor"].iloc[0]
    with_majority = pd.concat([majority_predictions(preds), preds], ignore_index=True).drop(columns="point")
    direct = date_significance(with_majority, reference=reference, loss="error_rate").set_index("model")
    assert table.loc["B", "p_t"] == pytest.approx(direct.loc["B", "p_t"])
    assert table.loc["B", "acc_diff"] == pytest.approx(-direct.loc["B", "mean_diff"])


def test_warning_when_accuracy_is_below_the_majority_of_the_split():
    y = np.array([1] * 30 + [0] * 10)  # majority (rise) scores 0.75
    preds = pd.concat([_frame(y, np.where(np.arange(40) % 2 == 0, y, 1 - y), model="coin"),  # 0.5
                       _frame(y, y, model="oracle"), _frame(y, np.zeros(40, dtype=int), model="Prior")])
    table = floor_table(preds, ["Prior"], n_resamples=20)
    assert table.set_index("model")["kind"].to_dict() == {MAJORITY: KIND_MAJORITY, "Prior": KIND_FLOOR,
                                                          "coin": KIND_MODEL, "oracle": KIND_MODEL}
    warnings = floor_warnings(table)
    assert len(warnings) == 2
    assert warnings[0].startswith("floor Prior: accuracy 0.2500 is below the majority class of its split (0.7500)")
    assert warnings[1].startswith("model coin: accuracy 0.5000 is below")
    blocks = floor_blocks(table, n_resamples=20)
    assert isinstance(blocks[-1], WarningBox) and "coin" in blocks[-1].text
    shown = display_table(table).set_index("model")
    assert shown.loc["coin", "note"] == "below majority" and shown.loc["oracle", "note"] == ""
    assert "point" not in shown.columns  # no sweep
    assert shown.loc[MAJORITY, "vs best floor: acc diff, p"] == "the best floor (reference)"


def test_a_model_named_like_the_majority_row_is_refused():
    with pytest.raises(DataError, match="Majority of split"):
        floor_table(_frame([0, 1], [0, 1], model=MAJORITY))


def test_acc_diff_is_the_accuracy_difference_also_with_ragged_days():
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 9, size=50)  # 1..8 tickers a day, as under StockNet's sample rules
    dates = np.repeat(pd.date_range("2024-01-01", periods=50), sizes)
    y = rng.integers(0, 2, size=dates.size)
    frames = [pd.DataFrame({"seed": 0, "fold": 0, "date": dates, "ticker": np.arange(dates.size), "y_true": y,
                            "y_pred": np.where(rng.random(y.size) < skill, y, 1 - y), "model": name})
              for name, skill in (("A", 0.7), ("Logistic", 0.55))]
    table = floor_table(pd.concat(frames, ignore_index=True), ["Logistic"], n_resamples=20).set_index("model")
    best = table.loc[table["best_floor"].iloc[0], "accuracy"]
    assert table.loc["A", "acc_diff"] == pytest.approx(table.loc["A", "accuracy"] - best)


def test_configs_tried_are_carried_and_shown_with_not_stated_for_unknown():
    from finfusion.evaluate.floors import display_table

    rng = np.random.default_rng(0)
    dates = np.repeat(pd.bdate_range("2021-01-01", periods=30), 2)
    y = rng.integers(0, 2, len(dates))
    rows = [pd.DataFrame({"date": dates, "ticker": np.tile(["A", "B"], 30), "y_true": y,
                          "y_pred": rng.integers(0, 2, len(dates)), "model": m, "seed": 0, "fold": 0})
            for m in ("Prior", "Net", "Other")]
    table = floor_table(pd.concat(rows, ignore_index=True), ["Prior"], configs_tried={"Prior": 1, "Net": 12},
                        n_resamples=50)
    tried = dict(zip(table["model"], table["configs_tried"]))
    assert tried[MAJORITY] == 0 and tried["Prior"] == 1 and tried["Net"] == 12 and pd.isna(tried["Other"])
    shown = dict(zip(display_table(table)["model"], display_table(table)["configs tried"]))
    assert shown == {MAJORITY: "-", "Prior": "1", "Net": "12", "Other": "not stated"}
    assert "configs_tried" not in floor_table(pd.concat(rows, ignore_index=True), ["Prior"], n_resamples=50)


def test_mcc_against_the_best_floor_and_the_plain_verdict():
    from sklearn.metrics import matthews_corrcoef

    from finfusion.evaluate.floors import floor_verdicts

    preds = _two_models(0.75, 0.5)
    table = floor_table(preds, ["Prior"], n_resamples=200).set_index("model")
    assert (table["best_floor_mcc"] == MAJORITY).all()  # the constant Prior has MCC 0 too: the first (majority) wins
    a = preds[preds["model"] == "A"]
    assert table.loc["A", "mcc_diff"] == pytest.approx(matthews_corrcoef(a["y_true"], a["y_pred"]))  # minus 0
    assert table.loc["A", "mcc_diff"] > 2 * table.loc["A", "mcc_se"] > 0
    (line,) = floor_verdicts(table.reset_index())
    assert line.startswith("Best model by MCC: A, MCC") and "more than two standard errors above it" in line
    assert "not more" not in line
    weak = floor_table(_two_models(0.5, 0.49, seed=1), ["Prior"], n_resamples=200)
    (line,) = floor_verdicts(weak)
    assert "not more than two standard errors above it: no model beats the floor here" in line
    shown = display_table(weak).set_index("model")["vs best floor (MCC): diff (SE)"]
    assert shown[MAJORITY] == "the best floor by MCC" and shown["A"].startswith(("+", "-"))


def test_the_verdict_also_compares_with_a_named_reference_model():
    from finfusion.evaluate.floors import floor_verdicts

    table = floor_table(_two_models(0.75, 0.6), ["Prior"], reference="B", n_resamples=200)
    rows = table.set_index("model")
    assert pd.isna(rows.loc["B", "mcc_diff_ref"]) and rows.loc["A", "mcc_diff_ref"] == pytest.approx(
        rows.loc["A", "mcc"] - rows.loc["B", "mcc"])
    (line,) = floor_verdicts(table)
    assert "; against the reference B: +" in line and line.endswith("more than two standard errors above it")
    assert "not more" not in line.split("; against the reference")[1]
    assert "reference" not in floor_table(_two_models(0.75, 0.6), ["Prior"], n_resamples=20).columns


def test_the_verdict_names_the_best_text_model_when_another_model_is_best():
    from finfusion.evaluate.floors import floor_verdicts

    preds = _two_models(0.75, 0.6)
    lines = floor_verdicts(floor_table(preds, ["Prior"], text_models=["B"], n_resamples=100))
    assert [line.split(":")[0] for line in lines] == ["Best model by MCC", "Best text model by MCC"]
    assert lines[1].startswith("Best text model by MCC: B, MCC")
    (only,) = floor_verdicts(floor_table(preds, ["Prior"], text_models=["A"], n_resamples=100))
    assert only.startswith("Best model by MCC: A")  # the best model reads text: one line
