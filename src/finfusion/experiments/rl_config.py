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

from finfusion.data.sample_spec import MarketConfig
from finfusion.executors import ExecutorConfig
from finfusion.experiments.shared_config import DataConfig, OutputConfig, RunName
from finfusion.experiments.tracking import TrackingConfig
from finfusion.features.sentiment import SentimentSpec
from finfusion.portfolio.rl.agents import VARIANTS
from finfusion.portfolio.rl.settings import AgentConfig, Commission, EnvConfig
from finfusion.strict import _Strict


class RlTextConfig(_Strict):
    """The text feature of each asset and day (the env's `text` frame, in [-1, 1])."""

    source: Literal["scorer", "truth", "none"] = Field(
        "scorer", description="scorer: the daily mean sentiment of the day's texts (days without text: neutral, "
        "counted); truth: the simulator's sentiment / sentiment_scale (data.source simulate); none: no text"
    )
    sentiment: SentimentSpec = Field(
        default_factory=lambda: SentimentSpec(stats=("mean", "has_text")),
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


class CostSensitivityConfig(_Strict):
    commissions: list[Commission] = Field(
        default_factory=lambda: [0.001, 0.0025, 0.005, 0.01],
        description="commissions to retrain at besides env.commission (each a fraction in [0, 0.5))")
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
    env: EnvConfig = Field(default_factory=EnvConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    variants: list[str] = Field(default_factory=lambda: list(VARIANTS))
    seeds: list[int] = Field(default_factory=lambda: [42, 43, 44, 45, 46], min_length=1)
    cost_sensitivity: CostSensitivityConfig | None = None
    market_index: Path | None = Field(
        None, description="CSV with date, return (an index, e.g. the Dow Jones); default: the equal-weight universe"
    )
    risk_free: float = Field(0.02, description="annual risk-free rate of Sharpe and Sortino")
    output: OutputConfig = Field(default_factory=OutputConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    tracking: TrackingConfig | None = Field(
        None, description="log the finished run to MLflow (extra [mlflow]; docs/tracking.md)")
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
