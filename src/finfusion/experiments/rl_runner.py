"""Run an RL portfolio experiment (`kind: rl`, seed 002): data -> agents -> test-period tables.

For every asset group, commission (the base one, plus the cost-sensitivity ones) and seed, each
variant (SB, SBA, SBC, SBCA) is trained on the training period with early stopping on the
validation period and run once, deterministically, over the test period; the baselines (equal
weight, buy-and-hold, market) run over the same test days. Each agent is one unit of the run
skeleton (`experiments.execute`, any executor); the driver stores it under
`<run>/units/<group>__c<commission>__<variant>__seed<seed>/` (test-period daily frame, training
curve, timing, and the agent's files under files/agent/), so `--resume` skips what is done.
`experiments.rl_outputs` turns the daily frames into the tables, plots and report.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from finfusion.data.dates import date_expected, parse_dates
from finfusion.data.frames import CleaningReport
from finfusion.data.readers import read_table
from finfusion.data.sample_spec import FeatureConfig, SampleSpec
from finfusion.data.samples import MarketData, sentiment_panel
from finfusion.errors import ConfigError, DataError
from finfusion.executors import ExecutorConfig
from finfusion.experiments.execute import execute
from finfusion.experiments.rl_config import RlConfig
from finfusion.experiments.rl_outputs import RlResult, write_rl_outputs
from finfusion.experiments.rundir import FILES, unit_dir
from finfusion.experiments.sources import load_market_data
from finfusion.experiments.units import Headline, Plan, UnitResult, UnitSpec
from finfusion.fingerprint import frame_fingerprint
from finfusion.portfolio.rl import (
    EnvConfig,
    MarketWindow,
    TrainedAgent,
    buy_and_hold,
    equal_weight,
    market,
    split_market,
    train_agent,
)

BASELINES = ("Equal Weight", "Buy & Hold", "Market")


def market_frames(config: RlConfig) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
    """(returns, text, facts): wide frames (dates x tickers of all groups) of simple returns
    (close t-1 -> close t) and of the text feature of each day in [-1, 1] (NaN: no text);
    facts["cleaning"] lists what reading and aligning the data dropped (data.on_invalid)."""
    data = load_market_data(config.data, timezone=config.market.timezone)
    tickers = sorted({t for group in config.groups.values() for t in group})
    prices = data.prices
    missing = sorted(set(tickers) - set(prices["ticker"].unique()))
    if missing:
        raise DataError(f"groups name ticker(s) {missing} that the data do not have")
    if config.price_column not in prices.columns:
        raise ConfigError(f"price_column {config.price_column!r} is not a prices column {list(prices.columns)}")
    prices = prices[prices["ticker"].isin(tickers)]
    closes = prices.pivot(index="date", columns="ticker", values=config.price_column)[tickers].sort_index()
    returns = closes.pct_change(fill_method=None).iloc[1:]
    facts = {"tickers": tickers, "first_date": str(returns.index[0].date()), "last_date": str(returns.index[-1].date()),
             "cleaning": data.report.to_records()}
    source = config.text.source
    if source == "none":
        return returns, None, {**facts, "text": "none"}
    if source == "truth":
        scale = config.data.simulate.sentiment_scale
        truth = data.truth[data.truth["ticker"].isin(tickers)]
        text = (truth.pivot(index="date", columns="ticker", values="sentiment")[tickers] / scale).clip(-1.0, 1.0)
        return returns, text.reindex(returns.index), {**facts, "text": f"simulated sentiment / {scale:g}"}
    spec = config.text.sentiment.model_copy(update={"stats": ("mean", "has_text"), "fill": "zero", "name": None})
    sample_spec = SampleSpec(features=FeatureConfig(sentiment=spec), market=config.market)
    frame = sentiment_panel(MarketData(prices, data.texts, None, data.meta, data.report), sample_spec,
                            report=data.report)
    frame["text"] = frame["sent_mean"].where(frame["sent_has_text"] > 0)
    text = frame.pivot(index="date", columns="ticker", values="text").reindex(index=returns.index, columns=tickers)
    return returns, text, {**facts, "cleaning": data.report.to_records(),
                           "text": f"daily mean sentiment of the day's texts, scorer {spec.scorer}"}


def group_windows(config: RlConfig, returns: pd.DataFrame, text: pd.DataFrame | None, tickers: list[str]):
    """(train, valid, test) MarketWindows of one group and the dates dropped for a missing return."""
    r = returns[tickers]
    complete = r.notna().all(axis=1)
    r = r[complete]
    t = None if text is None else text.loc[r.index, tickers]
    windows = split_market(r, t, train_end=pd.Timestamp(config.split.train_end),
                           valid_end=pd.Timestamp(config.split.valid_end), window=config.env.window)
    return windows, int((~complete).sum())


def agent_id(group: str, commission: float, variant: str, seed: int) -> str:
    """The unit id of an agent (its folder under <run>/units/)."""
    return f"{_slug(group)}__c{commission:g}__{variant}__seed{seed}"


@dataclass(frozen=True, eq=False)
class AgentUnit(UnitSpec):
    """One agent: `variant` trained on `group` at `commission` with `seed` (a unit of the rl run
    kind). The config travels with it; the group's market windows come from the shared inputs."""

    config: RlConfig
    group: str
    commission: float
    variant: str
    seed: int

    @property
    def unit_id(self) -> str:
        return agent_id(self.group, self.commission, self.variant, self.seed)

    @property
    def keys(self) -> dict:
        return {"group": self.group, "commission": self.commission, "strategy": self.variant, "seed": self.seed}


@dataclass
class RlContext:
    """What the summary needs besides the agents (driver only): the windows, the data facts, the
    market_index returns (None: the equal-weight universe) and the run's start time."""

    windows: dict
    facts: dict
    index: pd.Series | None
    started: float


class RlKind:
    """RL portfolio runs (`RlConfig`, `kind: rl`): the run kind `rl` of `experiments.kinds`. Units
    are agents (group x commission x variant x seed); the windows of every group are shared."""

    name = "rl"
    unit_bars = False

    def plan(self, config: RlConfig) -> Plan:
        started = time.perf_counter()
        returns, text, facts = market_frames(config)
        windows = {}
        for name, tickers in config.groups.items():
            windows[name], dropped = group_windows(config, returns, text, tickers)
            facts.setdefault("dates_dropped_for_a_missing_return", {})[name] = dropped
        report = CleaningReport()
        index = market_index(config, report)  # checked before any agent trains
        facts["cleaning"] = [*facts["cleaning"], *report.to_records()]
        units = [AgentUnit(config, g, c, v, s) for g, c, v, s in _jobs(config)]
        return Plan(units, windows, [frame_fingerprint(returns), str(frame_fingerprint(text))],
                    RlContext(windows, facts, index, started))

    def run_unit(self, unit: AgentUnit, shared: dict, checkpoints: Path | None) -> UnitResult:
        """Train the agent (early stopping on the validation window), run it over the test window;
        its files (agent.json, policy.safetensors, curve.csv) come back as bytes."""
        train, valid, test = shared[unit.group]
        started = time.perf_counter()
        agent = train_agent(unit.variant, train, valid, seed=unit.seed, env=_settings(unit.config, unit.commission),
                            agent=unit.config.agent)
        seconds = time.perf_counter() - started
        frame = agent.run(test)
        steps = int(agent.curve["timesteps"].iloc[-1])
        info = {"train_seconds": seconds, "timesteps": steps, "steps_per_second": steps / seconds,
                "epochs": int(len(agent.curve)), "best_epoch": int(agent.best_epoch)}
        with tempfile.TemporaryDirectory() as tmp:
            agent.save(tmp)
            files = {f"{AGENT}/{p.name}": p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
        return UnitResult({"test_daily": frame, "curve": agent.curve}, info, files)

    def summarize(self, config: RlConfig, run_dir: Path, plan: Plan, results: list[UnitResult]) -> RlResult:
        """The daily frames of the agents and the baselines (the Market one on the market_index
        returns when given), the training curves and timings -> tables, plots, report."""
        context: RlContext = plan.context
        daily, curves, timing = [], [], []
        for unit, result in zip(plan.units, results):
            daily.append(result.frames["test_daily"].assign(**unit.keys))
            curves.append(result.frames["curve"].assign(**{**unit.keys, "variant": unit.variant}).drop(columns="strategy"))
            timing.append({**unit.keys, **result.info})
        for group, commission in dict.fromkeys((u.group, u.commission) for u in plan.units):
            for name, frame in _baselines(config, context.windows[group][2], commission, context.index).items():
                daily.append(frame.assign(group=group, commission=commission, strategy=name, seed=np.nan))
        facts, windows = context.facts, context.windows
        facts["text_missing"] = {g: {"train": w[0].n_text_missing_decided, "valid": w[1].n_text_missing_decided,
                                     "test": w[2].n_text_missing_decided} for g, w in windows.items()}
        facts["periods"] = {g: {p: _period(w, config.env.window) for p, w in zip(("train", "valid", "test"), ws)}
                            for g, ws in windows.items()}
        result = RlResult(run_dir, pd.concat(daily, ignore_index=True), pd.concat(curves, ignore_index=True),
                          {"facts": facts, "timing": timing})
        return write_rl_outputs(config, result, wall_seconds=time.perf_counter() - context.started)


    def headline(self, result: RlResult) -> Headline:
        """The overall table: baselines and variants per group, mean (std) over seeds."""
        return Headline(result.summary["tables"]["overall"], None)


RL = RlKind()
AGENT = "agent"  # the agent's files in its unit folder: <run>/units/<unit_id>/files/agent/


def run_rl(config: RlConfig | None, *, run_dir: Path | None = None, resume: bool = False,
           progress: bool | None = None, overwrite: bool = False, force: bool = False,
           executor: ExecutorConfig | None = None) -> RlResult:
    """Train and evaluate everything `config` asks for; write the run directory (module docstring).
    `resume` continues `run_dir` (refusing changed inputs unless `force`); `overwrite` lets a new
    run use a non-empty directory (experiments.rundir); `executor` overrides where agents train."""
    return execute(RL, config, run_dir=run_dir, resume=resume, progress_bars=progress, overwrite=overwrite,
                   force=force, executor=executor)


def _jobs(config: RlConfig) -> list[tuple[str, float, str, int]]:
    cs = config.cost_sensitivity
    jobs = []
    for group in config.groups:
        chosen = cs is not None and (cs.groups is None or group in cs.groups)
        commissions = config.commissions if chosen else [config.env.commission]
        jobs += [(group, c, v.upper(), s) for c in commissions for v in config.variants for s in config.seeds]
    return jobs


def _settings(config: RlConfig, commission: float) -> EnvConfig:
    """`config.env` with `commission` (the base one, or a cost-sensitivity one: both are validated
    `Commission`s of the config, so the unvalidated model_copy is safe)."""
    return config.env.model_copy(update={"commission": commission})


def market_index(config: RlConfig, report: CleaningReport) -> pd.Series | None:
    """The `market_index` file (CSV, Parquet or JSON lines with columns date, return) as simple
    returns (fractions) by date; None without one. Dates as the prices' (ISO, or data.date_format).

    A row whose date is missing or unparsable, whose return is not a finite number > -1 (e.g. a
    row of nulls), or whose date repeats an earlier row raises DataError naming the file and the
    rows, or with data.on_invalid "drop" is dropped and counted in `report` (step "market_index")."""
    path = config.market_index
    if path is None:
        return None
    raw = read_table(path)
    if not {"date", "return"} <= set(raw.columns):
        raise DataError(f"market_index {path}: expected columns date, return; got {list(raw.columns)}")
    dates = parse_dates(raw["date"], date_format=config.data.date_format)
    values = pd.to_numeric(raw["return"], errors="coerce").astype("float64")
    ok = dates.notna() & np.isfinite(values) & (values > -1)
    bad = ~ok | (ok & dates.where(ok).duplicated())  # a repeated date: its later rows
    rows = [f"row {i + 1}: date={raw['date'].iat[i]!r}, return={raw['return'].iat[i]!r}" for i in np.flatnonzero(bad)]
    expected = (f"expected {date_expected(config.data.date_format)}, one row per date, and a return that is a "
                "finite fraction > -1 (row = 1-based data row)")
    if rows and config.data.on_invalid != "drop":
        raise DataError(f"market_index {path}: {len(rows)} invalid row(s): {'; '.join(rows[:10])}"
                        + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
                        + f"; {expected}; or set data.on_invalid: drop")
    report.add("market_index", f"{path}: {expected} (dropped)", len(rows), tuple(rows))
    return pd.Series(values[~bad].to_numpy(), index=pd.DatetimeIndex(dates[~bad]), name="return")


def _baselines(config: RlConfig, test: MarketWindow, commission: float,
               index: pd.Series | None) -> dict[str, pd.DataFrame]:
    w = config.env.window
    return {"Equal Weight": equal_weight(test, window=w, commission=commission),
            "Buy & Hold": buy_and_hold(test, window=w, commission=commission),
            "Market": market(test, window=w, index_returns=index)}


def _period(window: MarketWindow, w: int) -> str:
    dates = window.decision_dates(w)
    return f"{dates[0].date()} .. {dates[-1].date()} ({len(dates)} days)"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "group"


def load_agent(run_dir: Path, group: str, commission: float, variant: str, seed: int) -> TrainedAgent:
    """A trained agent of a finished run, to act on new data."""
    unit_id = agent_id(group, commission, variant.upper(), seed)
    return TrainedAgent.load(unit_dir(Path(run_dir), unit_id) / FILES / AGENT)
