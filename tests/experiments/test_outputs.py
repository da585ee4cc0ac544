import pandas as pd

from finfusion.experiments.config import parse_config
from finfusion.experiments.outputs import encoder_notes


def config(source: str, model: str):
    data = {"source": "simulate"} if source == "simulate" else {"source": "files", "prices": "p.csv"}
    return parse_config({"data": data, "models": [{"name": "text_only", "label": "T", "params": {"model": model}},
                                                  {"name": "mlp"}]})


def preds(first: str) -> pd.DataFrame:
    return pd.DataFrame({"model": ["T", "T"], "date": pd.to_datetime([first, "2024-01-02"])})


def test_warns_when_test_dates_precede_the_encoders_pretraining_text():
    (note,) = encoder_notes(config("files", "sentence-transformers/all-MiniLM-L6-v2"), preds("2015-07-01"))
    assert note["model"] == "T" and str(note["text_through"]) == "2018-01-01"
    assert "2015-07-01" in note["warning"] and "test period" in note["warning"]


def test_no_warning_after_the_pretraining_text_or_for_simulated_texts():
    (late,) = encoder_notes(config("files", "sentence-transformers/all-MiniLM-L6-v2"), preds("2019-01-02"))
    assert late["warning"] is None
    (sim,) = encoder_notes(config("simulate", "sentence-transformers/all-MiniLM-L6-v2"), preds("2015-07-01"))
    assert sim["warning"] is None


def test_unknown_encoder_asks_for_its_model_card():
    (note,) = encoder_notes(config("files", "/models/my-own-encoder"), preds("2022-01-03"))
    assert "No pre-training cut-off is known" in note["warning"]
