"""Differentially private direction classifier ("dp_mlp"): the Num-only MLP trained with DP-SGD.

DP-SGD (Abadi et al. 2016) through Opacus: every optimiser step draws a Poisson sample of the
training rows (each row independently with probability q = batch_size / n), clips each row's
gradient to L2 norm `max_grad_norm` (C), sums them, adds Gaussian noise N(0, σ²C²I) and divides
by the expected batch size. An accountant (RDP by default, or PRV) composes the steps and reports
the ε of an (ε, δ)-DP guarantee.

**What the guarantee covers.** (ε, δ)-DP with respect to adding or removing one *training row*
(one (date, ticker) sample) of `fit`'s `train` samples: the trained weights, and everything
computed from them alone, are (ε, δ)-indistinguishable with or without that row. It does *not*
cover:

* the feature scaler: the protocol fits it on the same training rows (mean / std are not
  private); the guarantee holds end to end only when the scaler is fit on public data, or the
  features are bounded by construction;
* `valid`: validation rows are used without privacy (the loss is only recorded; no early
  stopping, no model selection happens inside `fit`);
* correlated rows: one ticker-day is one unit; a user or a firm that contributes k rows gets
  only group privacy (roughly kε);
* hyper-parameter searches over several DP fits (each fit spends its own ε).

Poisson sampling is what the accountant's guarantee assumes, so it is always used under DP:
batches vary in size (Binomial(n, q)) and may be empty; the network has no batch-size
dependent layer (no BatchNorm), the trainer weights the epoch loss by the real batch sizes, and
an empty batch still takes a (noise-only) step, as the accounting counts it. An epoch is 1/q
steps.

The noise comes from torch's seeded generator, so a fit is reproducible; that generator is not
cryptographically secure (Opacus' `secure_mode`, which needs `torchcsprng`, is not used here):
fine for research, not for releasing a model trained on truly sensitive rows.

Without `target_epsilon` and `noise_multiplier` the model trains without DP (ε = ∞): the same
network and trainer, ordinary shuffled batches, the trainer's usual gradient clipping.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar, Literal

from torch import nn
from torch.utils.data import Dataset

from finfusion.errors import ConfigError
from finfusion.models.base import Samples, store_params
from finfusion.models.params import NonNegativeFloat, OpenUnit, PositiveFloat, PositiveInt, Probability, Seed
from finfusion.models.registry import register
from finfusion.models.torch_predictor import TorchPredictor
from finfusion.models.trainer import Prepare, TrainerConfig

ACCOUNTANTS = ("rdp", "prv")
DEFAULT_MAX_DELTA = 1e-5
# Opacus' default RDP orders stop at 63, which cannot certify ε below ~0.19 at δ = 1e-5
# (ε >= log(1/δ) / (α - 1)); higher orders extend the RDP accountant down to ε ≈ 0.01.
RDP_ALPHAS = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [80, 128, 256, 512, 1024, 2048])


def accountant_kwargs(accountant: str) -> dict:
    """Extra keyword arguments of Opacus' `get_epsilon` / `get_noise_multiplier` for `accountant`."""
    return {"alphas": list(RDP_ALPHAS)} if accountant == "rdp" else {}


def default_delta(n_train: int) -> float:
    """δ used when none is given: min(1e-5, 1/n_train) (seed 003 uses 1e-5; δ must stay < 1/n)."""
    if n_train < 1:
        raise ValueError(f"n_train must be >= 1, got {n_train}")
    return min(DEFAULT_MAX_DELTA, 1.0 / n_train)


@register("dp_mlp")
class DPMLPPredictor(TorchPredictor):
    """Num-only MLP direction classifier trained with DP-SGD (Opacus); classification only.

    target_epsilon   ε to reach at the end of training: Opacus computes the noise multiplier σ
                     for (target_epsilon, δ, q = batch_size / n, epochs) with the accountant
                     (`make_private_with_epsilon`). None: use `noise_multiplier`.
    noise_multiplier σ set directly (the accountant then reports the ε it gives); used only
                     when target_epsilon is None. Both None: no DP (epsilon_ = inf).
    delta            δ of the guarantee; None: min(1e-5, 1 / n_train) (see `default_delta`).
    max_grad_norm    C, the per-sample gradient clipping norm.
    accountant       "rdp" (Rényi DP, Mironov 2017) or "prv" (privacy random variables,
                     Gopi et al. 2021; tighter).
    batch_size       expected batch size of the Poisson sampling (q = batch_size / n).
    hidden, dropout, epochs, lr, weight_decay, seed, show_progress, device
                     network and training settings (see `MLPPredictor`, `TrainerConfig`).

    Fitted: epsilon_ (ε spent by this fit at delta_, inf without DP), delta_, noise_multiplier_
    (σ, 0 without DP), sample_rate_ (q), steps_ (optimiser steps).

    Warm starts are not offered: a refit would spend more privacy budget on the same rows;
    refit from scratch (each fit is then a separate (ε, δ) release).
    """

    tasks = ("classification",)
    uses_text = False
    architecture_params = ("hidden",)
    fitted_attributes: ClassVar[tuple[str, ...]] = (
        *TorchPredictor.fitted_attributes,
        "epsilon_",
        "delta_",
        "noise_multiplier_",
        "sample_rate_",
        "steps_",
    )
    # Not parameters: TorchPredictor reads them; a DP model never warm-starts (see the docstring).
    warm_start: ClassVar[bool] = False
    warm_epochs: ClassVar[int | None] = None
    warm_replay: ClassVar[int | None] = None

    def __init__(
        self,
        *,
        target_epsilon: PositiveFloat | None = None,
        noise_multiplier: NonNegativeFloat | None = None,
        delta: OpenUnit | None = None,
        max_grad_norm: PositiveFloat = 1.0,
        accountant: Literal["rdp", "prv"] = "rdp",
        hidden: PositiveInt = 64,
        dropout: Probability = 0.0,
        epochs: PositiveInt = 15,
        batch_size: PositiveInt = 64,
        lr: PositiveFloat = 1e-3,
        weight_decay: NonNegativeFloat = 0.0,
        seed: Seed = 0,
        show_progress: bool = False,
        device: str = "cpu",
    ) -> None:
        store_params(self, locals())

    @property
    def private(self) -> bool:
        """True when `fit` trains with DP-SGD (a target ε or a noise multiplier is set)."""
        return self.target_epsilon is not None or self.noise_multiplier is not None

    def fit(self, train: Samples, valid: Samples | None = None) -> DPMLPPredictor:
        self.check_task(train)
        self._check_privacy_params(len(train))
        self._engine = self._dp_parts = None
        try:
            with warnings.catch_warnings():
                # Known and harmless: the seeded (non-cryptographic) noise RNG, see the module doc, and
                # torch's note that Opacus' backward hooks fire on a first layer whose input needs no grad.
                warnings.filterwarnings("ignore", message="Secure RNG turned off", category=UserWarning)
                warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
                super().fit(train, valid)
        finally:
            if self._dp_parts is not None:
                self._dp_parts[0]._close()  # remove Opacus' hooks from the network (weights are shared)
        if self.private:
            _, optimizer, loader = self._dp_parts
            self.delta_ = float(self.delta if self.delta is not None else default_delta(len(train)))
            self.epsilon_ = float(self._engine.accountant.get_epsilon(self.delta_, **accountant_kwargs(self.accountant)))
            self.noise_multiplier_ = float(optimizer.noise_multiplier)
            self.sample_rate_ = float(loader.sample_rate)
            self.steps_ = int(sum(steps for _, _, steps in self._engine.accountant.history))
        else:
            self.epsilon_, self.delta_, self.noise_multiplier_ = math.inf, 0.0, 0.0
            self.sample_rate_ = min(1.0, self.batch_size / len(train))
            self.steps_ = int(self.history_.n_steps)
        self._engine = self._dp_parts = None
        return self

    # -- TorchPredictor hooks -----------------------------------------------------------------

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        from finfusion.models.mlp import NumOnlyMLP  # lazy: models.mlp imports the registry, which imports us

        return NumOnlyMLP(self.n_features_in_, self.hidden, n_outputs, self.dropout)

    def _trainer_config(self, epochs: int, warm: bool = False) -> TrainerConfig:
        return TrainerConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            grad_clip=None if self.private else 1.0,  # under DP Opacus clips per sample
            seed=self.seed,
            loss="cross_entropy",
            device=self.device,
            show_progress=self.show_progress,
        )

    def _prepare(self, train: Dataset, epochs: int) -> Prepare | None:
        if not self.private:
            return None
        from opacus import PrivacyEngine  # lazy: opacus is only needed for DP fits

        engine = PrivacyEngine(accountant=self.accountant)
        delta = self.delta if self.delta is not None else default_delta(len(train))

        def make_private(module, optimizer, loader):
            common = dict(module=module, optimizer=optimizer, data_loader=loader, max_grad_norm=self.max_grad_norm,
                          poisson_sampling=True)  # fmt: skip
            if self.target_epsilon is not None:
                try:
                    out = engine.make_private_with_epsilon(
                        **common, target_epsilon=self.target_epsilon, target_delta=delta, epochs=epochs,
                        **accountant_kwargs(self.accountant),
                    )
                except ValueError as exc:  # Opacus: no noise multiplier <= 1e6 reaches the target
                    raise ConfigError(
                        f"{type(self).__name__}: target_epsilon {self.target_epsilon} cannot be certified at "
                        f"delta {delta:.3g} by the {self.accountant!r} accountant ({exc}); raise target_epsilon"
                    ) from exc
            else:
                out = engine.make_private(**common, noise_multiplier=self.noise_multiplier)
            self._dp_parts = out
            return out

        self._engine = engine
        return make_private

    def _check_privacy_params(self, n_train: int) -> None:
        name = type(self).__name__
        if self.target_epsilon is not None and not self.target_epsilon > 0:
            raise ConfigError(f"{name}: target_epsilon must be > 0 or None (no DP), got {self.target_epsilon!r}")
        if self.noise_multiplier is not None and not self.noise_multiplier >= 0:
            raise ConfigError(f"{name}: noise_multiplier must be >= 0 or None, got {self.noise_multiplier!r}")
        if self.delta is not None and not 0 < self.delta < 1:
            raise ConfigError(f"{name}: delta must be in (0, 1) or None (min(1e-5, 1/n_train)), got {self.delta!r}")
        if not self.max_grad_norm > 0:
            raise ConfigError(f"{name}: max_grad_norm must be > 0, got {self.max_grad_norm!r}")
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(f"{name}: accountant must be one of {ACCOUNTANTS}, got {self.accountant!r}")
        if self.private and self.epochs < 1:
            raise ConfigError(f"{name}: a DP fit needs epochs >= 1, got {self.epochs!r}")
        if self.private and self.batch_size > n_train:
            raise ConfigError(
                f"{name}: batch_size {self.batch_size} exceeds the {n_train} training rows; the Poisson "
                "sampling rate batch_size / n must be <= 1"
            )

