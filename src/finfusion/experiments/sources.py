"""Load the input frames a run config names: simulated, user files, StockNet, or the StockNet benchmark's samples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from finfusion.data.adapters.stocknet import read_stocknet, read_stocknet_prices
from finfusion.data.adapters.stocknet_benchmark import benchmark_samples
from finfusion.data.frames import CleaningReport
from finfusion.data.loaded import read_load_log
from finfusion.data.readers import read_prices, read_texts
from finfusion.data.samples import MarketData, benchmark_to_samples
from finfusion.data.simulate import simulate_market
from finfusion.experiments.config import DataConfig
from finfusion.fingerprint import file_sha256


def load_market_data(cfg: DataConfig, *, timezone: str) -> MarketData:
    """Validated prices (+ texts, + simulated truth) for `cfg`; cleaning is counted in `report`.

    `timezone` (the run's market.timezone) is needed by source files whose texts have date-only
    timestamps declared with data.text_time; how each file was read is in meta["read"]."""
    report = CleaningReport()
    if cfg.source == "simulate":
        market = simulate_market(cfg.simulate)
        meta = {"source": "simulate", **market.summary()}
        return MarketData(market.prices, market.texts, market.truth, meta, report)
    if cfg.source == "files":
        prices, texts, meta = _read_files(cfg, timezone, report)
    else:
        prices, texts = read_stocknet(cfg.stocknet_root, tickers=cfg.tickers, start=cfg.start, end=cfg.end,
                                      on_invalid=cfg.on_invalid, report=report)
        meta = {"source": "stocknet", "root": str(cfg.stocknet_root)}
    prices, texts = _restrict(prices, texts, cfg, report)
    return MarketData(prices, texts, None, meta, report)


def _read_files(cfg: DataConfig, timezone: str | None, report: CleaningReport):
    """(prices, texts or None, meta) of source files, shaped as data.columns / layout / ticker / text_time say;
    texts without a ticker column belong to data.ticker or to the prices' only ticker."""
    shape = cfg.input_shape()
    prices = read_prices(cfg.prices, date_format=cfg.date_format, on_invalid=cfg.on_invalid, report=report, shape=shape)
    texts = None
    if cfg.texts is not None:
        texts = read_texts(cfg.texts, default_tz=cfg.default_tz, timestamp_format=cfg.timestamp_format,
                           on_invalid=cfg.on_invalid, report=report, shape=shape,
                           tickers=sorted(prices["ticker"].unique()), timezone=timezone)
    if cfg.load_log is not None:  # what the load that wrote these files dropped, and how it read the tables
        report.extend(read_load_log(cfg.load_log))
    meta = {"source": "files", "files": {str(p): file_sha256(p) for p in (cfg.prices, cfg.texts) if p},
            "read": [r.describe() for r in report.reads]}
    return prices, texts, meta


def load_benchmark(cfg: DataConfig, *, separator: str = " | "):
    """(MarketData with StockNet's raw prices, Samples of the benchmark) for source "stocknet_benchmark".

    The samples follow the published protocol (finfusion.data.adapters.stocknet_benchmark), not
    the run's feature settings; data.tickers restricts the tickers, data.start / data.end do not
    apply (the splits are the benchmark's, by target day). data.benchmark.neutral / tweet_cutoff
    choose the two non-protocol options (unlabelled backtest rows, tweets before the close)."""
    report = CleaningReport()
    b = cfg.benchmark
    frame = benchmark_samples(cfg.stocknet_root, rule=b.rule, lag_days=b.lag_days, fall=b.fall, rise=b.rise,
                              tickers=cfg.tickers, report=report, tweet_cutoff=b.tweet_cutoff,
                              unlabelled_splits=("dev", "test") if b.neutral == "predict" else (),
                              on_invalid=cfg.on_invalid)
    counts = frame[frame["labelled"]].groupby("split", sort=False).size().to_dict()
    for split, n in frame[~frame["labelled"]].groupby("split", sort=False).size().items():
        counts[f"{split} unlabelled"] = n
    if (Path(cfg.stocknet_root) / "price" / "raw").is_dir():  # the raw prices, for the report's fingerprints
        prices = read_stocknet_prices(cfg.stocknet_root, tickers=sorted(frame["ticker"].unique()),
                                      on_invalid=cfg.on_invalid, report=report)
    else:
        prices = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "ticker": pd.Series(dtype=str)})
    meta = {"source": "stocknet_benchmark", "root": str(cfg.stocknet_root), "rule": b.rule,
            "samples_per_split": {k: int(v) for k, v in counts.items()}}
    return MarketData(prices, None, None, meta, report), benchmark_to_samples(frame, separator=separator)


def _restrict(prices: pd.DataFrame, texts: pd.DataFrame | None, cfg: DataConfig, report: CleaningReport):
    """Apply the config's ticker and date filters, counting what they remove."""
    keep = pd.Series(True, index=prices.index)
    if cfg.tickers:
        keep &= prices["ticker"].isin(cfg.tickers)
    if cfg.start:
        keep &= prices["date"] >= pd.Timestamp(cfg.start)
    if cfg.end:
        keep &= prices["date"] <= pd.Timestamp(cfg.end)
    report.add("data filter", "price rows outside data.tickers / data.start / data.end", int((~keep).sum()))
    prices = prices[keep].reset_index(drop=True)
    if texts is not None and cfg.tickers:
        mask = texts["ticker"].isin(cfg.tickers)
        report.add("data filter", "texts of tickers outside data.tickers", int((~mask).sum()))
        texts = texts[mask].reset_index(drop=True)
    return prices, texts
