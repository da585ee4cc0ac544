"""Build the per-(date, ticker) feature frame from a prices frame.

Features are named specs resolved through a registry with checked names. Fixed names:

    technical   ma_5 ma_10 ma_20 rsi_14 macd macd_signal macd_hist
    momentum    mom_5 mom_10
    volatility  vol_5 vol_20 garch_vol range
    returns     ret_1 logret_lag_1 .. logret_lag_5
    volume      volume_log volume_change
    extra       every further numeric column of the prices frame, passed through

and parametric names `ma_<n>`, `rsi_<n>`, `mom_<k>`, `vol_<n>`, `logret_lag_<k>`
(e.g. "ma_7", "rsi_9", "vol_60"). The feature `price` (the level of the price column, e.g. the
close of day t for the LSTM forecaster of seed 004) belongs to no group and is selected by name
only. The `sentiment` group (daily sentiment index) is computed from texts by `build_samples`
(see `finfusion.features.sentiment`), not here. Definitions live in `finfusion.features.technical`
and `finfusion.features.garch`. All features are computed per ticker and are causal:
the value of day t uses only that ticker's rows <= t. Warm-up rows are NaN; use
`drop_warmup` to drop and count them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from finfusion.data.frames import PRICE_OPTIONAL, PRICE_REQUIRED, CleaningReport
from finfusion.errors import DataError
from finfusion.features import technical as ta
from finfusion.features.garch import garch_volatility

# One ticker's price history (rows in date order) and the price column name -> (T,) values.
FeatureFn = Callable[[pd.DataFrame, str], pd.Series]


@dataclass(frozen=True)
class FeatureSpec:
    """A resolved feature: its name, group, the columns it reads and how to compute it."""

    name: str
    group: str
    fn: FeatureFn
    needs: tuple[str, ...] = ()  # prices columns it needs besides the price column


FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "technical": ("ma_5", "ma_10", "ma_20", "rsi_14", "macd", "macd_signal", "macd_hist"),
    "momentum": ("mom_5", "mom_10"),
    "volatility": ("vol_5", "vol_20", "garch_vol", "range"),
    "returns": ("ret_1", *(f"logret_lag_{k}" for k in range(1, 6))),
    "volume": ("volume_log", "volume_change"),
    "extra": (),  # filled per frame: the extra numeric columns of the prices frame
}
SLOW_FEATURES = ("garch_vol",)  # left out of the default selection
BY_NAME_ONLY = ("price",)  # in no group: selected by name only (a price level is not a default feature)
TEXT_GROUPS = ("sentiment",)  # built from texts by build_samples (finfusion.features.sentiment)
PARAMETRIC = ("ma_<n>", "rsi_<n>", "mom_<k>", "vol_<n>", "logret_lag_<k>")


def _macd_column(column: str) -> FeatureFn:
    return lambda g, p: ta.macd_lines(g[p])[column]


def _garch(g: pd.DataFrame, p: str) -> pd.Series:
    returns = ta.log_returns(g[p])
    out = pd.Series(np.nan, index=g.index)
    out.iloc[1:] = garch_volatility(returns.iloc[1:]).to_numpy()
    return out


_FIXED: dict[str, FeatureSpec] = {
    spec.name: spec
    for spec in (
        FeatureSpec("price", "price", lambda g, p: g[p].astype("float64")),
        FeatureSpec("ret_1", "returns", lambda g, p: ta.simple_return(g[p])),
        FeatureSpec("macd", "technical", _macd_column("macd")),
        FeatureSpec("macd_signal", "technical", _macd_column("macd_signal")),
        FeatureSpec("macd_hist", "technical", _macd_column("macd_hist")),
        FeatureSpec("garch_vol", "volatility", _garch),
        FeatureSpec(
            "range", "volatility", lambda g, p: ta.price_range(g["high"], g["low"], g["close"]),
            needs=("high", "low", "close"),
        ),
        FeatureSpec("volume_log", "volume", lambda g, p: ta.volume_log(g["volume"]), needs=("volume",)),
        FeatureSpec("volume_change", "volume", lambda g, p: ta.volume_change(g["volume"]), needs=("volume",)),
    )
}

_PATTERNS: tuple[tuple[re.Pattern, str, Callable[[int], FeatureFn]], ...] = (
    (re.compile(r"ma_(\d+)"), "technical", lambda n: lambda g, p: ta.ma_ratio(g[p], n)),
    (re.compile(r"rsi_(\d+)"), "technical", lambda n: lambda g, p: ta.rsi(g[p], n)),
    (re.compile(r"mom_(\d+)"), "momentum", lambda n: lambda g, p: ta.momentum(g[p], n)),
    (re.compile(r"vol_(\d+)"), "volatility", lambda n: lambda g, p: ta.rolling_volatility(g[p], n)),
    (re.compile(r"logret_lag_(\d+)"), "returns", lambda n: lambda g, p: ta.log_return_lag(g[p], n)),
)


def known_features() -> list[str]:
    """The fixed feature names of the registry plus the parametric patterns."""
    return [name for names in FEATURE_GROUPS.values() for name in names] + list(BY_NAME_ONLY) + list(PARAMETRIC)


def _is_registry_name(name: str) -> bool:
    return name in _FIXED or any(pattern.fullmatch(name) for pattern, _, _ in _PATTERNS)


def resolve_feature(name: str, *, extra_columns: Sequence[str] = ()) -> FeatureSpec:
    """The spec of a feature name; `extra_columns` are the prices frame's extra columns.

    Raises ValueError naming the known features when the name is unknown."""
    if name in extra_columns:
        return FeatureSpec(name, "extra", lambda g, p, c=name: g[c].astype("float64"), needs=(name,))
    if name in _FIXED:
        return _FIXED[name]
    for pattern, group, make in _PATTERNS:
        match = pattern.fullmatch(name)
        if match:
            n = int(match.group(1))
            minimum = 2 if group == "volatility" else 1
            if n < minimum:
                raise ValueError(f"feature {name!r}: window must be >= {minimum}, got {n}")
            return FeatureSpec(name, group, make(n))
    raise ValueError(
        f"unknown feature {name!r}; known features: {', '.join(known_features())}"
        + (f"; extra columns of this prices frame: {', '.join(extra_columns)}" if extra_columns else "")
    )


def extra_columns(prices: pd.DataFrame) -> list[str]:
    """Numeric columns of `prices` beyond the schema's required and optional ones.
    Non-numeric extra columns are not features and are ignored."""
    known = set(PRICE_REQUIRED) | set(PRICE_OPTIONAL)
    return [
        c for c in prices.columns
        if c not in known and pd.api.types.is_numeric_dtype(prices[c]) and not pd.api.types.is_bool_dtype(prices[c])
    ]


def select_features(
    features: Iterable[str] | None = None,
    *,
    groups: Iterable[str] | None = None,
    exclude_groups: Iterable[str] | None = (),
    extra_columns: Sequence[str] = (),
) -> list[FeatureSpec]:
    """Resolve a selection to specs, in a stable order without duplicates.

    selection = named `features` + every feature of the named `groups`; with neither,
    every group except the slow features (garch_vol), plus the extra columns. Features
    of `exclude_groups` are then removed. Unknown group or feature names raise ValueError.
    """
    if isinstance(features, str):
        raise TypeError(f"features must be a list of names, got the string {features!r}")
    excluded = set(_check_groups(exclude_groups or (), "exclude_groups"))
    names: list[str] = list(features) if features is not None else []
    if groups is not None:
        for group in _check_groups(groups, "groups"):
            names += list(extra_columns) if group == "extra" else list(FEATURE_GROUPS[group])
    elif features is None:
        names = [n for g in FEATURE_GROUPS.values() for n in g if n not in SLOW_FEATURES]
        names += list(extra_columns)
    clashes = sorted(c for c in extra_columns if _is_registry_name(c))
    if clashes:
        raise DataError(f"prices columns {clashes} clash with feature names; rename them")
    specs: dict[str, FeatureSpec] = {}
    for name in names:
        spec = resolve_feature(name, extra_columns=extra_columns)
        if spec.group not in excluded:
            specs.setdefault(name, spec)
    if not specs:
        raise ValueError(
            f"no features selected (features={features!r}, groups={groups!r}, "
            f"exclude_groups={sorted(excluded)!r})"
        )
    return list(specs.values())


def _check_groups(groups: Iterable[str], argument: str) -> list[str]:
    if isinstance(groups, str):
        raise TypeError(f"{argument} must be a list of group names, got the string {groups!r}")
    groups = list(groups)
    unknown = [g for g in groups if g not in FEATURE_GROUPS]
    if unknown:
        hint = ""
        if set(unknown) & set(TEXT_GROUPS):
            hint = "; the 'sentiment' group is built from texts by build_samples (SampleSpec), not from prices"
        raise ValueError(f"{argument}: unknown group(s) {unknown}; known groups: {list(FEATURE_GROUPS)}{hint}")
    return groups


def build_features(
    prices: pd.DataFrame,
    features: Iterable[str] | None = None,
    *,
    groups: Iterable[str] | None = None,
    exclude_groups: Iterable[str] | None = (),
    price_column: str = "close",
    report: CleaningReport | None = None,
) -> pd.DataFrame:
    """Compute features per ticker.

    prices : prices frame (see finfusion.data.frames); sorted here by (ticker, date).
    features / groups / exclude_groups : the selection (see `select_features`).
    price_column : the price the return/trend features use ("close" or "adj_close").
    report : if given, non-finite values (e.g. +-inf from a zero price) that were set to
        NaN are recorded in it, one entry per feature (count = rows affected). No row is
        dropped here.

    Returns a frame with columns date, ticker and one float64 column per feature, one row
    per prices row, in (ticker, date) order with a fresh RangeIndex. Warm-up rows are NaN.
    """
    extras = extra_columns(prices)
    specs = select_features(features, groups=groups, exclude_groups=exclude_groups, extra_columns=extras)
    frame = _prepare(prices, specs, price_column)
    pieces = [_one_ticker(g, specs, price_column) for _, g in frame.groupby("ticker", sort=False)]
    values = pd.concat(pieces) if pieces else pd.DataFrame(columns=[s.name for s in specs], dtype="float64")
    out = pd.concat([frame[["date", "ticker"]], values.reindex(frame.index)], axis=1)
    _nonfinite_to_nan(out, [s.name for s in specs], report)
    return out.reset_index(drop=True)


def _prepare(prices: pd.DataFrame, specs: list[FeatureSpec], price_column: str) -> pd.DataFrame:
    """Check the columns the selection needs and return prices sorted by (ticker, date)."""
    needed = {"date", "ticker", price_column} | {c for s in specs for c in s.needs}
    missing = sorted(needed - set(prices.columns))
    if missing:
        users = sorted(s.name for s in specs if set(s.needs) & set(missing)) or ["price features"]
        raise DataError(f"prices frame lacks column(s) {missing}, needed by {users}; has {list(prices.columns)}")
    duplicated = prices.duplicated(["ticker", "date"])
    if duplicated.any():
        row = prices.loc[duplicated].iloc[0]
        raise DataError(
            f"prices frame has {int(duplicated.sum())} duplicate (ticker, date) row(s), "
            f"first: ticker={row['ticker']!r} date={row['date']}; expected one row per ticker and day"
        )
    return prices.sort_values(["ticker", "date"], kind="stable")


def _one_ticker(g: pd.DataFrame, specs: list[FeatureSpec], price_column: str) -> pd.DataFrame:
    """All selected features of one ticker's rows (in date order)."""
    columns = {s.name: s.fn(g, price_column).to_numpy(dtype="float64") for s in specs}
    return pd.DataFrame(columns, index=g.index)


def _nonfinite_to_nan(out: pd.DataFrame, names: list[str], report: CleaningReport | None) -> None:
    for name in names:
        bad = np.isinf(out[name].to_numpy())
        if bad.any():
            out.loc[bad, name] = np.nan
            if report is not None:
                examples = tuple(f"{t} {d}" for t, d in zip(out.loc[bad, "ticker"][:3], out.loc[bad, "date"][:3]))
                report.add("build_features", f"infinite {name} set to NaN", int(bad.sum()), examples)


def drop_warmup(frame: pd.DataFrame, report: CleaningReport | None = None) -> pd.DataFrame:
    """Drop the rows of a feature frame that have any NaN feature, and count them.

    frame : output of `build_features` (date, ticker, features), in (ticker, date) order.
    report : receives one entry per reason (step "features"):
        "warm-up" — rows before the ticker's first row with every feature defined;
        "missing <feature> after warm-up" — later rows, by their first NaN feature.
    Returns the remaining rows with a fresh RangeIndex.
    """
    names = [c for c in frame.columns if c not in ("date", "ticker")]
    nan = frame[names].isna().to_numpy()
    has_nan = nan.any(axis=1)
    if not has_nan.any():
        return frame.reset_index(drop=True)
    complete = pd.Series((~has_nan).astype("int8"), index=frame.index)
    complete_seen = complete.groupby(frame["ticker"], sort=False).cummax().to_numpy() > 0
    warmup = has_nan & ~complete_seen
    if report is not None:
        report.add("features", "warm-up", int(warmup.sum()), _examples(frame, warmup))
        later = has_nan & ~warmup
        first_nan = np.array(names, dtype=object)[nan.argmax(axis=1)]
        for name in names:
            rows = later & (first_nan == name)
            report.add("features", f"missing {name} after warm-up", int(rows.sum()), _examples(frame, rows))
    return frame.loc[~has_nan].reset_index(drop=True)


def _examples(frame: pd.DataFrame, mask: np.ndarray) -> tuple[str, ...]:
    rows = frame.loc[mask, ["ticker", "date"]].head(3)
    return tuple(f"{t} {d}" for t, d in zip(rows["ticker"], rows["date"]))
