"""What differential privacy costs and what it buys: a privacy-utility table with a
membership-inference attack per privacy budget ε.

* **Cost**: the model is fit once per ε (and seed) on `train` and scored on `test`: AUC, F1,
  accuracy (and any extra metrics, e.g. a PnL, through `extra_metrics`).
* **Benefit**: a loss-threshold membership-inference attack (Yeom et al. 2018). The attacker
  sees a row and the model's loss on it, and guesses "member" (the row was in `train`) when the
  loss is low. Members are training rows, non-members held-out rows, equally many (the larger
  set is subsampled). The attacker's *advantage* is TPR − FPR (= 2·balanced accuracy − 1):
  0 means the attacker learns nothing, 1 means membership is revealed exactly.
  `mia_advantage` takes the best threshold in hindsight (an upper estimate: the attacker is
  handed the best threshold), `mia_advantage_yeom` the threshold of Yeom et al. (the mean
  training loss), `mia_auc` the area under the attack's ROC curve (0.5 = chance).
* **Theory**: an (ε, δ)-DP training algorithm bounds any attacker's advantage by
  (e^ε − 1 + 2δ) / (e^ε + 1) (from TPR <= e^ε·FPR + δ applied to both error types;
  Kairouz et al. 2015, Humphries et al. 2020): column `mia_bound`.

Caveats when reading the table: with n members the empirical advantage of a useless attacker is
still about 1/sqrt(n) (sampling noise, worse for the best-in-hindsight threshold); held-out rows
from a later period differ in distribution as well as in membership, which an attacker also
picks up; DP bounds the attack only for the rows the guarantee covers (the scaler is not
covered, see models/dp.py and models/dp_linear.py). A shadow-model attack (Shokri et al. 2017)
is not implemented: the loss-threshold attack is within a few points of it on such models and
needs no extra fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from finfusion.errors import ConfigError
from finfusion.models.base import Predictor, Samples
from finfusion.models.registry import make_predictor

EPSILONS: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, math.inf)
# The parameter that sets ε per DP model; ε = ∞ maps to None (non-private fit of the same model).
EPSILON_PARAMS: dict[str, str] = {"dp_mlp": "target_epsilon", "dp_logistic": "epsilon"}
ExtraMetrics = Callable[[Samples, np.ndarray], Mapping[str, float]]


@dataclass(frozen=True)
class AttackResult:
    """A membership-inference attack on equally many members and non-members.

    advantage       max over thresholds of TPR − FPR (best threshold in hindsight).
    advantage_yeom  TPR − FPR at Yeom et al.'s threshold (mean member loss).
    auc             area under the attack's ROC curve (0.5 = chance).
    threshold       the loss threshold of `advantage` (guess "member" when loss <= threshold).
    n               members (= non-members) attacked.
    """

    advantage: float
    advantage_yeom: float
    auc: float
    threshold: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def dp_advantage_bound(epsilon: float, delta: float = 0.0) -> float:
    """Largest membership advantage TPR − FPR an (ε, δ)-DP algorithm allows: (e^ε − 1 + 2δ)/(e^ε + 1), <= 1."""
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ValueError(f"need epsilon >= 0 and delta in [0, 1], got epsilon={epsilon}, delta={delta}")
    if math.isinf(epsilon):
        return 1.0
    return min(1.0, (math.expm1(epsilon) + 2 * delta) / (math.exp(epsilon) + 1))


def per_sample_loss(model: Predictor, data: Samples) -> np.ndarray:
    """Cross-entropy −log p(y_i | x_i) of each row (n,), from `predict_proba` (p floored at 1e-12)."""
    proba = model.predict_proba(data)
    pos = np.searchsorted(model.classes_, data.y)
    if np.any(pos >= len(model.classes_)) or np.any(model.classes_[np.minimum(pos, len(model.classes_) - 1)] != data.y):
        raise ValueError(f"labels {np.setdiff1d(data.y, model.classes_).tolist()} are not among the model's classes")
    return -np.log(np.maximum(proba[np.arange(len(data)), pos], 1e-12))


def loss_threshold_attack(member_losses: np.ndarray, nonmember_losses: np.ndarray) -> AttackResult:
    """Yeom et al.'s attack: guess "member" when the loss is at most a threshold.

    Both arrays must have the same length (a balanced attack; subsample first)."""
    m, o = np.asarray(member_losses, float), np.asarray(nonmember_losses, float)
    if len(m) != len(o) or len(m) == 0:
        raise ValueError(f"need equally many member and non-member losses (> 0), got {len(m)} and {len(o)}")
    labels = np.r_[np.ones(len(m)), np.zeros(len(o))]
    scores = -np.r_[m, o]  # a lower loss is more "member"
    fpr, tpr, thresholds = skm.roc_curve(labels, scores)
    best = int(np.argmax(tpr - fpr))
    yeom = float(np.mean(m <= m.mean()) - np.mean(o <= m.mean()))
    return AttackResult(
        advantage=float(tpr[best] - fpr[best]),
        advantage_yeom=yeom,
        auc=float(skm.roc_auc_score(labels, scores)),
        threshold=float(-thresholds[best]),
        n=len(m),
    )


def membership_inference(model: Predictor, members: Samples, nonmembers: Samples, *, seed: int = 0) -> AttackResult:
    """The loss-threshold attack on `model` with min(len) members and non-members (subsampled with `seed`)."""
    n = min(len(members), len(nonmembers))
    rng = np.random.default_rng(seed)
    pick = lambda s: s if len(s) == n else s.subset(np.sort(rng.choice(len(s), size=n, replace=False)))  # noqa: E731
    return loss_threshold_attack(per_sample_loss(model, pick(members)), per_sample_loss(model, pick(nonmembers)))


def private_model(name: str, epsilon: float, params: Mapping[str, Any] | None = None) -> Predictor:
    """Predictor `name` with its ε parameter set to `epsilon` (math.inf: the non-private fit).

    `params` are checked like any model's (`make_predictor`: the constructor's annotations), so a
    bad value fails here, naming the model, the parameter and the value."""
    if name not in EPSILON_PARAMS:
        raise ConfigError(f"model {name!r} has no privacy budget; DP models: {sorted(EPSILON_PARAMS)}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.integer, np.floating)) or not epsilon > 0:
        raise ConfigError(f"epsilon must be > 0, a number (math.inf: no DP), got {epsilon!r}")
    key = EPSILON_PARAMS[name]
    if params and key in params:
        raise ConfigError(f"set the privacy budget through epsilons=, not params[{key!r}]")
    return make_predictor(name, {**dict(params or {}), key: None if math.isinf(epsilon) else float(epsilon)})


def privacy_utility_table(
    name: str,
    train: Samples,
    test: Samples,
    *,
    epsilons: Iterable[float] = EPSILONS,
    params: Mapping[str, Any] | None = None,
    seeds: Sequence[int] = (0,),
    attack: bool = True,
    extra_metrics: ExtraMetrics | None = None,
    holdout: float | None = None,
) -> pd.DataFrame:
    """Fit DP model `name` on `train` at each ε and seed; score on `test`; attack membership.

    holdout  None: the attack's non-members are the `test` rows (often a later period, so the
             attacker also sees the shift). A fraction in (0, 1): that share of the `train` rows,
             drawn at random per seed, is kept out of the fit and serves as the non-members (same
             period and distribution as the members); the model is fit on the rest.

    Returns one row per (epsilon, seed): epsilon (the target, inf = non-private), seed,
    epsilon_spent and delta (what the fitted model reports), auc, f1, accuracy (positive class
    = the largest label, e.g. 1 = up), mia_advantage, mia_advantage_yeom, mia_auc (members = the
    rows fit on, non-members = the `test` rows or the held-out rows, equally many), mia_bound (the
    DP bound of the advantage), nonmembers ("test" or "holdout <fraction>"), plus the columns `extra_metrics(test, proba)` returns (the hook for e.g. a PnL
    from `finfusion.evaluate.pnl`, which this module does not compute itself).
    """
    if holdout is not None and not 0.0 < holdout < 1.0:
        raise ConfigError(f"holdout must be a fraction in (0, 1) of the training rows, or None; got {holdout!r}")
    rows = []
    for seed in seeds:
        members, outside = _members(train, test, holdout, seed)
        for epsilon in epsilons:
            model = private_model(name, epsilon, {**dict(params or {}), "seed": seed}).fit(members)
            row = _row(model, epsilon, seed, members, outside, test, attack, extra_metrics)
            rows.append({**row, "nonmembers": "test" if holdout is None else f"holdout {holdout:g}"})
    order = {e: i for i, e in enumerate(epsilons)}
    return pd.DataFrame(rows).sort_values(["epsilon", "seed"], key=lambda c: c.map(order) if c.name == "epsilon"
                                          else c, kind="mergesort").reset_index(drop=True)


def _members(train: Samples, test: Samples, holdout: float | None, seed: int) -> tuple[Samples, Samples]:
    """(rows to fit on, the attack's non-members)."""
    if holdout is None:
        return train, test
    n_out = int(round(holdout * len(train)))
    if not 0 < n_out < len(train):
        raise ConfigError(f"holdout {holdout:g} of {len(train)} training rows leaves no member or no non-member")
    out = np.zeros(len(train), dtype=bool)
    out[np.random.default_rng(seed).choice(len(train), size=n_out, replace=False)] = True
    return train.subset(np.flatnonzero(~out)), train.subset(np.flatnonzero(out))


def _row(model, epsilon, seed, train, nonmembers, test, attack, extra_metrics) -> dict[str, float]:
    proba = model.predict_proba(test)
    pred = model.classes_[proba.argmax(axis=1)]
    positive = model.classes_[-1]
    spent = float(getattr(model, "epsilon_", epsilon))
    delta = float(getattr(model, "delta_", 0.0))
    row: dict[str, float] = {
        "epsilon": float(epsilon),
        "seed": seed,
        "epsilon_spent": spent,
        "delta": delta,
        "auc": _auc(test.y == positive, proba[:, -1]),
        "f1": float(skm.f1_score(test.y == positive, pred == positive, zero_division=0)),
        "accuracy": float(np.mean(pred == test.y)),
    }
    if attack:
        result = membership_inference(model, train, nonmembers, seed=seed)
        row.update(mia_advantage=result.advantage, mia_advantage_yeom=result.advantage_yeom, mia_auc=result.auc,
                   mia_bound=dp_advantage_bound(spent, delta))  # fmt: skip
    if extra_metrics is not None:
        row.update({k: float(v) for k, v in extra_metrics(test, proba).items()})
    return row


def _auc(is_positive: np.ndarray, score: np.ndarray) -> float:
    return float(skm.roc_auc_score(is_positive, score)) if 0 < is_positive.sum() < len(is_positive) else float("nan")
