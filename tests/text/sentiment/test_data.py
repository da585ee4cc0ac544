"""Reading labeled texts, label names, 2-/3-class preparation and the stratified split."""

from __future__ import annotations

import pandas as pd
import pytest

from finfusion.errors import ConfigError, DataError
from finfusion.text.sentiment.data import (
    LABELS_2,
    LABELS_3,
    canonical_label,
    parse_label_map,
    prepare_labeled,
    read_labeled,
    stratified_split,
)


def frame(counts: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{label} text number {i}", label) for label, n in counts.items() for i in range(n)]
    return pd.DataFrame(rows, columns=["text", "label"])


# -- reading ---------------------------------------------------------------------------------------


def test_reads_a_phrasebank_file(tmp_path):
    path = tmp_path / "Sentences_AllAgree.txt"
    path.write_text("Profit rose 5 % .@positive\nSales fell @ EUR 3 mn .@negative\n\nThe CEO spoke .@neutral\n")
    got = read_labeled(path)
    assert got.to_dict(orient="list") == {
        "text": ["Profit rose 5 % .", "Sales fell @ EUR 3 mn .", "The CEO spoke ."],
        "label": ["positive", "negative", "neutral"],
    }


def test_reads_a_csv_with_default_columns_and_label_aliases(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,sentence,sentiment\n1,up we go,Bullish\n2,down we go, NEG \n3,flat,neutral\n")
    got = read_labeled(path)
    assert got["label"].tolist() == ["positive", "negative", "neutral"]
    assert got["text"].tolist() == ["up we go", "down we go", "flat"]


def test_reads_jsonl_with_named_columns(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"body": "good", "y": "positive"}\n\n{"body": "bad", "y": "negative"}\n')
    got = read_labeled(path, text_col="body", label_col="y")
    assert got.to_dict(orient="list") == {"text": ["good", "bad"], "label": ["positive", "negative"]}


def test_integer_labels_need_a_label_map(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\na,0\nb,1\nc,1\n")
    with pytest.raises(
        DataError, match=r"t.csv: column 'label': 3 label\(s\).*row 1: '0'.*--label-map 0=negative,1=positive"
    ):
        read_labeled(path)
    got = read_labeled(path, label_map="0=negative, 1=positive")
    assert got["label"].tolist() == ["negative", "positive", "positive"]


def test_bad_rows_and_columns_are_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\nfine,positive\n,negative\nok,maybe\n")
    with pytest.raises(DataError, match=r"t.csv: column 'text': 1 empty text\(s\) at row\(s\) \[2\]"):
        read_labeled(path)
    path.write_text("text,label\nfine,positive\nok,maybe\n")
    with pytest.raises(DataError, match=r"row 2: 'maybe'"):
        read_labeled(path)
    with pytest.raises(DataError, match=r"no label column 'y'; the file has columns \['text', 'label'\]"):
        read_labeled(path, label_col="y")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DataError, match="unknown file type"):
        read_labeled(tmp_path / "x.xlsx")


def test_label_names_and_maps():
    assert [canonical_label(v) for v in ("Positive", " neu ", "BEARISH", "up", 1)] == [
        "positive",
        "neutral",
        "negative",
        None,
        None,
    ]
    assert canonical_label("1", {"1": "positive"}) == "positive"
    assert parse_label_map({0: "Neg", 1: "pos"}) == {"0": "negative", "1": "positive"}
    with pytest.raises(ConfigError, match="'2' maps to 'great'"):
        parse_label_map("2=great")
    with pytest.raises(ConfigError, match="is not RAW=LABEL"):
        parse_label_map("0negative")


# -- preparation -----------------------------------------------------------------------------------


def test_classes_follow_the_data_and_two_classes_drop_neutral_with_a_count():
    data = frame({"negative": 3, "neutral": 4, "positive": 5})
    three = prepare_labeled(data)
    assert three.labels == LABELS_3 and three.counts == {"negative": 3, "neutral": 4, "positive": 5}
    two = prepare_labeled(data, classes=2)
    assert two.labels == LABELS_2 and two.removed == {"neutral (2-class)": 4}
    assert two.counts == {"negative": 3, "positive": 5}
    assert prepare_labeled(frame({"negative": 2, "positive": 2})).labels == LABELS_2
    with pytest.raises(DataError, match="neutral: 0"):
        prepare_labeled(frame({"negative": 2, "positive": 2}), classes=3)


def test_duplicates_and_conflicting_labels_are_removed_and_counted():
    data = pd.DataFrame(
        {
            "text": ["a", "a", "a", "b", "b", "c", "d", "e", "f"],
            "label": ["positive"] * 3 + ["positive", "negative"] + ["negative", "negative", "positive", "positive"],
        }
    )
    got = prepare_labeled(data)
    assert got.removed == {"duplicate": 2, "conflicting labels": 2}
    assert got.frame["text"].tolist() == ["a", "c", "d", "e", "f"]
    assert got.frame["label_id"].tolist() == [1, 0, 0, 1, 1]  # negative 0, positive 1
    assert len(prepare_labeled(data, dedupe=False).frame) == 9


def test_limit_keeps_a_stratified_sample():
    got = prepare_labeled(frame({"negative": 20, "neutral": 12, "positive": 8}), limit=20, seed=3)
    assert len(got.frame) == 20 and got.removed == {"limit": 20}
    assert got.counts == {"negative": 10, "neutral": 6, "positive": 4}  # exact halves of every label


# -- split -----------------------------------------------------------------------------------------


def test_split_keeps_label_shares_and_is_seeded():
    data = prepare_labeled(frame({"negative": 20, "neutral": 12, "positive": 8}))
    parts = stratified_split(data, valid_fraction=0.25, seed=0)
    counts = {k: v["label_id"].value_counts().sort_index().tolist() for k, v in parts.items()}
    assert counts == {"train": [15, 9, 6], "valid": [5, 3, 2]}
    assert not set(parts["train"]["text"]) & set(parts["valid"]["text"])
    again = stratified_split(data, valid_fraction=0.25, seed=0)
    assert again["valid"]["text"].tolist() == parts["valid"]["text"].tolist()
    other = stratified_split(data, valid_fraction=0.25, seed=1)
    assert other["valid"]["text"].tolist() != parts["valid"]["text"].tolist()


def test_split_with_a_test_part():
    data = prepare_labeled(frame({"negative": 20, "neutral": 20, "positive": 20}))
    parts = stratified_split(data, valid_fraction=0.1, test_fraction=0.2, seed=0)
    assert {k: len(v) for k, v in parts.items()} == {"train": 42, "valid": 6, "test": 12}
    assert parts["test"]["label_id"].value_counts().tolist() == [4, 4, 4]
    assert len(set().union(*(set(v["text"]) for v in parts.values()))) == 60


def test_split_errors_say_what_is_wrong():
    data = prepare_labeled(frame({"negative": 3, "neutral": 3, "positive": 3}))
    with pytest.raises(ConfigError, match="valid_fraction must be in"):
        stratified_split(data, valid_fraction=0.6, test_fraction=0.5)
    with pytest.raises(DataError, match="cannot hold one row of each of the 3 labels"):
        stratified_split(data, valid_fraction=0.1)
