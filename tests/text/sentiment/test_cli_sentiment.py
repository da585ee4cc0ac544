"""`finfusion sentiment train | search | evaluate | predict` end to end on the tiny BERT."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pandas as pd
import pytest
import torch
import yaml

from finfusion.cli import main
from finfusion.text.sentiment import SentimentClassifier


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory, toy):
    """A CLI-trained run directory and the CSV it was trained on."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "toy.csv"
    frame = toy(2).rename(columns={"text": "sentence", "label": "sentiment"})
    frame["sentiment"] = frame["sentiment"].map({"negative": "0", "neutral": "1", "positive": "2"})
    frame.to_csv(data, index=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = main(
                [
                    "sentiment",
                    "train",
                    str(data),
                    "--out",
                    str(root / "run"),
                    "--model",
                    str(tiny_bert),
                    "--label-map",
                    "0=negative,1=neutral,2=positive",
                    "--lr",
                    "5e-3",
                    "--epochs",
                    "5",
                    "--batch-size",
                    "8",
                    "--valid-fraction",
                    "0.25",
                    "--warmup-ratio",
                    "0",
                    "--patience",
                    "0",
                    "--device",
                    "cpu",
                    "--quiet",
                ]
            )
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    (root / "train_stdout.txt").write_text(printed.getvalue())
    return root


def test_train_prints_metrics_and_paths(trained):
    printed = (trained / "train_stdout.txt").read_text()
    assert "validation: n 12, accuracy 1.0000" in printed and "best epoch 4 of 5" in printed
    assert f"model: {trained / 'run' / 'model'}" in printed and "report:" in printed
    assert (trained / "run" / "model" / "model.safetensors").is_file()
    config = yaml.safe_load((trained / "run" / "config.yaml").read_text())  # a `kind: sentiment` run directory
    assert config["kind"] == "sentiment" and config["search"] is None and config["name"] == "run"
    train = config["train"]
    assert train["lr"] == 5e-3 and train["early_stopping_patience"] is None and train["epochs"] == 5
    assert config["data"]["label_map"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert (trained / "run" / "report.html").is_file() and (trained / "run" / "valid" / "errors.csv").is_file()
    assert pd.read_csv(trained / "run" / "results.csv")["best_epoch"].tolist() == [4]


def test_predict_a_text_file_to_jsonl(trained, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("stock rises after strong earnings\n\nshares slump on loss\n")
    assert main(["sentiment", "predict", str(trained / "run"), str(src), "--quiet"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["stock rises after strong earnings", "", "shares slump on loss"]
    assert set(rows[0]) == {"text", "label", "label_id", "confidence", "score", "probs"}
    assert rows[1]["label"] is None and rows[1]["score"] == pytest.approx(0.0)
    assert rows[0]["score"] == pytest.approx(rows[0]["probs"]["positive"] - rows[0]["probs"]["negative"])


def test_predict_a_csv_to_csv_keeping_columns_with_weights(trained, tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"ticker": ["AAPL", "AMZN"], "tweet": ["apple raises dividend", "amazon warning"]}).to_csv(
        src, index=False
    )
    assert (
        main(
            [
                "sentiment",
                "predict",
                str(trained / "run" / "model"),
                str(src),
                "--out",
                str(out),
                "--keep",
                "ticker",
                "--alpha",
                "2",
                "--beta",
                "0.5",
                "--quiet",
            ]
        )
        == 0
    )
    got = pd.read_csv(out)
    assert got.columns.tolist() == [
        "text",
        "ticker",
        "label",
        "label_id",
        "confidence",
        "score",
        "p_negative",
        "p_neutral",
        "p_positive",
    ]
    assert got["ticker"].tolist() == ["AAPL", "AMZN"]
    assert got["score"].to_numpy() == pytest.approx((2 * got["p_positive"] - 0.5 * got["p_negative"]).to_numpy())


def test_predict_reads_stdin(trained, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("profit rallies\nlosses drag shares\n"))
    assert main(["sentiment", "predict", str(trained / "run"), "--format", "csv", "--quiet"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert got["text"].tolist() == ["profit rallies", "losses drag shares"] and len(got.columns) == 8


def test_evaluate_prints_and_writes_a_report(trained, tmp_path, capsys):
    data = tmp_path / "eval.txt"
    data.write_text("stock rises after strong earnings@positive\nshares slump on loss@negative\nceo new plan@neutral\n")
    assert (
        main(["sentiment", "evaluate", str(trained / "run"), str(data), "--out", str(tmp_path / "ev"), "--quiet"]) == 0
    )
    out = capsys.readouterr().out
    assert "eval.txt: n 3, accuracy" in out and "error buckets:" in out and "| negation" in out
    assert (tmp_path / "ev" / "report.html").is_file() and (tmp_path / "ev" / "confusion_matrix.png").is_file()
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["labels"] == ["negative", "neutral", "positive"] and metrics["metrics"]["n"] == 3


def search_args(data, out, tiny_bert, *extra):
    return ["sentiment", "search", str(data), "--out", str(out), "--model", str(tiny_bert), "--lr", "5e-3,1e-3",
            "--batch-size", "8", "--epochs", "1", "--valid-fraction", "0.25", "--quiet", *extra]


def test_search_runs_a_grid_and_resumes_only_the_missing_trials(tiny_bert, toy, tmp_path, capsys):
    data = tmp_path / "toy.csv"
    toy(1).to_csv(data, index=False)
    out = tmp_path / "s"
    assert main(search_args(data, out, tiny_bert)) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "results.csv")
    assert table["lr"].tolist() == [5e-3, 1e-3] and "| trial |" in printed and "best: trial" in printed
    assert f"results: {out / 'results.csv'}" in printed and f"best model: {out / 'best_model'}" in printed
    best = json.loads((out / "best.json").read_text())
    assert SentimentClassifier.load(out / "best_model").info["training"]["lr"] == best["lr"]
    assert (out / "report.html").is_file() and (out / "config.yaml").is_file()

    kept = (out / "units" / "trial-000" / "info.json").stat().st_mtime_ns
    shutil.rmtree(out / "units" / "trial-001")
    assert main(search_args(data, out, tiny_bert, "--resume")) == 0
    assert (out / "units" / "trial-000" / "info.json").stat().st_mtime_ns == kept  # finished: not trained again
    assert (out / "units" / "trial-001" / "info.json").is_file()
    again = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), table.drop(columns="seconds"))
    capsys.readouterr()

    assert main(search_args(data, out, tiny_bert, "--resume", "--seed", "1")) == 2  # other options: refused
    assert "train.seed (0 there, 1 now)" in capsys.readouterr().err
    assert main(search_args(data, out, tiny_bert)) == 2  # a new run cannot reuse the directory
    assert "already holds a run" in capsys.readouterr().err
    assert main(search_args(data, tmp_path / "none", tiny_bert, "--resume")) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_errors_exit_with_a_message_and_the_code_of_their_kind(trained, tmp_path, capsys):
    assert main(["sentiment", "train", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "r")]) == 3  # data
    assert "nope.txt: no such PhraseBank file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,positive\nhmm,unsure\n")
    assert main(["sentiment", "evaluate", str(trained / "run"), str(bad)]) == 3
    assert "row 2: 'unsure'" in capsys.readouterr().err
    src = tmp_path / "in.csv"
    src.write_text("text\nhello\n")
    assert main(["sentiment", "predict", str(trained / "run"), str(src), "--keep", "ticker"]) == 3
    assert "--keep columns ['ticker'] are missing" in capsys.readouterr().err
    assert main(["sentiment", "predict", str(tmp_path / "no-model"), str(src)]) == 2
    assert "no sentiment model at" in capsys.readouterr().err


def test_help(capsys):
    assert main(["sentiment"]) == 2
    assert "train" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["sentiment", "train", "--help"])
    text = capsys.readouterr().out
    assert "early stopping" in text and "--label-map" in text and "example:" in text
