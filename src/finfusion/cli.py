"""The `finfusion` command: thin parsing around the library.

Exit codes (see EXIT_CODES and docs/cli.md): 0 success, 2 usage or config error, 3 data error,
4 protocol error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
import time
from pathlib import Path

from finfusion._version import __version__
from finfusion.cli_options import add_executor_options
from finfusion.errors import DataError, FinfusionError, ProtocolError
from finfusion.executors import ExecutorConfig, UnitsFailed

EXIT_USAGE, EXIT_DATA, EXIT_PROTOCOL, EXIT_INTERRUPTED = 2, 3, 4, 130
EXIT_CODES = f"""exit codes:
  0    success
  {EXIT_USAGE}    usage or config error: a bad option, an invalid config value, a missing file or recipe
  {EXIT_DATA}    data error: a prices / texts file is malformed (the message names the file, row and column)
  {EXIT_PROTOCOL}    protocol error: valid settings, but the samples are too short for the protocol
       (e.g. fewer dates than the rolling window, no training data before a walk-forward fold)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); continue a run with `finfusion run --resume RUN_DIR`
"""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args) or 0
    except (FinfusionError, FileNotFoundError) as err:
        return _fail(err, _exit_code(err))
    except KeyboardInterrupt:
        print("\nfinfusion: interrupted; a run can be continued with `finfusion run --resume RUN_DIR`", file=sys.stderr)
        return EXIT_INTERRUPTED


def _exit_code(err: BaseException | None) -> int:
    """The exit code of a finfusion error; units that failed (UnitsFailed) exit with the code of
    the first one's error (a failure other than a finfusion error: 1)."""
    if isinstance(err, UnitsFailed):
        return _exit_code(err.failures[0].exception)
    if isinstance(err, DataError):
        return EXIT_DATA
    if isinstance(err, ProtocolError):  # before ConfigError, its base class
        return EXIT_PROTOCOL
    if isinstance(err, (FinfusionError, FileNotFoundError)):
        return EXIT_USAGE
    return 1


def _fail(err: Exception, code: int) -> int:
    print(f"finfusion: error: {err}", file=sys.stderr)
    return code


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """argparse's usage line and `message` on stderr; the usage exit code (as argparse's own errors)."""
    print(f"{parser.format_usage()}{parser.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="finfusion", description="Fuse financial text with market data to predict "
                                "returns, direction and prices,\nand evaluate the predictions honestly.",
                                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"finfusion {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")
    _run_parsers(sub)

    sim = sub.add_parser("simulate", help="write a simulated market (prices + texts) in the input format")
    sim.add_argument("--out", type=Path, required=True, help="output directory")
    sim.add_argument("--format", choices=("csv", "parquet"), default="csv")
    sim.add_argument("--overwrite", action="store_true", help="let --out be a non-empty directory (files of the "
                     "same names are replaced)")
    sim.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="simulator parameter, e.g. --set n_days=1000 --set d=8 --set preset=paper")
    sim.set_defaults(func=_cmd_simulate)

    _data_parser(sub)
    models = sub.add_parser("models", help="list the registered predictors and their parameters")
    models.add_argument("--json", action="store_true", help="print a JSON list instead")
    models.set_defaults(func=_cmd_models)
    recipes = sub.add_parser("recipes", help="list the packaged recipes")
    recipes.add_argument("--json", action="store_true", help="print a JSON list instead")
    recipes.set_defaults(func=_cmd_recipes)
    reference = sub.add_parser("config-reference", help="print the reference of every config key (docs/config.md)")
    reference.add_argument("--out", type=Path, default=None, help="write it to this file instead")
    reference.set_defaults(func=_cmd_config_reference)
    _cache_parser(sub)
    _compare_parser(sub)
    _track_parser(sub)

    from finfusion.cli_pipeline import add_pipeline_parsers
    from finfusion.cli_sentiment import add_sentiment_parser
    from finfusion.cli_serve import add_serve_parser

    add_pipeline_parsers(sub)
    add_sentiment_parser(sub)
    add_serve_parser(sub)
    return p


def _run_parsers(sub: argparse._SubParsersAction) -> None:
    """`demo` and `run`."""
    demo = sub.add_parser("demo", help="run the built-in demo on a simulated market and print its metrics")
    demo.add_argument("--out", type=Path, default=None, help="run directory (default: runs/demo-<time>)")
    demo.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a demo config value, e.g. --set protocol.refit_every=10")
    demo.add_argument("--overwrite", action="store_true", help="let --out be a non-empty directory (a previous "
                      "run there is replaced; other files are left alone)")
    _output_options(demo)
    add_executor_options(demo)
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run a config file or a packaged recipe and write a run directory")
    run.add_argument("config", nargs="?", help="YAML config path, or the name of a packaged recipe")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value by dotted path (repeatable), e.g. models.0.params.epochs=5")
    run.add_argument("--out", type=Path, default=None, help="run directory (default: <output.dir>/<name>-<time>)")
    run.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                     help="continue an interrupted run from its last finished window")
    run.add_argument("--overwrite", action="store_true", help="let --out be a non-empty directory (a previous "
                     "run there is replaced; other files are left alone)")
    run.add_argument("--force", action="store_true", help="with --resume: continue although the inputs changed "
                     "since the run started (recorded in the report)")
    run.add_argument("--quick", action="store_true", help="the recipe's small version that finishes in minutes")
    run.add_argument("--models", type=lambda s: s.split(","), default=None, metavar="A,B",
                     help="run only these of the config's models (labels or names, comma-separated)")
    _output_options(run)
    add_executor_options(run)
    run.set_defaults(func=_cmd_run)


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars and no metrics table: print only the "
                   "run directory (warnings still go to stderr)")
    p.add_argument("--json", action="store_true", help="print the metrics summary as one JSON document on "
                   "stdout instead of the table (run_dir, report, kind, task, summary, warnings)")


def _executor(args: argparse.Namespace, config) -> ExecutorConfig | None:
    """The config's executor with the command line's --executor / --address / --workers, or None
    when none is given."""
    given = {k: v for k, v in (("kind", args.executor), ("address", args.address), ("workers", args.workers))
             if v is not None}
    if not given:
        return None
    from finfusion.experiments.config import validate
    from finfusion.experiments.rundir import load_run_config

    base = (config if config is not None else load_run_config(args.resume)).executor
    return validate(ExecutorConfig, {**dict(base), **given}, source="the command line's executor options")


def _data_parser(sub: argparse._SubParsersAction) -> None:
    """`data check`."""
    data = sub.add_parser("data", help="data utilities")
    dsub = data.add_subparsers(metavar="ACTION")
    check = dsub.add_parser("check", help="validate and align prices and texts; print a summary",
                            description="Validate prices (and texts), align the texts to the price sessions as a "
                            "run does, and summarise: tickers, dates, texts per session, what was dropped. Give "
                            "the files (PRICES [TEXTS] with the options below) or a run config (--config).")
    check.add_argument("prices", type=Path, nargs="?", help="prices file (CSV, Parquet or JSONL)")
    check.add_argument("texts", type=Path, nargs="?", help="texts file (CSV, Parquet or JSONL)")
    check.add_argument("--config", default=None, metavar="CONFIG",
                       help="a run config (YAML path or recipe name): check its data with its market and text "
                       "settings (data.*, market.close_time / timezone / calendar, text.lookback_days)")
    check.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="with --config: override a config value, e.g. --set data.on_invalid=drop")
    files = check.add_argument_group("file options (not with --config, whose settings apply)")
    files.add_argument("--close-time", default=None, help="market close, HH:MM (default 16:00)")
    files.add_argument("--timezone", default=None, help="time zone of the close (default America/New_York)")
    files.add_argument("--default-tz", default=None, help="time zone for timestamps given without one")
    files.add_argument("--date-format", default=None, metavar="FMT",
                       help="strftime format of the prices' dates, e.g. %%d/%%m/%%Y (default: ISO 8601 only)")
    files.add_argument("--timestamp-format", default=None, metavar="FMT",
                       help="strftime format of the texts' timestamps (default: ISO 8601 only)")
    files.add_argument("--text-lookback-days", type=int, default=None, metavar="N",
                       help="sessions of texts per day (text.lookback_days of a run; default 1): older texts are "
                       "counted as dropped")
    files.add_argument("--drop-invalid", action="store_true", help="drop invalid rows (counted) instead of failing")
    check.add_argument("--json", action="store_true", help="print the summary as JSON (the keys of "
                       "finfusion.data.check.summarize_data)")
    check.set_defaults(func=_cmd_data_check, parser=check)


def _compare_parser(sub: argparse._SubParsersAction) -> None:
    """`compare RUN_DIR RUN_DIR ...`."""
    compare = sub.add_parser("compare", help="a side-by-side report of two or more finished runs (docs/compare.md)",
                             description="Compare finished run directories: their facts, their metrics side by side "
                             "with differences against the first run, equity curves overlaid and the config keys "
                             "that differ, in one self-contained compare.html with the tables as CSV.")
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="run directories (at least 2); the "
                         "first is the reference of the differences")
    compare.add_argument("--out", type=Path, default=None, help="output directory (default: ./compare)")
    compare.add_argument("--names", default=None, metavar="A,B,...", help="the runs' names in the report, comma "
                         "separated (default: their directory names)")
    compare.add_argument("--overwrite", action="store_true", help="let --out be a non-empty directory (an earlier "
                         "comparison's files are replaced; other files are left alone)")
    compare.set_defaults(func=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from finfusion.experiments.compare import compare_runs

    names = None if args.names is None else args.names.split(",")
    result = compare_runs(args.runs, out=args.out, names=names, overwrite=args.overwrite)
    for note in result.notes:
        print(note)
    print(f"config differences: {len(result.tables['config_diff'])} key(s)")
    print(f"tables: {', '.join(sorted(p.name for p in result.out.glob('*.csv')))} in {result.out}")
    print(f"report: {result.report}")
    return 0


def _track_parser(sub: argparse._SubParsersAction) -> None:
    """`track RUN_DIR`."""
    track = sub.add_parser("track", help="log a finished run directory to MLflow (extra [mlflow]; docs/tracking.md)",
                           description="Log a finished run to MLflow: its config as params, a nested run per unit "
                           "with the unit's metrics, its files as artifacts. Settings: the run's `tracking:` "
                           "section, changed by the options below.")
    track.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a finished run directory")
    track.add_argument("--uri", default=None, help="MLflow tracking URI, e.g. sqlite:///mlflow.db (a relative "
                       "path is taken from the working directory; default: the run's, else MLflow's default)")
    track.add_argument("--experiment", default=None, help="MLflow experiment (default: the run's, else its name)")
    track.add_argument("--run-name", default=None, help="name of the MLflow run (default: the directory's name)")
    track.add_argument("--replace", action="store_true", help="log again a run directory logged before (the "
                       "earlier MLflow runs are deleted)")
    track.set_defaults(func=_cmd_track)


def _cmd_track(args: argparse.Namespace) -> int:
    from finfusion.experiments.tracking import absolute_uri, log_run, saved_tracking

    tracking = saved_tracking(args.run_dir, uri=absolute_uri(args.uri, Path.cwd()), experiment=args.experiment,
                              run_name=args.run_name)
    print(log_run(args.run_dir, tracking, replace=args.replace).describe())
    return 0


def _cache_parser(sub: argparse._SubParsersAction) -> None:
    """`cache info | clear`."""
    cache = sub.add_parser("cache", help="show or clear the on-disk cache of frozen model outputs",
                           description="Frozen encoder vectors and sentiment probabilities are kept under "
                           "$FINFUSION_CACHE_DIR (default ~/.cache/finfusion; 'off' disables), one directory "
                           "per model and settings.")
    csub = cache.add_subparsers(metavar="ACTION")
    csub.add_parser("info", help="where the cache is, and its size per model").set_defaults(func=_cmd_cache, action="info")
    clear = csub.add_parser("clear", help="delete the cached values (they are recomputed when needed)")
    clear.add_argument("--kind", choices=("encoder", "sentiment"), default=None, help="only this kind")
    clear.set_defaults(func=_cmd_cache, action="clear")


def _cmd_demo(args: argparse.Namespace) -> int:
    from finfusion.experiments.config import load_config
    from finfusion.experiments.recipes import recipe_path

    config = load_config(recipe_path("demo"), args.overrides, base=Path.cwd())
    if not (args.quiet or args.json):
        print("finfusion demo: simulated market whose headlines carry half of the predictable variance; Fusion vs "
              "Num-only MLP vs Text-only, trained on 70 % of the days, tested on the last 150")
    return _execute(config, args.out, resume=False, overwrite=args.overwrite, quiet=args.quiet, as_json=args.json,
                    executor=_executor(args, config))


def _cmd_run(args: argparse.Namespace) -> int:
    shown = {"quiet": args.quiet, "as_json": args.json, "progress": False if args.quiet else None,
             "executor": _executor(args, None) if args.resume is not None else None}
    if args.resume is not None:
        if args.config or args.overrides or args.out or args.overwrite or args.quick or args.models:
            print("finfusion: error: --resume takes the config and directory saved in the run directory; "
                  "give no CONFIG, --set, --out, --overwrite, --quick or --models", file=sys.stderr)
            return EXIT_USAGE
        return _execute(None, args.resume, resume=True, force=args.force, **shown)
    if args.force:
        print("finfusion: error: --force only applies to --resume", file=sys.stderr)
        return EXIT_USAGE
    if not args.config:
        print("finfusion: error: run needs CONFIG (a YAML file or a recipe name) or --resume RUN_DIR", file=sys.stderr)
        return EXIT_USAGE
    from finfusion.experiments.config import load_named_config

    config = load_named_config(args.config, args.overrides, quick=args.quick, models=args.models)
    shown["executor"] = _executor(args, config)
    return _execute(config, args.out, resume=False, overwrite=args.overwrite, **shown)


def _execute(config, run_dir: Path | None, *, resume: bool, progress: bool | None = None, overwrite: bool = False,
             force: bool = False, quiet: bool = False, as_json: bool = False,
             executor: ExecutorConfig | None = None) -> int:
    """Run (or resume) and print the outcome: the metrics table and where the files are; with
    `quiet` only the run directory; with `as_json` one JSON document on stdout (`_run_document`)."""
    from finfusion.experiments.kinds import kind_of, run
    from finfusion.experiments.rundir import load_run_config

    started = time.perf_counter()
    kind = kind_of(load_run_config(run_dir) if resume else config)
    result = run(config, run_dir=run_dir, resume=resume, progress=False if quiet else progress, overwrite=overwrite,
                 force=force, executor=executor)
    headline = kind.headline(result)
    _print_outcome(result.run_dir, kind.name, headline, started, quiet=quiet, as_json=as_json)
    return 0


def _print_outcome(run_dir: Path, kind: str, headline, started: float, *, quiet: bool, as_json: bool) -> None:
    """The table (or JSON) on stdout; the run directory, the report when the run wrote one and the
    wall time (stderr under --json); recorded warnings always on stderr."""
    from finfusion.evaluate.tables import to_markdown
    from finfusion.experiments.rundir import recorded_warnings

    warnings = recorded_warnings(run_dir)
    report = run_dir / "report.html" if (run_dir / "report.html").is_file() else None
    if as_json:
        print(json.dumps(_run_document(run_dir, report, kind, headline, warnings), indent=2))
    elif quiet:
        print(f"run directory: {run_dir}")
    else:
        print(to_markdown(headline.table.round(6)))
        for note in headline.notes:
            print(note)
    where = sys.stderr if as_json else sys.stdout
    if not quiet:
        print(f"run directory: {run_dir}", file=where)
        if report is not None:
            print(f"report: {report}", file=where)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not quiet:
        print(f"finished in {time.perf_counter() - started:.1f} s", file=where)


def _run_document(run_dir: Path, report: Path | None, kind: str, headline, warnings: list[str]) -> dict:
    """`run --json`: run_dir, report (path or null), kind ("predict" | "rl" | "sentiment"), task
    ("regression" | "classification"; null for rl), summary (the printed table as records: one per
    model (and sweep point), mean over seeds of the headline metrics; rl: one per group and
    strategy, "mean (std)" strings; sentiment: one per trial), floors (classification runs: the
    floor table, tables/floors.csv, as records; null otherwise), warnings."""
    import pandas as pd  # lazily, as every heavy import of the CLI (start-up < 1 s)

    floors = run_dir / "tables" / "floors.csv"
    return {
        "run_dir": str(run_dir),
        "report": None if report is None else str(report),
        "kind": kind,
        "task": headline.task,
        "summary": json.loads(headline.table.to_json(orient="records", double_precision=15)),
        "floors": json.loads(pd.read_csv(floors).to_json(orient="records", double_precision=15))
        if floors.is_file() else None,
        "warnings": warnings,
    }


def _cmd_simulate(args: argparse.Namespace) -> int:
    from finfusion.data.simulate import SimulatorConfig, simulate_market, write_market
    from finfusion.experiments.config import apply_overrides, validate
    from finfusion.io import output_dir

    config = validate(SimulatorConfig, apply_overrides({}, args.overrides), source="the simulator parameters (--set)")
    output_dir(args.out, overwrite=args.overwrite, what="simulate output directory")  # before the work
    market = simulate_market(config)
    write_market(market, args.out, fmt=args.format, overwrite=True)
    summary = market.summary()
    print(f"wrote {len(market.prices)} price rows and {len(market.texts)} texts to {args.out}")
    for key in ("noise_floor", "variance_shares"):
        if key in summary:
            print(f"{key}: {summary[key]}")
    return 0


FILE_OPTIONS = {"close_time": "16:00", "timezone": "America/New_York", "default_tz": None, "date_format": None,
                "timestamp_format": None, "text_lookback_days": 1, "drop_invalid": False}  # data check defaults


def _cmd_data_check(args: argparse.Namespace) -> int:
    from finfusion.data.check import check_data, format_check

    given = [k for k, default in FILE_OPTIONS.items() if getattr(args, k) not in (None, False)]
    if (args.prices is None) == (args.config is None):
        return _usage_error(args.parser, "give PRICES [TEXTS] or --config CONFIG"
                            + (", not both" if args.prices is not None else ""))
    if args.config is not None and given:
        return _usage_error(args.parser, f"--{given[0].replace('_', '-')} comes from the config with --config "
                            "(change it there or with --set)")
    if args.config is None and args.overrides:
        return _usage_error(args.parser, "--set applies to --config; give the file options instead")
    if args.config is not None:
        summary = _check_config(args.config, args.overrides)
    else:
        opts = {k: getattr(args, k) if getattr(args, k) is not None else d for k, d in FILE_OPTIONS.items()}
        summary = check_data(args.prices, args.texts, close_time=opts["close_time"], timezone=opts["timezone"],
                             default_tz=opts["default_tz"], date_format=opts["date_format"],
                             timestamp_format=opts["timestamp_format"],
                             text_lookback_days=opts["text_lookback_days"],
                             on_invalid="drop" if opts["drop_invalid"] else "raise")
    print(json.dumps(summary, indent=2) if args.json else format_check(summary))
    return 0


def _check_config(name: str, overrides: list[str]) -> dict:
    """`data check --config`: the config's data loaded as a run loads it, summarised with its
    market (close, time zone, calendar) and text (look-back) settings."""
    from finfusion.data.check import summarize_data
    from finfusion.experiments.config import load_named_config
    from finfusion.experiments.sources import load_market_data

    config = load_named_config(name, overrides)
    data = load_market_data(config.data, timezone=config.market.timezone)
    cfg = config.data
    if cfg.source == "files":
        prices_source, texts_source = str(cfg.prices), None if cfg.texts is None else str(cfg.texts)
    elif cfg.source == "simulate":
        prices_source = texts_source = "simulated (data.simulate)"
    else:
        prices_source = texts_source = f"StockNet at {cfg.stocknet_root}"
    market = config.market
    return summarize_data(data.prices, data.texts, data.report, prices_source=prices_source,
                          texts_source=texts_source, close_time=market.close_time, timezone=market.timezone,
                          calendar=market.calendar, text_lookback_days=getattr(config.text, "lookback_days", 1))


def _cmd_models(args: argparse.Namespace) -> int:
    """The registered predictors; --json: [{name, class, tasks, uses_text, params: {name: default}}].
    Read from the packaged catalogue (models.catalogue), so no model module is imported."""
    from finfusion.models.catalogue import read_catalogue

    models = read_catalogue()
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    for m in models:
        print(f"{m['name']}  ({m['class']}; tasks: {', '.join(m['tasks'])}; text: {'yes' if m['uses_text'] else 'no'})")
        print(f"    {', '.join(f'{k}={v!r}' for k, v in m['params'].items())}")
    return 0


def _cmd_config_reference(args: argparse.Namespace) -> int:
    from finfusion.experiments.config_reference import render_config_reference, write_config_reference

    if args.out is None:
        print(render_config_reference(), end="")
    else:
        write_config_reference(args.out)
        print(f"wrote {args.out}")
    return 0


def _cmd_recipes(args: argparse.Namespace) -> int:
    """The packaged recipes with the first sentence of their description, wrapped; --json:
    [{name, summary (first sentence), description (first comment paragraph), path}]."""
    from finfusion.experiments.recipes import available_recipes, first_sentence, recipe_description, recipe_path

    recipes = []
    for name in available_recipes():
        path = recipe_path(name)
        description = recipe_description(path.read_text(encoding="utf-8"))
        recipes.append({"name": name, "summary": first_sentence(description), "description": description,
                        "path": str(path)})
    if args.json:
        print(json.dumps(recipes, indent=2))
        return 0
    width = min(100, shutil.get_terminal_size((100, 24)).columns)
    for r in recipes:
        print(r["name"])
        if r["summary"]:
            print(textwrap.fill(r["summary"], width=width, initial_indent="    ", subsequent_indent="    ",
                                break_on_hyphens=False))
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from finfusion.text.disk_cache import CACHE_ENV, cache_entries, cache_root, clear_caches

    root = cache_root()
    if root is None:
        print(f"on-disk cache: off ({CACHE_ENV}=off)")
    elif args.action == "clear":
        n, freed = clear_caches(root, args.kind)
        print(f"removed {n} model cache(s) under {root}, {freed / 2**20:.1f} MiB")
    else:
        entries = cache_entries(root)
        print(f"on-disk cache: {root} ({len(entries)} model caches, {sum(e['bytes'] for e in entries) / 2**20:.1f} MiB)")
        for e in entries:
            print(f"  {e['kind']}/{e['name']}: {e['parts']} part(s), {e['bytes'] / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
