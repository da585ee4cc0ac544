"""The `analysis:` part of a prediction run: its tables (PnL, regimes, SHAP, privacy, decile
portfolios), their plots and their report sections (experiments.analysis computes them).

Beside experiments.analysis' tables this module keeps, for the charts, the daily long/flat PnL of
every model run ("pnl_daily", from `evaluate.pnl.daily_pnl`) and the IC of the decile portfolios'
score per rebalance date ("portfolio_ic", `portfolio.plots.ic_by_rebalance_date`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from finfusion.data.predictions import UP_PROBA
from finfusion.evaluate.performance import risk_free_note
from finfusion.evaluate.plots import save_figure
from finfusion.evaluate.pnl import daily_pnl
from finfusion.evaluate.report import Image, Section
from finfusion.evaluate.tables import drop_empty_std, spread_note
from finfusion.evaluate.tearsheet import IC_WINDOW, plot_equity_drawdown, plot_ic_over_time
from finfusion.experiments.analysis import (
    ALWAYS_LONG,
    PNL_SHOWN,
    feature_group_map,
    pnl_tables,
    portfolio_returns,
    portfolio_tables,
    privacy_tables,
    regime_table,
    shap_tables,
)
from finfusion.experiments.config import RunConfig
from finfusion.portfolio import realised_returns
from finfusion.portfolio.plots import ic_by_rebalance_date


def scored_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows with a target (all, unless a `labelled` column marks some as predicted only)."""
    if "labelled" not in predictions.columns:
        return predictions
    return predictions[predictions["labelled"].astype(bool)].reset_index(drop=True)


def analysis_tables(config: RunConfig, predictions: pd.DataFrame, data, samples, privacy: pd.DataFrame | None) -> dict:
    """The tables of the config's `analysis:` section (experiments.analysis). The portfolios trade
    every predicted row; the other analyses use the scored (labelled) rows; `privacy` holds the rows
of the run's DP fits (experiments.analysis.privacy_fit)."""
    a, out, everything = config.analysis, {}, predictions
    predictions = scored_rows(predictions)
    returns = realised_returns(data.prices, price_column=config.target.price_column) if a.pnl is not None else None
    if a.pnl is not None:
        out.update(pnl_tables(predictions, returns, a.pnl))
        out["pnl_daily"] = pnl_daily(predictions, returns, a.pnl)
    if a.regimes:
        out["regimes"] = regime_table(predictions, a.regimes, returns, a.pnl)
    if a.shap is not None:
        out.update(shap_tables(predictions, feature_group_map(samples.feature_groups), a.shap.top_k))
    if a.privacy is not None:
        out.update(privacy_tables(config, privacy))
    if a.portfolio is not None:
        realised = portfolio_returns(everything, data.prices, a.portfolio, config.target.horizon,
                                     config.target.price_column)
        tables, backtests = portfolio_tables(everything, realised, a.portfolio, config.target.task,
                                             config.target.horizon)
        out.update(tables)
        out["portfolio_ic"] = portfolio_ic(everything, realised, backtests, a.portfolio, config.target.task)
        out["_backtests"] = backtests
    return out


def pnl_daily(predictions: pd.DataFrame, returns: pd.DataFrame, cfg) -> pd.DataFrame:
    """The daily long/flat PnL (`evaluate.pnl.daily_pnl`: date, n_long, gross, turnover, cost, net,
    trades) of every (point, seed, model) run and of the always-long benchmark of each (point, seed)
    (every ticker with a prediction held: the first model's rows all predicted up)."""
    keys = [c for c in ("point", "seed", "model") if c in predictions.columns]
    frame = predictions[["date", "ticker", "y_pred", *keys, *([UP_PROBA] if UP_PROBA in predictions else [])]]
    parts = []
    for values, rows in frame.groupby(keys, sort=False):
        daily = daily_pnl(rows, returns, threshold=cfg.threshold, cost_bps=cfg.cost_bps)
        parts.append(daily.assign(**dict(zip(keys, values))))
    others = [k for k in keys if k != "model"]
    first = frame[frame["model"] == frame["model"].iloc[0]].assign(y_pred=1)
    for values, rows in (first.groupby(others, sort=False) if others else [((), first)]):
        daily = daily_pnl(rows, returns, threshold=None, cost_bps=cfg.cost_bps)
        parts.append(daily.assign(**dict(zip(others, values)), model=ALWAYS_LONG))
    out = pd.concat(parts, ignore_index=True)
    return out[[*keys, *[c for c in out.columns if c not in keys]]]


def portfolio_ic(predictions: pd.DataFrame, realised: pd.DataFrame, backtests: dict, cfg, task: str) -> pd.DataFrame:
    """IC and rank IC of the portfolios' score with the realised return per rebalance date, per
    point and unit (the per-date values behind the table's ic and rank_ic)."""
    score = cfg.score or (UP_PROBA if task == "classification" else "y_pred")
    parts = []
    for point, result in backtests.items():
        rows = predictions if "point" not in predictions.columns else predictions[predictions["point"] == point]
        rows = rows[["date", "ticker", score, *result.keys]].rename(columns={score: "score"})
        parts.append(ic_by_rebalance_date(result, rows, realised).assign(point=point))
    out = pd.concat(parts, ignore_index=True)
    return out[["point", *[c for c in out.columns if c != "point"]]]


def pnl_plots(run_dir: Path, extra: dict) -> dict:
    """Equity and drawdown of the long/flat strategy (net of costs) of each model and the
    always-long benchmark: the first sweep point's first seed (every run is in tables/pnl_daily.csv)."""
    if "pnl_daily" not in extra:
        return {}
    daily = extra["pnl_daily"]
    scope = ""
    if "point" in daily.columns:
        daily = daily[daily["point"] == daily["point"].iloc[0]]
        scope = f", point {daily['point'].iloc[0]}" if daily["point"].iloc[0] != "base" else ""
    if "seed" in daily.columns:
        scope += f", seed {daily['seed'].iloc[0]:g}" if daily["seed"].nunique() > 1 else ""
        daily = daily[daily["seed"] == daily["seed"].iloc[0]]
    series = {m: rows.set_index("date")["net"] for m, rows in daily.groupby("model", sort=False)}
    fig = plot_equity_drawdown(series, title=f"Long/flat, net of costs{scope}", references=[ALWAYS_LONG])
    return {f"PnL equity and drawdown{scope}": save_figure(fig, run_dir / "plots" / "pnl_equity.png")}


def shap_plots(run_dir: Path, extra: dict, top_k: int) -> dict:
    from finfusion.evaluate.plots import plot_bar

    paths = {}
    if "shap_groups" in extra:
        shares = extra["shap_groups"].pivot_table(index="group", columns="model", values="share_pct", sort=False)
        fig = plot_bar(shares, "Share of total mean |SHAP| per feature group (%)", horizontal=True,
                       xlabel="share of total (%)")
        paths["SHAP group shares"] = save_figure(fig, run_dir / "plots" / "shap_groups.png")
    if "shap_top" in extra:
        for i, (model, top) in enumerate(extra["shap_top"].groupby("model", sort=False)):
            series = top.drop_duplicates("feature").set_index("feature")["mean_abs_shap"]
            fig = plot_bar(series, f"{model}: top {len(series)} features by mean |SHAP|", horizontal=True,
                           xlabel="mean |SHAP| (log-odds)")
            paths[f"SHAP top features: {model}"] = save_figure(fig, run_dir / "plots" / f"shap_top_{i}.png")
    return paths


def analysis_sections(config: RunConfig, extra: dict, figures: dict) -> list:
    a, sections = config.analysis, []
    if a.references:
        table = pd.DataFrame.from_dict(a.references, orient="index").rename_axis("published").reset_index()
        sections.append(Section("Published results", [
            "Numbers reported in the literature for this benchmark, quoted from the config (analysis.references); "
            "not computed by this run, and possibly on another split or sample rule.", table]))
    if "pnl" in extra:
        sections.append(Section("Simulated long/flat PnL", _pnl_blocks(a.pnl, extra, figures)))
    if "regimes" in extra:
        sections.append(Section("Regimes", ["Metrics per named date range (inclusive); 'unassigned' = in no range.",
                                            extra["regimes"]]))
    if "shap_groups" in extra:
        blocks = ["Exact TreeSHAP attributions (XGBoost pred_contribs) of every test prediction, in log-odds; "
                  "global importance = mean |SHAP| over all test rows of all folds. Every prediction's "
                  "attributions are in predictions.parquet (columns shap_*, shap_base).",
                  "Share of the total mean |SHAP| per feature group, percent (each column sums to 100; nan: the "
                  "model does not read the group; long form in tables/shap_groups.csv).", _wide(extra["shap_groups"], "group", "share_pct"),
                  "Top features per model, mean |SHAP| (long form with shares in tables/shap_top.csv).",
                  _wide(extra["shap_top"].assign(feature=lambda t: t["feature"] + " (" +
                                                 t["mean_abs_shap"].map("{:.3f}".format) + ")"), "rank", "feature"),
                  "Additivity: max |base + Σ SHAP − logit p_1| over the rows.", extra["shap_additivity"]]
        blocks += figure_blocks(figures, "SHAP")
        sections.append(Section("SHAP explanations", blocks))
    if "portfolio" in extra:
        sections.append(Section("Stock selection (decile portfolios)", _portfolio_blocks(config, extra, figures)))
    if "mixture_curves" in extra:
        blocks = ["Training error per epoch of the mixture's factors component, fusion component and the mixture "
                  "itself, mean over seeds and folds, in the units the model fits (the scaled target; cross-entropy "
                  "for classification); see seed 001 Fig. 4a (tables/mixture_curves.csv, every run in "
                  "tables/training_curves.csv).", extra["mixture_curves"].round(4)]
        blocks += figure_blocks(figures, "Mixture")
        if "mixture_gate" in extra:
            blocks += ["Gate vs error on the test rows (Fig. 4b): gap = e_factors − e_fusion per row; gate_spearman = "
                       "rank correlation of gap and the gate's p(fusion) (> 0: the gate follows the errors); "
                       "p_fusion_by_bin = mean p(fusion) in the quintiles of gap, low to high; gate_hit_rate = share "
                       "of rows where the component with the larger weight has the smaller error; MSEs in target "
                       "units.", extra["mixture_gate"]]
        sections.append(Section("Mixture training (seed 001 Fig. 4)", blocks))
    if "privacy_summary" in extra:
        sections.append(Section("Differential privacy", [
            "Each DP model fit at each ε on the training rows of each fold (features scaled on those rows; the "
            "scaler is not private), scored on the fold's test rows; mean over folds and seeds. mia_* = "
            "loss-threshold membership inference (members: the rows fit on; non-members: "
            + (f"a random {a.privacy.holdout:.0%} of the fold's training rows kept out of the fit" if a.privacy.holdout
               else "the fold's test rows, a later period") + "); mia_bound = the largest advantage (ε, δ)-DP "
            "allows. See docs/privacy.md for what each guarantee covers.",
            drop_empty_std(extra["privacy_summary"])]))
    return sections


def _pnl_blocks(cfg, extra: dict, figures: dict) -> list:
    cost = f"{cfg.cost_bps:g} bp per side on turnover"
    rule = "p_1 > {:g}".format(cfg.threshold) if cfg.threshold is not None else "the predicted class is up"
    keys = [c for c in ("point", "seed", "model") if c in extra["pnl"].columns]
    return [f"Long/flat, equal weight over the tickers predicted up ({rule}); net of costs: {cost}. "
            "Returns are realised close-to-close returns from the prices (not labels); "
            + risk_free_note(cfg.risk_free) + " "
            f"'{extra['pnl']['model'].iloc[-1]}' holds every ticker with a prediction (see docs/evaluation.md).",
            extra["pnl"][[*keys, *[c for c in PNL_SHOWN if c in extra["pnl"]]]],
            *figure_blocks(figures, "PnL"),
            "Per test fold (cumulative returns within the fold).",
            extra["pnl_folds"][[*keys, "fold", "cumulative_return_gross", "cumulative_return_net", "sharpe_net"]]]


def _portfolio_blocks(config: RunConfig, extra: dict, figures: dict) -> list:
    p, n_seeds = config.analysis.portfolio, int(extra["portfolio_summary"]["n_seeds"].max())
    return [f"Deciles of the predicted score per date ({p.n_groups} groups; 0 = lowest); long-only = the top "
            "group, long-short = top minus bottom (each leg one unit of capital), equal weight; the universe "
            f"holds every ticker with a prediction; {p.cost_bps:g} bp per side on turnover; returns "
            + ("from the prices over the holding period." if p.returns == "prices" else
               "= each sample's own movement (the benchmark's target day).") + _universe_note(config)
            + " See docs/portfolio.md.",
            f"Seed 001's Table 1 columns (annualised, fractions), {spread_note(n_seeds)}. "
            + risk_free_note(p.risk_free, extra["portfolio"]["periods_per_year"].iloc[0]),
            drop_empty_std(extra["portfolio_summary"]), *figure_blocks(figures, "Portfolio")]


ANALYSIS_FIGURES = ("PnL", "SHAP", "Portfolio", "Mixture")  # figure name prefixes shown in the sections above


def figure_blocks(figures: dict, prefix: str = "") -> list:
    """The report blocks of the figures whose name starts with `prefix`: each an image captioned
    with its name (a str value is a note saying why a chart is not shown)."""
    return [Image(Path(v), caption=k) if isinstance(v, Path) else f"{k}: {v}"
            for k, v in figures.items() if k.startswith(prefix)]


def _universe_note(config: RunConfig) -> str:
    """What the StockNet benchmark's backtest universe holds (its samples are chosen by the realised move)."""
    if config.data.source != "stocknet_benchmark":
        return ""
    b = config.data.benchmark
    note = (" The universe holds the dev/test neutral-band days too (data.benchmark.neutral: predict; predicted, "
            "not scored)." if b.neutral == "predict" else
            " Warning: the universe is the labelled samples only, i.e. chosen with hindsight (a stock that moved "
            "less than the neutral band that day is left out); set data.benchmark.neutral: predict.")
    if b.tweet_cutoff == "none":
        note += (" The protocol's newsflow includes tweets written after the close of d-1, when the position is "
                 "taken (data.benchmark.tweet_cutoff: close removes them).")
    return note


def _wide(table: pd.DataFrame, row: str, value: str) -> pd.DataFrame:
    """`table` pivoted to one row per `row` and one column per model (in model order)."""
    models = list(pd.unique(table["model"]))
    wide = table.pivot_table(index=row, columns="model", values=value, aggfunc="first", sort=False)
    return wide[models].reset_index().rename_axis(columns=None)


def portfolio_plots(run_dir: Path, extra: dict, backtests: dict) -> dict:
    from finfusion.portfolio import plot_cumulative_returns, plot_decile_returns

    paths = {}
    for i, (point, result) in enumerate(backtests.items()):
        suffix = "" if len(backtests) == 1 else f" ({point})"
        deciles = extra["portfolio_deciles"]
        means = deciles[deciles["point"] == point].drop(columns="point").set_index("group")
        table = extra["portfolio"]
        names = table["model"].dropna() if "model" in table.columns else table["method"]
        order = [m for m in pd.unique(names) if m in means.columns]  # the run's model order
        means = means[order + [c for c in means.columns if c not in order]]
        paths[f"Portfolio deciles{suffix}"] = save_figure(plot_decile_returns(means), run_dir / "plots" / f"deciles_{i}.png")
        seeds = result.periods["seed"].dropna() if "seed" in result.periods else pd.Series(dtype=float)
        if seeds.nunique() > 1:  # one line per model: the first seed's books (all seeds are in the tables)
            first = seeds.iloc[0]
            result = replace(result, periods=result.periods[result.periods["seed"].isna()
                                                            | (result.periods["seed"] == first)])
            suffix += f", seed {first:g}"
        paths[f"Portfolio cumulative returns and drawdowns{suffix}"] = save_figure(
            plot_cumulative_returns(result), run_dir / "plots" / f"cumulative_{i}.png")
        if "portfolio_ic" in extra:
            ic = extra["portfolio_ic"]
            ic = ic[ic["point"] == point]
            ic = ic.assign(model=ic["model"] if "model" in ic.columns else ic["method"], ic=ic["rank_ic"])
            per_date = ic.groupby(["model", "date"], sort=False)["ic"].mean().reset_index()  # mean over seeds
            window = min(IC_WINDOW, max(2, per_date["date"].nunique() // 4))
            fig = plot_ic_over_time(per_date, window=window, title="Rank IC of the score per rebalance date")
            paths[f"Portfolio rank IC over time{'' if len(backtests) == 1 else f' ({point})'}"] = save_figure(
                fig, run_dir / "plots" / f"portfolio_ic_{i}.png")
    return paths
