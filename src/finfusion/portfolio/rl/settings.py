"""The settings of the RL portfolio system (seed 002): `EnvConfig` (the environment) and
`AgentConfig` (A2C and its epoch loop). One type each: the `env:` and `agent:` sections of an RL
run's YAML (`experiments.rl_config.RlConfig`) are these models, and `PortfolioEnv`, `train_agent`
and a saved agent's agent.json take them as they are.

Both are frozen pydantic models (`finfusion.strict._Strict`: unknown keys fail), so they hash,
pickle and compare by value; `net_arch` is a tuple (a YAML list is accepted and written back as a
list). A copy with one value changed: `env.model_copy(update={"commission": 0.001})` (model_copy
does not validate: pass a value of the field's type and bounds, e.g. a `Commission`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from finfusion.strict import _Strict

Commission = Annotated[float, Field(ge=0.0, lt=0.5)]
"""One-way cost per unit of turnover, a fraction in [0, 0.5) (0.0025 = 0.25 %)."""

Turnover = Literal["drifted", "undrifted"]
RewardBaseline = Literal["none", "equal_weight"]
PolicyKind = Literal["asset", "joint"]


class EnvConfig(_Strict):
    """The environment (finfusion.portfolio.rl.env; docs/rl.md)."""

    window: int = Field(30, ge=1, description="days of returns and text in the state")
    commission: Commission = Field(0.0025, description="cost per unit of turnover (0.0025 = 0.25 %)")
    ema_alpha: float = Field(0.4, gt=0.0, le=1.0, description="weight of the new target weights in the EMA "
                             "(1 = no smoothing)")
    lambda_risk: float = Field(0.1, ge=0.0, description="downside penalty of the reward")
    lambda_turn: float = Field(0.005, ge=0.0, description="turnover penalty of the reward")
    turnover: Turnover = Field("drifted", description="drifted: ||w_t - held_{t-1}||_1 (the trade needed from the "
                               "drifted weights); undrifted: ||w_t - w_{t-1}||_1")
    reward_baseline: RewardBaseline = Field(
        "equal_weight", description="subtract the equal-weight portfolio's log return from the training reward "
        "(action-independent: same optimal policy, less gradient noise; docs/rl.md); none = Def. 3.9 as written")


class AgentConfig(_Strict):
    """A2C settings shared by the variants and the epoch loop (finfusion.portfolio.rl.agents)."""

    learning_rate: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(1e-4, ge=0.0, description="AdamW weight decay")
    gamma: float = Field(0.99, ge=0.0, le=1.0)
    policy: PolicyKind = Field(
        "asset", description="asset: extractor and logit per asset with weights shared across assets; "
        "joint: one state vector for the portfolio")
    net_arch: tuple[Annotated[int, Field(ge=1)], ...] = Field(
        (64, 64), description="joint: pi and vf layers; asset: vf (in YAML a list of widths, each >= 1)")
    features_dim: int = Field(64, ge=1, description="width of the joint gated fusion space")
    asset_dim: int = Field(16, ge=1, description="width of each asset's vector (policy asset)")
    n_envs: int = Field(8, ge=1, description="copies of the training env exploring side by side")
    rollout_steps: int = Field(1, ge=1, description="A2C n_steps per env copy of SBA / SBCA")
    episode_days: int | None = Field(
        None, ge=1, description="training episodes of this many days from random starts (None: the whole training "
        "period; SB / SBC then update once per env copy and epoch)")
    log_std_init: float = Field(-1.0, description="initial log-std of the Gaussian over the logits")
    epochs: int = Field(30, ge=1, description="passes over the training period, at most")
    patience: int = Field(10, ge=1, description="epochs without a better validation value before stopping")
    device: str = Field("cpu", description="torch device of the policy (cpu, cuda, cuda:0, ...)")
