"""finfusion.portfolio.rl: the reinforcement-learning portfolio system of seed 002 (SB / SBA / SBC / SBCA).

    train, valid, test = split_market(returns, text, train_end=..., valid_end=..., window=30)
    agent = train_agent("SBCA", train, valid, seed=42, env=EnvConfig(window=30),
                        agent=AgentConfig(epochs=30, patience=5))
    daily = agent.run(test)                                  # date, value, net_return, turnover, w_<ticker>
    table = metrics_table({"SBCA": daily, "Equal Weight": equal_weight(test),
                           "Buy & Hold": buy_and_hold(test), "Market": market(test)})

See docs/rl.md for the timing, accounting and reward conventions.
"""

from finfusion.portfolio.rl.accounting import drift, reward, smooth, softmax, trade_day
from finfusion.portfolio.rl.agents import (
    VARIANTS,
    AssetwisePolicy,
    TrainedAgent,
    Variant,
    build_model,
    train_agent,
)
from finfusion.portfolio.rl.baselines import buy_and_hold, equal_weight, market
from finfusion.portfolio.rl.data import MarketWindow, Standardizer, check_frames, split_market
from finfusion.portfolio.rl.env import PortfolioEnv, daily_frame, run_policy
from finfusion.portfolio.rl.extractors import (
    EXTRACTORS,
    AssetConcatExtractor,
    AssetGatedExtractor,
    ConcatExtractor,
    GatedFusionExtractor,
)
from finfusion.portfolio.rl.metrics import metrics_table, rl_metrics
from finfusion.portfolio.rl.settings import AgentConfig, EnvConfig

__all__ = [
    "EXTRACTORS",
    "VARIANTS",
    "AgentConfig",
    "AssetConcatExtractor",
    "AssetGatedExtractor",
    "AssetwisePolicy",
    "ConcatExtractor",
    "EnvConfig",
    "GatedFusionExtractor",
    "MarketWindow",
    "PortfolioEnv",
    "Standardizer",
    "TrainedAgent",
    "Variant",
    "build_model",
    "buy_and_hold",
    "check_frames",
    "daily_frame",
    "drift",
    "equal_weight",
    "market",
    "metrics_table",
    "reward",
    "rl_metrics",
    "run_policy",
    "smooth",
    "softmax",
    "split_market",
    "trade_day",
    "train_agent",
]
