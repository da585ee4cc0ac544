"""The seed001_selection recipe end to end on a small generated StockNet copy: newsflow items,
the seed-001 models and the decile portfolio table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from finfusion.experiments import plan, runner
from finfusion.experiments.config import load_config
from finfusion.experiments.recipes import recipe_path
from tests.experiments.test_seed003_recipe import generated_stocknet


def test_recipe_states_the_seed001_design():
    config = load_config(recipe_path("seed001_selection"))
    names = [m.name for m in config.models]
    assert names == ["factors", "news", "finin", "fusion_concat", "fusion_sum", "fusion_attention", "mixture", "mixture"]
    assert [m.params.get("mode") for m in config.models[-2:]] == ["conventional", "decoupled"]
    assert (config.target.kind, config.target.horizon) == ("return", 5)
    assert config.text.enabled and config.text.lookback_days == 5
    p = config.analysis.portfolio
    assert (p.n_groups, p.cost_bps, p.returns) == (10, 5.0, "prices")


def test_recipe_runs_models_on_newsflow_items_and_builds_the_portfolio_table(tmp_path, tiny_bert):
    root = generated_stocknet(tmp_path / "stocknet")
    text = {"model": str(tiny_bert), "max_length": 16, "epochs": 2, "lr": 3e-3}
    models = [{"name": "factors", "label": "Factors Alone", "params": {"epochs": 2}},
              {"name": "fusion_concat", "label": "Fusion Combination", "params": text},
              {"name": "mixture", "label": "Mixture Decoupled", "params": {**text, "mode": "decoupled"}}]
    config = load_config(recipe_path("seed001_selection"), [
        f"data.stocknet_root={root}", f"models={json.dumps(models)}", "analysis.portfolio.n_groups=3",
        "sweep.seeds=[0]", "output.plots=false", "progress=false"])
    _, samples = plan.build_inputs([config]).by_key[plan.data_key(config)]
    assert samples.text_items is not None and any(samples.text_items)
    assert all(len(i) <= 32 for i in samples.text_items)
    assert samples.texts == tuple(" | ".join(i) for i in samples.text_items)
    result = runner.run(config, run_dir=tmp_path / "run")
    table = pd.read_csv(tmp_path / "run" / "tables" / "portfolio_summary.csv")
    assert set(table["method"]) == {"Factors Alone", "Fusion Combination", "Mixture Decoupled", "Universe"}
    assert np.isfinite(table.loc[table["method"] != "Universe", "rank_ic"]).all()
    periods = pd.read_csv(tmp_path / "run" / "tables" / "portfolio.csv")
    assert (periods["n_periods"] > 0).all()
    dates = np.sort(result.predictions["date"].unique())
    assert len(dates) > 10
    curves = pd.read_csv(tmp_path / "run" / "tables" / "training_curves.csv")
    assert set(curves["model"]) == {"Factors Alone", "Fusion Combination", "Mixture Decoupled"}
    assert set(curves.loc[curves["model"] == "Factors Alone", "series"]) == {"train_loss"}
    mixture = pd.read_csv(tmp_path / "run" / "tables" / "mixture_curves.csv")
    assert mixture["model"].unique().tolist() == ["Mixture Decoupled"] and mixture["epoch"].tolist() == [0, 1]
    assert np.isfinite(mixture[["factors", "fusion", "mixture"]].to_numpy()).all()
    gate = pd.read_csv(tmp_path / "run" / "tables" / "mixture_gate.csv")
    assert gate["model"].tolist() == ["Mixture Decoupled"] and -1 <= gate["gate_spearman"].iloc[0] <= 1
    preds = result.predictions
    mix = preds[preds["model"] == "Mixture Decoupled"]
    assert mix[["component_factors", "component_fusion"]].notna().all().all()
    assert preds.loc[preds["model"] != "Mixture Decoupled", "component_factors"].isna().all()
    assert "Mixture training (seed 001 Fig. 4)" in (tmp_path / "run" / "report.html").read_text()


def test_stocknet_recipe_backtests_every_stock_of_each_dev_day_and_sweeps_the_tweet_cutoff():
    config = load_config(recipe_path("stocknet"))
    b, p = config.data.benchmark, config.analysis.portfolio
    assert (b.rule, b.neutral, b.tweet_cutoff) == ("paper", "predict", "none")
    assert config.sweep.params == {"data.benchmark.rule": ["paper", "any_tweet", "code"],
                                   "data.benchmark.tweet_cutoff": ["close"]}
    assert (p.n_groups, p.holding_period, p.returns) == (10, 1, "truth_movement")
    assert len(plan.plan_units(config)) == 4 * 15 * 5
    floors = [m.display for m in config.models if m.name in ("prior", "logistic")]
    assert floors == ["Train prior", "Logistic (lagged returns)", "Logistic (lagged returns + tweet count)"]
    assert {"adv_alstm", "han", "stocknet"} <= {m.name for m in config.models}
    assert [m.params for m in config.models if m.params.get("news_pooling")] == [{"news_pooling": "attention"}]


def test_lora_recipe_compares_the_same_model_frozen_and_fine_tuned():
    config = load_config(recipe_path("seed001_lora"))
    frozen, lora = config.models
    assert frozen.name == lora.name == "fusion_concat"
    assert {k: v for k, v in lora.params.items() if k != "tuning"} == frozen.params
    assert lora.params["tuning"] == "lora" and frozen.params.get("tuning", "frozen") == "frozen"
