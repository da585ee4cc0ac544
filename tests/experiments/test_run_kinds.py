"""The run skeleton (experiments.execute, experiments.kinds): every registered run kind plans
picklable units with stable ids, every executor gives the same results, a failing unit is reported
with its id after the others finish, and --resume skips what finished whatever the executor."""

import pickle
import sys
from pathlib import Path

import pandas as pd
import pytest

from finfusion.executors import ExecutorConfig, UnitsFailed
from finfusion.experiments import kinds, plan, runner
from finfusion.experiments.config import load_config, parse_config
from finfusion.experiments.recipes import recipe_path
from finfusion.experiments.rl_config import RlConfig
from finfusion.experiments.rundir import load_result

sys.path.insert(0, str(Path(__file__).parent))
from test_sentiment_kind import TEXTS  # noqa: E402

PREDICT = {
    "name": "k",
    "progress": False,
    "data": {"source": "simulate", "simulate": {"n_days": 70, "n_features": 3, "seed": 2}},
    "features": {"groups": ["extra"]},
    "models": [
        {"name": "mlp", "label": "MLP", "params": {"hidden": 8, "epochs": 2}},
        {"name": "naive"},
    ],
    "protocol": {"kind": "rolling", "window": 40, "refit_every": 10},
    "sweep": {"params": {"models.0.params.hidden": [4, 8]}, "seeds": [0, 1]},
    "output": {"plots": False, "report": False},
}
RL = ["seeds=[1]", "agent.epochs=1", "agent.patience=1", "agent.n_envs=2", "output.plots=false",
      "output.report=false", "progress=false", "data.simulate.n_days=200", "split.train_end=2020-06-30",
      "split.valid_end=2020-08-31", "cost_sensitivity=null", "variants=[SB, SBC]", "env.window=5"]


def configs(tmp_path, tiny_bert):
    """A small config of every run kind."""
    rows = [(t + suffix, label) for suffix in ("", " .") for label, texts in TEXTS.items() for t in texts]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(tmp_path / "toy.csv", index=False)
    sentiment = {"kind": "sentiment", "name": "s", "progress": False, "data": {"path": str(tmp_path / "toy.csv")},
                 "train": {"model": str(tiny_bert), "epochs": 1, "valid_fraction": 0.25},
                 "search": {"lrs": [5e-3, 1e-3], "batch_sizes": [8], "epochs": [1]}}
    return {"predict": parse_config(PREDICT), "rl": load_config(recipe_path("seed002_simulation"), RL),
            "sentiment": parse_config(sentiment)}


def test_every_kind_is_registered_and_plans_picklable_hashable_units_with_stable_ids(tmp_path, tiny_bert):
    every = configs(tmp_path, tiny_bert)
    assert set(kinds.KINDS) == set(every)  # the contract runs over every registered kind
    for name, config in every.items():
        kind = kinds.kind_of(config)
        assert kind.name == name
        first, again = kind.plan(config), kind.plan(config)
        ids = [u.unit_id for u in first.units]
        assert ids == [u.unit_id for u in again.units] and len(set(ids)) == len(ids) > 1
        assert len({hash(u) for u in first.units}) == len(ids)
        assert [pickle.loads(pickle.dumps(u)).unit_id for u in first.units] == ids
        pickle.dumps(first.shared)  # goes to the workers once
        assert first.fingerprints == again.fingerprints


def test_an_unknown_kind_is_refused_naming_the_known_ones():
    with pytest.raises(Exception, match="known: predict, rl"):
        kinds.kind_of(RlConfig.model_construct(kind="nope"))


def test_sweep_points_apply_to_the_validated_config_without_copying_other_sections():
    config = parse_config(PREDICT)
    units = plan.plan_units(config)
    assert [u.unit_id for u in units][:2] == ["hidden=4__seed0__MLP", "hidden=4__seed0__naive"]
    mlp = [u for u in units if u.model == "MLP"]
    assert {u.config.models[0].params["hidden"] for u in mlp} == {4, 8}
    assert all(u.config.features is config.features and u.config.protocol is config.protocol for u in units)  # shared, not copied
    assert {u.config.data.simulate.seed for u in units} == {0, 1}  # sweep.resample_data: a market per seed
    with pytest.raises(Exception, match="hidden"):
        plan.plan_units(parse_config({**PREDICT, "sweep": {"params": {"models.0.params.hidden": [-1]}}}))


def _predictions(run_dir):
    frame = pd.read_parquet(run_dir / "predictions.parquet").drop(columns="fit_seconds")
    return frame.sort_values(["point", "seed", "model", "date", "ticker"]).reset_index(drop=True)


def test_local_and_processes_executors_give_identical_predictions(tmp_path):
    config = parse_config(PREDICT)
    runner.run(config, run_dir=tmp_path / "local")
    runner.run(config, run_dir=tmp_path / "pool", executor=ExecutorConfig(kind="processes", workers=2))
    pd.testing.assert_frame_equal(_predictions(tmp_path / "local"), _predictions(tmp_path / "pool"))


def test_a_failing_unit_is_reported_with_its_id_the_others_finish_and_resume_reruns_only_it(tmp_path, monkeypatch):
    config = parse_config(PREDICT)
    real = runner.run_model_unit
    ran = []

    def flaky(unit, inputs, checkpoints):
        ran.append(unit.unit_id)
        if unit.unit_id == "hidden=8__seed1__MLP":
            raise ValueError("boom in this unit")
        return real(unit, inputs, checkpoints)

    monkeypatch.setattr(runner, "run_model_unit", flaky)
    with pytest.raises(UnitsFailed, match=r"1 of 8 unit\(s\) failed") as err:
        runner.run(config, run_dir=tmp_path / "r")
    text = str(err.value)
    assert "hidden=8__seed1__MLP: ValueError: boom in this unit" in text and "in flaky" in text  # the traceback
    assert len(ran) == 8  # the others ran after the failure
    finished = [u.unit_id for u in plan.plan_units(config) if load_result(tmp_path / "r", u.unit_id) is not None]
    assert len(finished) == 7 and "hidden=8__seed1__MLP" not in finished
    ran.clear()
    monkeypatch.setattr(runner, "run_model_unit", real)
    result = kinds.run(None, run_dir=tmp_path / "r", resume=True,
                       executor=ExecutorConfig(kind="processes", workers=2))  # another executor on resume
    assert len(result.predictions.groupby(["point", "seed", "model"])) == 8
    fresh = runner.run(config, run_dir=tmp_path / "fresh")
    pd.testing.assert_frame_equal(_predictions(result.run_dir), _predictions(fresh.run_dir))


def test_the_cli_maps_a_failed_unit_to_the_exit_code_of_its_error():
    from finfusion.cli import _exit_code
    from finfusion.errors import DataError
    from finfusion.executors import UnitFailure

    failed = UnitsFailed([UnitFailure("u", "DataError: x", "tb", DataError("x"))], total=3)
    assert _exit_code(failed) == 3
    assert _exit_code(UnitsFailed([UnitFailure("u", "ValueError: x", "tb", ValueError("x"))], total=3)) == 1


def _text_config(tiny_bert, kind: str):
    text = {"model": str(tiny_bert), "tuning": "frozen", "epochs": 1, "max_length": 16}
    return parse_config({**PREDICT, "models": [{"name": "text_only", "label": "T", "params": text},
                                               {"name": "fusion", "label": "F", "params": text}],
                         "sweep": {"seeds": [0, 1]}, "executor": {"kind": kind}})


def test_the_driver_encodes_frozen_texts_once_and_a_worker_seeded_with_them_runs_no_encoder(tiny_bert, monkeypatch):
    from finfusion.text import cache
    from finfusion.text.encoder import TextEncoder

    assert runner.PREDICT.plan(_text_config(tiny_bert, "local")).shared.text == []  # local: nothing to ship
    config = _text_config(tiny_bert, "processes")
    planned = runner.PREDICT.plan(config)
    (vectors,) = planned.shared.text  # both models and both markets (one per seed) share one encoder setting
    texts = {t for _, samples in planned.shared.by_key.values() for t in samples.texts}
    assert len(planned.shared.by_key) == 2 and set(vectors.texts) == texts
    assert vectors.values.shape == (len(texts), 32)
    expected = {u.unit_id: runner.run_model_unit(u, planned.shared, None).frames["predictions"] for u in planned.units}
    shipped = pickle.loads(pickle.dumps(planned.shared))  # what a worker process receives
    cache.clear_cache()  # a fresh worker
    monkeypatch.setattr(TextEncoder, "_encode", lambda *a, **k: pytest.fail("a seeded worker ran the encoder"))
    for unit in planned.units:
        got = runner.run_model_unit(unit, shipped, None).frames["predictions"]
        pd.testing.assert_frame_equal(got.drop(columns="fit_seconds"), expected[unit.unit_id].drop(columns="fit_seconds"))
