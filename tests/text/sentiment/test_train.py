"""Fine-tuning with Hugging Face's Trainer on the tiny BERT: the run directory, best-checkpoint restore,
checkpoint retention, early stopping, 2-class mode, reproducibility and resume."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file

from finfusion.errors import ConfigError
from finfusion.text.sentiment import SentimentClassifier
from finfusion.text.sentiment import hf as hf_module
from finfusion.text.sentiment.classifier import MANIFEST_NAME
from finfusion.text.sentiment.train import SentimentTrainConfig, train_sentiment

QUIET = {"log": lambda message: None, "progress": False}


def config(tiny_bert, **changes) -> SentimentTrainConfig:
    base = dict(
        model=str(tiny_bert),
        lr=5e-3,
        epochs=5,
        batch_size=8,
        valid_fraction=0.25,
        warmup_ratio=0.0,
        early_stopping_patience=None,
        save_total_limit=2,
        device="cpu",  # the pinned trajectory (best epoch 4) is the CPU one; CUDA draws other dropout masks
    )
    return SentimentTrainConfig(**(base | changes))


@pytest.fixture(scope="module")
def result(tiny_bert, tmp_path_factory, toy):
    """5 epochs on the toy corpus; with this seed the validation accuracy peaks (1.0) at epoch 4."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_sentiment(toy(2), tmp_path_factory.mktemp("run") / "pb", config(tiny_bert), source="toy", **QUIET)
    finally:
        torch.set_num_threads(threads)


def weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def test_the_best_epoch_is_restored_not_the_last(result):
    h = result.history
    assert result.epochs_run == 5 and len(h) == 5 and not result.stopped_early
    assert result.best_epoch == 4 and h["accuracy"].tolist()[3:] == pytest.approx([1.0, 10 / 12])
    assert result.valid.metrics["accuracy"] == pytest.approx(h["accuracy"].max())  # our evaluation = the trainer's
    step = int(h.loc[h["epoch"] == 4, "step"].iloc[0])
    best, saved = weights(result.run_dir / "checkpoints" / f"checkpoint-{step}"), weights(result.model_dir)
    assert best.keys() == saved.keys() and all(torch.equal(best[k], saved[k]) for k in best)
    last = weights(result.run_dir / "checkpoints" / f"checkpoint-{int(h['step'].iloc[-1])}")
    assert not torch.equal(last["classifier.weight"], saved["classifier.weight"])


def test_checkpoints_follow_the_retention_limit(result):
    names = sorted(p.name for p in (result.run_dir / "checkpoints").iterdir())
    steps = result.history["step"].astype(int).tolist()
    # save_total_limit=2: the older ones are deleted, the best (epoch 4) and the newest are kept
    assert names == sorted([f"checkpoint-{steps[3]}", f"checkpoint-{steps[4]}"])


def test_the_model_directory_describes_itself_and_loads_offline(result, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = {p.name for p in result.model_dir.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", MANIFEST_NAME} <= files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl"))]
    manifest = json.loads((result.model_dir / MANIFEST_NAME).read_text())
    assert manifest["labels"] == ["negative", "neutral", "positive"] and manifest["max_length"] == 128
    assert manifest["training"]["lr"] == 5e-3 and manifest["data"]["counts"] == {
        "negative": 16,
        "neutral": 16,
        "positive": 16,
    }
    assert manifest["metrics"]["valid"]["accuracy"] == 1.0 and manifest["best_epoch"] == 4
    valid = pd.read_json(result.run_dir / "splits" / "valid.jsonl", lines=True)
    loaded = SentimentClassifier.load(result.run_dir)
    predicted = [r["label"] for r in loaded.predict_batch(valid["text"].tolist())]
    assert np.mean(np.array(predicted) == valid["label"].to_numpy()) == 1.0
    np.testing.assert_allclose(
        loaded.score(valid["text"].tolist()), result.classifier.score(valid["text"].tolist()), atol=1e-6
    )


def test_the_run_directory_has_history_metrics_splits_and_report(result):
    run = result.run_dir
    assert json.loads((run / "metrics.json").read_text())["valid"]["accuracy"] == 1.0
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [1, 2, 3, 4, 5]
    data = json.loads((run / "data.json").read_text())
    assert data["split_sizes"] == {"train": 36, "valid": 12} and data["source"] == "toy"
    html = (run / "report.html").read_text()
    assert "Training" in html and "Error analysis (valid)" in html
    assert (run / "valid" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_early_stopping_ends_a_run_whose_metric_does_not_improve(tiny_bert, toy, tmp_path):
    res = train_sentiment(
        toy(1),
        tmp_path / "r",
        config(tiny_bert, lr=1e-9, epochs=10, early_stopping_patience=1, valid_fraction=0.4, save_total_limit=1),
        report=False,
        **QUIET,
    )
    assert res.epochs_run == 2 and res.stopped_early and res.best_epoch == 1
    # with save_total_limit=1 only the best checkpoint is left at the end
    step = int(res.history["step"].iloc[0])
    assert [p.name for p in (tmp_path / "r" / "checkpoints").iterdir()] == [f"checkpoint-{step}"]


def test_two_classes_drop_neutral_and_the_same_seed_gives_the_same_model(tiny_bert, toy, tmp_path):
    cfg = config(tiny_bert, classes=2, epochs=2, valid_fraction=0.25)
    a = train_sentiment(toy(1), tmp_path / "a", cfg, report=False, **QUIET)
    b = train_sentiment(toy(1), tmp_path / "b", cfg, report=False, **QUIET)
    assert a.classifier.labels == ("negative", "positive")
    assert json.loads((tmp_path / "a" / "data.json").read_text())["removed"] == {"neutral (2-class)": 8}
    wa, wb = weights(a.model_dir), weights(b.model_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_after_an_interruption_gives_the_uninterrupted_model(tiny_bert, toy, tmp_path, monkeypatch):
    cfg = config(tiny_bert, epochs=3, save_total_limit=3)
    whole = train_sentiment(toy(1), tmp_path / "whole", cfg, report=False, **QUIET)
    original = hf_module._progress_callback

    def interrupting(log, bar):
        callback = original(log, bar)

        def on_save(args, state, control, **kwargs):
            if round(state.epoch) == 2:
                raise KeyboardInterrupt

        callback.on_save = on_save
        return callback

    monkeypatch.setattr(hf_module, "_progress_callback", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train_sentiment(toy(1), tmp_path / "cut", cfg, report=False, **QUIET)
    monkeypatch.setattr(hf_module, "_progress_callback", original)
    assert not (tmp_path / "cut" / "model").exists()
    lines = []
    resumed = train_sentiment(
        toy(1), tmp_path / "cut", cfg, resume=True, report=False, log=lines.append, progress=False
    )
    assert any(line.startswith("resuming from") and "checkpoint-" in line for line in lines)
    assert sum(line.startswith("epoch ") for line in lines) == 1  # only epoch 3 was trained again
    wa, wb = weights(whole.model_dir), weights(resumed.model_dir)
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    assert resumed.history["valid_loss"].tolist() == pytest.approx(whole.history["valid_loss"].tolist(), abs=1e-6)


def test_run_directory_rules(tiny_bert, toy, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    with pytest.raises(ConfigError, match="busy: exists and is not empty"):
        train_sentiment(toy(1), tmp_path / "busy", config(tiny_bert), **QUIET)
    with pytest.raises(ConfigError, match="no config.json, so no run to resume"):
        train_sentiment(toy(1), tmp_path / "busy", config(tiny_bert), resume=True, **QUIET)
    (tmp_path / "busy" / "config.json").write_text(json.dumps(config(tiny_bert).to_dict()))
    with pytest.raises(ConfigError, match=r"lr \(0.005 there, 0.001 now\)"):
        train_sentiment(toy(1), tmp_path / "busy", config(tiny_bert, lr=1e-3), resume=True, **QUIET)


def test_config_is_validated():
    with pytest.raises(ValidationError, match=r"lr\n  Input should be greater than 0"):
        SentimentTrainConfig(lr=0)
    with pytest.raises(ValidationError, match="classes"):
        SentimentTrainConfig(classes=4)
    with pytest.raises(ValidationError, match=r"learning_rate\n  Extra inputs are not permitted"):
        SentimentTrainConfig.model_validate({"learning_rate": 1e-3})
    with pytest.raises(ValidationError, match=r"valid_fraction \+ test_fraction must be < 1"):
        SentimentTrainConfig(valid_fraction=0.6, test_fraction=0.4)
    with pytest.raises(ValidationError, match="device must be None, 'cpu' or 'cuda"):
        SentimentTrainConfig(device="tpu")
    assert SentimentTrainConfig().replace(epochs=2).epochs == 2
    with pytest.raises(ValidationError, match="epochs"):
        SentimentTrainConfig().replace(epochs=0)  # replace validates like the constructor
