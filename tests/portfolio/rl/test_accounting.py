"""EMA, turnover, value and reward worked out by hand on a 2-asset, 3-day example (c = 0.01)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from finfusion.portfolio.rl import (
    EnvConfig,
    MarketWindow,
    PortfolioEnv,
    Standardizer,
    reward,
    run_policy,
    smooth,
    softmax,
)

# row 0 is history (window W = 1); rows 1..3 are the decision days
RETURNS = pd.DataFrame([[0.01, -0.01], [0.10, -0.05], [-0.02, 0.04], [0.05, 0.00]],
                       pd.bdate_range("2024-01-01", periods=4), ["X", "Y"])
LOGITS = [np.array([0.0, 0.0]), np.array([math.log(3), 0.0]), np.array([0.0, math.log(3)])]  # 1/2 1/2, 3/4 1/4, 1/4 3/4


def run_example(turnover: str = "drifted", reward_baseline: str = "none") -> tuple[pd.DataFrame, list[float]]:
    window = MarketWindow(RETURNS)
    settings = EnvConfig(window=1, commission=0.01, turnover=turnover, reward_baseline=reward_baseline)
    env = PortfolioEnv(window, Standardizer().fit(RETURNS), settings)
    env.reset()
    rewards = []
    for a in LOGITS:
        rewards.append(env.step(a)[1])
    return run_policy(_scripted(), env), rewards


def _scripted():
    it = iter(LOGITS)
    return lambda obs: next(it)


def test_softmax_and_ema():
    assert softmax(LOGITS[1]) == pytest.approx([0.75, 0.25])
    assert smooth(np.array([0.75, 0.25]), None, 0.4) == pytest.approx([0.75, 0.25])  # first output unsmoothed
    assert smooth(np.array([0.75, 0.25]), np.array([0.5, 0.5]), 0.4) == pytest.approx([0.6, 0.4])


def test_weights_turnover_value_by_hand():
    daily, _ = run_example()
    # day 1: w = (.5, .5) bought from cash: turnover 1, gross .025, net .025 - .01
    # day 2: w = .4 (.75, .25) + .6 (.5, .5) = (.6, .4); held = (.55, .475) / 1.025 -> turnover .13 / 1.025
    # day 3: w = .4 (.25, .75) + .6 (.6, .4) = (.46, .54); held = (.588, .416) / 1.004
    assert daily[["w_X", "w_Y"]].to_numpy() == pytest.approx(np.array([[0.5, 0.5], [0.6, 0.4], [0.46, 0.54]]))
    to = [1.0, 0.13 / 1.025, 2 * (0.588 - 0.46 * 1.004) / 1.004]
    assert daily["turnover"].tolist() == pytest.approx(to)
    gross = [0.025, 0.6 * -0.02 + 0.4 * 0.04, 0.46 * 0.05]
    assert daily["gross_return"].tolist() == pytest.approx(gross)
    net = [g - 0.01 * t for g, t in zip(gross, to)]
    assert daily["net_return"].tolist() == pytest.approx(net)
    assert daily["value"].tolist() == pytest.approx(np.cumprod([1 + n for n in net]).tolist())
    assert daily["value"].iloc[0] == pytest.approx(1.015)
    assert list(daily["date"]) == list(RETURNS.index[1:])


def test_undrifted_turnover_by_hand():
    daily, _ = run_example("undrifted")
    assert daily["turnover"].tolist() == pytest.approx([1.0, 0.2, 0.28])


def test_reward_by_hand():
    # g = log(1.015); no downside penalty; turnover 1 costs 0.005
    assert reward(0.015, 1.0) == pytest.approx(math.log(1.015) - 0.005)
    # g = log(.95) = -0.0512932944: -g - 0.1 g^2 - 0.005 * 0.2
    assert reward(-0.05, 0.2) == pytest.approx(-0.0512932944 - 0.1 * 0.0512932944**2 - 0.001)
    assert reward(-0.05, 0.2, lambda_risk=0.0, lambda_turn=0.0) == pytest.approx(math.log(0.95))


def test_env_rewards_follow_the_formula():
    daily, rewards = run_example()
    expected = [reward(n, t) for n, t in zip(daily["net_return"], daily["turnover"])]
    assert rewards == pytest.approx(expected)
    assert rewards[0] == pytest.approx(math.log(1.015) - 0.005)


def test_equal_weight_reward_baseline_subtracts_the_market_log_return():
    daily, plain = run_example()
    daily_b, rewards = run_example(reward_baseline="equal_weight")
    pd.testing.assert_frame_equal(daily, daily_b)  # the baseline changes the reward only
    # mean returns of the decision days: (.10 - .05) / 2, (-.02 + .04) / 2, (.05 + 0) / 2
    assert rewards == pytest.approx([p - math.log(1 + m) for p, m in zip(plain, [0.025, 0.01, 0.025])])
    assert rewards[0] == pytest.approx(math.log(1.015) - 0.005 - math.log(1.025))
    with pytest.raises(ValidationError, match=r"reward_baseline\n  Input should be 'none' or 'equal_weight'"):
        EnvConfig(reward_baseline="index")
