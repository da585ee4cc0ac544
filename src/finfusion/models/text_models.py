"""Text models of seed 000: cross-attention fusion (eq. 6-17) and the Text-only baseline.

Both put a `TextEncoder` (any Hugging Face encoder, default all-MiniLM-L6-v2) inside the network,
so with `tuning="full"` (or "top_k", "lora") the encoder is trained jointly with the predictor
(eq. 5), with its own learning rate `encoder_lr`. With `tuning="frozen"` the pooled text vectors
are computed once per distinct text and cached (the two-stage baseline).

Cross-attention with one query and one key is degenerate (the softmax weight is always 1), so
the keys/values are a *set of numeric tokens*: one embedding per numeric feature of day t, plus
one per day of the look-back when X is (n, L, d). The query is the projected text vector; the
attention weights say which indicators (and days) each text attended to (`predict_attention`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from finfusion.models.base import Samples, store_params
from finfusion.models.layers import NumericEncoder, OutputHead
from finfusion.models.params import (
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
from finfusion.models.torch_predictor import TorchPredictor
from finfusion.models.trainer import ArrayDataset, TrainerConfig, to_device
from finfusion.text.cache import FrozenOutputs
from finfusion.text.inference import Engine, Precision, check_inference

ENCODER_PARAMS = ("model", "pooling", "max_length", "tuning", "top_k", "lora_rank", "lora_alpha", "lora_dropout",
                  "encoder_dropout", "encoder_engine", "encoder_precision")


class TextDataset(ArrayDataset):
    """Numeric arrays plus `text_id` (index of each sample's text among the distinct texts);
    `collate` replaces `text_id` by the encoder's inputs for the batch (tokens or cached states)."""

    def __init__(self, text_inputs, **arrays: np.ndarray) -> None:
        super().__init__(text_id=text_inputs.ids, **arrays)
        self.text_inputs = text_inputs

    def collate(self, batch):  # type: ignore[override]
        batch = dict(ArrayDataset.collate(batch))
        batch.update(self.text_inputs.collate(batch.pop("text_id")))
        return batch


class TextProjection(nn.Module):
    """h_text = ReLU(W LN(h_bert) + b) (seed 000 eq. 6): (B, H_enc) -> (B, D_h).

    The LayerNorm (not in the paper) puts pooled encoder vectors, whose scale depends on the
    model and pooling, on the scale of the z-scored numeric features; without it the text path
    of the fusion model learned markedly slower on the simulator.
    """

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, d_out), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class NumericTokens(nn.Module):
    """Keys/values for cross-attention: one token per feature of day t, one per look-back day.

    Feature token j: the shared two-layer ReLU encoder (eq. 7-8) applied to x_j·w_j + b_j.
    Day token l (look-back only): the same encoder on a linear map of the day's vector x_{t-l}
    plus a learned lag embedding. x: (B, d) or (B, L, d) -> tokens (B, d [+ L], D_h).
    """

    def __init__(self, n_features: int, lookback: int, d_model: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_features, d_model) * (1.0 / d_model**0.5))
        self.bias = nn.Parameter(torch.zeros(n_features, d_model))
        self.encoder = NumericEncoder(d_model, d_model, dropout)
        self.lookback = lookback
        if lookback > 1:
            self.day_proj = nn.Linear(n_features, d_model)
            self.lag = nn.Parameter(torch.zeros(lookback, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        today = x[:, -1, :] if x.dim() == 3 else x  # (B, d)
        tokens = today.unsqueeze(-1) * self.weight + self.bias  # (B, d, D_h)
        if self.lookback > 1:
            days = self.day_proj(x) + self.lag  # (B, L, D_h)
            tokens = torch.cat([tokens, days], dim=1)  # (B, d + L, D_h)
        return self.encoder(tokens)  # token-wise two-layer ReLU: (B, S, D_h)


class FusionNet(nn.Module):
    """Text query attends over numeric tokens; [h_text, a] -> hidden ReLU -> output (eq. 9-17)."""

    def __init__(self, encoder: nn.Module, n_features: int, lookback: int, hidden: int, heads: int,
                 n_outputs: int | None, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_outputs = n_outputs
        self.encoder = encoder
        self.text_proj = TextProjection(encoder.hidden_size, hidden, dropout)
        self.num_tokens = NumericTokens(n_features, lookback, hidden, dropout)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.head = OutputHead(2 * hidden, hidden, n_outputs or 1, dropout)

    def attend(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(h_text (B, D_h), attended a (B, D_h), weights (B, heads, S))."""
        h_text = self.text_proj(self.encoder(batch))  # (B, H_enc) -> (B, D_h)
        tokens = self.num_tokens(batch["x"])  # (B, S, D_h)
        a, weights = self.attention(h_text.unsqueeze(1), tokens, tokens, need_weights=True,
                                    average_attn_weights=False)  # (B, 1, D_h), (B, heads, 1, S)
        return h_text, a[:, 0], weights[:, :, 0]

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        h_text, a, _ = self.attend(batch)
        out = self.head(torch.cat([h_text, a], dim=-1))  # (B, 2 D_h) -> (B, n_out)
        return out if self.n_outputs else out[:, 0]


class TextOnlyNet(nn.Module):
    """Encoder -> projection -> output MLP; ignores numeric features."""

    def __init__(self, encoder: nn.Module, hidden: int, n_outputs: int | None, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_outputs = n_outputs
        self.encoder = encoder
        self.text_proj = TextProjection(encoder.hidden_size, hidden, dropout)
        self.head = OutputHead(hidden, hidden, n_outputs or 1, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.head(self.text_proj(self.encoder(batch)))  # (B, H_enc) -> (B, D_h) -> (B, n_out)
        return out if self.n_outputs else out[:, 0]


class TextPredictor(TorchPredictor):
    """Shared plumbing of predictors with a `TextEncoder` inside: text inputs, encoder LR,
    and checkpoints that hold only what training changed (frozen weights reload from `model`)."""

    uses_text: ClassVar[bool] = True
    predict_batch_size: ClassVar[int] = 128

    def _make_encoder(self):
        from finfusion.text.encoder import TextEncoder

        return TextEncoder(self.model, pooling=self.pooling, max_length=self.max_length, tuning=self.tuning,
                           top_k=self.top_k, lora_rank=self.lora_rank, lora_alpha=self.lora_alpha,
                           lora_dropout=self.lora_dropout, dropout=self.encoder_dropout,
                           engine=self.encoder_engine, precision=self.encoder_precision)

    def _check_encoder_inference(self) -> None:
        """ConfigError, when the predictor is made (a run config is parsed), for an encoder engine /
        precision that cannot run this tuning or is not installed (`finfusion.text.inference`)."""
        check_inference(self.encoder_engine, self.encoder_precision, target="encoder", tuning=self.tuning,
                        where=f"{type(self).__name__}: encoder_engine / encoder_precision")

    def _seeded_encoder(self):
        with torch.random.fork_rng(devices=[]):  # LoRA initialisation is random: seed it
            torch.manual_seed(self.seed)
            return self._make_encoder()

    def _learn_inputs(self, train: Samples) -> None:
        super()._learn_inputs(train)
        self._encoder = self._seeded_encoder()

    def frozen_text_outputs(self, samples: Samples) -> list[FrozenOutputs]:
        """With tuning="frozen": the pooled vectors of exactly the texts `fit` / `predict` on any
        rows of `samples` encode (`_encoder_texts`), computed here through the usual caches
        (process store, on-disk cache) by an encoder built as `fit` builds it, as one
        `FrozenOutputs` (values (U, H) float32) for `finfusion.text.cache.seed` in a worker.
        Other tunings: []: "full" / "lora" cache no network output, and the top_k lower-layer
        states ((L_i, H) per text) are too large to ship, so they stay per process.

        A worker finds the vectors only under the same namespace: same model directory and
        settings, and the same encoding key (device type, texts per call, torch thread count).
        Call this with the torch thread count the workers use; with another, the worker looks
        under its own namespace and encodes the texts itself (correct, only slower).
        """
        if self.tuning != "frozen":
            return []
        self.check_task(samples)
        return [self._seeded_encoder().frozen_outputs(self._encoder_texts(samples))]

    def _encoder_texts(self, data: Samples) -> list[str]:
        """The texts `_dataset` gives the encoder for `data`: one per sample (its newsflow)."""
        return list(data.texts)

    def _take_encoder(self) -> nn.Module:
        encoder = self.__dict__.pop("_encoder", None)
        return encoder if encoder is not None else self._make_encoder()

    def _current_encoder(self) -> nn.Module:
        return self.module_.encoder if hasattr(self, "module_") else self._encoder

    def _dataset(self, data: Samples, targets: np.ndarray | None) -> TextDataset:
        arrays = {"x": np.ascontiguousarray(data.X, dtype=np.float32)}
        if targets is not None:
            arrays["y"] = targets
        return TextDataset(self._current_encoder().inputs(self._encoder_texts(data)), **arrays)

    def _trainer_config(self, epochs: int, warm: bool = False) -> TrainerConfig:
        frozen = {} if warm or not self.encoder_frozen_epochs else {"encoder.": self.encoder_frozen_epochs}
        return replace(super()._trainer_config(epochs, warm), param_group_lrs={"encoder.": self.encoder_lr},
                       frozen_epochs=frozen)

    def _module_state(self) -> dict[str, torch.Tensor]:
        state = {k: v for k, v in self.module_.state_dict().items() if not k.startswith("encoder.")}
        state.update({f"encoder.{k}": v for k, v in self.module_.encoder.trainable_state_dict().items()})
        return state

    def _load_module_state(self, module: nn.Module, state: dict[str, torch.Tensor]) -> None:
        encoder_state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
        rest = {k: v for k, v in state.items() if not k.startswith("encoder.")}
        missing, unexpected = module.load_state_dict(rest, strict=False)
        missing = [k for k in missing if not k.startswith("encoder.")]
        if missing or unexpected:
            raise ValueError(f"{type(self).__name__}: checkpoint does not match the network "
                             f"(missing {missing}, unexpected {unexpected})")
        module.encoder.load_trainable_state_dict(encoder_state)


@register("fusion")
class FusionPredictor(TextPredictor):
    """Cross-attention fusion of a jointly trained text encoder and numeric features (seed 000).

    model         Hugging Face encoder name or local path; None: the bundled all-MiniLM-L6-v2.
    pooling       "mean" (default: what all-MiniLM-L6-v2 was trained with) or "cls" (the paper's BERT).
    max_length    truncation length in tokens (batches are padded only to their longest text).
    tuning        "full" (end-to-end, eq. 5), "top_k" (only the top `top_k` layers train; the
                  frozen lower layers' outputs are cached per text), "lora" (rank `lora_rank`
                  adapters via peft) or "frozen" (two-stage: embeddings computed once).
    encoder_dropout  dropout inside the trained encoder layers; None keeps the model's own.
    encoder_engine, encoder_precision  how frozen outputs are computed: "torch" ("fp32" or
                  "bf16") or "onnx" (ONNX Runtime, "fp32" or "int8"; tuning "frozen" only), see
                  `finfusion.text.inference` and docs/text.md.
    encoder_lr    learning rate of the encoder parameters (the rest use `lr`).
    encoder_frozen_epochs  on a cold fit, train only the heads for this many epochs on the
                  fixed pretrained encoder, then fine-tune everything (linear probing, then
                  fine-tuning): the encoder then starts from heads that already use the text.
    hidden        D_h, the shared latent size; heads: number of attention heads H.
    Training settings as `MLPPredictor` (defaults of seed 000: AdamW lr 5e-4, weight decay
    1e-4, clip 1.0, 15 epochs, batch 16).
    """

    architecture_params = ("hidden", "heads", *ENCODER_PARAMS)

    def __init__(self, *, model: str | None = None, pooling: Pooling = "mean", max_length: TokenLength = 128,
                 tuning: Tuning = "full", top_k: PositiveInt = 2, lora_rank: PositiveInt = 4,
                 lora_alpha: PositiveInt = 8, lora_dropout: Probability = 0.0,
                 encoder_dropout: Probability | None = None,
                 encoder_engine: Engine = "torch", encoder_precision: Precision = "fp32",
                 encoder_lr: PositiveFloat = 2e-5, encoder_frozen_epochs: NonNegativeInt = 0,
                 hidden: PositiveInt = 64, heads: PositiveInt = 4,
                 dropout: Probability = 0.0, epochs: PositiveInt = 15, batch_size: PositiveInt = 16,
                 lr: PositiveFloat = 5e-4, weight_decay: NonNegativeFloat = 1e-4, l2: NonNegativeFloat = 0.0,
                 grad_clip: PositiveFloat | None = 1.0, early_stopping_patience: PositiveInt | None = None,
                 seed: Seed = 0, warm_start: bool = False, warm_epochs: PositiveInt | None = None,
                 warm_replay: NonNegativeInt | None = None, show_progress: bool = False, device: str = "cpu") -> None:
        store_params(self, locals())
        self._check_encoder_inference()

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        lookback = self.input_shape_[0] if len(self.input_shape_) == 2 else 1
        return FusionNet(self._take_encoder(), self.input_shape_[-1], lookback, self.hidden, self.heads,
                         n_outputs, self.dropout)

    def token_names(self) -> list[str]:
        """Names of the attention keys: the features of day t, then the look-back days."""
        self.check_fitted()
        names = list(self.feature_names_in_)
        if len(self.input_shape_) == 2:
            names += [f"day t-{self.input_shape_[0] - 1 - i}" for i in range(self.input_shape_[0])]
        return names

    def predict_attention(self, data: Samples) -> np.ndarray:
        """Attention weights (n, heads, n_tokens) of each sample's text over the numeric tokens."""
        self.check_fitted()
        dataset = self._dataset(self._checked(data, "predict"), None)
        loader = DataLoader(dataset, batch_size=self.predict_batch_size, collate_fn=dataset.collate)
        self.module_.eval()
        with torch.no_grad():
            parts = [self.module_.attend(to_device(b, self.device))[2].cpu() for b in loader]
        return torch.cat(parts).numpy()


@register("text_only")
class TextOnlyPredictor(TextPredictor):
    """Text-only baseline of seed 000: encoder + projection + MLP (numeric features unused).

    Parameters as `FusionPredictor` (without `heads`).
    """

    uses_numeric: ClassVar[bool] = False
    architecture_params = ("hidden", *ENCODER_PARAMS)

    def __init__(self, *, model: str | None = None, pooling: Pooling = "mean", max_length: TokenLength = 128,
                 tuning: Tuning = "full", top_k: PositiveInt = 2, lora_rank: PositiveInt = 4,
                 lora_alpha: PositiveInt = 8, lora_dropout: Probability = 0.0,
                 encoder_dropout: Probability | None = None,
                 encoder_engine: Engine = "torch", encoder_precision: Precision = "fp32",
                 encoder_lr: PositiveFloat = 2e-5, encoder_frozen_epochs: NonNegativeInt = 0,
                 hidden: PositiveInt = 64, dropout: Probability = 0.0,
                 epochs: PositiveInt = 15, batch_size: PositiveInt = 16, lr: PositiveFloat = 5e-4,
                 weight_decay: NonNegativeFloat = 1e-4, l2: NonNegativeFloat = 0.0,
                 grad_clip: PositiveFloat | None = 1.0, early_stopping_patience: PositiveInt | None = None,
                 seed: Seed = 0, warm_start: bool = False, warm_epochs: PositiveInt | None = None,
                 warm_replay: NonNegativeInt | None = None, show_progress: bool = False, device: str = "cpu") -> None:
        store_params(self, locals())
        self._check_encoder_inference()

    def _build_module(self, n_outputs: int | None) -> nn.Module:
        return TextOnlyNet(self._take_encoder(), self.hidden, n_outputs, self.dropout)
