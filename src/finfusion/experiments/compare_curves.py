"""The equity curves of `finfusion compare`: the period net returns of every strategy a run
trades, read from what the run stored or recomputed with the run's own functions and checked
against the tables it wrote, and one chart per strategy with a line per run (and seed).

Where each run's series come from (`strategy_returns`):

- rl: `daily.parquet` (stored; `net_return` per day) at the run's base commission (`env.commission`);
  the cost-sensitivity commissions stay in daily.parquet.
- predict with `analysis.pnl`: tables/pnl_daily.csv (stored; `net` per day of each point, seed and
  model, and the always-long benchmark). A run written before finfusion stored that table has only
  the summary (tables/pnl.csv): its series are recomputed from predictions.parquet and the realised
  returns of the run's prices, reloaded from its saved data config (the prices' fingerprint must
  equal data.json's), with the function that writes tables/pnl_daily.csv
  (`experiments.analysis_outputs.pnl_daily` on the scored rows, the returns of the first unit's
  data, as a run does); every series' cumulative_return_net and sharpe_net must reproduce
  tables/pnl.csv.
- predict with `analysis.portfolio`: a run stores the decile backtests' tables, not their period
  returns, so they are recomputed likewise (`experiments.analysis.portfolio_tables`), and the
  recomputed table must reproduce tables/portfolio.csv.
- sentiment runs, and predict runs without either analysis, trade nothing.

A run whose series cannot be had (prices no longer loadable, changed inputs, a recomputation
that does not reproduce the run's table) gets no curve and a note saying why: never a guess.
Curves are `evaluate.performance.equity_curve` / `drawdown_curve` of the net returns; a chart per
strategy is `evaluate.tearsheet.plot_equity_drawdown` with a line per run (and seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from finfusion.data.predictions import Predictions
from finfusion.errors import FinfusionError
from finfusion.evaluate.performance import drawdown_curve, equity_curve
from finfusion.evaluate.pnl import pnl_summary
from finfusion.evaluate.tearsheet import plot_equity_drawdown
from finfusion.experiments.analysis import portfolio_returns, portfolio_tables
from finfusion.experiments.analysis_outputs import pnl_daily, scored_rows
from finfusion.experiments.plan import plan_units
from finfusion.experiments.sources import load_benchmark, load_market_data
from finfusion.fingerprint import frame_fingerprint
from finfusion.portfolio import realised_returns

COLUMNS = ["run", "strategy", "seed", "date", "net"]  # long form of every run's period net returns
PNL_CHECKED = ("cumulative_return_net", "sharpe_net")
RTOL, ATOL = 1e-9, 1e-12  # a recomputed statistic must equal the stored one up to float round-off


class CurvesUnavailable(Exception):
    """Why a run's series cannot be read or recomputed (shown in the report, never raised to the user)."""


def strategy_returns(run) -> tuple[pd.DataFrame, str]:
    """(COLUMNS frame of the run's strategies, a one-line note: where they come from or why none).
    `run` is an `experiments.compare.RunDir`."""
    try:
        if run.kind == "rl":
            frame, note = _rl_returns(run)
        elif run.kind == "predict":
            frame, note = _predict_returns(run)
        else:
            frame, note = _empty(), f"a {run.kind} run trades nothing"
    except CurvesUnavailable as why:
        frame, note = _empty(), f"no curves: {why}"
    return frame.assign(run=run.name)[COLUMNS], note


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS if c != "run"})


def concat_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The non-empty frames of `parts` stacked; an empty frame of `parts[0]`'s columns when none."""
    full = [p for p in parts if len(p)]
    return pd.concat(full, ignore_index=True) if full else parts[0].iloc[:0]


def _rl_returns(run) -> tuple[pd.DataFrame, str]:
    base = run.view.config.env.commission
    daily = run.view.daily
    rows = daily[daily["commission"] == base]
    frame = pd.DataFrame({"strategy": rows["group"].astype(str) + ": " + rows["strategy"].astype(str),
                          "seed": rows["seed"], "date": pd.to_datetime(rows["date"]), "net": rows["net_return"]})
    return frame, f"daily.parquet (stored): daily net returns at the base commission {base:.2%}"


def _predict_returns(run) -> tuple[pd.DataFrame, str]:
    config = run.view.config
    a = config.analysis
    if a.pnl is None and a.portfolio is None:
        return _empty(), "trades nothing (no analysis.pnl or analysis.portfolio)"
    flat = Predictions.read(run.path / "predictions.parquet").without("shap", "shap_base", "attention", "truth")
    inputs = _Prices(run, config)
    parts, notes = [], []
    for what, make in (("long/flat daily PnL", _pnl_returns if a.pnl is not None else None),
                       ("decile portfolios", _portfolio_returns if a.portfolio is not None else None)):
        if make is None:
            continue
        try:
            frame, source = make(run, flat.to_frame(), inputs, config)
        except CurvesUnavailable as why:
            frame, source = _empty(), f"no curves: {why}"
        parts.append(frame)
        notes.append(f"{what}: {source}")
    settings = len({unit.data for unit in plan_units(config)})
    if settings > 1:
        notes.append(f"beware: the run has {settings} data settings (sweep points or seeds that draw their own "
                     "market), yet its analyses traded every unit on the first one's prices (so do these curves)")
    return concat_rows(parts), "; ".join(notes)


class _Prices:
    """The prices the run's analyses used (its first unit's data), reloaded once when first needed
    and checked against the fingerprint in data.json."""

    def __init__(self, run, config) -> None:
        self.run, self.config = run, config
        self.loaded: pd.DataFrame | CurvesUnavailable | None = None

    def get(self) -> pd.DataFrame:
        if self.loaded is None:
            try:
                self.loaded = _reloaded_prices(self.run, plan_units(self.config)[0].config)
            except CurvesUnavailable as why:
                self.loaded = why
        if isinstance(self.loaded, CurvesUnavailable):
            raise self.loaded
        return self.loaded


def _reloaded_prices(run, unit) -> pd.DataFrame:
    try:
        if unit.data.source == "stocknet_benchmark":
            data = load_benchmark(unit.data, separator=unit.text.separator)[0]
        else:
            data = load_market_data(unit.data, timezone=unit.market.timezone)
    except (FinfusionError, OSError) as err:
        raise CurvesUnavailable(f"the run's prices cannot be reloaded from its data config ({err})") from None
    stored = run.view.data.get("fingerprints", {}).get("prices")
    now = frame_fingerprint(data.prices)
    if now != stored:
        raise CurvesUnavailable(f"the prices its data config gives now (sha256 {str(now)[:12]}) are not those the "
                                f"run used (data.json: {str(stored)[:12]})")
    return data.prices


def _stored_table(run, name: str) -> pd.DataFrame:
    path = run.path / "tables" / f"{name}.csv"
    if not path.is_file():
        raise CurvesUnavailable(f"{path} is missing, so a recomputation cannot be checked")
    return pd.read_csv(path)


def _pnl_returns(run, flat: pd.DataFrame, inputs: _Prices, config) -> tuple[pd.DataFrame, str]:
    stored = run.path / "tables" / "pnl_daily.csv"
    if stored.is_file():
        daily = pd.read_csv(stored)
        return _pnl_frame(daily), "tables/pnl_daily.csv (stored)"
    cfg = config.analysis.pnl
    summaries = _stored_table(run, "pnl")
    returns = realised_returns(inputs.get(), price_column=config.target.price_column)
    daily = pnl_daily(scored_rows(flat), returns, cfg)  # what a run now stores as tables/pnl_daily.csv
    keys = [c for c in ("point", "seed", "model") if c in daily.columns]
    for values, rows in daily.groupby(keys, sort=False, dropna=False):
        _check(summaries, dict(zip(keys, values)), pnl_summary(rows, risk_free=cfg.risk_free), PNL_CHECKED,
               "tables/pnl.csv")
    return _pnl_frame(daily), (
        "recomputed (the run stores no tables/pnl_daily.csv) from predictions.parquet and the prices reloaded from "
        "its data config (fingerprint as in data.json); each series reproduces tables/pnl.csv")


def _pnl_frame(daily: pd.DataFrame) -> pd.DataFrame:
    """COLUMNS (but run) of daily long/flat rows (model[, point, seed], date, net)."""
    points = daily["point"] if "point" in daily.columns else pd.Series("base", index=daily.index)
    labels = [f"long/flat: {m}{_at(p)}" for m, p in zip(daily["model"], points)]
    return pd.DataFrame({"strategy": labels, "seed": daily["seed"] if "seed" in daily.columns else np.nan,
                         "date": pd.to_datetime(daily["date"]), "net": daily["net"].astype("float64")})


def _portfolio_returns(run, flat: pd.DataFrame, inputs: _Prices, config) -> tuple[pd.DataFrame, str]:
    p, target = config.analysis.portfolio, config.target
    stored = _stored_table(run, "portfolio")
    realised = portfolio_returns(flat, inputs.get(), p, target.horizon, target.price_column)
    tables, backtests = portfolio_tables(flat, realised, p, target.task, target.horizon)
    _check_table(stored, tables["portfolio"], "tables/portfolio.csv")
    out = []
    for point, result in backtests.items():
        periods = result.periods
        models = periods["model"] if "model" in periods else pd.Series(None, index=periods.index)
        labels = [_decile_label(s, m) + _at(point) for s, m in zip(periods["strategy"], models)]
        out.append(pd.DataFrame({"strategy": labels, "seed": periods["seed"] if "seed" in periods else np.nan,
                                 "date": pd.to_datetime(periods["date"]), "net": periods["net"]}))
    return pd.concat(out, ignore_index=True), (
        "recomputed (a run stores no period returns of its backtests) from predictions.parquet and the prices "
        "reloaded from its data config (fingerprint as in data.json); the backtest reproduces tables/portfolio.csv")


def _decile_label(strategy: str, model) -> str:
    if strategy == "universe":
        return "deciles: universe"
    return f"deciles {strategy}" + ("" if model is None or pd.isna(model) else f": {model}")


def _at(point) -> str:
    return "" if point is None or point == "base" else f" @ {point}"


def key_text(value) -> str:
    """A key value as text, so a seed read back from CSV (0 or 0.0) matches the frame's."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return "nan" if pd.isna(value) else str(value)


def _check(stored: pd.DataFrame, ident: dict, values: dict, columns, where: str) -> None:
    """The stored row of `ident` must hold `values` (up to round-off) in `columns`."""
    mask = np.ones(len(stored), dtype=bool)
    for key, value in ident.items():
        mask &= stored[key].map(key_text).to_numpy() == key_text(value)
    if mask.sum() != 1:
        raise CurvesUnavailable(f"{where} has {int(mask.sum())} rows for {ident} (expected 1)")
    row = stored[mask].iloc[0]
    for column in columns:
        if not np.isclose(values[column], row[column], rtol=RTOL, atol=ATOL, equal_nan=True):
            raise CurvesUnavailable(f"the recomputed series of {ident} do not reproduce {where} ({column} "
                                    f"{values[column]!r} recomputed, {row[column]!r} stored)")


def _check_table(stored: pd.DataFrame, recomputed: pd.DataFrame, where: str) -> None:
    """Every numeric column of `recomputed` equals the stored CSV's, row by row."""
    numeric = [c for c in recomputed.columns if pd.api.types.is_numeric_dtype(recomputed[c]) and c in stored]
    if len(stored) != len(recomputed) or not numeric:
        raise CurvesUnavailable(f"the recomputed backtest has {len(recomputed)} rows, {where} {len(stored)}")
    a, b = recomputed[numeric].to_numpy(np.float64), stored[numeric].to_numpy(np.float64)
    if not np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True):
        raise CurvesUnavailable(f"the recomputed backtest does not reproduce {where}")


def curve_table(returns: pd.DataFrame) -> pd.DataFrame:
    """`returns` (COLUMNS) with the equity and drawdown of each (run, strategy, seed), in date order."""
    parts = []
    for _, rows in returns.groupby(["run", "strategy", "seed"], sort=False, dropna=False):
        series = rows.sort_values("date", kind="mergesort").set_index("date")["net"].astype("float64")
        parts.append(rows.sort_values("date", kind="mergesort").assign(
            equity=equity_curve(series).to_numpy(), drawdown=drawdown_curve(series).to_numpy()))
    if not parts:
        return returns.assign(equity=pd.Series(dtype="float64"), drawdown=pd.Series(dtype="float64"))
    return pd.concat(parts, ignore_index=True)


def plot_strategy(strategy: str, curves: pd.DataFrame, runs: list[str]) -> Figure:
    """Equity and drawdown of one strategy (`evaluate.tearsheet.plot_equity_drawdown`), a line per
    run, or per run and seed when a run has several. `curves` holds the strategy's rows of
    `curve_table` (or of COLUMNS); `runs` names every compared run (the title names those without it)."""
    series = {}
    for run, rows in curves.groupby("run", sort=False):
        seeds = list(pd.unique(rows["seed"]))
        for seed in seeds:
            line = rows[rows["seed"].isna()] if pd.isna(seed) else rows[rows["seed"] == seed]
            label = run if len(seeds) == 1 else f"{run}, seed {key_text(seed)}"
            series[label] = line.set_index("date")["net"].astype("float64")
    missing = [r for r in runs if r not in set(curves["run"])]
    return plot_equity_drawdown(series, title=strategy + (f" (not in {', '.join(missing)})" if missing else ""))
