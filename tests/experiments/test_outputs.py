import numpy as np
import pandas as pd
import pytest

from finfusion.experiments.config import parse_config
from finfusion.experiments.outputs import encoder_notes


def config(source: str, model: str):
    data = {"source": "simulate"} if source == "simulate" else {"source": "files", "prices": "p.csv"}
    return parse_config({"data": data, "models": [{"name": "text_only", "label": "T", "params": {"model": model}},
                                                  {"name": "mlp"}]})


def preds(first: str) -> pd.DataFrame:
    return pd.DataFrame({"model": ["T", "T"], "date": pd.to_datetime([first, "2024-01-02"])})


def test_warns_when_test_dates_precede_the_encoders_pretraining_text():
    (note,) = encoder_notes(config("files", "sentence-transformers/all-MiniLM-L6-v2"), preds("2015-07-01"))
    assert note["model"] == "T" and str(note["text_through"]) == "2018-01-01"
    assert "2015-07-01" in note["warning"] and "test period" in note["warning"]


def test_no_warning_after_the_pretraining_text_or_for_simulated_texts():
    (late,) = encoder_notes(config("files", "sentence-transformers/all-MiniLM-L6-v2"), preds("2019-01-02"))
    assert late["warning"] is None
    (sim,) = encoder_notes(config("simulate", "sentence-transformers/all-MiniLM-L6-v2"), preds("2015-07-01"))
    assert sim["warning"] is None


def test_unknown_encoder_asks_for_its_model_card():
    (note,) = encoder_notes(config("files", "/models/my-own-encoder"), preds("2022-01-03"))
    assert "No pre-training cut-off is known" in note["warning"]


def _classification_predictions() -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for model, skill in (("tech", 0.55), ("finbert", 0.7)):
        for fold in range(4):
            y = rng.integers(0, 2, size=30)
            hit = rng.random(30) < skill
            rows.append(pd.DataFrame({"date": pd.bdate_range("2022-01-03", periods=30) + pd.Timedelta(days=60 * fold),
                                      "ticker": "A", "y_true": y, "y_pred": np.where(hit, y, 1 - y),
                                      "p_1": np.where(hit, y, 1 - y) * 0.5 + 0.25 + 0.1 * rng.random(30),
                                      "fold": fold, "model": model, "seed": 0, "point": "base"}))
    return pd.concat(rows, ignore_index=True)


def test_classification_runs_get_fold_and_significance_tables():
    from finfusion.experiments.outputs import _fold_blocks, classification_fold_tables

    tables = classification_fold_tables(_classification_predictions())
    assert set(tables) == {"fold_metrics", "fold_means", "significance"}
    assert len(tables["fold_metrics"]) == 8 and tables["fold_means"]["n_folds"].tolist() == [4, 4]
    sig = tables["significance"]
    assert sig["metric"].tolist() == ["accuracy", "f1", "roc_auc"]
    assert set(sig["reference"]) == {"tech"} and set(sig["model"]) == {"finbert"}
    assert (sig["n_folds"] == 4).all() and set(sig["point"]) == {"base"}
    means = tables["fold_means"].set_index("model")["accuracy"]
    assert sig.loc[0, "mean_diff"] == pytest.approx(means["finbert"] - means["tech"])
    assert len(_fold_blocks(tables)) == 6


def test_fold_tables_skip_what_cannot_be_compared():
    from finfusion.experiments.outputs import classification_fold_tables

    preds = _classification_predictions()
    assert "significance" not in classification_fold_tables(preds[preds["model"] == "tech"])
    shifted = preds.assign(fold=preds["fold"] + (preds["model"] == "finbert") * 10)
    tables = classification_fold_tables(shifted)
    assert "significance" not in tables and "same folds" in tables["significance_skipped"]["reason"].iloc[0]


def test_one_row_folds_get_no_fold_tables():
    from finfusion.experiments.outputs import _fold_blocks, classification_fold_tables

    preds = _classification_predictions()
    preds["fold"] = range(len(preds))
    tables = classification_fold_tables(preds)
    assert set(tables) == {"fold_tables_skipped"}
    assert "median of 1 rows" in _fold_blocks(tables)[0]


def test_significance_against_a_named_reference_or_every_pair():
    from finfusion.experiments.outputs import classification_fold_tables

    preds = _classification_predictions()
    preds = pd.concat([preds, preds[preds["model"] == "tech"].assign(model="mix")], ignore_index=True)
    models = list(pd.unique(preds["model"]))
    last = models[-1]
    table = classification_fold_tables(preds, reference=last)["significance"]
    assert set(table["reference"]) == {last} and last not in set(table["model"])
    pairs = classification_fold_tables(preds, all_pairs=True)["significance"]
    n = len(models)
    assert len(pairs) == n * (n - 1) // 2 * 3  # every pair, three metrics


def test_report_lists_models_that_share_an_encoder_once(tmp_path):
    from finfusion.experiments.outputs import _report

    cfg = parse_config({"data": {"source": "files", "prices": "p.csv"},
                        "models": [{"name": "text_only", "label": "T"}, {"name": "text_only", "label": "U"}]})
    note = {"encoder": "enc", "cutoff": None, "text_through": "2018-01-01", "source": "card", "warning": "may have read"}
    meta = {"source": {"source": "files"}, "samples": {"n": 1, "features": ["a"]}, "cleaning": [],
            "encoders": [{**note, "model": "T"}, {**note, "model": "U"}]}
    _report(tmp_path, cfg, meta, pd.DataFrame({"model": ["T", "U"]}), {}, {}, {}, {})
    html = (tmp_path / "report.html").read_text()
    assert html.count("may have read") == 1 and "T, U" in html


def test_data_json_and_report_name_skipped_and_constant_features(tmp_path):
    import json

    import numpy as np

    from finfusion.experiments import runner

    n = 120
    rng = np.random.default_rng(0)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, 2 * n)))
    prices = pd.DataFrame({"date": list(pd.bdate_range("2021-01-04", periods=n)) * 2, "ticker": ["A"] * n + ["B"] * n,
                           "close": close, "volume": 0.0, "flat": 3.0})  # close + volume, no high / low
    prices.to_csv(tmp_path / "p.csv", index=False)
    cfg = parse_config({"data": {"source": "files", "prices": str(tmp_path / "p.csv")},
                        "models": [{"name": "mlp", "params": {"epochs": 1}}],
                        "protocol": {"kind": "chronological", "train": 0.7, "valid": 0.0, "test": 0.3},
                        "output": {"plots": False}, "progress": False})
    runner.run(cfg, run_dir=tmp_path / "run")
    samples = json.loads((tmp_path / "run" / "data.json").read_text())["samples"]
    assert samples["skipped_features"] == [
        {"feature": "range", "reason": "group volatility: needs the prices column(s) high, low, absent "
                                       "(present: date, ticker, close, volume, flat)"}]
    assert samples["constant_features"] == ["volume_log", "volume_change", "flat"]
    html = (tmp_path / "run" / "report.html").read_text()
    data_section = html[html.index(">Data<"):]
    assert "Features left out" in data_section and "group volatility: needs the prices column(s) high, low" in html
    assert "Constant over all" in data_section and "volume_log, volume_change, flat" in data_section


def test_small_direction_run_gets_a_small_self_contained_tear_sheet(tmp_path):
    from finfusion.experiments import runner

    cfg = parse_config({
        "name": "sheet", "progress": False,
        "data": {"source": "simulate", "simulate": {"n_days": 160, "n_tickers": 5, "n_features": 3, "seed": 1}},
        "features": {"groups": ["extra"]}, "target": {"kind": "direction"},
        "models": [{"name": "mlp", "label": "MLP", "params": {"hidden": 8, "epochs": 3}},
                   {"name": "xgboost", "params": {"n_estimators": 10}}],
        "protocol": {"kind": "walk_forward", "train_size": 60, "test_size": 30, "n_folds": 2, "unit": "days",
                     "valid": 10},
        "analysis": {"pnl": {}, "portfolio": {"n_groups": 2}}})
    runner.run(cfg, run_dir=tmp_path / "run")
    report = tmp_path / "run" / "report.html"
    html = report.read_text()
    assert report.stat().st_size < 700_000
    assert "http://" not in html and "https://" not in html and "<script" not in html.lower()
    for caption in ("ROC and reliability", "Confusion matrices", "Training curves", "PnL equity and drawdown",
                    "Portfolio cumulative returns and drawdowns", "Portfolio rank IC over time"):
        assert f"<figcaption>{caption}" in html
    assert "Test metrics of each model (one seed)" in html and "one seed (no std)" in html
    portfolio = html[html.index(">Stock selection (decile portfolios)</h2>"):]
    portfolio = portfolio[:portfolio.index("</section>")]
    assert "long_<wbr>only_<wbr>sharpe</th>" in portfolio and "_<wbr>std</th>" not in portfolio  # one seed: no std
    config = html[html.index(">Configuration</h2>"):]
    assert ">models.0.name</th>" in config and ">protocol.kind</th>" in config and ">data.start</th>" not in config
    assert "config.yaml" in config


def test_a_price_target_takes_each_rows_last_price_from_the_market_its_unit_saw(tmp_path):
    """With sweep.resample_data each seed draws its own simulated market; the last-value forecast
    of every row must equal the last price written beside it (its own market's close, not seed 0's)."""
    from finfusion.experiments.notebook import run

    raw = {"name": "markets", "progress": False,
           "data": {"source": "simulate", "simulate": {"n_days": 60, "n_features": 3, "seed": 0, "n_tickers": 2}},
           "features": {"features": ["price"]}, "target": {"kind": "close"},
           "models": [{"name": "naive", "label": "Last value", "params": {"feature": "price"}}],
           "protocol": {"kind": "rolling", "window": 40, "refit_every": 10},
           "sweep": {"seeds": [0, 1]}, "output": {"plots": False, "report": False}}
    preds = run(raw, out=tmp_path / "run").predictions
    assert set(preds["seed"]) == {0, 1}
    np.testing.assert_allclose(preds["y_pred"], preds["last_price"], rtol=1e-6)
    by_seed = preds.pivot_table(index=["date", "ticker"], columns="seed", values="last_price")
    assert (by_seed[0] != by_seed[1]).all()  # two markets


def test_a_regression_run_of_two_models_says_how_much_better_and_how_sure(tmp_path):
    """The headline notes and tables/date_significance.csv: per-date MSE paired over test days."""
    from finfusion.evaluate.significance import date_significance
    from finfusion.experiments.kinds import KINDS
    from finfusion.experiments.notebook import run

    raw = {"name": "paired", "progress": False,
           "data": {"source": "simulate", "simulate": {"n_days": 90, "n_features": 3, "seed": 1, "n_tickers": 3}},
           "features": {"groups": ["extra"]}, "target": {"kind": "return"},
           "models": [{"name": "xgboost", "label": "XGB", "params": {"n_estimators": 20}},
                      {"name": "naive", "label": "Zero"}],
           "protocol": {"kind": "rolling", "window": 40, "refit_every": 10},
           "output": {"plots": False, "report": True}}
    result = run(raw, out=tmp_path / "run")
    saved = pd.read_csv(tmp_path / "run" / "tables" / "date_significance.csv")
    again = date_significance(result.predictions)
    assert saved["model"].tolist() == ["Zero"] and saved["reference"].tolist() == ["XGB"]
    np.testing.assert_allclose(saved[["mean_diff", "p_t"]], again[["mean_diff", "p_t"]])
    assert saved["n_days"].item() == result.predictions["date"].nunique()
    from finfusion.experiments.outputs import RunResult

    notes = KINDS["predict"].headline(RunResult(result.dir, result.predictions, result.metrics, {})).notes
    assert any(n.startswith("XGB vs Zero: MSE ") and "paired t-test over" in n for n in notes)
    assert "Per-date MSE" in (tmp_path / "run" / "report.html").read_text()
