"""The floor a reader needs beside a direction (classification) table: what a number must beat.

Rows of the floor table (`floor_table`), per sweep point:

* **Majority of split** — always predicting the most frequent label of the *evaluated* rows
  (per point, seed and test fold; ties: the smallest label). It is no model: it reads the test
  labels (hindsight), so it marks how unbalanced the split is (e.g. a period of mostly rises).
  Its MCC is 0 by convention: a constant prediction has none (scikit-learn's rule). The table
  sets it to 0 (interval [0, 0]) also when the folds' majorities differ, where the pooled labels
  would show a correlation that only the hindsight of each fold's balance gives.
* **Floor models** — predictors declaring `floor = True` (`finfusion.models.floors`: the train-prior
  rule "prior" and the logistic regression "logistic"), run like every model (same protocol,
  seeds and splits).
* **Models** — everything else.

Each row has accuracy and MCC (mean over seeds) with 95 % day-bootstrap intervals
(`evaluate.intervals`), and a paired test against the best floor row of its point (highest
accuracy, the majority of split included): per-date errors (the date's wrong labels over the
run's mean rows per date, whose mean over dates is the error rate, so the mean difference is the
accuracy difference), paired over (seed, date), paired t-test and Wilcoxon
(`evaluate.significance.date_significance` with loss "error_rate"). `floor_warnings` lists every row whose accuracy is below the majority of
its split; `floor_verdicts` says per point whether the model of highest MCC beats the best floor by
MCC (the majority's 0 included) by more than two standard errors of the paired day-bootstrap
difference (`evaluate.intervals.paired_difference`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from finfusion.errors import DataError
from finfusion.evaluate.intervals import N_RESAMPLES, SEED, bootstrap_table, method_note, paired_difference
from finfusion.evaluate.report import WarningBox
from finfusion.evaluate.significance import date_significance
from finfusion.evaluate.tables import require_columns, to_markdown

MAJORITY = "Majority of split"
MAJORITY_ROW = "Majority of split (hindsight floor)"  # its label among the models' rows of a mean (std) table
KIND_MAJORITY, KIND_FLOOR, KIND_MODEL = "floor (hindsight)", "floor", "model"
TOLERANCE = 1e-12  # accuracies closer than this to the majority's are equal to it (float rounding)
CORE = ("point", "seed", "fold", "date", "ticker", "y_true", "y_pred", "model")


def majority_label(labels: pd.Series) -> object:
    """The most frequent value of `labels` (ties: the smallest)."""
    counts = labels.value_counts()
    return counts.index[counts == counts.max()].min()


def majority_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """Predictions of the majority-of-split rule: the evaluated (date, ticker) rows of each point,
    seed and fold (once, whichever models predicted them) with y_pred = the majority y_true of those
    rows, model = MAJORITY. Columns: those of CORE the frame has."""
    require_columns(predictions, ["date", "ticker", "y_true", "model"], "predictions frame")
    keys = [c for c in ("point", "seed", "fold") if c in predictions.columns]
    rows = predictions.drop_duplicates([*keys, "date", "ticker"])[[*keys, "date", "ticker", "y_true"]]
    if keys:
        mode = rows.groupby(keys, sort=False)["y_true"].transform(majority_label)
    else:
        mode = pd.Series(majority_label(rows["y_true"]), index=rows.index)
    return rows.assign(y_pred=mode.to_numpy(), model=MAJORITY).reset_index(drop=True)


def majority_metrics(predictions: pd.DataFrame) -> pd.DataFrame:
    """The majority of split as rows of a run's metrics table: one per (point, seed) present, model
    MAJORITY_ROW, accuracy, and mcc 0 (by convention), for the mean (std) tables over seeds."""
    majority = majority_predictions(predictions)
    keys = [c for c in ("point", "seed") if c in majority.columns]
    hits = majority.assign(accuracy=(majority["y_true"] == majority["y_pred"]).astype("float64"))
    table = hits.groupby(keys, sort=False)["accuracy"].mean().reset_index() if keys else \
        pd.DataFrame({"accuracy": [hits["accuracy"].mean()]})
    return table.assign(model=MAJORITY_ROW, mcc=0.0)


def floor_table(predictions: pd.DataFrame, floor_models: Sequence[str] = (), *,
                configs_tried: Mapping[str, int | None] | None = None, reference: str | None = None,
                text_models: Sequence[str] | None = None,
                n_resamples: int = N_RESAMPLES, seed: int = SEED) -> pd.DataFrame:
    """One row per (point, model) and the majority of split (module docstring), floors first:
    point (when the frame has one), model, kind (KIND_MAJORITY, KIND_FLOOR or KIND_MODEL),
    accuracy, accuracy_lo, accuracy_hi, mcc, mcc_lo, mcc_hi, n_days, n_seeds, majority (the
    accuracy of the majority of the point's split), below_majority, best_floor, acc_diff (accuracy
    minus the best floor's, the mean of the paired per-date differences), p_t, p_wilcoxon, n_pairs, test_note,
    best_floor_mcc, mcc_diff, mcc_se (MCC against the floor row of highest MCC, paired day bootstrap),
    with `reference` (a model label, e.g. the price-only model text models must beat) also
    reference, mcc_diff_ref, mcc_se_ref; with `text_models` (labels) uses_text;
    with `configs_tried` (model label -> the configurations tried, None: not stated) also
    configs_tried (nullable int; 0 for the majority of split, which is no model)."""
    if MAJORITY in set(predictions["model"]):
        raise DataError(f"floor_table: a model is labelled {MAJORITY!r}, the name of the majority-of-split row")
    core = predictions[[c for c in CORE if c in predictions.columns]]
    frame = pd.concat([majority_predictions(core), core], ignore_index=True)
    has_point = "point" in frame.columns
    if not has_point:
        frame = frame.assign(point="base")
    table = bootstrap_table(frame, n_resamples=n_resamples, seed=seed)
    table.loc[table["model"] == MAJORITY, ["mcc", "mcc_lo", "mcc_hi"]] = 0.0  # by convention (module docstring)
    floors = set(floor_models)
    table.insert(2, "kind", [KIND_MAJORITY if m == MAJORITY else KIND_FLOOR if m in floors else KIND_MODEL
                             for m in table["model"]])
    parts = [_mcc_against_best_floor(_against_best_floor(rows, frame[frame["point"] == point]),
                                     frame[frame["point"] == point], n_resamples, seed, reference)
             for point, rows in table.groupby("point", sort=False)]
    table = pd.concat(parts, ignore_index=True)
    if text_models is not None:  # which rows read text (the verdict names the best text model too)
        table["uses_text"] = table["model"].isin(set(text_models))
    if configs_tried is not None:  # stated by the run's author per model (0: the majority row, no model)
        stated = {model: 0 if model == MAJORITY else configs_tried.get(model) for model in table["model"]}
        table["configs_tried"] = pd.array([stated[m] for m in table["model"]], dtype="Int64")
    return table if has_point else table.drop(columns="point")


def _against_best_floor(rows: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """`rows` (one point) with majority, below_majority and the paired test against the best floor."""
    order = {KIND_MAJORITY: 0, KIND_FLOOR: 1, KIND_MODEL: 2}
    rows = rows.sort_values("kind", key=lambda k: k.map(order), kind="stable").reset_index(drop=True)
    majority = float(rows.loc[rows["model"] == MAJORITY, "accuracy"].iloc[0])
    floor_rows = rows[rows["kind"] != KIND_MODEL]
    best = floor_rows.loc[floor_rows["accuracy"].idxmax(), "model"]
    below = (rows["model"] != MAJORITY) & (rows["accuracy"] < majority - TOLERANCE)
    rows = rows.assign(majority=majority, below_majority=below,
                       best_floor=best, acc_diff=np.nan, p_t=np.nan, p_wilcoxon=np.nan, n_pairs=0, test_note="")
    rows.loc[rows["model"] == best, "test_note"] = "the best floor (reference)"
    if len(rows) < 2:
        return rows
    try:
        tests = date_significance(predictions.drop(columns="point"), reference=best, loss="error_rate")
    except DataError as exc:  # e.g. rows predicted on other dates: say so in the table, keep the rest
        return rows.assign(test_note=np.where(rows["model"] == best, "the best floor (reference)", f"no test: {exc}"))
    tests = tests.set_index("model")
    for i, model in rows["model"].items():
        if model in tests.index:
            test = tests.loc[model]
            rows.loc[i, ["acc_diff", "p_t", "p_wilcoxon", "n_pairs"]] = [
                0.0 - test["mean_diff"], test["p_t"], test["p_wilcoxon"], test["n_days"]]
    return rows


def _mcc_against_best_floor(rows: pd.DataFrame, predictions: pd.DataFrame, n_resamples: int, seed: int,
                            reference: str | None = None) -> pd.DataFrame:
    """`rows` (one point) with best_floor_mcc (the floor row of highest MCC, the majority's 0
    included), mcc_diff (MCC minus its MCC) and mcc_se (the paired day-bootstrap standard error of
    that difference, `evaluate.intervals.paired_difference`); with `reference` (a model label) also
    reference, mcc_diff_ref and mcc_se_ref against that model."""
    floor_rows = rows[rows["kind"] != KIND_MODEL]
    best = floor_rows.loc[floor_rows["mcc"].idxmax(), "model"]
    diff, se = _mcc_against(rows, predictions, best, n_resamples, seed)
    rows = rows.assign(best_floor_mcc=best, mcc_diff=diff, mcc_se=se)
    if reference is not None and reference in set(rows["model"]):
        diff, se = _mcc_against(rows, predictions, reference, n_resamples, seed)
        rows = rows.assign(reference=reference, mcc_diff_ref=diff, mcc_se_ref=se)
    return rows


def _mcc_against(rows: pd.DataFrame, predictions: pd.DataFrame, against: str, n_resamples: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: MCC minus `against`'s and the SE of that paired difference (NaN for `against`
    itself and for a model on other dates)."""
    reference = predictions[predictions["model"] == against]
    if against == MAJORITY:  # MCC 0 by convention: a constant prediction, 0 in every resample
        reference = reference.assign(y_pred=reference["y_true"].iloc[0])
    classes = np.unique(predictions[["y_true", "y_pred"]].to_numpy().ravel())
    diff, se = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    for i, model in enumerate(rows["model"]):
        if model == against:
            continue
        try:
            d = paired_difference(predictions[predictions["model"] == model], reference, "mcc",
                                  n_resamples=n_resamples, seed=seed, classes=classes)
        except DataError:  # other dates than the reference: no paired difference (the accuracy test says why)
            continue
        diff[i], se[i] = d["diff"], d["se"]
    return diff, se


def floor_verdicts(table: pd.DataFrame) -> list[str]:
    """Per point, one plain sentence: does the model of highest MCC beat the best floor (by MCC) by
    more than two standard errors of the paired difference (and the reference model, when the
    table has one)? With a `uses_text` column also the same for the best text model, when it is
    another model."""
    lines = []
    points = table.groupby("point", sort=False) if "point" in table.columns else [("base", table)]
    for point, rows in points:
        models = rows[(rows["kind"] == KIND_MODEL) & rows["mcc_diff"].notna()]
        if models.empty:
            continue
        where = "" if point == "base" else f" ({point})"
        top = models.loc[models["mcc"].idxmax()]
        lines.append(_verdict(top, f"model by MCC{where}", "no model beats the floor here"))
        text = models[models["uses_text"].astype(bool)] if "uses_text" in models.columns else models.iloc[:0]
        if not text.empty and text["mcc"].idxmax() != top.name:
            lines.append(_verdict(text.loc[text["mcc"].idxmax()], f"text model by MCC{where}",
                                  "no text model beats the floor here"))
    return lines


def _verdict(top: pd.Series, what: str, none_beats: str) -> str:
    beyond = top["mcc_diff"] > 2 * top["mcc_se"]
    line = (f"Best {what}: {top['model']}, MCC {top['mcc']:.4f} [{top['mcc_lo']:.4f}, {top['mcc_hi']:.4f}]; "
            f"against the best floor by MCC ({top['best_floor_mcc']}): {top['mcc_diff']:+.4f} (SE {top['mcc_se']:.4f}), "
            f"{'more' if beyond else 'not more'} than two standard errors {'above it' if beyond else 'above it: ' + none_beats}")
    if "mcc_diff_ref" in top.index and top["model"] != top["reference"] and pd.notna(top["mcc_diff_ref"]):
        above = top["mcc_diff_ref"] > 2 * top["mcc_se_ref"]
        line += (f"; against the reference {top['reference']}: {top['mcc_diff_ref']:+.4f} (SE "
                 f"{top['mcc_se_ref']:.4f}), {'more' if above else 'not more'} than two standard errors above it")
    return line


def floor_warnings(table: pd.DataFrame) -> list[str]:
    """One line per row of `floor_table` whose accuracy is below the majority of its split."""
    lines = []
    for row in table[table["below_majority"].astype(bool)].itertuples(index=False):
        where = f" ({row.point})" if "point" in table.columns and row.point != "base" else ""
        what = "floor" if row.kind == KIND_FLOOR else "model"
        lines.append(f"{what} {row.model}{where}: accuracy {row.accuracy:.4f} is below the majority class of its "
                     f"split ({row.majority:.4f}): always predicting the split's most frequent label does better")
    return lines


def floor_caption(n_resamples: int = N_RESAMPLES, seed: int = SEED) -> str:
    """The words under (or above) a floor table: what each floor row is and how the numbers were made."""
    return (f"Floors and models, accuracy and MCC (mean over seeds). The row '{MAJORITY}' (kind '{KIND_MAJORITY}') "
            "always predicts the most frequent label of the evaluated rows (per seed and test fold): it reads the "
            "test labels, so it is no model; its MCC is 0 by convention (a constant prediction). Rows of kind "
            f"'{KIND_FLOOR}' are models declared as floors (train-prior rule, logistic regression) run under the "
            "same protocol, seeds and splits. "
            f"{method_note(n_resamples, seed=seed)}. acc_diff, p_t, p_wilcoxon: each row against the best floor "
            "row of its point (highest accuracy), paired over test days and seeds on the per-date errors (a date's "
            "wrong labels over the mean rows per date; their mean is the error rate) with a paired t-test and a "
            "Wilcoxon signed-rank test; dates are treated as independent pairs. MCC: each row against the floor "
            "row of highest MCC (the majority's 0 included), the difference with its standard error from the "
            "same day resamples for both (paired day bootstrap). configs tried: how many "
            "configurations of each model were tried on train / dev before this one, as the run's config states "
            "(models[].configs_tried).")


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """`floor_table` for reading: accuracy and MCC as "0.5123 [0.4987, 0.5260]", the paired test as
    one "vs best floor" cell ("+0.0120, p 0.034"), the warning flag as "below majority"."""
    def interval(row, name: str) -> str:
        return f"{row[name]:.4f} [{row[f'{name}_lo']:.4f}, {row[f'{name}_hi']:.4f}]"

    def versus(row) -> str:
        note = row["test_note"]
        if isinstance(note, str) and note:  # (read back from CSV, an empty note is NaN)
            return note
        diff = row["acc_diff"] if abs(row["acc_diff"]) >= 5e-5 else 0.0  # no "-0.0000"
        return f"{diff:+.4f}, p {row['p_t']:.2g} (Wilcoxon {row['p_wilcoxon']:.2g})"

    keys = [c for c in ("point", "model", "kind") if c in table.columns]
    if "point" in keys and set(table["point"].astype(str)) == {"base"}:  # no sweep: no point column
        keys.remove("point")
    out = table[keys].copy()
    out["accuracy [95% CI]"] = [interval(r, "accuracy") for _, r in table.iterrows()]
    out["mcc [95% CI]"] = [interval(r, "mcc") for _, r in table.iterrows()]
    out["vs best floor: acc diff, p"] = [versus(r) for _, r in table.iterrows()]
    if "mcc_diff" in table.columns:
        out["vs best floor (MCC): diff (SE)"] = [
            "the best floor by MCC" if r["model"] == r["best_floor_mcc"] else
            "no test" if pd.isna(r["mcc_diff"]) else f"{r['mcc_diff']:+.4f} ({r['mcc_se']:.4f})"
            for _, r in table.iterrows()]
    if "configs_tried" in table.columns:
        out["configs tried"] = [_tried(r["configs_tried"], r["kind"]) for _, r in table.iterrows()]
    out["note"] = np.where(table["below_majority"].astype(bool), "below majority", "")
    return out


def _tried(value, kind: str) -> str:
    if kind == KIND_MAJORITY:
        return "-"  # no model: nothing was searched
    return "not stated" if pd.isna(value) else str(int(value))


def floor_notes(table: pd.DataFrame) -> list[str]:
    """The lines printed under a run's summary: the caption, the readable floor table (Markdown)
    and one "warning:" line per row below the majority of its split."""
    return [floor_caption() + " (tables/floors.csv)", to_markdown(display_table(table)),
            *(floor_verdicts(table) if "mcc_diff" in table.columns else []),
            *(f"warning: {line}" for line in floor_warnings(table))]


def floor_blocks(table: pd.DataFrame, *, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> list:
    """Report blocks: the caption, the readable table and a warning box when a row is below the
    majority of its split (numbers in tables/floors.csv)."""
    blocks: list = [floor_caption(n_resamples, seed) + " Numbers: tables/floors.csv.", display_table(table),
                    *(floor_verdicts(table) if "mcc_diff" in table.columns else [])]
    warnings = floor_warnings(table)
    if warnings:
        blocks.append(WarningBox("\n".join(warnings), title="Below the majority class of the split"))
    return blocks
