import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open

from finfusion.models.registry import make_predictor
from finfusion.models.text_models import FusionPredictor
from finfusion.protocols.engine import run_protocol
from finfusion.protocols.splitters import RollingWindow


@pytest.fixture
def text_params(tiny_bert):
    return {"model": str(tiny_bert), "hidden": 16, "heads": 2, "epochs": 3, "batch_size": 32, "lr": 3e-3,
            "encoder_lr": 1e-3, "max_length": 16}


def test_attention_weights_are_a_distribution_over_named_tokens(make_samples, text_params):
    data = make_samples("regression", n=80, d=3, with_text=True, lookback=4)
    model = FusionPredictor(**text_params).fit(data)
    weights = model.predict_attention(data)
    assert weights.shape == (80, 2, 3 + 4)  # heads x (3 features of day t + 4 look-back days)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    assert model.token_names() == ["f0", "f1", "f2", "day t-3", "day t-2", "day t-1", "day t-0"]


@pytest.mark.parametrize("tuning, encoder_saved", [("frozen", False), ("top_k", True), ("full", True)])
def test_checkpoints_hold_only_what_training_changes(make_samples, text_params, tmp_path, tuning, encoder_saved):
    data = make_samples("regression", n=60, d=3, with_text=True)
    model = FusionPredictor(**{**text_params, "tuning": tuning, "top_k": 1}).fit(data)
    model.save(tmp_path)
    with safe_open(str(tmp_path / "weights.safetensors"), "pt") as f:
        keys = list(f.keys())
    encoder_keys = [k for k in keys if k.startswith("encoder.")]
    assert bool(encoder_keys) == encoder_saved
    if tuning == "top_k":  # only the top layer of the 3-layer encoder trains
        assert all(k.startswith("encoder.top.0.") for k in encoder_keys), encoder_keys
        assert not any("embeddings" in k for k in encoder_keys)
    restored = FusionPredictor().load(tmp_path)
    np.testing.assert_array_equal(restored.predict(data), model.predict(data))


def test_encoder_trains_with_its_own_learning_rate(make_samples, text_params):
    data = make_samples("regression", n=40, d=3, with_text=True)
    model = FusionPredictor(**{**text_params, "encoder_lr": 1e-4, "epochs": 1}).fit(data)
    config = model._trainer_config(1)
    assert config.param_group_lrs == {"encoder.": 1e-4}
    before = {k: v.clone() for k, v in model.module_.encoder.trainable_state_dict().items()}
    model.set_params(warm_start=True).fit(data)
    after = model.module_.encoder.trainable_state_dict()
    assert any(not np.allclose(before[k], after[k]) for k in before)  # end-to-end: the encoder moved


def test_encoder_frozen_epochs_hold_the_encoder_on_cold_fits_only(make_samples, text_params):
    data = make_samples("regression", n=40, d=3, with_text=True)
    model = FusionPredictor(**{**text_params, "encoder_frozen_epochs": 2, "epochs": 2}).fit(data)
    assert model._trainer_config(2).frozen_epochs == {"encoder.": 2}
    assert model._trainer_config(2, warm=True).frozen_epochs == {}
    fresh = FusionPredictor(**{**text_params, "epochs": 0}).fit(data)  # the pretrained top layer
    for name, value in fresh.module_.encoder.trainable_state_dict().items():  # two frozen epochs: unchanged
        torch.testing.assert_close(model.module_.encoder.trainable_state_dict()[name], value, rtol=0, atol=0)
    assert all(p.requires_grad for p in model.module_.encoder.parameters())  # trainable afterwards


def test_text_only_ignores_numeric_features(make_samples, text_params):
    data = make_samples("regression", n=60, d=3, with_text=True)
    params = {k: v for k, v in text_params.items() if k != "heads"}
    model = make_predictor("text_only", params).fit(data)
    shuffled = data.with_arrays(X=np.random.default_rng(1).normal(size=data.X.shape).astype(np.float32))
    np.testing.assert_array_equal(model.predict(data), model.predict(shuffled))


def test_rolling_warm_start_with_replay_resumes_exactly(make_samples, text_params, tmp_path, interrupt_at_fold):
    data = make_samples("regression", n=70, d=3, with_text=True)
    params = {**text_params, "tuning": "top_k", "top_k": 1, "warm_epochs": 1, "warm_replay": 8}
    kwargs = {"warm_start": True, "progress": False, "checkpoint_every": 2}
    splitter = RollingWindow(window=50, refit_every=2)
    full = run_protocol(FusionPredictor(**params), data, splitter, checkpoint_dir=tmp_path / "a", **kwargs)
    restore = interrupt_at_fold(9)
    with pytest.raises(KeyboardInterrupt):
        run_protocol(FusionPredictor(**params), data, splitter, checkpoint_dir=tmp_path / "b", **kwargs)
    restore()
    resumed = run_protocol(FusionPredictor(**params), data, splitter, checkpoint_dir=tmp_path / "b", **kwargs)
    pd.testing.assert_frame_equal(full, resumed)
    assert {c for c in full.columns if c.startswith("att_")} == {"att_f0", "att_f1", "att_f2"}


def test_lora_fusion_trains_only_adapters_and_round_trips(make_samples, text_params, tmp_path):
    data = make_samples("classification", n=60, d=3, with_text=True)
    model = FusionPredictor(**{**text_params, "tuning": "lora", "lora_rank": 2}).fit(data)
    trainable = [n for n, p in model.module_.encoder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    model.save(tmp_path)
    restored = FusionPredictor().load(tmp_path)
    np.testing.assert_array_equal(restored.predict_proba(data), model.predict_proba(data))
