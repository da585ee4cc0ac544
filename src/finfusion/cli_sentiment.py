"""`finfusion sentiment ...`: fine-tune, search, evaluate and apply a sentiment classifier (seed 004).

Thin argparse front end over `finfusion.text.sentiment`; heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from finfusion.cli_options import add_executor_options, add_inference_options
from finfusion.errors import ConfigError, DataError
from finfusion.text.scorers import LEXICONS, is_lexicon

DATA_HELP = (
    "labeled texts: a Financial PhraseBank file (.txt, lines 'sentence@label', any agreement level) or a "
    "table (.csv, .csv.gz, .parquet, .jsonl) with a text and a label column"
)
MODEL_HELP = (
    "a fine-tuned model directory (or its run directory), a Hugging Face name in the local cache, or a "
    f"lexicon: {' or '.join(LEXICONS)} (VADER, Loughran-McDonald; no training needed)"
)
LABELS_HELP = (
    "labels are matched by name (negative / neutral / positive, any case; aliases neg, pos, neu, bearish, "
    "bullish); integer codes need --label-map, e.g. 0=negative,1=positive"
)


def add_sentiment_parser(sub: argparse._SubParsersAction) -> None:
    """Register `sentiment` and its actions on the top-level subparsers."""
    sent = sub.add_parser(
        "sentiment",
        help="fine-tune, search, evaluate and apply a sentiment classifier",
        description="Sentiment classification of financial text (seed 004): fine-tune any "
        "Hugging Face encoder, search hyper-parameters, evaluate with error analysis, and score "
        "texts (p_pos - p_neg).",
    )
    sent.set_defaults(func=lambda args: _help(sent))
    actions = sent.add_subparsers(metavar="ACTION")
    _train_parser(actions)
    _search_parser(actions)
    _evaluate_parser(actions)
    _predict_parser(actions)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# -- parsers ------------------------------------------------------------------------------------


def _data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data", LABELS_HELP)
    g.add_argument("--text-col", default=None, help="text column of a table (default: text, sentence or tweet)")
    g.add_argument("--label-col", default=None, help="label column of a table (default: label, labels or sentiment)")
    g.add_argument(
        "--label-map",
        default=None,
        metavar="RAW=LABEL,...",
        help="what raw label values mean, e.g. 0=negative,1=neutral,2=positive",
    )


def _training_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training (the train: keys of a `kind: sentiment` run config)")
    g.add_argument("--model", default=None, help="base encoder: local directory or Hugging Face name in the local "
                   "cache (default: the bundled all-MiniLM-L6-v2)")
    g.add_argument("--classes", type=int, choices=(2, 3), default=None,
                   help="3 classes, or 2 (neutral rows are dropped and counted); default: 3 if the data has neutral")
    g.add_argument("--max-length", type=int, default=128, help="truncation length in tokens (default 128)")
    g.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)")
    g.add_argument("--warmup-ratio", type=float, default=0.1,
                   help="linear warm-up over this share of the steps, then linear decay (default 0.1)")
    g.add_argument("--patience", type=int, default=2,
                   help="early stopping: epochs without a better validation metric (default 2; 0 = off)")
    g.add_argument("--select-metric", choices=("accuracy", "f1", "loss"), default="accuracy",
                   help="validation metric that picks the best epoch (default accuracy)")
    g.add_argument("--valid-fraction", type=float, default=0.1, help="stratified validation share (default 0.1)")
    g.add_argument("--test-fraction", type=float, default=0.0,
                   help="stratified test share, evaluated at the end (default 0: none)")
    g.add_argument("--save-total-limit", type=int, default=2,
                   help="checkpoints kept, one per epoch (default 2; the best one is always kept)")
    g.add_argument("--no-optimizer-state", action="store_true",
                   help="checkpoints without optimizer state (smaller; such a training cannot be resumed)")
    g.add_argument("--no-group-by-length", action="store_true",
                   help="plain random batches instead of batches of similar length")
    g.add_argument("--keep-duplicates", action="store_true",
                   help="keep repeated texts (default: drop duplicates and texts with conflicting labels, counted)")
    g.add_argument("--limit", type=int, default=None, help="train on a stratified sample of N texts (quick runs)")
    g.add_argument("--seed", type=int, default=0, help="seed of the split, head initialisation and shuffling")
    g.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out with the same "
                   "options: finished trials are kept, a cut-off training continues from its last epoch checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")


def _train_parser(actions) -> None:
    p = actions.add_parser(
        "train",
        help="fine-tune an encoder for 2- or 3-class sentiment",
        description="Fine-tune an encoder for sentiment with Hugging Face's Trainer: stratified train/validation "
        "split, linear warm-up and decay, early stopping on the validation metric, one checkpoint per epoch "
        "(retention limit), best checkpoint restored. Writes a run directory (a `kind: sentiment` run, "
        "docs/sentiment.md) with model/ (loads offline), metrics, history and report.html.",
        epilog="example: finfusion sentiment train Sentences_AllAgree.txt --out runs/pb --epochs 4 --lr 5e-5",
    )
    p.add_argument("data", type=Path, help=DATA_HELP)
    p.add_argument("--out", type=Path, required=True, help="run directory (must be new or empty unless --resume)")
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate (default 5e-5)")
    p.add_argument("--batch-size", type=int, default=16, help="training batch size (default 16)")
    p.add_argument("--epochs", type=int, default=4, help="maximum epochs (default 4)")
    _data_options(p)
    _training_options(p)
    p.set_defaults(func=_cmd_train)


def _search_parser(actions) -> None:
    p = actions.add_parser(
        "search",
        help="hyper-parameter search over learning rate, batch size and epochs",
        description="Train one model per configuration on the same split and rank them by validation accuracy, "
        "then F1. Grid: every combination of the lists. --optuna N: N trials of Optuna's TPE sampler (lr "
        "log-uniform between the smallest and largest value, batch size from the list, epochs between the "
        "smallest and largest). Writes a run directory (a `kind: sentiment` run, docs/sentiment.md) with "
        "results.csv, best.json, best_model/ and report.html.",
        epilog="example: finfusion sentiment search Sentences_AllAgree.txt --out runs/pb-search "
        "--lr 5e-5,2e-5,1e-5 --batch-size 8,16 --epochs 3,5",
    )
    p.add_argument("data", type=Path, help=DATA_HELP)
    p.add_argument("--out", type=Path, required=True, help="run directory (must be new or empty unless --resume)")
    p.add_argument("--lr", default="5e-5,2e-5,1e-5", help="learning rates, comma-separated (default 5e-5,2e-5,1e-5)")
    p.add_argument("--batch-size", default="8,16", help="batch sizes, comma-separated (default 8,16)")
    p.add_argument("--epochs", default="3,5", help="maximum epochs, comma-separated (default 3,5)")
    p.add_argument("--optuna", type=int, default=None, metavar="N",
                   help="N Optuna trials instead of the grid (needs: pip install 'finfusion[optuna]')")
    p.add_argument("--keep-trials", action="store_true",
                   help="keep every trial's model (and grid trials' reports) in units/ (default: only the best model)")
    add_executor_options(p, what="the grid's trials (an Optuna search is one unit)", address=False,
                         workers_help="; each trains with cores / workers torch threads")
    _data_options(p)
    _training_options(p)
    p.set_defaults(func=_cmd_search)


def _evaluate_parser(actions) -> None:
    p = actions.add_parser(
        "evaluate",
        help="metrics, confusion matrix and error analysis of a model on labeled texts",
        description="Accuracy, precision / recall / F1 (binary on positive for 2 classes, macro for 3), the "
        "confusion matrix and misclassified texts bucketed by pattern (negation, tickers/hashtags, short, URLs, "
        "numbers only, mixed polarity). Prints them; with --out also writes metrics.json, confusion_matrix.png, "
        "the error tables and report.html. Rows with a label the model lacks (neutral for 2 classes) are left "
        "out and counted.",
        epilog="example: finfusion sentiment evaluate runs/pb/model heldout.csv --out runs/pb-eval",
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("data", type=Path, help=DATA_HELP)
    p.add_argument("--out", type=Path, default=None, help="directory for the files and report.html")
    p.add_argument("--batch-size", type=int, default=64, help="inference batch size (default 64)")
    p.add_argument("--examples", type=int, default=5, help="misclassified examples per bucket (default 5)")
    p.add_argument("--device", default=None, help="cpu or cuda for a classifier (default: cuda when available)")
    add_inference_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _data_options(p)
    p.set_defaults(func=_cmd_evaluate)


def _predict_parser(actions) -> None:
    p = actions.add_parser(
        "predict",
        help="label and score texts from a file or stdin",
        description="One output row per input text: text, label, label_id, confidence, score = alpha * p_pos - "
        "beta * p_neg (a lexicon: its own score, VADER's compound or LM's polarity) and the class probabilities "
        "(a lexicon: its shares of negative / neutral / positive). Input: a .txt file (one text per line; a blank line is an "
        "empty text, which gets no label and uniform probabilities), a table (.csv, .csv.gz, .parquet, .jsonl) "
        "with a text column, or stdin (one text per line). Output: JSON lines (probs as an object) or CSV "
        "(p_<label> columns).",
        epilog="examples: finfusion sentiment predict runs/pb/model tweets.csv --keep date,ticker --out scored.csv; "
        "finfusion sentiment predict vader headlines.txt",
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("input", nargs="?", default="-", help="input file, or - for stdin (default)")
    p.add_argument("--out", type=Path, default=None, help="output file (.jsonl or .csv; default: stdout)")
    p.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default=None,
        help="output format (default: from the --out suffix, else jsonl)",
    )
    p.add_argument("--text-col", default=None, help="text column of a table input (default: text, sentence or tweet)")
    p.add_argument("--keep", default="", help="input table columns to copy to the output, comma-separated")
    p.add_argument("--alpha", type=float, default=None, help="weight of p_pos in a classifier's score (default 1)")
    p.add_argument("--beta", type=float, default=None, help="weight of p_neg in a classifier's score (default 1)")
    p.add_argument("--batch-size", type=int, default=64, help="inference batch size (default 64)")
    p.add_argument("--device", default=None, help="cpu or cuda for a classifier (default: cuda when available)")
    add_inference_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)


# -- commands -----------------------------------------------------------------------------------


def _read(args: argparse.Namespace):
    from finfusion.text.sentiment.data import read_labeled

    return read_labeled(args.data, text_col=args.text_col, label_col=args.label_col, label_map=args.label_map)


def _run_config(args: argparse.Namespace, *, searched: dict, search: dict | None):
    """The `kind: sentiment` run config of the command line (paths relative to the working directory);
    a bad value raises ConfigError naming its config key."""
    from finfusion.experiments.config import parse_config, resolve_paths

    if args.patience < 0:
        raise ConfigError(f"--patience must be >= 0 (0 = no early stopping), got {args.patience}")
    train = {
        "model": args.model, "classes": args.classes, "max_length": args.max_length,
        "weight_decay": args.weight_decay, "warmup_ratio": args.warmup_ratio,
        "early_stopping_patience": args.patience or None, "select_metric": args.select_metric,
        "valid_fraction": args.valid_fraction, "test_fraction": args.test_fraction,
        "save_total_limit": args.save_total_limit, "save_optimizer": not args.no_optimizer_state,
        "group_by_length": not args.no_group_by_length, "dedupe": not args.keep_duplicates, "limit": args.limit,
        "seed": args.seed, "device": args.device, **searched,
    }
    executor = {k: v for k, v in (("kind", getattr(args, "executor", None)), ("workers", getattr(args, "workers", None)))
                if v is not None}
    executor["torch_threads"] = "cores"  # each trial fine-tunes a transformer: the cores shared by concurrent trials
    raw = {
        "kind": "sentiment", "name": _run_name(args.out), "progress": not args.quiet,
        "data": {"path": str(args.data), "text_col": args.text_col, "label_col": args.label_col,
                 "label_map": args.label_map},
        "train": train, "search": search, "executor": executor,
    }
    return resolve_paths(parse_config(raw, source="the command line"), Path.cwd())


def _run_name(out: Path) -> str:
    """The run's name (the classifier's name in its manifest): the --out folder's name as a plain name."""
    return re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", out.resolve().name).lstrip("._=,+-")[:100] or "sentiment"


def _run(args: argparse.Namespace, config):
    """Run `config` in --out, or with --resume continue the run there (its settings must be the
    command line's: a resumed run keeps the settings it started with)."""
    from finfusion.experiments.kinds import run

    if not args.resume:
        return run(config, run_dir=args.out, progress=not args.quiet)
    from finfusion.experiments.config import config_to_dict
    from finfusion.experiments.overrides import dotted_items
    from finfusion.experiments.rundir import load_run_config

    saved, now = (dict(dotted_items(config_to_dict(c))) for c in (load_run_config(args.out), config))
    ignored = ("progress", "executor.")  # where and how visibly trials run changes no result
    diff = [k for k in sorted(set(saved) | set(now)) if not k.startswith(ignored) and saved.get(k) != now.get(k)]
    if diff:
        raise ConfigError(
            f"{args.out}: --resume needs the options the run started with; these differ from its config.yaml: "
            + ", ".join(f"{k} ({saved.get(k)!r} there, {now.get(k)!r} now)" for k in diff)
        )
    given = getattr(args, "executor", None) is not None or getattr(args, "workers", None) is not None
    return run(None, run_dir=args.out, resume=True, progress=not args.quiet,
               executor=config.executor if given else None)


def _cmd_train(args: argparse.Namespace) -> int:
    config = _run_config(args, searched={"lr": args.lr, "batch_size": args.batch_size, "epochs": args.epochs},
                         search=None)
    result = _run(args, config)
    _print_metrics("validation", result.metrics["valid"])
    if "test" in result.metrics:
        _print_metrics("test", result.metrics["test"])
    b = result.best
    print(f"best epoch {b['best_epoch']} of {b['epochs_run']}{' (stopped early)' if b['stopped_early'] else ''}")
    print(f"model: {result.model_dir}")
    if (result.run_dir / "report.html").is_file():
        print(f"report: {result.run_dir / 'report.html'}")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from finfusion.evaluate.tables import to_markdown
    from finfusion.text.sentiment.search import parse_values

    if args.optuna is not None and args.optuna < 1:
        raise ConfigError(f"--optuna must be >= 1 trials, got {args.optuna}")
    search = {
        "method": "optuna" if args.optuna else "grid",
        "lrs": list(parse_values(args.lr, float, "--lr")),
        "batch_sizes": list(parse_values(args.batch_size, int, "--batch-size")),
        "epochs": list(parse_values(args.epochs, int, "--epochs")),
        "keep_trials": args.keep_trials,
        **({"n_trials": args.optuna} if args.optuna else {}),
    }
    result = _run(args, _run_config(args, searched={}, search=search))
    print(to_markdown(result.table))
    b = result.best
    print(
        f"best: trial {b['trial']} (lr={b['lr']:g}, batch_size={b['batch_size']}, epochs={b['epochs']}): "
        f"accuracy {b['accuracy']:.4f}, f1 {b['f1']:.4f}"
    )
    print(f"results: {result.run_dir / 'results.csv'}")
    print(f"best model: {result.model_dir}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from finfusion.evaluate.tables import to_markdown
    from finfusion.text.sentiment.evaluation import evaluate_classifier
    from finfusion.text.sentiment.reporting import write_eval_report

    model = _load_model(args)
    clf = _LexiconClassifier(model) if is_lexicon(args.model) else model
    ev = evaluate_classifier(
        clf,
        _read(args),
        name=Path(args.data).name,
        batch_size=args.batch_size,
        n_examples=args.examples,
        show_progress=not args.quiet,
    )
    _print_metrics(ev.name, ev.metrics)
    for reason, count in ev.removed.items():
        print(f"left out: {count} rows ({reason})")
    print("confusion matrix (rows: true, columns: predicted):")
    print(to_markdown(ev.confusion.rename_axis(None).reset_index(names="true")))
    print("error buckets:")
    print(to_markdown(ev.errors.table))
    if args.out is not None:
        report = write_eval_report(ev, args.out, model_name=clf.name, model_info=clf.info, data_source=str(args.data))
        print(f"report: {report}")
    return 0


def _load_model(args: argparse.Namespace):
    """The scorer args.model names: a lexicon (`finfusion.text.scorers.load_scorer`) or a fine-tuned
    classifier loaded on args.device with args.engine and args.precision. --device, --engine or
    --precision with a lexicon is a ConfigError."""
    from finfusion.text.scorers import load_scorer

    if is_lexicon(args.model):
        given = {f"--{k}": v for k, v, default in (("device", args.device, None), ("engine", args.engine, "torch"),
                                                   ("precision", args.precision, "fp32")) if v != default}
        if given:
            raise ConfigError(f"{' / '.join(given)} {'applies' if len(given) == 1 else 'apply'} to a fine-tuned "
                              f"classifier; the lexicon {args.model!r} runs on the CPU (got "
                              f"{', '.join(f'{k} {v}' for k, v in given.items())})")
        return load_scorer(args.model)
    from finfusion.text.sentiment.classifier import SentimentClassifier

    return SentimentClassifier.load(args.model, device=args.device, engine=args.engine, precision=args.precision)


class _LexiconClassifier:
    """A lexicon scorer in the shape `evaluate_classifier` reads (name, labels, info, predict_proba,
    score_from_proba). A lexicon's label is a rule on its score, not the argmax of its (uncalibrated)
    shares, so its label is given as one-hot probabilities: the evaluation's predicted labels and
    metrics are the lexicon's own; its confidence column is 1 and its score column the label's sign."""

    def __init__(self, scorer) -> None:
        self.scorer, self.name, self.labels = scorer, scorer.name, tuple(scorer.labels)
        self.info = {"lexicon": scorer.name}

    def predict_proba(self, texts, batch_size: int = 64, *, show_progress: bool = False):
        """(n, C) one-hot float64 rows of the lexicon's labels (`labels` order)."""
        ids = [r["label_id"] for r in self.scorer.predict_batch(list(texts), batch_size)]
        return np.eye(len(self.labels))[np.asarray(ids, dtype=np.int64)]

    def score_from_proba(self, probs):
        return probs[:, self.labels.index("positive")] - probs[:, self.labels.index("negative")]


def _cmd_predict(args: argparse.Namespace) -> int:
    fmt = args.format or ("csv" if args.out is not None and args.out.name.lower().endswith(".csv") else "jsonl")
    lexicon = is_lexicon(args.model)
    if lexicon and (args.alpha is not None or args.beta is not None):
        raise ConfigError(f"--alpha / --beta weight a fine-tuned classifier's probabilities; the lexicon "
                          f"{args.model!r} gives its own score (VADER's compound, Loughran-McDonald's polarity)")
    texts, kept = _read_inputs(args.input, args.text_col, [c.strip() for c in args.keep.split(",") if c.strip()])
    model = _load_model(args)
    if lexicon:
        results, scores = model.predict_batch(texts, args.batch_size), model.score(texts, args.batch_size)
    else:
        scores, results = _classifier_scores(model, texts, args)
    rows = [
        {"text": text, **{c: kept[c][i] for c in kept}, "label": r["label"], "label_id": r["label_id"],
         "confidence": r["confidence"], "score": float(s), "probs": r["probs"]}
        for i, (text, r, s) in enumerate(zip(texts, results, scores))
    ]
    _write_predictions(rows, tuple(model.labels), fmt, args.out)
    if args.out is not None and not args.quiet:
        print(f"wrote {len(rows)} predictions to {args.out}", file=sys.stderr)
    return 0


def _classifier_scores(clf, texts: list[str], args: argparse.Namespace):
    """(scores alpha * p_pos - beta * p_neg (n,), predict_batch records) of a fine-tuned classifier."""
    results = clf.predict_batch(texts, args.batch_size, show_progress=not args.quiet)
    probs = [[r["probs"][name] for name in clf.labels] for r in results]
    scores = clf.score_from_proba(
        np.asarray(probs, dtype=float).reshape(len(results), len(clf.labels)),
        alpha=1.0 if args.alpha is None else args.alpha,
        beta=1.0 if args.beta is None else args.beta,
    )
    return scores, results


def _read_inputs(source: str, text_col: str | None, keep: list[str]) -> tuple[list[str], dict[str, list]]:
    from finfusion.text.sentiment.data import TABLE_SUFFIXES, read_texts_table

    if source == "-":
        return sys.stdin.read().splitlines(), {}
    path = Path(source)
    if path.name.lower().endswith(TABLE_SUFFIXES):
        table, col = read_texts_table(path, text_col=text_col)
        reserved = {"text", "label", "label_id", "confidence", "score", "probs"}
        bad = [c for c in keep if c not in table.columns or c in reserved]
        if bad:
            raise DataError(
                f"{path}: --keep columns {bad} are missing from the file or clash with the output "
                f"columns {sorted(reserved)}; the file has {list(table.columns)}"
            )
        return table[col].tolist(), {c: table[c].tolist() for c in keep}
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such input file")
    if keep or text_col:
        raise DataError(
            f"{path}: --keep and --text-col apply to table inputs (.csv, .jsonl, .parquet), "
            "not to a text file with one text per line"
        )
    try:
        return path.read_text(encoding="utf-8").splitlines(), {}
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc}); expected one text per line") from exc


def _write_predictions(rows: list[dict], labels: tuple[str, ...], fmt: str, out: Path | None) -> None:
    import pandas as pd

    from finfusion.data.predictions import proba_column
    from finfusion.io import atomic_write

    if fmt == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if out is None:
            sys.stdout.write(text)
        else:
            atomic_write(out, lambda p: p.write_text(text, encoding="utf-8"))
        return
    flat = pd.DataFrame(
        [{k: v for k, v in r.items() if k != "probs"} | {proba_column(n): r["probs"][n] for n in labels} for r in rows]
    )
    if flat.empty:
        flat = pd.DataFrame(columns=["text", "label", "label_id", "confidence", "score", *(proba_column(n) for n in labels)])
    flat["label_id"] = flat["label_id"].astype("Int64")
    if out is None:
        flat.to_csv(sys.stdout, index=False)
    else:
        atomic_write(out, lambda p: flat.to_csv(p, index=False))


def _print_metrics(name: str, metrics: dict) -> None:
    which = "positive class" if metrics.get("average") == "binary" else "macro"
    print(
        f"{name}: n {metrics['n']}, accuracy {metrics['accuracy']:.4f}, precision {metrics['precision']:.4f}, "
        f"recall {metrics['recall']:.4f}, f1 {metrics['f1']:.4f} ({which}), macro f1 {metrics['macro_f1']:.4f}"
    )
