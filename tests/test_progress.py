"""`finfusion.progress` (issue 18): one home for whether bars show, scoped to a context, and one
way to make a bar (a tqdm bar, or a null bar with the same surface)."""

from __future__ import annotations

import contextvars
import io
import threading
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from tqdm.std import tqdm as std_tqdm

import finfusion
import finfusion.progress as progress
from finfusion.features.sentiment import score_texts
from finfusion.models.base import Samples
from finfusion.models.registry import make_predictor
from finfusion.protocols.engine import run_protocol
from finfusion.protocols.splitters import RollingWindow
from finfusion.text.sentiment import SentimentClassifier, classifier, hf


def test_showing_sets_the_setting_for_the_block_and_restores_it():
    assert progress.enabled()  # the default: bars show
    with progress.showing(False):
        assert not progress.enabled()
        with progress.showing(True):
            assert progress.enabled()
        assert not progress.enabled()
    assert progress.enabled()


def test_showing_restores_the_previous_setting_on_an_exception():
    with progress.showing(False):
        with pytest.raises(RuntimeError, match="boom"), progress.showing(True):
            raise RuntimeError("boom")
        assert not progress.enabled()
    assert progress.enabled()


def test_showing_refuses_a_value_that_is_not_a_bool():
    with pytest.raises(TypeError, match="expects a bool, got 'no'"), progress.showing("no"):
        pass
    assert progress.enabled()


def test_an_explicit_setting_overrides_the_context():
    with progress.showing(False):
        assert progress.enabled(True) is True
        assert progress.enabled(None) is False
    assert progress.enabled(False) is False


def _use(bar) -> None:
    """Everything finfusion does with a bar."""
    with bar:
        bar.update(3)
        bar.set_postfix({"loss": "0.5"})
        with bar.external_write_mode():
            pass


def test_a_bar_is_null_and_silent_when_progress_is_off(capsys):
    with progress.showing(False):
        bar = progress.bar(10, "hidden")
    assert isinstance(bar, progress.NullBar)
    _use(bar)
    assert isinstance(progress.bar(10, "off", enabled=False), progress.NullBar)  # explicit beats the default
    assert capsys.readouterr().err == ""


def test_a_bar_below_min_total_is_null(capsys):
    bar = progress.bar(99, "short", min_total=100)
    assert isinstance(bar, progress.NullBar)
    _use(bar)
    assert capsys.readouterr().err == ""
    with progress.bar(100, "long enough", min_total=100) as shown:
        assert isinstance(shown, std_tqdm)


def test_a_bar_is_a_tqdm_on_stderr_when_progress_is_on(capsys):
    with progress.showing(False):
        bar = progress.bar(10, "counting", unit="text", initial=4, enabled=True)  # explicit beats the context
    assert isinstance(bar, std_tqdm)
    assert bar.n == 4 and bar.total == 10 and bar.unit == "text"
    _use(bar)
    err = capsys.readouterr().err
    assert "counting" in err


def test_a_null_bar_still_writes_lines():
    out = io.StringIO()
    progress.NullBar().write("fold 0", file=out)
    assert out.getvalue() == "fold 0\n"


def test_min_total_must_not_be_negative():
    with pytest.raises(ValueError, match=r"progress.bar\('x'\): min_total must be >= 0, got -1"):
        progress.bar(3, "x", min_total=-1)


def _in_thread(target, context: contextvars.Context | None = None) -> list:
    seen: list = []
    run = (lambda: seen.append(context.run(target))) if context is not None else (lambda: seen.append(target()))
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen


def test_the_setting_belongs_to_a_context():
    with progress.showing(False):
        assert _in_thread(progress.enabled, contextvars.copy_context()) == [False]  # carried over
        assert _in_thread(progress.enabled) == [True]  # a plain thread starts from the default
    # a block in another thread does not change this one's setting
    assert _in_thread(lambda: _hide_and_report()) == [False]
    assert progress.enabled()


def _hide_and_report() -> bool:
    with progress.showing(False):
        return progress.enabled()


def _samples(n_dates: int = 36, tickers: tuple[str, ...] = ("A", "B")) -> Samples:
    dates = pd.bdate_range("2021-01-04", periods=n_dates)
    index = pd.DataFrame({"date": np.repeat(dates, len(tickers)), "ticker": np.tile(tickers, n_dates)})
    rng = np.random.default_rng(0)
    return Samples(index=index, X=rng.normal(size=(len(index), 2)).astype(np.float32), y=rng.normal(size=len(index)),
                   feature_names=("f0", "f1"), task="regression")


@pytest.mark.parametrize("show", [True, False])
def test_run_protocol_follows_the_context_unless_told(show, capfd):
    model = make_predictor("mlp", {"hidden": 4, "epochs": 1})
    with progress.showing(show):
        run_protocol(model, _samples(), RollingWindow(window=30, refit_every=3), model_name="folds-bar")
    err = capfd.readouterr().err
    assert ("folds-bar" in err) is show
    with progress.showing(True):
        run_protocol(model, _samples(), RollingWindow(window=30, refit_every=3), model_name="told", progress=False)
    assert capfd.readouterr().err == ""


def test_a_quiet_run_is_silent_and_leaves_the_callers_setting(tmp_path, capfd):
    config = {
        "name": "quiet",
        "data": {"source": "simulate", "simulate": {"n_days": 60, "n_features": 2, "seed": 1}},
        "features": {"groups": ["extra"]},
        "models": [{"name": "mlp", "params": {"hidden": 4, "epochs": 1}}],
        "protocol": {"kind": "rolling", "window": 40, "refit_every": 10},
    }
    finfusion.run(config, out=tmp_path / "run", progress=False)
    assert capfd.readouterr().err == ""
    assert progress.enabled()  # a process-wide flag set by the run would stay off here


# -- the bars of the text modules -------------------------------------------------------------------


class _Recorder:
    """A scorer with a bar (like the classifier) that records the show_progress it was given."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def score(self, texts, batch_size: int = 64, *, show_progress: bool = False):
        self.seen.append(show_progress)
        return np.zeros(len(texts))


@pytest.mark.parametrize("show", [True, False])
def test_sentiment_scoring_passes_the_context_to_a_scorer_with_a_bar(show):
    scorer = _Recorder()
    with progress.showing(show):
        score_texts(["up", "down", "flat"], scorer)
    assert scorer.seen == [show]


@pytest.fixture(scope="module")
def tiny_classifier(tiny_bert):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = ("negative", "neutral", "positive")
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=3, id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    return SentimentClassifier(model, AutoTokenizer.from_pretrained(tiny_bert), labels)


def test_the_classifier_bar_follows_its_argument_and_threshold(tiny_classifier, monkeypatch, capfd):
    monkeypatch.setattr(classifier, "PROGRESS_MIN_TEXTS", 3)
    texts = ["stock rises", "shares slump", "profit", "the bank"]
    with progress.showing(False):  # an explicit show_progress wins over the context
        tiny_classifier.predict_proba(texts, 2, show_progress=True)
    assert "sentiment" in capfd.readouterr().err
    tiny_classifier.predict_proba(texts, 2, show_progress=False)
    tiny_classifier.predict_proba(texts[:2], 2, show_progress=True)  # fewer than PROGRESS_MIN_TEXTS
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("show", [True, False])
def test_the_fine_tuning_bar_and_its_epoch_lines(show, capfd):
    lines: list[str] = []
    callback = hf._progress_callback(lines.append, show)
    args, state = SimpleNamespace(num_train_epochs=2), SimpleNamespace(max_steps=4, global_step=1, epoch=1.0)
    callback.on_train_begin(args, state, None)
    callback.on_step_end(args, state, None)
    callback.on_log(args, state, None, logs={"loss": 0.5})
    callback.on_evaluate(args, state, None, metrics={"eval_loss": 0.25, "eval_accuracy": 1.0, "eval_f1": 1.0})
    callback.on_train_end(args, state, None)
    assert lines == ["epoch 1/2: train loss 0.5000, valid loss 0.2500, accuracy 1.0000, f1 1.0000"]
    err = capfd.readouterr().err
    assert ("fine-tuning" in err) is show and (err == "") is not show
