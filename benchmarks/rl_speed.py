"""Steps/second of PortfolioEnv alone and of env + A2C training (6 assets, W = 30, synthetic data).

    python benchmarks/rl_speed.py
"""
import platform
import time

import numpy as np
import pandas as pd
import torch

torch.set_num_threads(1)
from finfusion.portfolio.rl import (
    VARIANTS,
    AgentConfig,
    EnvConfig,
    PortfolioEnv,
    Standardizer,
    build_model,
    split_market,
)

rng = np.random.default_rng(0)
n_days, n = 2000, 6
idx = pd.bdate_range("2012-01-02", periods=n_days)
returns = pd.DataFrame(rng.normal(0.0005, 0.015, (n_days, n)), idx, [f"S{i}" for i in range(n)])
text = pd.DataFrame(rng.uniform(-1, 1, (n_days, n)), idx, returns.columns)
train, valid, test = split_market(returns, text, train_end=idx[1279], valid_end=idx[1639], window=30)
std = Standardizer().fit(train.returns)
env = PortfolioEnv(train, std, EnvConfig())
print(f"# {platform.platform()}, {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
print("train episode steps", env.n_steps)
env.reset()
a = np.zeros(n, dtype=np.float32)
t0, steps = time.perf_counter(), 0
for _ in range(10):
    env.reset()
    done = False
    while not done:
        _, _, done, _, _ = env.step(a)
        steps += 1
dt = time.perf_counter() - t0
print(f"env alone: {steps / dt:,.0f} steps/s")
config = AgentConfig()  # the defaults: asset-wise policy, 8 env copies, 1-step A2C for SBA / SBCA
print(f"agents: policy {config.policy}, n_envs {config.n_envs}, rollout_steps {config.rollout_steps}; one epoch =",
      f"{config.n_envs} x {env.n_steps} env steps")
for name in ["SB", "SBA", "SBC", "SBCA"]:
    model = build_model(VARIANTS[name], PortfolioEnv(train, std, EnvConfig()), config=config, seed=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=config.n_envs * env.n_steps, log_interval=None)
    dt = time.perf_counter() - t0
    print(f"{name}: env + A2C training {model.num_timesteps / dt:,.0f} steps/s ({model.num_timesteps} steps, "
          f"{dt:.1f} s per epoch)")
from finfusion.portfolio.rl import run_policy

venv = PortfolioEnv(valid, std, EnvConfig())
t0 = time.perf_counter()
frame = run_policy(model, venv)
dt = time.perf_counter() - t0
print(f"deterministic SB3 policy over validation (run_policy): {len(frame) / dt:,.0f} steps/s")
