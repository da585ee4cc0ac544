"""Saved agents: safetensors weights + JSON settings, reloaded bit-identically, never unpickled."""

from __future__ import annotations

import json
import pickle

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import stable_baselines3
import torch

from finfusion.portfolio.rl import AgentConfig, EnvConfig, Standardizer, TrainedAgent, train_agent

W = 10
SETTINGS = EnvConfig(window=W)


@pytest.fixture
def trained(windows):
    train, valid, _ = windows
    return train_agent("SBCA", train, valid, seed=3, env=SETTINGS,
                       agent=AgentConfig(n_envs=2, epochs=1, patience=1))


def _forbid_unpickling(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a saved agent was unpickled (pickle / cloudpickle / torch.load / A2C.load)")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(cloudpickle, "loads", refuse)
    monkeypatch.setattr(cloudpickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(stable_baselines3.A2C, "load", classmethod(refuse))


def _actions(agent: TrainedAgent, env) -> np.ndarray:
    obs, _ = env.reset()
    out, done = [], False
    while not done:
        action = agent.model.predict(obs, deterministic=True)[0]
        out.append(action)
        obs, _, done, truncated, _ = env.step(action)
        done = done or truncated
    return np.array(out)


def test_loading_never_unpickles_and_writes_no_pickle_files(trained, windows, tmp_path, monkeypatch):
    where = trained.save(tmp_path / "agent")
    names = sorted(p.name for p in where.iterdir())
    assert not [n for n in names if n.endswith((".zip", ".pkl", ".pickle", ".pt", ".pth"))], names
    assert "policy.safetensors" in names and "agent.json" in names
    _forbid_unpickling(monkeypatch)
    loaded = TrainedAgent.load(where)
    pd.testing.assert_frame_equal(loaded.run(windows[2]), trained.run(windows[2]), check_exact=True)


def test_reloaded_agent_acts_bit_identically(trained, windows, tmp_path):
    _, _, test = windows
    loaded = TrainedAgent.load(trained.save(tmp_path / "agent"))
    ours, theirs = trained.model.policy.state_dict(), loaded.model.policy.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert np.array_equal(_actions(loaded, loaded.env(test)), _actions(trained, trained.env(test)))
    pd.testing.assert_frame_equal(loaded.run(test), trained.run(test), check_exact=True)
    pd.testing.assert_frame_equal(loaded.curve, trained.curve)
    assert (loaded.variant, loaded.settings, loaded.config, loaded.best_epoch) == \
           (trained.variant, trained.settings, trained.config, trained.best_epoch)
    assert (loaded.standardizer.mean_ == trained.standardizer.mean_).all()
    assert (loaded.standardizer.std_ == trained.standardizer.std_).all()
    assert loaded.model.n_steps == trained.model.n_steps and loaded.model.n_envs == trained.model.n_envs
    assert loaded.model.gae_lambda == trained.model.gae_lambda and loaded.model.gamma == trained.model.gamma


@pytest.mark.parametrize("policy", ["asset", "joint"])
@pytest.mark.parametrize("variant", ["SB", "SBA", "SBC", "SBCA"])
def test_every_variant_and_policy_round_trips(windows, tmp_path, variant, policy):
    """Untrained but perturbed weights (cheap): every architecture is rebuilt exactly."""
    train, _, test = windows
    agent = train_agent(variant, train, windows[1], seed=0, env=SETTINGS,
                        agent=AgentConfig(policy=policy, n_envs=1, net_arch=(8,), features_dim=8, asset_dim=4,
                                          episode_days=5, epochs=1, patience=1))
    with torch.no_grad():
        for p in agent.model.policy.parameters():
            p.add_(torch.randn_like(p))
    loaded = TrainedAgent.load(agent.save(tmp_path / "agent"))
    assert type(loaded.model.policy) is type(agent.model.policy)
    assert np.array_equal(_actions(loaded, loaded.env(test)), _actions(agent, agent.env(test)))


def test_saved_json_is_plain_and_complete(trained, tmp_path):
    where = trained.save(tmp_path / "agent")

    def no_constants(name):
        raise ValueError(f"non-standard JSON constant {name}")

    meta = json.loads((where / "agent.json").read_text(encoding="utf-8"), parse_constant=no_constants)
    assert meta["format"] == "finfusion-rl-agent" and meta["format_version"] == 2
    assert meta["variant"] == "SBCA" and meta["weights"] == "policy.safetensors"
    assert meta["config"]["n_envs"] == 2 and meta["config"]["net_arch"] == [64, 64]
    assert meta["settings"] == {"window": W, "commission": 0.0025, "ema_alpha": 0.4, "lambda_risk": 0.1,
                                "lambda_turn": 0.005, "turnover": "drifted", "reward_baseline": "equal_weight"}
    spaces = meta["observation_space"]
    assert spaces["price"] == {"shape": [3, W], "dtype": "float32", "low": "-inf", "high": "inf"}
    assert meta["action_space"]["shape"] == [3]
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob(".*"))


def test_saving_over_an_old_agent_removes_its_pickle(trained, tmp_path):
    where = tmp_path / "agent"
    where.mkdir()
    (where / "model.zip").write_bytes(b"old pickled agent")
    trained.save(where)
    assert not (where / "model.zip").exists()
    TrainedAgent.load(where)


def _old_format_dir(path, trained):
    """What the previous version wrote: model.zip (SB3, pickled), agent.json, curve.csv."""
    path.mkdir()
    (path / "model.zip").write_bytes(b"PK\x03\x04 not opened")
    old = {"variant": "SBCA", "settings": {"window": W}, "best_epoch": 1,
           "standardizer": trained.standardizer.to_dict()}
    (path / "agent.json").write_text(json.dumps(old))
    trained.curve.to_csv(path / "curve.csv", index=False)
    return path


def test_old_model_zip_is_refused_with_a_clear_error(trained, tmp_path, monkeypatch):
    where = _old_format_dir(tmp_path / "old", trained)
    _forbid_unpickling(monkeypatch)
    with pytest.raises(ValueError, match="model.zip") as err:
        TrainedAgent.load(where)
    message = str(err.value)
    assert str(where / "model.zip") in message and "older version" in message and "pickle" in message
    assert "retrain" in message and "--resume" in message
    (where / "agent.json").unlink()  # a bare model.zip: the same answer
    with pytest.raises(ValueError, match="older version"):
        TrainedAgent.load(where)


def test_missing_or_broken_files_name_the_file(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved agent"):
        TrainedAgent.load(tmp_path / "nowhere")
    where = trained.save(tmp_path / "agent")
    meta = json.loads((where / "agent.json").read_text())
    (where / "agent.json").write_text(json.dumps({**meta, "format_version": 9}))
    with pytest.raises(ValueError, match=r"agent\.json.*version 9"):
        TrainedAgent.load(where)
    (where / "agent.json").write_text(json.dumps({**meta, "config": {**meta["config"], "net_arch": [7]}}))
    with pytest.raises(ValueError, match=r"policy\.safetensors.*do not fit"):
        TrainedAgent.load(where)
    (where / "agent.json").write_text(json.dumps(meta))
    (where / "policy.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"policy\.safetensors"):
        TrainedAgent.load(where)


def test_loading_leaves_the_global_torch_rng_alone(trained, tmp_path):
    where = trained.save(tmp_path / "agent")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    TrainedAgent.load(where)
    assert torch.equal(torch.get_rng_state(), before)


def test_standardizer_round_trip_is_exact(trained, tmp_path):
    loaded = TrainedAgent.load(trained.save(tmp_path / "agent"))
    assert isinstance(loaded.standardizer, Standardizer)
    assert np.array_equal(loaded.standardizer.mean_, trained.standardizer.mean_)
