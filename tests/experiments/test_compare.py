"""`finfusion compare`: tiny real runs side by side. The metric columns are each run's own summary
and the Δ columns B − A of those; the config table holds exactly the changed keys; rows of one run
are kept with NaN; the equity curves are the runs' stored daily series (or a checked recomputation);
the HTML stands alone; bad paths and single runs fail with a clear message and exit code 2."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from finfusion.cli import main
from finfusion.errors import ConfigError
from finfusion.evaluate.performance import equity_curve
from finfusion.experiments import kinds
from finfusion.experiments.compare import compare_runs, delta_column, read_runs
from finfusion.experiments.compare_curves import strategy_returns
from finfusion.experiments.config import load_config, parse_config
from finfusion.experiments.notebook import run
from finfusion.experiments.overrides import dotted_items
from finfusion.experiments.recipes import recipe_path
from tests.experiments.test_sentiment_kind import TEXTS

SMALL = {  # 3 simulated stocks, 2 fast classifiers and their long/flat PnL: ~2 s a run
    "name": "cmp", "progress": False,
    "data": {"source": "simulate", "simulate": {"n_days": 70, "n_features": 3, "seed": 2, "n_tickers": 3}},
    "features": {"groups": ["extra"]},
    "target": {"kind": "direction"},
    "models": [{"name": "xgboost", "label": "XGB", "params": {"n_estimators": 10}},
               {"name": "xgboost", "label": "XGB-deep", "params": {"n_estimators": 5, "max_depth": 2}}],
    "protocol": {"kind": "rolling", "window": 40, "refit_every": 10},
    "analysis": {"pnl": {"cost_bps": 5}},
    "output": {"plots": False, "report": False},
}
PORTFOLIO = {**SMALL, "models": SMALL["models"][:1], "analysis": {"pnl": {"cost_bps": 5}, "portfolio": {"n_groups": 2}}}
RL = ["seeds=[1]", "agent.epochs=1", "agent.patience=1", "output.plots=false", "output.report=false",
      "progress=false", "data.simulate.n_days=200", "split.train_end=2020-06-30", "split.valid_end=2020-08-31",
      "variants=[SB]", 'groups={"2 assets": [SIMA, SIMB]}', "cost_sensitivity=null"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """a: the base run; b: XGB with 20 trees and the second model relabelled (its rows differ);
    p: one model with long/flat PnL and decile portfolios."""
    root = tmp_path_factory.mktemp("runs")
    run(SMALL, out=root / "a")
    run(SMALL, out=root / "b", models__0__params__n_estimators=20, models__1__label="XGB-small")
    run(PORTFOLIO, out=root / "p")
    return root


@pytest.fixture(scope="module")
def ab(runs, tmp_path_factory):
    return compare_runs([runs / "a", runs / "b"], out=tmp_path_factory.mktemp("ab") / "cmp", names=["A", "B"])


def summary(run_dir) -> pd.DataFrame:
    return pd.DataFrame(json.loads((run_dir / "metrics.json").read_text())["summary"]).set_index("model")


def test_metric_columns_are_each_runs_own_and_delta_is_b_minus_a(runs, ab):
    wide = ab.tables["metrics_predict"].set_index("model")
    a, b = summary(runs / "a"), summary(runs / "b")
    assert list(wide.index) == ["XGB", "XGB-deep", "XGB-small"] and set(wide["point"]) == {"base"}
    for metric in ("accuracy", "f1", "roc_auc", "mcc"):
        assert wide.loc["XGB", f"{metric} [A]"] == a.loc["XGB", metric]
        assert wide.loc["XGB", f"{metric} [B]"] == b.loc["XGB", metric]
        assert wide.loc["XGB", delta_column(metric, "B", "A")] == pytest.approx(
            b.loc["XGB", metric] - a.loc["XGB", metric], abs=1e-15)
        assert wide.loc["XGB-deep", f"{metric} [A]"] == a.loc["XGB-deep", metric]
        assert wide.loc["XGB-small", f"{metric} [B]"] == b.loc["XGB-small", metric]
    written = pd.read_csv(ab.out / "metrics_predict.csv")
    pd.testing.assert_frame_equal(written, ab.tables["metrics_predict"], check_exact=False, rtol=1e-12)
    runs_csv = pd.read_csv(ab.out / "runs.csv", index_col="fact")
    assert runs_csv.loc["kind"].tolist() == ["predict", "predict"]
    prices = json.loads((runs / "a" / "data.json").read_text())["fingerprints"]["prices"]
    assert runs_csv.loc["prices fingerprint", "A"] == prices


def test_config_differences_are_exactly_the_changed_keys(ab):
    assert ab.tables["config_diff"].to_dict("records") == [
        {"key": "models.0.params.n_estimators", "A": "10", "B": "20"},
        {"key": "models.1.label", "A": "XGB-deep", "B": "XGB-small"}]
    written = pd.read_csv(ab.out / "config_diff.csv", dtype=str)
    assert written.to_dict("records") == ab.tables["config_diff"].to_dict("records")


def test_rows_of_one_run_are_kept_with_nan_and_listed(ab):
    wide = ab.tables["metrics_predict"].set_index("model")
    assert np.isnan(wide.loc["XGB-deep", "accuracy [B]"]) and np.isnan(wide.loc["XGB-small", "accuracy [A]"])
    assert np.isnan(wide.loc["XGB-small", delta_column("accuracy", "B", "A")])
    html = ab.report.read_text(encoding="utf-8")
    assert "2 row(s) are not in every run" in html
    assert re.search(r"XGB-deep</td>\s*<td[^>]*>A</td>\s*<td[^>]*>B</td>", html)  # present in A, missing in B
    assert re.search(r"XGB-small</td>\s*<td[^>]*>B</td>\s*<td[^>]*>A</td>", html)


def test_report_is_self_contained_with_the_equity_charts(ab):
    html = ab.report.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html and "<script" not in html
    sources = re.findall(r'<img src="([^"]+)"', html)
    strategies = ab.tables["equity"]["strategy"].unique()
    assert len(sources) == len(strategies) == 4  # long/flat XGB, XGB-deep, XGB-small, the always-long benchmark
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    for section in ("Runs", "Metrics (predict)", "Equity curves", "Config differences"):
        assert f">{section}</h2>" in html


def test_equity_curves_are_the_stored_daily_pnl(runs, ab):
    curves = ab.tables["equity"]
    daily = pd.read_csv(runs / "a" / "tables" / "pnl_daily.csv", parse_dates=["date"])
    own = daily[daily["model"] == "XGB"].set_index("date")["net"]
    shown = curves[(curves["run"] == "A") & (curves["strategy"] == "long/flat: XGB")].set_index("date")
    np.testing.assert_allclose(shown["equity"].to_numpy(), equity_curve(own).to_numpy(), rtol=1e-12)
    pnl = pd.read_csv(runs / "a" / "tables" / "pnl.csv").set_index("model")
    assert shown["equity"].iloc[-1] - 1 == pytest.approx(pnl.loc["XGB", "cumulative_return_net"], rel=1e-9)
    assert set(curves[curves["run"] == "A"]["strategy"]) == {"long/flat: XGB", "long/flat: XGB-deep",
                                                             "long/flat: Always long (benchmark)"}


def test_a_run_without_the_daily_series_is_recomputed_and_checked(runs, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(runs / "p", old)
    (old / "tables" / "pnl_daily.csv").unlink()  # as a run of an older finfusion
    result = compare_runs([runs / "p", old], out=tmp_path / "cmp")
    curves = result.tables["equity"]
    assert set(curves["strategy"]) == {"long/flat: XGB", "long/flat: Always long (benchmark)", "deciles: universe",
                                       "deciles long_only: XGB", "deciles long_short: XGB"}
    for strategy in curves["strategy"].unique():  # the decile books are recomputed for both runs
        stored, again = (curves[(curves["run"] == r) & (curves["strategy"] == strategy)] for r in ("p", "old"))
        np.testing.assert_allclose(again["equity"].to_numpy(), stored["equity"].to_numpy(), rtol=1e-12)
    notes = result.report.read_text(encoding="utf-8")
    assert "recomputed (the run stores no tables/pnl_daily.csv)" in notes
    pnl = pd.read_csv(old / "tables" / "pnl.csv")
    pnl.loc[0, "cumulative_return_net"] += 0.01  # a table the recomputation cannot reproduce
    pnl.to_csv(old / "tables" / "pnl.csv", index=False)
    shown, note = strategy_returns(read_runs([runs / "p", old])[1])
    assert set(shown["strategy"]) == {"deciles: universe", "deciles long_only: XGB", "deciles long_short: XGB"}
    assert "long/flat daily PnL: no curves: the recomputed series of" in note
    assert "do not reproduce tables/pnl.csv (cumulative_return_net" in note


def test_runs_of_different_kinds_are_compared_on_what_they_share(runs, tmp_path, tiny_bert):
    rl = tmp_path / "rl"
    run(load_config(recipe_path("seed002_simulation"), RL), out=rl)
    texts = [(t + end, label) for end in ("", " .") for label, some in TEXTS.items() for t in some]
    pd.DataFrame(texts, columns=["text", "label"]).to_csv(tmp_path / "toy.csv", index=False)
    sentiment = {"kind": "sentiment", "name": "toy", "progress": False, "data": {"path": str(tmp_path / "toy.csv")},
                 "train": {"model": str(tiny_bert), "epochs": 1, "batch_size": 8, "valid_fraction": 0.34,
                           "warmup_ratio": 0.0, "early_stopping_patience": None, "device": "cpu"},
                 "output": {"report": False}}
    kinds.run(parse_config(sentiment), run_dir=tmp_path / "st")
    result = compare_runs([runs / "a", rl, tmp_path / "st"], out=tmp_path / "cmp")
    assert any("different kinds" in n for n in result.notes)
    assert not [t for t in result.tables if t.startswith("metrics_")]  # one run of each kind: nothing to pair
    configs = [dict(dotted_items(yaml.safe_load((d / "config.yaml").read_text()))) for d in (runs / "a", rl, tmp_path / "st")]
    shared = set.intersection(*(set(c) for c in configs))
    differing = {k for k in shared if len({json.dumps(c[k]) for c in configs}) > 1}
    assert set(result.tables["config_diff"]["key"]) == differing  # only keys every run's config has
    assert {"kind", "name"} <= differing
    curves = result.tables["equity"]
    daily = pd.read_parquet(rl / "daily.parquet")
    sb = daily[(daily["strategy"] == "SB") & (daily["commission"] == 0.0025)]
    shown = curves[(curves["run"] == "rl") & (curves["strategy"] == "2 assets: SB")]
    np.testing.assert_allclose(shown["equity"].to_numpy(), sb["value"].to_numpy(), rtol=1e-9)
    assert "a sentiment run trades nothing" in result.report.read_text(encoding="utf-8")
    facts = result.tables["runs"]
    assert facts.loc["kind"].tolist() == ["predict", "rl", "sentiment"]


def test_cli_errors_name_the_path_and_exit_2(runs, tmp_path, capsys):
    assert main(["compare", str(runs / "a")]) == 2
    assert "at least 2 run directories, got 1" in capsys.readouterr().err
    assert main(["compare", str(runs / "a"), str(tmp_path / "nope")]) == 2
    assert f"{tmp_path / 'nope'} does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(runs / "a"), str(tmp_path / "empty")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    shutil.copytree(runs / "b", unfinished)
    (unfinished / "metrics.json").unlink()
    assert main(["compare", str(runs / "a"), str(unfinished)]) == 2
    assert f"{unfinished} holds an unfinished predict run (metrics.json missing)" in capsys.readouterr().err
    assert main(["compare", str(runs / "a"), str(runs / "b"), "--names", "only-one"]) == 2
    assert "--names gives 1 name(s)" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="given twice"):
        compare_runs([runs / "a", runs / "a"], out=tmp_path / "twice")


def test_cli_writes_the_report_and_refuses_a_non_empty_out(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(runs / "a"), str(runs / "b"), "--out", str(out), "--names", "A,B"]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'compare.html'}" in printed and "config differences: 2 key(s)" in printed
    assert {p.name for p in out.iterdir()} == {"compare.html", "runs.csv", "metrics_predict.csv", "config_diff.csv",
                                               "equity.csv"}
    assert main(["compare", str(runs / "a"), str(runs / "b"), "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["compare", str(runs / "a"), str(runs / "b"), "--out", str(runs / "a" / "cmp")]) == 2
    assert "lies in the run directory" in capsys.readouterr().err
