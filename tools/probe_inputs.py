"""Try hostile and careless inputs against the `finfusion` command and count how each one ends.

    python tools/probe_inputs.py [--only SUBSTRING] [--verbose]

Each probe builds its input in a temporary directory (from a small simulated market), runs one
command in this process (`finfusion.cli.main`) and is classified:

    clear   a bad input refused with one `finfusion: error:` message (exit 2), nothing written
            that should not be; or a good input that ran (exit 0) and passed its check
    crash   a traceback, or an exit code other than 0 / 2
    silent  a bad input that ran anyway (exit 0), or a good one whose result fails its check
            (e.g. a user file overwritten, a dropped text not counted)

It prints one line per probe and the counts per category; the exit status is 1 when any probe
is not clear. Issue 16 lists the categories; tests/ holds a named test per fix, this script is
the end-to-end check a new user would do.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from finfusion import cli
from finfusion.data.simulate import SimulatorConfig, simulate_market, write_market

SMALL_RUN = {
    "name": "p", "progress": False,
    "features": {"groups": ["returns"]},
    "models": [{"name": "xgboost", "params": {"n_estimators": 5}}],
    "protocol": {"kind": "rolling", "window": 40, "refit_every": 20},
    "output": {"plots": False},
}


@dataclass
class Probe:
    category: str
    name: str
    setup: Callable[[Path], list[str]]  # builds the inputs in the directory, returns the CLI arguments
    expect: str = "error"  # "error" or "ok"
    check: Callable[[Path, str], str | None] | None = None  # -> a problem, or None


# -- inputs ---------------------------------------------------------------------------------------

def market(base: Path, n_days: int = 160) -> tuple[Path, Path]:
    """prices.csv and texts.jsonl of a small simulated market under base/data (written once)."""
    if not (base / "data").exists():
        write_market(simulate_market(SimulatorConfig(n_days=n_days, n_tickers=3, n_features=2, seed=0)), base / "data")
    return base / "data" / "prices.csv", base / "data" / "texts.jsonl"


def edit_prices(base: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    prices, _ = market(base)
    frame = change(pd.read_csv(prices, dtype=str))
    frame.to_csv(prices, index=False)
    return prices


def edit_texts(base: Path, change: Callable[[list[dict]], list[dict]]) -> Path:
    _, texts = market(base)
    rows = [json.loads(line) for line in texts.read_text().splitlines()]
    texts.write_text("".join(json.dumps(r) + "\n" for r in change(rows)))
    return texts


def config(base: Path, extra: dict | None = None, *, files: bool = True, text: str | None = None) -> Path:
    raw = json.loads(json.dumps(SMALL_RUN))
    if files:
        prices, texts = market(base)
        raw["data"] = {"source": "files", "prices": str(prices), "texts": str(texts)}
    else:
        raw["data"] = {"source": "simulate", "simulate": {"n_days": 160, "n_features": 2, "seed": 0}}
    for key, value in (extra or {}).items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    path = base / "c.yaml"
    path.write_text(text if text is not None else json.dumps(raw))
    return path


def run_args(base: Path, *more: str) -> list[str]:
    return ["run", str(base / "c.yaml"), "--out", str(base / "out"), "--quiet", *more]


def check_args(base: Path, *more: str) -> list[str]:
    return ["data", "check", str(base / "data" / "prices.csv"), str(base / "data" / "texts.jsonl"), *more]


# -- probes ------------------------------------------------------------------------------------------

def _rows(change):
    return lambda b: (edit_prices(b, change), check_args(b))[1]


def _set_cell(row: int, column: str, value: str):
    def change(f):
        f.loc[row, column] = value
        return f
    return change


def _day_first(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(date=pd.to_datetime(f["date"]).dt.strftime("%d/%m/%Y"))


def data_check_probes() -> list[Probe]:
    p = "data check"

    def dropped_counted(base, out):
        return None if "dropped:" in out and "dropped: nothing" not in out else "nothing reported as dropped"

    return [
        Probe(p, "valid files", lambda b: (market(b), check_args(b))[1], "ok"),
        Probe(p, "prices without a texts file", lambda b: (market(b), ["data", "check", str(b / "data/prices.csv")])[1], "ok"),
        Probe(p, "missing prices file", lambda b: ["data", "check", str(b / "nope.csv")]),
        Probe(p, "unknown suffix", lambda b: ((b / "p.xlsx").write_text("x"), ["data", "check", str(b / "p.xlsx")])[1]),
        Probe(p, "header-only prices", _rows(lambda f: f.iloc[:0])),
        Probe(p, "missing column", _rows(lambda f: f.drop(columns="close"))),
        Probe(p, "whole file day-first dd/mm/yyyy", _rows(_day_first)),
        Probe(p, "one ambiguous date 08/01/2020", _rows(_set_cell(5, "date", "08/01/2020"))),
        Probe(p, "day-first with --date-format", lambda b: (edit_prices(b, _day_first),
                                                            check_args(b, "--date-format", "%d/%m/%Y"))[1], "ok"),
        Probe(p, "high < low", _rows(lambda f: f.assign(high=f["high"].where(f.index != 3, "0.5")))),
        Probe(p, "close > high", _rows(_set_cell(4, "close", "1e6"))),
        Probe(p, "close = 1e300", _rows(_set_cell(4, "close", "1e300"))),
        Probe(p, "negative price", _rows(_set_cell(4, "open", "-3"))),
        Probe(p, "missing close", _rows(_set_cell(4, "close", ""))),
        Probe(p, "duplicate (date, ticker)", _rows(lambda f: pd.concat([f, f.iloc[[7]]]))),
        Probe(p, "text not UTF-8", lambda b: (_latin1_texts(b), check_args(b))[1]),
        Probe(p, "text not UTF-8 with --drop-invalid", lambda b: (_latin1_texts(b), check_args(b, "--drop-invalid"))[1],
              "ok", dropped_counted),
        Probe(p, "naive timestamps", lambda b: (edit_texts(b, lambda r: [{**x, "timestamp": x["timestamp"][:19]}
                                                                        for x in r]), check_args(b))[1]),
        Probe(p, "a JSON line that is not JSON", lambda b: (_append(market(b)[1], "{not json\n"), check_args(b))[1]),
        Probe(p, "empty text", lambda b: (edit_texts(b, lambda r: [{**r[0], "text": "  "}, *r[1:]]), check_args(b))[1]),
        Probe(p, "a text from 1990 is dropped and counted", lambda b: (edit_texts(
            b, lambda r: [{**r[0], "timestamp": "1990-01-02T10:00:00+00:00"}, *r[1:]]), check_args(b))[1],
            "ok", dropped_counted),
        Probe(p, "high < low with --drop-invalid", lambda b: (edit_prices(b, _set_cell(3, "high", "0.5")),
                                                              check_args(b, "--drop-invalid"))[1], "ok", dropped_counted),
        Probe(p, "unknown time zone", lambda b: (market(b), check_args(b, "--timezone", "Mars/Base"))[1]),
        Probe(p, "bad close time", lambda b: (market(b), check_args(b, "--close-time", "25:99"))[1]),
    ]


def _latin1_texts(base: Path) -> None:
    _, texts = market(base)
    texts.write_bytes(texts.read_bytes() + '{"timestamp": "2020-03-02T10:00:00+00:00", "ticker": "X", '
                      '"text": "caf\xe9"}\n'.encode("latin-1"))


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def config_probes() -> list[Probe]:
    p = "run: config"

    def cfg(extra=None, **kw):
        return lambda b: (config(b, extra, **kw), run_args(b))[1]

    def yaml_text(text):
        return lambda b: (config(b, text=text), run_args(b))[1]

    bomb = "a: &a [l, l, l, l, l, l, l, l, l]\n" + "".join(
        f"{n}: &{n} [" + ", ".join([f"*{prev}"] * 9) + "]\n" for prev, n in zip("abcdefgh", "bcdefghi"))
    bad_params = [("epochs: five", {"epochs": "five"}), ("epochs: 5.5", {"epochs": 5.5}), ("epochs: true", {"epochs": True}),
                  ("lr: nan", {"lr": float("nan")}), ("lr: inf", {"lr": float("inf")}), ("hidden: -16", {"hidden": -16})]
    probes = [
        Probe(p, "YAML syntax error", yaml_text("models: [{name: mlp}\n")),
        Probe(p, "duplicate key", yaml_text("models: [{name: mlp}]\nseed: 1\nseed: 2\n")),
        Probe(p, "!!python tag", yaml_text("models: [{name: mlp}]\nseed: !!python/object/apply:os.system ['true']\n")),
        Probe(p, "alias bomb", yaml_text(bomb)),
        Probe(p, "config not UTF-8", lambda b: ((b / "c.yaml").write_bytes(b"name: caf\xe9\n"), run_args(b))[1]),
        Probe(p, "top level is a list", yaml_text("- 1\n- 2\n")),
        Probe(p, "unknown key", cfg({"protocol.windw": 30})),
        *[Probe(p, f"mlp {label}", cfg({"models": [{"name": "mlp", "params": params}]})) for label, params in bad_params],
        Probe(p, "xgboost max_depth: -3", cfg({"models": [{"name": "xgboost", "params": {"max_depth": -3}}]})),
        Probe(p, "--set ...epochs=ten", lambda b: (config(b, {"models": [{"name": "mlp"}]}),
                                                     run_args(b, "--set", "models.0.params.epochs=ten"))[1]),
        Probe(p, "--set features.groups=[returns", lambda b: (config(b), run_args(b, "--set", "features.groups=[returns"))[1]),
        Probe(p, "--set seed.x=5", lambda b: (config(b), run_args(b, "--set", "seed.x=5"))[1]),
        Probe(p, "valid_start: notadate", cfg({"protocol": {"kind": "chronological", "valid_start": "notadate",
                                                              "test_start": "2020-05-01"}})),
        Probe(p, "valid_start after test_start", cfg({"protocol": {"kind": "chronological", "valid_start": "2020-08-01",
                                                                     "test_start": "2020-05-01"}})),
        Probe(p, "valid_start alone", cfg({"protocol": {"kind": "chronological", "valid_start": "2020-08-01"}})),
        Probe(p, "unknown feature group", cfg({"features": {"groups": ["nonexistent"]}})),
        Probe(p, "unknown feature name", cfg({"features": {"features": ["foo_bar"]}})),
        Probe(p, "rsi_0", cfg({"features": {"features": ["rsi_0"]}})),
        Probe(p, "horizon: 500", cfg({"target.horizon": 500})),
        Probe(p, "ma_100000", cfg({"features": {"features": ["ma_100000"]}})),
        Probe(p, "volatility group on 160 days", cfg({"features": {"groups": ["volatility"]}})),
        Probe(p, "name: ../../../../elsewhere/x", cfg({"name": "../../../../elsewhere/x"})),
        Probe(p, "executor.torch_threads: 0", cfg({"executor": {"torch_threads": 0}})),
        Probe(p, "file paths without source", lambda b: (market(b), config(b, text=json.dumps(
            {**SMALL_RUN, "data": {"prices": str(b / "data/prices.csv")}})), run_args(b))[2], "ok",
            lambda b, out: None if json.loads((b / "out/data.json").read_text())["source"]["source"] == "files"
            else "ran on the simulator"),
    ]
    return probes


TEXT_MODEL = {"models": [{"name": "text_only", "params": {"epochs": 1, "model": "__TINY__"}}]}


def data_probes() -> list[Probe]:
    p = "run: data"

    def texts_of(change, extra=None):
        return lambda b: (config(b, extra), edit_texts(b, change), run_args(b))[2]

    def dropped_in_data_json(base, out):
        cleaning = json.loads((base / "out" / "data.json").read_text())["cleaning"]
        return None if any("ticker" in d["reason"] for d in cleaning) else "dropped texts not counted in data.json"

    return [
        Probe(p, "missing prices file", lambda b: (config(b), (b / "data/prices.csv").unlink(), run_args(b))[2]),
        Probe(p, "day-first prices", lambda b: (config(b), edit_prices(b, _day_first), run_args(b))[2]),
        Probe(p, "day-first prices with data.date_format", lambda b: (
            config(b, {"data.date_format": "%d/%m/%Y"}), edit_prices(b, _day_first), run_args(b))[2], "ok"),
        Probe(p, "lower-case tickers in texts, text model", texts_of(
            lambda r: [{**x, "ticker": x["ticker"].lower()} for x in r], TEXT_MODEL)),
        Probe(p, "empty texts file, text model", texts_of(lambda r: [], TEXT_MODEL)),
        Probe(p, "texts of unknown tickers are counted", texts_of(
            lambda r: [*r, {**r[0], "ticker": "ZZZZ"}]), "ok", dropped_in_data_json),
        Probe(p, "close = 1e300", lambda b: (config(b), edit_prices(b, _set_cell(4, "close", "1e300")), run_args(b))[2]),
    ]


def output_probes() -> list[Probe]:
    p = "run: output"

    def mine(base):
        (base / "out").mkdir(exist_ok=True)
        (base / "out" / "metrics.csv").write_text("mine")

    def untouched(base, out):
        return None if (base / "out" / "metrics.csv").read_text() == "mine" else "user file overwritten"

    def no_report_line(base, out):
        return "printed a report path" if "report:" in out else None

    return [
        Probe(p, "--out non-empty, not a run", lambda b: (config(b), mine(b), run_args(b))[2], "error", untouched),
        Probe(p, "--out is a file", lambda b: (config(b), (b / "out").write_text("x"), run_args(b))[2]),
        Probe(p, "--out holds a run", lambda b: (config(b), cli.main(run_args(b)), run_args(b))[2]),
        Probe(p, "--out holds a run, --overwrite", lambda b: (config(b), cli.main(run_args(b)),
                                                                 run_args(b, "--overwrite"))[2], "ok"),
        Probe(p, "report: false", lambda b: (config(b, {"output": {"plots": False, "report": False}}), run_args(b))[1],
              "ok", no_report_line),
    ]


def resume_probes() -> list[Probe]:
    p = "--resume"

    def interrupted(base: Path) -> Path:
        config(base, {"protocol": {"kind": "rolling", "window": 40, "refit_every": 10}})
        from finfusion.protocols import engine

        original = engine._predict_fold

        def crash(state, samples, split, *args, **kwargs):
            if split.fold == 30:
                raise KeyboardInterrupt
            return original(state, samples, split, *args, **kwargs)

        engine._predict_fold = crash
        try:
            cli.main(run_args(base))
        finally:
            engine._predict_fold = original
        return base / "out"

    def unit_dir(run: Path) -> Path:
        return next(p for p in (run / "checkpoints").iterdir() if p.is_dir())

    def damage(base, how):
        run = interrupted(base)
        how(run)
        return ["run", "--resume", str(run), "--quiet"]

    def truncate(run):
        f = unit_dir(run) / "progress.json"
        f.write_text(f.read_text()[:5])

    def corrupt(run):
        f = unit_dir(run) / "folds" / "fold_00002.parquet"
        f.write_bytes(f.read_bytes()[:30])

    def escape(run):
        f = unit_dir(run) / "progress.json"
        f.write_text(json.dumps({**json.loads(f.read_text()), "state": "../../../.."}))

    def changed_prices(run):
        prices = run.parent / "data" / "prices.csv"
        prices.write_text(prices.read_text().replace(",1", ",2", 1))

    return [
        Probe(p, "not a run directory", lambda b: ["run", "--resume", str(b)]),
        Probe(p, "changed prices file", lambda b: damage(b, changed_prices)),
        Probe(p, "changed prices file, --force", lambda b: [*damage(b, changed_prices), "--force"], "ok",
              lambda b, out: None if "resumed with --force" in (b / "out/report.html").read_text() else "no warning"),
        Probe(p, "truncated progress.json", lambda b: damage(b, truncate)),
        Probe(p, "corrupt fold parquet", lambda b: damage(b, corrupt)),
        Probe(p, "progress.json state ../..", lambda b: damage(b, escape)),
        Probe(p, "held by another process", lambda b: damage(b, _hold)),
        Probe(p, "with a CONFIG too", lambda b: (config(b), ["run", str(b / "c.yaml"), "--resume", str(b)])[1]),
        Probe(p, "a finished run", lambda b: (config(b), cli.main(run_args(b)),
                                               ["run", "--resume", str(b / "out"), "--quiet"])[2], "ok"),
    ]


HOLDERS: list[subprocess.Popen] = []


def _hold(run: Path) -> None:
    code = textwrap.dedent("""
        import sys, time
        from finfusion.experiments.rundir import RunDirectory
        held = RunDirectory.resume(sys.argv[1]); print("held", flush=True); time.sleep(120)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    HOLDERS.append(holder)


def other_probes() -> list[Probe]:
    def full(base):
        (base / "o").mkdir()
        (base / "o" / "prices.csv").write_text("mine")
        return base / "o"

    return [
        Probe("simulate", "--out non-empty", lambda b: ["simulate", "--out", str(full(b))], "error",
              lambda b, out: None if (b / "o/prices.csv").read_text() == "mine" else "user file overwritten"),
        Probe("simulate", "--out is a file", lambda b: ((b / "f").write_text("x"), ["simulate", "--out", str(b / "f")])[1]),
        Probe("simulate", "--set n_days=abc", lambda b: ["simulate", "--out", str(b / "s"), "--set", "n_days=abc"]),
        Probe("simulate", "--set unknown=1", lambda b: ["simulate", "--out", str(b / "s"), "--set", "unknown=1"]),
        Probe("simulate", "valid", lambda b: ["simulate", "--out", str(b / "s"), "--set", "n_days=80"], "ok"),
        Probe("demo", "--out non-empty", lambda b: ["demo", "--out", str(full(b))]),
        Probe("demo", "--set protocol.window=1", lambda b: ["demo", "--out", str(b / "d"), "--set", "protocol.window=1"]),
        Probe("cache", "info", lambda b: ["cache", "info"], "ok"),
        Probe("cache", "clear --kind bogus", lambda b: ["cache", "clear", "--kind", "bogus"]),
    ]


# -- running ------------------------------------------------------------------------------------------

def run_probe(probe: Probe, base: Path, tiny: Path) -> tuple[str, str]:
    """(category, detail) of one probe."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            args = [a.replace("__TINY__", str(tiny)) for a in probe.setup(base)]  # setup may run commands too
        config_file = base / "c.yaml"
        if config_file.exists() and b"__TINY__" in config_file.read_bytes():
            config_file.write_text(config_file.read_text().replace("__TINY__", str(tiny)))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(args)
            except SystemExit as exit_:  # argparse
                code = exit_.code
    except Exception:  # noqa: BLE001 - a probe reports every crash
        return "crash", traceback.format_exc().strip().splitlines()[-1]
    text = out.getvalue() + err.getvalue()
    last = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else out.getvalue().strip()[-150:]
    if code not in (0, 2):
        return "crash", f"exit {code}: {last}"
    if probe.expect == "error" and code == 0:
        return "silent", "ran, expected a refusal"
    if probe.expect == "ok" and code != 0:
        return "crash" if "finfusion: error" not in text else "silent", f"refused a good input: {last}"
    problem = probe.check(base, text) if probe.check else None
    if problem:
        return "silent", problem
    return "clear", last[:160]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the probes whose category or name contains this")
    parser.add_argument("--verbose", action="store_true", help="print the message of every probe")
    args = parser.parse_args()
    os.environ.setdefault("FINFUSION_CACHE_DIR", "off")
    probes = [*data_check_probes(), *config_probes(), *data_probes(), *output_probes(), *resume_probes(), *other_probes()]
    probes = [p for p in probes if args.only in f"{p.category}: {p.name}"]
    counts: Counter = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from conftest import make_tiny_bert  # a 3-layer random BERT: the text-model probes need an encoder

        tiny = make_tiny_bert(Path(tmp) / "tiny_bert")
        for i, probe in enumerate(probes):
            base = Path(tmp) / f"p{i:03d}"
            base.mkdir()
            outcome, detail = run_probe(probe, base, tiny)
            counts[outcome] += 1
            if outcome != "clear" or args.verbose:
                print(f"[{outcome:6}] {probe.category}: {probe.name}: {detail}")
            shutil.rmtree(base, ignore_errors=True)
    for holder in HOLDERS:
        holder.kill()
    print(f"\n{len(probes)} probes in {time.perf_counter() - started:.0f} s: "
          + ", ".join(f"{counts[k]} {k}" for k in ("clear", "crash", "silent")))
    return 0 if counts["clear"] == len(probes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
