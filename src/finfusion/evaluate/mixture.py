"""The mixture model's diagnostics (seed 001 Fig. 4): per-component training curves and how the
gate lines up with the components' errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from finfusion.data.predictions import Predictions

ERROR_SERIES = ("error_factors", "error_fusion", "error_mixture")


def gate_alignment(y: np.ndarray, factors: np.ndarray, fusion: np.ndarray, p_fusion: np.ndarray,
                   n_bins: int = 5) -> dict[str, float]:
    """How the gate's weight on the fusion component follows the components' squared errors.

    gap = e_factors - e_fusion (> 0 where fusion is better). A gate that follows the errors has
    gate_spearman = rank correlation(gap, p_fusion) > 0 and p_fusion rising from the lowest to the
    highest of `n_bins` quantile bins of gap (p_fusion_by_bin, low -> high); gate_hit_rate is the
    share of rows where the component with the larger gate weight has the smaller error.
    """
    y, factors, fusion, p = (np.asarray(a, dtype=np.float64) for a in (y, factors, fusion, p_fusion))
    if not (len(y) == len(factors) == len(fusion) == len(p)) or len(y) < 2:
        raise ValueError(f"gate_alignment: expected equal lengths >= 2, got {len(y)}, {len(factors)}, "
                         f"{len(fusion)}, {len(p)}")
    e_f, e_u = (y - factors) ** 2, (y - fusion) ** 2
    gap = e_f - e_u
    bins = pd.qcut(gap, n_bins, labels=False, duplicates="drop")
    by_bin = pd.Series(p).groupby(bins).mean()
    return {"n": float(len(y)), "mse_factors": float(e_f.mean()), "mse_fusion": float(e_u.mean()),
            "gate_spearman": float(stats.spearmanr(gap, p).statistic),
            "gate_hit_rate": float(np.mean((p > 0.5) == (e_u < e_f))),
            "p_fusion_mean": float(p.mean()),
            "p_fusion_by_bin": ", ".join(f"{v:.3f}" for v in by_bin)}


def alignment_table(predictions: Predictions | pd.DataFrame) -> pd.DataFrame:
    """gate_alignment per (point, seed, model) of the rows with the components factors / fusion
    and the gate's attention weight on fusion (a regression run's mixture models), plus mse_mixture."""
    preds = Predictions.of(predictions)
    if not ({"factors", "fusion"} <= set(preds.components.columns) and "fusion" in preds.attention.columns):
        return pd.DataFrame()
    preds = preds.select(preds.components["factors"].notna())
    keys = [c for c in ("point", "seed", "model") if c in preds.core.columns]
    out = []
    for values, part in preds.core.groupby(keys, sort=False):
        ident = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        index = part.index
        parts = preds.components.loc[index]
        y = part["y_true"].to_numpy(np.float64)
        stats_ = gate_alignment(y, parts["factors"], parts["fusion"], preds.attention.loc[index, "fusion"])
        out.append({**ident, **stats_, "mse_mixture": float(np.mean((y - part["y_pred"].to_numpy(np.float64)) ** 2))})
    return pd.DataFrame(out)


def mean_error_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """The mixture's per-component training errors, mean over seeds and folds: one row per
    (point, model, epoch), columns factors / fusion / mixture."""
    errors = curves[curves["series"].isin(ERROR_SERIES)]
    if errors.empty:
        return pd.DataFrame()
    table = errors.pivot_table(index=["point", "model", "epoch"], columns="series", values="value", aggfunc="mean",
                               sort=False)
    table.columns = [c[len("error_"):] for c in table.columns]
    return table[[s[len("error_"):] for s in ERROR_SERIES]].reset_index()


def plot_error_curves(means: pd.DataFrame):
    """One panel per mixture model (of the first point): training error per epoch of each component
    and of the mixture (Fig. 4a)."""
    from finfusion.evaluate.plots import new_figure

    first = means[means["point"] == means["point"].iloc[0]]
    models = list(pd.unique(first["model"]))
    fig, axes = new_figure(1, len(models), width=5.5 * len(models), height=3.8, sharey=True)
    for ax, model in zip(np.atleast_1d(axes), models):
        part = first[first["model"] == model]
        for name in ("factors", "fusion", "mixture"):
            ax.plot(part["epoch"] + 1, part[name], marker="o", label=name)
        ax.set_title(str(model))
        ax.set_xlabel("epoch")
        ax.set_ylabel("training error (scaled target)")
        ax.legend(fontsize="small")
    return fig
