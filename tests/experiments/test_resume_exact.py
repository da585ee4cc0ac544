"""A resumed run equals an uninterrupted one exactly, for every tuning mode of the text encoder.

Each run starts from a fresh process state (empty in-memory text cache, its own on-disk cache),
and the interrupted run is resumed from a fresh process state too: so the resumed part fills the
text caches with the whole training window at once, where the uninterrupted run filled them a
few texts per fold. Predictions must be equal, not close (README: "a resumed run equals an
uninterrupted one").
"""

from __future__ import annotations

import pandas as pd
import pytest

from finfusion.experiments import runner
from finfusion.experiments.config import parse_config
from finfusion.text import disk_cache
from finfusion.text.cache import cache_info, clear_cache

COLUMNS = ["date", "ticker", "y_true", "y_pred", "fold", "model", "seed"]
INTERRUPT_AT = 8  # after the second refit (folds 0, 6, 12), before the third


def config(model, tuning: str):
    """Fusion and Text-only on `model` (None: the bundled all-MiniLM-L6-v2). Two tickers with one
    text a day of 1-30 random words (so fills have very different padded widths), rolling window
    20, 14 folds, 3 warm-started refits (folds 0, 6, 12), tiny heads."""
    text = {"model": None if model is None else str(model), "tuning": tuning, "top_k": 1, "lora_rank": 2,
            "max_length": 32, "epochs": 2, "warm_epochs": 1, "warm_replay": 8, "batch_size": 16, "encoder_lr": 1e-3}
    return parse_config({
        "name": f"resume-{tuning}",
        "progress": False,
        "data": {"source": "simulate", "simulate": {"n_days": 35, "n_tickers": 2, "n_features": 2, "seed": 1,
                                                          "text_mode": "random", "random_text_words": [1, 30]}},
        "features": {"groups": ["extra"]},
        "models": [
            {"name": "fusion", "label": "Fusion", "params": {**text, "hidden": 8, "heads": 2}},
            {"name": "text_only", "label": "Text-only", "params": {**text, "hidden": 8}},
        ],
        "protocol": {"kind": "rolling", "window": 20, "refit_every": 6, "warm_start": True},
        "output": {"plots": False, "report": False},
    })


def fresh_process(monkeypatch, cache_dir) -> None:
    """What a new `finfusion run` process starts from: an empty in-memory text cache, and on disk
    `cache_dir` (None: FINFUSION_CACHE_DIR=off)."""
    monkeypatch.setenv(disk_cache.CACHE_ENV, str(cache_dir) if cache_dir is not None else disk_cache.OFF)
    clear_cache()
    disk_cache._cache.cache_clear()


# frozen and top_k cache frozen outputs: MiniLM, whose cached states changed by a float16 ulp with the
# texts they were encoded with (before the fix, predictions of the resumed run differed); full and
# lora cache nothing frozen and train the whole encoder: the tiny BERT keeps them fast. One frozen
# run keeps the on-disk cache on (the interrupted part's vectors come back from disk).
@pytest.mark.parametrize("tuning, bundled, disk", [("frozen", True, False), ("frozen", False, True),
                                                   ("top_k", True, False), ("full", False, False),
                                                   ("lora", False, False)])
def test_resumed_run_equals_the_uninterrupted_run(tiny_bert, tmp_path, monkeypatch, interrupt_at_fold, tuning,
                                                  bundled, disk):
    cfg = config(None if bundled else tiny_bert, tuning)
    fresh_process(monkeypatch, tmp_path / "cache-full" if disk else None)
    full = runner.run(cfg, run_dir=tmp_path / "full").predictions

    fresh_process(monkeypatch, tmp_path / "cache-cut" if disk else None)
    restore = interrupt_at_fold(INTERRUPT_AT)
    with pytest.raises(KeyboardInterrupt):
        runner.run(cfg, run_dir=tmp_path / "cut")
    restore()
    fresh_process(monkeypatch, tmp_path / "cache-cut" if disk else None)  # the same machine, a new process
    resumed = runner.run(None, run_dir=tmp_path / "cut", resume=True).predictions
    if tuning in ("frozen", "top_k"):  # the resumed part filled the cache with whole windows at once
        assert cache_info().kind("pooled" if tuning == "frozen" else "states").entries > 0
    if disk:
        assert list((tmp_path / "cache-cut").glob("encoder/*/part-*.keys.npy"))

    assert set(full["model"]) == {"Fusion", "Text-only"} and full["fold"].max() > INTERRUPT_AT + 4
    pd.testing.assert_frame_equal(resumed[COLUMNS], full[COLUMNS], check_exact=True)
