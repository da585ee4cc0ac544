"""The multimodal market simulator of seed 000 §3.1 (eq. 28-29), in finfusion's input format.

Per ticker and trading day t (weekdays from `start`; no holiday calendar):

    x_t = rho * x_{t-1} + eps_t,  eps_t ~ N(0, Sigma), Sigma_ii = 1, Sigma_ij = corr   (eq. 28)
    y_t = beta1' x_t + beta2' sin(x_t) + gamma * sentiment_t + intercept + e_t,
          sentiment_t ~ U(-a, a), e_t ~ N(0, sigma^2)                                 (eq. 29)

* x starts in its stationary law, x_0 ~ N(0, Sigma / (1 - rho^2)), so there is no burn-in and
  every day has the same distribution (stationary feature correlation = corr).
* beta1, beta2 ~ U(-beta_scale, beta_scale), drawn once from `beta_seed` (default: `seed`) and
  shared by all tickers.
* sigma^2 = Var(signal) / snr with the *analytic* variance of the non-noise part:
  Var(beta1'x + beta2' sin x) in closed form for Gaussian x (see `numeric_variance`) plus
  gamma^2 a^2 / 3 for the text part (the two are independent).
* y_t is the return of the next trading day: close_{t+1} = close_t (1 + return_scale * y_t), so
  the pipeline target (close_{t+1} - close_t) / close_t equals return_scale * y_t (to float
  rounding). The last day's y has no next close in `prices` (n_days - 1 usable samples).
  With the paper's intercept 0.5 the mean daily return is +0.5 % (at return_scale 0.01), so
  closes grow by several orders of magnitude over 3000 days; returns are scale-free.
  Open/high/low are noise around the closes (gap_vol, intraday_vol); volume is lognormal noise.
* Features x1..xd are extra numeric columns of the prices frame, known at the close of day t.
* Texts: every (ticker, day) gets `texts_per_day` headlines timestamped between
  `first_text_time` and `close_time` (tz-aware, default 08:00-16:00 America/New_York), written by
  `finfusion.data.simtext`. With `text_prob` < 1 a day has no text with probability
  1 - text_prob; its sentiment still moves y, and `attainable_mse` accounts for it.

Presets: "paper" uses gamma = 0.25 literally (the text term is then only a few percent of the
signal); "informative" (default) sets gamma so that the text term is `text_share` = 1/3 of the
signal variance (numeric part 2/3), snr kept at 0.5.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.signal import lfilter

from finfusion.data import simtext
from finfusion.errors import ConfigError
from finfusion.io import atomic_write, output_dir, write_json, write_parquet, write_text
from finfusion.seeding import derive_seed

__all__ = [
    "SimulatedMarket", "SimulatorConfig", "numeric_variance", "simulate_market", "write_market",
]

_TICKER_RE = re.compile(r"^[A-Za-z0-9.\-]{1,12}$")
PAPER_GAMMA = 0.25
INFORMATIVE_TEXT_SHARE = 1.0 / 3.0


class SimulatorConfig(BaseModel):
    """Every parameter of the simulated market; unknown keys and bad values fail validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, ge=0,
        description="Seed of every random stream (features, sentiment, noise, prices, texts).")
    preset: Literal["informative", "paper"] = Field(
        "informative",
        description="'paper': gamma = 0.25 as in seed 000; 'informative': gamma set so that the "
        "text term is `text_share` (default 1/3) of the signal variance.")
    n_tickers: int = Field(1, ge=1, le=10_000, description="Number of simulated stocks.")
    tickers: tuple[str, ...] | None = Field(None,
        description="Ticker symbols (default: fake names, then SIM<i>).")
    start: date = Field(date(2020, 1, 1),
        description="First calendar day; trading days are the weekdays from here.")
    n_days: int = Field(3000, ge=2, le=200_000, description="Trading days per ticker (samples N).")
    n_features: int = Field(6, ge=1, le=512, description="Feature dimension d (columns x1..xd).")
    rho: float = Field(0.6, gt=-1.0, lt=1.0, description="AR(1) coefficient of the features.")
    corr: float = Field(0.3, gt=-1.0, lt=1.0,
        description="Off-diagonal of the innovation covariance Sigma (diagonal 1).")
    beta_scale: float = Field(1.0, ge=0.0, description="beta1, beta2 ~ U(-beta_scale, beta_scale).")
    beta_seed: int | None = Field(None, ge=0,
        description="Seed of the beta draw (default: seed); fix it to keep beta across repeats.")
    beta1: tuple[float, ...] | None = Field(None,
        description="Explicit linear coefficients (length n_features).")
    beta2: tuple[float, ...] | None = Field(None,
        description="Explicit sin coefficients (length n_features).")
    gamma: float | None = Field(None,
        description="Sentiment coefficient; default from the preset (exclusive with text_share).")
    text_share: float | None = Field(None, ge=0.0, lt=1.0,
        description="Share of the signal variance carried by the text term; sets gamma.")
    sentiment_scale: float = Field(2.0, gt=0.0,
        description="sentiment ~ U(-sentiment_scale, sentiment_scale).")
    intercept: float = Field(0.5, description="Constant of eq. 29.")
    snr: float = Field(0.5, gt=0.0, description="Var(signal) / sigma^2.")
    return_scale: float = Field(0.01, gt=0.0, description="Next-day simple return = return_scale * y.")
    initial_price: float = Field(100.0, gt=0.0, description="Close of the first day.")
    gap_vol: float = Field(0.002, ge=0.0, le=1.0, description="Std of log(open_t / close_{t-1}).")
    intraday_vol: float = Field(0.005, ge=0.0, le=1.0,
        description="Scale of high/low beyond max/min(open, close), in log units.")
    mean_volume: float = Field(1e6, gt=0.0, description="Typical daily volume (lognormal around it).")
    text_mode: Literal["informative", "random"] = Field(
        "informative",
        description="'informative': wording encodes the sentiment grade; 'random': "
        "semantics-free words (as in seed 000).")
    texts_per_day: int = Field(1, ge=1, le=50,
        description="Headlines per (ticker, day), each encoding that day's sentiment grade.")
    n_distractors: int = Field(1, ge=0, le=20,
        description="Sentiment-free sentences per headline (informative mode).")
    distractor_mode: Literal["append", "separate"] = Field(
        "append",
        description="'append': distractors follow the headline in the same text; 'separate': "
        "each is its own text.")
    text_prob: float = Field(1.0, ge=0.0, le=1.0,
        description="Probability that a (ticker, day) has texts; sentiment moves y either way.")
    random_text_words: tuple[int, int] = Field((8, 16),
        description="Min and max words of a random-mode text.")
    timezone: str = Field("America/New_York", description="Exchange time zone of text timestamps.")
    first_text_time: time = Field(time(8, 0), description="Earliest local publication time of a day's texts.")
    close_time: time = Field(time(16, 0),
        description="Market close; every text is published strictly before it.")

    @model_validator(mode="before")
    @classmethod
    def _tickers_set_count(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("tickers") is not None and "n_tickers" not in data:
            data = {**data, "n_tickers": len(data["tickers"])}
        return data

    @model_validator(mode="after")
    def _check(self) -> SimulatorConfig:
        d = self.n_features
        if d > 1 and not -1.0 / (d - 1) < self.corr:
            raise ValueError(f"corr={self.corr} makes Sigma singular or indefinite for n_features={d}; "
                             f"expected corr > {-1.0 / (d - 1):.4f}")
        for name in ("beta1", "beta2"):
            v = getattr(self, name)
            if v is not None and len(v) != d:
                raise ValueError(f"{name} has {len(v)} values; expected n_features={d}")
        if self.gamma is not None and self.text_share is not None:
            raise ValueError("give gamma or text_share, not both (text_share sets gamma)")
        self._check_tickers()
        if self.start.toordinal() + self.n_days * 7 // 5 + 7 > date(2262, 1, 1).toordinal():
            raise ValueError(f"start={self.start} with n_days={self.n_days} runs past 2262, the end of "
                             "datetime64[ns]; use an earlier start or fewer n_days")
        lo, hi = self.random_text_words
        if not 1 <= lo <= hi <= 1000:
            raise ValueError(f"random_text_words={self.random_text_words}; expected 1 <= min <= max <= 1000")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone={self.timezone!r} is not an IANA time zone name") from exc
        if not self.first_text_time < self.close_time:
            raise ValueError(f"first_text_time={self.first_text_time} must be before "
                             f"close_time={self.close_time}")
        return self

    def _check_tickers(self) -> None:
        if self.tickers is None:
            return
        if len(self.tickers) != self.n_tickers:
            raise ValueError(f"tickers has {len(self.tickers)} names but n_tickers={self.n_tickers}")
        bad = [t for t in self.tickers if not _TICKER_RE.match(t)]
        if bad:
            raise ValueError(f"tickers {bad[:3]} are not symbols; expected 1-12 of A-Z a-z 0-9 . -")
        if len(set(self.tickers)) != len(self.tickers):
            raise ValueError(f"tickers contains duplicates: {self.tickers}")


@dataclass(frozen=True, eq=False)
class SimulatedMarket:
    """A simulated market: the two input frames plus the ground truth.

    prices: prices frame (date, ticker, open, high, low, close, volume, x1..xd).
    texts: texts frame (timestamp tz-aware, ticker, text, source="sim").
    truth: date, ticker, sentiment, grade, n_texts, numeric_part, text_part, noise, y, target
        (target = return_scale * y, the simple return from close of day t to close of day t+1).
    beta1, beta2: (d,) coefficients; gamma: the sentiment coefficient used; sigma: noise std of y.
    noise_floor: (return_scale * sigma)^2, irreducible MSE of the target (fraction units).
    attainable_mse: lowest MSE reachable from the observable inputs (adds the text term's part
        that the texts cannot reveal: grade rounding, days without text, random-mode text).
    variance_shares: analytic shares of Var(y) of 'numeric', 'text' and 'noise'.
    """

    prices: pd.DataFrame
    texts: pd.DataFrame
    truth: pd.DataFrame
    beta1: np.ndarray
    beta2: np.ndarray
    gamma: float
    sigma: float
    noise_floor: float
    attainable_mse: float
    variance_shares: dict[str, float]
    config: SimulatorConfig

    def summary(self) -> dict[str, Any]:
        """Key numbers as plain JSON-able values."""
        t = self.truth
        var = {k: float(t[c].var()) for k, c in
               (("numeric", "numeric_part"), ("text", "text_part"), ("noise", "noise"))}
        total = sum(var.values())
        cond_mean = self.config.intercept + t["numeric_part"] + t["text_part"]
        return {
            "n_tickers": self.config.n_tickers, "n_days": self.config.n_days,
            "n_features": self.config.n_features, "n_texts": len(self.texts),
            "preset": self.config.preset, "text_mode": self.config.text_mode,
            "gamma": self.gamma, "sigma": self.sigma, "noise_floor": self.noise_floor,
            "attainable_mse": self.attainable_mse, "variance_shares": dict(self.variance_shares),
            "empirical_variance_shares": {k: v / total for k, v in var.items()},
            "empirical_noise_mse": float(((t["y"] - cond_mean) * self.config.return_scale).pow(2).mean()),
            "target_mean": float(t["target"].mean()), "target_std": float(t["target"].std()),
            "first_date": str(self.prices["date"].min().date()),
            "last_date": str(self.prices["date"].max().date()),
            "close_min": float(self.prices["close"].min()), "close_max": float(self.prices["close"].max()),
        }


def _rng(seed: int, *keys: int | str) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *keys))


def innovation_cov(n_features: int, corr: float) -> np.ndarray:
    """Sigma: (d, d) with 1 on the diagonal and `corr` elsewhere."""
    return np.full((n_features, n_features), corr) + (1.0 - corr) * np.eye(n_features)


def numeric_variance(beta1: np.ndarray, beta2: np.ndarray, rho: float, corr: float) -> float:
    """Analytic Var(beta1'x + beta2' sin x) for stationary x ~ N(0, C), C = Sigma / (1 - rho^2).

    Gaussian identities: Cov(x_i, sin x_j) = C_ij exp(-C_jj / 2) (Stein's lemma) and
    E[sin x_i sin x_j] = exp(-(C_ii + C_jj) / 2) sinh(C_ij); E[sin x] = 0.
    """
    c = innovation_cov(len(beta1), corr) / (1.0 - rho**2)
    v = np.diag(c)
    cov_x_sin = c * np.exp(-v / 2.0)[None, :]
    cov_sin = np.exp(-(v[:, None] + v[None, :]) / 2.0) * np.sinh(c)
    return float(beta1 @ c @ beta1 + 2.0 * beta1 @ cov_x_sin @ beta2 + beta2 @ cov_sin @ beta2)


def draw_betas(config: SimulatorConfig) -> tuple[np.ndarray, np.ndarray]:
    """beta1, beta2 (each (d,)): the explicit ones, else U(-beta_scale, beta_scale) from beta_seed."""
    rng = _rng(config.seed if config.beta_seed is None else config.beta_seed, "beta")
    s, d = config.beta_scale, config.n_features
    b1, b2 = rng.uniform(-s, s, d), rng.uniform(-s, s, d)
    if config.beta1 is not None:
        b1 = np.asarray(config.beta1, dtype=float)
    if config.beta2 is not None:
        b2 = np.asarray(config.beta2, dtype=float)
    return b1, b2


def resolve_gamma(config: SimulatorConfig, var_numeric: float) -> float:
    """gamma: explicit, else calibrated to text_share, else the preset's choice."""
    if config.gamma is not None:
        return float(config.gamma)
    share = config.text_share
    if share is None and config.preset == "paper":
        return PAPER_GAMMA
    share = INFORMATIVE_TEXT_SHARE if share is None else share
    var_sent = config.sentiment_scale**2 / 3.0
    return float(np.sqrt(share / (1.0 - share) * var_numeric / var_sent))


def _features(config: SimulatorConfig, k: int) -> np.ndarray:
    """(n_days, d) AR(1) path of ticker k, started in the stationary law."""
    chol = np.linalg.cholesky(innovation_cov(config.n_features, config.corr))
    eps = _rng(config.seed, "x", k).standard_normal((config.n_days, config.n_features)) @ chol.T
    eps[0] /= np.sqrt(1.0 - config.rho**2)  # x_0 ~ N(0, Sigma / (1 - rho^2))
    return lfilter([1.0], [1.0, -config.rho], eps, axis=0)


def _ohlcv(config: SimulatorConfig, growth: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """open/high/low/close/volume of ticker k with close_{t+1} = close_t * growth_t."""
    n = config.n_days
    close = config.initial_price * np.concatenate(([1.0], np.cumprod(growth[:-1])))
    if not (np.isfinite(close).all() and (close > 0).all()):
        raise ConfigError(f"simulated closes of ticker #{k} left (0, inf) (max {np.nanmax(close):.3g});"
                          f" use a smaller return_scale (got {config.return_scale}) or fewer n_days")
    rng = _rng(config.seed, "ohlcv", k)
    prev = np.concatenate(([close[0]], close[:-1]))
    open_ = prev * np.exp(rng.normal(0.0, config.gap_vol, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, config.intraday_vol, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, config.intraday_vol, n)))
    volume = np.maximum(1.0, np.round(config.mean_volume * rng.lognormal(-0.045, 0.3, n)))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _ticker_names(config: SimulatorConfig) -> tuple[list[str], list[str]]:
    if config.tickers is None:
        pairs = simtext.default_tickers(config.n_tickers)
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return list(config.tickers), [simtext.company_name(t) for t in config.tickers]


def _simulate_ticker(config: SimulatorConfig, k: int, b1: np.ndarray, b2: np.ndarray, gamma: float,
                     sigma: float, ticker: str) -> dict[str, np.ndarray]:
    """Columns (n_days each) of ticker k: OHLCV, x1..xd and the truth columns."""
    x = _features(config, k)
    a = config.sentiment_scale
    sent = _rng(config.seed, "sentiment", k).uniform(-a, a, config.n_days)
    noise = _rng(config.seed, "noise", k).normal(0.0, sigma, config.n_days)
    numeric = x @ b1 + np.sin(x) @ b2
    y = numeric + gamma * sent + config.intercept + noise
    growth = 1.0 + config.return_scale * y
    if not (growth > 0).all():
        worst = float(y.min())
        raise ConfigError(f"return_scale={config.return_scale} gives a daily return of "
                          f"{config.return_scale * worst:.3f} <= -100% for ticker {ticker}; use a "
                          f"smaller return_scale (< {-0.5 / worst:.4g})")
    cols = _ohlcv(config, growth, k)
    cols.update({f"x{j + 1}": x[:, j] for j in range(config.n_features)})
    cols.update({
        "sentiment": sent, "grade": simtext.sentiment_grade(sent, a), "numeric_part": numeric,
        "text_part": gamma * sent, "noise": noise, "y": y, "target": config.return_scale * y,
    })
    return cols


def _texts_of_ticker(config: SimulatorConfig, k: int, grades: np.ndarray, ticker: str,
                     name: str) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Texts of ticker k: (day index, local second of the day, text) per text, time-sorted,
    and the number of sentiment-bearing texts per day."""
    rng = _rng(config.seed, "text", k)
    n = config.n_days
    has = rng.random(n) < config.text_prob if config.text_prob < 1.0 else np.ones(n, bool)
    days = np.flatnonzero(has)
    separate = config.distractor_mode == "separate" and config.text_mode == "informative"
    n_sep = config.n_distractors if separate else 0
    day_idx = np.repeat(days, config.texts_per_day + n_sep)
    kind = np.tile(np.r_[np.zeros(config.texts_per_day, np.int64), np.ones(n_sep, np.int64)], len(days))
    if config.text_mode == "informative":
        slots = simtext.TextSlots(np.zeros(len(day_idx), np.int64), grades[day_idx], kind)
        text = simtext.informative_texts(slots, [ticker], [name], config.n_distractors,
                                         config.distractor_mode == "append", rng)
    else:
        text = simtext.random_texts(len(day_idx), *config.random_text_words, rng)
    secs = rng.integers(_seconds(config.first_text_time), _seconds(config.close_time), len(day_idx))
    order = np.lexsort((secs, day_idx))
    n_texts = np.zeros(n, np.int64)
    n_texts[days] = config.texts_per_day
    return day_idx[order], secs[order], [text[i] for i in order], n_texts


def _texts_frame(config: SimulatorConfig, dates: np.ndarray, parts: list[tuple[str, tuple]]) -> pd.DataFrame:
    """One texts frame from the per-ticker (ticker, _texts_of_ticker output) parts."""
    day_idx = np.concatenate([p[1][0] for p in parts])
    secs = np.concatenate([p[1][1] for p in parts])
    local = pd.DatetimeIndex(dates[day_idx]) + pd.to_timedelta(secs, unit="s")
    stamps = local.tz_localize(config.timezone, ambiguous=False, nonexistent="shift_forward")
    return pd.DataFrame({
        "timestamp": stamps.as_unit("ns"),
        "ticker": np.repeat([p[0] for p in parts], [len(p[1][0]) for p in parts]),
        "text": [s for p in parts for s in p[1][2]], "source": "sim",
    })


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _attainable_mse(config: SimulatorConfig, gamma: float, sigma: float) -> float:
    """MSE of the best predictor given x_t and the texts (target units)."""
    var_sent = config.sentiment_scale**2 / 3.0
    if config.text_mode == "random":
        hidden = var_sent
    else:
        width = 2.0 * config.sentiment_scale / simtext.N_GRADES
        hidden = config.text_prob * width**2 / 12.0 + (1.0 - config.text_prob) * var_sent
    return float(config.return_scale**2 * (sigma**2 + gamma**2 * hidden))


def simulate_market(config: SimulatorConfig | None = None) -> SimulatedMarket:
    """Simulate prices, texts and ground truth for `config` (default SimulatorConfig())."""
    config = SimulatorConfig() if config is None else config
    b1, b2 = draw_betas(config)
    var_num = numeric_variance(b1, b2, config.rho, config.corr)
    gamma = resolve_gamma(config, var_num)
    var_text = gamma**2 * config.sentiment_scale**2 / 3.0
    var_noise = (var_num + var_text) / config.snr
    sigma = float(np.sqrt(var_noise))
    total = var_num + var_text + var_noise
    dates = pd.bdate_range(pd.Timestamp(config.start), periods=config.n_days).as_unit("ns").to_numpy()
    tickers, names = _ticker_names(config)
    cols: list[dict[str, np.ndarray]] = []
    text_parts = []
    for k in sorted(range(len(tickers)), key=tickers.__getitem__):  # frames sorted by ticker
        c = _simulate_ticker(config, k, b1, b2, gamma, sigma, tickers[k])
        *text_part, c["n_texts"] = _texts_of_ticker(config, k, c["grade"], tickers[k], names[k])
        cols.append(c)
        text_parts.append((tickers[k], tuple(text_part)))
    key = {"date": np.tile(dates, len(tickers)), "ticker": np.repeat(sorted(tickers), config.n_days)}
    stacked = {name: np.concatenate([c[name] for c in cols]) for name in cols[0]}
    price_cols = ["open", "high", "low", "close", "volume"] + [f"x{j + 1}" for j in range(config.n_features)]
    truth_cols = ["sentiment", "grade", "n_texts", "numeric_part", "text_part", "noise", "y", "target"]
    return SimulatedMarket(
        prices=pd.DataFrame({**key, **{c: stacked[c] for c in price_cols}}),
        texts=_texts_frame(config, dates, text_parts),
        truth=pd.DataFrame({**key, **{c: stacked[c] for c in truth_cols}}),
        beta1=b1, beta2=b2, gamma=gamma, sigma=sigma,
        noise_floor=float((config.return_scale * sigma) ** 2),
        attainable_mse=_attainable_mse(config, gamma, sigma),
        variance_shares={"numeric": var_num / total, "text": var_text / total, "noise": var_noise / total},
        config=config,
    )


def _texts_jsonl(texts: pd.DataFrame) -> str:
    stamps = [ts.isoformat() for ts in texts["timestamp"]]
    rows = zip(stamps, texts["ticker"], texts["text"], texts["source"], strict=True)
    return "".join(json.dumps({"timestamp": s, "ticker": t, "text": x, "source": src},
                              ensure_ascii=False) + "\n" for s, t, x, src in rows)


def write_market(market: SimulatedMarket, out_dir: str | Path, *,
                 fmt: Literal["csv", "parquet"] = "csv", overwrite: bool = False) -> dict[str, Path]:
    """Write prices, texts, truth and meta.json under `out_dir`, each file atomically. `out_dir`
    must be new or empty unless `overwrite` (files of the same names are then replaced).

    csv: prices.csv / truth.csv (date as YYYY-MM-DD) and texts.jsonl (timestamp ISO 8601 with
    UTC offset); parquet: prices.parquet, texts.parquet, truth.parquet. meta.json (written last)
    holds the config, betas, gamma, sigma, noise floor, attainable MSE and variance shares.
    Returns {name: path}.
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"fmt={fmt!r}; expected 'csv' or 'parquet'")
    out = output_dir(out_dir, overwrite=overwrite, what="simulate output directory")
    paths: dict[str, Path] = {}
    if fmt == "csv":
        for name, frame in (("prices", market.prices), ("truth", market.truth)):
            paths[name] = atomic_write(out / f"{name}.csv", lambda p, f=frame: f.to_csv(
                p, index=False, date_format="%Y-%m-%d"))
        paths["texts"] = write_text(out / "texts.jsonl", _texts_jsonl(market.texts))
    else:
        for name, frame in (("prices", market.prices), ("texts", market.texts), ("truth", market.truth)):
            paths[name] = write_parquet(out / f"{name}.parquet", frame)
    meta = {
        "config": market.config.model_dump(mode="json"), "format": fmt,
        "files": {k: p.name for k, p in paths.items()},
        "beta1": market.beta1.tolist(), "beta2": market.beta2.tolist(),
        "gamma": market.gamma, "sigma": market.sigma, "noise_floor": market.noise_floor,
        "attainable_mse": market.attainable_mse, "variance_shares": market.variance_shares,
        "summary": market.summary(),
    }
    paths["meta"] = write_json(out / "meta.json", meta)
    return paths
