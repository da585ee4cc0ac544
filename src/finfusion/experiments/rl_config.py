"""Configuration of an RL portfolio experiment (seed 002): a YAML with `kind: rl`.

    finfusion run seed002_portfolio [--quick] [--set env.commission=0.001]

Same loading rules as a prediction run (`experiments.config`): unknown keys and bad values fail
with their path, `--set` overrides, a `quick:` section, paths relative to the config file.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from finfusion.experiments.shared_config import DataConfig, MarketConfig, OutputConfig, RunName, SentimentConfig
from finfusion.strict import _Strict
from finfusion.portfolio.rl.agents import VARIANTS


class RlTextConfig(_Strict):
    """The text feature of each asset and day (the env's `text` frame, in [-1, 1])."""

    source: Literal["scorer", "truth", "none"] = Field(
        "scorer", description="scorer: the daily mean sentiment of the day's texts (days without text: neutral, "
        "counted); truth: the simulator's sentiment / sentiment_scale (data.source simulate); none: no text"
    )
    sentiment: SentimentConfig = Field(
        default_factory=lambda: SentimentConfig(stats=["mean", "has_text"]),
        description="the scorer and its settings (features.sentiment of a run); stats are set to mean, has_text",
    )


class RlSplitConfig(_Strict):
    train_end: date = Field(description="last date of the training period (inclusive)")
    valid_end: date = Field(description="last date of the validation period; the test period follows")

    @model_validator(mode="after")
    def _order(self) -> RlSplitConfig:
        if not self.train_end < self.valid_end:
            raise ValueError(f"split: train_end {self.train_end} must come before valid_end {self.valid_end}")
        return self


class RlEnvConfig(_Strict):
    """The environment (finfusion.portfolio.rl.env; docs/rl.md)."""

    window: int = Field(30, ge=2, description="days of returns and text in the state")
    commission: float = Field(0.0025, ge=0.0, lt=0.5, description="cost per unit of turnover (0.0025 = 0.25 %)")
    ema_alpha: float = Field(0.4, gt=0.0, le=1.0, description="weight of the new target weights in the EMA")
    lambda_risk: float = Field(0.1, ge=0.0, description="downside penalty of the reward")
    lambda_turn: float = Field(0.005, ge=0.0, description="turnover penalty of the reward")
    turnover: Literal["drifted", "undrifted"] = "drifted"
    reward_baseline: Literal["none", "equal_weight"] = Field(
        "equal_weight", description="subtract the equal-weight portfolio's log return from the training reward "
        "(action-independent: same optimal policy, less gradient noise; docs/rl.md); none = Def. 3.9 as written")


class RlAgentConfig(_Strict):
    """A2C settings shared by the variants and the epoch loop (finfusion.portfolio.rl.agents)."""

    learning_rate: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(1e-4, ge=0.0, description="AdamW weight decay")
    gamma: float = Field(0.99, ge=0.0, le=1.0)
    policy: Literal["asset", "joint"] = Field(
        "asset", description="asset: extractor and logit per asset with weights shared across assets; "
        "joint: one state vector for the portfolio")
    net_arch: list[int] = Field(default_factory=lambda: [64, 64], description="joint: pi and vf layers; asset: vf")
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


class CostSensitivityConfig(_Strict):
    commissions: list[float] = Field(default_factory=lambda: [0.001, 0.0025, 0.005, 0.01])
    groups: list[str] | None = Field(None, description="asset groups to retrain at each commission (None: all)")


class RlConfig(_Strict):
    kind: Literal["rl"] = "rl"
    name: RunName = "rl"
    data: DataConfig = Field(default_factory=DataConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    price_column: str = Field("close", description="price column the returns are computed from")
    text: RlTextConfig = Field(default_factory=RlTextConfig)
    groups: dict[str, list[str]] = Field(description="asset group name -> its tickers")
    split: RlSplitConfig
    env: RlEnvConfig = Field(default_factory=RlEnvConfig)
    agent: RlAgentConfig = Field(default_factory=RlAgentConfig)
    variants: list[str] = Field(default_factory=lambda: list(VARIANTS))
    seeds: list[int] = Field(default_factory=lambda: [42, 43, 44, 45, 46], min_length=1)
    cost_sensitivity: CostSensitivityConfig | None = None
    market_index: Path | None = Field(
        None, description="CSV with date, return (an index, e.g. the Dow Jones); default: the equal-weight universe"
    )
    risk_free: float = Field(0.02, description="annual risk-free rate of Sharpe and Sortino")
    output: OutputConfig = Field(default_factory=OutputConfig)
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> RlConfig:
        unknown = [v for v in self.variants if v.upper() not in VARIANTS]
        if unknown or not self.variants:
            raise ValueError(f"variants: unknown {unknown}; expected some of {list(VARIANTS)}")
        if not self.groups or any(len(t) < 2 for t in self.groups.values()):
            raise ValueError(f"groups: each group needs at least 2 tickers, got {self.groups}")
        if self.cost_sensitivity and self.cost_sensitivity.groups:
            missing = sorted(set(self.cost_sensitivity.groups) - set(self.groups))
            if missing:
                raise ValueError(f"cost_sensitivity.groups: unknown group(s) {missing}; groups: {list(self.groups)}")
        if self.text.source == "truth" and self.data.source != "simulate":
            raise ValueError("text.source 'truth' needs data.source simulate (the simulated sentiment is the truth)")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        return self

    @property
    def commissions(self) -> list[float]:
        """The base commission, then those of the cost sensitivity (each once)."""
        extra = self.cost_sensitivity.commissions if self.cost_sensitivity else []
        return list(dict.fromkeys([self.env.commission, *extra]))
