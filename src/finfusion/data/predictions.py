"""The predictions table of a run as one typed object: named parts over one row index.

A run predicts one row per (test date, ticker, model, seed, sweep point). Beside the core
columns each row may carry several families of values; on disk (`predictions.parquet`, one flat
table that pandas, polars or DuckDB read as is) a family's columns share a name prefix, and this
module is the only place that writes or parses those prefixes:

    part         column on disk          values
    proba        p_<class>               P(class) of a classifier, (n, classes), rows sum to 1
    attention    att_<token>             attention weight per input token, mean over heads, (n, tokens)
    components   component_<name>        a mixture model's component forecasts, target units, (n, parts)
    truth        truth_<field>           the simulator's ground truth of the sample (simulated data only)
    shap         shap_<feature>          TreeSHAP attribution per feature, margin units, (n, features)
    shap_base    shap_base               the TreeSHAP base value (n,)

Core columns: `REQUIRED` (date, ticker, y_true, y_pred, fold, model, seed) and any others a
run adds (point, labelled, fit_seconds, ...). A part's columns are NaN on the rows of models that
do not produce it (e.g. attention of a non-attention model in the same run).

    preds = Predictions.read(run_dir / "predictions.parquet")
    preds.proba["1"]            # P(up) of every row;  preds.proba_column(1) == "p_1"
    preds.attention.columns     # the token names
    preds.write(path)           # validated, then one flat parquet file
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

import finfusion.io as io
from finfusion.errors import DataError

REQUIRED = ("date", "ticker", "y_true", "y_pred", "fold", "model", "seed")
PREFIXES = {"proba": "p_", "attention": "att_", "components": "component_", "truth": "truth_", "shap": "shap_"}
SHAP_BASE = "shap_base"
PROBA_TOLERANCE = 1e-4  # |sum of a row's class probabilities - 1| allowed (float32 softmax)


def proba_column(label: object) -> str:
    """The column name of P(`label`) in a flat predictions frame ("p_1" for label 1)."""
    return f"{PREFIXES['proba']}{label}"


UP_PROBA = proba_column(1)  # P(up) of a direction classifier (classes 0 = down, 1 = up)


def _part_of(column: str) -> str | None:
    if column == SHAP_BASE:
        return SHAP_BASE
    for part, prefix in PREFIXES.items():
        if column.startswith(prefix):
            return part
    return None


def _empty(index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(index=index)


@dataclass(frozen=True)
class Predictions:
    """A run's predictions: `core` (n rows; REQUIRED and other per-row columns) and the named
    parts, each a frame on the same index whose columns are the names without their prefix
    (classes, tokens, components, truth fields, features); `shap_base` a Series or None."""

    core: pd.DataFrame
    proba: pd.DataFrame = None  # type: ignore[assignment]  # None -> no columns (filled in __post_init__)
    attention: pd.DataFrame = None  # type: ignore[assignment]
    components: pd.DataFrame = None  # type: ignore[assignment]
    truth: pd.DataFrame = None  # type: ignore[assignment]
    shap: pd.DataFrame = None  # type: ignore[assignment]
    shap_base: pd.Series | None = field(default=None)

    def __post_init__(self) -> None:
        for name in PREFIXES:
            if getattr(self, name) is None:
                object.__setattr__(self, name, _empty(self.core.index))
        self._validate()

    # ------------------------------------------------------------------ building and reading
    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Predictions:
        """Split a flat frame (the on-disk layout) into core and parts by the column prefixes."""
        parts: dict[str, list[str]] = {name: [] for name in (*PREFIXES, SHAP_BASE)}
        core: list[str] = []
        for column in frame.columns:
            part = _part_of(str(column))
            (core if part is None else parts[part]).append(column)
        named = {name: frame[cols].rename(columns=lambda c, p=PREFIXES[name]: str(c)[len(p):])
                 for name, cols in parts.items() if name != SHAP_BASE}
        base = frame[SHAP_BASE] if parts[SHAP_BASE] else None
        return cls(core=frame[core], shap_base=base, **named)

    @classmethod
    def of(cls, predictions: Predictions | pd.DataFrame) -> Predictions:
        """`predictions` itself, or a flat frame parsed with `from_frame`."""
        return predictions if isinstance(predictions, Predictions) else cls.from_frame(predictions)

    @classmethod
    def read(cls, path: str | Path) -> Predictions:
        """A run's predictions.parquet, validated."""
        return cls.from_frame(io.read_parquet(path, recover="the file is a run's output: rerun or resume the run"))

    def write(self, path: str | Path) -> Path:
        """Write the flat frame (`to_frame`) to `path` (parquet, atomically)."""
        return io.write_parquet(path, self.to_frame())

    @classmethod
    def concat(cls, items: Iterable[Predictions]) -> Predictions:
        """Rows of several Predictions (e.g. units of a run), parts aligned by name (NaN where absent)."""
        frames = [p.to_frame() for p in items]
        if not frames:
            raise DataError("Predictions.concat: nothing to concatenate")
        return cls.from_frame(pd.concat(frames, ignore_index=True))

    # ------------------------------------------------------------------ views
    def to_frame(self) -> pd.DataFrame:
        """The flat frame: core columns, then every part's columns with its prefix, then shap_base."""
        blocks = [self.core]
        for name, prefix in PREFIXES.items():
            part: pd.DataFrame = getattr(self, name)
            if part.shape[1]:
                blocks.append(part.rename(columns=lambda c, p=prefix: f"{p}{c}"))
        if self.shap_base is not None:
            blocks.append(self.shap_base.rename(SHAP_BASE).to_frame())
        return pd.concat(blocks, axis=1) if len(blocks) > 1 else self.core.copy()

    def __len__(self) -> int:
        return len(self.core)

    @property
    def classes(self) -> list[str]:
        """The class labels with a probability column (as strings, in column order)."""
        return [str(c) for c in self.proba.columns]

    def select(self, mask: pd.Series | np.ndarray) -> Predictions:
        """The rows where `mask` (aligned with `core`) is True, every part with them."""
        keep = np.asarray(mask, dtype=bool)
        return Predictions(core=self.core[keep], proba=self.proba[keep], attention=self.attention[keep],
                           components=self.components[keep], truth=self.truth[keep], shap=self.shap[keep],
                           shap_base=None if self.shap_base is None else self.shap_base[keep])

    def without(self, *parts: str) -> Predictions:
        """A copy without the named parts (e.g. "shap", "shap_base", "attention", "truth")."""
        unknown = set(parts) - {*PREFIXES, SHAP_BASE}
        if unknown:
            raise ValueError(f"unknown predictions part(s) {sorted(unknown)}; parts: {[*PREFIXES, SHAP_BASE]}")
        return replace(self, **dict.fromkeys(parts))

    def with_core(self, **columns: object) -> Predictions:
        """A copy with core columns added or replaced (values: scalars or length-n arrays)."""
        return replace(self, core=self.core.assign(**columns))

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        missing = [c for c in REQUIRED if c not in self.core.columns]
        if missing:
            raise DataError(f"predictions: missing column(s) {missing}; a predictions table has {list(REQUIRED)} "
                            f"(got {list(self.core.columns)})")
        clash = [c for c in self.core.columns if _part_of(str(c)) is not None]
        if clash:
            raise DataError(f"predictions: core column(s) {clash} use a part's prefix {sorted(PREFIXES.values())}")
        for name in PREFIXES:
            part: pd.DataFrame = getattr(self, name)
            if len(part) != len(self.core) or not part.index.equals(self.core.index):
                raise DataError(f"predictions: part {name!r} has {len(part)} rows on another index than the "
                                f"core's {len(self.core)}")
            if part.columns.duplicated().any():
                raise DataError(f"predictions: part {name!r} repeats column(s) "
                                f"{list(part.columns[part.columns.duplicated()])}")
        if self.shap_base is not None and not self.shap_base.index.equals(self.core.index):
            raise DataError("predictions: shap_base is on another index than the core")
        self._validate_proba()

    def _validate_proba(self) -> None:
        if not self.proba.shape[1]:
            return
        values = self.proba.to_numpy(dtype="float64")
        rows = ~np.isnan(values).all(axis=1)  # rows of models without probabilities are all NaN
        if not np.isfinite(values[rows]).all():
            raise DataError("predictions: a row has a NaN probability for some classes but not others")
        if ((values[rows] < -PROBA_TOLERANCE) | (values[rows] > 1 + PROBA_TOLERANCE)).any():
            raise DataError("predictions: class probabilities outside [0, 1]")
        worst = np.abs(values[rows].sum(axis=1) - 1.0).max(initial=0.0)
        if values.shape[1] > 1 and worst > PROBA_TOLERANCE:  # one column alone (P(up)) need not sum to 1
            raise DataError(f"predictions: class probabilities of a row sum to 1 ± {worst:.2g} "
                            f"(allowed {PROBA_TOLERANCE:g}); columns {self.classes}")

