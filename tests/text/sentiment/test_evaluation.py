"""Metrics, confusion matrix, error buckets and the evaluation files / report sections."""

from __future__ import annotations

import pandas as pd
import pytest

from finfusion.errors import DataError
from finfusion.evaluate.report import render_report
from finfusion.text.sentiment import SentimentClassifier
from finfusion.text.sentiment.error_analysis import analyse_errors, buckets_of
from finfusion.text.sentiment.evaluation import (
    confusion_frame,
    evaluate_classifier,
    evaluation_sections,
    label_metrics,
    write_evaluation,
)


def test_binary_metrics_are_on_the_positive_class():
    # labels (negative, positive); true 1 1 1 0 0, predicted 1 1 0 0 1
    m = label_metrics([1, 1, 1, 0, 0], [1, 1, 0, 0, 1], ("negative", "positive"))
    assert m["average"] == "binary" and m["n"] == 5
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # negative: precision 1/2, recall 1/2
    # the positive class is found by name, not by position
    m2 = label_metrics([0, 0, 0, 1, 1], [0, 0, 1, 1, 0], ("positive", "negative"))
    assert (m2["precision"], m2["recall"]) == pytest.approx((2 / 3, 2 / 3))


def test_three_class_metrics_are_macro_averaged():
    # true 0 0 1 1 2 2, predicted 0 1 1 1 2 0
    m = label_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], ("negative", "neutral", "positive"))
    assert m["average"] == "macro" and m["accuracy"] == pytest.approx(4 / 6)
    precision = (1 / 2 + 2 / 3 + 1) / 3
    recall = (1 / 2 + 1 + 1 / 2) / 3
    assert (m["precision"], m["recall"]) == pytest.approx((precision, recall))
    assert m["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3) == m["macro_f1"]


def test_confusion_rows_are_true_labels():
    cm = confusion_frame([0, 0, 1, 2], [1, 1, 1, 2], ("negative", "neutral", "positive"))
    assert cm.loc["negative", "neutral"] == 2 and cm.loc["neutral", "neutral"] == 1
    assert cm.to_numpy().sum() == 4 and cm.loc["neutral", "negative"] == 0


@pytest.mark.parametrize(
    "text, buckets",
    [
        ("not bad at all", ["negation", "short"]),
        ("Results can't beat last year's record strength in sales", ["negation"]),  # positive cues only
        ("Sales won't match the record despite a loss in Q3", ["negation", "mixed_polarity"]),
        ("$TSLA to the moon #bullish", ["ticker_hashtag", "short"]),
        ("see https://x.co/abc for the full quarterly results of the company", ["url"]),
        ("12.5 % +3", ["short", "numbers_only"]),
        ("$AAPL 150.2 +3%", ["ticker_hashtag", "short", "numbers_only"]),
        ("Profit rose but sales fell sharply in the third quarter of the year", ["mixed_polarity"]),
        ("The company will publish its results for the third quarter of 2025", []),
        ("Costs of $5 million were booked in the quarter as announced", []),  # $ then a digit: not a ticker
        ("Net sales , as expected", ["short"]),
    ],
)
def test_buckets(text, buckets):
    assert buckets_of(text) == buckets


def test_error_table_counts_rates_and_examples():
    frame = pd.DataFrame(
        {
            "text": [
                "not good",
                "sales did not fall in the quarter at all",
                "$AAPL up",
                "profit rose in the quarter of 2024",
                "the company said nothing new today in its report",
            ],
            "label": ["negative", "positive", "positive", "positive", "neutral"],
            "pred": ["positive", "negative", "positive", "positive", "negative"],
            "confidence": [0.9, 0.6, 0.8, 0.7, 0.55],
        }
    )
    # negation: rows 0, 1, 4 ("nothing"); short: rows 0, 2; ticker: row 2; no bucket: row 3; errors: rows 0, 1, 4
    ea = analyse_errors(frame, n_examples=2)
    table = ea.table.set_index("bucket")
    assert table.loc["negation", ["n_texts", "n_errors"]].tolist() == [3, 3]
    assert table.loc["short", ["n_texts", "n_errors"]].tolist() == [2, 1]
    assert table.loc["ticker_hashtag", ["n_texts", "n_errors"]].tolist() == [1, 0]
    assert table.loc["other", ["n_texts", "n_errors"]].tolist() == [1, 0]  # row 3
    assert table.loc["all", ["n_texts", "n_errors"]].tolist() == [5, 3]
    assert table.loc["short", "error_rate"] == pytest.approx(1 / 2)
    assert table.loc["negation", "share_of_errors"] == pytest.approx(1.0)
    negation = ea.examples[ea.examples["bucket"] == "negation"]
    assert negation["text"].tolist() == ["not good", "sales did not fall in the quarter at all"]  # top 2 by confidence
    assert len(ea.errors) == 3 and ea.errors["negation"].all()


def test_evaluate_classifier_with_the_constant_model(constant_dir, tmp_path):
    clf = SentimentClassifier.load(constant_dir)  # always positive (0.2, 0.3, 0.5)
    data = pd.DataFrame(
        {
            "text": ["stock rises", "shares slump", "ceo new plan", "profit"],
            "label": ["positive", "negative", "neutral", "positive"],
        }
    )
    ev = evaluate_classifier(clf, data, name="toy")
    assert ev.metrics["accuracy"] == pytest.approx(0.5)
    assert ev.confusion["positive"].tolist() == [1, 1, 2] and ev.predictions["score"].tolist() == pytest.approx(
        [0.3] * 4
    )
    assert ev.per_class.set_index("label").loc["positive", "recall"] == pytest.approx(1.0)
    paths = write_evaluation(ev, tmp_path / "eval")
    assert paths["confusion_matrix"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_csv(paths["errors"])) == 2 and len(pd.read_csv(paths["predictions"])) == 4
    html = render_report(title="t", sections=evaluation_sections(ev))
    assert "Error analysis (toy)" in html and "Confusion matrix (toy)" in html and "data:image/png;base64" in html


def test_rows_the_model_cannot_predict_are_left_out_and_counted(tiny_bert, make_model, tmp_path):
    model, tokenizer = make_model(tiny_bert, ("negative", "positive"))
    clf = SentimentClassifier(model, tokenizer, ("negative", "positive"))
    data = pd.DataFrame({"text": ["a", "b", "c"], "label": ["neutral", "positive", "negative"]})
    ev = evaluate_classifier(clf, data)
    assert ev.metrics["n"] == 2 and ev.removed == {"label not in the model (neutral)": 1}
    with pytest.raises(DataError, match="no row has a label of the model"):
        evaluate_classifier(clf, data.iloc[:1])
