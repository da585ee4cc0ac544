"""TreeSHAP explanations of the XGBoost predictor: local attributions, global importance, group
shares and an additivity check (seed 003 §5 and §6.3.3 / §6.3.5).

Attributions are exact TreeSHAP values from XGBoost itself (`XGBoostPredictor.shap_values`,
``pred_contribs=True``; no `shap` dependency). They explain the raw margin, i.e. the log-odds of
class 1 for a binary classifier (target units for regression), not the probability:

    margin_i = base_i + sum_j values[i, j]          (additivity / efficiency)

`explain` checks that identity against the model's own margin output and raises an
AdditivityError when it fails beyond a tolerance. Explain samples exactly as the model saw
them: the protocol scales features per fold, so pass the scaled test samples of that fold
(feature *values* in `local_explanation` are then in scaled units too).

    expl = explain(model, test_samples)
    expl.local(0)                       # one prediction: feature, value, shap, sorted by |shap|
    top_features(expl, k=10)            # rank, feature, mean_abs_shap, share_pct
    group_shares(expl, {"rsi_14": "technical", "sent_mean": "sentiment", ...})
    plot_importance(expl, k=10)         # horizontal bar chart (evaluate.plots.plot_bar)

Global importance of feature j is mean_i |values[i, j]| (seed 003 eq. for I_j); the share of a
group is the sum of its features' importances over the sum over all features, in percent.
Features of a look-back are named "name@t-k" and belong to the group of "name".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from finfusion.data.predictions import Predictions
from finfusion.evaluate.plots import plot_bar
from finfusion.models.explain import (  # noqa: F401 - the computation's home; re-exported here
    DEFAULT_ATOL,
    AdditivityError,
    Explanation,
    check_additivity,
    explain,
)

UNGROUPED = "ungrouped"


def global_importance(expl: Explanation) -> pd.Series:
    """mean |SHAP| per feature (margin units), largest first (ties keep the feature order)."""
    importance = pd.Series(np.abs(expl.values).mean(axis=0), index=list(expl.feature_names), name="mean_abs_shap")
    return importance.sort_values(ascending=False, kind="mergesort").rename_axis("feature")


def top_features(expl: Explanation, k: int = 10) -> pd.DataFrame:
    """The k most important features: rank (1 = most), feature, mean_abs_shap, share_pct (of the
    total mean |SHAP| over all features)."""
    importance = global_importance(expl)
    total = float(importance.sum())
    table = importance.head(k).reset_index()
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["share_pct"] = 100.0 * table["mean_abs_shap"] / total if total > 0 else np.nan
    return table


def feature_to_group(groups: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Invert {group: feature names} (the shape of `features.build.FEATURE_GROUPS`) to
    {feature: group}; a feature listed in two groups raises ValueError."""
    out: dict[str, str] = {}
    for group, names in groups.items():
        for name in names:
            if name in out and out[name] != group:
                raise ValueError(f"feature_to_group: {name!r} is in groups {out[name]!r} and {group!r}")
            out[name] = group
    return out


def group_shares(expl: Explanation, groups: Mapping[str, str]) -> pd.DataFrame:
    """Share of the total mean |SHAP| per feature group, in percent (summing to 100).

    groups  {feature: group}; a look-back name "f@t-k" uses the group of "f". Features in no
            group are reported as the group "ungrouped" (never dropped).
    Returns group, n_features, mean_abs_shap (sum over its features), share_pct; largest first."""
    importance = global_importance(expl)
    labels = [groups.get(name, groups.get(name.split("@", 1)[0], UNGROUPED)) for name in importance.index]
    table = importance.groupby(pd.Index(labels, name="group"), sort=False).agg(["size", "sum"])
    table.columns = ["n_features", "mean_abs_shap"]
    total = float(table["mean_abs_shap"].sum())
    table["share_pct"] = 100.0 * table["mean_abs_shap"] / total if total > 0 else np.nan
    return table.sort_values("mean_abs_shap", ascending=False, kind="mergesort").reset_index()


def plot_importance(expl: Explanation, k: int = 10, *, title: str | None = None) -> Figure:
    """Horizontal bars of the k largest mean |SHAP| (most important at the top)."""
    importance = global_importance(expl).head(k)
    return plot_bar(importance, title or f"Top {len(importance)} features by mean |SHAP|", horizontal=True,
                    xlabel="mean |SHAP| (margin: log-odds for a classifier)")


def plot_group_shares(shares: pd.DataFrame, *, title: str = "Share of total mean |SHAP| per feature group") -> Figure:
    """Horizontal bars of `group_shares` (percent)."""
    return plot_bar(shares.set_index("group")["share_pct"], title, horizontal=True, xlabel="share of total (%)")


def local_from_predictions(predictions: Predictions | pd.DataFrame, *, model: str, date, ticker: str,
                           top: int | None = None) -> pd.DataFrame:
    """The attributions of one prediction of a run (its SHAP part, written by
    `run_protocol(..., explain=True)`, i.e. `analysis.shap` of a run config): feature, shap,
    sorted by |shap|, largest first. attrs: base, margin (base + Σ shap), p_1 (P(up)) when present.

        preds = Predictions.read("runs/<run>/predictions.parquet")
        local_from_predictions(preds, model="T+F", date="2015-08-24", ticker="AAPL", top=5)
    """
    preds = Predictions.of(predictions)
    if preds.shap_base is None:
        raise ValueError("local_from_predictions: no SHAP attributions; run with analysis.shap (explain=True)")
    core = preds.core
    rows = core.index[(core["model"] == model) & (pd.to_datetime(core["date"]) == pd.Timestamp(date))
                      & (core["ticker"] == ticker)]
    if len(rows) != 1:
        raise ValueError(f"local_from_predictions: expected one prediction of {model!r} for {ticker} on "
                         f"{pd.Timestamp(date).date()}, found {len(rows)} (several seeds or points: filter first)")
    base = preds.shap_base.loc[rows[0]]
    if base != base:
        raise ValueError(f"local_from_predictions: model {model!r} was not explained (its shap columns are empty)")
    shap = preds.shap.loc[rows[0]].dropna()
    frame = pd.DataFrame({"feature": shap.index.astype(str), "shap": shap.to_numpy(np.float64)})
    frame = frame.reindex(frame["shap"].abs().sort_values(ascending=False, kind="mergesort").index)
    frame = frame.reset_index(drop=True).head(top) if top is not None else frame.reset_index(drop=True)
    frame.attrs.update(base=float(base), margin=float(base + shap.sum()))
    if "1" in preds.classes:
        frame.attrs["p_1"] = float(preds.proba.loc[rows[0], "1"])
    return frame
