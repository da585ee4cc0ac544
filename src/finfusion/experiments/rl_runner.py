"""Run an RL portfolio experiment (`kind: rl`, seed 002): data -> agents -> test-period tables.

For every asset group, commission (the base one, plus the cost-sensitivity ones) and seed, each
variant (SB, SBA, SBC, SBCA) is trained on the training period with early stopping on the
validation period and run once, deterministically, over the test period; the baselines (equal
weight, buy-and-hold, market) run over the same test days. Each trained agent is stored under
`<run>/agents/<group>/c<commission>/<variant>/seed<seed>/` with its test-period daily frame, so
`--resume` skips what is done. `experiments.rl_outputs` turns the daily frames into the tables,
plots and report.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

import finfusion.io as io
from finfusion.data.dates import date_expected, parse_dates
from finfusion.data.frames import CleaningReport
from finfusion.data.readers import read_table
from finfusion.data.samples import MarketData, SampleSpec, sentiment_panel
from finfusion.errors import ConfigError, DataError
from finfusion.experiments.executor import torch_threads
from finfusion.experiments.rl_config import RlConfig
from finfusion.experiments.rl_outputs import RlResult, write_rl_outputs
from finfusion.experiments.rundir import effective_config, run_directory
from finfusion.experiments.sources import load_market_data
from finfusion.fingerprint import frame_fingerprint
from finfusion.portfolio.rl import (
    AgentConfig,
    EnvSettings,
    MarketWindow,
    TrainedAgent,
    buy_and_hold,
    equal_weight,
    market,
    split_market,
    train_agent,
)
from finfusion.text.encoder import set_progress

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
    spec = config.text.sentiment.model_copy(update={"stats": ["mean", "has_text"], "fill": "zero", "name": None})
    sample_spec = SampleSpec(sentiment=spec.to_spec(), close_time=config.market.close_time,
                             timezone=config.market.timezone, calendar=config.market.calendar)
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


def run_rl(config: RlConfig | None, *, run_dir: Path | None = None, resume: bool = False,
           progress: bool | None = None, overwrite: bool = False, force: bool = False) -> RlResult:
    """Train and evaluate everything `config` asks for; write the run directory (module docstring).
    `resume` continues `run_dir` (refusing changed inputs unless `force`); `overwrite` lets a new
    run use a non-empty directory (experiments.rundir)."""
    config = effective_config(config, run_dir, resume, progress)
    started = time.perf_counter()

    def prepare() -> tuple[list[str], tuple[dict, dict]]:
        set_progress(config.progress)  # the scorer's bar too
        returns, text, facts = market_frames(config)
        windows = {}
        for name, tickers in config.groups.items():
            windows[name], dropped = group_windows(config, returns, text, tickers)
            facts.setdefault("dates_dropped_for_a_missing_return", {})[name] = dropped
        report = CleaningReport()
        index = market_index(config, report)  # checked before any agent trains
        facts["cleaning"] = [*facts["cleaning"], *report.to_records()]
        return [frame_fingerprint(returns), str(frame_fingerprint(text))], (windows, facts, index)

    with run_directory(config, run_dir, resume=resume, overwrite=overwrite, force=force,
                       prepare=prepare) as (held, (windows, facts, index)):
        with torch_threads(1):  # small networks: one thread is fastest and leaves a core free
            result = _train_all(config, held.path, windows, facts, index)
        return write_rl_outputs(config, result, wall_seconds=time.perf_counter() - started)


def _train_all(config: RlConfig, run_dir: Path, windows: dict, facts: dict, index: pd.Series | None) -> RlResult:
    """Every agent of every group, commission and seed (trained now or read back), and the baselines
    (the Market one on `index`, the market_index returns, when given)."""
    jobs = _jobs(config)
    daily, curves, timing = [], [], []
    bar = tqdm(total=len(jobs), desc="agents", disable=not config.progress)
    for group, commission, variant, seed in jobs:
        frame, curve, info = _agent(config, run_dir, windows[group], group, commission, variant, seed)
        keys = {"group": group, "commission": commission, "strategy": variant, "seed": seed}
        daily.append(frame.assign(**keys))
        curves.append(curve.assign(**{**keys, "variant": variant}).drop(columns="strategy"))
        timing.append({**keys, **info})
        bar.update(1)
    bar.close()
    for group, commission in dict.fromkeys((g, c) for g, c, _, _ in jobs):
        for name, frame in _baselines(config, windows[group][2], commission, index).items():
            daily.append(frame.assign(group=group, commission=commission, strategy=name, seed=np.nan))
    facts["text_missing"] = {g: {"train": w[0].n_text_missing_decided, "valid": w[1].n_text_missing_decided,
                                 "test": w[2].n_text_missing_decided} for g, w in windows.items()}
    facts["periods"] = {g: {p: _period(w, config.env.window) for p, w in zip(("train", "valid", "test"), ws)}
                        for g, ws in windows.items()}
    return RlResult(run_dir, pd.concat(daily, ignore_index=True), pd.concat(curves, ignore_index=True),
                    {"facts": facts, "timing": timing})


def _jobs(config: RlConfig) -> list[tuple[str, float, str, int]]:
    cs = config.cost_sensitivity
    jobs = []
    for group in config.groups:
        chosen = cs is not None and (cs.groups is None or group in cs.groups)
        commissions = config.commissions if chosen else [config.env.commission]
        jobs += [(group, c, v.upper(), s) for c in commissions for v in config.variants for s in config.seeds]
    return jobs


def _settings(config: RlConfig, commission: float) -> EnvSettings:
    e = config.env
    return EnvSettings(window=e.window, commission=commission, ema_alpha=e.ema_alpha, lambda_risk=e.lambda_risk,
                       lambda_turn=e.lambda_turn, turnover=e.turnover, reward_baseline=e.reward_baseline)


def _agent(config: RlConfig, run_dir: Path, windows, group: str, commission: float, variant: str, seed: int):
    """(test daily frame, training curve, timing) of one agent, trained now or read back."""
    where = io.safe_join(run_dir, "agents", _slug(group), f"c{commission:g}", variant, f"seed{seed}")
    if (where / "test_daily.parquet").exists():
        recover = f"delete {where} to retrain this agent on --resume"
        try:
            info, curve = io.read_json(where / "timing.json"), pd.read_csv(where / "curve.csv")
        except (OSError, ValueError) as err:
            raise DataError(f"agent files in {where} cannot be read ({type(err).__name__}: {err}); {recover}") from None
        return io.read_parquet(where / "test_daily.parquet", recover=recover), curve, info
    a = config.agent
    agent_config = AgentConfig(learning_rate=a.learning_rate, weight_decay=a.weight_decay, gamma=a.gamma,
                               policy=a.policy, net_arch=tuple(a.net_arch), features_dim=a.features_dim,
                               asset_dim=a.asset_dim, n_envs=a.n_envs, rollout_steps=a.rollout_steps,
                               episode_days=a.episode_days, log_std_init=a.log_std_init)
    train, valid, test = windows
    t0 = time.perf_counter()
    agent = train_agent(variant, train, valid, epochs=a.epochs, patience=a.patience, seed=seed,
                        settings=_settings(config, commission), config=agent_config)
    seconds = time.perf_counter() - t0
    frame = agent.run(test)
    steps = int(agent.curve["timesteps"].iloc[-1])
    info = {"train_seconds": seconds, "timesteps": steps, "steps_per_second": steps / seconds,
            "epochs": int(len(agent.curve)), "best_epoch": int(agent.best_epoch)}
    agent.save(where)
    io.write_json(where / "timing.json", info)
    io.write_parquet(where / "test_daily.parquet", frame)  # last: marks the agent done
    return frame, agent.curve, info


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
    return TrainedAgent.load(Path(run_dir) / "agents" / _slug(group) / f"c{commission:g}" / variant / f"seed{seed}")
