"""What an RL portfolio run writes (experiments.rl_runner), all from the test-period daily frames:

    <run>/daily.parquet           every strategy's daily rows (group, commission, strategy, seed, ...)
    <run>/metrics.csv             rl_metrics per (group, commission, strategy, seed)
    <run>/tables/overall.*        per group: baselines and variants at the base commission, mean (std) over seeds
    <run>/tables/ablation.*       SB / SBA / SBC / SBCA per group, with the seeds that beat equal weight
    <run>/tables/cost_sensitivity.*  Sharpe per strategy and commission, mean (std) over seeds
    <run>/tables/training_curves.csv  per epoch: rewards, A2C losses, validation value
    <run>/plots/*.png             equity and drawdown over the test period; validation value and reward per epoch
    <run>/summary.json            periods, text coverage, wall time, steps per second
    <run>/report.html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import finfusion.io as io
from finfusion.evaluate.performance import risk_free_note
from finfusion.evaluate.plots import save_figure
from finfusion.evaluate.report import Image, Section, config_section, render_report, warning_sections, write_report
from finfusion.evaluate.tables import mean_std_table, spread_note, to_markdown
from finfusion.evaluate.tearsheet import plot_equity_drawdown, plot_training_curves
from finfusion.experiments.rundir import environment, recorded_warnings
from finfusion.portfolio.rl.metrics import rl_metrics

BASELINES = ("Equal Weight", "Buy & Hold", "Market")
CURVES = {"valid_value": "validation value (deterministic policy)", "train_reward_mean": "mean training reward per step"}
SHOWN = ("final_value", "annual_return", "sharpe", "sortino", "max_drawdown", "calmar", "avg_turnover")


@dataclass(frozen=True)
class RlResult:
    run_dir: Path
    daily: pd.DataFrame  # group, commission, strategy, seed, date, value, net_return, turnover, w_*
    curves: pd.DataFrame  # group, commission, variant, seed, epoch, ...
    summary: dict


def metrics_frame(daily: pd.DataFrame, risk_free: float) -> pd.DataFrame:
    """One row of rl_metrics per (group, commission, strategy, seed)."""
    keys = ["group", "commission", "strategy", "seed"]
    rows = [{**dict(zip(keys, k)), **rl_metrics(part, risk_free=risk_free)}
            for k, part in daily.groupby(keys, sort=False, dropna=False)]
    return pd.DataFrame(rows)


def overall_table(metrics: pd.DataFrame, commission: float, strategies: list[str]) -> pd.DataFrame:
    """Per group and strategy: mean (std over seeds) of each metric at `commission`."""
    base = metrics[(metrics["commission"] == commission) & metrics["strategy"].isin(strategies)]
    parts = []
    for group, rows in base.groupby("group", sort=False):
        cells = [mean_std_table(rows, metric=m, row="strategy", fmt="{:.4f}") for m in SHOWN]
        table = pd.concat(cells, axis=1).reindex([s for s in strategies if s in set(rows["strategy"])])
        parts.append(table.reset_index().assign(group=group))
    out = pd.concat(parts, ignore_index=True)
    return out[["group", "strategy", *SHOWN]]


def versus_equal_weight(metrics: pd.DataFrame, commission: float, variants: list[str]) -> pd.DataFrame:
    """Per group and variant: how many seeds end above equal weight after costs, and the mean
    difference of final value and Sharpe (variant − equal weight) over seeds."""
    base = metrics[metrics["commission"] == commission]
    rows = []
    for group, part in base.groupby("group", sort=False):
        ew = part[part["strategy"] == "Equal Weight"].iloc[0]
        for variant in variants:
            v = part[part["strategy"] == variant]
            rows.append({"group": group, "strategy": variant, "seeds": len(v),
                         "seeds_above_equal_weight": int((v["final_value"] > ew["final_value"]).sum()),
                         "final_value_minus_ew": float((v["final_value"] - ew["final_value"]).mean()),
                         "sharpe_minus_ew": float((v["sharpe"] - ew["sharpe"]).mean()),
                         "equal_weight_final_value": float(ew["final_value"])})
    return pd.DataFrame(rows)


def cost_table(metrics: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Sharpe, mean (std) over seeds, per (group, strategy) and commission."""
    parts = []
    for group in groups:
        rows = metrics[metrics["group"] == group]
        if rows["commission"].nunique() < 2:
            continue
        table = mean_std_table(rows.assign(commission=rows["commission"].map(lambda c: f"{c:.2%}")),
                               metric="sharpe", row="strategy", col="commission", fmt="{:.3f}",
                               col_order=[f"{c:.2%}" for c in sorted(rows["commission"].unique())])
        parts.append(table.reset_index().assign(group=group))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    return out[["group", *[c for c in out.columns if c != "group"]]]


def speed_table(timing: list[dict]) -> pd.DataFrame:
    """Per variant: agents trained, mean epochs, environment + A2C training steps per second."""
    frame = pd.DataFrame(timing)
    grouped = frame.groupby("strategy", sort=False)
    out = pd.DataFrame({"agents": grouped.size(), "mean_epochs": grouped["epochs"].mean(),
                        "timesteps": grouped["timesteps"].sum(), "train_seconds": grouped["train_seconds"].sum()})
    out["steps_per_second"] = out["timesteps"] / out["train_seconds"]
    return out.rename_axis("variant").reset_index()


def write_rl_outputs(config, result, *, wall_seconds: float):

    run_dir = result.run_dir
    variants = [v.upper() for v in config.variants]
    strategies = [*BASELINES, *variants]
    metrics = metrics_frame(result.daily, config.risk_free)
    io.write_parquet(run_dir / "daily.parquet", result.daily)
    io.write_text(run_dir / "metrics.csv", metrics.to_csv(index=False))
    base = config.env.commission
    tables = {"overall": overall_table(metrics, base, strategies),
              "versus_equal_weight": versus_equal_weight(metrics, base, variants),
              "ablation": overall_table(metrics, base, variants),
              "speed": speed_table(result.summary["timing"])}
    cost = cost_table(metrics, list(config.groups))
    if not cost.empty:
        tables["cost_sensitivity"] = cost
    for name, table in tables.items():
        io.write_text(run_dir / "tables" / f"{name}.md", to_markdown(table) + "\n")
        io.write_text(run_dir / "tables" / f"{name}.csv", table.to_csv(index=False))
    io.write_text(run_dir / "tables" / "training_curves.csv", result.curves.to_csv(index=False))
    summary = {**result.summary["facts"], "wall_seconds": wall_seconds,
               "steps_per_second": tables["speed"].set_index("variant")["steps_per_second"].round(1).to_dict(),
               "environment": environment(), "warnings": recorded_warnings(run_dir)}
    io.write_json(run_dir / "summary.json", summary)
    figures = _plots(run_dir, result, base, strategies) if config.output.plots else {}
    if config.output.report:
        _report(run_dir, config, summary, tables, figures)
    return RlResult(run_dir, result.daily, result.curves, {**result.summary, **summary, "metrics": metrics,
                                                            "tables": tables})


def _plots(run_dir: Path, result, commission: float, strategies: list[str]) -> dict:
    """Per group: equity and drawdown of every strategy at the base commission (the agents' first
    seed; the baselines are deterministic) and the agents' training curves, mean ± std over seeds."""
    daily, curves = result.daily, result.curves
    first_seed = curves["seed"].iloc[0] if len(curves) else None
    paths = {}
    for i, (group, rows) in enumerate(daily[daily["commission"] == commission].groupby("group", sort=False)):
        series = {}
        for name in strategies:
            part = rows[(rows["strategy"] == name) & (rows["seed"].isna() | (rows["seed"] == first_seed))]
            if len(part):
                series[name] = part.assign(date=pd.to_datetime(part["date"])).set_index("date")["net_return"]
        fig = plot_equity_drawdown(series, title=f"{group}: test period, net of a {commission:.2%} commission "
                                   f"(agents: seed {first_seed})", references=BASELINES)
        paths[f"Equity and drawdown, {group}"] = save_figure(fig, run_dir / "plots" / f"value_{i}.png")
        part = curves[(curves["group"] == group) & (curves["commission"] == commission)]
        long = part.melt(id_vars=["variant", "seed", "epoch"], value_vars=list(CURVES), var_name="series")
        fig = plot_training_curves(long.assign(series=long["series"].map(CURVES)), panel="series", line="variant",
                                   ylabel="per epoch", ncols=2)
        paths[f"Training curves, {group} (mean ± 1 std over seeds)"] = save_figure(
            fig, run_dir / "plots" / f"curves_{i}.png")
    return paths


def _report(run_dir: Path, config, summary: dict, tables: dict, figures: dict) -> None:
    facts = {"tickers": ", ".join(summary["tickers"]), "text": summary["text"],
             "wall time": f"{summary['wall_seconds']:.0f} s"}
    for group, periods in summary["periods"].items():
        facts[f"periods ({group})"] = "; ".join(f"{k} {v}" for k, v in periods.items())
        missing = summary["text_missing"][group]
        facts[f"asset-days without text ({group})"] = ", ".join(f"{k} {v:,}" for k, v in missing.items())
    e = config.env
    sections = [
        *warning_sections(summary["warnings"]),
        Section("Setup", [f"Long-only daily portfolios (docs/rl.md): the action for day t is decided at the close of "
                          f"t-1 from the last {e.window} days; EMA {e.ema_alpha:g}; commission {e.commission:.2%} on "
                          f"turnover; reward log return − {e.lambda_risk:g}·min(0, log return)² − "
                          f"{e.lambda_turn:g}·turnover. Agents: SB3 A2C (SB, SBC: Monte-Carlo returns with a learned "
                          "baseline; SBA, SBCA: 5-step GAE actor-critic; C = gated cross-modal fusion), early-stopped "
                          f"on the validation value, seeds {config.seeds}. Days without text are neutral (0).", facts]),
        Section("Overall comparison", [f"Test period, agents: {spread_note(len(config.seeds))}; baselines are "
                                       "deterministic. "
                                       + risk_free_note(config.risk_free) + " Market = "
                                       + ("the given index (market_index)." if config.market_index else
                                          "the equal-weight universe without costs (no index given)."),
                                       tables["overall"], "Variants against equal weight after costs.",
                                       tables["versus_equal_weight"]]),
        *([Section("Charts", [Image(Path(path), caption=name) for name, path in figures.items()])] if figures else []),
        Section("Ablation (SB / SBA / SBC / SBCA)", [tables["ablation"]]),
    ]
    if "cost_sensitivity" in tables:
        sections.append(Section("Cost sensitivity", ["Sharpe on the test period per commission; the agents are "
                                                     "retrained at each commission; "
                                                     f"{spread_note(len(config.seeds))}. "
                                                     + risk_free_note(config.risk_free),
                                                     tables["cost_sensitivity"]]))
    sections.append(Section("Speed", ["Environment + A2C training steps per second (one torch thread).",
                                      tables["speed"]]))
    sections.append(config_section(config))
    write_report(run_dir / "report.html", render_report(title=f"finfusion RL run: {config.name}", sections=sections))
