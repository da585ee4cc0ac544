"""`finfusion sentiment predict | evaluate` accept the lexicon scorers vader and lm (issue 17, item 2)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from finfusion.cli import main
from finfusion.text.scorers import load_scorer

TEXTS = ["Shares surge after record profit", "", "The company reports a heavy loss and a profit warning"]


@pytest.mark.parametrize("name", ["vader", "lm", "VADER"])
def test_predict_with_a_lexicon(name, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    assert main(["sentiment", "predict", name, str(src), "--quiet"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    scorer = load_scorer(name)
    assert [r["text"] for r in rows] == TEXTS
    assert [r["score"] for r in rows] == pytest.approx(scorer.score(TEXTS).tolist())  # the lexicon's own score
    assert [r["label"] for r in rows] == [r["label"] for r in scorer.predict_batch(TEXTS)]
    assert rows[0]["label"] == "positive" and rows[2]["label"] == "negative"
    assert set(rows[0]["probs"]) == {"negative", "neutral", "positive"}


def test_predict_with_a_lexicon_to_csv(tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"ticker": ["A", "B"], "text": TEXTS[::2]}).to_csv(src, index=False)
    assert main(["sentiment", "predict", "lm", str(src), "--keep", "ticker", "--out", str(out), "--quiet"]) == 0
    got = pd.read_csv(out)
    assert got["ticker"].tolist() == ["A", "B"] and got["label"].tolist() == ["positive", "negative"]
    assert {"p_negative", "p_neutral", "p_positive"} <= set(got.columns)


def test_lexicon_refuses_classifier_only_options(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("good\n")
    assert main(["sentiment", "predict", "vader", str(src), "--alpha", "2"]) == 2
    assert "--alpha / --beta weight a fine-tuned classifier's probabilities" in capsys.readouterr().err
    assert main(["sentiment", "predict", "vader", str(src), "--device", "cpu"]) == 2
    assert "--device applies to a fine-tuned classifier" in capsys.readouterr().err
    assert main(["sentiment", "predict", "vader", str(src), "--engine", "onnx", "--precision", "int8"]) == 2
    assert "--engine / --precision apply to a fine-tuned classifier; the lexicon 'vader' runs on the CPU (got " \
        "--engine onnx, --precision int8)" in capsys.readouterr().err


def test_evaluate_a_lexicon(tmp_path, capsys):
    data = tmp_path / "eval.txt"
    data.write_text("Shares surge after record profit@positive\nHeavy loss and a profit warning@negative\n"
                    "The meeting is on Tuesday@neutral\nProfit falls sharply@positive\n")
    assert main(["sentiment", "evaluate", "vader", str(data), "--out", str(tmp_path / "ev"), "--quiet"]) == 0
    out = capsys.readouterr().out
    labels = [r["label"] for r in load_scorer("vader").predict_batch(
        ["Shares surge after record profit", "Heavy loss and a profit warning", "The meeting is on Tuesday",
         "Profit falls sharply"])]
    correct = sum(p == t for p, t in zip(labels, ["positive", "negative", "neutral", "positive"]))
    assert f"eval.txt: n 4, accuracy {correct / 4:.4f}" in out
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["labels"] == ["negative", "neutral", "positive"]
    assert (tmp_path / "ev" / "report.html").is_file()
