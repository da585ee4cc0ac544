"""EnvConfig / AgentConfig: one frozen pydantic type each, hashable, picklable, read once by the env."""

from __future__ import annotations

import pickle

import pytest

from finfusion.errors import ConfigError
from finfusion.portfolio.rl import AgentConfig, EnvConfig, MarketWindow, PortfolioEnv, Standardizer
from finfusion.strict import _Strict


def test_settings_are_strict_frozen_hashable_and_picklable():
    agent = AgentConfig(net_arch=[8, 4], epochs=3)  # a YAML list
    env = EnvConfig(window=5, commission=0.001)
    assert isinstance(agent, _Strict) and isinstance(env, _Strict)
    assert agent.net_arch == (8, 4)
    assert hash(agent) == hash(AgentConfig(net_arch=(8, 4), epochs=3)) and hash(env) == hash(EnvConfig(window=5,
                                                                                                      commission=0.001))
    assert {agent: 1}[AgentConfig(net_arch=[8, 4], epochs=3)] == 1  # usable as a unit spec / dict key
    assert pickle.loads(pickle.dumps(agent)) == agent and pickle.loads(pickle.dumps(env)) == env
    dumped = agent.model_dump(mode="json")
    assert dumped["net_arch"] == [8, 4] and AgentConfig.model_validate(dumped) == agent  # agent.json round trip
    with pytest.raises(ValueError, match="frozen"):
        env.commission = 0.01  # type: ignore[misc]
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        EnvConfig(comission=0.01)


def test_cost_sensitivity_copy_differs_only_in_commission():
    base = EnvConfig(window=7, ema_alpha=0.5, reward_baseline="none")
    other = base.model_copy(update={"commission": 0.01})
    assert other.commission == 0.01 and base.commission == 0.0025
    assert {k: v for k, v in other.model_dump().items() if k != "commission"} == \
           {k: v for k, v in base.model_dump().items() if k != "commission"}


def test_env_reads_its_settings_once(market):
    """The step loop reads plain attributes copied from the EnvConfig in __init__ (no pydantic
    lookups per step), and every setting reaches the env."""
    returns, text = market
    config = EnvConfig(window=10, commission=0.004, ema_alpha=0.7, lambda_risk=0.2, lambda_turn=0.01,
                       turnover="undrifted", reward_baseline="none")
    env = PortfolioEnv(MarketWindow(returns, text, returns.index[20]), Standardizer().fit(returns), config)
    assert env.config is config and env.window == 10
    assert (env.commission, env.ema_alpha, env.lambda_risk, env.lambda_turn) == (0.004, 0.7, 0.2, 0.01)
    assert (env._drifted, env._ew_baseline) == (False, False)
    assert all(type(v) is float for v in (env.commission, env.ema_alpha, env.lambda_risk, env.lambda_turn))
    assert PortfolioEnv(MarketWindow(returns, text, returns.index[40]), Standardizer().fit(returns)).config \
        == EnvConfig()
    with pytest.raises(ConfigError, match=r"config=\{'window': 10\}; expected an EnvConfig"):
        PortfolioEnv(MarketWindow(returns, text, returns.index[20]), Standardizer().fit(returns), {"window": 10})
