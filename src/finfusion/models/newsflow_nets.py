"""Networks of seed 001's newsflow models (models/newsflow.py): the items dataset and segment
operations of the item-level newsflow, the building blocks, and the nets of each model. No
registry imports here."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from finfusion.models.trainer import ArrayDataset

# --------------------------------------------------------------------------- newsflow items


class ItemsDataset(ArrayDataset):
    """Numeric arrays plus, per sample, the indices of its news items among the distinct items.

    The collate gathers a batch's items once: the encoder inputs of the distinct items in the
    batch, `item_pos` (P,) the row of each (sample, item) pair among them and `item_owner` (P,)
    its sample in the batch."""

    def __init__(self, text_inputs, item_ids: list[np.ndarray], **arrays: np.ndarray) -> None:
        super().__init__(**arrays)
        self.text_inputs, self.item_ids = text_inputs, item_ids

    def __getitems__(self, indices):
        batch = super().__getitems__(indices)
        batch["_rows"] = torch.as_tensor(indices, dtype=torch.long)
        return batch

    def collate(self, batch):  # type: ignore[override]
        batch = dict(batch) if isinstance(batch, dict) else dict(ArrayDataset.collate(batch))
        rows = batch.pop("_rows").tolist()
        lists = [self.item_ids[r] for r in rows]
        owner = np.repeat(np.arange(len(rows)), [len(x) for x in lists])
        flat = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)
        unique, pos = np.unique(flat, return_inverse=True)
        if len(unique):
            batch.update(self.text_inputs.collate(unique))
        batch["item_pos"] = torch.as_tensor(pos.reshape(-1), dtype=torch.long)
        batch["item_owner"] = torch.as_tensor(owner, dtype=torch.long)
        return batch


def item_vectors(encoder: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The encoder's pooled vector of every (sample, item) pair of the batch: (P, H)."""
    pos = batch["item_pos"]
    if pos.numel() == 0:
        return torch.zeros(0, encoder.hidden_size, device=pos.device)
    return encoder(batch)[pos]


def segment_mean(values: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of the rows of `values` (P, H) per owner in 0..n-1 (zeros where an owner has none): (n, H)."""
    sums = torch.zeros(n, values.shape[-1], dtype=values.dtype, device=values.device).index_add_(0, owner, values)
    counts = torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(0, owner, torch.ones_like(owner,
                                                                                                       dtype=values.dtype))
    return sums / counts.clamp_min(1.0).unsqueeze(-1)


def segment_softmax(scores: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of `scores` (P,) within each owner's rows."""
    top = torch.full((n,), float("-inf"), dtype=scores.dtype, device=scores.device)
    top = top.scatter_reduce(0, owner, scores, reduce="amax", include_self=True)
    e = torch.exp(scores - top[owner])
    total = torch.zeros(n, dtype=scores.dtype, device=scores.device).index_add_(0, owner, e)
    return e / total[owner]


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax of `scores` over the last dimension among the True entries of `mask` (same shape,
    bool); masked entries get exactly 0, and rows without any True are all zero (no NaN): the
    padded-layout twin of `segment_softmax` (HAN's news attention, StockNet's message attention,
    Adv-ALSTM's temporal attention over real rows)."""
    weights = torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), dim=-1)
    return torch.where(mask, weights, torch.zeros_like(weights))


class ItemAttention(nn.Module):
    """Per-item attention pooling of a sample's news items (newsflow option news_pooling="attention"):
    a_i = softmax_i(v^T tanh(W LN(h_i) + b)) over the sample's items, pooled = Σ_i a_i h_i.

    The LayerNorm on the scorer's input (not in the formula of the issue; as in TextProjection)
    keeps the scores' scale independent of the encoder. Owners without items pool to zeros
    (the model's no_news rule replaces them). W: d -> hidden, v: hidden -> 1 (no bias: a constant
    cancels in the softmax)."""

    def __init__(self, size: int, hidden: int) -> None:
        super().__init__()
        self.norm, self.proj = nn.LayerNorm(size), nn.Linear(size, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)

    def weights(self, h: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
        """a (P,): the weight of each (sample, item) row of h (P, H) within its owner in 0..n-1."""
        scores = self.score(torch.tanh(self.proj(self.norm(h)))).squeeze(-1)  # (P, H) -> (P,)
        return segment_softmax(scores, owner, n)

    def forward(self, h: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
        a = self.weights(h, owner, n)  # (P,)
        pooled = torch.zeros(n, h.shape[-1], dtype=h.dtype, device=h.device)
        return pooled.index_add(0, owner, a.unsqueeze(-1) * h)  # (n, H)


def encode_newsflow(encoder: nn.Module, batch: dict[str, torch.Tensor],
                    attention: ItemAttention | None = None) -> torch.Tensor:
    """h (B, H): the pooled newsflow string, or (items mode) the mean of its items' vectors, or
    their `attention`-weighted sum."""
    if "item_pos" not in batch:
        return encoder(batch)
    h, owner, n = item_vectors(encoder, batch), batch["item_owner"], len(batch["has_news"])
    return segment_mean(h, owner, n) if attention is None else attention(h, owner, n)


def item_weights(encoder: nn.Module, batch: dict[str, torch.Tensor],
                 attention: ItemAttention | None = None) -> torch.Tensor:
    """The weight (P,) of each (sample, item) pair in `encode_newsflow` (items mode): 1/k for the
    mean of a sample's k items, or the attention weights."""
    owner, n = batch["item_owner"], len(batch["has_news"])
    if attention is None:
        counts = torch.bincount(owner, minlength=n).to(torch.float32)
        return 1.0 / counts[owner]
    return attention.weights(item_vectors(encoder, batch), owner, n)


# --------------------------------------------------------------------------- building blocks


class FactorsBlock(nn.Module):
    """Two dense ReLU layers with a skip connection: h1 = ReLU(W1 x), h = h1 + ReLU(W2 h1)."""

    def __init__(self, d_in: int, hidden: int) -> None:
        super().__init__()
        self.first, self.second = nn.Linear(d_in, hidden), nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.first(x))  # (B, d_f) -> (B, H)
        return h + F.relu(self.second(h))


class PredictionLayer(nn.Module):
    """Dropout on the input, then a linear output: (B, d) -> (B, n_out)."""

    def __init__(self, d_in: int, n_out: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_in, n_out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class NewsRepresentation(nn.Module):
    """x_n = LayerNorm(h_enc), with the `no_news` rule where has_news is 0: (B, H_enc) -> (B, H_enc)."""

    def __init__(self, size: int, no_news: str) -> None:
        super().__init__()
        self.size, self.no_news = size, no_news
        self.norm = nn.LayerNorm(size)
        if no_news == "embedding":
            self.empty = nn.Parameter(torch.zeros(size))

    def forward(self, h_enc: torch.Tensor, has_news: torch.Tensor) -> torch.Tensor:
        x_n = self.norm(h_enc)
        has = has_news.to(x_n.dtype).unsqueeze(-1)  # (B, 1)
        fill = self.empty.expand_as(x_n) if self.no_news == "embedding" else torch.zeros_like(x_n)
        return has * x_n + (1.0 - has) * fill


def _out(out: torch.Tensor, n_outputs: int | None) -> torch.Tensor:
    return out if n_outputs else out[:, 0]  # (B, C) logits or (B,) values


class FactorsNet(nn.Module):
    """FactorsBlock -> PredictionLayer on batch["x"]."""

    def __init__(self, d_f: int, hidden: int, n_outputs: int | None, dropout: float) -> None:
        super().__init__()
        self.n_outputs = n_outputs
        self.body = FactorsBlock(d_f, hidden)
        self.head = PredictionLayer(hidden, n_outputs or 1, dropout)

    def predict(self, x_f: torch.Tensor) -> torch.Tensor:
        return _out(self.head(self.body(x_f)), self.n_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.predict(batch["x"])


class CombinationHead(nn.Module):
    """Eq. 3 on given x_f, x_n: z = ReLU(W [x_f ⊕ ReLU(B x_n)]), B: H_enc -> H_enc / 2; PredictionLayer(z)."""

    def __init__(self, d_f: int, d_n: int, hidden: int, n_outputs: int | None, dropout: float) -> None:
        super().__init__()
        self.n_outputs = n_outputs
        self.bottleneck = nn.Linear(d_n, d_n // 2)
        self.dense = nn.Linear(d_f + d_n // 2, hidden)
        self.head = PredictionLayer(hidden, n_outputs or 1, dropout)

    def forward(self, x_f: torch.Tensor, x_n: torch.Tensor) -> torch.Tensor:
        z = F.relu(self.dense(torch.cat([x_f, F.relu(self.bottleneck(x_n))], dim=-1)))  # (B, H)
        return _out(self.head(z), self.n_outputs)


class SumHead(nn.Module):
    """Eq. 4-6 on given x_f, x_n: z = a_f ReLU(h_f x_f) + a_n ReLU(h_n x_n); `attentive` learns
    [a_f, a_n] = softmax(w(x_f ⊕ x_n)), otherwise a_f = a_n = 1 (summation). Output PredictionLayer(z)."""

    def __init__(self, d_f: int, d_n: int, hidden: int, n_outputs: int | None, dropout: float, attentive: bool,
                 mask_news: bool) -> None:
        super().__init__()
        self.n_outputs, self.mask_news = n_outputs, mask_news
        self.h_f, self.h_n = nn.Linear(d_f, hidden), nn.Linear(d_n, hidden)
        self.logits = nn.Linear(d_f + d_n, 2) if attentive else None
        self.head = PredictionLayer(hidden, n_outputs or 1, dropout)

    def weights(self, x_f: torch.Tensor, x_n: torch.Tensor, has_news: torch.Tensor) -> torch.Tensor:
        """[a_f, a_n] (B, 2); with `mask_news` a sample without news gets a_n = 0."""
        if self.logits is None:
            return torch.ones(len(x_f), 2, dtype=x_f.dtype, device=x_f.device)
        logits = self.logits(torch.cat([x_f, x_n], dim=-1))
        if self.mask_news:
            no_news = torch.stack([torch.zeros_like(has_news), has_news == 0], dim=-1).bool()
            logits = logits.masked_fill(no_news, float("-inf"))
        return torch.softmax(logits, dim=-1)

    def forward(self, x_f: torch.Tensor, x_n: torch.Tensor, has_news: torch.Tensor) -> torch.Tensor:
        a = self.weights(x_f, x_n, has_news)
        z = a[:, :1] * F.relu(self.h_f(x_f)) + a[:, 1:] * F.relu(self.h_n(x_n))  # (B, H)
        return _out(self.head(z), self.n_outputs)


class NewsflowNet(nn.Module):
    """encoder -> NewsRepresentation -> `head`; `kind` says which inputs the head takes.

    kind "news" (head(x_n)), "concat" (head(x_f, x_n)), "sum" (head(x_f, x_n, has_news)).
    The encoder is the attribute "encoder" (its learning rate and checkpoints are keyed on it).
    `item_attention` (news_pooling="attention") replaces the mean of the items by `ItemAttention`."""

    def __init__(self, encoder: nn.Module, no_news: str, head: nn.Module, kind: str,
                 item_attention: ItemAttention | None = None) -> None:
        super().__init__()
        self.encoder, self.kind, self.head, self.item_attention = encoder, kind, head, item_attention
        self.news = NewsRepresentation(encoder.hidden_size, no_news)

    def x_n(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        h = encode_newsflow(self.encoder, batch, self.item_attention)  # (B, H_enc)
        return self.news(h, batch["has_news"])  # (B, H_enc)

    def item_weights(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return item_weights(self.encoder, batch, self.item_attention)  # (P,)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x_n = self.x_n(batch)
        if self.kind == "news":
            return self.head(x_n)
        if self.kind == "concat":
            return self.head(batch["x"], x_n)
        return self.head(batch["x"], x_n, batch["has_news"])

    def weights(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head.weights(batch["x"], self.x_n(batch), batch["has_news"])


class NewsHead(nn.Module):
    def __init__(self, d_n: int, n_outputs: int | None, dropout: float) -> None:
        super().__init__()
        self.n_outputs = n_outputs
        self.head = PredictionLayer(d_n, n_outputs or 1, dropout)

    def forward(self, x_n: torch.Tensor) -> torch.Tensor:
        return _out(self.head(x_n), self.n_outputs)


class FininNet(nn.Module):
    """FININ baseline: z = ReLU(h_f x_f) + Σ_j α_j V LN(e_j), α = softmax_j((Q x_f)·(K LN(e_j)) / √d)
    over the sample's news items e_j (scaled dot-product attention with a factor query), then the
    prediction layer. A sample without items gets the learned no-news vector (rule "embedding")
    or nothing (rule "mask") in place of the attended news."""

    def __init__(self, encoder: nn.Module, no_news: str, d_f: int, hidden: int, n_outputs: int | None,
                 dropout: float) -> None:
        super().__init__()
        self.n_outputs, self.encoder, self.no_news = n_outputs, encoder, no_news
        d_n = encoder.hidden_size
        self.norm = nn.LayerNorm(d_n)
        self.h_f, self.query = nn.Linear(d_f, hidden), nn.Linear(d_f, hidden)
        self.key, self.value = nn.Linear(d_n, hidden), nn.Linear(d_n, hidden)
        if no_news == "embedding":
            self.empty = nn.Parameter(torch.zeros(hidden))
        self.head = PredictionLayer(hidden, n_outputs or 1, dropout)

    def attend(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(attended news (B, H), weights (P,) of the (sample, item) pairs)."""
        x_f, n = batch["x"], len(batch["x"])
        if "item_pos" not in batch:  # joined newsflow: one item per sample with news
            owner = torch.nonzero(batch["has_news"] > 0).reshape(-1)
            e = self.encoder(batch)[owner]
        else:
            owner, e = batch["item_owner"], item_vectors(self.encoder, batch)
        e = self.norm(e)
        scores = (self.query(x_f)[owner] * self.key(e)).sum(-1) / self.key.out_features ** 0.5
        alpha = segment_softmax(scores, owner, n)
        attended = torch.zeros(n, self.value.out_features, dtype=e.dtype, device=e.device)
        attended = attended.index_add(0, owner, alpha.unsqueeze(-1) * self.value(e))
        if self.no_news == "embedding":
            has = batch["has_news"].to(attended.dtype).unsqueeze(-1)
            attended = has * attended + (1.0 - has) * self.empty
        return attended, alpha

    def item_weights(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.attend(batch)[1]  # (P,)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        attended, _ = self.attend(batch)
        return _out(self.head(F.relu(self.h_f(batch["x"])) + attended), self.n_outputs)


class MixtureNet(nn.Module):
    """Eq. 7-8: prediction = Σ_i p_i g_i with [p_f, p_u] = softmax(ℓ(x_f ⊕ x_n)); g_f the factors
    component (FactorsNet), g_u the fusion-combination component (CombinationHead).

    mode "conventional" (eq. 9): the trainer's loss on the mixture prediction trains everything.
    mode "decoupled" (eq. 12-15): in training the module returns the mixture prediction detached
    (so the trainer's loss only reports it) and an aux_loss = Σ_i mean e_i (each component's own
    squared error, eq. 13) + KL(p_φ ‖ q) (eq. 14), q = softmax(−e_f / τ, −e_u / τ) (eq. 15) from
    the components' detached errors, i.e. computed with the parameters of the previous step.
    For classification e_i is the component's cross-entropy and the mixture output is the log of
    the mixed class probabilities (logits for cross-entropy).

    While training, each batch appends (n, Σ e_f, Σ e_u, Σ e_mix) to `log` (per-component error curves).
    `item_attention` (news_pooling="attention") replaces the mean of the items in x_n by `ItemAttention`.
    """

    def __init__(self, encoder: nn.Module, no_news: str, d_f: int, hidden: int, n_outputs: int | None,
                 dropout: float, mode: str, tau: float, item_attention: ItemAttention | None = None) -> None:
        super().__init__()
        self.n_outputs, self.mode, self.tau = n_outputs, mode, tau
        self.encoder, self.item_attention = encoder, item_attention
        self.news = NewsRepresentation(encoder.hidden_size, no_news)
        self.factors = FactorsNet(d_f, hidden, n_outputs, dropout)
        self.fusion = CombinationHead(d_f, encoder.hidden_size, hidden, n_outputs, dropout)
        self.gate = nn.Linear(d_f + encoder.hidden_size, 2)
        self.log: list[tuple[int, float, float, float]] = []

    def parts(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(g_f, g_u, gate logits (B, 2)); g_i (B,) or (B, C) logits."""
        x_f = batch["x"]
        x_n = self.news(encode_newsflow(self.encoder, batch, self.item_attention), batch["has_news"])  # (B, H_enc)
        return self.factors.predict(x_f), self.fusion(x_f, x_n), self.gate(torch.cat([x_f, x_n], dim=-1))

    def item_weights(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return item_weights(self.encoder, batch, self.item_attention)  # (P,)

    def _mix(self, g_f: torch.Tensor, g_u: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if not self.n_outputs:
            return p[:, 0] * g_f + p[:, 1] * g_u
        probs = p[:, :1] * torch.softmax(g_f, dim=-1) + p[:, 1:] * torch.softmax(g_u, dim=-1)
        return torch.log(probs.clamp_min(1e-12))

    def _errors(self, g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(g, y.long(), reduction="none") if self.n_outputs else (y - g) ** 2

    def forward(self, batch: dict[str, torch.Tensor]):
        g_f, g_u, logits = self.parts(batch)
        p = torch.softmax(logits, dim=-1)
        pred = self._mix(g_f, g_u, p)
        if not (self.training and "y" in batch):
            return pred
        y = batch["y"]
        e_f, e_u = self._errors(g_f, y), self._errors(g_u, y)
        self.log.append((len(y), float(e_f.detach().sum()), float(e_u.detach().sum()),
                         float(self._errors(pred.detach(), y).sum())))
        if self.mode == "conventional":
            return pred
        target = torch.softmax(torch.stack([-e_f.detach(), -e_u.detach()], dim=-1) / self.tau, dim=-1)
        log_p = torch.log_softmax(logits, dim=-1)
        kl = (log_p.exp() * (log_p - torch.log(target.clamp_min(1e-12)))).sum(-1).mean()  # KL(p_φ ‖ q)
        return {"pred": pred.detach(), "aux_loss": e_f.mean() + e_u.mean() + kl}
