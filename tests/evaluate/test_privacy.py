"""Privacy-utility table and membership-inference attack (evaluate/privacy.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from finfusion.errors import ConfigError
from finfusion.evaluate.privacy import (
    dp_advantage_bound,
    loss_threshold_attack,
    membership_inference,
    per_sample_loss,
    privacy_utility_table,
    private_model,
)
from finfusion.models.base import Samples
from finfusion.models.dp import DPMLPPredictor


def _samples(n: int, d: int, seed: int, random_labels: bool) -> Samples:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, 2, n) if random_labels else (X[:, 0] - 0.5 * X[:, 1] > 0).astype(np.int64)
    index = pd.DataFrame({"date": pd.bdate_range("2021-01-04", periods=n), "ticker": "AAA"})
    return Samples(index=index, X=X, y=y, feature_names=tuple(f"f{i}" for i in range(d)), task="classification")


def test_dp_advantage_bound_hand_values():
    assert dp_advantage_bound(math.log(3)) == pytest.approx(0.5)  # (3 - 1) / (3 + 1)
    assert dp_advantage_bound(0.0) == 0.0
    assert dp_advantage_bound(0.0, delta=0.1) == pytest.approx(0.1)
    assert dp_advantage_bound(math.inf) == 1.0 and dp_advantage_bound(50.0, 0.5) == 1.0
    with pytest.raises(ValueError, match="epsilon >= 0"):
        dp_advantage_bound(-1.0)


def test_loss_threshold_attack_hand_example():
    result = loss_threshold_attack(np.array([0.1, 0.5]), np.array([0.3, 0.7]))
    assert result.advantage == pytest.approx(0.5)  # loss <= 0.1: TPR 1/2, FPR 0
    assert result.auc == pytest.approx(0.75)  # 3 of 4 (member, non-member) pairs are ordered
    assert result.advantage_yeom == pytest.approx(0.0)  # threshold 0.3: TPR 1/2, FPR 1/2
    separated = loss_threshold_attack(np.array([0.1, 0.2]), np.array([0.3, 0.4]))
    assert (separated.advantage, separated.auc, separated.threshold) == (1.0, 1.0, 0.2)
    same = loss_threshold_attack(np.array([0.2, 0.2]), np.array([0.2, 0.2]))
    assert (same.advantage, same.auc) == (0.0, 0.5)
    with pytest.raises(ValueError, match="equally many"):
        loss_threshold_attack(np.array([0.1]), np.array([0.2, 0.3]))


def test_per_sample_loss_is_the_cross_entropy_of_the_true_class():
    class Fixed:
        classes_ = np.array([0, 1])

        def predict_proba(self, data):
            return np.array([[0.9, 0.1], [0.2, 0.8], [1.0, 0.0]])

    data = _samples(3, 2, 0, random_labels=True).with_arrays(y=np.array([0, 0, 1]))
    np.testing.assert_allclose(per_sample_loss(Fixed(), data), [-math.log(0.9), -math.log(0.2), -math.log(1e-12)])
    with pytest.raises(ValueError, match=r"labels \[2\]"):
        per_sample_loss(Fixed(), data.with_arrays(y=np.array([0, 2, 1])))


def test_overfit_model_leaks_membership_dp_model_does_not():
    data = _samples(160, 10, 0, random_labels=True)  # nothing to learn: a low train loss is memorisation
    members, nonmembers = data.subset(slice(0, 80)), data.subset(slice(80, 160))
    params = {"hidden": 64, "epochs": 60, "batch_size": 20, "lr": 2e-2}
    overfit = DPMLPPredictor(**params).fit(members)
    private = DPMLPPredictor(target_epsilon=0.5, **params).fit(members)
    leak, guarded = membership_inference(overfit, members, nonmembers), membership_inference(private, members, nonmembers)
    assert leak.advantage > 0.4 and leak.auc > 0.65
    assert guarded.advantage < 0.3 and guarded.advantage < leak.advantage - 0.2
    assert guarded.n == 80


def test_membership_inference_balances_the_two_sets():
    data = _samples(150, 3, 1, random_labels=False)
    model = private_model("dp_logistic", math.inf).fit(data.subset(slice(0, 100)))
    assert membership_inference(model, data.subset(slice(0, 100)), data.subset(slice(100, 150))).n == 50


def test_privacy_utility_table_rows_columns_and_pnl_hook():
    data = _samples(600, 4, 2, random_labels=False)
    train, test = data.subset(slice(0, 400)), data.subset(slice(400, 600))

    def hit_rate(test_samples, proba):  # stands in for a PnL function
        return {"pnl": float(np.mean((proba[:, 1] > 0.5) == (test_samples.y == 1)))}

    table = privacy_utility_table("dp_logistic", train, test, epsilons=(0.01, math.inf), seeds=(0, 1), extra_metrics=hit_rate)
    assert list(table["epsilon"]) == [0.01, 0.01, math.inf, math.inf] and list(table["seed"]) == [0, 1, 0, 1]
    assert {"auc", "f1", "accuracy", "mia_advantage", "mia_advantage_yeom", "mia_auc", "mia_bound", "pnl"} <= set(table)
    by_eps = table.groupby("epsilon").mean(numeric_only=True)
    assert by_eps.loc[math.inf, "auc"] > 0.95 and by_eps.loc[math.inf, "accuracy"] > 0.9
    assert by_eps.loc[0.01, "auc"] < by_eps.loc[math.inf, "auc"] - 0.1
    np.testing.assert_allclose(table["pnl"], table["accuracy"])
    assert by_eps.loc[0.01, "mia_bound"] == pytest.approx(dp_advantage_bound(0.01))


def test_private_model_names_the_privacy_parameter():
    assert private_model("dp_mlp", 2.0).target_epsilon == 2.0
    assert private_model("dp_logistic", math.inf).epsilon is None
    with pytest.raises(ConfigError, match="has no privacy budget"):
        private_model("xgboost", 1.0)
    with pytest.raises(ConfigError, match="epsilons="):
        private_model("dp_mlp", 1.0, {"target_epsilon": 3.0})
    with pytest.raises(ConfigError, match="epsilon must be > 0"):
        private_model("dp_mlp", 0.0)


def test_holdout_attack_uses_training_period_rows_kept_out_of_the_fit():
    train, test = _samples(200, 4, 0, random_labels=True), _samples(60, 4, 1, random_labels=True)
    fitted = []

    import finfusion.evaluate.privacy as privacy

    original = privacy.private_model

    def spy(name, epsilon, params=None):
        model = original(name, epsilon, params)
        fit = model.fit
        model.fit = lambda data, valid=None: (fitted.append(data), fit(data))[1]
        return model

    privacy.private_model = spy
    try:
        table = privacy_utility_table("dp_logistic", train, test, epsilons=[1.0, math.inf], seeds=[0, 1], holdout=0.25)
    finally:
        privacy.private_model = original
    assert list(table["epsilon"]) == [1.0, 1.0, math.inf, math.inf] and list(table["seed"]) == [0, 1, 0, 1]
    assert set(table["nonmembers"]) == {"holdout 0.25"}
    assert all(len(data) == 150 for data in fitted)  # a quarter of the 200 training rows kept out
    dates = [set(data.index["date"]) for data in fitted]  # fits: (seed 0: ε 1, ∞), (seed 1: ε 1, ∞)
    assert dates[0] == dates[1] and dates[2] == dates[3]  # the same held-out rows for every ε of a seed
    assert dates[0] != dates[2]  # another seed holds out other rows
    with pytest.raises(ConfigError, match="holdout"):
        privacy_utility_table("dp_logistic", train, test, epsilons=[1.0], holdout=1.5)


def test_holdout_attack_on_a_memorising_model_finds_members():
    # a non-private MLP trained long on few random labels memorises them: the held-out rows (same
    # distribution, never fit) have higher loss, so the attack separates them
    train, test = _samples(120, 8, 2, random_labels=True), _samples(60, 8, 3, random_labels=True)
    params = {"hidden": 128, "epochs": 200, "batch_size": 16, "lr": 1e-2}
    table = privacy_utility_table("dp_mlp", train, test, epsilons=[0.5, math.inf], params=params, holdout=0.5)
    leak, guarded = table.set_index("epsilon").loc[math.inf], table.set_index("epsilon").loc[0.5]
    assert leak["mia_advantage"] > 0.4 and leak["mia_auc"] > 0.65
    assert guarded["mia_advantage"] < leak["mia_advantage"] - 0.2
