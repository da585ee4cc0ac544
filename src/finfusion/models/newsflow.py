"""Seed 001's return predictors on factors x_f and a newsflow representation x_n.

x_n aggregates the sample's newsflow (the texts of its look-back window). With
`newsflow="items"` (default) each distinct text is encoded once (frozen and cached by default,
`tuning="frozen"`; or fine-tuned, `tuning="lora"`, rank 4 on all linear layers in the paper) and
x_n is the mean of the vectors of the sample's newest `max_news_items` texts (`Samples.text_items`;
samples built without items count their newsflow string as one item). With
`newsflow="joined"` the encoder reads the joined newsflow string, truncated at `max_length`
tokens. A LayerNorm puts x_n on the scale of the z-scored factors (not in the paper; see
models/text_models.py TextProjection).

Samples without news (an empty newsflow) follow the declared `no_news` rule, never dropped:
"embedding" replaces x_n by a learned "no news" vector; "mask" sets x_n to 0 and gives the news
modality weight 0 where a model weights modalities (fusion_attention).

Every network ends in the prediction layer of the paper: dropout (0.3) on its input, then a
linear output. Models (eq. numbers of seed 001):

    factors           Factors Alone: two dense layers with a skip connection
    news              News Alone: the linear output on x_n
    finin             FININ: factor-conditioned scaled dot-product attention over the news
                      items, added to the factor representation
    fusion_concat     Fusion Combination (eq. 3): dense(x_f ⊕ bottleneck(x_n)), the bottleneck
                      halving the news dimension
    fusion_sum        Fusion Summation (eq. 4): h_f(x_f) + h_n(x_n), projections to one space
    fusion_attention  Attentive Representation (eq. 5-6): a_f h_f(x_f) + a_n h_n(x_n),
                      [a_f, a_n] = softmax(w(x_f, x_n)); the weights of every prediction come
                      out through `predict_attention` (columns att_factors, att_news of a run)
    mixture           Mixture (eq. 7-8) of the factors component and the fusion-combination
                      component with a gate softmax(ℓ(x_f, x_n)); see `MixtureNet` for the
                      conventional (eq. 9) and decoupled (eq. 12-15) training

Defaults from the paper: batch 32, lr 1e-4 with linear decay, dropout 0.3 on prediction-layer
inputs, weight decay 1e-4, 10 epochs.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from finfusion.errors import ConfigError
from finfusion.models.base import Samples, store_params
from finfusion.models.inputs import flatten_features
from finfusion.models.registry import register
from finfusion.models.text_models import ENCODER_PARAMS, TextPredictor
from finfusion.models.torch_predictor import TorchPredictor
from finfusion.models.trainer import ArrayDataset, to_device

NO_NEWS = ("embedding", "mask")
NEWSFLOWS = ("items", "joined")
MIXTURE_MODES = ("conventional", "decoupled")


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


def encode_newsflow(encoder: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """h (B, H): the pooled newsflow string, or the mean of its items' vectors (items mode)."""
    if "item_pos" not in batch:
        return encoder(batch)
    return segment_mean(item_vectors(encoder, batch), batch["item_owner"], len(batch["has_news"]))


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
    The encoder is the attribute "encoder" (its learning rate and checkpoints are keyed on it)."""

    def __init__(self, encoder: nn.Module, no_news: str, head: nn.Module, kind: str) -> None:
        super().__init__()
        self.encoder, self.kind, self.head = encoder, kind, head
        self.news = NewsRepresentation(encoder.hidden_size, no_news)

    def x_n(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.news(encode_newsflow(self.encoder, batch), batch["has_news"])  # (B, H_enc)

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
    """

    def __init__(self, encoder: nn.Module, no_news: str, d_f: int, hidden: int, n_outputs: int | None,
                 dropout: float, mode: str, tau: float) -> None:
        super().__init__()
        self.n_outputs, self.mode, self.tau = n_outputs, mode, tau
        self.encoder = encoder
        self.news = NewsRepresentation(encoder.hidden_size, no_news)
        self.factors = FactorsNet(d_f, hidden, n_outputs, dropout)
        self.fusion = CombinationHead(d_f, encoder.hidden_size, hidden, n_outputs, dropout)
        self.gate = nn.Linear(d_f + encoder.hidden_size, 2)
        self.log: list[tuple[int, float, float, float]] = []

    def parts(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(g_f, g_u, gate logits (B, 2)); g_i (B,) or (B, C) logits."""
        x_f = batch["x"]
        x_n = self.news(encode_newsflow(self.encoder, batch), batch["has_news"])
        return self.factors.predict(x_f), self.fusion(x_f, x_n), self.gate(torch.cat([x_f, x_n], dim=-1))

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


# --------------------------------------------------------------------------- predictors


class _LinearDecay:
    """`lr_schedule` for the trainer config (paper: linear decay from lr to 0)."""

    def _trainer_config(self, epochs: int, warm: bool = False):
        from dataclasses import replace

        if self.lr_schedule not in ("linear", "constant"):
            raise ConfigError(f"{type(self).__name__}: lr_schedule must be 'linear' or 'constant', got {self.lr_schedule!r}")
        return replace(super()._trainer_config(epochs, warm), lr_schedule=self.lr_schedule)


@register("factors")
class FactorsPredictor(_LinearDecay, TorchPredictor):
    """Factors Alone (seed 001): two dense layers with a skip connection, then the prediction layer.

    hidden, dropout (0.3, on the prediction layer's input), lr_schedule ("linear" decay or
    "constant") and the training settings of `MLPPredictor` (paper defaults: batch 32, lr 1e-4,
    weight decay 1e-4, 10 epochs). A look-back (n, L, d) is flattened.
    """

    uses_text: ClassVar[bool] = False
    architecture_params = ("hidden",)

    def __init__(self, *, hidden: int = 64, dropout: float = 0.3, lr_schedule: str = "linear", epochs: int = 10,
                 batch_size: int = 32, lr: float = 1e-4, weight_decay: float = 1e-4, l2: float = 0.0,
                 grad_clip: float | None = 1.0, early_stopping_patience: int | None = None, seed: int = 0,
                 warm_start: bool = False, warm_epochs: int | None = None, warm_replay: int | None = None,
                 show_progress: bool = False, device: str = "cpu") -> None:
        store_params(self, locals())

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return FactorsNet(self.n_features_in_, self.hidden, n_outputs, self.dropout)


class NewsflowPredictor(_LinearDecay, TextPredictor):
    """Base of the seed-001 models that read the newsflow (parameters below)."""

    architecture_params = ("hidden", "no_news", *ENCODER_PARAMS)

    def __init__(self, *, model: str | None = None, pooling: str = "mean", max_length: int = 128,
                 tuning: str = "frozen", top_k: int = 2, lora_rank: int = 4, lora_alpha: int = 8,
                 lora_dropout: float = 0.0, encoder_dropout: float | None = None, encoder_lr: float = 1e-4,
                 encoder_frozen_epochs: int = 0, hidden: int = 64, dropout: float = 0.3, no_news: str = "embedding",
                 newsflow: str = "items", max_news_items: int | None = 32,
                 lr_schedule: str = "linear", epochs: int = 10, batch_size: int = 32, lr: float = 1e-4,
                 weight_decay: float = 1e-4, l2: float = 0.0, grad_clip: float | None = 1.0,
                 early_stopping_patience: int | None = None, seed: int = 0, warm_start: bool = False,
                 warm_epochs: int | None = None, warm_replay: int | None = None, show_progress: bool = False,
                 device: str = "cpu") -> None:
        store_params(self, locals())

    def _learn_inputs(self, train: Samples) -> None:
        if self.no_news not in NO_NEWS:
            raise ConfigError(f"{type(self).__name__}: no_news must be one of {NO_NEWS}, got {self.no_news!r}")
        if self.newsflow not in NEWSFLOWS:
            raise ConfigError(f"{type(self).__name__}: newsflow must be one of {NEWSFLOWS}, got {self.newsflow!r}")
        if self.max_news_items is not None and self.max_news_items < 1:
            raise ConfigError(f"{type(self).__name__}: max_news_items must be >= 1 or None, got {self.max_news_items!r}")
        super()._learn_inputs(train)

    def _dataset(self, data: Samples, targets: np.ndarray | None):
        x = flatten_features(data.X)  # a look-back (n, L, d) -> (n, L*d)
        if self.newsflow == "joined":
            dataset = super()._dataset(data, targets)
            dataset.tensors["x"] = torch.from_numpy(x)
            has = np.fromiter((bool(t.strip()) for t in data.texts), dtype=np.float32, count=len(data.texts))
            dataset.tensors["has_news"] = torch.from_numpy(has)
            return dataset
        items = news_items(data, self.max_news_items)
        flat = [t for sample in items for t in sample]
        inputs = self._current_encoder().inputs(flat)
        bounds = np.cumsum([0, *(len(sample) for sample in items)])
        item_ids = [inputs.ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        arrays = {"x": x, "has_news": np.array([len(i) > 0 for i in items], dtype=np.float32)}
        if targets is not None:
            arrays["y"] = targets
        return ItemsDataset(inputs, item_ids, **arrays)

    def _net(self, make_head, kind: str) -> NewsflowNet:
        """NewsflowNet with the encoder and `make_head(d_n)` (d_n: the encoder's output size)."""
        encoder = self._take_encoder()
        return NewsflowNet(encoder, self.no_news, make_head(encoder.hidden_size), kind)


@register("news")
class NewsPredictor(NewsflowPredictor):
    """News Alone (seed 001): the prediction layer on the newsflow representation x_n."""

    uses_numeric: ClassVar[bool] = False

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return self._net(lambda d_n: NewsHead(d_n, n_outputs, self.dropout), "news")


@register("fusion_concat")
class FusionConcatPredictor(NewsflowPredictor):
    """Fusion Combination (seed 001 eq. 3): dense(x_f ⊕ bottleneck(x_n)) -> prediction layer."""

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return self._net(lambda d_n: CombinationHead(self.n_features_in_, d_n, self.hidden, n_outputs, self.dropout),
                         "concat")


@register("fusion_sum")
class FusionSumPredictor(NewsflowPredictor):
    """Fusion Summation (seed 001 eq. 4): h_f(x_f) + h_n(x_n) -> prediction layer."""

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return self._net(lambda d_n: SumHead(self.n_features_in_, d_n, self.hidden, n_outputs, self.dropout,
                                             attentive=False, mask_news=self.no_news == "mask"), "sum")


@register("fusion_attention")
class FusionAttentionPredictor(NewsflowPredictor):
    """Attentive Representation (seed 001 eq. 5-6): a_f h_f(x_f) + a_n h_n(x_n), [a_f, a_n] =
    softmax(w(x_f, x_n)); `predict_attention` gives the weights of every prediction."""

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return self._net(lambda d_n: SumHead(self.n_features_in_, d_n, self.hidden, n_outputs, self.dropout,
                                             attentive=True, mask_news=self.no_news == "mask"), "sum")

    def token_names(self) -> list[str]:
        return ["factors", "news"]

    def predict_attention(self, data: Samples) -> np.ndarray:
        """Modality weights (n, 1, 2): [a_f, a_n] of each sample (one "head", as the engine expects)."""
        return _per_sample(self, data, lambda m, b: m.weights(b))


@register("finin")
class FininPredictor(NewsflowPredictor):
    """FININ baseline (seed 001's reference [66]): factor-conditioned scaled dot-product weighting
    of the news items, added to the factor representation (see `FininNet`). Best with
    newsflow="items" (with "joined" each sample has one item and the weight is 1)."""

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return FininNet(self._take_encoder(), self.no_news, self.n_features_in_, self.hidden, n_outputs, self.dropout)


@register("mixture")
class MixturePredictor(NewsflowPredictor):
    """Mixture (seed 001 eq. 7-8) of Factors Alone and Fusion Combination with a gate on (x_f, x_n).

    mode   "conventional" (eq. 9: squared error of the mixture) or "decoupled" (eq. 12-15:
           each component's own error + KL of the gate to softmax(−error / tau)); see `MixtureNet`.
    tau    temperature of the decoupled gate target (errors are in the units the model sees,
           i.e. of the scaled target).
    Other parameters as the other newsflow models. After `fit`, `component_history_` holds the
    training error per epoch of the factors component, the fusion component and the mixture
    (the paper's Fig. 4a); `predict_attention` gives the gate [p_f, p_u] of every prediction and
    `predict_components` both components' predictions (Fig. 4b: gate vs error).
    """

    architecture_params = ("hidden", "no_news", "mode", *ENCODER_PARAMS)

    def __init__(self, *, mode: str = "decoupled", tau: float = 1.0, model: str | None = None, pooling: str = "mean",
                 max_length: int = 128, tuning: str = "frozen", top_k: int = 2, lora_rank: int = 4,
                 lora_alpha: int = 8, lora_dropout: float = 0.0, encoder_dropout: float | None = None,
                 encoder_lr: float = 1e-4, encoder_frozen_epochs: int = 0, hidden: int = 64, dropout: float = 0.3,
                 no_news: str = "embedding", newsflow: str = "items", max_news_items: int | None = 32,
                 lr_schedule: str = "linear", epochs: int = 10, batch_size: int = 32,
                 lr: float = 1e-4, weight_decay: float = 1e-4, l2: float = 0.0, grad_clip: float | None = 1.0,
                 early_stopping_patience: int | None = None, seed: int = 0, warm_start: bool = False,
                 warm_epochs: int | None = None, warm_replay: int | None = None, show_progress: bool = False,
                 device: str = "cpu") -> None:
        store_params(self, locals())

    def _learn_inputs(self, train: Samples) -> None:
        if self.mode not in MIXTURE_MODES:
            raise ConfigError(f"MixturePredictor: mode must be one of {MIXTURE_MODES}, got {self.mode!r}")
        if not self.tau > 0:
            raise ConfigError(f"MixturePredictor: tau must be > 0, got {self.tau!r}")
        super()._learn_inputs(train)

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return MixtureNet(self._take_encoder(), self.no_news, self.n_features_in_, self.hidden, n_outputs,
                          self.dropout, self.mode, self.tau)

    def fit(self, train: Samples, valid: Samples | None = None) -> MixturePredictor:
        if hasattr(self, "module_"):
            self.module_.log.clear()
        super().fit(train, valid)
        self.component_history_ = _per_epoch(self.module_.log, len(self.history_.train_loss))
        self.module_.log.clear()
        return self

    def token_names(self) -> list[str]:
        return ["factors", "fusion"]

    def predict_attention(self, data: Samples) -> np.ndarray:
        """Gate probabilities (n, 1, 2): [p_f, p_u] of each sample."""
        return _per_sample(self, data, lambda m, b: torch.softmax(m.parts(b)[2], dim=-1))

    def predict_components(self, data: Samples) -> pd.DataFrame:
        """g_f and g_u of each sample (regression: model units, i.e. scaled as the model saw y)."""
        if self.task_ != "regression":
            raise TypeError("predict_components: component values are returned for regression only")
        both = _per_sample(self, data, lambda m, b: torch.stack(m.parts(b)[:2], dim=-1))[:, 0]
        return pd.DataFrame({"factors": both[:, 0], "fusion": both[:, 1]})


def news_items(data: Samples, max_items: int | None) -> list[tuple[str, ...]]:
    """Each sample's news items (the newest `max_items`): `text_items`, or, for samples built
    without them, the newsflow string as one item ("" -> none)."""
    if data.text_items is not None:
        items = [tuple(t for t in sample if t.strip()) for sample in data.text_items]
    else:
        items = [(t,) if t.strip() else () for t in data.texts]
    return [sample[-max_items:] if max_items is not None else sample for sample in items]


def _per_sample(model: TorchPredictor, data: Samples, fn) -> np.ndarray:
    """fn(module, batch) over `data` in eval mode, stacked: (n, 1, k)."""
    model.check_fitted()
    dataset = model._dataset(model._checked(data, "predict"), None)
    loader = DataLoader(dataset, batch_size=model.predict_batch_size, collate_fn=dataset.collate)
    model.module_.eval()
    with torch.no_grad():
        parts = [fn(model.module_, to_device(b, model.device)).cpu() for b in loader]
    return torch.cat(parts).unsqueeze(1).numpy()


def _per_epoch(log: list[tuple[int, float, float, float]], n_epochs: int) -> pd.DataFrame:
    """Mean error per epoch of each component and of the mixture from the per-batch log."""
    columns = ["epoch", "factors", "fusion", "mixture"]
    if not log or n_epochs == 0:
        return pd.DataFrame(columns=columns)
    per_epoch = len(log) // n_epochs
    rows = []
    for e in range(n_epochs):
        part = np.array(log[e * per_epoch:(e + 1) * per_epoch], dtype=np.float64)
        n = part[:, 0].sum()
        rows.append([e, part[:, 1].sum() / n, part[:, 2].sum() / n, part[:, 3].sum() / n])
    return pd.DataFrame(rows, columns=columns)
