"""An RL run's `env:` and `agent:` sections are the portfolio.rl types the trainer takes, passed as they are."""

from __future__ import annotations

import pandas as pd
import pytest

from finfusion.errors import ConfigError
from finfusion.experiments import rl_runner
from finfusion.experiments.config import config_to_dict, parse_config
from finfusion.portfolio.rl import AgentConfig, EnvConfig

RAW = {"kind": "rl", "groups": {"g": ["A", "B"]}, "split": {"train_end": "2020-06-30", "valid_end": "2020-09-30"}}


def test_rl_config_sections_are_the_trainer_types():
    config = parse_config({**RAW, "env": {"commission": 0.001}, "agent": {"net_arch": [8, 4], "epochs": 3}})
    assert type(config.env) is EnvConfig and type(config.agent) is AgentConfig
    assert config.agent.net_arch == (8, 4) and config.agent.epochs == 3 and config.env.commission == 0.001
    assert config_to_dict(config)["agent"]["net_arch"] == [8, 4]  # written back as a YAML list
    assert parse_config(config_to_dict(config)) == config
    hash((config.env, config.agent))  # hashable unit-spec parts


def test_cost_sensitivity_commissions_are_validated():
    with pytest.raises(ConfigError, match=r"cost_sensitivity.commissions.1: Input should be less than 0.5"):
        parse_config({**RAW, "cost_sensitivity": {"commissions": [0.001, 0.7]}})


def test_agent_gets_the_config_sections_as_they_are(monkeypatch, tmp_path):
    """No field-by-field copy: the trainer receives `config.agent` itself, and the env of a
    cost-sensitivity agent is `config.env` with only the commission changed."""
    config = parse_config({**RAW, "env": {"window": 7, "ema_alpha": 0.5}, "agent": {"epochs": 2, "patience": 1}})
    seen = {}

    class Stop(Exception):
        pass

    def fake_train_agent(variant, train, valid, *, seed, env, agent, **kwargs):
        seen.update(variant=variant, seed=seed, env=env, agent=agent, kwargs=kwargs)
        raise Stop

    monkeypatch.setattr(rl_runner, "train_agent", fake_train_agent)
    with pytest.raises(Stop):
        rl_runner.RL.run_unit(rl_runner.AgentUnit(config, "g", 0.01, "SBCA", 5), {"g": (None, None, None)}, None)
    assert seen["agent"] is config.agent and seen["seed"] == 5 and seen["kwargs"] == {}
    env = seen["env"]
    assert type(env) is EnvConfig and env.commission == 0.01
    assert pd.Series(env.model_dump()).drop("commission").equals(pd.Series(config.env.model_dump()).drop("commission"))
