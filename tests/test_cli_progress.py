"""Progress of a text model's first window (issue 17, item 4): with progress on, a status line
names the first fit, a bar counts the texts being encoded and one counts the epochs; with
progress off (`--quiet`, `progress: false`) nothing is written."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import finfusion.progress as progress
from finfusion.models.base import Samples
from finfusion.models.registry import make_predictor
from finfusion.protocols.engine import run_protocol
from finfusion.protocols.splitters import RollingWindow
from finfusion.text import encoder

SUBJECTS = ("stock", "shares", "price", "company", "bank")
MOVES = ("rises", "falls", "surges", "slumps")
TAILS = ("today", "after earnings", "on guidance", "up", "down", "before results")


def _samples(n_dates: int = 32, tickers: tuple[str, ...] = ("A", "B", "C", "D")) -> Samples:
    """Texts differ from sample to sample (120 distinct ones, all in the first window of 30 dates)."""
    texts = [" ".join(t) for t in itertools.product(SUBJECTS, MOVES, TAILS)]
    dates = pd.bdate_range("2021-01-04", periods=n_dates)
    index = pd.DataFrame({"date": np.repeat(dates, len(tickers)), "ticker": np.tile(tickers, n_dates)})
    n = len(index)
    rng = np.random.default_rng(0)
    return Samples(index=index, X=rng.normal(size=(n, 2)).astype(np.float32), y=rng.normal(size=n),
                   feature_names=("f0", "f1"), task="regression",
                   texts=tuple(texts[i % len(texts)] for i in range(n)))


@pytest.mark.parametrize("show", [True, False])
def test_first_fit_of_a_text_model_shows_progress(show, tiny_bert, capfd):
    assert encoder.PROGRESS_MIN_TEXTS <= 120  # the first window's texts get a bar
    model = make_predictor("text_only", {"model": str(tiny_bert), "tuning": "top_k", "top_k": 1, "hidden": 8,
                                         "epochs": 2, "batch_size": 32, "max_length": 16})
    with progress.showing(show):  # the runner enters it with config.progress
        preds = run_protocol(model, _samples(), RollingWindow(window=30, refit_every=10), model_name="Text-only")
    err = capfd.readouterr().err
    assert len(preds) == 2 * 4
    shown = ["Text-only: fitting fold 0 of 2 on 120 training rows; encoding its texts first",
             "encoding texts", "epochs"]
    if show:
        assert all(s in err for s in shown), err
        assert err.count("fitting fold") == 1  # only the first fit is announced
    else:
        assert err == ""
    assert model.get_params()["show_progress"] is False  # the caller's predictor is left as it was
