import numpy as np
import pandas as pd
import pytest

from finfusion.errors import DataError
from finfusion.evaluate.tables import (
    drop_empty_std,
    format_cell,
    mean_std_frames,
    mean_std_table,
    spread_note,
    to_html_table,
    to_markdown,
)


def _per_repeat():
    # Fusion d=4: [1, 2, 3] -> mean 2, std 1; d=8: [2, 4] -> mean 3, std sqrt(2)
    # MLP d=4: [5] (single repeat) ; d=8: [nan, nan] (no finite repeat)
    rows = [("Fusion", 4, v) for v in (1.0, 2.0, 3.0)] + [("Fusion", 8, v) for v in (2.0, 4.0)]
    rows += [("MLP", 4, 5.0), ("MLP", 8, np.nan), ("MLP", 8, np.nan)]
    return pd.DataFrame(rows, columns=["model", "d", "mse"]).assign(seed=range(8))


def test_mean_std_table_cells_worked_by_hand():
    table = mean_std_table(_per_repeat(), metric="mse", col="d")
    assert list(table.columns) == ["d=4", "d=8"]
    assert list(table.index) == ["Fusion", "MLP"]
    assert table.loc["Fusion", "d=4"] == "2.0000(1.0000)"
    assert table.loc["Fusion", "d=8"] == "3.0000(1.4142)"
    assert table.loc["MLP", "d=4"] == "5.0000"  # one repeat: mean only, no std
    assert table.loc["MLP", "d=8"] == "nan"  # no finite repeat


def test_mean_std_frames_numeric_and_ordering():
    frame = _per_repeat().iloc[::-1]  # models appear MLP first now; levels still sorted
    mean, std = mean_std_frames(frame, metric="mse", col="d")
    assert list(mean.index) == ["MLP", "Fusion"]
    assert list(mean.columns) == [4, 8]
    assert mean.loc["Fusion", 4] == pytest.approx(2.0)
    assert std.loc["Fusion", 8] == pytest.approx(np.sqrt(2.0))
    assert np.isnan(std.loc["MLP", 4])


def test_mean_std_without_column_and_missing_combination():
    frame = pd.DataFrame({"model": ["A", "A", "B"], "d": [4, 4, 6], "mae": [1.0, 3.0, 2.0]})
    assert mean_std_table(frame, metric="mae", fmt="{:.2f}").loc["A", "mae"] == "2.00(1.41)"
    table = mean_std_table(frame, metric="mae", col="d", fmt="{:.1f}")
    assert table.loc["B", "d=4"] == "nan" and table.loc["A", "d=6"] == "nan"


def test_mean_std_errors_name_the_column():
    with pytest.raises(DataError, match="'rmse'"):
        mean_std_table(_per_repeat(), metric="rmse")
    with pytest.raises(DataError, match="numeric"):
        mean_std_table(_per_repeat().assign(mse="x"), metric="mse")


def test_to_markdown_layout_and_escaping():
    frame = pd.DataFrame({"name": ["a|b", "c\nd"], "x": [1.23456, np.nan]})
    text = to_markdown(frame)
    lines = text.splitlines()
    assert lines == [
        "| name |     x |",
        "| ---- | ----: |",
        "| a\\|b | 1.235 |",
        "| c d  |   nan |",
    ]
    assert len({len(line) for line in lines}) == 1  # padded to equal width


def test_to_markdown_shows_named_index():
    table = mean_std_table(_per_repeat(), metric="mse", col="d")
    text = to_markdown(table)
    assert text.splitlines()[0].startswith("| model ")
    assert "2.0000(1.0000)" in text


def test_to_html_table_escapes_everything():
    frame = pd.DataFrame({"<b>col</b>": ["<script>alert(1)</script>"], "v": [0.5]}, index=pd.Index(["r&d"], name="i"))
    out = to_html_table(frame, caption="<cap>")
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "&lt;b&gt;col&lt;/b&gt;" in out and "r&amp;d" in out and "&lt;cap&gt;" in out
    assert '<td class="num">0.5</td>' in out
    assert '<th scope="row">r&amp;d</th>' in out


def test_format_cell():
    assert format_cell(np.float64(0.123456)) == "0.1235"
    assert format_cell(np.nan) == "nan" and format_cell(None) == "nan"
    assert format_cell(np.int64(3)) == "3"
    assert format_cell(pd.Timestamp("2024-01-02")) == "2024-01-02"
    assert format_cell(True) == "True"


def test_mean_std_cells_align_as_numbers():
    table = mean_std_table(_per_repeat(), metric="mse", col="d")
    assert '<td class="num">2.0000(1.0000)</td>' in to_html_table(table)
    assert to_markdown(table).splitlines()[1].endswith("-: |")
    assert '<td>Fusion</td>' in to_html_table(table.reset_index())  # text stays left-aligned


def test_one_seed_tables_lose_their_empty_std_columns():
    one = pd.DataFrame({"method": ["a", "b"], "sharpe": [1.0, 2.0], "sharpe_std": [np.nan, np.nan],
                        "ic_std": [0.1, np.nan], "n_seeds": [1, 1]})
    assert list(drop_empty_std(one).columns) == ["method", "sharpe", "ic_std", "n_seeds"]  # ic_std has a value
    single = mean_std_table(pd.DataFrame({"model": ["m"], "mse": [0.5]}), metric="mse")
    assert single.loc["m", "mse"] == "0.5000"  # one repeat: the mean alone, no "(nan)"
    assert spread_note(1) == "one seed (no std)" and spread_note(3) == "mean (std) over 3 seeds"


def test_html_headers_may_wrap_at_underscores_and_long_text_columns_wrap():
    frame = pd.DataFrame({"cumulative_return": [0.1], "reason": ["x" * 60], "short": ["ab"]})
    out = to_html_table(frame)
    assert "<th class=\"num\">cumulative_<wbr>return</th>" in out
    assert '<td class="wrap">' + "x" * 60 in out and "<td>ab</td>" in out
