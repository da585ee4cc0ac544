"""The `finfusion` command: thin parsing around the library."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from finfusion import __version__
from finfusion.errors import FinfusionError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (FinfusionError, FileNotFoundError) as err:
        print(f"finfusion: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nfinfusion: interrupted; a run can be continued with `finfusion run --resume RUN_DIR`", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="finfusion", description="Fuse financial text with market data to predict "
                                "returns, direction and prices, and evaluate the predictions honestly.")
    p.add_argument("--version", action="version", version=f"finfusion {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the built-in demo on a simulated market and print its metrics")
    demo.add_argument("--out", type=Path, default=None, help="run directory (default: runs/demo-<time>)")
    demo.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a demo config value, e.g. --set protocol.refit_every=10")
    demo.add_argument("--overwrite", action="store_true", help="let --out be a non-empty directory (a previous "
                      "run there is replaced; other files are left alone)")
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
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=_cmd_run)

    sim = sub.add_parser("simulate", help="write a simulated market (prices + texts) in the input format")
    sim.add_argument("--out", type=Path, required=True, help="output directory")
    sim.add_argument("--format", choices=("csv", "parquet"), default="csv")
    sim.add_argument("--overwrite", action="store_true", help="let --out be a non-empty directory (files of the "
                     "same names are replaced)")
    sim.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="simulator parameter, e.g. --set n_days=1000 --set d=8 --set preset=paper")
    sim.set_defaults(func=_cmd_simulate)

    data = sub.add_parser("data", help="data utilities")
    dsub = data.add_subparsers(metavar="ACTION")
    check = dsub.add_parser("check", help="validate and align prices and texts; print a summary")
    check.add_argument("prices", type=Path, help="prices file (CSV, Parquet or JSONL)")
    check.add_argument("texts", type=Path, nargs="?", help="texts file (CSV, Parquet or JSONL)")
    check.add_argument("--close-time", default="16:00", help="market close, HH:MM (default 16:00)")
    check.add_argument("--timezone", default="America/New_York", help="time zone of the close")
    check.add_argument("--default-tz", default=None, help="time zone for timestamps given without one")
    check.add_argument("--date-format", default=None, metavar="FMT",
                       help="strftime format of the prices' dates, e.g. %%d/%%m/%%Y (default: ISO 8601 only)")
    check.add_argument("--timestamp-format", default=None, metavar="FMT",
                       help="strftime format of the texts' timestamps (default: ISO 8601 only)")
    check.add_argument("--text-lookback-days", type=int, default=1, metavar="N",
                       help="sessions of texts per day (text.lookback_days of a run): older texts are counted as dropped")
    check.add_argument("--drop-invalid", action="store_true", help="drop invalid rows (counted) instead of failing")
    check.set_defaults(func=_cmd_data_check)

    models = sub.add_parser("models", help="list the registered predictors and their parameters")
    models.set_defaults(func=_cmd_models)
    recipes = sub.add_parser("recipes", help="list the packaged recipes")
    recipes.set_defaults(func=_cmd_recipes)

    cache = sub.add_parser("cache", help="show or clear the on-disk cache of frozen model outputs",
                           description="Frozen encoder vectors and sentiment probabilities are kept under "
                           "$FINFUSION_CACHE_DIR (default ~/.cache/finfusion; 'off' disables), one directory "
                           "per model and settings.")
    csub = cache.add_subparsers(metavar="ACTION")
    csub.add_parser("info", help="where the cache is, and its size per model").set_defaults(func=_cmd_cache, action="info")
    clear = csub.add_parser("clear", help="delete the cached values (they are recomputed when needed)")
    clear.add_argument("--kind", choices=("encoder", "sentiment"), default=None, help="only this kind")
    clear.set_defaults(func=_cmd_cache, action="clear")

    from finfusion.cli_sentiment import add_sentiment_parser

    add_sentiment_parser(sub)
    return p


def _cmd_demo(args: argparse.Namespace) -> int:
    from finfusion.experiments.config import load_config
    from finfusion.experiments.recipes import recipe_path

    config = load_config(recipe_path("demo"), args.overrides, base=Path.cwd())
    print("finfusion demo: simulated market with headlines; Fusion vs Num-only MLP vs Text-only, rolling window W=90")
    return _execute(config, args.out, resume=False, overwrite=args.overwrite)


def _cmd_run(args: argparse.Namespace) -> int:
    from finfusion.experiments.config import load_config
    from finfusion.experiments.recipes import available_recipes, recipe_path

    if args.resume is not None:
        if args.config or args.overrides or args.out or args.overwrite or args.quick:
            print("finfusion: error: --resume takes the config and directory saved in the run directory; "
                  "give no CONFIG, --set, --out, --overwrite or --quick", file=sys.stderr)
            return 2
        return _execute(None, args.resume, resume=True, progress=False if args.quiet else None, force=args.force)
    if args.force:
        print("finfusion: error: --force only applies to --resume", file=sys.stderr)
        return 2
    if not args.config:
        print("finfusion: error: run needs CONFIG (a YAML file or a recipe name) or --resume RUN_DIR", file=sys.stderr)
        return 2
    path = Path(args.config)
    if path.is_file():
        config = load_config(path, args.overrides, quick=args.quick)
    elif args.config in available_recipes():
        config = load_config(recipe_path(args.config), args.overrides, base=Path.cwd(), quick=args.quick)
    else:
        raise FileNotFoundError(f"{args.config} is neither a file nor a recipe ({', '.join(available_recipes())})")
    return _execute(config, args.out, resume=False, progress=False if args.quiet else None, overwrite=args.overwrite)


def _execute(config, run_dir: Path | None, *, resume: bool, progress: bool | None = None, overwrite: bool = False,
             force: bool = False) -> int:
    from finfusion.evaluate.tables import to_markdown
    from finfusion.experiments.outputs import summary_table
    from finfusion.experiments.rundir import load_run_config
    from finfusion.experiments.runner import run

    started = time.perf_counter()
    if getattr(config if not resume else load_run_config(run_dir), "kind", None) == "rl":
        from finfusion.experiments.rl_runner import run_rl

        result = run_rl(config, run_dir=run_dir, resume=resume, progress=progress, overwrite=overwrite, force=force)
        print(to_markdown(result.summary["tables"]["overall"]))
        _print_where(result.run_dir, started)
        return 0
    result = run(config, run_dir=run_dir, resume=resume, progress=progress, overwrite=overwrite, force=force)
    task = "classification" if "accuracy" in result.metrics.columns else "regression"
    print(to_markdown(summary_table(result.metrics, task).round(6)))
    if "mse_ratio" in result.metrics.columns:
        print("mse_ratio = MSE / noise floor (the irreducible MSE of each simulated market); 1 is the limit")
    if "corr_text" in result.metrics.columns:
        print("corr_text = correlation of the prediction with the simulated text (sentiment) term")
    _print_where(result.run_dir, started)
    return 0


def _print_where(run_dir: Path, started: float) -> None:
    """The run directory, the report when the run wrote one, any recorded warning, and the wall time."""
    from finfusion.experiments.rundir import recorded_warnings

    print(f"run directory: {run_dir}")
    if (run_dir / "report.html").is_file():
        print(f"report: {run_dir / 'report.html'}")
    for warning in recorded_warnings(run_dir):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"finished in {time.perf_counter() - started:.1f} s")


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


def _cmd_data_check(args: argparse.Namespace) -> int:
    from finfusion.data.check import check_data, format_check

    summary = check_data(args.prices, args.texts, close_time=args.close_time, timezone=args.timezone,
                         default_tz=args.default_tz, date_format=args.date_format,
                         timestamp_format=args.timestamp_format, text_lookback_days=args.text_lookback_days,
                         on_invalid="drop" if args.drop_invalid else "raise")
    print(format_check(summary))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    import inspect

    from finfusion.models.registry import available_predictors, get_predictor_class

    for name in available_predictors():
        cls = get_predictor_class(name)
        params = ", ".join(
            f"{p.name}={p.default!r}" for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"
        )
        print(f"{name}  ({cls.__name__}; tasks: {', '.join(cls.tasks)}; text: {'yes' if cls.uses_text else 'no'})")
        print(f"    {params}")
    return 0


def _cmd_recipes(args: argparse.Namespace) -> int:
    from finfusion.experiments.recipes import available_recipes, recipe_path

    for name in available_recipes():
        first = recipe_path(name).read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        print(f"{name}: {first}")
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
