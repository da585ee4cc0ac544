"""Adv-ALSTM: an attentive LSTM over the price window, trained with adversarial perturbations of
its latent representation.

Feng, Chen, He, Ding, Sun, Chua: "Enhancing Stock Movement Prediction with Adversarial Training",
IJCAI 2019 (arXiv:1810.09936); released code github.com/fulifeng/Adv-ALSTM (TensorFlow 1,
`pred_lstm.py`). The network (paper §3):

    x (B, T, d) -> m_t = tanh(W_m x_t + b_m)                    feature mapping (B, T, E)
                -> h_t = LSTM(m_t)                              (B, T, U)
                -> α_t = softmax_t(u^T tanh(W_a h_t + b_a))     temporal attention (B, T)
                -> e = [Σ_t α_t h_t ; h_T]                      latent representation (B, 2U)
                -> s = w^T e + b                                one score per sample (B,)

Adversarial training (paper §3): g = ∂ loss(y, s(e)) / ∂e, per sample
r_adv = ε · g / ‖g‖, e_adv = e + r_adv, and the objective is

    loss(y, s(e)) + β · loss(y, s(e_adv)) + α · ½ ‖(w, b)‖²

with the perturbation held constant (no gradient flows through g) and the gradient flowing to
the network through e in both terms. With β = 0 this is plain ALSTM training.

Choices (see docs/stocknet_models.md, "Adv-ALSTM", for the paper / released-code differences):

* `loss="hinge"` (the paper and the code): mean max(0, 1 - y±·s) with labels y± = ±1 (the second
  class of `classes_` is +1). Probabilities are [1 - σ(s), σ(s)], i.e. the score read as a logit:
  monotone in s, so `predict` is sign(s) as in the paper, but not calibrated.
  `loss="cross_entropy"` trains on the log-loss of the same σ(s) (the code's non-hinge option,
  without its bug of scoring the clean representation in the adversarial term).
  With more than two classes only cross-entropy applies (C scores, softmax).
* The L2 term α·½‖·‖² covers the prediction layer (w, b) only, as in the released code
  (`tf.nn.l2_loss` over the `pre_fc` variables); we read the paper's as over all parameters. The
  trainer's `l2` adds a penalty on every parameter if wanted.
* The shared trainer adds a module's ``aux_loss`` to its own data loss (cross-entropy on the
  returned logits). Under the hinge loss the module returns detached logits while training, so
  the trainer's cross-entropy is only monitored (history, early stopping) and the hinge
  objective above, returned as ``aux_loss``, is what is optimised. Under cross-entropy the
  trainer's data loss is the clean term and ``aux_loss`` holds the rest.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from finfusion.errors import DataError
from finfusion.models.base import Samples, store_params
from finfusion.models.daily_items import PRICE_AGES
from finfusion.models.newsflow_nets import masked_softmax
from finfusion.models.params import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Seed
from finfusion.models.registry import register
from finfusion.models.torch_predictor import TorchPredictor
from finfusion.models.trainer import TARGET_KEY, ArrayDataset

AdvLoss = Literal["hinge", "cross_entropy"]
_NORM_EPS = 1e-12  # as tf.nn.l2_normalize: a zero gradient gives a zero perturbation


class AttentiveLSTM(nn.Module):
    """ALSTM with adversarial training of its latent representation (see the module docstring).

    forward(batch) with batch["x"] (B, T, d) returns logits (B, C): [0, s] for two classes, C
    scores otherwise. With batch["valid"] (B, T) bool, rows marked False (padding) are invisible:
    the LSTM state passes them unchanged and the attention gives them weight 0, so a window of
    T_i real rows is read as a sequence of T_i steps; a window without a real row gives e = 0.
    In training mode with batch["y"] (B,) class indices it returns {"pred": logits,
    "aux_loss": scalar} (see the module docstring for what each holds).
    """

    def __init__(
        self,
        d_in: int,
        mapping: int,
        hidden: int,
        n_classes: int,
        loss: AdvLoss = "hinge",
        alpha: float = 0.0,
        beta: float = 0.0,
        epsilon: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.mapping = nn.Linear(d_in, mapping)
        self.lstm = nn.LSTM(mapping, hidden, batch_first=True)
        self.attention = nn.Linear(hidden, hidden)  # W_a, b_a
        self.context = nn.Linear(hidden, 1, bias=False)  # u
        self.out = nn.Linear(2 * hidden, 1 if n_classes == 2 else n_classes)  # w, b
        self.configure(loss=loss, alpha=alpha, beta=beta, epsilon=epsilon)

    def configure(self, *, loss: AdvLoss, alpha: float, beta: float, epsilon: float) -> None:
        """Set the training objective (not part of the weights; a warm refit may change it)."""
        if loss not in ("hinge", "cross_entropy"):
            raise ValueError(f"loss must be 'hinge' or 'cross_entropy', got {loss!r}")
        if loss == "hinge" and self.n_classes != 2:
            raise ValueError(f"the hinge loss needs two classes, got {self.n_classes}: use loss='cross_entropy'")
        self.loss, self.alpha, self.beta, self.epsilon = loss, float(alpha), float(beta), float(epsilon)

    def latent(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(e (B, 2U) = [attention-weighted sum ; last hidden state], attention weights (B, T));
        `valid` (B, T) bool: the real rows (None: all)."""
        m = torch.tanh(self.mapping(x))  # (B, T, d) -> (B, T, E)
        if valid is None:
            h, _ = self.lstm(m)  # (B, T, U)
            last = h[:, -1]  # (B, U)
        else:
            h, last = self._masked_lstm(m, valid)  # (B, T, U), (B, U)
        scores = self.context(torch.tanh(self.attention(h)))[..., 0]  # (B, T)
        weights = torch.softmax(scores, dim=1) if valid is None else masked_softmax(scores, valid)  # (B, T)
        pooled = (weights[..., None] * h).sum(dim=1)  # (B, U)
        return torch.cat([pooled, last], dim=1), weights  # (B, 2U), (B, T)

    def _masked_lstm(self, m: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM step by step, its state passing padding rows unchanged: (B, T, E) ->
        (states (B, T, U), the state after the last real row (B, U))."""
        zeros = m.new_zeros(1, m.shape[0], self.lstm.hidden_size)
        state, outputs = (zeros, zeros), []
        for t in range(m.shape[1]):
            _, new = self.lstm(m[:, t : t + 1], state)  # one step: (1, B, U) each
            keep = valid[:, t][None, :, None]  # (1, B, 1)
            state = (torch.where(keep, new[0], state[0]), torch.where(keep, new[1], state[1]))
            outputs.append(state[0][0])  # (B, U)
        return torch.stack(outputs, dim=1), state[0][0]

    def logits(self, e: torch.Tensor) -> torch.Tensor:
        """(B, 2U) -> (B, C) logits; for two classes [0, s], so softmax gives σ(s) for class 1."""
        s = self.out(e)  # (B, 1) or (B, C)
        return torch.cat([torch.zeros_like(s), s], dim=1) if self.n_classes == 2 else s

    def objective(self, e: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean loss of the predictions from latent e (B, 2U) for class indices y (B,)."""
        logits = self.logits(e)  # (B, C)
        if self.loss == "hinge":
            sign = 2.0 * y.to(logits.dtype) - 1.0  # class 1 -> +1, class 0 -> -1
            return F.relu(1.0 - sign * logits[:, 1]).mean()
        return F.cross_entropy(logits, y.long())

    def perturbation(self, e: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """r_adv (B, 2U) = ε · g / ‖g‖ per sample, g = ∂objective/∂e, a constant (no graph)."""
        probe = e.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self.objective(probe, y), probe, create_graph=False)
        return self.epsilon * F.normalize(g, dim=1, eps=_NORM_EPS)  # (B, 2U)

    def l2_term(self) -> torch.Tensor:
        """α · ½ ‖(w, b)‖² of the prediction layer (the released code's regulariser)."""
        return self.alpha * 0.5 * sum(p.pow(2).sum() for p in self.out.parameters())

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | dict[str, torch.Tensor]:
        e, _ = self.latent(batch["x"], batch.get("valid"))  # (B, T, d) -> (B, 2U)
        logits = self.logits(e)  # (B, C)
        if not self.training or TARGET_KEY not in batch:
            return logits
        y = batch[TARGET_KEY]  # (B,) class indices
        aux = self.l2_term()
        if self.beta > 0:
            aux = aux + self.beta * self.objective(e + self.perturbation(e, y), y)
        if self.loss == "hinge":  # the trainer's cross-entropy is only monitored (detached)
            return {"pred": logits.detach(), "aux_loss": aux + self.objective(e, y)}
        return {"pred": logits, "aux_loss": aux}


@register("adv_alstm")
class AdvALSTMPredictor(TorchPredictor):
    """Adv-ALSTM (Feng et al., IJCAI 2019): attentive LSTM over the price window with adversarial
    training of its latent representation. Classification only; price-only (no texts).

    Inputs: Samples.X (n, T, d), the last step the newest day (the StockNet benchmark's (n, 4, 7)
    window); (n, d) is read as a window of one day. Scale the features on the training split
    (the protocol's `scale_features`): the tanh mapping saturates on raw volumes.

    skip_padding  read only the window's real rows, extras["price_ages"] > 0 (the StockNet
                benchmark's samples; required then): the LSTM and the attention see a window of
                T_i trading days as T_i steps, as the paper's sequences of trading days. False:
                every row is read, padding rows included (zeros with present = 0 before scaling).
                A window without a real row (a ticker's first target day) reads as e = 0, so its
                score is the prediction layer's bias; `empty_windows_` counts them in the last
                training set.
    mapping     E, width of the tanh feature-mapping layer; None: d, the input width (the released
                code's `in_fc` has as many units as features; the paper does not tune E).
    hidden      U, LSTM units (paper grid [4, 8, 16, 32]; the released StockNet command: 4).
    loss        "hinge" (paper, labels ±1; probabilities σ(score)) or "cross_entropy".
    alpha       α, L2 coefficient on the prediction layer (paper grid [0.001, 0.01, 0.1, 1];
                the released StockNet command: 1).
    beta        β, weight of the adversarial loss (paper grid [0.001 .. 1]; released: 0.01);
                0 is plain ALSTM.
    epsilon     ε, norm of the perturbation per sample (paper grid [0.001 .. 0.1]; released: 0.05).
    epochs, batch_size, lr, weight_decay, l2, grad_clip, early_stopping_patience, seed,
    show_progress, device
                training settings, see `finfusion.models.trainer.TrainerConfig`; the defaults
                are the paper's Adam (lr 0.01, batch 1024) and the released code's 150 epochs,
                without weight decay or clipping.
    warm_start, warm_epochs, warm_replay
                continue from the fitted weights on the next fit (see `TorchPredictor`); a warm
                refit takes the current loss, alpha, beta and epsilon, so the released code's
                two stages (ALSTM, then adversarial fine-tuning from it) are a fit with beta=0,
                then set_params(beta=...) and a warm fit.
    """

    tasks = ("classification",)
    uses_text = False
    architecture_params: ClassVar[tuple[str, ...]] = ("mapping", "hidden")
    fitted_attributes: ClassVar[tuple[str, ...]] = (*TorchPredictor.fitted_attributes, "empty_windows_")

    def __init__(
        self,
        *,
        skip_padding: bool = False,
        mapping: PositiveInt | None = None,
        hidden: PositiveInt = 4,
        loss: AdvLoss = "hinge",
        alpha: NonNegativeFloat = 1.0,
        beta: NonNegativeFloat = 0.01,
        epsilon: NonNegativeFloat = 0.05,
        epochs: PositiveInt = 150,
        batch_size: PositiveInt = 1024,
        lr: PositiveFloat = 1e-2,
        weight_decay: NonNegativeFloat = 0.0,
        l2: NonNegativeFloat = 0.0,
        grad_clip: PositiveFloat | None = None,
        early_stopping_patience: PositiveInt | None = None,
        seed: Seed = 0,
        warm_start: bool = False,
        warm_epochs: PositiveInt | None = None,
        warm_replay: NonNegativeInt | None = None,
        show_progress: bool = False,
        device: str = "cpu",
    ) -> None:
        store_params(self, locals())

    def fit(self, train: Samples, valid: Samples | None = None) -> AdvALSTMPredictor:
        self._check_params()
        module = getattr(self, "module_", None)
        if self.warm_start and module is not None:  # a warm refit trains on the current objective
            module.configure(**self._objective())
        super().fit(train, valid)
        self.empty_windows_ = int((~self._real_rows(train).any(axis=1)).sum()) if self.skip_padding else 0
        return self

    def _learn_inputs(self, train: Samples) -> None:
        super()._learn_inputs(train)
        if self.loss == "hinge" and len(self.classes_) != 2:
            raise DataError(
                f"AdvALSTMPredictor: loss='hinge' needs two classes, train.y has {self.classes_.tolist()}; "
                "use loss='cross_entropy'"
            )

    def _check_params(self) -> None:
        for name, value in (("hidden", self.hidden), ("mapping", 1 if self.mapping is None else self.mapping)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"AdvALSTMPredictor: {name} must be an int >= 1, got {getattr(self, name)!r}")
        if self.loss not in ("hinge", "cross_entropy"):
            raise ValueError(f"AdvALSTMPredictor: loss must be 'hinge' or 'cross_entropy', got {self.loss!r}")
        for name in ("alpha", "beta", "epsilon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value < np.inf:
                raise ValueError(f"AdvALSTMPredictor: {name} must be a finite number >= 0, got {value!r}")

    def _objective(self) -> dict:
        return {"loss": self.loss, "alpha": self.alpha, "beta": self.beta, "epsilon": self.epsilon}

    def _dataset(self, data: Samples, targets: np.ndarray | None) -> Dataset:
        """Inputs under "x": the price window as float32 (n, T, d), a 2-D X being one step; with
        `skip_padding`, "valid" (n, T) bool: the real rows."""
        X = data.X if data.X.ndim == 3 else data.X[:, None, :]
        arrays = {"x": np.ascontiguousarray(X, dtype=np.float32)}
        if self.skip_padding:
            arrays["valid"] = self._real_rows(data)
        if targets is not None:
            arrays["y"] = targets
        return ArrayDataset(**arrays)

    def _real_rows(self, data: Samples) -> np.ndarray:
        """(n, T) bool: the window rows with a calendar-day age (extras["price_ages"] > 0)."""
        if PRICE_AGES not in data.extras:
            raise DataError(
                f"AdvALSTMPredictor: skip_padding needs extras[{PRICE_AGES!r}] (the age of each window row, "
                "0 on padding; StockNet benchmark samples carry it): set skip_padding=False for other samples"
            )
        ages = np.asarray(data.extras[PRICE_AGES])
        steps = data.X.shape[1] if data.X.ndim == 3 else 1
        if ages.shape != (len(data), steps):
            raise DataError(f"AdvALSTMPredictor: extras[{PRICE_AGES!r}] has shape {ages.shape}, the window "
                            f"needs {(len(data), steps)}")
        return ages > 0

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        d = self.input_shape_[-1]
        return AttentiveLSTM(d, self.mapping or d, self.hidden, n_outputs, **self._objective())
