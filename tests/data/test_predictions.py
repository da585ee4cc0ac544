"""The predictions table as one typed object: parts by name, a validated schema, the flat file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finfusion.data.predictions import REQUIRED, Predictions, proba_column
from finfusion.errors import DataError


def _core(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n), "ticker": ["A"] * n,
                         "y_true": [1, 0, 1][:n], "y_pred": [1, 1, 0][:n], "fold": 0, "model": "m", "seed": 0,
                         "point": "base"})


def _flat() -> pd.DataFrame:
    return _core().assign(p_0=[0.2, 0.6, 0.7], p_1=[0.8, 0.4, 0.3], att_price=[0.5, 0.25, np.nan],
                          att_news=[0.5, 0.75, np.nan], truth_movement=[0.01, -0.02, 0.03],
                          shap_rsi=[0.1, -0.2, 0.3], shap_base=[-0.5, -0.5, -0.5])


def test_flat_frame_splits_into_named_parts_and_back():
    preds = Predictions.from_frame(_flat())
    assert list(preds.core.columns) == [*REQUIRED, "point"]
    assert preds.classes == ["0", "1"] and preds.proba["1"].tolist() == [0.8, 0.4, 0.3]
    assert list(preds.attention.columns) == ["price", "news"]
    assert list(preds.truth.columns) == ["movement"] and list(preds.shap.columns) == ["rsi"]
    assert preds.shap_base.tolist() == [-0.5] * 3 and preds.components.shape == (3, 0)
    pd.testing.assert_frame_equal(preds.to_frame(), _flat())
    assert proba_column(1) == "p_1"


def test_write_then_read_is_the_same_table(tmp_path):
    path = Predictions.from_frame(_flat()).write(tmp_path / "predictions.parquet")
    pd.testing.assert_frame_equal(Predictions.read(path).to_frame(), _flat())
    # the file stays one flat table any parquet reader opens
    assert "p_1" in pd.read_parquet(path).columns


def test_select_concat_and_with_core_keep_parts_aligned():
    preds = Predictions.from_frame(_flat())
    picked = preds.select(preds.core["y_pred"] == 1)
    assert len(picked) == 2 and picked.attention["news"].tolist() == [0.5, 0.75]
    plain = Predictions(core=_core().assign(model="other"))
    both = Predictions.concat([preds, plain])
    assert len(both) == 6 and both.proba["1"].isna().sum() == 3  # the plain model has no probabilities
    assert both.attention.columns.tolist() == ["price", "news"]
    assert preds.with_core(fit_seconds=1.5).core["fit_seconds"].tolist() == [1.5] * 3


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.drop(columns="y_pred"), r"missing column\(s\) \['y_pred'\]"),
    (lambda f: f.assign(p_1=[0.9, 0.4, 0.3]), "sum to 1"),
    (lambda f: f.assign(p_0=[1.2, 0.6, 0.7], p_1=[-0.2, 0.4, 0.3]), r"outside \[0, 1\]"),
    (lambda f: f.assign(p_1=[np.nan, 0.4, 0.3]), "NaN probability for some classes"),
])
def test_schema_errors_name_the_problem(change, message):
    with pytest.raises(DataError, match=message):
        Predictions.from_frame(change(_flat()))


def test_parts_must_share_the_core_rows():
    with pytest.raises(DataError, match="part 'attention' has 2 rows"):
        Predictions(core=_core(), attention=pd.DataFrame({"news": [0.5, 0.5]}))
