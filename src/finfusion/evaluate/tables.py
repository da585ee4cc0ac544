"""Result tables: mean(std) over repeats, and plain Markdown / escaped HTML renderings.

The mean(std) layout is that of seed 000 Tables 1-2: one row per model, one column per level of
a sweep parameter (d=4, d=6, d=8), each cell "mean(std)" over the repeats (seeds).

The two renderers are written by hand (not `DataFrame.to_markdown`, which needs the optional
`tabulate` package, nor `DataFrame.to_html`) so that every table in a report is formatted the
same way: one cell formatter, missing values shown as "nan", numbers right-aligned.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from finfusion.errors import DataError

DEFAULT_FLOATFMT = "{:.4g}"
MISSING = "nan"
WRAP_CHARS = 40  # a text column with a longer cell wraps in HTML; other cells stay on one line
STD_SUFFIX = "_std"


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise a DataError naming the columns of `what` that `frame` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")


def require_unique_rows(frame: pd.DataFrame, what: str, keys: Sequence[str] = ("date", "ticker")) -> None:
    """Raise a DataError counting the duplicated `keys` rows of `what` and naming the first."""
    dup = frame.duplicated(list(keys))
    if dup.any():
        first = frame.loc[dup].iloc[0]
        raise DataError(f"{what} has {int(dup.sum())} duplicated ({', '.join(keys)}) row(s), first "
                        f"({', '.join(str(first[k]) for k in keys)}); expected one row per {' and '.join(keys)}")


def require_numeric(frame: pd.DataFrame, column: str, what: str) -> None:
    """Raise a DataError when `frame[column]` is not numeric."""
    if not is_numeric_dtype(frame[column]) or is_bool_dtype(frame[column]):
        raise DataError(f"{what} column {column!r} must be numeric, got dtype {frame[column].dtype}")


def ordered_levels(values: pd.Series, *, sort: bool = True) -> list:
    """Distinct non-missing values of `values`: sorted when `sort` and sortable, else in order of
    first appearance; a missing level (NaN/None) comes last when present."""
    present = pd.unique(values.dropna())
    levels = list(present)
    if sort:
        try:
            levels = sorted(levels)
        except TypeError:  # mixed types: keep the order of appearance
            pass
    if values.isna().any():
        levels.append(np.nan)
    return levels


def level_mask(values: pd.Series, level: Hashable) -> pd.Series:
    """Boolean mask of the rows of `values` equal to `level` (NaN matches missing values)."""
    if _is_missing(level):
        return values.isna()
    return values == level


def mean_std_frames(
    per_repeat: pd.DataFrame,
    *,
    metric: str,
    row: str = "model",
    col: str | None = None,
    col_order: list | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and standard deviation (ddof=1) of `metric` over repeats.

    per_repeat  long frame, one row per repeat (e.g. model x sweep level x seed), with columns
                `row`, `metric` and, if given, `col`.
    Returns (mean, std): frames with one row per `row` value (order of first appearance) and one
    column per `col` level (in `col_order`, else sorted; the raw level values, columns.name = col), or the single column
    `metric` when `col` is None. Missing metric values are left out of both statistics; a cell
    with one finite repeat has std NaN; a cell with none has mean NaN.
    """
    keys = [row] + ([col] if col is not None else [])
    require_columns(per_repeat, [*keys, metric], "per-repeat table")
    require_numeric(per_repeat, metric, "per-repeat table")
    grouped = per_repeat.groupby(keys, sort=False, dropna=False)[metric]
    mean, std = grouped.mean(), grouped.std(ddof=1)
    rows = ordered_levels(per_repeat[row], sort=False)
    if col is None:
        return _reindex(mean.to_frame(metric), rows, None), _reindex(std.to_frame(metric), rows, None)
    cols = list(col_order) if col_order is not None else ordered_levels(per_repeat[col])
    return _reindex(mean.unstack(col), rows, cols), _reindex(std.unstack(col), rows, cols)


def mean_std_table(
    per_repeat: pd.DataFrame,
    *,
    metric: str,
    row: str = "model",
    col: str | None = None,
    fmt: str = "{:.4f}",
    col_order: list | None = None,
) -> pd.DataFrame:
    """Table of "mean(std)" strings: rows = `row` values, columns "col=level" (or `metric`).

    Example: values [1, 2, 3] give "2.0000(1.0000)". A cell with a single finite repeat has no
    standard deviation and shows the mean alone ("2.0000"); a cell without any finite repeat
    (or a model not run at that level) shows "nan".
    """
    mean, std = mean_std_frames(per_repeat, metric=metric, row=row, col=col, col_order=col_order)
    cells = {
        label: [_mean_std_cell(m, s, fmt) for m, s in zip(mean.iloc[:, j], std.iloc[:, j])]
        for j, label in enumerate(_column_labels(mean.columns, col))
    }
    table = pd.DataFrame(cells, index=mean.index)
    table.index.name = row
    return table


def drop_empty_std(table: pd.DataFrame, *, suffix: str = STD_SUFFIX) -> pd.DataFrame:
    """`table` without its `<name>_std` columns that hold no value at all (every cell missing:
    one repeat has no standard deviation), e.g. a summary over one seed."""
    empty = [c for c in table.columns if str(c).endswith(suffix) and table[c].isna().all()]
    return table.drop(columns=empty)


def spread_note(n: int, *, over: str = "seed") -> str:
    """The caption words of a mean (std) table over `n` repeats: "mean (std) over 3 seeds", or
    "one seed (no std)" when there is one."""
    return f"one {over} (no std)" if n == 1 else f"mean (std) over {n} {over}s"


def format_cell(value: object, floatfmt: str = DEFAULT_FLOATFMT) -> str:
    """One cell as text: floats with `floatfmt`, missing values as "nan", dates without a
    midnight time, everything else with str()."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return floatfmt.format(float(value)) if math.isfinite(value) else str(float(value))
    if isinstance(value, pd.Timestamp):
        if value.tz is None and value == value.normalize():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    return str(value)


def to_markdown(df: pd.DataFrame | pd.Series, *, floatfmt: str = DEFAULT_FLOATFMT, index: bool | None = None) -> str:
    """A GitHub-style pipe table with padded columns (numbers right-aligned).

    index  include the row labels; None: include them unless they are a default RangeIndex.
    """
    header, body, numeric = _cells(df, floatfmt, index)
    header = [_md_escape(h) for h in header]
    body = [[_md_escape(c) for c in r] for r in body]
    widths = [max(3, len(h), *(len(r[j]) for r in body)) for j, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric))
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w for w, num in zip(widths, numeric)) + " |"
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def to_html_table(
    df: pd.DataFrame | pd.Series,
    *,
    floatfmt: str = DEFAULT_FLOATFMT,
    index: bool | None = None,
    caption: str | None = None,
    css_class: str = "ff-table",
) -> str:
    """An HTML <table> with every label and cell escaped; numeric columns get class "num"."""
    header, body, numeric = _cells(df, floatfmt, index)
    n_index = _n_index_columns(df, index)
    wrap = [not numeric[j] and any(len(r[j]) > WRAP_CHARS for r in body) for j in range(len(header))]

    def cls(j: int) -> str:
        return ' class="num"' if numeric[j] else (' class="wrap"' if wrap[j] else "")

    parts = [f'<table class="{html.escape(css_class)}">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    heads = (html.escape(h).replace("_", "_<wbr>") for h in header)  # long snake_case labels may wrap there
    parts.append("<thead><tr>" + "".join(f"<th{cls(j)}>{h}</th>" for j, h in enumerate(heads)) + "</tr></thead>")
    parts.append("<tbody>")
    for r in body:
        cells = [
            f'<th scope="row"{cls(j)}>{html.escape(c)}</th>' if j < n_index else f"<td{cls(j)}>{html.escape(c)}</td>"
            for j, c in enumerate(r)
        ]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- helpers


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _reindex(frame: pd.DataFrame, rows: list, cols: list | None) -> pd.DataFrame:
    frame = frame.reindex(index=rows)
    if cols is not None:
        frame = frame.reindex(columns=cols)
    return frame


def _mean_std_cell(mean: float, std: float, fmt: str) -> str:
    if _is_missing(mean):
        return MISSING
    if _is_missing(std):
        return fmt.format(mean)
    return f"{fmt.format(mean)}({fmt.format(std)})"


def _column_labels(columns: pd.Index, col: str | None) -> list[str]:
    if col is None:
        return [str(c) for c in columns]
    return [c if isinstance(c, str) and "=" in c else f"{col}={format_cell(c)}" for c in columns]


def _label(value: object) -> str:
    if isinstance(value, tuple):
        return " / ".join(format_cell(v) for v in value)
    return "" if value is None else format_cell(value)


def _show_index(df: pd.DataFrame, index: bool | None) -> bool:
    if index is not None:
        return index
    return not (isinstance(df.index, pd.RangeIndex) and df.index.name is None)


def _n_index_columns(df: pd.DataFrame | pd.Series, index: bool | None) -> int:
    frame = df.to_frame() if isinstance(df, pd.Series) else df
    return frame.index.nlevels if _show_index(frame, index) else 0


def _cells(
    df: pd.DataFrame | pd.Series, floatfmt: str, index: bool | None
) -> tuple[list[str], list[list[str]], list[bool]]:
    """Header labels, body rows of text cells and whether each column is numeric."""
    frame = df.to_frame() if isinstance(df, pd.Series) else df
    header = [_label(c) for c in frame.columns]
    body = [[format_cell(v, floatfmt) for v in row] for row in frame.itertuples(index=False, name=None)]
    numeric = [_is_numeric_column(frame.iloc[:, j], [r[j] for r in body]) for j in range(len(frame.columns))]
    if _show_index(frame, index):
        names = [_label(n) for n in frame.index.names]
        labels = [list(i) if isinstance(i, tuple) else [i] for i in frame.index]
        header = names + header
        numeric = [False] * len(names) + numeric
        body = [[_label(v) for v in lab] + r for lab, r in zip(labels, body)]
    return header, body, numeric


def _is_numeric_column(column: pd.Series, cells: list[str]) -> bool:
    """Numbers, or text cells that all read as numbers (e.g. "0.0842(0.0074)"), align right."""
    if is_bool_dtype(column):
        return False
    if is_numeric_dtype(column):
        return True
    return bool(cells) and all(_NUMBERISH.match(c) for c in cells)


_NUMBERISH = re.compile(r"^(nan|[-+]?(inf|\d[\d.,]*(e[-+]?\d+)?%?)(\((nan|[-+]?\d[\d.]*(e[-+]?\d+)?)\))?)$")


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
