import numpy as np
import pandas as pd
import pytest

from finfusion.data.predictions import REQUIRED
from finfusion.data.sample_spec import FeatureConfig, SampleSpec, TargetConfig
from finfusion.data.samples import MarketData, build_samples
from finfusion.data.simulate import SimulatorConfig, simulate_market
from finfusion.models.registry import make_predictor
from finfusion.protocols import engine
from finfusion.protocols.engine import run_protocol
from finfusion.protocols.splitters import RollingWindow

SPEC = SampleSpec(features=FeatureConfig(groups=["extra", "returns"]))
MLP = {"hidden": 8, "epochs": 3, "batch_size": 16}


def market(n_days: int = 80, n_tickers: int = 2) -> MarketData:
    sim = simulate_market(SimulatorConfig(n_days=n_days, n_tickers=n_tickers, n_features=3, seed=1))
    return MarketData(sim.prices, sim.texts, sim.truth)


def predict(data: MarketData, **kwargs) -> pd.DataFrame:
    samples = build_samples(data, SPEC)
    model = make_predictor(kwargs.pop("model", "mlp"), kwargs.pop("params", MLP))
    splitter = kwargs.pop("splitter", RollingWindow(window=30, step=1, refit_every=2))
    return run_protocol(model, samples, splitter, progress=False, **kwargs)


def test_predictions_frame_shape_and_columns():
    preds = predict(market())
    assert list(preds.columns[:7]) == list(REQUIRED)
    assert preds["fold"].nunique() == preds["date"].nunique()  # one test day per fold
    assert preds.groupby("date")["ticker"].nunique().eq(2).all()
    assert np.isfinite(preds["y_pred"]).all()


def test_same_seed_same_predictions_and_other_seed_differs():
    data = market()
    a, b = predict(data, seed=3), predict(data, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = predict(data, seed=4)
    assert not np.allclose(a["y_pred"], c["y_pred"])


def test_no_look_ahead_changing_data_after_t_leaves_predictions_up_to_t():
    data = market()
    dates = np.sort(data.prices["date"].unique())
    t = pd.Timestamp(dates[55])
    prices = data.prices.copy()
    later = prices["date"] > t
    # a crash after day t, new extra-feature values and wild texts after the close of t
    for col in ("open", "high", "low", "close"):
        prices.loc[later, col] *= 0.5
    prices.loc[later, "x1"] += 10.0
    texts = data.texts.copy()
    close_t = pd.Timestamp(f"{t.date()} 16:00", tz="America/New_York")
    texts.loc[texts["timestamp"] > close_t, "text"] = "Shares collapse as fraud is uncovered"
    changed = MarketData(prices, texts, data.truth)
    base, moved = predict(data), predict(changed)
    keep = base["date"] <= t
    assert keep.sum() > 10
    np.testing.assert_array_equal(base.loc[keep, "y_pred"].to_numpy(), moved.loc[keep, "y_pred"].to_numpy())
    # sanity: the change does reach predictions after t
    assert not np.allclose(base.loc[~keep, "y_pred"], moved.loc[~keep, "y_pred"])


def test_scalers_fit_on_training_rows_only(monkeypatch):
    data = market()
    samples = build_samples(data, SPEC)
    seen = []
    original = engine.Scaler.fit

    def spy(self, X):
        seen.append(np.asarray(X).copy())
        return original(self, X)

    monkeypatch.setattr(engine.Scaler, "fit", spy)
    splitter = RollingWindow(window=30, max_folds=3)
    run_protocol(make_predictor("mlp", MLP), samples, splitter, progress=False)
    splits = list(splitter.split(samples.dates))
    x_fits = seen[0::2]
    for split, X in zip(splits, x_fits):
        np.testing.assert_array_equal(X, samples.X[split.train])


@pytest.mark.parametrize("warm_start", [False, True])
def test_resume_equals_uninterrupted(tmp_path, monkeypatch, warm_start):
    data = market()
    kwargs = {"warm_start": warm_start, "checkpoint_every": 3}
    full = predict(data, checkpoint_dir=tmp_path / "full", **kwargs)

    original = engine.predict_fold
    calls = {"n": 0}

    def crash_at_fold_8(state, samples, split, *args, **kwargs):
        if split.fold == 8:
            raise KeyboardInterrupt
        calls["n"] += 1
        return original(state, samples, split, *args, **kwargs)

    monkeypatch.setattr(engine, "predict_fold", crash_at_fold_8)
    with pytest.raises(KeyboardInterrupt):
        predict(data, checkpoint_dir=tmp_path / "cut", **kwargs)
    monkeypatch.setattr(engine, "predict_fold", original)
    assert engine._Checkpoint(tmp_path / "cut").progress.exists()
    resumed = predict(data, checkpoint_dir=tmp_path / "cut", **kwargs)
    pd.testing.assert_frame_equal(full, resumed)
    # the last checkpoint was fold 6 (checkpoint_every=3): folds 0..6 were not recomputed
    assert calls["n"] == 8


def test_warm_start_changes_training_and_requires_support():
    data = market()
    cold = predict(data, warm_start=False)
    warm = predict(data, warm_start=True)
    assert not np.allclose(cold["y_pred"], warm["y_pred"])


def test_classification_adds_probabilities():
    data = market(n_days=120)
    samples = build_samples(data, SampleSpec(features=FeatureConfig(groups=["extra"]), target=TargetConfig(kind="direction")))
    preds = run_protocol(
        make_predictor("xgboost", {"n_estimators": 20}),
        samples,
        RollingWindow(window=60, step=10),
        progress=False,
    )
    assert {"p_0", "p_1"} <= set(preds.columns)
    np.testing.assert_allclose(preds["p_0"] + preds["p_1"], 1.0, rtol=1e-6)
    assert set(preds["y_pred"].unique()) <= {0, 1}


def test_explain_adds_exact_treeshap_columns_that_reproduce_each_probability():
    data = market(n_days=90)
    samples = build_samples(data, SampleSpec(features=FeatureConfig(groups=["extra", "returns"]), target=TargetConfig(kind="direction")))
    splitter = RollingWindow(window=40, step=10, refit_every=1)
    model = make_predictor("xgboost", {"n_estimators": 20})
    preds = run_protocol(model, samples, splitter, progress=False, explain=True)
    shap_cols = [f"shap_{name}" for name in samples.feature_names]
    assert set(shap_cols) <= set(preds.columns) and "shap_base" in preds
    margin = np.log(preds["p_1"]) - np.log1p(-preds["p_1"])
    np.testing.assert_allclose(preds["shap_base"] + preds[shap_cols].sum(axis=1), margin, atol=1e-4)
    plain = run_protocol(model, samples, splitter, progress=False)
    pd.testing.assert_frame_equal(plain, preds[plain.columns])  # the attributions change no prediction


def test_explain_needs_a_tree_model():
    samples = build_samples(market(), SampleSpec(features=FeatureConfig(groups=["extra"]), target=TargetConfig(kind="direction")))
    with pytest.raises(engine.ConfigError, match="TreeSHAP"):
        run_protocol(make_predictor("mlp", MLP), samples, RollingWindow(window=30), progress=False, explain=True)


def test_unlabelled_rows_are_predicted_but_never_fit_on():
    from dataclasses import replace

    from finfusion.models.base import LABELLED
    from finfusion.protocols.splitters import ChronologicalSplit

    data = market(n_days=120)
    samples = build_samples(data, SPEC)
    y = (samples.y > 0).astype(np.int64)
    rng = np.random.default_rng(0)
    labelled = rng.random(len(y)) > 0.3  # unlabelled rows in train and test
    y[~labelled] = -1  # a class id a fit on these rows would learn
    marked = replace(samples, y=y, task="classification", extras={**samples.extras, LABELLED: labelled})
    dates = np.unique(marked.dates)
    split = ChronologicalSplit(0.7, 0.0, 0.3, None, str(pd.Timestamp(dates[int(0.7 * len(dates))]).date()))
    preds = run_protocol(make_predictor("mlp", MLP), marked, split, seed=1, progress=False)
    assert "p_-1" not in preds.columns and {"p_0", "p_1"} <= set(preds.columns)  # -1 never seen in a fit
    test_rows = next(split.split(marked.dates))
    assert len(preds) == len(test_rows.test)  # every test row is predicted, labelled or not
    np.testing.assert_array_equal(preds[LABELLED].to_numpy(), labelled[test_rows.test])
    # the labelled rows alone give the same model and predictions
    kept = marked.subset(np.flatnonzero(labelled))
    alone = run_protocol(make_predictor("mlp", MLP), replace(kept, extras={}), split, seed=1, progress=False)
    both = preds[preds[LABELLED]].reset_index(drop=True)
    assert len(alone) == len(both)
    np.testing.assert_allclose(alone["p_1"].to_numpy(), both["p_1"].to_numpy(), rtol=1e-6)
