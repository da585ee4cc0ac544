"""From validated frames to model-ready `Samples`.

    prices ─ build_features ────────────┐
    texts ─ align ─ daily sentiment index ┤ (feature group "sentiment", optional)
    prices ─ make_targets ──────────────┼─ inner join on (date, ticker) ─ look-back stacking ─ Samples
    texts ─ align ─ newsflow ───────────┘

Every row removed on the way (texts of tickers without prices or from before the first
session's text look-back, feature warm-up, missing target, neutral band, look-back warm-up) is
counted in the `CleaningReport`; the feature warm-up record names its cause
(`finfusion.features.build.warmup_cause`). Features of day t use only data up to the
close of t; the target of day t is realised `horizon` trading days later. Group features the
prices cannot give (a missing column, e.g. range without high / low) are listed in
`Samples.skipped_features`; `constant_features` names the columns that never change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from finfusion.data.adapters.stocknet_benchmark import PRICE_FEATURES as BENCHMARK_PRICE_FEATURES
from finfusion.data.align import align_texts, build_newsflow
from finfusion.data.calendar import TradingCalendar
from finfusion.data.frames import CleaningReport
from finfusion.data.sample_spec import MarketConfig, SampleSpec, TextConfig
from finfusion.data.targets import make_targets
from finfusion.errors import DataError
from finfusion.features.build import (
    WARMUP,
    SkippedFeature,
    build_features,
    drop_warmup,
    extra_columns,
    resolve_feature,
    warmup_mask,
    warmup_reason,
)
from finfusion.features.sentiment import (
    SENTIMENT_GROUP,
    SentimentSpec,
    as_specs,
    sentiment_features,
    split_selection,
    wants_price_features,
)
from finfusion.models.base import LABELLED, Samples


@dataclass(frozen=True)
class MarketData:
    """Validated input frames of one run, and what the source knows about them.

    truth  optional frame (date, ticker, ...) of simulated ground truth, e.g. the sentiment term.
    meta   source facts for the report (e.g. the simulator's noise floor and variance shares).
    """

    prices: pd.DataFrame
    texts: pd.DataFrame | None = None
    truth: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)
    report: CleaningReport = field(default_factory=CleaningReport)


TRUTH_EXTRAS = ("sentiment", "text_part", "numeric_part")


def build_samples(data: MarketData, spec: SampleSpec, *, report: CleaningReport | None = None,
                  unlabelled: bool = False) -> Samples:
    """Samples in time order (sorted by date, then ticker), as `spec` says (`finfusion.data.sample_spec`:
    spec.features the selection and look-back, spec.target the target, spec.text the newsflow,
    spec.market the close and calendar the texts are aligned to). `unlabelled`: also the rows whose
    target is not known yet (the last `horizon` days: what a forecast is made for), marked False in
    extras[LABELLED], y NaN (regression) or -1 (classification); protocols never fit on them."""
    report = report if report is not None else CleaningReport()
    f, target, text = spec.features, spec.target, spec.text
    specs = as_specs(f.sentiment)
    features, groups, excluded, sentiment_names = split_selection(f.features, f.groups, f.exclude_groups, specs)
    skipped: list[SkippedFeature] = []  # group features the prices cannot give (e.g. range without high / low)
    if wants_price_features(features, groups):
        feats = build_features(
            data.prices, features, groups=groups, exclude_groups=excluded, price_column=target.price_column,
            skipped=skipped,
        )
    else:  # only text-derived features: one row per prices row, in build_features' (ticker, date) order
        feats = data.prices[["date", "ticker"]].sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    feature_groups = _price_groups(data.prices, [c for c in feats.columns if c not in ("date", "ticker")])
    needs_texts = bool(sentiment_names) or text.enabled
    aligned, calendar = (_aligned_texts(data, spec, report, sentiment=bool(sentiment_names))
                         if needs_texts and data.texts is not None else (None, None))
    if sentiment_names:
        if aligned is None:
            raise DataError("the 'sentiment' feature group needs texts, but the data have none (data.texts)")
        feats, sentiment_groups = _add_sentiment(feats, aligned, specs, sentiment_names, spec.market)
        feature_groups.update(sentiment_groups)
    names = [c for c in feats.columns if c not in ("date", "ticker")]
    feats = _stack_lookback(feats, names, f.lookback, report) if f.lookback > 1 else drop_warmup(feats, report)
    targets = make_targets(
        data.prices,
        kind=target.kind,
        horizon=target.horizon,
        price_column=target.price_column,
        neutral_band=target.neutral_band,
        report=report,
    )
    table = feats.merge(targets[["date", "ticker", "target"]], on=["date", "ticker"],
                        how="left" if unlabelled else "inner", validate="1:1")
    # rows without a target were already counted by make_targets
    table = table.sort_values(["date", "ticker"], kind="stable").reset_index(drop=True)
    labelled = table["target"].notna().to_numpy()
    if not labelled.all():
        table["target"] = table["target"].fillna(-1 if target.task == "classification" else np.nan)
    texts, items = _newsflow(aligned, calendar, text, table) if text.enabled and aligned is not None else (None, None)
    if f.lookback > 1:  # (n, L, d); no row left is (0, L, d), for the protocol's checks to explain
        X = np.stack(table["_x"].to_list()) if len(table) else np.empty((0, f.lookback, len(names)), np.float32)
    else:
        X = table[names].to_numpy(np.float32)
    task = target.task
    y = table["target"].to_numpy(np.int64 if task == "classification" else np.float64)
    return Samples(
        index=table[["date", "ticker"]].copy(),
        X=X.astype(np.float32),
        y=y,
        feature_names=tuple(names),
        feature_groups=feature_groups,
        task=task,
        texts=texts,
        text_items=items,
        extras={**_truth_extras(data.truth, table), **({} if labelled.all() else {LABELLED: labelled})},
        skipped_features=tuple(skipped),
    )


def constant_features(samples: Samples) -> tuple[str, ...]:
    """The feature columns of samples.X (n, d) or (n, L, d) with one value over every sample and
    look-back step, e.g. volume_change when the volume is always 0: no model can learn from them.
    A column holding NaN is not constant; () for fewer than 2 samples."""
    if len(samples) < 2:
        return ()
    X = samples.X.reshape(-1, samples.X.shape[-1])
    same = X.min(axis=0) == X.max(axis=0)
    return tuple(name for name, flag in zip(samples.feature_names, same) if flag)


def _price_groups(prices: pd.DataFrame, names: list[str]) -> dict[str, tuple[str, ...]]:
    """Group -> its price features among `names` (FEATURE_GROUPS, "extra"); `price` is in none."""
    extras = extra_columns(prices)
    groups: dict[str, list[str]] = {}
    for name in names:
        group = resolve_feature(name, extra_columns=extras).group
        if group != "price":
            groups.setdefault(group, []).append(name)
    return {g: tuple(v) for g, v in groups.items()}


def _add_sentiment(
    feats: pd.DataFrame,
    aligned: pd.DataFrame,
    specs: tuple[SentimentSpec, ...],
    names: list[str],
    market: MarketConfig,
) -> tuple[pd.DataFrame, dict[str, tuple[str, ...]]]:
    """`feats` with the sentiment features `names` (each from its spec) appended, and their groups:
    "sentiment" (all) and "sentiment_<name>" per named spec."""
    groups: dict[str, tuple[str, ...]] = {SENTIMENT_GROUP: tuple(names)}
    pieces = []
    for one in specs:
        wanted = [n for n in one.feature_names if n in names]
        if not wanted:
            continue
        index = sentiment_features(aligned, feats[["date", "ticker"]], one, wanted,
                                   close_time=market.close_time, timezone=market.timezone)
        pieces.append(index[wanted])
        if one.name is not None:
            groups[one.group] = tuple(wanted)
    return pd.concat([feats, *pieces], axis=1), groups


def sentiment_panel(data: MarketData, spec: SampleSpec, *, report: CleaningReport | None = None) -> pd.DataFrame:
    """The sentiment features of `spec.features.sentiment` for every row of data.prices (no target, no
    warm-up dropped): date, ticker and the features, in prices order. Texts are aligned to the
    sessions as for samples (after the close: the next session)."""
    if data.texts is None:
        raise DataError("sentiment_panel: the data have no texts")
    specs = as_specs(spec.features.sentiment)
    aligned, _ = _aligned_texts(data, spec, report if report is not None else CleaningReport(), sentiment=True)
    panel = data.prices[["date", "ticker"]].reset_index(drop=True)
    out, _ = _add_sentiment(panel, aligned, specs, [n for one in specs for n in one.feature_names], spec.market)
    return out


def _aligned_texts(
    data: MarketData, spec: SampleSpec, report: CleaningReport, *, sentiment: bool = False
) -> tuple[pd.DataFrame, TradingCalendar]:
    """The texts aligned to trading days (once per build, for the newsflow and the sentiment index).

    Only texts of the price tickers are kept (exact match, case included) and only those within
    the text look-back (`spec.text.lookback_days` sessions) of the first session; every dropped
    text is counted in `report`. With `sentiment` (sentiment features requested), no text left
    raises DataError listing why the texts were dropped.
    """
    market = spec.market
    if market.calendar:
        dates = data.prices["date"]
        calendar = TradingCalendar.from_exchange(market.calendar, dates.min(), dates.max())
    else:
        calendar = TradingCalendar.from_prices(data.prices)
    dropped = CleaningReport()
    aligned = align_texts(
        data.texts,
        calendar,
        close_time=market.close_time,
        timezone=market.timezone,
        tickers=pd.unique(data.prices["ticker"].astype(str)),
        lookback_days=spec.text.lookback_days,
        report=dropped,
    )
    report.extend(dropped)
    if sentiment and not len(aligned):
        reasons = "".join(f"\n  {d.count} - {d.reason}" for d in dropped.dropped)
        raise DataError(
            f"the 'sentiment' features need texts, but none of the {len(data.texts)} texts remain after "
            f"aligning them to the price sessions {calendar.first.date()}..{calendar.last.date()} of the "
            f"tickers {sorted(pd.unique(data.prices['ticker'].astype(str)))[:10]}:"
            + (reasons or "\n  (the data have no texts)")
        )
    return aligned, calendar


def _newsflow(
    aligned: pd.DataFrame, calendar: TradingCalendar, text: TextConfig, table: pd.DataFrame
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """(the newsflow string of each row, its texts as a tuple)."""
    flow = build_newsflow(
        aligned,
        table[["date", "ticker"]],
        lookback_days=text.lookback_days,
        max_items=text.max_items,
        max_item_chars=text.max_item_chars,
        max_chars=text.max_chars,
        separator=text.separator,
        calendar=calendar,
    )
    merged = table[["date", "ticker"]].merge(flow[["date", "ticker", "text", "items"]], on=["date", "ticker"],
                                             how="left", validate="1:1")
    items = tuple(i if isinstance(i, tuple) else () for i in merged["items"])
    return tuple(merged["text"].fillna("").astype(str)), items


def _stack_lookback(feats: pd.DataFrame, names: list[str], lookback: int, report: CleaningReport) -> pd.DataFrame:
    """Add column `_x`: for each row, the (lookback, d) features of the last `lookback` rows of its ticker.

    Rows without such a window of complete features are dropped and counted: the feature warm-up
    (as `drop_warmup` records it, naming its cause) and the rest of the look-back.
    """
    out = []
    for _, group in feats.groupby("ticker", sort=False):
        values = group[names].to_numpy(np.float32)
        if len(values) < lookback:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(values, (lookback, len(names)))[:, 0]
        keep = ~np.isnan(windows).any(axis=(1, 2))
        part = group.iloc[lookback - 1 :][keep].copy()
        part["_x"] = list(windows[keep])
        out.append(part)
    stacked = pd.concat(out, ignore_index=True) if out else feats.iloc[:0].assign(_x=[])
    nan = feats[names].isna().to_numpy()
    warmup = warmup_mask(feats, nan.any(axis=1))
    if warmup.any():
        report.add("features", WARMUP + warmup_reason(feats, names, nan, warmup), int(warmup.sum()))
    report.add("features", f"look-back: rows without a full {lookback}-day look-back of complete features "
               "(after the feature warm-up)", len(feats) - len(stacked) - int(warmup.sum()))
    return stacked


def _truth_extras(truth: pd.DataFrame | None, table: pd.DataFrame) -> dict[str, np.ndarray]:
    if truth is None:
        return {}
    cols = [c for c in TRUTH_EXTRAS if c in truth.columns]
    merged = table[["date", "ticker"]].merge(truth[["date", "ticker", *cols]], on=["date", "ticker"], how="left")
    return {c: merged[c].to_numpy(np.float64) for c in cols}


BENCHMARK_FEATURES: tuple[str, ...] = (*BENCHMARK_PRICE_FEATURES[:-1], "log_volume", "present")


def benchmark_to_samples(frame: pd.DataFrame, *, separator: str = " | ") -> Samples:
    """`Samples` of a StockNet benchmark frame (`finfusion.data.adapters.stocknet_benchmark.benchmark_samples`).

    index   date = the target day d (splits are by target day), ticker.
    X       (n, lag_days-1, 7) float32: the price-window rows (BENCHMARK_PRICE_FEATURES with volume as
            log(1 + volume)) and a `present` flag (0 on padding rows, whose values are 0).
    y       the label (0 fall, 1 rise, -1 unlabelled); task "classification".
    texts   the lag window's tweets joined by `separator` ("" when there is none: the model's
            declared no-news rule applies); text_items: the same tweets as a tuple, text_item_ages
            their calendar-day ages (d - the tweet's file day: 1 .. lag_days).
    extras  "movement" (d's realised movement, for backtests), "n_tweets", "price_ages" (int64
            (n, lag_days-1): d - the trading day of each row of X, 0 on padding rows),
            "price_movements" (float64 (n, lag_days-1): the raw movement of each row of X, unscaled
            whatever scaler X gets later, 0 on padding rows; e.g. StockNet's auxiliary targets) and,
            when the frame holds unlabelled rows, "labelled" (Samples.LABELLED: predicted, never
            trained or scored on).
    """
    if frame.empty:
        raise DataError("StockNet benchmark: no samples to build (every target was dropped; see the cleaning report)")
    prices = np.stack(frame["prices"].to_numpy()).astype(np.float64)  # (n, L, 6)
    movements = prices[..., BENCHMARK_PRICE_FEATURES.index("movement")].copy()  # (n, L)
    prices[..., -1] = np.log1p(np.maximum(prices[..., -1], 0.0))
    mask = np.stack(frame["price_mask"].to_numpy()).astype(np.float64)[..., None]  # (n, L, 1)
    X = np.concatenate([prices, mask], axis=-1).astype(np.float32)
    index = frame[["date", "ticker"]].reset_index(drop=True)
    order = np.lexsort((index["ticker"].to_numpy(), index["date"].to_numpy()))  # time order, as Samples expects
    texts = tuple(separator.join(t) for t in frame["texts"])
    return Samples(
        index=index.iloc[order].reset_index(drop=True),
        X=X[order],
        y=frame["label"].to_numpy(np.int64)[order],
        feature_names=BENCHMARK_FEATURES,
        task="classification",
        texts=tuple(texts[i] for i in order),
        text_items=tuple(tuple(frame["texts"].iloc[i]) for i in order),
        text_item_ages=tuple(tuple(int(a) for a in frame["text_ages"].iloc[i]) for i in order),
        extras={"movement": frame["movement"].to_numpy(np.float64)[order],
                "n_tweets": frame["n_tweets"].to_numpy(np.int64)[order],
                "price_ages": np.stack(frame["price_ages"].to_numpy()).astype(np.int64)[order],
                "price_movements": movements[order],
                **({LABELLED: frame["labelled"].to_numpy(bool)[order]} if not frame["labelled"].all() else {})},
        feature_groups={"prices": BENCHMARK_FEATURES},
    )
