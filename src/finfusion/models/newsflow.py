"""Seed 001's return predictors on factors x_f and a newsflow representation x_n.

x_n aggregates the sample's newsflow (the texts of its look-back window). With
`newsflow="items"` (default) each distinct text is encoded once (frozen and cached by default,
`tuning="frozen"`; or fine-tuned, `tuning="lora"`, rank 4 on all linear layers in the paper) and
x_n is the mean of the vectors of the sample's newest `max_news_items` texts (`Samples.text_items`;
samples built without items count their newsflow string as one item); with
`news_pooling="attention"` x_n is instead the attention-weighted sum Σ_i a_i h_i of those vectors,
a_i = softmax_i(v^T tanh(W LN(h_i) + b)) over the sample's items (`ItemAttention`; not in seed 001,
issue 22: the mean of up to 32 tweet vectors discards which tweets matter). With
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

import typing
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from finfusion.errors import ConfigError
from finfusion.models.base import Samples, store_params
from finfusion.models.inputs import flatten_features
from finfusion.models.newsflow_nets import (
    CombinationHead,
    FactorsNet,
    FininNet,
    ItemAttention,
    ItemsDataset,
    MixtureNet,
    NewsflowNet,
    NewsHead,
    SumHead,
)
from finfusion.models.params import (
    LrSchedule,
    NonNegativeFloat,
    NonNegativeInt,
    Pooling,
    PositiveFloat,
    PositiveInt,
    Probability,
    Seed,
    TokenLength,
    Tuning,
)
from finfusion.models.registry import register
from finfusion.models.text_models import ENCODER_PARAMS, TextPredictor
from finfusion.models.torch_predictor import TorchPredictor
from finfusion.text.inference import Engine, Precision

NoNews = Literal["embedding", "mask"]
Newsflow = Literal["items", "joined"]
MixtureMode = Literal["conventional", "decoupled"]
NewsPooling = Literal["mean", "attention"]
NEWS_POOLINGS: tuple[str, ...] = typing.get_args(NewsPooling)
NO_NEWS: tuple[str, ...] = typing.get_args(NoNews)
NEWSFLOWS: tuple[str, ...] = typing.get_args(Newsflow)
MIXTURE_MODES: tuple[str, ...] = typing.get_args(MixtureMode)


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

    def __init__(self, *, hidden: PositiveInt = 64, dropout: Probability = 0.3, lr_schedule: LrSchedule = "linear",
                 epochs: PositiveInt = 10, batch_size: PositiveInt = 32, lr: PositiveFloat = 1e-4,
                 weight_decay: NonNegativeFloat = 1e-4, l2: NonNegativeFloat = 0.0,
                 grad_clip: PositiveFloat | None = 1.0, early_stopping_patience: PositiveInt | None = None,
                 seed: Seed = 0, warm_start: bool = False, warm_epochs: PositiveInt | None = None,
                 warm_replay: NonNegativeInt | None = None, show_progress: bool = False, device: str = "cpu") -> None:
        store_params(self, locals())

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return FactorsNet(self.n_features_in_, self.hidden, n_outputs, self.dropout)


class NewsflowPredictor(_LinearDecay, TextPredictor):
    """Base of the seed-001 models that read the newsflow (parameters below).

    news_pooling  "mean" (the paper): x_n pools the sample's item vectors by their mean;
                  "attention": by learned per-item attention (`ItemAttention`, width `hidden`),
                  whose weights come out through `predict_item_weights`. Needs newsflow="items".
    """

    architecture_params = ("hidden", "no_news", "news_pooling", *ENCODER_PARAMS)

    def __init__(self, *, model: str | None = None, pooling: Pooling = "mean", max_length: TokenLength = 128,
                 tuning: Tuning = "frozen", top_k: PositiveInt = 2, lora_rank: PositiveInt = 4,
                 lora_alpha: PositiveInt = 8, lora_dropout: Probability = 0.0,
                 encoder_dropout: Probability | None = None,
                 encoder_engine: Engine = "torch", encoder_precision: Precision = "fp32",
                 encoder_lr: PositiveFloat = 1e-4, encoder_frozen_epochs: NonNegativeInt = 0,
                 hidden: PositiveInt = 64, dropout: Probability = 0.3, no_news: NoNews = "embedding",
                 newsflow: Newsflow = "items", max_news_items: PositiveInt | None = 32,
                 news_pooling: NewsPooling = "mean", lr_schedule: LrSchedule = "linear", epochs: PositiveInt = 10, batch_size: PositiveInt = 32,
                 lr: PositiveFloat = 1e-4, weight_decay: NonNegativeFloat = 1e-4, l2: NonNegativeFloat = 0.0,
                 grad_clip: PositiveFloat | None = 1.0, early_stopping_patience: PositiveInt | None = None,
                 seed: Seed = 0, warm_start: bool = False, warm_epochs: PositiveInt | None = None,
                 warm_replay: NonNegativeInt | None = None, show_progress: bool = False, device: str = "cpu") -> None:
        store_params(self, locals())
        self._check_encoder_inference()

    def _check_newsflow_params(self) -> None:
        if self.no_news not in NO_NEWS:
            raise ConfigError(f"{type(self).__name__}: no_news must be one of {NO_NEWS}, got {self.no_news!r}")
        if self.newsflow not in NEWSFLOWS:
            raise ConfigError(f"{type(self).__name__}: newsflow must be one of {NEWSFLOWS}, got {self.newsflow!r}")
        if self.max_news_items is not None and self.max_news_items < 1:
            raise ConfigError(f"{type(self).__name__}: max_news_items must be >= 1 or None, got {self.max_news_items!r}")
        if self.news_pooling not in NEWS_POOLINGS:
            raise ConfigError(f"{type(self).__name__}: news_pooling must be one of {NEWS_POOLINGS}, "
                              f"got {self.news_pooling!r}")
        if self.news_pooling == "attention" and self.newsflow == "joined":
            raise ConfigError(f"{type(self).__name__}: news_pooling='attention' weights a sample's news items; "
                              "newsflow='joined' gives each sample one item: use newsflow='items'")

    def _learn_inputs(self, train: Samples) -> None:
        self._check_newsflow_params()
        super()._learn_inputs(train)

    def _encoder_texts(self, data: Samples) -> list[str]:
        """"joined": each sample's newsflow string; "items": every sample's news items (the
        newest `max_news_items`, `news_items`), sample after sample."""
        self._check_newsflow_params()
        if self.newsflow == "joined":
            return super()._encoder_texts(data)
        return _flat(news_items(data, self.max_news_items))

    def _dataset(self, data: Samples, targets: np.ndarray | None):
        x = flatten_features(data.X)  # a look-back (n, L, d) -> (n, L*d)
        if self.newsflow == "joined":
            dataset = super()._dataset(data, targets)
            dataset.tensors["x"] = torch.from_numpy(x)
            has = np.fromiter((bool(t.strip()) for t in data.texts), dtype=np.float32, count=len(data.texts))
            dataset.tensors["has_news"] = torch.from_numpy(has)
            return dataset
        items = news_items(data, self.max_news_items)
        inputs = self._current_encoder().inputs(_flat(items))
        bounds = np.cumsum([0, *(len(sample) for sample in items)])
        item_ids = [inputs.ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        arrays = {"x": x, "has_news": np.array([len(i) > 0 for i in items], dtype=np.float32)}
        if targets is not None:
            arrays["y"] = targets
        return ItemsDataset(inputs, item_ids, **arrays)

    def _net(self, make_head, kind: str) -> NewsflowNet:
        """NewsflowNet with the encoder and `make_head(d_n)` (d_n: the encoder's output size)."""
        encoder = self._take_encoder()
        head = make_head(encoder.hidden_size)
        return NewsflowNet(encoder, self.no_news, head, kind, self._item_attention(encoder.hidden_size))

    def _item_attention(self, d_n: int) -> ItemAttention | None:
        """The item pooling of x_n: None (the mean) or `ItemAttention` (news_pooling="attention")."""
        return ItemAttention(d_n, self.hidden) if self.news_pooling == "attention" else None

    def predict_item_weights(self, data: Samples) -> list[np.ndarray]:
        """Each sample's weights (k_i,) on its news items (`news_items(data, max_news_items)`, in
        that order: oldest first): 1/k_i (news_pooling="mean"), the learned attention ("attention")
        or FININ's factor-conditioned weights; they sum to 1, and a sample without news gets (0,)."""
        if self.newsflow != "items":
            raise ConfigError(f"{type(self).__name__}: predict_item_weights needs newsflow='items'")
        flat = self.batch_outputs(data, lambda m, b: m.item_weights(b)).numpy()
        counts = [len(sample) for sample in news_items(data, self.max_news_items)]
        return np.split(flat, np.cumsum(counts)[:-1])


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
        return self.batch_outputs(data, lambda m, b: m.weights(b)).unsqueeze(1).numpy()


@register("finin")
class FininPredictor(NewsflowPredictor):
    """FININ baseline (seed 001's reference [66]): factor-conditioned scaled dot-product weighting
    of the news items, added to the factor representation (see `FininNet`). Best with
    newsflow="items" (with "joined" each sample has one item and the weight is 1). FININ already
    attends over the items (query from the factors), so `news_pooling` does not apply: any value
    but the default "mean" is a ConfigError (`predict_item_weights` gives FININ's own weights)."""

    def _check_newsflow_params(self) -> None:
        super()._check_newsflow_params()
        if self.news_pooling != "mean":
            raise ConfigError("FininPredictor: news_pooling does not apply to FININ, which weights the news items "
                              "by its own factor-conditioned attention; leave it at 'mean' (the default)")

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

    architecture_params = ("hidden", "no_news", "news_pooling", "mode", *ENCODER_PARAMS)

    def __init__(self, *, mode: MixtureMode = "decoupled", tau: PositiveFloat = 1.0, model: str | None = None,
                 pooling: Pooling = "mean", max_length: TokenLength = 128, tuning: Tuning = "frozen",
                 top_k: PositiveInt = 2, lora_rank: PositiveInt = 4, lora_alpha: PositiveInt = 8,
                 lora_dropout: Probability = 0.0, encoder_dropout: Probability | None = None,
                 encoder_engine: Engine = "torch", encoder_precision: Precision = "fp32",
                 encoder_lr: PositiveFloat = 1e-4, encoder_frozen_epochs: NonNegativeInt = 0,
                 hidden: PositiveInt = 64, dropout: Probability = 0.3, no_news: NoNews = "embedding",
                 newsflow: Newsflow = "items", max_news_items: PositiveInt | None = 32,
                 news_pooling: NewsPooling = "mean", lr_schedule: LrSchedule = "linear", epochs: PositiveInt = 10, batch_size: PositiveInt = 32,
                 lr: PositiveFloat = 1e-4, weight_decay: NonNegativeFloat = 1e-4, l2: NonNegativeFloat = 0.0,
                 grad_clip: PositiveFloat | None = 1.0, early_stopping_patience: PositiveInt | None = None,
                 seed: Seed = 0, warm_start: bool = False, warm_epochs: PositiveInt | None = None,
                 warm_replay: NonNegativeInt | None = None, show_progress: bool = False, device: str = "cpu") -> None:
        store_params(self, locals())
        self._check_encoder_inference()

    def _learn_inputs(self, train: Samples) -> None:
        if self.mode not in MIXTURE_MODES:
            raise ConfigError(f"MixturePredictor: mode must be one of {MIXTURE_MODES}, got {self.mode!r}")
        if not self.tau > 0:
            raise ConfigError(f"MixturePredictor: tau must be > 0, got {self.tau!r}")
        super()._learn_inputs(train)

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        encoder = self._take_encoder()
        return MixtureNet(encoder, self.no_news, self.n_features_in_, self.hidden, n_outputs, self.dropout,
                          self.mode, self.tau, self._item_attention(encoder.hidden_size))

    def fit(self, train: Samples, valid: Samples | None = None) -> MixturePredictor:
        if hasattr(self, "module_"):
            self.module_.log.clear()
        super().fit(train, valid)
        self.component_history_ = _per_epoch(self.module_.log, len(self.history_.train_loss))
        self.module_.log.clear()
        return self

    def token_names(self) -> list[str]:
        return ["factors", "fusion"]

    def training_curves(self) -> pd.DataFrame | None:
        """The losses (TorchPredictor) plus error_factors / error_fusion / error_mixture: the mean
        training error per epoch of each component and of the mixture (Fig. 4a)."""
        curves = super().training_curves()
        parts = self.component_history_.melt(id_vars="epoch", var_name="series", value_name="value")
        parts["series"] = "error_" + parts["series"]
        return pd.concat([curves, parts], ignore_index=True)

    def predict_attention(self, data: Samples) -> np.ndarray:
        """Gate probabilities (n, 1, 2): [p_f, p_u] of each sample."""
        return self.batch_outputs(data, lambda m, b: torch.softmax(m.parts(b)[2], dim=-1)).unsqueeze(1).numpy()

    def predict_components(self, data: Samples) -> pd.DataFrame:
        """g_f and g_u of each sample (regression: model units, i.e. scaled as the model saw y)."""
        if self.task_ != "regression":
            raise TypeError("predict_components: component values are returned for regression only")
        both = self.batch_outputs(data, lambda m, b: torch.stack(m.parts(b)[:2], dim=-1)).numpy()
        return pd.DataFrame({"factors": both[:, 0], "fusion": both[:, 1]})


def news_items(data: Samples, max_items: int | None) -> list[tuple[str, ...]]:
    """Each sample's news items (the newest `max_items`): `text_items`, or, for samples built
    without them, the newsflow string as one item ("" -> none)."""
    return [texts for texts, _ in dated_news_items(data, max_items)]


def dated_news_items(data: Samples, max_items: int | None) -> list[tuple[tuple[str, ...], tuple[int, ...] | None]]:
    """`news_items` with each kept item's age (`Samples.text_item_ages`, parallel to the kept
    items; None where the samples carry no ages)."""
    if data.text_items is None:
        return [((t,) if t.strip() else (), None) for t in data.texts]
    all_ages = data.text_item_ages if data.text_item_ages is not None else (None,) * len(data.text_items)
    out = []
    for sample, ages in zip(data.text_items, all_ages):
        keep = [i for i, t in enumerate(sample) if t.strip()]
        keep = keep[-max_items:] if max_items is not None else keep
        out.append((tuple(sample[i] for i in keep), None if ages is None else tuple(ages[i] for i in keep)))
    return out


def _flat(items: list[tuple[str, ...]]) -> list[str]:
    """Every sample's items, sample after sample (the order `ItemsDataset` bounds index)."""
    return [t for sample in items for t in sample]


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
