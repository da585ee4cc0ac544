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

Prices may lack open / high / low / volume (only date, ticker and close are required). A
feature that reads a missing column (range: high, low; volume_log, volume_change: volume) is
left out and recorded as a `SkippedFeature` when it comes from a group or the default
selection, and refused (DataError naming it and the columns) when it is named in `features`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from finfusion.data.frames import PRICE_OPTIONAL, PRICE_REQUIRED, CleaningReport
from finfusion.errors import ConfigError, DataError
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


class SkippedFeature(NamedTuple):
    """A feature of a group or of the default selection left out because the prices frame lacks
    a column it reads; `reason` names the missing and the present columns."""

    feature: str
    reason: str


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

    Raises ConfigError naming the known features when the name is unknown."""
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
                raise ConfigError(f"feature {name!r}: window must be >= {minimum}, got {n}")
            return FeatureSpec(name, group, make(n))
    raise ConfigError(
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
    columns: Collection[str] | None = None,
    skipped: list[SkippedFeature] | None = None,
) -> list[FeatureSpec]:
    """Resolve a selection to specs, in a stable order without duplicates.

    selection = named `features` + every feature of the named `groups`; with neither,
    every group except the slow features (garch_vol), plus the extra columns. Features
    of `exclude_groups` are then removed. Unknown group or feature names raise ConfigError.
    columns : the prices frame's columns, if known. A feature that needs a column not among
        them raises DataError when named in `features`; one that came from a group or the
        default selection is left out and appended to `skipped` (pass a list to see them).
        A selection that loses every feature so raises DataError listing why.
    """
    if isinstance(features, str):
        raise TypeError(f"features must be a list of names, got the string {features!r}")
    excluded = set(_check_groups(exclude_groups or (), "exclude_groups"))
    features = list(features) if features is not None else None
    names: list[str] = list(features or ())
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
        raise ConfigError(
            f"no features selected (features={features!r}, groups={groups!r}, "
            f"exclude_groups={sorted(excluded)!r})"
        )
    if columns is None:
        return list(specs.values())
    return _available(list(specs.values()), set(features or ()), list(columns), skipped)


def _available(specs: list[FeatureSpec], named: set[str], columns: list[str],
               skipped: list[SkippedFeature] | None) -> list[FeatureSpec]:
    """The specs whose columns are all in `columns`; see `select_features`."""
    kept, left_out = [], []
    for spec in specs:
        missing = [c for c in spec.needs if c not in columns]
        if not missing:
            kept.append(spec)
        elif spec.name in named:
            raise DataError(f"feature {spec.name!r} (named in features) reads the prices column(s) {missing}, "
                            f"which the prices lack; columns present: {columns}. Supply the column(s) or "
                            f"remove {spec.name!r} from features")
        else:
            left_out.append(SkippedFeature(spec.name, f"group {spec.group}: needs the prices column(s) "
                                           f"{', '.join(missing)}, absent (present: {', '.join(columns)})"))
    if not kept:
        raise DataError("no feature of the selection can be computed from these prices: "
                        + "; ".join(f"{s.feature} ({s.reason})" for s in left_out))
    if skipped is not None:
        skipped.extend(left_out)
    return kept


def _check_groups(groups: Iterable[str], argument: str) -> list[str]:
    if isinstance(groups, str):
        raise TypeError(f"{argument} must be a list of group names, got the string {groups!r}")
    groups = list(groups)
    unknown = [g for g in groups if g not in FEATURE_GROUPS]
    if unknown:
        hint = ""
        if set(unknown) & set(TEXT_GROUPS):
            hint = "; the 'sentiment' group is built from texts by build_samples (SampleSpec), not from prices"
        raise ConfigError(f"{argument}: unknown group(s) {unknown}; known groups: {list(FEATURE_GROUPS)}{hint}")
    return groups


def build_features(
    prices: pd.DataFrame,
    features: Iterable[str] | None = None,
    *,
    groups: Iterable[str] | None = None,
    exclude_groups: Iterable[str] | None = (),
    price_column: str = "close",
    report: CleaningReport | None = None,
    skipped: list[SkippedFeature] | None = None,
) -> pd.DataFrame:
    """Compute features per ticker.

    prices : prices frame (see finfusion.data.frames); sorted here by (ticker, date).
    features / groups / exclude_groups : the selection (see `select_features`); a group or
        default feature whose prices columns are missing is left out and appended to `skipped`
        (pass a list to see them), a named one raises DataError.
    price_column : the price the return/trend features use ("close" or "adj_close").
    report : if given, non-finite values (e.g. +-inf from a zero price) that were set to
        NaN are recorded in it, one entry per feature (count = rows affected). No row is
        dropped here.

    Returns a frame with columns date, ticker and one float64 column per feature, one row
    per prices row, in (ticker, date) order with a fresh RangeIndex. Warm-up rows are NaN.
    """
    extras = extra_columns(prices)
    specs = select_features(features, groups=groups, exclude_groups=exclude_groups, extra_columns=extras,
                            columns=list(prices.columns), skipped=skipped)
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


WARMUP = "warm-up: "  # reason prefix of drop_warmup's warm-up record


def drop_warmup(frame: pd.DataFrame, report: CleaningReport | None = None) -> pd.DataFrame:
    """Drop the rows of a feature frame that have any NaN feature, and count them.

    frame : output of `build_features` (date, ticker, features), in (ticker, date) order.
    report : receives one entry per reason (step "features"):
        "warm-up: <cause>" — rows before the ticker's first row with every feature defined; the
            cause names the feature(s) with the longest warm-up, its length in rows and how to
            shorten it (read it with `warmup_cause(report)`);
        "missing <feature> after warm-up" — later rows, by their first NaN feature.
    Returns the remaining rows with a fresh RangeIndex.
    """
    names = [c for c in frame.columns if c not in ("date", "ticker")]
    nan = frame[names].isna().to_numpy()
    has_nan = nan.any(axis=1)
    if not has_nan.any():
        return frame.reset_index(drop=True)
    warmup = warmup_mask(frame, has_nan)
    if report is not None:
        report.add("features", WARMUP + warmup_reason(frame, names, nan, warmup), int(warmup.sum()),
                   _examples(frame, warmup))
        later = has_nan & ~warmup
        first_nan = np.array(names, dtype=object)[nan.argmax(axis=1)]
        for name in names:
            rows = later & (first_nan == name)
            report.add("features", f"missing {name} after warm-up", int(rows.sum()), _examples(frame, rows))
    return frame.loc[~has_nan].reset_index(drop=True)


def warmup_mask(frame: pd.DataFrame, has_nan: np.ndarray) -> np.ndarray:
    """(n,) bool: rows before their ticker's first row without NaN (`has_nan` False); frame in
    (ticker, date) order."""
    complete = pd.Series((~has_nan).astype("int8"), index=frame.index)
    complete_seen = complete.groupby(frame["ticker"], sort=False).cummax().to_numpy() > 0
    return has_nan & ~complete_seen


def warmup_cause(report: CleaningReport) -> str | None:
    """The cause of the feature warm-up recorded in `report` by `drop_warmup` (or the samples'
    look-back stacking), e.g. "first 251 rows per ticker, set by garch_vol (...)"; None if no
    warm-up rows were dropped."""
    for d in report.dropped:
        if d.step == "features" and d.reason.startswith(WARMUP):
            return d.reason[len(WARMUP):]
    return None


def warmup_reason(frame: pd.DataFrame, names: list[str], nan: np.ndarray, warmup: np.ndarray) -> str:
    """Which features set the warm-up (rows per ticker), and how to shorten it.

    nan (n, d): NaN mask of the feature columns `names`; warmup (n,): the warm-up rows.
    """
    lengths: dict[str, int] = {}
    setters: dict[str, list[str]] = {}
    lost: list[str] = []
    blocking: set[str] = set()  # features never defined on a ticker that lost all its rows
    for ticker, pos in frame.groupby("ticker", sort=False).indices.items():
        w = int(warmup[pos].sum())
        if w == len(pos):  # no complete row: the features still undefined at its last row block it
            never = [n for n, bad in zip(names, nan[pos[-1]]) if bad]
            blocking.update(never)
            lost.append(f"{ticker} ({len(pos)} rows; {', '.join(never)} undefined)")
        elif w:
            lengths[str(ticker)] = w
            setters[str(ticker)] = [n for n, bad in zip(names, nan[pos[w - 1]]) if bad]
    tail = ""
    if lost:
        tail = f"; {len(lost)} ticker(s) lost all their rows: " + "; ".join(lost[:3])
        tail += f"; and {len(lost) - 3} more" if len(lost) > 3 else ""
        tail += " (" + "; ".join(dict.fromkeys(warmup_note(n) for n in names if n in blocking)) + ")"
    if not lengths:
        return "no row of these tickers has every feature defined" + tail
    lo, hi = min(lengths.values()), max(lengths.values())
    longest = [n for n in names if any(n in setters[t] for t, w in lengths.items() if w == hi)]
    notes = "; ".join(dict.fromkeys(warmup_note(n) for n in longest))
    span = (f"first {hi} rows per ticker, set by" if lo == hi
            else f"first {lo}-{hi} rows per ticker; the longest ({hi} rows) set by")
    return f"{span} {', '.join(longest)} ({notes})" + tail


def warmup_note(name: str) -> str:
    """Why the feature `name` is undefined on its first rows, and how to shorten that."""
    if name.startswith("sent_"):
        return (f"{name} has no value before the ticker's first text with fill='ffill'; "
                "fill='zero' or 'neutral' has no warm-up")
    if name in ("macd", "macd_signal", "macd_hist"):
        return ("MACD 12/26/9: macd needs 25 earlier rows, macd_signal and macd_hist 33; the windows are "
                "fixed - leave out the macd features to shorten it")
    if name == "garch_vol":
        return ("garch_vol needs min_obs=250 daily returns (251 rows) of history before its first GARCH(1,1) "
                "fit; the window is fixed - leave out garch_vol to shorten it")
    if name in ("ret_1", "volume_change"):
        return f"{name} needs the previous row"
    for pattern, template in _WARMUP_NOTES:
        match = pattern.fullmatch(name)
        if match:
            n = int(match.group(1))
            return template.format(name=name, n=n, k1=n - 1, n1=n + 1)
    if _is_registry_name(name) or name in BY_NAME_ONLY:
        return f"{name} is undefined on these rows (the price data have gaps there)"
    return f"extra column {name} of the prices is missing (NaN) on these rows"


_WARMUP_NOTES: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"ma_(\d+)"), "{name} (n={n}) compares the price with its {n}-row moving average, defined "
     "from row {n} on; a smaller n in ma_<n> shortens it"),
    (re.compile(r"rsi_(\d+)"), "{name} (n={n}) needs {n} price changes, defined from row {n1} on; a smaller n "
     "in rsi_<n> shortens it"),
    (re.compile(r"mom_(\d+)"), "{name} (k={n}) compares with the price {n} rows earlier; a smaller k in "
     "mom_<k> shortens it"),
    (re.compile(r"vol_(\d+)"), "{name} (n={n}) is the volatility of the last {n} daily returns (needs {n} "
     "earlier rows); a smaller n (>= 2) in vol_<n> shortens it"),
    (re.compile(r"logret_lag_(\d+)"), "{name} (k={n}) is the log return that ended {k1} rows earlier (needs "
     "{n} earlier rows); a smaller k in logret_lag_<k> shortens it"),
)


def _examples(frame: pd.DataFrame, mask: np.ndarray) -> tuple[str, ...]:
    rows = frame.loc[mask, ["ticker", "date"]].head(3)
    return tuple(f"{t} {d}" for t, d in zip(rows["ticker"], rows["date"]))
