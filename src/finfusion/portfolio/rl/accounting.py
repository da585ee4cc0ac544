"""Portfolio arithmetic of one trading day, shared by the RL env and the baselines (seed 002, Def. 3.3, 3.9).

All weights are long-only and sum to 1 (Def. 3.2); returns are simple returns (fractions).
For decision day t (trading the return R_t of day t):

    target_t   = softmax(a_t)                                   the policy's output
    w_t        = alpha * target_t + (1 - alpha) * w_{t-1}        EMA of the output weights, alpha = 0.4
                 (w_0 = target_0: the first output is not smoothed)
    held_{t-1} = w_{t-1} * (1 + R_{t-1}) / (1 + w_{t-1} . R_{t-1})   w_{t-1} drifted by day t-1's returns:
                 what is actually held before trading on day t (held before day 0 = 0, all cash)
    turnover_t = || w_t - held_{t-1} ||_1        ("drifted", default)
               = || w_t - w_{t-1} ||_1           ("undrifted": the paper's / issue's form, w_{-1} = 0)
    gross_t    = w_t . R_t
    net_t      = gross_t - c * turnover_t                       c = one-way commission, default 0.0025
    V_t        = V_{t-1} * (1 + net_t),  V_{-1} = 1

Starting from cash (held = 0) makes the first turnover ||w_0||_1 = 1: the entry costs c * 1.

Reward (Def. 3.9; Theorem 1 sums it to log V_T minus penalties):

    g_t = log(V_t / V_{t-1}) = log(1 + net_t)
    r_t = g_t - lambda_risk * min(0, g_t)^2 - lambda_turn * turnover_t,  lambda_risk = 0.1, lambda_turn = 0.005
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finfusion.evaluate.costs import BPS, net_of_costs


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N,) logits -> (N,) weights >= 0 summing to 1 (max-shifted for stability)."""
    z = np.asarray(logits, dtype="float64")
    e = np.exp(z - z.max())
    return e / e.sum()


def smooth(target: np.ndarray, previous: np.ndarray | None, alpha: float) -> np.ndarray:
    """EMA of the output weights: alpha * target + (1 - alpha) * previous; `target` when there is
    no previous output (alpha = 1 turns smoothing off)."""
    if previous is None:
        return np.asarray(target, dtype="float64")
    return alpha * np.asarray(target, dtype="float64") + (1.0 - alpha) * previous


def drift(weights: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """Weights after one day's returns: w * (1 + R) / (1 + w . R); (N,) -> (N,)."""
    grown = weights * (1.0 + returns)
    return grown / grown.sum()


@dataclass(frozen=True)
class DayResult:
    """One traded day: weights traded (N,), turnover (L1, fraction of value), gross and net return
    (fractions), the weights held at the close (drifted by the day's returns)."""

    weights: np.ndarray
    turnover: float
    gross_return: float
    net_return: float
    held_after: np.ndarray


def trade_day(weights: np.ndarray, reference: np.ndarray, returns: np.ndarray, commission: float) -> DayResult:
    """Trade from `reference` (held before trading, or the previous target for the undrifted
    turnover) to `weights`, then earn `returns`; see the module docstring."""
    turnover = float(np.abs(weights - reference).sum())
    gross = float(weights @ returns)
    _, net = net_of_costs(gross, turnover, commission * BPS)  # commission: a fraction per side
    return DayResult(weights, turnover, gross, net, drift(weights, returns))


def reward(net_return: float, turnover: float, *, lambda_risk: float = 0.1, lambda_turn: float = 0.005) -> float:
    """r = g - lambda_risk * min(0, g)^2 - lambda_turn * turnover with g = log(1 + net_return)."""
    g = float(np.log1p(net_return))
    return g - lambda_risk * min(0.0, g) ** 2 - lambda_turn * turnover
