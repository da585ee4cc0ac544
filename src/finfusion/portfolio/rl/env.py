"""The portfolio environment of seed 002 (a `gymnasium.Env`) and the runner of a policy over it.

Timing. Step k of an episode decides day t = the k-th decision date of the `MarketWindow` and
earns that day's return R_t (close t-1 -> close t). The decision uses data up to the close of t-1
only: the state holds days t-W .. t-1, never day t. So changing R_t, or any later return or text,
leaves the action of day t unchanged; changing R_{t-1} can change it (tests/portfolio/rl/test_env.py).

State (a Dict observation, float32):

    "price"    (N, W)  standardised log returns z = (log(1 + r) - mean) / std of days t-W .. t-1,
                       oldest first; mean / std per asset from the TRAINING window (`Standardizer`)
    "text"     (N, W)  text features of days t-W .. t-1 (NaN read as 0 and counted)
    "weights"  (N,)    held_{t-1}: the previous weights drifted by R_{t-1}, what is held before
                       trading (zeros before the first trade: the episode starts in cash)

Action: (N,) logits in [-10, 10] -> softmax -> target weights -> EMA -> traded weights w_t.
Accounting (turnover, commission, value, reward) is `accounting.py`'s, whose docstring gives the
exact formulas. An episode is one pass over the window's decision dates; it ends early only on
ruin (1 + net_t <= 0: value 0, reward log(1e-12)), impossible with returns > -1 and c * 2 < 1
unless a day loses almost everything. With `episode_days` = L (training only), an episode is L
consecutive decision dates from a start drawn uniformly by the env's seeded generator, beginning
in cash like a full one.

`info` of each step: date, value, weights (w_t), target, turnover, gross_return, net_return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from finfusion.errors import ConfigError
from finfusion.portfolio.rl.accounting import reward, smooth, softmax, trade_day
from finfusion.portfolio.rl.data import MarketWindow, Standardizer
from finfusion.portfolio.rl.settings import EnvConfig

LOGIT_BOUND = 10.0
RUIN_LOG = float(np.log(1e-12))


class PortfolioEnv(gym.Env):
    """Long-only daily portfolio over the decision dates of `data` (module docstring).

    data          MarketWindow (returns, text, first decision date).
    standardizer  fitted on the TRAINING returns only and shared by the validation / test envs.
    config        EnvConfig (settings.py; default EnvConfig()): window W, commission c (one-way cost
                  per unit of turnover, a fraction), ema_alpha (weight of the new target in the EMA
                  of the output weights; 1 = off), lambda_risk / lambda_turn (reward penalties),
                  turnover ("drifted": ||w_t - held_{t-1}||_1, or "undrifted": ||w_t - w_{t-1}||_1),
                  reward_baseline ("none": the reward of Def. 3.9, or "equal_weight": minus
                  log(1 + mean_i R_t,i), the log return of the equal-weight portfolio before costs;
                  it does not depend on the actions (returns are exogenous), so it changes no
                  policy's ranking and no expected policy gradient, only the gradient's noise;
                  docs/rl.md). The train, validation and test envs (and a saved agent) share one.
    episode_days  None (default): an episode is every decision date; L: L consecutive dates from a
                  uniformly drawn start (more, shorter episodes for training; never for evaluation).

    The settings the step loop reads are copied into plain attributes here (commission,
    ema_alpha, ...), so a step does no pydantic attribute lookups.
    """

    metadata = {"render_modes": []}

    def __init__(self, data: MarketWindow, standardizer: Standardizer, config: EnvConfig | None = None, *,
                 episode_days: int | None = None) -> None:
        config = EnvConfig() if config is None else config
        if not isinstance(config, EnvConfig):
            raise ConfigError(f"config={config!r}; expected an EnvConfig (finfusion.portfolio.rl.EnvConfig)")
        self.config = config
        self.data, self.standardizer, self.window = data, standardizer, config.window
        self.commission, self.ema_alpha = config.commission, config.ema_alpha
        self.lambda_risk, self.lambda_turn = config.lambda_risk, config.lambda_turn
        self._drifted = config.turnover == "drifted"
        self._ew_baseline = config.reward_baseline == "equal_weight"
        self._rows = data.decision_rows(self.window)
        self.dates = data.returns.index[self._rows.start:]
        self.tickers = data.tickers
        n, w = data.n_assets, self.window
        self._r = data.returns.to_numpy(dtype="float64")
        z = standardizer.transform(data.returns).astype("float32")
        x = data.text_array().astype("float32")
        self._price = sliding_window_view(z, w, axis=0)  # (T-W+1, N, W): [i] = rows i .. i+W-1
        self._text = sliding_window_view(x, w, axis=0)
        self.n_text_missing = data.n_text_missing
        self.observation_space = gym.spaces.Dict({
            "price": gym.spaces.Box(-np.inf, np.inf, (n, w), np.float32),
            "text": gym.spaces.Box(-1.0, 1.0, (n, w), np.float32),
            "weights": gym.spaces.Box(0.0, 1.0, (n,), np.float32),
        })
        self.action_space = gym.spaces.Box(-LOGIT_BOUND, LOGIT_BOUND, (n,), np.float32)
        if episode_days is not None and not (isinstance(episode_days, int) and 1 <= episode_days):
            raise ConfigError(f"episode_days={episode_days!r}; expected None or an integer >= 1")
        self.episode_days = None if episode_days is None or episode_days >= len(self._rows) else episode_days
        self._first = 0
        self._reset_state()

    @property
    def n_steps(self) -> int:
        """Decision days of the window (one full pass)."""
        return len(self._rows)

    @property
    def episode_length(self) -> int:
        """Decision days in one episode: `episode_days` or the whole window."""
        return self.episode_days or len(self._rows)

    def _reset_state(self) -> None:
        self._k = self._first
        self._prev_w: np.ndarray | None = None
        self._held = np.zeros(self.data.n_assets)
        self.value = 1.0

    def _obs(self, row: int) -> dict[str, np.ndarray]:
        i = row - self.window
        return {"price": self._price[i].copy(), "text": self._text[i].copy(),
                "weights": self._held.astype(np.float32)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self.episode_days is not None:
            self._first = int(self.np_random.integers(0, len(self._rows) - self.episode_days + 1))
        self._reset_state()
        return self._obs(self._rows[self._k]), {"date": self.dates[self._k]}

    def step(self, action):
        row = self._rows[self._k]
        target = softmax(np.asarray(action, dtype="float64").reshape(-1))
        w = smooth(target, self._prev_w, self.ema_alpha)
        if self._drifted:
            ref = self._held
        else:
            ref = self._prev_w if self._prev_w is not None else np.zeros_like(w)
        day = trade_day(w, ref, self._r[row], self.commission)
        growth = 1.0 + day.net_return
        ruined = growth <= 0.0
        if ruined:
            self.value, r = 0.0, RUIN_LOG
        else:
            self.value *= growth
            r = reward(day.net_return, day.turnover, lambda_risk=self.lambda_risk, lambda_turn=self.lambda_turn)
            if self._ew_baseline:
                r -= float(np.log1p(self._r[row].mean()))
        self._prev_w, self._held = w, day.held_after
        self._k += 1
        terminated = ruined or self._k == self._first + self.episode_length
        info = {"date": self.dates[self._k - 1], "value": self.value, "weights": w, "target": target,
                "turnover": day.turnover, "gross_return": day.gross_return, "net_return": day.net_return}
        return self._obs(row + 1), float(r), bool(terminated), False, info


Policy = Callable[[dict[str, np.ndarray]], np.ndarray]


def run_policy(policy: Any, env: PortfolioEnv) -> pd.DataFrame:
    """One deterministic episode of `policy` on `env`: a daily frame (see `daily_frame`).

    policy  a callable obs -> (N,) logits, or an object with SB3's `predict(obs, deterministic=True)`.
    """
    act = (lambda o: policy.predict(o, deterministic=True)[0]) if hasattr(policy, "predict") else policy
    obs, _ = env.reset()
    rows = []
    done = False
    while not done:
        obs, _, done, truncated, info = env.step(act(obs))
        done = done or truncated
        rows.append(info)
    return daily_frame([r["date"] for r in rows], [r["value"] for r in rows],
                       [r["gross_return"] for r in rows], [r["net_return"] for r in rows],
                       [r["turnover"] for r in rows], np.array([r["weights"] for r in rows]), env.tickers)


def daily_frame(dates, value, gross, net, turnover, weights: np.ndarray | None, tickers: list[str]) -> pd.DataFrame:
    """The daily frame of every strategy: date, value (V_t, start 1), gross_return, net_return,
    turnover, and one column w_<ticker> per asset (traded weights w_t; NaN when not applicable)."""
    frame = pd.DataFrame({"date": pd.DatetimeIndex(dates), "value": np.asarray(value, dtype="float64"),
                          "gross_return": np.asarray(gross, dtype="float64"),
                          "net_return": np.asarray(net, dtype="float64"),
                          "turnover": np.asarray(turnover, dtype="float64")})
    w = np.full((len(frame), len(tickers)), np.nan) if weights is None else np.asarray(weights, dtype="float64")
    for j, t in enumerate(tickers):
        frame[f"w_{t}"] = w[:, j]
    return frame
