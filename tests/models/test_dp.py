"""DP-SGD direction classifier ("dp_mlp"): accounting against Opacus, noise, Poisson batches, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from finfusion.errors import ConfigError
from finfusion.models.dp import RDP_ALPHAS, DPMLPPredictor, default_delta
from finfusion.models.registry import make_predictor

SMALL = {"hidden": 16, "lr": 1e-2}


def test_default_delta_is_at_most_1e5_and_below_one_over_n():
    assert default_delta(1000) == 1e-5
    assert default_delta(100_000) == 1e-5
    assert default_delta(200_000) == 5e-6
    with pytest.raises(ValueError, match="n_train"):
        default_delta(0)


def test_epsilon_matches_opacus_accountant_for_a_given_noise_multiplier(make_samples):
    train = make_samples("classification", n=200, d=3, seed=0)  # q = 20 / 200 = 0.1, 10 steps per epoch
    model = DPMLPPredictor(noise_multiplier=1.0, batch_size=20, epochs=3, **SMALL).fit(train)
    assert (model.noise_multiplier_, model.sample_rate_, model.steps_) == (1.0, 0.1, 30)
    assert model.delta_ == 1e-5
    accountant = RDPAccountant()
    accountant.history = [(1.0, 0.1, 30)]
    assert model.epsilon_ == pytest.approx(accountant.get_epsilon(1e-5, alphas=list(RDP_ALPHAS)), rel=1e-12)
    # more noise, same steps: a smaller epsilon
    quieter = DPMLPPredictor(noise_multiplier=2.0, batch_size=20, epochs=3, **SMALL).fit(train)
    assert quieter.epsilon_ < model.epsilon_


def test_target_epsilon_calibrates_the_noise_like_opacus(make_samples):
    train = make_samples("classification", n=200, d=3, seed=0)
    model = DPMLPPredictor(target_epsilon=1.0, delta=1e-4, batch_size=20, epochs=2, **SMALL).fit(train)
    sigma = get_noise_multiplier(target_epsilon=1.0, target_delta=1e-4, sample_rate=0.1, epochs=2,
                                 accountant="rdp", alphas=list(RDP_ALPHAS))  # fmt: skip
    assert model.noise_multiplier_ == pytest.approx(sigma)
    assert model.delta_ == 1e-4 and model.steps_ == 20
    assert 0.98 <= model.epsilon_ <= 1.0  # Opacus' search stops within 0.01 below the target


def test_small_epsilon_reaches_for_the_extended_rdp_orders(make_samples):
    # Opacus' default RDP orders cannot certify epsilon 0.1 at delta 1e-5; finfusion's can
    train = make_samples("classification", n=200, d=3, seed=0)
    model = DPMLPPredictor(target_epsilon=0.1, batch_size=20, epochs=1, **SMALL).fit(train)
    assert 0.09 <= model.epsilon_ <= 0.1
    with pytest.raises(ConfigError, match="cannot be certified"):
        DPMLPPredictor(target_epsilon=1e-4, batch_size=20, epochs=1, **SMALL).fit(train)


def test_tiny_epsilon_is_near_chance_while_no_dp_learns(make_samples):
    data = make_samples("classification", n=400, d=4, seed=3)
    train, test = data.subset(slice(0, 300)), data.subset(slice(300, 400))
    params = {"hidden": 32, "epochs": 10, "batch_size": 30, "lr": 1e-2}
    plain = DPMLPPredictor(**params).fit(train)
    noisy = DPMLPPredictor(target_epsilon=0.1, **params).fit(train)
    acc_plain, acc_noisy = np.mean(plain.predict(test) == test.y), np.mean(noisy.predict(test) == test.y)
    assert acc_plain > 0.85
    assert abs(acc_noisy - 0.5) < 0.2 and acc_noisy < acc_plain - 0.2
    assert math.isinf(plain.epsilon_) and plain.noise_multiplier_ == 0.0


def test_poisson_batches_may_be_empty_and_hooks_are_removed(make_samples):
    train = make_samples("classification", n=40, d=3, seed=0)  # q = 1/40: about a third of the batches are empty
    model = DPMLPPredictor(noise_multiplier=1.0, batch_size=1, epochs=2, **SMALL).fit(train)
    assert model.steps_ == 80 and all(np.isfinite(model.history_.train_loss))
    for layer in model.module_.modules():
        assert not layer._forward_hooks and not layer._backward_hooks
    assert all(not hasattr(p, "grad_sample") for p in model.module_.parameters())
    assert model.predict(train).shape == (40,)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target_epsilon": -1.0}, "target_epsilon must be > 0"),
        ({"noise_multiplier": -0.5}, "noise_multiplier must be >= 0"),
        ({"target_epsilon": 1.0, "delta": 1.5}, r"delta must be in \(0, 1\)"),
        ({"target_epsilon": 1.0, "max_grad_norm": 0.0}, "max_grad_norm must be > 0"),
        ({"target_epsilon": 1.0, "accountant": "gdp"}, "accountant must be one of"),
        ({"target_epsilon": 1.0, "batch_size": 500}, "batch_size 500 exceeds the 50 training rows"),
        ({"target_epsilon": 1.0, "epochs": 0}, "needs epochs >= 1"),
    ],
)
def test_bad_privacy_params_are_named(make_samples, params, message):
    with pytest.raises(ConfigError, match=message):
        DPMLPPredictor(**params).fit(make_samples("classification", n=50, d=3))


def test_no_warm_start_and_classification_only(make_samples):
    model = make_predictor("dp_mlp", {"target_epsilon": 1.0})
    assert "warm_start" not in model.get_params()
    with pytest.raises(ValueError, match="supports tasks"):
        model.fit(make_samples("regression", n=50, d=3))


def test_a_model_without_dp_saves_strict_json_and_reloads_inf(make_samples, tmp_path):
    import json

    from finfusion.models.registry import load_predictor

    train = make_samples("classification", n=40, d=3, seed=0)
    DPMLPPredictor(epochs=1, **SMALL).fit(train).save(tmp_path)

    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    json.loads((tmp_path / "config.json").read_text(), parse_constant=reject)  # no Infinity / NaN
    assert math.isinf(load_predictor(tmp_path).epsilon_)
