"""Num-only MLP specifics: architecture, warm starts, early stopping, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from finfusion.errors import ConfigError, DataError
from finfusion.models.mlp import MLPPredictor

FAST = {"hidden": 16, "epochs": 4, "batch_size": 32, "lr": 3e-3}


def test_architecture_is_seed_000s_num_only_mlp(make_samples):
    model = MLPPredictor(**FAST).fit(make_samples("regression", n=64, d=5))
    layers = [m for m in model.module_.modules() if isinstance(m, (nn.Linear, nn.ReLU))]
    kinds = [type(m).__name__ for m in layers]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 16), (16, 16), (16, 16), (16, 1)]


def test_classification_has_one_logit_per_class(make_samples):
    data = make_samples("classification", n=90, d=3)
    data = data.with_arrays(y=np.where(data.y == 1, 7, np.arange(90) % 2 * 3))  # labels {0, 3, 7}
    model = MLPPredictor(**FAST).fit(data)
    assert model.classes_.tolist() == [0, 3, 7]
    assert model.module_.head.net[-1].out_features == 3
    assert set(model.predict(data)) <= {0, 3, 7}


def test_lookback_is_flattened(make_samples):
    model = MLPPredictor(**FAST).fit(make_samples("regression", n=40, d=3, lookback=4))
    assert model.input_shape_ == (4, 3) and model.n_features_in_ == 12


def test_warm_start_continues_for_warm_epochs(make_samples):
    data = make_samples("regression", n=64)
    model = MLPPredictor(**FAST, warm_start=True, warm_epochs=2).fit(data)
    first = {k: v.clone() for k, v in model.module_.state_dict().items()}
    module = model.module_
    model.fit(data)
    assert model.module_ is module and len(model.history_.train_loss) == 2
    assert any(not (first[k] == v).all() for k, v in module.state_dict().items())
    cold = MLPPredictor(**FAST).fit(data)
    cold.fit(data)  # warm_start=False refits from scratch: same as one fit
    np.testing.assert_array_equal(cold.predict(data), MLPPredictor(**FAST).fit(data).predict(data))


def test_warm_start_rejects_a_changed_architecture(make_samples, tmp_path):
    data = make_samples("regression", n=32)
    model = MLPPredictor(**FAST, warm_start=True).fit(data)
    model.save(tmp_path)
    for m in (model, MLPPredictor().load(tmp_path)):
        m.set_params(hidden=8)
        with pytest.raises(ValueError, match=r"warm_start.*'hidden': \(16, 8\)"):
            m.fit(data)


def test_warm_start_rejects_new_classes(make_samples):
    data = make_samples("classification", n=64)
    model = MLPPredictor(**FAST, warm_start=True).fit(data)
    with pytest.raises(DataError, match=r"classes \[2\]"):
        model.fit(data.with_arrays(y=np.where(data.y == 1, 2, 0)))


def test_early_stopping_uses_valid(make_samples):
    data = make_samples("regression", n=120)
    model = MLPPredictor(**{**FAST, "epochs": 40}, early_stopping_patience=2)
    model.fit(data.subset(slice(0, 80)), data.subset(slice(80, 120)))
    h = model.history_
    assert h.best_epoch is not None and len(h.valid_loss) == len(h.train_loss)
    with pytest.raises(ConfigError, match="valid"):
        MLPPredictor(**FAST, early_stopping_patience=2).fit(data)


def test_trainer_gets_the_params(make_samples):
    model = MLPPredictor(**FAST, l2=0.01, grad_clip=None, weight_decay=0.0, seed=3)
    model.fit(make_samples("classification", n=32))
    cfg = model._trainer_config(5)
    assert (cfg.l2, cfg.grad_clip, cfg.weight_decay, cfg.seed, cfg.loss, cfg.epochs) == (0.01, None, 0.0, 3, "cross_entropy", 5)


def test_bad_inputs_are_named(make_samples):
    data = make_samples("regression", n=32)
    X = data.X.copy()
    X[5, 2] = np.nan
    with pytest.raises(DataError, match=r"1 non-finite.*sample 5, feature 'f2'"):
        MLPPredictor(**FAST).fit(data.with_arrays(X=X))
    y = data.y.copy()
    y[0] = np.inf
    with pytest.raises(DataError, match="train y has 1 non-finite"):
        MLPPredictor(**FAST).fit(data.with_arrays(y=y))
    one_class = make_samples("classification", n=32).with_arrays(y=np.zeros(32, dtype=np.int64))
    with pytest.raises(DataError, match=">= 2 classes"):
        MLPPredictor(**FAST).fit(one_class)
    assert not hasattr(MLPPredictor(**FAST), "task_")


def test_failed_fit_leaves_the_model_unfitted(make_samples):
    data = make_samples("classification", n=32)
    model = MLPPredictor(**FAST)
    with pytest.raises(DataError):
        model.fit(data.with_arrays(y=np.zeros(32, dtype=np.int64)))
    assert not [k for k in vars(model) if k.endswith("_")]


def test_predict_proba_needs_classification(make_samples):
    model = MLPPredictor(**FAST).fit(make_samples("regression", n=32))
    with pytest.raises(TypeError, match="classification"):
        model.predict_proba(make_samples("regression", n=8))


def test_batch_outputs_map_the_fitted_network_over_batches_in_order(make_samples):
    data = make_samples("regression", n=70, d=3)
    model = MLPPredictor(**FAST).fit(data)
    model.predict_batch_size = 16  # 70 rows: 5 batches, the last of 6
    hidden = model.batch_outputs(data, lambda m, b: m.num_encoder(b["x"]))  # (n, hidden)
    assert hidden.shape == (70, 16) and not model.module_.training
    np.testing.assert_allclose(model.batch_outputs(data, lambda m, b: m(b)).squeeze(-1).numpy(),
                               model.predict(data), rtol=1e-6)
    with pytest.raises(DataError, match=r"shape \(4,\), the model was fitted on \(3,\)"):
        model.batch_outputs(make_samples("regression", n=8, d=4), lambda m, b: m(b))
