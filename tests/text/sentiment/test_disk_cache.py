"""The on-disk probability cache of saved classifiers: hits equal fresh values, keys follow the
model's files and max_length, damage and unwritable directories are reported, never hidden."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from finfusion.text import disk_cache
from finfusion.text.disk_cache import CACHE_ENV, cache_root
from finfusion.text.sentiment import SentimentClassifier


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _parts(root):
    return sorted(root.glob("sentiment/*/part-*.keys.npy"))


def _model_must_not_run(clf, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model ran although every text was cached")

    monkeypatch.setattr(clf.model, "forward", refuse)


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_root() is None
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "finfusion"


def test_a_second_load_reads_the_cache_and_gives_the_same_probabilities(random_dir, word_texts, cache_dir, monkeypatch):
    first = SentimentClassifier.load(random_dir).predict_proba(word_texts)
    assert len(_parts(cache_dir)) == 1
    disk_cache._cache.cache_clear()  # as a new process: read the rows from disk
    again = SentimentClassifier.load(random_dir)
    _model_must_not_run(again, monkeypatch)
    np.testing.assert_array_equal(again.predict_proba(word_texts[::-1] + [""]), np.vstack([first[::-1], np.full(3, 1 / 3)]))


def test_only_new_texts_run_and_are_added(random_dir, word_texts, cache_dir):
    clf = SentimentClassifier.load(random_dir)
    clf.predict_proba(word_texts[:2])
    seen = []
    forward = clf.model.forward
    clf.model.forward = lambda *a, **k: (seen.append(k["input_ids"].shape[0]), forward(*a, **k))[1]
    clf.predict_proba(word_texts)
    assert sum(seen) == len(word_texts) - 2
    assert len(_parts(cache_dir)) == 2


def test_off_writes_nothing(random_dir, word_texts, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    SentimentClassifier.load(random_dir).predict_proba(word_texts)
    assert not (tmp_path / "xdg").exists()


def test_other_weights_or_max_length_use_another_cache(random_dir, word_texts, cache_dir, tmp_path):
    SentimentClassifier.load(random_dir).predict_proba(word_texts)
    shorter = SentimentClassifier.load(random_dir)
    shorter.max_length = 4
    short = shorter.predict_proba(word_texts)
    assert len({p.parent for p in _parts(cache_dir)}) == 2
    copy = tmp_path / "retrained"
    shutil.copytree(random_dir, copy)
    clf = SentimentClassifier.load(copy)
    with torch.no_grad():
        clf.model.classifier.bias.add_(1.0)
    clf.save(copy)
    SentimentClassifier.load(copy).predict_proba(word_texts)
    assert len({p.parent for p in _parts(cache_dir)}) == 3
    assert not np.allclose(short, SentimentClassifier.load(random_dir).predict_proba(word_texts))


def test_weights_changed_after_loading_bypass_the_cache(random_dir, word_texts, cache_dir):
    clf = SentimentClassifier.load(random_dir)
    before = clf.predict_proba(word_texts)
    with torch.no_grad():
        clf.model.classifier.bias.add_(torch.tensor([5.0, 0.0, 0.0]))
    after = clf.predict_proba(word_texts)
    assert (after[:, 0] > before[:, 0]).all()
    assert len(_parts(cache_dir)) == 1


def test_a_damaged_part_is_reported_and_recomputed(random_dir, word_texts, cache_dir):
    fresh = SentimentClassifier.load(random_dir).predict_proba(word_texts)
    _parts(cache_dir)[0].write_bytes(b"not a numpy file")
    disk_cache._cache.cache_clear()  # as a new process
    with pytest.warns(UserWarning, match="skipping unreadable"):
        again = SentimentClassifier.load(random_dir).predict_proba(word_texts)
    np.testing.assert_allclose(again, fresh, rtol=0, atol=1e-12)


def test_an_unwritable_cache_warns_and_still_predicts(random_dir, word_texts, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    with pytest.warns(UserWarning, match="cannot write"):
        probs = SentimentClassifier.load(random_dir).predict_proba(word_texts)
    assert probs.shape == (len(word_texts), 3)
