"""Regimes: validation, inclusive and overlapping ranges, and rows in no regime."""

from __future__ import annotations

import pandas as pd
import pytest

from finfusion.errors import ConfigError
from finfusion.evaluate.regimes import assign_regimes, regime_metrics, unassigned_count, validate_regimes

REGIMES = {"crash": ["2020-02-03", "2020-02-05"], "recovery": ["2020-02-05", "2020-02-07"]}


def _predictions() -> pd.DataFrame:
    dates = pd.bdate_range("2020-02-03", periods=6)  # Mon 3 .. Mon 10 February
    return pd.DataFrame({"date": dates, "ticker": "A", "y_true": [1, 0, 1, 1, 0, 1], "y_pred": [1, 0, 0, 1, 1, 1],
                         "p_1": [0.9, 0.1, 0.4, 0.8, 0.6, 0.7], "model": "xgb"})


def test_membership_is_inclusive_and_may_overlap():
    member = assign_regimes(_predictions()["date"], REGIMES)
    assert member["crash"].tolist() == [True, True, True, False, False, False]
    assert member["recovery"].tolist() == [False, False, True, True, True, False]
    assert member["unassigned"].tolist() == [False] * 5 + [True]


def test_times_of_day_belong_to_their_date():
    member = assign_regimes(pd.Series(pd.to_datetime(["2020-02-05 21:30", "2020-02-08 09:00"])), REGIMES)
    assert member["recovery"].tolist() == [True, False]


def test_metrics_per_regime_with_an_unassigned_row():
    table = regime_metrics(_predictions(), REGIMES)
    assert table["regime"].tolist() == ["crash", "recovery", "unassigned"]
    assert table["n"].tolist() == [3, 3, 1]
    crash = table.iloc[0]  # y_true 1 0 1, y_pred 1 0 0
    assert crash["accuracy"] == pytest.approx(2 / 3) and crash["recall"] == 0.5 and crash["roc_auc"] == 1.0
    assert crash["start"] == pd.Timestamp("2020-02-03") and crash["end"] == pd.Timestamp("2020-02-05")
    recovery = table.iloc[1]  # y_true 1 1 0, y_pred 0 1 1
    assert recovery["accuracy"] == pytest.approx(1 / 3)
    assert pd.isna(table.iloc[2]["start"])
    assert unassigned_count(_predictions(), REGIMES) == 1


def test_empty_regime_gives_no_row_and_models_are_separate():
    preds = pd.concat([_predictions(), _predictions().assign(model="mlp")], ignore_index=True)
    table = regime_metrics(preds, {**REGIMES, "later": ["2021-01-01", "2021-12-31"]})
    assert list(zip(table["regime"], table["model"])) == [
        ("crash", "xgb"), ("crash", "mlp"), ("recovery", "xgb"), ("recovery", "mlp"),
        ("unassigned", "xgb"), ("unassigned", "mlp")]


@pytest.mark.parametrize(
    ("regimes", "message"),
    [
        ({"bad": ["2020-03-01", "2020-02-01"]}, r"regimes.bad: start 2020-03-01 is after end 2020-02-01"),
        ({"bad": ["2020-03-01"]}, r"regimes.bad: expected \[start, end\]"),
        ({"bad": "2020-03-01"}, r"regimes.bad: expected \[start, end\]"),
        ({"bad": ["2020-03-01", "soon"]}, r"regimes.bad: .* not dates"),
        ({"bad": ["2020-03-01", None]}, r"regimes.bad: start and end must be dates"),
        ({"unassigned": ["2020-01-01", "2020-02-01"]}, "reserved"),
        ({}, "non-empty mapping"),
    ],
)
def test_invalid_regimes_are_named(regimes, message):
    with pytest.raises(ConfigError, match=message):
        validate_regimes(regimes)


CONFIG = """
target: {kind: direction}
models: [{name: xgboost}]
analysis:
  regimes:
    calm: [2015-01-01, 2015-03-01]
"""


def test_regime_dates_from_yaml_and_from_set_give_the_same_config(tmp_path):
    from datetime import date

    from finfusion.experiments.config import config_to_dict, load_config

    path = tmp_path / "run.yaml"
    path.write_text(CONFIG)  # PyYAML reads 2015-01-01 as datetime.date, not as a string
    from_yaml = load_config(path)
    assert from_yaml.analysis.regimes == {"calm": [date(2015, 1, 1), date(2015, 3, 1)]}
    path.write_text(CONFIG.replace("    calm: [2015-01-01, 2015-03-01]\n", "    calm: [2014-01-01, 2014-02-01]\n"))
    from_set = load_config(path, ["analysis.regimes.calm=[2015-01-01, 2015-03-01]"])
    assert from_set.analysis.regimes == from_yaml.analysis.regimes
    assert config_to_dict(from_set)["analysis"]["regimes"] == {"calm": ["2015-01-01", "2015-03-01"]}
    quoted = load_config(path, ['analysis.regimes.calm=["2015-01-01", "2015-03-01"]'])  # strings still work
    assert quoted.analysis.regimes == from_yaml.analysis.regimes
    with pytest.raises(ConfigError, match=r"regimes.calm: start 2015-03-01 is after end 2015-01-01"):
        load_config(path, ["analysis.regimes.calm=[2015-03-01, 2015-01-01]"])
    with pytest.raises(ConfigError, match=r"analysis.regimes.calm.1: .*valid date"):
        load_config(path, ["analysis.regimes.calm=[2015-03-01, soon]"])
