"""RL portfolio experiments (kind: rl) end to end: recipes, text from the scorer, tables, resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError
from finfusion.experiments.config import load_config, parse_config
from finfusion.experiments.recipes import recipe_path
from finfusion.experiments.rl_runner import group_windows, market_frames, run_rl
from finfusion.portfolio.rl import equal_weight, rl_metrics
from tests.experiments.test_seed003_recipe import generated_stocknet

TINY = ["seeds=[1]", "agent.epochs=2", "agent.patience=1", "output.plots=false", "progress=false"]


def test_seed002_recipes_state_the_paper_design():
    config = load_config(recipe_path("seed002_portfolio"))
    assert [len(t) for t in config.groups.values()] == [2, 4, 6]
    e = config.env
    assert (e.window, e.commission, e.ema_alpha, e.lambda_risk, e.lambda_turn) == (30, 0.0025, 0.4, 0.1, 0.005)
    assert (config.agent.gamma, config.agent.epochs) == (0.99, 30) and config.variants == ["SB", "SBA", "SBC", "SBCA"]
    assert len(config.seeds) == 5 and config.commissions == [0.0025, 0.001, 0.005, 0.01]
    assert config.price_column == "adj_close" and config.text.source == "scorer"
    sim = load_config(recipe_path("seed002_simulation"))
    assert sim.data.source == "simulate" and sim.text.source == "truth" and sim.data.simulate.n_tickers == 6


def test_bad_rl_configs_fail_with_the_key():
    raw = {"kind": "rl", "groups": {"g": ["A", "B"]}, "split": {"train_end": "2020-06-30", "valid_end": "2020-09-30"}}
    parse_config(raw)
    with pytest.raises(ConfigError, match="variants"):
        parse_config({**raw, "variants": ["SBX"]})
    with pytest.raises(ConfigError, match="at least 2 tickers"):
        parse_config({**raw, "groups": {"g": ["A"]}})
    with pytest.raises(ConfigError, match="truth"):
        parse_config({**raw, "data": {"source": "stocknet", "stocknet_root": "x"}, "text": {"source": "truth"}})
    with pytest.raises(ConfigError, match="cost_sensitivity.groups"):
        parse_config({**raw, "cost_sensitivity": {"groups": ["h"]}})


def test_simulation_run_writes_the_tables_and_resume_reuses_the_agents(tmp_path):
    overrides = [*TINY, "data.simulate.n_days=260", "split.train_end=2020-07-31", "split.valid_end=2020-09-30",
                 "cost_sensitivity.commissions=[0.001]", "variants=[SB, SBCA]"]
    config = load_config(recipe_path("seed002_simulation"), overrides)
    result = run_rl(config, run_dir=tmp_path / "run")
    tables = result.summary["tables"]
    assert set(tables["overall"]["strategy"]) == {"Equal Weight", "Buy & Hold", "Market", "SB", "SBCA"}
    assert list(tables["overall"]["group"].unique()) == ["2 assets", "6 assets"]
    cost = tables["cost_sensitivity"]
    assert set(cost["group"]) == {"6 assets"} and {"commission=0.10%", "commission=0.25%"} <= set(cost.columns)
    assert (tmp_path / "run" / "report.html").exists() and (tmp_path / "run" / "tables" / "ablation.md").exists()
    # the equal-weight row is the library baseline on the group's test window
    returns, text, _ = market_frames(config)
    (_, _, test), _ = group_windows(config, returns, text, config.groups["2 assets"])
    expected = rl_metrics(equal_weight(test, window=30, commission=0.0025))
    metrics = result.summary["metrics"]
    row = metrics[(metrics["group"] == "2 assets") & (metrics["strategy"] == "Equal Weight")
                  & (metrics["commission"] == 0.0025)].iloc[0]
    assert row["final_value"] == pytest.approx(expected["final_value"])
    # every strategy covers the same test days
    daily = result.daily[(result.daily["group"] == "2 assets") & (result.daily["commission"] == 0.0025)]
    assert daily.groupby("strategy")["date"].nunique().nunique() == 1
    again = run_rl(None, run_dir=tmp_path / "run", resume=True)
    pd.testing.assert_frame_equal(again.summary["metrics"], metrics)
    timing = pd.DataFrame(result.summary["timing"])
    assert (timing["steps_per_second"] > 0).all() and len(timing) == 2 * 2 + 2 * 1  # groups x variants + costs


def test_stocknet_text_is_the_daily_scored_sentiment_and_days_without_tweets_are_counted(tmp_path):
    root = generated_stocknet(tmp_path / "stocknet")
    config = load_config(recipe_path("seed002_portfolio"), [
        *TINY, f"data.stocknet_root={root}", "data.start=2013-01-01", "text.sentiment.scorer=lm",
        "groups={g: [AAA, BBB, CCC]}", "split.train_end=2013-11-29", "split.valid_end=2014-01-31",
        "cost_sensitivity=null", "price_column=close"])
    returns, text, facts = market_frames(config)
    assert text.index.equals(returns.index) and list(text.columns) == ["AAA", "BBB", "CCC"]
    assert text.loc[:"2013-12-31"].isna().all().all()  # tweets start in 2014: no text, neutral, counted
    assert text.loc["2014-01-03":].notna().all().all() and ((text.abs() <= 1) | text.isna()).all().all()
    result = run_rl(config, run_dir=tmp_path / "run")
    missing = result.summary["facts"]["text_missing"]["g"]
    assert missing["train"] > 0 and missing["test"] == 0
    assert np.isfinite(result.summary["metrics"]["final_value"]).all()
