"""A small direction run writes the floor table, prints it under the summary and reports it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from finfusion.evaluate.floors import KIND_FLOOR, KIND_MAJORITY, KIND_MODEL, MAJORITY, MAJORITY_ROW


def test_a_small_direction_run_writes_and_prints_the_floor_table(tmp_path, capsys):
    from finfusion.experiments.kinds import KINDS
    from finfusion.experiments.notebook import run
    from finfusion.experiments.outputs import RunResult

    raw = {"name": "floors", "progress": False,
           "data": {"source": "simulate", "simulate": {"n_days": 120, "n_tickers": 4, "n_features": 3, "seed": 1}},
           "features": {"groups": ["extra"]}, "target": {"kind": "direction"},
           "models": [{"name": "prior", "label": "Train prior"}, {"name": "logistic", "label": "Logistic"},
                      {"name": "xgboost", "label": "XGB", "params": {"n_estimators": 10},
                       "configs_tried": 3}],
           "protocol": {"kind": "walk_forward", "train_size": 40, "test_size": 30, "n_folds": 2, "unit": "days"},
           "sweep": {"seeds": [0, 1]}, "output": {"plots": False, "report": True}}
    result = run(raw, out=tmp_path / "run")
    table = pd.read_csv(tmp_path / "run" / "tables" / "floors.csv")
    assert table["model"].tolist()[0] == MAJORITY  # floors first
    assert table.set_index("model")["kind"].to_dict() == {MAJORITY: KIND_MAJORITY, "Train prior": KIND_FLOOR,
                                                          "Logistic": KIND_FLOOR, "XGB": KIND_MODEL}
    tried = table.set_index("model")["configs_tried"]
    assert tried["XGB"] == 3 and pd.isna(tried["Train prior"]) and tried[MAJORITY] == 0  # as the config states
    summary = result.metrics.groupby("model")["accuracy"].mean()
    rows = table.set_index("model")
    for model in ("Train prior", "Logistic", "XGB"):  # the same numbers as the summary, with intervals
        assert rows.loc[model, "accuracy"] == pytest.approx(summary[model])
        assert rows.loc[model, "accuracy_lo"] <= rows.loc[model, "accuracy"] <= rows.loc[model, "accuracy_hi"]
        assert rows.loc[model, "n_seeds"] == 2
    assert MAJORITY not in set(result.metrics["model"])  # never in the models' own tables
    scored = result.predictions[result.predictions["model"] == "XGB"]  # each seed its own market (resample_data)
    by_hand = [g.groupby("fold")["y_true"].apply(lambda y: y.value_counts().max()).sum() / len(g)
               for _, g in scored.groupby("seed")]  # the majority label of each test fold, right on its rows
    assert rows.loc[MAJORITY, "accuracy"] == pytest.approx(sum(by_hand) / 2)
    accuracy = pd.read_csv(tmp_path / "run" / "tables" / "accuracy.csv", index_col="model")  # mean (std) over seeds
    assert accuracy.index[0] == MAJORITY_ROW and accuracy.iloc[0, 0].startswith(f"{rows.loc[MAJORITY, 'accuracy']:.4g}")
    assert pd.read_csv(tmp_path / "run" / "tables" / "mcc.csv", index_col="model").iloc[0, 0] == "0(0)"
    assert MAJORITY_ROW not in pd.read_csv(tmp_path / "run" / "tables" / "f1.csv", index_col="model").index
    notes = KINDS["predict"].headline(RunResult(result.dir, result.predictions, result.metrics, {})).notes
    assert any(n.startswith("Floors and models") for n in notes)
    assert any(MAJORITY in n and "accuracy [95% CI]" in n and "vs best floor (MCC)" in n for n in notes)
    assert sum(n.startswith("Best model by MCC: XGB") for n in notes) == 1  # the only model: the verdict names it
    assert sum(n.startswith("warning: ") for n in notes) == int(table["below_majority"].sum())
    html = (tmp_path / "run" / "report.html").read_text()
    assert "percentile bootstrap over test days (1,000 resamples" in html
    assert ("Below the majority class of the split" in html) == bool(table["below_majority"].any())
    capsys.readouterr()
    from finfusion.cli import main

    assert main(["run", "--resume", str(tmp_path / "run"), "--json"]) == 0  # a finished run: its outcome again
    document = json.loads(capsys.readouterr().out)
    assert [row["model"] for row in document["floors"]] == table["model"].tolist()
    assert [row["accuracy_lo"] for row in document["floors"]] == pytest.approx(table["accuracy_lo"].tolist())
