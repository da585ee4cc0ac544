"""`finfusion fit` and `finfusion predict`: a forecasting pipeline from a config (or a finished
run), and its forecast from recent prices and texts (finfusion.pipeline; docs/pipeline.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from finfusion.errors import ConfigError

if TYPE_CHECKING:  # pandas loads when a command runs, not to build the parser
    import pandas as pd

OUTPUT_FORMATS = (".csv", ".parquet", ".json")


def add_pipeline_parsers(sub: argparse._SubParsersAction) -> None:
    """The `fit` and `predict` commands."""
    p = sub.add_parser("fit", help="fit one model of a config (or of a finished run) on all its labelled data "
                       "and save it as a forecasting pipeline")
    p.add_argument("config", help="YAML config, packaged recipe name, or a run directory (its config, and its "
                   "backtest metrics recorded in the pipeline)")
    p.add_argument("--model", required=True, metavar="LABEL", help="the model's label in the config")
    p.add_argument("--out", required=True, type=Path, help="the pipeline directory to write")
    p.add_argument("--window", type=int, default=None, metavar="N", help="fit on the last N dates, as the "
                   "rolling protocol's next fold would (default: every labelled date)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value by dotted path (repeatable)")
    p.add_argument("--quick", action="store_true", help="the recipe's small version")
    p.add_argument("--bundle-encoder", action="store_true", help="copy a text model's encoder files into the "
                   "pipeline (default: a reference by path and content hash, checked when it loads)")
    p.add_argument("--overwrite", action="store_true", help="replace the pipeline in --out")
    p.set_defaults(func=_cmd_fit)

    q = sub.add_parser("predict", help="forecast with a saved pipeline from recent prices (and texts)")
    q.add_argument("pipeline", type=Path, help="a directory written by `finfusion fit`")
    q.add_argument("--prices", required=True, type=Path, help="prices file (CSV, Parquet, JSON lines): enough "
                   "history for the features, up to --asof")
    q.add_argument("--texts", type=Path, default=None, help="texts file (timestamp, ticker, text)")
    q.add_argument("--asof", default=None, metavar="YYYY-MM-DD", help="forecast at the close of this day "
                   "(default: the last date in the prices)")
    q.add_argument("--out", type=Path, default=None, help=f"write the rows to this file ({', '.join(OUTPUT_FORMATS)}) "
                   "instead of printing them")
    q.add_argument("--json", action="store_true", help="print the rows and notes as one JSON document")
    q.add_argument("--allow-version-mismatch", action="store_true",
                   help="load a pipeline fit with other package versions (its predictions may differ)")
    q.set_defaults(func=_cmd_predict)


def _cmd_fit(args: argparse.Namespace) -> int:
    from finfusion.experiments.config import load_named_config  # torch and the models load when a command runs
    from finfusion.pipeline import fit

    source = Path(args.config)
    if source.is_dir() and args.quick:
        raise ConfigError("--quick applies to a recipe, not to a run directory (its config is as it ran)")
    # a run directory as it ran: its backtest metrics go into the pipeline; with --set it is another config
    config = source if source.is_dir() and not args.overrides else (
        load_named_config(source / "config.yaml" if source.is_dir() else args.config, args.overrides, quick=args.quick))
    pipeline = fit(config, args.model, args.out, window=args.window, bundle_encoder=args.bundle_encoder,
                   overwrite=args.overwrite)
    t = pipeline.manifest["training"]
    print(f"fitted {pipeline.name} on {t['rows']:,} rows, {t['first_date']} .. {t['last_date']}, "
          f"{len(t['tickers'])} ticker(s) -> {pipeline.directory}\n"
          f"forecast with: finfusion predict {pipeline.directory} --prices PRICES [--texts TEXTS]")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from finfusion.pipeline import forecast_records, load_pipeline  # torch and the models load when the command runs

    pipeline = load_pipeline(args.pipeline, allow_version_mismatch=args.allow_version_mismatch)
    rows = pipeline.predict(*_read_inputs(pipeline, args.prices, args.texts), asof=args.asof, progress=not args.json)
    notes = dict(rows.attrs)
    if args.json:
        print(json.dumps({"model": pipeline.name, "rows": forecast_records(rows),
                          "notes": notes}, indent=1))
    elif args.out is not None:
        _write_rows(rows, args.out)
        print(f"{len(rows)} forecast(s) of {pipeline.name} at the close of {notes['asof']} -> {args.out}")
    else:
        print(f"{pipeline.name}: forecasts at the close of {notes['asof']}")
        print(rows.to_string(index=False))
    if notes["texts_after_close"]:
        print(f"note: {notes['texts_after_close']} text(s) published after the close of {notes['asof']} were "
              "ignored (they belong to the next session)", file=sys.stderr)
    return 0


def _read_inputs(pipeline, prices: Path, texts: Path | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The files read as the pipeline's training data were (the config's data shape and formats)."""
    from finfusion.data.readers import read_prices, read_texts

    data = pipeline.config.data
    shape = data.input_shape()
    frame = read_prices(prices, date_format=data.date_format, shape=shape)
    if texts is None:
        return frame, None
    return frame, read_texts(texts, default_tz=data.default_tz, timestamp_format=data.timestamp_format, shape=shape,
                             tickers=sorted(frame["ticker"].unique()), timezone=pipeline.config.market.timezone)


def _write_rows(rows: pd.DataFrame, out: Path) -> None:
    if out.suffix not in OUTPUT_FORMATS:
        raise ConfigError(f"--out {out}: unknown format {out.suffix!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        rows.to_csv(out, index=False)
    elif out.suffix == ".parquet":
        rows.to_parquet(out, index=False)
    else:
        rows.to_json(out, orient="records", lines=True, date_format="iso")
