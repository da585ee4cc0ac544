"""The `analysis:` section: PnL with the always-long benchmark, regimes with PnL, SHAP tables
from the prediction columns, the privacy table over walk-forward folds, and config checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError
from finfusion.experiments.analysis import (
    ALWAYS_LONG,
    feature_group_map,
    pnl_tables,
    regime_table,
    scaled_split,
    shap_tables,
)
from finfusion.experiments.config import PnlConfig, parse_config
from finfusion.models.base import Samples
from finfusion.protocols.splitters import Split

DATES = pd.to_datetime(["2015-01-05", "2015-01-06", "2015-01-07"])
# simple returns from the close of each date to the next close
RETURNS = pd.DataFrame({
    "date": np.repeat(DATES, 2),
    "ticker": ["A", "B"] * 3,
    "return": [0.10, -0.05, -0.02, 0.04, 0.01, 0.03],
})


def predictions() -> pd.DataFrame:
    """One model: long A on day 1, long A and B on day 2, long B on day 3 (two folds)."""
    return pd.DataFrame({
        "date": np.repeat(DATES, 2),
        "ticker": ["A", "B"] * 3,
        "y_true": [1, 0, 0, 1, 1, 1],
        "y_pred": [1, 0, 1, 1, 0, 1],
        "p_1": [0.7, 0.4, 0.6, 0.8, 0.3, 0.9],
        "fold": [0, 0, 0, 0, 1, 1],
        "model": "M",
        "seed": 0,
        "point": "base",
    })


def test_pnl_by_hand_with_costs_and_the_always_long_benchmark():
    tables = pnl_tables(predictions(), RETURNS, PnlConfig(cost_bps=10))
    whole = tables["pnl"].set_index("model")
    # M: day 1 long A (+10 %), day 2 half A half B (+1 %), day 3 long B (+3 %)
    gross = 1.10 * 1.01 * 1.03 - 1
    assert whole.loc["M", "cumulative_return_gross"] == pytest.approx(gross)
    # turnover 1 (enter A), 1 (A 1 -> 0.5, B 0 -> 0.5), 1 (A 0.5 -> 0, B 0.5 -> 1); 10 bp each
    net = (1.10 - 0.001) * (1.01 - 0.001) * (1.03 - 0.001) - 1
    assert whole.loc["M", "cumulative_return_net"] == pytest.approx(net)
    # benchmark: equal weight A and B every day, turnover 1 on the first day only
    bench = (1 + 0.025 - 0.001) * (1 + 0.01) * (1 + 0.02) - 1
    assert whole.loc[ALWAYS_LONG, "cumulative_return_net"] == pytest.approx(bench)
    folds = tables["pnl_folds"].set_index(["model", "fold"])
    assert folds.loc[("M", 1), "cumulative_return_gross"] == pytest.approx(0.03)
    assert set(tables["pnl_folds"]["model"]) == {"M", ALWAYS_LONG}


def test_pnl_threshold_uses_the_probability():
    table = pnl_tables(predictions(), RETURNS, PnlConfig(cost_bps=0, threshold=0.75))["pnl"].set_index("model")
    # p_1 > 0.75: day 2 long B (+4 %), day 3 long B (+3 %)
    assert table.loc["M", "cumulative_return_gross"] == pytest.approx(1.04 * 1.03 - 1)


def test_regime_table_has_metrics_and_pnl_per_regime():
    regimes = {"first": ["2015-01-05", "2015-01-06"], "last": ["2015-01-07", "2015-01-07"]}
    table = regime_table(predictions(), regimes, RETURNS, PnlConfig(cost_bps=0)).set_index(["regime", "model"])
    assert table.loc[("first", "M"), "n"] == 4
    assert table.loc[("first", "M"), "accuracy"] == pytest.approx(3 / 4)
    assert table.loc[("first", "M"), "cumulative_return_gross"] == pytest.approx(1.10 * 1.01 - 1)
    assert table.loc[("last", ALWAYS_LONG), "cumulative_return_gross"] == pytest.approx(0.02)
    assert "unassigned" not in table.index.get_level_values("regime")
    without_pnl = regime_table(predictions(), regimes, None, None)
    assert "cumulative_return_net" not in without_pnl and ALWAYS_LONG not in set(without_pnl["model"])


def test_each_feature_goes_to_its_smallest_group():
    groups = {"sentiment": ("sent_a_mean", "sent_b_mean"), "sentiment_a": ("sent_a_mean",),
              "sentiment_b": ("sent_b_mean",), "technical": ("rsi_14",)}
    assert feature_group_map(groups) == {"sent_a_mean": "sentiment_a", "sent_b_mean": "sentiment_b",
                                         "rsi_14": "technical"}


def shap_frame() -> pd.DataFrame:
    values = np.array([[0.5, -0.2, 0.1], [-0.3, 0.4, 0.0], [0.1, 0.0, -0.6]])
    base = np.full(3, -0.1)
    margin = base + values.sum(axis=1)
    frame = pd.DataFrame({"date": pd.Timestamp("2015-01-05"), "ticker": ["A", "B", "C"], "y_true": 1, "y_pred": 1,
                          "fold": 0, "point": "base", "seed": 0, "model": "X", "p_1": 1 / (1 + np.exp(-margin))})
    for j, name in enumerate(["rsi_14", "sent_a_mean@t-1", "vol_5"]):
        frame[f"shap_{name}"] = values[:, j]
    frame["shap_base"] = base
    other = pd.DataFrame({"date": pd.Timestamp("2015-01-05"), "ticker": ["A"], "y_true": 1, "y_pred": 1, "fold": 0,
                          "point": "base", "seed": 0, "model": ["Y"], "p_1": [0.5]})  # not explained
    return pd.concat([frame, other], ignore_index=True)


def test_shap_tables_rank_features_and_share_groups():
    groups = {"rsi_14": "technical", "sent_a_mean": "sentiment_a"}
    tables = shap_tables(shap_frame(), groups, top_k=2)
    top = tables["shap_top"]
    # mean |SHAP|: rsi_14 0.9/3, sent_a_mean@t-1 0.6/3, vol_5 0.7/3
    assert list(top["feature"]) == ["rsi_14", "vol_5"]
    assert top["mean_abs_shap"].tolist() == pytest.approx([0.3, 0.7 / 3])
    assert top["rank"].tolist() == [1, 2]
    shares = tables["shap_groups"].set_index("group")
    assert shares["share_pct"].sum() == pytest.approx(100.0)
    total = 0.9 / 3 + 0.6 / 3 + 0.7 / 3
    assert shares.loc["technical", "share_pct"] == pytest.approx(100 * 0.3 / total)
    assert shares.loc["sentiment_a", "share_pct"] == pytest.approx(100 * 0.2 / total)  # '@t-1' maps to its group
    assert shares.loc["ungrouped", "n_features"] == 1  # vol_5 is in no group: reported, not dropped
    assert set(tables["shap_additivity"]["model"]) == {"X"}
    assert tables["shap_additivity"]["max_abs_error"].item() < 1e-9


def test_shap_additivity_column_reveals_attributions_that_do_not_add_up():
    frame = shap_frame()
    frame.loc[0, "shap_rsi_14"] += 0.5
    error = shap_tables(frame, {}, top_k=3)["shap_additivity"]["max_abs_error"].item()
    assert error == pytest.approx(0.5)


def test_privacy_split_scales_on_training_rows_only():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    index = pd.DataFrame({"date": pd.bdate_range("2015-01-01", periods=10), "ticker": "A"})
    samples = Samples(X=X, y=np.array([0, 1] * 5), index=index, feature_names=("a", "b"))
    split = Split(fold=0, train=np.arange(6), valid=None, test=np.arange(6, 10))
    train, test = scaled_split(samples, split, "zscore")
    assert train.X.mean(axis=0) == pytest.approx([0, 0], abs=1e-6)
    moved = samples.with_arrays(X=np.where(np.arange(10)[:, None] >= 6, X * 100, X))
    train2, _ = scaled_split(moved, split, "zscore")
    np.testing.assert_array_equal(train.X, train2.X)  # test rows never reach the scaler
    assert test.X[0, 0] == pytest.approx((12 - X[:6, 0].mean()) / X[:6, 0].std())


def base_config(**analysis) -> dict:
    return {"target": {"kind": "direction"}, "models": [{"name": "xgboost", "label": "T"}],
            "protocol": {"kind": "walk_forward", "train_size": 40, "test_size": 10, "n_folds": 2, "unit": "days"},
            "analysis": analysis}


@pytest.mark.parametrize(("analysis", "needle"), [
    ({"pnl": {"cost_bps": -1}}, "cost_bps"),
    ({"regimes": {"bad": ["2015-02-01", "2015-01-01"]}}, "after end"),
    ({"shap": {"models": ["nope"]}}, "unknown model label"),
    ({"significance": {"reference": "nope"}}, "unknown model label 'nope'"),
    ({"privacy": {"models": [{"name": "dp_mlp"}], "epsilons": [0, 1]}}, "must be > 0"),
    ({"privacy": {"models": [{"name": "dp_logistic", "params": {"epsilon": 2}}]}}, "epsilons="),
    ({"privacy": {"models": [{"name": "dp_logistic", "params": {"nope": 1}}]}}, "nope"),
    ({"privacy": {"models": [{"name": "xgboost"}]}}, "dp_mlp"),
])
def test_bad_analysis_settings_fail_with_the_key(analysis, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_config(base_config(**analysis))


def test_pnl_needs_a_daily_direction_target():
    raw = base_config(pnl={})
    raw["target"] = {"kind": "return"}
    with pytest.raises(ConfigError, match="direction target"):
        parse_config(raw)
    raw["target"] = {"kind": "direction", "horizon": 2}
    with pytest.raises(ConfigError, match="horizon 1"):
        parse_config(raw)


def test_infinite_epsilon_round_trips_through_the_saved_config():
    import yaml

    from finfusion.experiments.config import config_to_dict, load_yaml

    config = parse_config(base_config(privacy={"models": [{"name": "dp_logistic"}], "epsilons": [1, "inf"]}))
    again = parse_config(load_yaml(yaml.safe_dump(config_to_dict(config))))
    assert again.analysis.privacy.epsilons == [1.0, math.inf]


def test_local_attributions_of_one_prediction_from_the_predictions_file():
    from finfusion.evaluate.explain import local_from_predictions

    frame = shap_frame()
    local = local_from_predictions(frame, model="X", date="2015-01-05", ticker="C")
    assert list(local["feature"]) == ["vol_5", "rsi_14", "sent_a_mean@t-1"]  # |-0.6| > |0.1| > |0.0|
    assert local.attrs["margin"] == pytest.approx(-0.1 + 0.1 + 0.0 - 0.6)
    p = local.attrs["p_1"]
    assert np.log(p / (1 - p)) == pytest.approx(local.attrs["margin"])
    with pytest.raises(ValueError, match="not explained"):
        local_from_predictions(frame, model="Y", date="2015-01-05", ticker="A")
    with pytest.raises(ValueError, match="found 0"):
        local_from_predictions(frame, model="X", date="2015-01-06", ticker="A")


def test_portfolio_tables_rank_perfect_and_inverted_forecasts_apart():
    from finfusion.experiments.analysis import portfolio_returns, portfolio_tables
    from finfusion.experiments.config import PortfolioConfig

    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2015-08-03", periods=6)
    rows = []
    for date in dates:
        move = rng.normal(0, 0.02, 20)
        for model, sign in (("perfect", 1.0), ("inverted", -1.0)):
            rows.append(pd.DataFrame({"date": date, "ticker": [f"T{i:02d}" for i in range(20)], "model": model,
                                      "seed": 0, "point": "base", "fold": 0, "y_true": (move > 0).astype(int),
                                      "y_pred": (sign * move > 0).astype(int), "p_1": 0.5 + sign * move,
                                      "truth_movement": move}))
    preds = pd.concat(rows, ignore_index=True)
    cfg = PortfolioConfig(returns="truth_movement", cost_bps=0.0)
    realised = portfolio_returns(preds, None, cfg, horizon=1)
    assert len(realised) == 6 * 20
    tables, backtests = portfolio_tables(preds, realised, cfg, "classification", horizon=1)
    summary = tables["portfolio_summary"].set_index("method")
    assert summary.loc["perfect", "long_short_annual_return"] > 0 > summary.loc["inverted", "long_short_annual_return"]
    assert summary.loc["perfect", "rank_ic"] == pytest.approx(1.0)
    assert summary.loc["inverted", "rank_ic"] == pytest.approx(-1.0)
    assert "Universe" in summary.index
    deciles = tables["portfolio_deciles"].set_index("group")
    assert deciles["perfect"].is_monotonic_increasing and deciles["inverted"].is_monotonic_decreasing
    assert list(backtests) == ["base"]
    with pytest.raises(ConfigError, match="truth_movement"):
        portfolio_returns(preds.drop(columns="truth_movement"), None, cfg, horizon=1)


def test_trading_analyses_refuse_a_run_with_a_market_per_seed(tmp_path):
    """sweep.resample_data draws a simulated market per seed; the PnL trades one market's prices,
    so the run is refused before anything is written, naming the way out."""
    from finfusion.experiments.notebook import run

    raw = {"name": "two_markets", "progress": False,
           "data": {"source": "simulate", "simulate": {"n_days": 70, "n_features": 3, "seed": 2, "n_tickers": 3}},
           "features": {"groups": ["extra"]}, "target": {"kind": "direction"},
           "models": [{"name": "xgboost", "label": "XGB", "params": {"n_estimators": 5}}],
           "protocol": {"kind": "rolling", "window": 40, "refit_every": 10},
           "sweep": {"seeds": [0, 1]}, "analysis": {"pnl": {}}}
    with pytest.raises(ConfigError, match="units of this run see 2 different markets.*resample_data: false"):
        run(raw, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    one_market = {**raw, "sweep": {"seeds": [0, 1], "resample_data": False},
                  "output": {"plots": False, "report": False}}
    assert len(run(one_market, out=tmp_path / "ok").metrics) == 2
