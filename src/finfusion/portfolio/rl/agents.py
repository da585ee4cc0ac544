"""The four policy variants of seed 002 (SB, SBA, SBC, SBCA) as stable-baselines3 A2C agents.

SB3 has no REINFORCE class. REINFORCE with a learned state-value baseline is A2C with
lambda = 1 and full-episode rollouts: the advantage is G_t - V(s_t) with the Monte-Carlo return
G_t (no bootstrap, the rollout ends at the terminal step). So:

    SB    A2C, gae_lambda = 1.0, n_steps = one whole training episode     concat extractor
    SBA   A2C, gae_lambda = 0.95, n_steps = rollout_steps (bootstrapped)   concat extractor
    SBC   as SB                                                            gated extractor
    SBCA  as SBA                                                           gated extractor

All (`AgentConfig` of settings.py; docs/rl.md gives the measurements behind the defaults):
- policy "asset" (default): the extractor runs on each asset's own rows with weights shared
  across assets, and asset i's logit is one shared linear map of its vector (`AssetwisePolicy`);
  the critic reads all N vectors through vf = net_arch. policy "joint": one state vector for the
  portfolio, pi = vf = net_arch (MultiInputPolicy).
- a diagonal Gaussian over the N logits, state-independent log-std (init `log_std_init`);
  gamma 0.99; AdamW (lr 1e-3, weight decay 1e-4; the paper's values were lost in extraction);
  A2C's defaults otherwise (vf_coef 0.5, ent_coef 0, max_grad_norm 0.5).
- `n_envs` copies of the training env explore side by side (a DummyVecEnv); each A2C update
  uses rollout_steps x n_envs transitions (SB/SBC: n_envs whole episodes).
- `episode_days`: training episodes of that many consecutive days from random starts (None: the
  whole training period), so that SB/SBC update more than once per epoch.

Training: one epoch = every copy passes once over the training period (`learn(total_timesteps =
episode length x n_envs)`), then the deterministic policy (the Gaussian's mean) runs once on the
validation env; the policy weights of the best validation final value are kept and restored at
the end; training stops after `patience` epochs without a new best, or after `epochs`.

Saving: `TrainedAgent.save` / `load` write and read safetensors weights + agent.json, never a pickle
(agent_files.py; SB3's own save / load cloudpickles and is not used).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import ValidationError
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

import finfusion.progress as progress_bars
from finfusion.errors import ConfigError
from finfusion.portfolio.rl.agent_files import (
    CURVE_FILE,
    META_FILE,
    SpacesEnv,
    load_policy_weights,
    read_agent_meta,
    spaces_from_json,
    spaces_to_json,
    write_agent_files,
)
from finfusion.portfolio.rl.data import MarketWindow, Standardizer
from finfusion.portfolio.rl.env import PortfolioEnv, run_policy
from finfusion.portfolio.rl.extractors import EXTRACTORS
from finfusion.portfolio.rl.settings import AgentConfig, EnvConfig
from finfusion.seeding import seed_everything


@dataclass(frozen=True)
class Variant:
    """extractor: "concat" | "gated"; actor_critic False = one whole training episode per rollout
    (REINFORCE with a baseline), True = bootstrapped rollouts of `AgentConfig.rollout_steps`."""

    name: str
    extractor: str
    gae_lambda: float
    actor_critic: bool


VARIANTS: dict[str, Variant] = {
    "SB": Variant("SB", "concat", 1.0, False),
    "SBA": Variant("SBA", "concat", 0.95, True),
    "SBC": Variant("SBC", "gated", 1.0, False),
    "SBCA": Variant("SBCA", "gated", 0.95, True),
}
LOSS_KEYS = ("policy_loss", "value_loss", "entropy_loss")


def get_variant(name: str) -> Variant:
    key = str(name).upper()
    if key not in VARIANTS:
        raise ConfigError(f"variant={name!r}; expected one of {sorted(VARIANTS)}")
    return VARIANTS[key]


class AssetHead(nn.Module):
    """(B, N * d) -> (B, N): asset i's logit = v . x_i + b with v, b shared by the assets."""

    def __init__(self, asset_dim: int) -> None:
        super().__init__()
        self.asset_dim = int(asset_dim)
        self.linear = nn.Linear(self.asset_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.view(x.shape[0], -1, self.asset_dim)).squeeze(-1)


class AssetwisePolicy(MultiInputActorCriticPolicy):
    """MultiInputActorCriticPolicy whose action net is `AssetHead` over an asset-wise extractor's
    output (net_arch pi = []: the head reads the per-asset vectors directly)."""

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        self.action_net = AssetHead(self.features_extractor.asset_dim)
        if self.ortho_init:
            self.action_net.apply(partial(self.init_weights, gain=0.01))  # SB3's gain for the action net
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


def build_model(variant: Variant, env: PortfolioEnv, *, config: AgentConfig, seed: int) -> A2C:
    """An untrained SB3 A2C for `variant` on `config.n_envs` copies of `env` (silent logger, seeded)."""
    copies = [env] + [copy.deepcopy(env) for _ in range(config.n_envs - 1)]
    vec = DummyVecEnv([lambda e=e: e for e in copies])
    n_steps = config.rollout_steps if variant.actor_critic else env.episode_length
    return _new_a2c(variant, vec, config=config, n_steps=n_steps, seed=seed, device=config.device)


def _new_a2c(variant: Variant, vec: DummyVecEnv, *, config: AgentConfig, n_steps: int, seed: int | None,
             device: str) -> A2C:
    """The A2C of `variant` and `config` on `vec` (shared by `build_model` and `TrainedAgent.load`)."""
    common = {"optimizer_class": torch.optim.AdamW, "optimizer_kwargs": {"weight_decay": config.weight_decay},
              "log_std_init": config.log_std_init}
    if config.policy == "asset":
        policy = AssetwisePolicy
        policy_kwargs = {"features_extractor_class": EXTRACTORS[f"asset_{variant.extractor}"],
                         "features_extractor_kwargs": {"hidden": config.asset_dim},
                         "net_arch": {"pi": [], "vf": list(config.net_arch)}, **common}
    else:
        policy = "MultiInputPolicy"
        policy_kwargs = {"features_extractor_class": EXTRACTORS[variant.extractor],
                         "features_extractor_kwargs": {"hidden": config.features_dim} if variant.extractor == "gated"
                         else {},
                         "net_arch": {"pi": list(config.net_arch), "vf": list(config.net_arch)}, **common}
    model = A2C(policy, vec, learning_rate=config.learning_rate, n_steps=n_steps, gamma=config.gamma,
                gae_lambda=variant.gae_lambda, policy_kwargs=policy_kwargs, seed=seed, device=device, verbose=0)
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


class _EpochStats(BaseCallback):
    """Collects the step rewards and A2C's per-update losses of one epoch (read from the logger
    after each update: at the next rollout's start and at the end of `learn`)."""

    def __init__(self) -> None:
        super().__init__()
        self.clear()

    def clear(self) -> None:
        self.rewards: list[float] = []
        self.losses: dict[str, list[float]] = defaultdict(list)

    def _on_step(self) -> bool:
        self.rewards.extend(np.asarray(self.locals["rewards"], dtype="float64").ravel().tolist())
        return True

    def _harvest(self) -> None:
        values = self.model.logger.name_to_value
        for key in LOSS_KEYS:
            if f"train/{key}" in values:
                self.losses[key].append(float(values[f"train/{key}"]))
        values.clear()

    def _on_rollout_start(self) -> None:
        self._harvest()

    def _on_training_end(self) -> None:
        self._harvest()

    def summary(self) -> dict[str, float]:
        out = {"train_reward_mean": float(np.mean(self.rewards)) if self.rewards else float("nan")}
        for key in LOSS_KEYS:
            out[key] = float(np.mean(self.losses[key])) if self.losses[key] else float("nan")
        return out


@contextmanager
def deterministic_torch() -> Iterator[None]:
    """torch.use_deterministic_algorithms(True, warn_only=True) inside, the previous setting after."""
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


@dataclass
class TrainedAgent:
    """A trained variant with the env settings and train-fit standardizer it needs to act.

    settings  the EnvConfig of its envs (`env(data)` builds one on new data with it).

    curve   one row per epoch: epoch, timesteps, train_reward_mean, policy_loss, value_loss,
            entropy_loss (means over the epoch's updates), valid_value (final validation value of
            the deterministic policy), is_best.
    config  the AgentConfig the model was built with (`load` rebuilds the policy from it).
    """

    variant: str
    model: A2C
    standardizer: Standardizer
    settings: EnvConfig
    curve: pd.DataFrame
    best_epoch: int
    config: AgentConfig

    def env(self, data: MarketWindow) -> PortfolioEnv:
        return PortfolioEnv(data, self.standardizer, self.settings)

    def run(self, data: MarketWindow | PortfolioEnv) -> pd.DataFrame:
        """Deterministic daily frame (env.daily_frame) over `data`'s decision dates."""
        return run_policy(self.model, data if isinstance(data, PortfolioEnv) else self.env(data))

    def save(self, directory: str | Path) -> Path:
        """agent.json (variant, AgentConfig, EnvConfig, standardizer, best epoch, spaces),
        policy.safetensors (the policy weights), curve.csv; no pickle (agent_files.py)."""
        meta = {"variant": self.variant, "config": self.config.model_dump(mode="json"),
                "settings": self.settings.model_dump(mode="json"),
                "standardizer": self.standardizer.to_dict(), "best_epoch": int(self.best_epoch),
                "n_steps": int(self.model.n_steps), "n_envs": int(self.model.n_envs),
                "policy_class": type(self.model.policy).__name__,
                **spaces_to_json(self.model.observation_space, self.model.action_space)}
        return write_agent_files(directory, meta, self.model.policy, self.curve)

    @classmethod
    def load(cls, directory: str | Path, *, device: str = "cpu") -> TrainedAgent:
        """The agent `save` wrote to `directory`: its policy rebuilt from agent.json, the weights
        read from policy.safetensors. Refuses an older version's pickled model.zip."""
        src = Path(directory)
        meta = read_agent_meta(src)
        variant, config, settings = _settings_from_json(meta, src / META_FILE)
        model = _rebuild_model(variant, config, meta, src, device=device)
        return cls(variant.name, model, Standardizer.from_dict(meta["standardizer"]), settings,
                   pd.read_csv(src / CURVE_FILE), int(meta["best_epoch"]), config)


def _settings_from_json(meta: dict, path: Path) -> tuple[Variant, AgentConfig, EnvConfig]:
    """(variant, AgentConfig, EnvConfig) of agent.json's "variant", "config" and "settings"."""
    try:
        config, settings = AgentConfig.model_validate(meta["config"]), EnvConfig.model_validate(meta["settings"])
        return get_variant(meta["variant"]), config, settings
    except (KeyError, TypeError, ValidationError, ConfigError) as exc:
        raise ConfigError(f"{path}: variant / config / settings unreadable ({type(exc).__name__}: {exc})") from exc


def _rebuild_model(variant: Variant, config: AgentConfig, meta: dict, directory: Path, *, device: str) -> A2C:
    """An A2C of the saved architecture on stand-in envs of the saved spaces, holding the saved
    weights. The global torch RNG is left as it was (building the policy draws initial weights)."""
    observation_space, action_space = spaces_from_json(meta, directory / META_FILE)
    vec = DummyVecEnv([partial(SpacesEnv, observation_space, action_space)] * int(meta["n_envs"]))
    with torch.random.fork_rng(devices=[]):
        model = _new_a2c(variant, vec, config=config, n_steps=int(meta["n_steps"]), seed=None, device=device)
    if type(model.policy).__name__ != meta.get("policy_class"):
        raise ConfigError(f"{directory / META_FILE}: policy_class {meta.get('policy_class')!r}, but its config "
                          f"builds {type(model.policy).__name__}")
    load_policy_weights(model.policy, directory, device=device)
    return model


def train_agent(variant: str, train: MarketWindow, valid: MarketWindow, *, seed: int = 42,
                env: EnvConfig | None = None, agent: AgentConfig | None = None,
                progress: bool = False) -> TrainedAgent:
    """Train `variant` ("SB" | "SBA" | "SBC" | "SBCA") on `train`, early-stopped on `valid`'s
    final value (module docstring) after at most `agent.epochs` epochs with `agent.patience`.
    `env` / `agent`: EnvConfig() / AgentConfig() when None (an RL run passes its config's `env`
    and `agent` sections as they are). The standardizer is fit on `train.returns` only."""
    spec = get_variant(variant)
    env = EnvConfig() if env is None else env
    agent = AgentConfig() if agent is None else agent
    for name, value, kind in (("env", env, EnvConfig), ("agent", agent, AgentConfig)):
        if not isinstance(value, kind):
            raise ConfigError(f"{name}={value!r}; expected an {kind.__name__} (finfusion.portfolio.rl.{kind.__name__})")
    seed_everything(seed)
    standardizer = Standardizer().fit(train.returns)
    train_env = PortfolioEnv(train, standardizer, env, episode_days=agent.episode_days)
    valid_env = PortfolioEnv(valid, standardizer, env)
    with deterministic_torch():
        model = build_model(spec, train_env, config=agent, seed=seed)
        curve, best_epoch = _fit(model, train_env, valid_env, epochs=agent.epochs, patience=agent.patience,
                                 progress=progress, n_envs=agent.n_envs)
    return TrainedAgent(spec.name, model, standardizer, env, curve, best_epoch, agent)


def _fit(model: A2C, train_env: PortfolioEnv, valid_env: PortfolioEnv, *, epochs: int, patience: int,
         progress: bool, n_envs: int = 1) -> tuple[pd.DataFrame, int]:
    """The epoch loop: learn one pass, validate, keep the best policy weights; returns (curve, best epoch)."""
    stats, rows = _EpochStats(), []
    best_value, best_epoch, best_state = -np.inf, 0, None
    with progress_bars.bar(epochs, f"A2C {train_env.n_steps} steps/epoch", leave=True, enabled=progress) as bar:
        for epoch in range(1, epochs + 1):
            stats.clear()
            model.learn(total_timesteps=train_env.n_steps * n_envs, callback=stats, log_interval=None,
                        reset_num_timesteps=epoch == 1)
            value = float(run_policy(model, valid_env)["value"].iloc[-1])
            is_best = value > best_value
            if is_best:
                best_value, best_epoch, best_state = value, epoch, copy.deepcopy(model.policy.state_dict())
            rows.append({"epoch": epoch, "timesteps": int(model.num_timesteps), **stats.summary(),
                         "valid_value": value, "is_best": is_best})
            bar.set_postfix(valid=f"{value:.4f}", best=f"{best_value:.4f}@{best_epoch}")
            bar.update(1)
            if epoch - best_epoch >= patience:
                break
    if best_state is not None:  # None only if every validation value was NaN
        model.policy.load_state_dict(best_state)
    return pd.DataFrame(rows), best_epoch
