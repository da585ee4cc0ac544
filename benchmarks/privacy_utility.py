"""Privacy-utility table with membership-inference advantages on a simulated market.

    python benchmarks/privacy_utility.py [--days 750] [--tickers 4] [--train-per-ticker 0] [--epochs 15]

Direction target (next-day return > 0) from the seed-000 simulator's numeric features (group
"extra"), chronological split 70 / 30 per date, features z-scored on the training rows (that
scaler is NOT private: see docs/privacy.md). `--train-per-ticker N` keeps only the last N training
days per ticker (a small training set that a network can memorise: the attack's setting).
Prints mean (std) over seeds per model and ε.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np
import torch

from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TargetConfig, TextConfig
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.simulate import SimulatorConfig, simulate_market
from finfusion.evaluate.privacy import EPSILONS, privacy_utility_table

PARAMS = {
    "dp_mlp": {"hidden": 64, "epochs": 15, "batch_size": 64, "lr": 2e-3, "max_grad_norm": 1.0},
    "dp_logistic": {"data_norm": 2.0},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=750)
    ap.add_argument("--tickers", type=int, default=4)
    ap.add_argument("--train-per-ticker", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sim = simulate_market(SimulatorConfig(n_days=args.days, n_tickers=args.tickers, n_features=6, seed=0))
    spec = SampleSpec(features=FeatureConfig(groups=["extra"]), target=TargetConfig(kind="direction"),
                      text=TextConfig(enabled=False))
    samples = build_samples(MarketData(sim.prices, sim.texts, sim.truth), spec)
    dates = np.unique(samples.dates)
    cut = dates[int(0.7 * len(dates))]
    train, test = samples.subset(np.flatnonzero(samples.dates < cut)), samples.subset(np.flatnonzero(samples.dates >= cut))
    if args.train_per_ticker:
        last = np.unique(train.dates)[-args.train_per_ticker]
        train = train.subset(np.flatnonzero(train.dates >= last))
    mu, sd = train.X.mean(axis=0), train.X.std(axis=0) + 1e-12
    train, test = train.with_arrays(X=(train.X - mu) / sd), test.with_arrays(X=(test.X - mu) / sd)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}; train {len(train)} rows, "
          f"test {len(test)} rows, {train.X.shape[1]} features, up share {np.mean(test.y == 1):.3f}")
    cols = ["auc", "f1", "accuracy", "epsilon_spent", "mia_advantage", "mia_auc", "mia_bound"]
    for name, params in PARAMS.items():
        params = {**params, "epochs": args.epochs} if name == "dp_mlp" else params
        start = time.perf_counter()
        table = privacy_utility_table(name, train, test, epsilons=EPSILONS, params=params, seeds=range(args.seeds))
        mean, std = table.groupby("epsilon")[cols].mean(), table.groupby("epsilon")[cols].std()
        print(f"\n## {name} {params} ({time.perf_counter() - start:.1f} s)\n")
        print("| ε | " + " | ".join(cols) + " |")
        print("|---:|" + "---:|" * len(cols))
        for eps in mean.index:
            cells = [f"{mean.loc[eps, c]:.3f} ({std.loc[eps, c]:.3f})" for c in cols]
            print(f"| {'∞' if math.isinf(eps) else f'{eps:g}'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
