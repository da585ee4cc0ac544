"""Variants in SB3 terms, seeded determinism, save / load, early stopping on validation value."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from finfusion.errors import ConfigError
from finfusion.portfolio.rl import (
    AgentConfig,
    AssetConcatExtractor,
    AssetGatedExtractor,
    AssetwisePolicy,
    ConcatExtractor,
    EnvConfig,
    GatedFusionExtractor,
    PortfolioEnv,
    Standardizer,
    TrainedAgent,
    build_model,
    equal_weight,
    split_market,
    train_agent,
)
from finfusion.portfolio.rl import agents as agents_module
from finfusion.portfolio.rl.agents import VARIANTS

W = 10
SETTINGS = EnvConfig(window=W)


@pytest.mark.parametrize(("name", "joint", "asset", "lam", "full"), [
    ("SB", ConcatExtractor, AssetConcatExtractor, 1.0, True),
    ("SBA", ConcatExtractor, AssetConcatExtractor, 0.95, False),
    ("SBC", GatedFusionExtractor, AssetGatedExtractor, 1.0, True),
    ("SBCA", GatedFusionExtractor, AssetGatedExtractor, 0.95, False)])
def test_variants_in_sb3_terms(windows, name, joint, asset, lam, full):
    train = windows[0]
    env = PortfolioEnv(train, Standardizer().fit(train.returns), EnvConfig(window=W))
    for policy, extractor in (("asset", asset), ("joint", joint)):
        model = build_model(VARIANTS[name], env, config=AgentConfig(policy=policy, n_envs=3), seed=0)
        assert isinstance(model.policy.features_extractor, extractor)
        assert model.gae_lambda == lam and model.gamma == 0.99 and model.n_envs == 3
        assert model.n_steps == (env.n_steps if full else 1)
        assert isinstance(model.policy.optimizer, torch.optim.AdamW)
        assert model.policy.optimizer.defaults["weight_decay"] == 1e-4 and model.learning_rate == 1e-3
        assert float(model.policy.log_std.detach().mean()) == pytest.approx(-1.0)
        assert isinstance(model.policy, AssetwisePolicy) == (policy == "asset")
        # every parameter is trained (the replaced action net's are in the optimizer)
        optimised = {id(p) for group in model.policy.optimizer.param_groups for p in group["params"]}
        assert optimised == {id(p) for p in model.policy.parameters()}
    short = PortfolioEnv(train, Standardizer().fit(train.returns), EnvConfig(window=W), episode_days=5)
    model = build_model(VARIANTS[name], short, config=AgentConfig(n_envs=2), seed=0)
    assert model.n_steps == (5 if full else 1)  # SB / SBC: one whole (short) episode per rollout


def test_asset_wise_policy_shares_its_weights_across_assets(windows):
    """Swapping two assets' rows in the observation swaps their logits: one network for all assets."""
    train = windows[0]
    env = PortfolioEnv(train, Standardizer().fit(train.returns), EnvConfig(window=W))
    model = build_model(VARIANTS["SBCA"], env, config=AgentConfig(n_envs=1), seed=0)
    torch.nn.init.normal_(model.policy.action_net.linear.weight)  # SB3 starts it near 0
    obs, _ = env.reset()
    obs = {k: v.copy() for k, v in obs.items()}
    obs["weights"][:] = [0.2, 0.5, 0.3]
    swapped = {k: v[[1, 0, 2]] for k, v in obs.items()}
    a = model.predict(obs, deterministic=True)[0]
    b = model.predict(swapped, deterministic=True)[0]
    assert b == pytest.approx(a[[1, 0, 2]], abs=1e-6) and not a[0] == pytest.approx(a[1], abs=1e-6)


def test_same_seed_same_result_and_save_load(windows, tmp_path):
    train, valid, test = windows
    a = train_agent("SBCA", train, valid, seed=7, env=SETTINGS, agent=AgentConfig(epochs=2, patience=2))
    b = train_agent("SBCA", train, valid, seed=7, env=SETTINGS, agent=AgentConfig(epochs=2, patience=2))
    c = train_agent("SBCA", train, valid, seed=8, env=SETTINGS, agent=AgentConfig(epochs=2, patience=2))
    pd.testing.assert_frame_equal(a.curve, b.curve)
    pd.testing.assert_frame_equal(a.run(test), b.run(test))
    assert not a.run(test)["value"].equals(c.run(test)["value"])
    assert list(a.curve.columns) == ["epoch", "timesteps", "train_reward_mean", "policy_loss", "value_loss",
                                     "entropy_loss", "valid_value", "is_best"]
    assert a.curve["policy_loss"].notna().all() and a.curve["train_reward_mean"].notna().all()
    n_days = train.returns.shape[0] - W  # each of the 8 env copies passes once per epoch
    assert a.curve["timesteps"].tolist() == [8 * n_days, 16 * n_days]
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
    agent = train_agent("SBA", train, valid, seed=0, env=SETTINGS, agent=AgentConfig(epochs=10, patience=2))
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
    with pytest.raises(ValidationError, match=r"policy\n  Input should be 'asset' or 'joint'.*input_value='eiie'"):
        AgentConfig(policy="eiie")
    with pytest.raises(ValidationError, match=r"n_envs\n  Input should be greater than or equal to 1"):
        AgentConfig(n_envs=0)
    with pytest.raises(ValidationError, match=r"episode_days\n  Input should be greater than or equal to 1"):
        AgentConfig(episode_days=0)
    with pytest.raises(ValidationError, match=r"patience\n  Input should be greater than or equal to 1"):
        AgentConfig(patience=0)
    with pytest.raises(ValidationError, match=r"net_arch.0\n  Input should be greater than or equal to 1"):
        AgentConfig(net_arch=[0, 8])
    with pytest.raises(ValidationError, match=r"commission\n  Input should be less than 0.5.*input_value=0.7"):
        EnvConfig(commission=0.7)
    with pytest.raises(ValidationError, match=r"ema_alpha\n  Input should be greater than 0"):
        EnvConfig(ema_alpha=0.0)
    with pytest.raises(ValidationError, match=r"turnover\n  Input should be 'drifted' or 'undrifted'"):
        EnvConfig(turnover="gross")
    with pytest.raises(ConfigError, match=r"agent=\{'epochs': 1\}; expected an AgentConfig"):
        train_agent("SB", train, valid, agent={"epochs": 1})
    with pytest.raises(ConfigError, match=r"env=\{'window': 10\}; expected an EnvConfig"):
        train_agent("SB", train, valid, env={"window": 10})


def test_sbca_learns_an_informative_text_signal():
    """Behaviour, not a number: where yesterday's (persistent) text of an asset sets its return
    today, SBCA ends the unseen test period well above equal weight after costs (seeds 42-44
    measured 1.04-1.09 against 0.78; the text rule softmax(5 text) 1.26)."""
    rng = np.random.default_rng(0)
    n, idx = 330, pd.bdate_range("2021-01-04", periods=330)
    x = np.zeros((n, 3))
    for t in range(1, n):
        x[t] = 0.9 * x[t - 1] + 0.3 * rng.normal(size=3)
    text = pd.DataFrame(np.clip(x, -1, 1), idx, ["AAA", "BBB", "CCC"])
    lagged = np.vstack([np.zeros(3), text.to_numpy()[:-1]])
    returns = pd.DataFrame(0.01 * lagged + rng.normal(0.0, 0.005, (n, 3)), idx, text.columns)
    train, valid, test = split_market(returns, text, train_end=idx[179], valid_end=idx[239], window=W)
    agent = train_agent("SBCA", train, valid, seed=42, env=SETTINGS,
                        agent=AgentConfig(learning_rate=3e-3, epochs=10, patience=10))
    learned = agent.run(test)["value"].iloc[-1]
    ew = equal_weight(test, window=W)["value"].iloc[-1]
    assert learned > ew * 1.15, (learned, ew)
