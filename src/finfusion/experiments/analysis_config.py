"""The `analysis:` section of a run config (PnL, regimes, SHAP, privacy, significance, decile
portfolios); `experiments.config` re-exports every class here."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field, model_validator

from finfusion.evaluate.regimes import validate_regimes
from finfusion.strict import _Strict


class PnlConfig(_Strict):
    """Simulated long/flat trading of a direction run (finfusion.evaluate.pnl)."""

    cost_bps: float = Field(5.0, ge=0.0, description="transaction cost in basis points per side, on turnover")
    risk_free: float = Field(0.0, description="annual risk-free rate of the Sharpe ratios (a fraction: 0.02 = 2 %)")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="long when p_1 > threshold; None: when the predicted class is up"
    )


class ShapConfig(_Strict):
    """TreeSHAP attributions of every test prediction of the tree models (finfusion.evaluate.explain)."""

    models: list[str] | None = Field(None, description="model labels to explain; default: every model with TreeSHAP")
    top_k: int = Field(10, ge=1, description="features in the top table and bar chart")


class PrivacyModelConfig(_Strict):
    name: Literal["dp_mlp", "dp_logistic"]
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="model parameters except the privacy budget")


class PrivacyConfig(_Strict):
    """Privacy-utility table (finfusion.evaluate.privacy): each DP model fit at each ε on the
    training rows of each chosen fold of the run's protocol, scored on its test rows, attacked
    with the loss-threshold membership inference (members: the rows fit on; non-members: the
    test rows, or with `holdout` a random share of the training rows kept out of the fit)."""

    models: list[PrivacyModelConfig] = Field(min_length=1)
    epsilons: list[float] = Field(
        default_factory=lambda: [0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, float("inf")],
        description="privacy budgets; .inf = the same model without DP",
    )
    features: list[str] | None = Field(None, description="groups or features the DP models read; default: all")
    exclude: list[str] = Field(default_factory=list)
    folds: list[int] | None = Field(None, description="test folds of the protocol to use; default: all")
    seeds: list[int] = Field(default_factory=lambda: [0])
    holdout: float | None = Field(
        None, gt=0.0, lt=1.0, description="attack non-members: this share of each fold's training rows, kept out "
        "of the fit (same period as the members); None: the fold's test rows"
    )

    @model_validator(mode="after")
    def _check(self) -> PrivacyConfig:
        if any(not e > 0 for e in self.epsilons):
            raise ValueError(f"privacy.epsilons must be > 0 (.inf: no DP), got {self.epsilons}")
        labels = [m.label or m.name for m in self.models]
        if len(set(labels)) != len(labels):
            raise ValueError(f"privacy.models need distinct labels, got {labels}")
        return self


class SignificanceConfig(_Strict):
    """Which pairs of models the paired tests across folds compare."""

    reference: str | None = Field(None, description="model label every other model is tested against; default: the first")
    all_pairs: bool = Field(False, description="test every pair of models instead")


class PortfolioConfig(_Strict):
    """Decile portfolios from the run's cross-sectional predictions (finfusion.portfolio)."""

    n_groups: int = Field(10, ge=2, description="groups per date (deciles: 10)")
    holding_period: int | None = Field(None, ge=1, description="trading days per period; default: target.horizon")
    cost_bps: float = Field(5.0, ge=0.0, description="basis points per side, on turnover")
    risk_free: float = Field(0.0, description="annual risk-free rate of the Sharpe ratios (a fraction: 0.02 = 2 %)")
    score: str | None = Field(None, description="prediction column to rank by; default y_pred (regression) or p_1")
    returns: Literal["prices", "truth_movement"] = Field(
        "prices", description="realised returns from the prices (keyed by the decision date) or, for the StockNet "
        "benchmark, each sample's own movement (keyed by its target day)"
    )


class AnalysisConfig(_Strict):
    """Analyses of a direction (classification) run beyond the headline metrics; each is off
    when absent. See docs/evaluation.md and docs/privacy.md."""

    significance: SignificanceConfig = Field(default_factory=SignificanceConfig)
    references: dict[str, dict[str, float]] | None = Field(
        None, description="published results to show beside the run's (name -> {metric: value}); not computed"
    )
    pnl: PnlConfig | None = None
    regimes: dict[str, list[date]] | None = Field(
        None, description="name -> [start, end] (inclusive dates, YYYY-MM-DD): metrics per regime"
    )
    shap: ShapConfig | None = None
    privacy: PrivacyConfig | None = None
    portfolio: PortfolioConfig | None = None

    @model_validator(mode="after")
    def _check_regimes(self) -> AnalysisConfig:
        if self.regimes is not None:
            validate_regimes(self.regimes)
        return self
