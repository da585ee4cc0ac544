"""Fixtures shared by all test folders: a tiny random BERT saved to disk (no network, ~1 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Tests never read or write the user's on-disk caches; the cache tests turn theirs on in tmp dirs.
os.environ["FINFUSION_CACHE_DIR"] = "off"

WORDS = (
    "the a stock shares price rises falls surges slumps after before strong weak earnings profit loss "
    "guidance record low high company bank reports quarter results upbeat warning market today up down "
    "apple amazon sales beat miss outlook cuts raises dividend ceo new plan , . $ "
    "surge slump tumbles rallies on losses drag lifts"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tiny_bert(directory: Path, *, seed: int = 0) -> Path:
    """A 3-layer BERT (hidden 32, 2 heads, FFN 64) with a hand-written vocabulary, saved with
    `save_pretrained` (model + tokenizer) into `directory`."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL + list(dict.fromkeys(WORDS))) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(directory)  # reads vocab.txt (transformers 5 ignores vocab_file=)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=3,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture
def interrupt_at_fold(monkeypatch):
    """`restore = interrupt_at_fold(k)`: protocol runs stop with KeyboardInterrupt at fold k (as a
    user's Ctrl-C would) until `restore()` is called."""
    from finfusion.protocols import engine

    original = engine.predict_fold

    def arm(fold: int):
        def crash(state, samples, split, *args, **kwargs):
            if split.fold == fold:
                raise KeyboardInterrupt
            return original(state, samples, split, *args, **kwargs)

        monkeypatch.setattr(engine, "predict_fold", crash)
        return lambda: monkeypatch.setattr(engine, "predict_fold", original)

    return arm
