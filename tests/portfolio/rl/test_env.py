"""PortfolioEnv: timing (no look-ahead), state contents, train-only standardisation, text NaN."""

from __future__ import annotations

import numpy as np
import pytest

from finfusion.errors import ConfigError
from finfusion.portfolio.rl import (
    AgentConfig,
    EnvConfig,
    MarketWindow,
    PortfolioEnv,
    Standardizer,
    build_model,
    run_policy,
    split_market,
)
from finfusion.portfolio.rl.agents import VARIANTS

W = 10
START = 60  # first decision row; rows 0..59 fit the standardizer
T = 80  # the decision row whose action is checked


def _window(returns, text):
    return MarketWindow(returns, text, returns.index[START])


def _standardizer(returns):
    return Standardizer().fit(returns.iloc[:START])


def _hand_policy(obs):
    return obs["price"].sum(axis=1) + obs["text"].sum(axis=1) + obs["weights"]


def _weights(policy, returns, text, standardizer):
    env = PortfolioEnv(_window(returns, text), standardizer, EnvConfig(window=W))
    daily = run_policy(policy, env).set_index("date")
    return daily[[c for c in daily if c.startswith("w_")]]


@pytest.mark.parametrize("kind", ["hand", "a2c"])
def test_action_at_t_ignores_day_t_and_later(market, kind):
    returns, text = market
    std = _standardizer(returns)
    env = PortfolioEnv(_window(returns, text), std, EnvConfig(window=W))
    policy = _hand_policy if kind == "hand" else build_model(VARIANTS["SBCA"], env, config=AgentConfig(), seed=1)
    base = _weights(policy, returns, text, std)
    t = returns.index[T]

    future_r, future_x = returns.copy(), text.copy()
    future_r.iloc[T:] += 0.05  # R_t and every later return
    future_x.iloc[T:] = -future_x.iloc[T:]  # text of day t and later
    later = _weights(policy, future_r, future_x, std)
    assert np.array_equal(base.loc[:t].to_numpy(), later.loc[:t].to_numpy())  # actions up to day t unchanged
    assert not np.allclose(base.loc[t:].iloc[1:].to_numpy(), later.loc[t:].iloc[1:].to_numpy())

    past = returns.copy()
    past.iloc[T - 1] += 0.05  # R_{t-1}
    earlier = _weights(policy, past, text, std)
    prev = returns.index[T - 1]
    assert np.array_equal(base.loc[:prev].to_numpy(), earlier.loc[:prev].to_numpy())
    assert not np.allclose(base.loc[t].to_numpy(), earlier.loc[t].to_numpy())  # the action at t can change


def test_state_holds_days_t_minus_w_to_t_minus_1(market):
    returns, text = market
    std = _standardizer(returns)
    env = PortfolioEnv(_window(returns, text), std, EnvConfig(window=W))
    z = std.transform(returns)
    obs, info = env.reset()
    assert info["date"] == returns.index[START]
    assert obs["price"].shape == (3, W) and obs["text"].shape == (3, W)
    assert np.allclose(obs["price"], z[START - W:START].T, atol=1e-6)
    assert np.allclose(obs["text"], text.iloc[START - W:START].to_numpy().T, atol=1e-6)
    assert np.array_equal(obs["weights"], np.zeros(3))  # starts in cash
    obs, _, _, _, info = env.step(np.zeros(3))
    assert info["date"] == returns.index[START]
    assert np.allclose(obs["price"][:, -1], z[START], atol=1e-6)  # the next state sees R_t, after trading it
    r = returns.iloc[START].to_numpy()
    assert np.allclose(obs["weights"], (1 + r) / (1 + r).sum(), atol=1e-6)  # 1/N drifted by R_t


def test_episode_is_one_pass(market):
    returns, text = market
    env = PortfolioEnv(_window(returns, text), _standardizer(returns), EnvConfig(window=W))
    assert env.n_steps == len(returns) - START
    env.reset()
    steps, done = 0, False
    while not done:
        _, _, done, truncated, info = env.step(np.zeros(3))
        steps += 1
    assert steps == env.n_steps and info["date"] == returns.index[-1]
    assert set(info) >= {"date", "value", "weights", "turnover", "gross_return", "net_return"}


def test_standardizer_is_fit_on_training_rows_only(market):
    returns, text = market
    train, valid, test = split_market(returns, text, train_end=returns.index[69], valid_end=returns.index[94], window=W)
    assert train.returns.index[-1] == returns.index[69]
    assert valid.start == returns.index[70] and test.start == returns.index[95]
    assert len(valid.returns) == 25 + W and len(test.returns) == 25 + W
    a = Standardizer().fit(train.returns)
    changed = returns.copy()
    changed.iloc[70:] *= 3.0  # validation and test periods
    train2, _, _ = split_market(changed, text, train_end=returns.index[69], valid_end=returns.index[94], window=W)
    b = Standardizer().fit(train2.returns)
    assert np.array_equal(a.mean_, b.mean_) and np.array_equal(a.std_, b.std_)
    logr = np.log1p(returns.iloc[:70].to_numpy())
    assert np.allclose(a.mean_, logr.mean(axis=0)) and np.allclose(a.std_, logr.std(axis=0))
    # and a test env built with it standardises with the train statistics
    env = PortfolioEnv(test, a, EnvConfig(window=W))
    obs, _ = env.reset()
    expected = (np.log1p(returns.iloc[95 - W:95].to_numpy()) - a.mean_) / a.std_
    assert np.allclose(obs["price"], expected.T, atol=1e-5)


def test_text_nan_is_zero_and_counted(make_market):
    returns, text = make_market(nan_every=5)
    window = MarketWindow(returns, text, returns.index[START])
    assert window.n_text_missing == 24  # rows 0, 5, ..., 115 of BBB
    assert window.n_text_missing_decided == 12  # rows 60, 65, ..., 115
    env = PortfolioEnv(window, _standardizer(returns), EnvConfig(window=W))
    assert env.n_text_missing == 24
    obs, _ = env.reset()
    # state rows 50..59: row 50 and 55 of BBB are NaN -> 0
    assert obs["text"][1, 0] == 0.0 and obs["text"][1, 5] == 0.0
    assert np.isfinite(obs["text"]).all()
    assert MarketWindow(returns, None).n_text_missing == 0


def test_passes_the_gymnasium_and_sb3_env_checkers(market):
    import warnings

    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    returns, text = market
    env = PortfolioEnv(_window(returns, text), _standardizer(returns), EnvConfig(window=W))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3 advises a [-1, 1] action box; ours holds logits
        gym_check(env, skip_render_check=True)
        sb3_check(env, warn=False)


def test_training_episodes_of_episode_days(market):
    """episode_days = L: L consecutive decision dates from a seeded random start, each from cash."""
    returns, text = market
    data, std = _window(returns, text), _standardizer(returns)
    full = PortfolioEnv(data, std, EnvConfig(window=W))
    env = PortfolioEnv(data, std, EnvConfig(window=W), episode_days=7)
    assert env.n_steps == full.n_steps and env.episode_length == 7
    env.reset(seed=3)
    starts = []
    for _ in range(12):
        obs, info = env.reset()
        k = list(full.dates).index(info["date"])
        starts.append(k)
        assert 0 <= k <= full.n_steps - 7 and not obs["weights"].any()  # starts in cash
        steps, done = [], False
        while not done:
            obs, _, done, _, step = env.step(np.zeros(3))
            steps.append(step)
        assert [s["date"] for s in steps] == list(full.dates[k:k + 7])
        assert steps[0]["turnover"] == pytest.approx(1.0)  # the entry from cash is paid again
    assert len(set(starts)) > 1
    again = PortfolioEnv(data, std, EnvConfig(window=W), episode_days=7)
    again.reset(seed=3)
    assert [list(full.dates).index(again.reset()[1]["date"]) for _ in range(12)] == starts  # seeded
    assert PortfolioEnv(data, std, EnvConfig(window=W), episode_days=10_000).episode_length == full.n_steps
    with pytest.raises(ConfigError, match="episode_days"):
        PortfolioEnv(data, std, EnvConfig(window=W), episode_days=0)
