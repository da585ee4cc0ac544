import json

import numpy as np
import pandas as pd
import pytest
import yaml

from finfusion.errors import ConfigError
from finfusion.experiments import plan, runner
from finfusion.experiments.config import parse_config

SMALL = {
    "name": "t",
    "progress": False,
    "data": {"source": "simulate", "simulate": {"n_days": 70, "n_features": 3, "seed": 2}},
    "features": {"groups": ["extra"]},
    "models": [
        {"name": "mlp", "label": "MLP", "params": {"hidden": 8, "epochs": 2}},
        {"name": "xgboost", "params": {"n_estimators": 10}},
    ],
    "protocol": {"kind": "rolling", "window": 40, "refit_every": 5},
}


def test_run_writes_a_complete_run_directory(tmp_path):
    result = runner.run(parse_config(SMALL), run_dir=tmp_path / "r")
    files = {p.relative_to(result.run_dir).as_posix() for p in result.run_dir.rglob("*") if p.is_file()}
    for name in ("config.yaml", "env.json", "data.json", "predictions.parquet", "metrics.json", "metrics.csv",
                 "report.html", "plots/true_vs_pred.png", "plots/errors.png"):
        assert name in files
    assert not [f for f in files if f.endswith(".tmp") or f.endswith(".pkl") or f.endswith(".pickle")]
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert saved["protocol"]["window"] == 40 and saved["models"][0]["label"] == "MLP"
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert {u["model"] for u in metrics["units"]} == {"MLP", "xgboost"}
    assert metrics["noise_floor"] > 0
    preds = pd.read_parquet(result.run_dir / "predictions.parquet")
    # metrics are recomputed from the saved predictions, not invented
    mlp = preds[preds["model"] == "MLP"]
    unit = next(u for u in metrics["units"] if u["model"] == "MLP")
    assert unit["mse"] == pytest.approx(float(np.mean((mlp["y_true"] - mlp["y_pred"]) ** 2)))
    data = json.loads((result.run_dir / "data.json").read_text())
    assert len(data["fingerprints"]["prices"]) == 64 and data["samples"]["features"] == ["x1", "x2", "x3"]
    html = (result.run_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "noise_floor" in html


def test_existing_run_directory_is_not_overwritten(tmp_path):
    runner.run(parse_config(SMALL), run_dir=tmp_path / "r")
    with pytest.raises(ConfigError, match="--resume"):
        runner.run(parse_config(SMALL), run_dir=tmp_path / "r")


def test_sweep_gives_mean_std_tables_and_violins(tmp_path):
    raw = {**SMALL, "models": SMALL["models"][:1],
           "sweep": {"params": {"data.simulate.n_features": [2, 3], "models.*.params.batch_size": [8, 16]},
                     "seeds": [0, 1]}}
    config = parse_config(raw)
    units = plan.plan_units(config)
    # one-at-a-time: n_features=2, n_features=3, batch_size=8, batch_size=16; n_features=3 and
    # batch_size=16 are both the base config (16 is the default): computed once, reported under both
    assert len(units) == 6
    assert {u.point_id for u in units} == {"n_features=2", "n_features=3", "batch_size=8"}
    assert {u.also for u in units if u.point_id == "n_features=3"} == {("batch_size=16",)}
    assert units[0].config.data.simulate.seed == units[0].seed  # each repeat draws a new market
    result = runner.run(config, run_dir=tmp_path / "s")
    table = (result.run_dir / "tables" / "mse.md").read_text()
    assert "n_features=2" in table and "(" in table
    assert (result.run_dir / "plots" / "violin_mse.png").exists()
    per_point = result.metrics.groupby("point")["seed"].nunique()
    assert len(per_point) == 4 and per_point.eq(2).all()
    m = result.metrics.set_index(["point", "seed"])["mse"]
    assert m[("n_features=3", 0)] == m[("batch_size=16", 0)]


def test_run_resume_equals_uninterrupted(tmp_path, interrupt_at_fold):
    config = parse_config({**SMALL, "models": SMALL["models"][:1]})
    full = runner.run(config, run_dir=tmp_path / "full").predictions
    restore = interrupt_at_fold(12)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config, run_dir=tmp_path / "cut")
    assert not (tmp_path / "cut" / "predictions.parquet").exists()
    restore()
    resumed = runner.run(None, run_dir=tmp_path / "cut", resume=True).predictions
    cols = ["date", "ticker", "y_true", "y_pred", "fold", "model", "seed"]
    pd.testing.assert_frame_equal(full[cols], resumed[cols])


def test_resume_needs_a_run_directory(tmp_path):
    with pytest.raises(ConfigError, match="not a run directory"):
        runner.run(None, run_dir=tmp_path, resume=True)


def test_model_labels_cannot_escape_the_run_directory(tmp_path):
    raw = {**SMALL, "models": [{"name": "xgboost", "label": "../../evil", "params": {"n_estimators": 5}}]}
    result = runner.run(parse_config(raw), run_dir=tmp_path / "r")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all((tmp_path / "r") in p.parents for p in written)
    assert set(result.predictions["model"]) == {"../../evil"}


def test_process_executor_gives_the_same_predictions(tmp_path):
    raw = {**SMALL, "models": SMALL["models"][:1]}
    local = runner.run(parse_config(raw), run_dir=tmp_path / "a").predictions
    pooled = runner.run(parse_config({**raw, "executor": {"kind": "processes", "workers": 2}}),
                        run_dir=tmp_path / "b").predictions
    cols = ["date", "ticker", "y_pred", "fold"]
    pd.testing.assert_frame_equal(local[cols], pooled[cols])


def test_simulated_runs_report_noise_floor_ratio_and_text_recovery(tmp_path):
    raw = {**SMALL, "models": SMALL["models"][:1], "sweep": {"seeds": [0, 1]}}
    result = runner.run(parse_config(raw), run_dir=tmp_path / "r")
    m = result.metrics.set_index("seed")
    preds = result.predictions
    for seed in (0, 1):
        part = preds[preds["seed"] == seed]
        assert m.loc[seed, "corr_text"] == pytest.approx(part["y_pred"].corr(part["truth_text_part"]))
        assert m.loc[seed, "mse_ratio"] == pytest.approx(m.loc[seed, "mse"] / m.loc[seed, "noise_floor"])
    # every repeat draws its own market, with its own noise floor
    assert m.loc[0, "noise_floor"] != m.loc[1, "noise_floor"]


def test_classification_sweeps_tabulate_mcc():
    from finfusion.experiments.outputs import _sweep_metrics

    config = parse_config({**SMALL, "target": {"kind": "direction", "horizon": 1}})
    metrics = pd.DataFrame(columns=["accuracy", "f1", "roc_auc", "mcc", "mse"])
    assert _sweep_metrics(config, metrics, "classification") == ["accuracy", "f1", "roc_auc", "mcc"]
    assert "mcc" not in _sweep_metrics(parse_config(SMALL), metrics.assign(mae=0, mse_ratio=0), "regression")
