"""The `analysis:` section of a direction run: long/flat PnL, regimes, SHAP tables, privacy-utility.

Each function turns a finished run's predictions (and, for privacy, its samples and protocol)
into tables; `experiments.outputs` writes them under <run>/tables/ and into the report. The
computations themselves live in `finfusion.evaluate` (pnl, regimes, explain, privacy); the
privacy table takes its splitter and prices from `experiments.plan`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from finfusion.data.predictions import UP_PROBA, Predictions
from finfusion.data.samples import MarketData
from finfusion.errors import ConfigError
from finfusion.evaluate.pnl import daily_pnl, pnl_summary, pnl_table
from finfusion.evaluate.privacy import privacy_utility_table
from finfusion.evaluate.regimes import assign_regimes, regime_metrics
from finfusion.experiments.config import PnlConfig, PrivacyConfig, RunConfig
from finfusion.experiments.plan import PrivacyUnit, make_splitter
from finfusion.features.scalers import Scaler
from finfusion.models.base import Samples
from finfusion.portfolio import (
    assign_groups,
    backtest,
    group_returns,
    mean_group_returns,
    portfolio_table,
    realised_returns,
)

ALWAYS_LONG = "Always long (benchmark)"
PNL_SHOWN = ("cumulative_return_gross", "cumulative_return_net", "sharpe_gross", "sharpe_net", "max_drawdown_net",
             "exposure", "n_trades")


def _with_benchmark(predictions: pd.DataFrame) -> pd.DataFrame:
    """`predictions` plus the always-long benchmark: every (point, seed, fold, date, ticker) of the
    first model's rows predicted up (an equal-weight buy-and-hold of the tickers with a prediction)."""
    first = predictions[predictions["model"] == predictions["model"].iloc[0]]
    bench = first.assign(model=ALWAYS_LONG, y_pred=1, **{UP_PROBA: 1.0})
    return pd.concat([predictions, bench[predictions.columns]], ignore_index=True)


def pnl_tables(predictions: pd.DataFrame, returns: pd.DataFrame, cfg: PnlConfig) -> dict[str, pd.DataFrame]:
    """"pnl": the whole test period of each model run (and the always-long benchmark);
    "pnl_folds": each test fold separately."""
    frame = _with_benchmark(_prediction_columns(predictions))
    kwargs = {"threshold": cfg.threshold, "cost_bps": cfg.cost_bps, "risk_free": cfg.risk_free}
    keys = [c for c in ("point", "seed", "model") if c in frame.columns]
    whole = pnl_table(frame, returns, group_cols=keys, **kwargs)
    folds = pnl_table(frame, returns, group_cols=[*keys, "fold"], **kwargs)
    return {"pnl": whole, "pnl_folds": folds}


def _prediction_columns(predictions: pd.DataFrame) -> pd.DataFrame:
    """The flat predictions without the parts a backtest never reads (SHAP, attention, truth)."""
    return Predictions.from_frame(predictions).without("shap", "shap_base", "attention", "truth").to_frame()


def regime_table(predictions: pd.DataFrame, regimes: Mapping, returns: pd.DataFrame | None,
                 pnl: PnlConfig | None) -> pd.DataFrame:
    """Classification metrics per regime and model run; with `pnl` also the long/flat
    cumulative return (gross and net) and the always-long benchmark within each regime."""
    frame = _prediction_columns(predictions)
    if pnl is not None:
        frame = _with_benchmark(frame)
    table = regime_metrics(frame, regimes)
    if pnl is None or table.empty:
        return table
    keys = [c for c in ("point", "seed", "model") if c in frame.columns]
    member = assign_regimes(frame["date"].reset_index(drop=True), regimes)
    rows = []
    for name in member.columns:
        part = frame.reset_index(drop=True).loc[member[name].to_numpy()]
        for values, group in part.groupby(keys, sort=False):
            values = values if isinstance(values, tuple) else (values,)
            daily = daily_pnl(group, returns, threshold=pnl.threshold, cost_bps=pnl.cost_bps)
            stats = pnl_summary(daily)
            rows.append({"regime": name, **dict(zip(keys, values)),
                         **{k: stats[k] for k in ("cumulative_return_gross", "cumulative_return_net")}})
    return table.merge(pd.DataFrame(rows), on=["regime", *keys], how="left", validate="1:1")


# --------------------------------------------------------------------------- SHAP


def feature_group_map(feature_groups: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """{feature: group}, each feature in its smallest group (e.g. "sentiment_vader" rather than
    "sentiment", which holds every named sentiment group)."""
    out: dict[str, str] = {}
    for group, names in sorted(feature_groups.items(), key=lambda kv: -len(kv[1])):
        for name in names:
            out[name] = group  # smaller groups come later and win
    return out


def shap_tables(predictions: Predictions | pd.DataFrame, groups: Mapping[str, str],
                top_k: int) -> dict[str, pd.DataFrame]:
    """From the SHAP part of each explained model run (mean over its test rows, all folds):
    "shap_top" (rank, feature, mean_abs_shap, share_pct per model), "shap_groups" (each group's
    percent of the total mean |SHAP| per model) and "shap_additivity" (max over rows of
    |shap_base + Σ shap − logit P(up)|: the attributions reproduce the model's output)."""
    preds = Predictions.of(predictions)
    if preds.shap_base is None:
        return {}
    preds = preds.select(preds.shap_base.notna())
    tops, shares, checks = [], [], []
    keys = [c for c in ("point", "seed", "model") if c in preds.core.columns]
    for values, frame in preds.core.groupby(keys, sort=False):
        ident = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        shap = preds.shap.loc[frame.index].dropna(axis=1, how="any")
        importance = _importance(shap)
        tops.append(_top(importance, top_k).assign(**ident))
        shares.append(_group_shares(importance, groups).assign(**ident))
        p = preds.proba.loc[frame.index, "1"].to_numpy(np.float64).clip(1e-12, 1 - 1e-12)
        margin = np.log(p) - np.log1p(-p)
        error = np.abs(preds.shap_base.loc[frame.index].to_numpy(np.float64) + shap.to_numpy().sum(axis=1) - margin)
        checks.append({**ident, "n": len(frame), "max_abs_error": float(error.max())})
    order = lambda t: t[[*keys, *[c for c in t.columns if c not in keys]]]  # noqa: E731
    return {"shap_top": order(pd.concat(tops, ignore_index=True)),
            "shap_groups": order(pd.concat(shares, ignore_index=True)),
            "shap_additivity": pd.DataFrame(checks)}


def _importance(shap: pd.DataFrame) -> pd.Series:
    importance = pd.Series(np.abs(shap.to_numpy(np.float64)).mean(axis=0), index=shap.columns)
    return importance.sort_values(ascending=False, kind="mergesort")


def _top(importance: pd.Series, top_k: int) -> pd.DataFrame:
    total = float(importance.sum())
    top = importance.head(top_k).rename("mean_abs_shap").rename_axis("feature").reset_index()
    top.insert(0, "rank", np.arange(1, len(top) + 1))
    top["share_pct"] = 100.0 * top["mean_abs_shap"] / total if total > 0 else np.nan
    return top


def _group_shares(importance: pd.Series, groups: Mapping[str, str]) -> pd.DataFrame:
    total = float(importance.sum())
    labels = [groups.get(f, groups.get(f.split("@", 1)[0], "ungrouped")) for f in importance.index]
    by_group = importance.groupby(pd.Index(labels, name="group"), sort=False).agg(["size", "sum"])
    by_group.columns = ["n_features", "mean_abs_shap"]
    by_group["share_pct"] = 100.0 * by_group["mean_abs_shap"] / total if total > 0 else np.nan
    return by_group.sort_values("mean_abs_shap", ascending=False, kind="mergesort").reset_index()


# --------------------------------------------------------------------------- privacy


def privacy_tables(config: RunConfig, rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """"privacy": one row per (DP model, epsilon, fold, seed) in the config's model and epsilon
    order, and "privacy_summary": mean (and std) over folds and seeds per (model, epsilon)."""
    cfg: PrivacyConfig = config.analysis.privacy
    models = {spec.label or spec.name: i for i, spec in enumerate(cfg.models)}
    epsilons = {float(e): i for i, e in enumerate(cfg.epsilons)}
    order = {"model": models, "epsilon": epsilons}
    rows = rows.sort_values(["model", "epsilon", "fold", "seed"], kind="mergesort",
                            key=lambda c: c.map(order[c.name]) if c.name in order else c).reset_index(drop=True)
    first = ["model", "epsilon", "fold", "seed"]
    rows = rows[[*first, *[c for c in rows.columns if c not in first]]]
    return {"privacy": rows, "privacy_summary": privacy_summary(rows)}


def privacy_fit(unit: PrivacyUnit, data: MarketData, samples: Samples) -> pd.DataFrame:
    """The rows of one DP fit (experiments.plan.PrivacyUnit): its model at its epsilon on its fold,
    one row per seed (evaluate.privacy.privacy_utility_table), with the model, fold and row counts."""
    config = unit.config
    cfg: PrivacyConfig = config.analysis.privacy
    spec = cfg.models[unit.model]
    samples = samples.select(cfg.features, cfg.exclude)
    split = next(s for s in make_splitter(config).split(samples.dates, horizon=config.target.horizon)
                 if s.fold == unit.fold)
    train, test = scaled_split(samples, split, config.scaling.features)
    extra = None
    if config.analysis.pnl is not None:
        returns = realised_returns(data.prices, price_column=config.target.price_column)
        extra = _pnl_metrics(returns, config.analysis.pnl)
    table = privacy_utility_table(spec.name, train, test, epsilons=[unit.epsilon], params=spec.params,
                                  seeds=cfg.seeds, extra_metrics=extra, holdout=cfg.holdout)
    n_fit = len(train) - (int(round(cfg.holdout * len(train))) if cfg.holdout else 0)
    return table.assign(model=unit.label, fold=split.fold, n_fit=n_fit, n_test=len(test))


def scaled_split(samples: Samples, split, kind: str) -> tuple[Samples, Samples]:
    """(train, test) of `split`, features scaled by a scaler fit on the training rows only."""
    train, test = samples.subset(samples.labelled_rows(split.train)), samples.subset(samples.labelled_rows(split.test))
    scaler = Scaler(kind).fit(train.X)
    scale = lambda s: s.with_arrays(X=scaler.transform(s.X).astype(np.float32))  # noqa: E731
    return scale(train), scale(test)


def _pnl_metrics(returns: pd.DataFrame, cfg: PnlConfig):
    def metrics(test: Samples, proba: np.ndarray) -> dict[str, float]:
        frame = test.index[["date", "ticker"]].assign(y_pred=(proba[:, -1] > 0.5).astype(int),
                                                      **{UP_PROBA: proba[:, -1]})
        daily = daily_pnl(frame, returns, threshold=cfg.threshold, cost_bps=cfg.cost_bps)
        stats = pnl_summary(daily, risk_free=cfg.risk_free)
        return {"pnl_gross": stats["cumulative_return_gross"], "pnl_net": stats["cumulative_return_net"],
                "sharpe_net": stats["sharpe_net"]}

    return metrics


PRIVACY_SHOWN = ("epsilon_spent", "auc", "f1", "accuracy", "pnl_gross", "pnl_net", "sharpe_net", "mia_advantage",
                 "mia_advantage_yeom", "mia_auc", "mia_bound")


def privacy_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over folds and seeds per (model, ε), with the std of auc and mia_advantage."""
    cols = [c for c in PRIVACY_SHOWN if c in rows.columns]
    grouped = rows.groupby(["model", "epsilon"], sort=False)
    table = grouped[cols].mean()
    for c in ("auc", "mia_advantage"):
        if c in rows.columns:
            table[f"{c}_std"] = grouped[c].std(ddof=1)
    table["n_fits"] = grouped.size()
    table = table.reset_index()
    table["epsilon"] = [("∞" if math.isinf(e) else f"{e:g}") for e in table["epsilon"]]
    return table


# --------------------------------------------------------------------------- portfolios


PORTFOLIO_SHOWN = ("long_only_annual_return", "long_only_sharpe", "long_short_annual_return", "long_short_sharpe",
                   "mape", "ic", "rank_ic")


def portfolio_returns(predictions: pd.DataFrame, prices: pd.DataFrame, cfg, horizon: int,
                      price_column: str = "close") -> pd.DataFrame:
    """The realised returns the portfolios earn: from prices over the holding period, keyed by the
    decision date, or each sample's own `truth_movement` (the StockNet benchmark)."""
    if cfg.returns == "truth_movement":
        preds = Predictions.from_frame(predictions)
        if "movement" not in preds.truth.columns:
            raise ConfigError("analysis.portfolio.returns 'truth_movement' needs samples with a movement "
                              "(data.source stocknet_benchmark)")
        frame = preds.core[["date", "ticker"]].assign(**{"return": preds.truth["movement"]})
        return frame.drop_duplicates(["date", "ticker"]).reset_index(drop=True)
    return realised_returns(prices, horizon=cfg.holding_period or horizon, price_column=price_column)


def portfolio_tables(predictions: pd.DataFrame, returns: pd.DataFrame, cfg, task: str, horizon: int):
    """("portfolio": seed 001's Table 1 per model run and sweep point, with the universe;
    "portfolio_summary": mean and std over seeds; "portfolio_deciles": mean realised return per
    predicted decile and model), and the backtests per sweep point (for the charts)."""
    score = cfg.score or (UP_PROBA if task == "classification" else "y_pred")
    frame = _prediction_columns(predictions)
    if score not in frame.columns:
        raise ConfigError(f"analysis.portfolio.score: the predictions have no column {score!r}")
    holding = cfg.holding_period or horizon
    keys = [c for c in ("seed", "model") if c in frame.columns]
    tables, deciles, results = [], [], {}
    points = frame.groupby("point", sort=False) if "point" in frame.columns else [("base", frame)]
    for point, rows in points:
        rows = rows[["date", "ticker", score, *keys]].rename(columns={score: "score"})
        result = backtest(rows, returns, n_groups=cfg.n_groups, holding_period=holding, cost_bps=cfg.cost_bps,
                          score_col="score", group_cols=keys)
        # MAPE compares the score with the realised return: meaningless for a class probability
        tables.append(portfolio_table(result, rows, returns, with_mape=task == "regression",
                                      risk_free=cfg.risk_free).assign(point=point))
        traded = rows[rows["date"].isin(result.rebalance_dates)]
        selection = assign_groups(traded, n_groups=cfg.n_groups, score_col="score", group_cols=keys)
        per_model = mean_group_returns(group_returns(selection, returns), by="model")
        deciles.append(per_model.rename_axis("group").reset_index().assign(point=point))
        results[point] = result
    table = pd.concat(tables, ignore_index=True)
    summary = _mean_std(table, [c for c in PORTFOLIO_SHOWN if c in table.columns])
    out = {"portfolio": table, "portfolio_summary": summary, "portfolio_deciles": pd.concat(deciles, ignore_index=True)}
    return out, results


def _mean_std(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Mean and std over seeds of `columns` per (point, method without the seed)."""
    method = table["model"].where(table["model"].notna(), table["method"]) if "model" in table else table["method"]
    grouped = table.assign(method=method).groupby(["point", "method"], sort=False)[columns]
    mean, std = grouped.mean(), grouped.std(ddof=1)
    out = mean.join(std.add_suffix("_std"))
    out["n_seeds"] = grouped.size()
    return out.reset_index()
