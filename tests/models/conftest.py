"""Fixtures for model tests: synthetic `Samples` and fast settings per registered model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from finfusion.models.base import Samples, Task

# Per-model settings that keep the contract suite fast (a few seconds per model). A newly
# registered model runs with its defaults unless it adds an entry here.
FAST_PARAMS: dict[str, dict] = {
    "mlp": {"hidden": 32, "epochs": 20, "batch_size": 32, "lr": 3e-3},
    "xgboost": {"n_estimators": 60, "learning_rate": 0.2, "max_depth": 3},
    "lstm": {"hidden": 16, "dense": 8, "epochs": 20, "batch_size": 32, "lr": 1e-2},
    "adv_alstm": {"hidden": 8, "epochs": 20, "batch_size": 32, "lr": 1e-2},
    "naive": {"feature": "f0"},
    # DP at a loose budget, so the contract's "learns an easy problem" still holds under the noise.
    "dp_mlp": {"target_epsilon": 8.0, "hidden": 32, "epochs": 20, "batch_size": 32, "lr": 1e-2},
    "dp_logistic": {"epsilon": 8.0, "data_norm": 2.0},
    "factors": {"hidden": 32, "epochs": 20, "lr": 3e-3, "dropout": 0.0},
}

_POSITIVE = ("shares surge after strong earnings", "stock rallies on upbeat guidance", "record profit lifts the stock")
_NEGATIVE = ("shares slump after weak earnings", "stock tumbles on profit warning", "losses drag the stock down")


def _make_samples(
    task: Task = "regression",
    n: int = 200,
    d: int = 4,
    with_text: bool = False,
    lookback: int | None = None,
    seed: int = 0,
    dated: bool = False,
) -> Samples:
    """An easy, learnable problem: y depends linearly on the features of the last day.

    Regression: y = X[..., -1, :] @ w + 0.1·noise.  Classification: y = 1 if that score > 0
    else 0 (labels 0/1). With `with_text`, each text states the sign of the score in words
    (and "" for a tenth of the samples), so text models can learn the same target.
    X is (n, d), or (n, lookback, d) with a look-back.
    With `dated` (text samples of models that read items by day, `needs_item_ages`), each text is
    also a one-item `text_items` entry of age 1 (the day before the sample's date), and the extras
    of the StockNet benchmark's samples are given: "price_ages" (n, L): the rows of X are the
    consecutive days L .. 1 before the date (X (n, d) counts as one row, age 1), and
    "price_movements" (n, L): 0.01 x the row's first feature.
    """
    rng = np.random.default_rng(seed)
    shape = (n, d) if lookback is None else (n, lookback, d)
    X = rng.normal(size=shape).astype(np.float32)
    w = np.linspace(1.0, -0.5, d)
    score = X.reshape(n, -1, d)[:, -1, :] @ w
    if task == "regression":
        y = (score + 0.1 * rng.normal(size=n)).astype(np.float64)
    else:
        y = (score > 0).astype(np.int64)
    texts = None
    if with_text:
        pool = [_POSITIVE if s > 0 else _NEGATIVE for s in score]
        texts = tuple("" if rng.random() < 0.1 else p[rng.integers(len(p))] for p in pool)
    index = pd.DataFrame({"date": pd.bdate_range("2021-01-04", periods=n), "ticker": "AAA"})
    samples = Samples(index=index, X=X, y=y, feature_names=tuple(f"f{i}" for i in range(d)), task=task, texts=texts)
    return _dated(samples) if dated and with_text else samples


def _dated(samples: Samples) -> Samples:
    """`samples` with one-item text_items of age 1 and the benchmark's price extras (see `_make_samples`)."""
    rows = samples.X.reshape(len(samples), -1, samples.X.shape[-1])  # (n, L, d)
    n, lags = rows.shape[:2]
    return replace(samples, text_items=tuple((t,) if t else () for t in samples.texts),
                   text_item_ages=tuple((1,) if t else () for t in samples.texts),
                   extras={"price_ages": np.tile(np.arange(lags, 0, -1, dtype=np.int64), (n, 1)),
                           "price_movements": 0.01 * rows[:, :, 0].astype(np.float64)})


@pytest.fixture(name="make_samples")
def make_samples_fixture():
    """The `make_samples(task, n, d, with_text, lookback, seed, dated)` helper (see `_make_samples`)."""
    return _make_samples


def fast_params(name: str, **overrides) -> dict:
    """FAST_PARAMS[name] merged with `overrides`."""
    return {**FAST_PARAMS.get(name, {}), **overrides}


@pytest.fixture(name="fast_params")
def fast_params_fixture(tiny_bert):
    """Fast settings; text models run on the tiny BERT with end-to-end ("full") tuning."""
    text = {"model": str(tiny_bert), "tuning": "full", "hidden": 16, "epochs": 15, "batch_size": 32,
            "lr": 3e-3, "encoder_lr": 1e-3, "max_length": 16}
    FAST_PARAMS.setdefault("fusion", {**text, "heads": 2})
    FAST_PARAMS.setdefault("text_only", text)
    newsflow = {**text, "dropout": 0.0, "lr_schedule": "constant"}
    for name in ("news", "fusion_concat", "fusion_sum", "fusion_attention", "mixture"):
        FAST_PARAMS.setdefault(name, newsflow)
    FAST_PARAMS.setdefault("han", {**text, "tuning": "frozen", "attention": 8, "mlp_hidden": 16, "dropout": 0.0})
    FAST_PARAMS.setdefault("stocknet", {**text, "tuning": "frozen", "msg_size": 16, "g_size": 8, "dropout": 0.0, "lr": 1e-2})
    return fast_params


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny networks run fastest (and without contention on shared CI machines) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
