"""The seed003_direction recipe: its design, and the whole comparison (variants, folds, tests,
PnL, regimes, SHAP, DP table) end to end on a small generated StockNet copy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError
from finfusion.evaluate.privacy import EPSILONS
from finfusion.experiments import runner
from finfusion.experiments.config import load_config
from finfusion.experiments.recipes import recipe_path
from finfusion.models.registry import make_predictor

WORDS = [["$", "x", "great", "quarter", "bullish"], ["$", "x", "terrible", "news", "sell"], ["$", "x", "meeting"]]
TICKERS = ("AAA", "BBB", "CCC")


def generated_stocknet(root: Path, n_days: int = 330) -> Path:
    """Prices from 2013-01-01 (GARCH warm-up) and tweets from 2014-01-01, StockNet's layout."""
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2013-01-01", periods=n_days)
    (root / "price" / "raw").mkdir(parents=True)
    for ticker in TICKERS:
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.015, n_days)))
        pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": close, "High": close * 1.01, "Low": close * 0.99,
                      "Close": close, "Adj Close": close, "Volume": rng.integers(1e5, 1e6, n_days)}).to_csv(
            root / "price" / "raw" / f"{ticker}.csv", index=False)
        tweets = root / "tweet" / "preprocessed" / ticker
        tweets.mkdir(parents=True)
        for day in dates[dates >= "2014-01-01"]:
            lines = [{"text": WORDS[int(rng.integers(0, 3))],
                      "created_at": (day + pd.Timedelta(hours=h)).strftime("%a %b %d %H:%M:%S +0000 %Y"),
                      "user_id_str": "1"} for h in (14, 18, 23)]
            (tweets / day.strftime("%Y-%m-%d")).write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return root


def test_recipe_states_the_seed003_design():
    config = load_config(recipe_path("seed003_direction"))
    labels = [m.display for m in config.models]
    assert labels == ["T", "T+M", "All numeric", "T+V", "T+F", "T+F-V", "T+F-M"]
    for spec in config.models:  # XGBoost with the paper's defaults
        params = make_predictor(spec.name, spec.params).get_params()
        assert (params["max_depth"], params["learning_rate"], params["n_estimators"]) == (6, 0.05, 300)
        assert (params["subsample"], params["colsample_bytree"]) == (0.8, 0.8)
    by_label = {m.display: set(m.features) for m in config.models}
    assert by_label["T+F"] - by_label["T+F-V"] == {"volatility"}
    assert by_label["T+F"] - by_label["T+F-M"] == {"momentum"}
    assert by_label["T+F"] - by_label["All numeric"] == {"sentiment_ft"}
    assert by_label["T+V"] - by_label["All numeric"] == {"sentiment_vader"}
    p = config.protocol
    assert (p.kind, p.train_size, p.test_size, p.n_folds, p.unit) == ("walk_forward", 250, 37, 5, "days")
    assert config.target.kind == "direction" and config.data.tickers is None  # every ticker
    specs = {s.name: s for s in config.features.sentiment}
    assert specs["vader"].scorer == "vader" and Path(specs["ft"].scorer).name == "sentiment-allagree"
    assert all(s.decay_basis == "time_of_day" and s.fill == "ffill" for s in specs.values())
    a = config.analysis
    assert a.pnl.cost_bps == 5 and len(a.regimes) >= 3 and a.shap.top_k == 10
    assert tuple(a.privacy.epsilons) == EPSILONS and {m.name for m in a.privacy.models} == {"dp_mlp", "dp_logistic"}


def test_a_missing_classifier_fails_before_the_run_with_how_to_make_one(tmp_path):
    root = generated_stocknet(tmp_path / "stocknet", n_days=300)
    config = load_config(recipe_path("seed003_direction"), [f"data.stocknet_root={root}",
                         f"features.sentiment.1.scorer={tmp_path / 'no-such-model'}"])
    with pytest.raises(ConfigError, match="finfusion sentiment train"):
        runner.run(config, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_recipe_runs_the_whole_comparison(tmp_path, monkeypatch):
    root = generated_stocknet(tmp_path / "stocknet")
    regimes = {"march": ["2014-03-01", "2014-03-31"], "april": ["2014-04-01", "2014-04-30"]}
    config = load_config(recipe_path("seed003_direction"), [
        f"data.stocknet_root={root}", "features.sentiment.1.scorer=lm",
        "protocol.train_size=30", "protocol.test_size=10", "protocol.n_folds=3",
        f"analysis.regimes={json.dumps(regimes)}",
        "analysis.privacy.epsilons=[1.0, .inf]", "analysis.privacy.folds=[2]",
        "analysis.privacy.models.0.params.epochs=1", "analysis.privacy.models.0.params.batch_size=16",
    ])
    result = runner.run(config, run_dir=tmp_path / "run", progress=False)
    tables = tmp_path / "run" / "tables"
    read = lambda name: pd.read_csv(tables / f"{name}.csv")  # noqa: E731
    fold_means = read("fold_means")
    assert list(fold_means["model"]) == [m.display for m in config.models]
    assert (fold_means["n_folds"] == 3).all()
    significance = read("significance")
    assert set(significance["metric"]) == {"accuracy", "f1", "roc_auc"}
    assert {"p_t", "p_wilcoxon"} <= set(significance.columns)
    pnl = read("pnl")
    assert "Always long (benchmark)" in set(pnl["model"]) and (pnl["cumulative_return_net"].notna()).all()
    assert (pnl["cumulative_return_net"] <= pnl["cumulative_return_gross"] + 1e-12).all()  # costs only subtract
    regime = read("regimes")
    assert {"march", "april"} <= set(regime["regime"])
    shares = read("shap_groups")
    assert shares.groupby("model")["share_pct"].sum().to_numpy() == pytest.approx(100.0)
    groups = shares.groupby("model")["group"].apply(set)
    assert "sentiment_vader" in groups["T+V"] and "sentiment_ft" in groups["T+F"]
    assert not any(g.startswith("sentiment") for g in groups["T"]) and "volatility" not in groups["T+F-V"]
    assert (read("shap_additivity")["max_abs_error"] < 1e-3).all()
    privacy = read("privacy")
    assert len(privacy) == 2 * 2 and set(privacy["fold"]) == {2}  # two models x two budgets, fold 2 only
    assert {"mia_advantage", "mia_bound", "auc", "f1", "pnl_net"} <= set(privacy.columns)
    assert math.isinf(privacy["epsilon"].max())
    private = privacy[np.isfinite(privacy["epsilon"])]
    assert (private["epsilon_spent"] <= 1.0 + 1e-6).all()
    preds = result.predictions
    tf = preds[preds["model"] == "T+F"]
    assert tf.filter(like="shap_sent_ft_").notna().all().all()  # each prediction's local attributions
    html = (tmp_path / "run" / "report.html").read_text()
    for title in ("Simulated long/flat PnL", "Regimes", "SHAP explanations", "Differential privacy"):
        assert title in html

    # a resumed run reuses the stored DP fits (units) instead of refitting every DP model
    monkeypatch.setattr(runner, "privacy_fit", lambda *a, **k: pytest.fail("privacy refit on resume"))
    again = runner.run(None, run_dir=tmp_path / "run", resume=True, progress=False)
    pd.testing.assert_frame_equal(pd.read_csv(tables / "privacy.csv"), privacy)
    pd.testing.assert_frame_equal(again.predictions, result.predictions)
