"""Side by side: two or more finished run directories in one report (`finfusion compare`).

    from finfusion.experiments.compare import compare_runs
    result = compare_runs(["runs/a", "runs/b"], out="compare", names=["A", "B"])
    result.report                     # compare/compare.html: one self-contained file, readable offline
    result.tables["config_diff"]      # every table, also written as CSV beside the report

The first run is the reference: every difference is `B − A` against it. The output directory
(default `./compare`; a non-empty one only with `overwrite`) holds:

    compare.html        the report: the sections below, charts embedded as data URIs
    runs.csv            a row per fact, a column per run: directory, kind, config name, task, data
                        fingerprints, test period, finish time, finfusion version, seeds, models
    metrics_<kind>.csv  the runs' summary tables joined on their keys: one column per run per metric
                        (`<metric> [<run>]`) and `<metric> Δ (<run> − <reference>)` for every other run
    config_diff.csv     the saved configs flattened to dotted keys (`models.0.params.epochs`), only the
                        keys whose values differ; "(absent)" where a run has no such key
    equity.csv          run, strategy, seed, date, net, equity, drawdown of every traded strategy

Summary table of each kind (the keys it is joined on first):
    predict    point, model: metrics.json "summary" (mean over seeds of the headline metrics); a run
               without a sweep is point "base" (its summary leaves the column out)
    rl         group, commission, strategy: metrics.csv, mean over seeds
    sentiment  lr, batch_size, epochs: results.csv (one row per trial)
Metrics are compared among runs of the same kind (the first run of each kind is that kind's
reference); with runs of several kinds the report says so, and the config table keeps the keys
every run has. A row that is not in every run is kept with NaN for the others and listed in a note.

Equity curves: `experiments.compare_curves` (stored series, or recomputed and checked; else a note).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import finfusion.io as io
from finfusion.errors import ConfigError, DataError
from finfusion.evaluate.report import Section, Table, WarningBox, render_report, write_report
from finfusion.experiments.compare_curves import concat_rows, curve_table, plot_strategy, strategy_returns
from finfusion.experiments.notebook import Run
from finfusion.experiments.overrides import dotted_items
from finfusion.experiments.run_layout import finished_run
from finfusion.experiments.rundir import INPUTS, recorded_warnings

KEYS = {"predict": ["point", "model"], "rl": ["group", "commission", "strategy"],
        "sentiment": ["lr", "batch_size", "epochs"]}
SUMMARY = {"predict": "metrics.json \"summary\": mean over seeds of the headline metrics per sweep point and model",
           "rl": "metrics.csv, mean over seeds per group, commission and strategy",
           "sentiment": "results.csv: the validation metrics of each trial"}
DEFAULT_OUT = Path("compare")
REPORT = "compare.html"
ABSENT = "(absent)"
NOT_RECORDED = "—"
OWN_FILES = (REPORT, "runs.csv", "config_diff.csv", "equity.csv")  # and metrics_<kind>.csv


@dataclass(frozen=True)
class RunDir:
    """A finished run directory as the comparison reads it: its name in the report, its kind,
    the saved config (the YAML mapping) and, for predict and rl runs, `notebook.Run` (lazy reads)."""

    name: str
    path: Path
    kind: str
    raw: dict
    view: Run | None


@dataclass(frozen=True)
class Comparison:
    """What `compare_runs` wrote: the output directory, the report and every table (also as CSV)."""

    out: Path
    report: Path
    tables: dict[str, pd.DataFrame]
    notes: list[str]


# --------------------------------------------------------------------------- reading runs


def read_runs(paths: list[str | Path], names: list[str] | None = None) -> list[RunDir]:
    """The finished runs in `paths`, named `names` (default: the shortest distinct path tails).
    ConfigError naming the path for fewer than 2 runs, a path given twice, a path that is not a
    run directory and an unfinished run."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        given = ", ".join(map(str, paths)) or "none"
        raise ConfigError(f"compare needs at least 2 run directories, got {len(paths)} ({given})")
    seen: dict[Path, Path] = {}
    for path in paths:
        if path.resolve() in seen:
            raise ConfigError(f"{path} is given twice (also as {seen[path.resolve()]}); compare distinct runs")
        seen[path.resolve()] = path
    names = default_names(paths) if names is None else [n.strip() for n in names]
    if len(names) != len(paths):
        raise ConfigError(f"--names gives {len(names)} name(s) ({', '.join(names)}) for {len(paths)} runs")
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ConfigError(f"--names must be distinct and non-empty, got {', '.join(map(repr, names))}")
    return [_read_run(path, name) for path, name in zip(paths, names)]


def default_names(paths: list[Path]) -> list[str]:
    """The last path part of each run, or as many trailing parts as make them distinct."""
    parts = [p.resolve().parts for p in paths]
    for k in range(1, max(map(len, parts)) + 1):
        names = ["/".join(p[-k:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def _read_run(path: Path, name: str) -> RunDir:
    kind, raw, _ = finished_run(path)
    return RunDir(name, path, kind, raw, Run(path) if kind in ("predict", "rl") else None)


# --------------------------------------------------------------------------- runs table


def runs_table(runs: list[RunDir]) -> pd.DataFrame:
    """A row per fact, a column per run; NOT_RECORDED where a run does not record the fact."""
    facts = {run.name: run_facts(run) for run in runs}
    rows = list(dict.fromkeys(k for f in facts.values() for k in f))
    table = pd.DataFrame({name: [f.get(k, NOT_RECORDED) for k in rows] for name, f in facts.items()}, index=rows)
    return table.rename_axis("fact")


def run_facts(run: RunDir) -> dict[str, str]:
    """What a run directory records about its run, as text (see `runs_table`)."""
    facts = {"directory": str(run.path), "kind": run.kind, "config name": str(run.raw.get("name", NOT_RECORDED))}
    inputs = _json(run.path / INPUTS).get("inputs", {})
    env: dict = {}
    if run.kind == "predict":
        facts["task"] = str(_json(run.path / "metrics.json").get("task", NOT_RECORDED))
        for what, value in run.view.data.get("fingerprints", {}).items():
            facts[f"{what} fingerprint"] = str(value)
        facts["test period"] = _period(pd.read_parquet(run.path / "predictions.parquet", columns=["date"])["date"])
        facts["seeds"] = _listed(run.view.metrics["seed"])
        facts["models"] = _listed(run.view.metrics["model"])
        env = _json(run.path / "env.json")
    elif run.kind == "rl":
        facts["test period"] = _period(run.view.daily["date"])
        facts["seeds"] = _listed(pd.Series(run.raw.get("seeds", [])))
        facts["strategies"] = _listed(run.view.metrics["strategy"])
        env = run.view.summary.get("environment", {})
    else:
        facts["labelled texts fingerprint"] = str(_json(run.path / "data.json").get("fingerprint", NOT_RECORDED))
        facts["trials"] = str(len(pd.read_csv(run.path / "results.csv")))
    if inputs.get("samples"):
        facts["samples fingerprint(s)"] = ", ".join(inputs["samples"])
    if env.get("finished_at"):
        facts["finished"] = env["finished_at"]
    version = env.get("packages", {}).get("finfusion") or inputs.get("packages", {}).get("finfusion")
    if version:
        facts["finfusion version"] = version
    facts["warnings"] = str(len(recorded_warnings(run.path)))
    return facts


def _json(path: Path) -> dict:
    return io.read_json(path) if path.is_file() else {}


def _period(dates: pd.Series) -> str:
    dates = pd.to_datetime(dates).dropna()
    if dates.empty:
        return "no dates"
    return f"{dates.min().date()} .. {dates.max().date()} ({dates.nunique()} dates)"


def _listed(values: pd.Series) -> str:
    return ", ".join(str(v) for v in pd.unique(values.dropna()))


# --------------------------------------------------------------------------- metrics


def summary_of(run: RunDir) -> pd.DataFrame:
    """The run's summary table (module docstring), its key columns first (`KEYS[run.kind]`)."""
    keys = KEYS[run.kind]
    if run.kind == "predict":
        table = run.view.summary.copy()
        if "point" not in table.columns:
            table.insert(0, "point", "base")
    elif run.kind == "rl":
        metrics = run.view.metrics
        values = [c for c in metrics.columns if c not in (*keys, "seed") and pd.api.types.is_numeric_dtype(metrics[c])]
        table = metrics.groupby(keys, sort=False, dropna=False)[values].mean().reset_index()
    else:
        table = pd.read_csv(run.path / "results.csv").drop(columns="trial")
    dup = table.duplicated(keys)
    if dup.any():
        first = table.loc[dup, keys].iloc[0].to_dict()
        raise DataError(f"{run.path}: its summary has {int(dup.sum())} repeated row(s) of {', '.join(keys)} (first "
                        f"{first}); compare joins the runs on these keys")
    return table[[*keys, *[c for c in table.columns if c not in keys]]]


def side_by_side(tables: dict[str, pd.DataFrame], keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(wide, unmatched, notes): `tables` (run name -> summary; the first is the reference) outer-
    joined on `keys` in the order rows first appear; per numeric metric one column per run
    `<metric> [<run>]` then `<metric> Δ (<run> − <reference>)`. `unmatched`: the key rows missing
    from some run, with where they are. `notes`: metrics a run lacks or that are not numbers."""
    names, ref = list(tables), next(iter(tables))
    columns = list(dict.fromkeys(c for t in tables.values() for c in t.columns if c not in keys))
    metrics = [c for c in columns if any(c in t and pd.api.types.is_numeric_dtype(t[c]) for t in tables.values())]
    notes = [f"not numbers, not compared: {', '.join(c for c in columns if c not in metrics)}"] \
        if len(metrics) < len(columns) else []
    wide = pd.concat([t[keys] for t in tables.values()]).drop_duplicates().reset_index(drop=True)
    present = {}
    for name, table in tables.items():
        part = table[keys + [m for m in metrics if m in table]].rename(columns={m: f"{m} [{name}]" for m in metrics})
        wide = wide.merge(part.assign(_here=True), on=keys, how="left", validate="1:1")
        present[name] = wide.pop("_here").notna().to_numpy()
        lacking = [m for m in metrics if m not in table]
        if lacking:
            notes.append(f"{name} has no {', '.join(lacking)} (NaN)")
    ordered = list(keys)
    for m in metrics:
        for name in names:
            wide[f"{m} [{name}]"] = wide.get(f"{m} [{name}]", np.nan)
        ordered += [f"{m} [{name}]" for name in names]
        for name in names[1:]:
            wide[delta_column(m, name, ref)] = wide[f"{m} [{name}]"] - wide[f"{m} [{ref}]"]
            ordered.append(delta_column(m, name, ref))
    everywhere = np.logical_and.reduce(list(present.values()))
    unmatched = wide.loc[~everywhere, keys].assign(
        present_in=[", ".join(n for n in names if present[n][i]) for i in np.flatnonzero(~everywhere)],
        missing_in=[", ".join(n for n in names if not present[n][i]) for i in np.flatnonzero(~everywhere)])
    return wide[ordered], unmatched.reset_index(drop=True), notes


def delta_column(metric: str, name: str, reference: str) -> str:
    return f"{metric} Δ ({name} − {reference})"


def _metric_tables(wide: pd.DataFrame, keys: list[str], names: list[str]) -> list[Table]:
    """One small table per metric for the report: keys, a column per run, the Δ columns."""
    own = f" [{names[0]}]"  # every metric has a column per run, the reference's among them
    metrics = [c[:-len(own)] for c in wide.columns if c.endswith(own)]
    out = []
    for m in metrics:
        cols = {f"{m} [{n}]": n for n in names}
        cols.update({delta_column(m, n, names[0]): f"Δ ({n} − {names[0]})" for n in names[1:]})
        out.append(Table(wide[keys + list(cols)].rename(columns=cols), caption=m, floatfmt=".4g"))
    return out


def metric_sections(runs: list[RunDir], tables: dict[str, pd.DataFrame]) -> tuple[list[Section], list[str]]:
    """A section per run kind with at least 2 runs (tables gets metrics_<kind>); notes for the rest."""
    by_kind: dict[str, list[RunDir]] = {}
    for run in runs:
        by_kind.setdefault(run.kind, []).append(run)
    notes = []
    if len(by_kind) > 1:
        notes.append("The runs are of different kinds (" + "; ".join(
            f"{k}: {', '.join(r.name for r in rs)}" for k, rs in by_kind.items()) + "): they are compared only on "
            "what they share. Metrics are compared among runs of the same kind, the configuration on the keys "
            "every run has; runs and equity curves are shown for all.")
    sections = []
    for kind, members in by_kind.items():
        if len(members) < 2:
            notes.append(f"Only one {kind} run ({members[0].name}): its metrics are compared with no other run.")
            continue
        keys, names = KEYS[kind], [r.name for r in members]
        wide, unmatched, extra = side_by_side({r.name: summary_of(r) for r in members}, keys)
        tables[f"metrics_{kind}"] = wide
        blocks: list = [f"{SUMMARY[kind]}. Reference: {names[0]}; Δ = run − {names[0]}. Joined on "
                        f"{', '.join(keys)}; metrics_{kind}.csv holds every column."]
        if not unmatched.empty:
            blocks += [WarningBox(f"{len(unmatched)} row(s) are not in every run: kept, with NaN for the runs "
                                  "without them.", title="Rows not in every run"), unmatched]
        blocks += [*extra, *_metric_tables(wide, keys, names)]
        sections.append(Section(f"Metrics ({kind})", blocks))
    return sections, notes


# --------------------------------------------------------------------------- config differences


def config_differences(runs: list[RunDir]) -> pd.DataFrame:
    """A row per dotted config key whose value is not the same in every run (`key` and a column per
    run, values as YAML scalars, ABSENT where missing); with runs of several kinds only the keys
    every run has."""
    flat = [dict(dotted_items(run.raw)) for run in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    if len({run.kind for run in runs}) > 1:
        keys = [k for k in keys if all(k in f for f in flat)]
    rows = []
    for key in keys:
        values = [f.get(key, ABSENT) for f in flat]
        texts = [v if v is ABSENT else _scalar(v) for v in values]
        if len(set(texts)) > 1:
            rows.append({"key": key, **dict(zip((r.name for r in runs), texts))})
    return pd.DataFrame(rows, columns=["key", *[r.name for r in runs]])


def _scalar(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --------------------------------------------------------------------------- the comparison


def compare_runs(paths: list[str | Path], *, out: str | Path | None = None, names: list[str] | None = None,
                 overwrite: bool = False) -> Comparison:
    """Compare the finished runs in `paths` (the first is the reference) and write the report and
    tables into `out` (module docstring); ConfigError for bad runs or a non-empty `out` without
    `overwrite`."""
    runs = read_runs(paths, names)
    out = Path(out) if out is not None else DEFAULT_OUT
    _check_output(out, runs, overwrite)
    tables = {"runs": runs_table(runs)}
    metrics, notes = metric_sections(runs, tables)
    curves, curve_blocks = _equity(runs)
    tables["equity"] = curves
    tables["config_diff"] = config_differences(runs)
    sections = [Section("Runs", [*notes, Table(_shown(tables["runs"]), index=True)]), *metrics,
                Section("Equity curves", curve_blocks), Section("Config differences", _config_blocks(runs, tables))]
    _clear_output(out)
    title = "finfusion comparison: " + " vs ".join(r.name for r in runs)
    report = write_report(out / REPORT, render_report(title=title, sections=sections,
                                                      subtitle=f"Reference: {runs[0].name}"))
    for name, table in tables.items():
        io.write_text(out / f"{name}.csv", table.to_csv(index=name == "runs"))
    return Comparison(out, report, tables, notes)


def _check_output(out: Path, runs: list[RunDir], overwrite: bool) -> None:
    """Refuse, before any work, an output directory inside a run, a file, or a non-empty directory
    without `overwrite`."""
    for run in runs:
        here = run.path.resolve()
        if out.resolve() == here or here in out.resolve().parents:
            raise ConfigError(f"--out {out} lies in the run directory {run.path}; choose a directory outside the runs")
    if out.exists():
        io.output_dir(out, overwrite=overwrite, what="compare output directory")


def _clear_output(out: Path) -> None:
    """Create `out`, removing an earlier comparison's files there (no stale metrics_<kind>.csv stays)."""
    io.output_dir(out, overwrite=True, what="compare output directory")
    for stale in [*(out / f for f in OWN_FILES), *out.glob("metrics_*.csv")]:
        if stale.is_file():
            stale.unlink()


def _shown(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs table for the report: fingerprints cut to 16 hex digits (runs.csv has them whole)."""
    shown = runs.copy()
    for fact in shown.index[shown.index.str.contains("fingerprint")]:
        shown.loc[fact] = [", ".join(p[:16] for p in str(v).split(", ")) for v in shown.loc[fact]]
    return shown


def _equity(runs: list[RunDir]) -> tuple[pd.DataFrame, list]:
    """(equity table, report blocks): where each run's series come from, and a chart per strategy."""
    parts, notes = [], {}
    for run in runs:
        frame, notes[run.name] = strategy_returns(run)
        parts.append(frame)
    curves = curve_table(concat_rows(parts))
    blocks: list = ["Net returns after costs, compounded: value of 1 invested (evaluate.performance.equity_curve) "
                    "and the fall from its running peak (drawdown_curve); a chart per strategy, a line per run (per "
                    "run and seed when a run has several seeds), its final value and maximum drawdown in the legend. "
                    "Where each run's series come from:",
                    pd.DataFrame({"run": list(notes), "series": list(notes.values())})]
    names = [r.name for r in runs]
    for strategy in pd.unique(curves["strategy"]):
        blocks.append(plot_strategy(strategy, curves[curves["strategy"] == strategy], names))
    if curves.empty:
        blocks.append("No run has a series to draw.")
    return curves, blocks


def _config_blocks(runs: list[RunDir], tables: dict[str, pd.DataFrame]) -> list:
    diff = tables["config_diff"]
    head = ("The saved config.yaml of each run flattened to dotted keys (list items by index, as --set writes "
            f"them); only the keys whose values differ, {ABSENT} where a run has no such key.")
    if len({run.kind for run in runs}) > 1:
        head += " The runs are of different kinds: only the keys every run's config has are compared."
    if diff.empty:
        return [head, "No differences: the runs have the same resolved configuration."]
    return [head, Table(diff, index=False)]

