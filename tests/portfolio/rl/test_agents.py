"""Variants in SB3 terms, seeded determinism, save / load, early stopping on validation value."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch

from finfusion.errors import ConfigError
from finfusion.portfolio.rl import (
    AgentConfig,
    ConcatExtractor,
    EnvSettings,
    GatedFusionExtractor,
    Standardizer,
    TrainedAgent,
    build_model,
    split_market,
    train_agent,
)
from finfusion.portfolio.rl import agents as agents_module
from finfusion.portfolio.rl.agents import VARIANTS

W = 10
SETTINGS = EnvSettings(window=W)


@pytest.fixture
def windows(market):
    returns, text = market
    return split_market(returns, text, train_end=returns.index[69], valid_end=returns.index[94], window=W)


@pytest.mark.parametrize(("name", "extractor", "lam", "full"), [
    ("SB", ConcatExtractor, 1.0, True), ("SBA", ConcatExtractor, 0.95, False),
    ("SBC", GatedFusionExtractor, 1.0, True), ("SBCA", GatedFusionExtractor, 0.95, False)])
def test_variants_in_sb3_terms(windows, name, extractor, lam, full):
    train = windows[0]
    env = EnvSettings(window=W).make(train, Standardizer().fit(train.returns))
    model = build_model(VARIANTS[name], env, config=AgentConfig(), seed=0)
    assert isinstance(model.policy.features_extractor, extractor)
    assert model.gae_lambda == lam and model.gamma == 0.99
    assert model.n_steps == (env.n_steps if full else 5)
    assert isinstance(model.policy.optimizer, torch.optim.AdamW)
    assert model.policy.optimizer.defaults["weight_decay"] == 1e-4 and model.learning_rate == 3e-4


def test_same_seed_same_result_and_save_load(windows, tmp_path):
    train, valid, test = windows
    a = train_agent("SBCA", train, valid, epochs=2, patience=2, seed=7, settings=SETTINGS)
    b = train_agent("SBCA", train, valid, epochs=2, patience=2, seed=7, settings=SETTINGS)
    c = train_agent("SBCA", train, valid, epochs=2, patience=2, seed=8, settings=SETTINGS)
    pd.testing.assert_frame_equal(a.curve, b.curve)
    pd.testing.assert_frame_equal(a.run(test), b.run(test))
    assert not a.run(test)["value"].equals(c.run(test)["value"])
    assert list(a.curve.columns) == ["epoch", "timesteps", "train_reward_mean", "policy_loss", "value_loss",
                                     "entropy_loss", "valid_value", "is_best"]
    assert a.curve["policy_loss"].notna().all() and a.curve["train_reward_mean"].notna().all()
    assert a.curve["timesteps"].tolist() == [train.returns.shape[0] - W, 2 * (train.returns.shape[0] - W)]
    ref = Standardizer().fit(train.returns)  # fit on the training rows only
    assert (a.standardizer.mean_ == ref.mean_).all() and (a.standardizer.std_ == ref.std_).all()
    loaded = TrainedAgent.load(a.save(tmp_path / "agent"))
    pd.testing.assert_frame_equal(loaded.run(test), a.run(test))
    assert loaded.variant == "SBCA" and loaded.settings == a.settings and loaded.best_epoch == a.best_epoch


def test_early_stopping_keeps_the_best_validation_epoch(windows, monkeypatch):
    train, valid, _ = windows
    values = iter([1.00, 1.20, 1.10, 1.15, 1.30])
    states = []
    real = agents_module.run_policy

    def scripted(model, env):
        states.append(copy.deepcopy(model.policy.state_dict()))
        frame = real(model, env)
        return frame.assign(value=next(values))

    monkeypatch.setattr(agents_module, "run_policy", scripted)
    agent = train_agent("SBA", train, valid, epochs=10, patience=2, seed=0, settings=SETTINGS)
    # best at epoch 2 (1.20); epochs 3 and 4 do not beat it -> stop after epoch 4, before the 1.30
    assert agent.best_epoch == 2 and agent.curve["epoch"].tolist() == [1, 2, 3, 4]
    assert agent.curve["is_best"].tolist() == [True, True, False, False]
    assert agent.curve["valid_value"].tolist() == [1.00, 1.20, 1.10, 1.15]
    kept = agent.model.policy.state_dict()
    assert all(torch.equal(kept[k], states[1][k]) for k in kept)
    assert not all(torch.equal(kept[k], states[3][k]) for k in kept)


def test_bad_variant_and_settings(windows):
    train, valid, _ = windows
    with pytest.raises(ConfigError, match="variant='PPO'; expected one of"):
        train_agent("PPO", train, valid)
    with pytest.raises(ConfigError, match="patience=0"):
        train_agent("SB", train, valid, patience=0)
    with pytest.raises(ConfigError, match="commission=0.7"):
        EnvSettings(commission=0.7)
    with pytest.raises(ConfigError, match="ema_alpha=0"):
        EnvSettings(ema_alpha=0.0)
    with pytest.raises(ConfigError, match="turnover='gross'"):
        EnvSettings(turnover="gross")
