"""The StockNet network over tensors (Xu & Cohen, "Stock Movement Prediction from Tweets and Historical
Prices", ACL 2018; the HedgeFundAnalyst variant), following the released code (github.com/yumoxu/stocknet-code,
`src/Model.py`, default `config.yml`: variant "hedge", vmd_rec "zh", daily_att "y").

Time steps. A sample's steps are the trading days of its price window plus the target day d
(S = L + 1 steps for a right-aligned window of L rows; padding rows give invalid steps). As in the
released code (`DataPipe._trading_day_alignment`), the tweets of a lag calendar day go to the
*first step strictly after that day* (d-1's tweets land on d; a weekend's on the Monday), and the
price input of a step is the price row of the *previous* trading day (the code's `prices` list is
shifted by one row), so nothing a step predicts is in its own inputs. The first step has no row
before it in finfusion's window (the code reads one extra row, its "x_1 prices"): its price input
is zeros.

Modules (shapes with B samples, D calendar days, K items per day, H item vector size, S steps):
    MarketEncoder      per step: message embedding m = tanh(W LN(m_enc) + b) of each tweet's
                       (frozen) sentence vector (replaces the paper's bi-GRU over GloVe words;
                       the LayerNorm as in the seed-001 family and HAN), attention
                       u = softmax(w_u^T tanh(W_u m)) over the step's tweets, corpus c = sum u m;
                       x_t = [c_t, p_t] with the step's price vector p_t.         -> (B, S, M + d)
    MovementDecoder    h_t = GRU(x_t, h_{t-1}); prior p(z_t | z_<t, x_<=t) = N(mu, sigma^2) from
                       tanh(W [x_t, h_t, z_{t-1}]); posterior q(z_t | z_<t, x_<=t, y_t) from
                       tanh(W [x_t, h_t, y_t, z_{t-1}]); g_t = tanh(W_g [h_t, z_t]); aux logits
                       y_t = W_y g_t.                                    -> g (B, S, G), KL (B, S)
    TemporalAttention  v_i = w_i^T tanh(W_i g_t), v_d = g_T^T tanh(W_d g_t), v* = softmax over the
                       auxiliary steps of v_i * v_d; main logits = W [sum_t v*_t softmax(y_t), g_T] + b.

Objective (the code's `_create_generative_ata`; the trainer adds the main cross-entropy):
    aux_loss = mean_b [ lambda KL_T + alpha * sum_{t<T} v*_t (CE_t + lambda KL_t) ],
    lambda = 0 before `kl_start_step`, else min(kl_anneal_rate * step, 1), `step` = optimiser steps
    taken (counted by the module: one per training-mode forward with targets).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from finfusion.models.newsflow_nets import masked_softmax

AuxLabels = Literal["band", "sign"]
SIGN_EPS = 1e-7  # the released code's binary rule: movement <= 1e-7 is a fall


def step_layout(price_ages: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(step ages (B, S) long, step valid (B, S) bool) of a right-aligned price window.

    price_ages (B, L): calendar-day age of each window row, 0 on padding rows. Step s < L is row s,
    step L the target day (age 0, always valid)."""
    target = torch.zeros_like(price_ages[:, :1])
    ages = torch.cat([price_ages, target], dim=1)  # (B, S)
    valid = torch.cat([price_ages > 0, torch.ones_like(target, dtype=torch.bool)], dim=1)  # (B, S)
    return ages, valid


def day_steps(day_ages: torch.Tensor, step_ages: torch.Tensor, step_valid: torch.Tensor) -> torch.Tensor:
    """(B, D) long: the step each calendar day's tweets go to: the first valid step strictly after
    the day (the valid step with the largest age below the day's age; the target step, age 0,
    takes any day of age >= 1). day_ages (D,) long, every age >= 1."""
    if bool((day_ages < 1).any()):
        raise ValueError(f"StockNet puts a day's tweets on the first trading day after it, so item ages must be "
                         f">= 1 (the target day's own items have no step); got day ages {day_ages.tolist()}")
    after = step_valid[:, None, :] & (step_ages[:, None, :] < day_ages[None, :, None])  # (B, D, S)
    return after.to(torch.uint8).argmax(dim=-1)  # first True (steps run oldest -> newest)


def step_prices(prices: torch.Tensor, row_valid: torch.Tensor) -> torch.Tensor:
    """(B, S, d): step s gets window row s-1 (the previous trading day), zeros for step 0 and for
    padding rows. prices (B, L, d), row_valid (B, L) bool."""
    rows = prices * row_valid.unsqueeze(-1).to(prices.dtype)  # (B, L, d)
    return torch.cat([torch.zeros_like(rows[:, :1]), rows], dim=1)  # (B, L + 1, d)


def movement_labels(movements: torch.Tensor, valid: torch.Tensor, fall: float, rise: float,
                    rule: AuxLabels) -> torch.Tensor:
    """(B, L) long class of each row's movement (fractions): 0 fall, 1 rise, -1 no label.

    "band": the benchmark's: fall if < `fall`, rise if >= `rise`, the band in between (and
    padding rows) -1. "sign": the released code's auxiliary labels: fall if <= 1e-7, else rise."""
    if rule == "band":
        labels = torch.full_like(movements, -1, dtype=torch.long)
        labels[movements < fall] = 0
        labels[movements >= rise] = 1
    elif rule == "sign":
        labels = (movements > SIGN_EPS).long()
    else:
        raise ValueError(f"aux_labels must be 'band' or 'sign', got {rule!r}")
    return labels.masked_fill(~valid, -1)


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))) of diagonal Gaussians, summed over the
    last dimension: (..., Z) -> (...)."""
    ratio = (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp()
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0).sum(-1)


def kl_weight(step: int, rate: float, start: int) -> float:
    """lambda of the KL term after `step` optimiser steps: 0 before `start`, then min(rate * step, 1)
    (the released code's `_kl_lambda`; the paper anneals lambda from 0 to 1)."""
    return 0.0 if step < start else min(rate * step, 1.0)


class MarketEncoder(nn.Module):
    """Per-step corpus embedding and price vector: x (B, S, M + d) (see the module docstring)."""

    def __init__(self, item_size: int, msg_size: int) -> None:
        super().__init__()
        self.message = nn.Sequential(nn.LayerNorm(item_size), nn.Linear(item_size, msg_size), nn.Tanh())
        self.score_proj = nn.Linear(msg_size, msg_size, bias=False)
        self.score = nn.Linear(msg_size, 1, bias=False)

    def forward(self, items: torch.Tensor, item_mask: torch.Tensor, day_step: torch.Tensor,
                prices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """items (B, D, K, H), item_mask (B, D, K) bool, day_step (B, D) long, prices (B, S, d)
        -> (x (B, S, M + d), message weights (B, S, D, K), 0 where no message)."""
        n_steps = prices.shape[1]
        msgs = self.message(items)  # (B, D, K, M)
        scores = self.score(torch.tanh(self.score_proj(msgs))).squeeze(-1)  # (B, D, K)
        on_step = day_step.unsqueeze(1) == torch.arange(n_steps, device=items.device)[None, :, None]  # (B, S, D)
        mask = on_step.unsqueeze(-1) & item_mask.unsqueeze(1)  # (B, S, D, K)
        weights = masked_softmax(scores.unsqueeze(1).expand_as(mask).flatten(2), mask.flatten(2))  # (B, S, D*K)
        weights = weights.view_as(mask)  # (B, S, D, K)
        corpus = torch.einsum("bsdk,bdkm->bsm", weights, msgs)  # (B, S, M)
        return torch.cat([corpus, prices], dim=-1), weights


class MovementDecoder(nn.Module):
    """The variational movement decoder (the code's `_create_vmd_with_zh_rec`).

    With `posterior` (training), z_t is drawn from q (reparameterised) and the KL to the prior is
    returned; otherwise z_t is the prior's mean (the code's prior sample) and the KL is zero.
    Invalid (padding) steps leave h and z unchanged and have zero KL."""

    def __init__(self, x_size: int, hidden: int, g_size: int, n_classes: int) -> None:
        super().__init__()
        self.hidden, self.n_classes = hidden, n_classes
        self.cell = nn.GRUCell(x_size, hidden)
        self.prior = nn.Sequential(nn.Linear(x_size + 2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2 * hidden))
        self.post = nn.Sequential(nn.Linear(x_size + 2 * hidden + n_classes, hidden), nn.Tanh(),
                                  nn.Linear(hidden, 2 * hidden))
        self.g = nn.Sequential(nn.Linear(2 * hidden, g_size), nn.Tanh())

    def forward(self, x: torch.Tensor, valid: torch.Tensor, labels: torch.Tensor | None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, S, X), valid (B, S) bool, labels (B, S) long (-1: unknown; None: use the prior)
        -> (g (B, S, G), kl (B, S))."""
        batch, n_steps, _ = x.shape
        h = x.new_zeros(batch, self.hidden)  # (B, Hd): the code's zero initial GRU state
        z = x.new_zeros(batch, self.hidden)  # (B, Z): z_0 = 0 (the code draws N(0, I))
        gs, kls = [], []
        for t in range(n_steps):
            keep = valid[:, t:t + 1]  # (B, 1)
            h = torch.where(keep, self.cell(x[:, t], h), h)
            mu_p, logvar_p = self.prior(torch.cat([x[:, t], h, z], -1)).chunk(2, -1)  # (B, Z) each
            if labels is None:
                z_t, kl = mu_p, x.new_zeros(batch)
            else:
                y_t = nn.functional.one_hot(labels[:, t].clamp(min=0), self.n_classes).to(x.dtype)
                y_t = y_t * (labels[:, t:t + 1] >= 0).to(x.dtype)  # (B, C), zeros where unknown
                mu_q, logvar_q = self.post(torch.cat([x[:, t], h, y_t, z], -1)).chunk(2, -1)
                z_t = mu_q + torch.randn_like(mu_q) * (0.5 * logvar_q).exp()
                kl = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)  # (B,)
            z = torch.where(keep, z_t, z)
            gs.append(self.g(torch.cat([h, z], -1)))  # (B, G)
            kls.append(kl * keep[:, 0].to(x.dtype))
        return torch.stack(gs, 1), torch.stack(kls, 1)  # (B, S, G), (B, S)


class TemporalAttention(nn.Module):
    """Main prediction from g_T and the attention-weighted auxiliary predictions (paper's temporal
    attention; the code's `_build_temporal_att` with daily_att "y")."""

    def __init__(self, g_size: int, n_classes: int) -> None:
        super().__init__()
        self.info_proj = nn.Linear(g_size, g_size, bias=False)
        self.info = nn.Linear(g_size, 1, bias=False)
        self.dep_proj = nn.Linear(g_size, g_size, bias=False)
        self.out = nn.Linear(n_classes + g_size, n_classes)

    def forward(self, g: torch.Tensor, aux_logits: torch.Tensor, aux_mask: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """g (B, S, G), aux_logits (B, S, C), aux_mask (B, S) bool -> (logits (B, C), v* (B, S))."""
        g_T = g[:, -1]  # (B, G): the target step
        v_i = self.info(torch.tanh(self.info_proj(g))).squeeze(-1)  # (B, S)
        v_d = (torch.tanh(self.dep_proj(g)) * g_T.unsqueeze(1)).sum(-1)  # (B, S)
        v_star = masked_softmax(v_i * v_d, aux_mask)  # (B, S)
        context = (v_star.unsqueeze(-1) * torch.softmax(aux_logits, -1)).sum(1)  # (B, C)
        return self.out(torch.cat([context, g_T], -1)), v_star


class StockNetNet(nn.Module):
    """StockNet over tensors (see the module docstring). `n_classes` is 2: 0 fall, 1 rise.

    item_size H (the item vectors' size), price_size d, msg_size M (the code's mel_h_size 100),
    hidden (the code's h_size = z_size 150), g_size (50), dropout on x (the code's dropout_vmd_in
    0.3), alpha (the auxiliary weight, 0.5), kl_anneal_rate (0.005 per step), kl_start_step (0),
    fall / rise (the auxiliary labels' thresholds), aux_labels ("band" or "sign").
    """

    def __init__(self, item_size: int, price_size: int, *, msg_size: int = 100, hidden: int = 150,
                 g_size: int = 50, dropout: float = 0.3, alpha: float = 0.5, kl_anneal_rate: float = 0.005,
                 kl_start_step: int = 0, fall: float = -0.005, rise: float = 0.0055,
                 aux_labels: AuxLabels = "band", n_classes: int = 2) -> None:
        super().__init__()
        self.alpha, self.kl_anneal_rate, self.kl_start_step = alpha, kl_anneal_rate, kl_start_step
        self.fall, self.rise, self.aux_labels = fall, rise, aux_labels
        self.market = MarketEncoder(item_size, msg_size)
        self.dropout = nn.Dropout(dropout)
        self.decoder = MovementDecoder(msg_size + price_size, hidden, g_size, n_classes)
        self.aux_head = nn.Linear(g_size, n_classes)
        self.attention = TemporalAttention(g_size, n_classes)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # optimiser steps taken (KL annealing)

    def kl_lambda(self) -> float:
        return kl_weight(int(self.step), self.kl_anneal_rate, self.kl_start_step)

    def forward(self, items: torch.Tensor, item_mask: torch.Tensor, day_ages: torch.Tensor, prices: torch.Tensor,
                price_ages: torch.Tensor, movements: torch.Tensor, y: torch.Tensor | None = None,
                ) -> dict[str, torch.Tensor]:
        """items (B, D, K, H), item_mask (B, D, K) bool, day_ages (D,) long (>= 1, oldest first),
        prices (B, L, d), price_ages (B, L) long (0: padding row), movements (B, L) (fractions),
        y (B,) long (needed in training mode) ->
        {"pred": (B, C) logits, "aux_logits": (B, S, C), "attention": v* (B, S), and in training
        mode "kl": (B, S) and "aux_loss": scalar}."""
        ages, valid = step_layout(price_ages)  # (B, S) each
        day_step = day_steps(day_ages, ages, valid)  # (B, D)
        x, _ = self.market(items, item_mask, day_step, step_prices(prices, price_ages > 0))  # (B, S, X)
        x = self.dropout(x)
        labels = None
        if self.training:
            if y is None:
                raise ValueError("StockNetNet: training mode needs the targets y (the posterior reads them)")
            aux = movement_labels(movements, price_ages > 0, self.fall, self.rise, self.aux_labels)  # (B, L)
            labels = torch.cat([aux, y.long().unsqueeze(1)], dim=1)  # (B, S)
        g, kl = self.decoder(x, valid, labels)  # (B, S, G), (B, S)
        aux_logits = self.aux_head(g)  # (B, S, C)
        aux_mask = valid.clone()
        aux_mask[:, -1] = False  # the auxiliary steps: every valid step before the target
        pred, v_star = self.attention(g, aux_logits, aux_mask)  # (B, C), (B, S)
        out = {"pred": pred, "aux_logits": aux_logits, "attention": v_star}
        if labels is not None:
            out["kl"] = kl
            out["aux_loss"] = self._aux_loss(aux_logits, labels, kl, v_star)
            with torch.no_grad():
                self.step += 1
        return out

    def _aux_loss(self, aux_logits: torch.Tensor, labels: torch.Tensor, kl: torch.Tensor,
                  v_star: torch.Tensor) -> torch.Tensor:
        """mean_b [lambda KL_T + alpha sum_t v*_t (CE_t + lambda KL_t)] (CE_t = 0 on unlabelled steps)."""
        lam = self.kl_lambda()
        ce = nn.functional.cross_entropy(aux_logits.flatten(0, 1), labels.flatten().clamp(min=0),
                                         reduction="none").view_as(labels)  # (B, S)
        ce = ce * (labels >= 0).to(ce.dtype)
        aux = (v_star * (ce + lam * kl)).sum(1)  # (B,): v* is 0 on the target step
        return (lam * kl[:, -1] + self.alpha * aux).mean()
