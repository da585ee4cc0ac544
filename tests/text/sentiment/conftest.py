"""Fixtures of the sentiment tests: tiny classifiers built on the tiny BERT of tests/conftest.py and
a toy labeled corpus written with its vocabulary (every word is one token)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from finfusion.text.sentiment import SentimentClassifier
from finfusion.text.sentiment.data import LABELS_3

POSITIVE = [
    "stock rises after strong earnings",
    "shares surge on record profit",
    "bank beats outlook , shares up",
    "apple raises dividend",
    "profit rallies",
    "sales beat , stock surges",
    "company lifts guidance",
    "record quarter , shares up",
]
NEGATIVE = [
    "stock falls after weak earnings",
    "shares slump on loss",
    "bank cuts guidance , shares down",
    "amazon warning , stock tumbles",
    "losses drag shares",
    "sales miss , stock slumps",
    "company cuts dividend",
    "weak quarter , shares down",
]
NEUTRAL = [
    "the company reports quarter results today",
    "ceo new plan",
    "the market today",
    "company results",
    "bank reports quarter",
    "apple company plan",
    "the bank ceo",
    "amazon reports sales today",
]
CONSTANT_PROBS = (0.2, 0.3, 0.5)  # negative, neutral, positive of the constant model
WORD_TEXTS = (
    "stock rises",
    "shares slump on loss after weak earnings , stock falls today",
    "profit",
    "the bank reports a record quarter , profit beat",
    "amazon cuts guidance",
    "market up",
)


def toy_frame(repeat: int = 2) -> pd.DataFrame:
    """frame[text, label]: 8 distinct texts per label, each repeated with a different suffix."""
    rows = []
    for k in range(repeat):
        suffix = "" if k == 0 else " " + " ".join(["."] * k)
        rows += [(t + suffix, "positive") for t in POSITIVE]
        rows += [(t + suffix, "negative") for t in NEGATIVE]
        rows += [(t + suffix, "neutral") for t in NEUTRAL]
    return pd.DataFrame(rows, columns=["text", "label"])


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run faster on one thread, especially on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def toy():
    """`toy(repeat=2)`: the toy corpus as frame[text, label]."""
    return toy_frame


@pytest.fixture(scope="session")
def word_texts():
    return list(WORD_TEXTS)


@pytest.fixture(scope="session")
def constant_probs():
    return CONSTANT_PROBS


@pytest.fixture(scope="session")
def make_model():
    """`make_model(model_dir, labels=LABELS_3, seed=0)` -> (a fresh sequence classifier, its tokenizer)."""
    return classification_model


def classification_model(tiny_bert, labels=LABELS_3, *, seed: int = 0):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_pretrained(
            tiny_bert,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)},
        )
    return model, AutoTokenizer.from_pretrained(tiny_bert)


@pytest.fixture(scope="session")
def constant_dir(tiny_bert, tmp_path_factory):
    """A saved 3-class model whose head ignores the text: probabilities CONSTANT_PROBS for every text."""
    model, tokenizer = classification_model(tiny_bert)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([math.log(p) for p in CONSTANT_PROBS]))
    return SentimentClassifier(model, tokenizer, LABELS_3, name="constant").save(tmp_path_factory.mktemp("c") / "m")


@pytest.fixture(scope="session")
def random_dir(tiny_bert, tmp_path_factory):
    """A saved 3-class model with a random head, scaled up and centred on WORD_TEXTS so that its
    probabilities clearly depend on the text (the tiny random BERT's pooled outputs differ little)."""
    model, tokenizer = classification_model(tiny_bert, seed=1)
    enc = tokenizer(list(WORD_TEXTS), padding=True, return_tensors="pt")
    with torch.no_grad():
        pooled = model.bert(**enc).pooler_output  # (6, 32)
        model.classifier.weight.mul_(3000.0)
        model.classifier.bias.copy_(-model.classifier.weight @ pooled.mean(0))
    return SentimentClassifier(model, tokenizer, LABELS_3, name="random").save(tmp_path_factory.mktemp("r") / "m")
