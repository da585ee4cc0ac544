"""Seed 001 Fig. 4: the mixture's per-component training errors, conventional vs decoupled training,
and how the learned gate lines up with the components' test errors.

    python benchmarks/mixture_curves.py [--recipe seed001_selection] [--epochs 10] [--out runs/mixture-curves]

Builds the samples of a recipe (default: the seed-001 StockNet panel, 5-day return target), takes
its protocol's first split, fits the `mixture` model once per mode on the training rows (features
and target z-scored on them), and prints per epoch the mean squared training error of the factors
component, the fusion component and the mixture (Fig. 4a). On the test rows it prints, for each
mode, the test MSE of both components and of the mixture, and the gate vs error alignment
(Fig. 4b): the mean gate probability of the fusion component in the quintiles of
e_factors − e_fusion (a gate that follows the errors rises across the quintiles), and the rank
correlation of the two. Writes the curves (CSV) and a plot to --out. Prints the machine.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import finfusion.progress as progress
from finfusion.evaluate.mixture import gate_alignment
from finfusion.evaluate.plots import new_figure, save_figure
from finfusion.evaluate.tables import to_markdown
from finfusion.experiments import plan
from finfusion.experiments.config import load_config
from finfusion.experiments.recipes import recipe_path
from finfusion.features.scalers import Scaler
from finfusion.models.registry import make_predictor


def scaled(data, x_scaler, y_scaler):
    return data.with_arrays(X=x_scaler.transform(data.X).astype(np.float32), y=y_scaler.transform(data.y))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default="seed001_selection")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--tau", type=float, default=1.0)
    ap.add_argument("--out", default="runs/mixture-curves")
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = load_config(recipe_path(args.recipe), base=Path.cwd())
    if config.target.task != "regression":
        raise SystemExit(f"{args.recipe}: needs a return target (the curves are squared errors)")
    started = time.perf_counter()
    _, samples = plan.unit_inputs(config)
    split = next(plan.make_splitter(config).split(samples.dates, horizon=config.target.horizon))
    train, test = samples.subset(split.train), samples.subset(split.test)
    x_scaler, y_scaler = Scaler("zscore").fit(train.X), Scaler("zscore").fit(train.y)
    train, test = scaled(train, x_scaler, y_scaler), scaled(test, x_scaler, y_scaler)
    print(f"# {platform.platform()}, {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"1 thread; {args.recipe}: train {len(train)} rows, test {len(test)} rows, samples built in "
          f"{time.perf_counter() - started:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = []
    fig, axes = new_figure(1, 2, width=11.0, height=4.0, sharey=True)
    for ax, mode in zip(axes, ("conventional", "decoupled")):
        t0 = time.perf_counter()
        model = make_predictor("mixture", {"mode": mode, "epochs": args.epochs, "tau": args.tau}).fit(train)
        history = model.component_history_.assign(mode=mode)
        curves.append(history)
        parts = model.predict_components(test)
        gate = model.predict_attention(test)[:, 0, 1]  # p(fusion)
        align = gate_alignment(test.y, parts["factors"], parts["fusion"], gate)
        mix = model.predict(test)
        print(f"\n## {mode} ({time.perf_counter() - t0:.0f} s)\n")
        print(to_markdown(history[["epoch", "factors", "fusion", "mixture"]].round(4)))
        print(f"\ntest MSE (z units): factors {align['mse_factors']:.4f}, fusion {align['mse_fusion']:.4f}, "
              f"mixture {np.mean((test.y - mix) ** 2):.4f}")
        print(f"mean p(fusion) by quintile of e_factors - e_fusion (low -> high): {align['p_fusion_by_bin']}; "
              f"Spearman {align['gate_spearman']:.3f}; hit rate {align['gate_hit_rate']:.3f}")
        for name in ("factors", "fusion", "mixture"):
            ax.plot(history["epoch"] + 1, history[name], marker="o", label=name)
        ax.set_title(f"mixture, {mode} training")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training MSE (z units)")
        ax.legend(fontsize="small")
    pd.concat(curves, ignore_index=True).to_csv(out / "curves.csv", index=False)
    save_figure(fig, out / "curves.png")
    print(f"\ncurves: {out / 'curves.csv'}, plot: {out / 'curves.png'}")


if __name__ == "__main__":
    with progress.showing(False):  # no encoder progress bar in the printed figures
        main()
