"""`TextEncoder`: a Hugging Face encoder as a module of a finfusion network, with four tuning modes.

    enc = TextEncoder()                       # bundled all-MiniLM-L6-v2, [CLS] pooling, frozen
    inputs = enc.inputs(texts)                # distinct texts tokenised once; frozen outputs cached
    batch = inputs.collate(inputs.ids[:16])   # the text part of a batch (keys depend on `tuning`)
    vectors = enc(batch)                      # (B, hidden_size) pooled text vectors

Tuning modes and the batch keys `TextInputs.collate` produces (and `forward` consumes):

* ``frozen`` (two-stage): {"text_emb": (B, H) float32}. The pooled output of the pre-trained
  encoder is computed once per distinct text (inference mode, in batch-invariant calls of texts of
  one length, see `finfusion.text.encoding`) and cached; forward returns it. The encoder has no
  parameters.
* ``full`` (end-to-end, seed 000 eq. 5) and ``lora`` (peft adapters on every linear layer of the
  attention and feed-forward blocks; only the adapters train): {"input_ids": (B, T) int64,
  "attention_mask": (B, T) int64}, padded to the longest text of the batch (T <= max_length).
* ``top_k``: {"hidden": (B, T, H) float32, "attention_mask": (B, T)}: the token states after the
  frozen embeddings + lower n_layers - k layers, computed once per distinct text and cached
  (float16 by default, see `finfusion.text.cache`); forward runs only the top k (trainable) layers.
  Lower layers are run in eval mode (no dropout) since they never train.

Pooling: "cls" = state of the first token; "mean" = attention-mask-weighted mean of token states.

Parameter names: trainable weights live inside this module, so in a parent that registers it
as ``encoder`` their names start with "encoder." (``param_group_lrs={"encoder.": lr}``). Frozen
weights are either not part of the module (frozen mode, the lower layers of top_k) or have
requires_grad=False (lora). `trainable_state_dict()` holds only what tuning trains, so
checkpoints stay small; the rest is reloaded from `model`.

All caches are process-wide and bounded (see `finfusion.text.cache`). In frozen mode the pooled
vectors of a local model also go to the on-disk cache of `finfusion.text.disk_cache`, so a later
process reads them instead of running the model (FINFUSION_CACHE_DIR=off turns it off). A cached
output is a function of its text (with the model, settings, device and thread count): never of
which texts were encoded with it, or when (`finfusion.text.encoding`); so a rolling run that
fills the caches fold by fold and a resumed one that fills them at once compute the same.

Frozen inference can run on ONNX Runtime (``engine="onnx"``, extra ``finfusion[onnx]``; the pooled
vectors of ``tuning="frozen"`` only), at ``precision`` "fp32" or "int8"; torch runs "fp32" or
"bf16" (see `finfusion.text.inference`, `finfusion.text.onnx_engine`). Both are in every cache key.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

import finfusion.progress as progress
from finfusion.errors import ConfigError
from finfusion.text.cache import STORE, FrozenOutputs, state_dtype
from finfusion.text.disk_cache import RowCache, row_cache, text_keys
from finfusion.text.encoding import (
    encode_frozen,
    encoding_key,
    encoding_tag,
    layers_of,
    lower_states,
    packed_rows,
    pool,
    rows_for,
    run_layers,
)
from finfusion.text.inference import Engine, Precision, check_inference
from finfusion.text.onnx_engine import onnx_model
from finfusion.text.tokens import Backbone, default_model_path, load_backbone, pad_ids, token_ids, unique_texts

__all__ = ["TextEncoder", "TextInputs", "PretrainingInfo", "default_model_path", "pretraining_info", "pool"]

Pooling = Literal["cls", "mean"]
Tuning = Literal["frozen", "full", "top_k", "lora"]
DTYPE_NAMES = {"fp32": "float32", "bf16": "bfloat16", "int8": "int8"}  # in the on-disk cache's names
PROGRESS_MIN_TEXTS = 100  # show a tqdm bar when a cache fill encodes at least this many texts
# (a rolling run's first window: hundreds of texts, seconds to a minute; later folds add a few)


# -- pre-training cut-offs ------------------------------------------------------------------------

@dataclass(frozen=True)
class PretrainingInfo:
    """What the model card says about the dates of the pre-training text.

    cutoff         last date of pre-training text, only where the model card states one.
    text_through   a documented lower bound on the cut-off: the card lists training text from
                   this date (so a test period before it was certainly readable by the model).
    source         where this comes from (the model card, quoted).
    """

    cutoff: date | None
    text_through: date | None
    source: str


# Source: model cards only (no guesses from release dates). A key matches a model name or path
# (lower-cased, "_" read as "-") where it starts a word: "bert-base" matches "bert-base-uncased"
# and "google/bert-base-cased" but not "distilbert-base-uncased". The first match wins.
PRETRAINING: dict[str, PretrainingInfo] = {
    "all-minilm-l6-v2": PretrainingInfo(
        cutoff=None,
        text_through=date(2018, 1, 1),
        source="all-MiniLM-L6-v2 model card (README.md in the model directory): states no cut-off; its "
        "fine-tuning data table lists 'Reddit comments (2015-2018)' among 1B sentence pairs (other sets "
        "undated); base model nreimers/MiniLM-L6-H384-uncased (its card is not bundled)",
    ),
    "bert-base": PretrainingInfo(
        cutoff=None, text_through=None,
        source="bert-base model card: BookCorpus and English Wikipedia, no dates stated",
    ),
    "bert-large": PretrainingInfo(
        cutoff=None, text_through=None,
        source="bert-large model card: BookCorpus and English Wikipedia, no dates stated",
    ),
}


def pretraining_info(model_name: str) -> PretrainingInfo:
    """The table entry whose key occurs in `model_name`, else "unknown" (cutoff None)."""
    name = model_name.lower().replace("_", "-")
    for key, info in PRETRAINING.items():
        if re.search(rf"(^|[^a-z0-9]){re.escape(key)}", name):
            return info
    return PretrainingInfo(None, None, f"unknown: no entry for {model_name!r} in finfusion's table")


# -- the inputs ---------------------------------------------------------------------------------

class TextInputs:
    """The encoder-side view of a list of texts: unique texts tokenised once, plus whatever the
    tuning mode caches. `ids` (n,) int64 maps each input text to its unique-text index.

    texts      the distinct texts (first-seen order); `len(inputs)` is their number.
    collate(unique_ids) -> the text part of a batch for those distinct texts (see the module
               docstring for the keys of each tuning mode); pads to the longest text in the batch.
    """

    def __init__(self, tuning: Tuning, ids: np.ndarray, texts: list[str], *, emb: Tensor | None = None,
                 rows: list[np.ndarray] | None = None, pad_id: int = 0) -> None:
        self.tuning = tuning
        self.ids = ids
        self.texts = texts
        self._emb = emb  # frozen: (U, H) float32
        self._rows = rows  # full/lora: int32 token ids (L_i,); top_k: states (L_i, H)
        self._pad_id = pad_id

    def __len__(self) -> int:
        return len(self.texts)

    def collate(self, unique_ids: Sequence[int] | Tensor | np.ndarray) -> dict[str, Tensor]:
        idx = torch.as_tensor(unique_ids, dtype=torch.long).reshape(-1)
        if self._emb is not None:
            return {"text_emb": self._emb[idx]}
        rows = [self._rows[i] for i in idx.tolist()]
        if self.tuning == "top_k":
            lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
            hidden = nn.utils.rnn.pad_sequence([torch.from_numpy(r) for r in rows], batch_first=True)
            mask = (torch.arange(hidden.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)).long()
            return {"hidden": hidden.float(), "attention_mask": mask}
        input_ids, mask = pad_ids(rows, self._pad_id)
        return {"input_ids": input_ids, "attention_mask": mask}

    def __repr__(self) -> str:
        return f"TextInputs(tuning={self.tuning!r}, n={len(self.ids)}, unique={len(self.texts)})"


# -- the encoder --------------------------------------------------------------------------------

class TextEncoder(nn.Module):
    """A pre-trained Hugging Face encoder giving one pooled vector per text (see the module docstring).

    model         local directory or Hugging Face name (local cache only unless
                  FINFUSION_ALLOW_DOWNLOAD=1); None: the bundled all-MiniLM-L6-v2.
    pooling       "cls" (first token, seed 000) or "mean" (mask-weighted mean).
    max_length    truncation length in tokens, special tokens included (default 128).
    tuning        "frozen", "full", "top_k" (train the top `top_k` layers) or "lora".
    top_k         trainable top layers for tuning="top_k" (1..n_layers).
    lora_rank, lora_alpha, lora_dropout   LoRA settings for tuning="lora".
    dropout       dropout probability inside the trained layers (attention and hidden dropout);
                  None keeps the model's own (0.1 for BERT and MiniLM). Fine-tuning on a few
                  thousand noisy return targets can prefer 0 (see docs/architecture.md).
    device        where cache fills (frozen outputs) run; None: CUDA when available, else CPU
                  (the onnx engine runs on the CPU).
    engine        "torch" (default) or "onnx" (ONNX Runtime; tuning "frozen" only).
    precision     of cache fills: "fp32" (default, exact), "bf16" (torch autocast: ~2.6x faster on
                  CPUs with AMX / AVX512-BF16; cosine to fp32 >= 0.9999 on MiniLM) or "int8"
                  (onnx: static int8, `finfusion.text.onnx_int8`, docs/text.md). Cached under its own key.

    Attributes: hidden_size, n_layers, model_name, pretraining (PretrainingInfo),
    pretraining_cutoff (date or None), lora_target_modules (lora only).
    """

    def __init__(self, model: str | Path | None = None, *, pooling: Pooling = "cls", max_length: int = 128,
                 tuning: Tuning = "frozen", top_k: int = 2, lora_rank: int = 4, lora_alpha: int = 8,
                 lora_dropout: float = 0.0, dropout: float | None = None, device: str | None = None,
                 engine: Engine = "torch", precision: Precision = "fp32") -> None:
        super().__init__()
        _check_choice("pooling", pooling, ("cls", "mean"))
        _check_choice("tuning", tuning, ("frozen", "full", "top_k", "lora"))
        check_inference(engine, precision, target="encoder", tuning=tuning, where="TextEncoder")
        if engine == "onnx" and device is not None and torch.device(device).type != "cpu":
            raise ConfigError(f"TextEncoder: engine 'onnx' runs on the CPU (onnxruntime's CPU provider), got "
                              f"device={device!r}; use engine 'torch' on {device}")
        self.engine, self.precision = engine, precision
        self._backbone: Backbone = load_backbone(model)
        config = self._backbone.config
        self.pooling, self.tuning, self.max_length = pooling, tuning, int(max_length)
        self.hidden_size = int(config.hidden_size)
        self.n_layers = int(config.num_hidden_layers)
        self.model_name = self._backbone.name
        self.pretraining = pretraining_info(self.model_name)
        self.pretraining_cutoff = self.pretraining.cutoff
        self.encode_device = device or ("cuda" if torch.cuda.is_available() and engine == "torch" else "cpu")
        self._check_sizes(config, top_k, lora_rank, lora_alpha, lora_dropout)
        self.top_k = int(top_k) if tuning == "top_k" else 0
        self.lora_target_modules: list[str] = []
        if tuning == "full":
            self.transformer = self._backbone.trainable_copy()
        elif tuning == "lora":
            self.transformer = self._lora(lora_rank, lora_alpha, lora_dropout)
        elif tuning == "top_k":
            layers = layers_of(self._backbone.model)
            self.top = copy.deepcopy(layers[self.n_layers - self.top_k:]).requires_grad_(True)
            _check_split(self._backbone, self.n_layers - self.top_k, self.top)
        self.dropout = dropout
        if dropout is not None:
            self._set_dropout(dropout)

    def _set_dropout(self, p: float) -> None:
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout must be None or in [0, 1), got {p!r}")
        for name, module in self.named_modules():  # trained copies only; LoRA keeps lora_dropout
            if isinstance(module, nn.Dropout) and "lora_" not in name:
                module.p = float(p)

    def _check_sizes(self, config, top_k: int, rank: int, alpha: int, dropout: float) -> None:
        limit = getattr(config, "max_position_embeddings", None) or 10**9
        if not 2 <= self.max_length <= limit:
            raise ConfigError(f"max_length must be in [2, {limit}] for {self.model_name}, got {self.max_length}")
        if self.tuning == "top_k" and not 1 <= top_k <= self.n_layers:
            raise ConfigError(f"top_k must be in [1, {self.n_layers}] (the model has {self.n_layers} layers), "
                              f"got {top_k}; use tuning='frozen' for no trainable layer")
        if self.tuning == "lora" and not (rank >= 1 and alpha > 0 and 0.0 <= dropout < 1.0):
            raise ConfigError(f"LoRA needs lora_rank >= 1, lora_alpha > 0 and 0 <= lora_dropout < 1, got "
                              f"{rank}, {alpha}, {dropout}")

    def _lora(self, rank: int, alpha: int, dropout: float) -> nn.Module:
        from peft import LoraConfig, get_peft_model

        model = self._backbone.trainable_copy()
        # Every linear layer of the attention and feed-forward blocks (the pooler was dropped):
        # for BERT-style models "query", "key", "value" and "dense".
        self.lora_target_modules = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                                           if isinstance(m, nn.Linear)})
        config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=self.lora_target_modules)
        with warnings.catch_warnings():  # peft calls a deprecated transformers helper
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(model, config)

    # -- inputs and caches ----------------------------------------------------------------------

    def inputs(self, texts: Sequence[str]) -> TextInputs:
        """Tokenise the distinct texts (once per process) and, for frozen / top_k, fetch or compute
        their cached frozen outputs (tokenising only the texts no cache holds). Returns the
        `TextInputs` whose `collate` builds batches."""
        uniques, ids = unique_texts(texts)
        if self.tuning == "frozen":
            pooled = self._frozen_outputs(uniques)
            emb = torch.from_numpy(np.stack(pooled)) if pooled else torch.zeros(0, self.hidden_size)
            return TextInputs("frozen", ids, uniques, emb=emb)
        if self.tuning == "top_k":
            return TextInputs("top_k", ids, uniques, rows=self._frozen_outputs(uniques))
        tokens = token_ids(self._backbone, uniques, self.max_length)
        return TextInputs(self.tuning, ids, uniques, rows=tokens, pad_id=self._backbone.pad_id)

    def frozen_outputs(self, texts: Sequence[str]) -> FrozenOutputs:
        """The pooled vectors of the distinct `texts` (first-seen order) as `FrozenOutputs`
        (values (U, hidden_size) float32) under the namespace this encoder looks them up in,
        computed or fetched through the usual caches (frozen tuning only). Another process
        `finfusion.text.cache.seed`s its store with them and encodes none of these texts, if its
        encoder has the same model, settings and encoding key (device type, texts per call,
        torch thread count, engine, precision); else it looks under its own namespace and computes them itself.
        top_k lower-layer states are not offered: (L_i, H) per text, too large to ship."""
        if self.tuning != "frozen":
            raise ConfigError(f"TextEncoder.frozen_outputs: needs tuning='frozen', got {self.tuning!r} "
                              "(top_k lower-layer states stay in each process)")
        uniques, _ = unique_texts(texts)
        pooled = self._frozen_outputs(uniques)
        values = np.stack(pooled) if pooled else np.zeros((0, self.hidden_size), dtype=np.float32)
        return FrozenOutputs(self._namespace(self.pooling), tuple(uniques), values)

    def _namespace(self, pooling: str | None) -> tuple:
        """The cache key of this encoder's frozen outputs: everything they depend on but the text."""
        if self.tuning == "frozen":
            return ("pooled", self._backbone.key, self.max_length, pooling, self.n_layers,
                    encoding_key(self.encode_device, "pooled", self.engine, self.precision))
        return ("states", self._backbone.key, self.max_length, self.n_layers - self.top_k, state_dtype().name,
                encoding_key(self.encode_device, "states", self.engine, self.precision))

    def _frozen_outputs(self, texts: list[str]) -> list[np.ndarray]:
        """Cached frozen outputs of the distinct `texts` (pooled vectors or lower-layer states),
        computing the missing ones (batch-invariant: each is what the text alone gives, see
        `_encode`). Only texts found in neither cache are tokenised."""
        namespace = self._namespace(self.pooling)
        found = STORE.get_many(namespace, texts)
        missing = [i for i, v in enumerate(found) if v is None]
        disk = self._disk_cache() if missing else None
        if disk is not None:
            keys = text_keys([texts[i] for i in missing])
            rows, hit = disk.lookup(keys)
            for j in np.flatnonzero(hit):
                found[missing[j]] = rows[j]
            STORE.put_many(namespace, [texts[missing[j]] for j in np.flatnonzero(hit)], [r for r in rows if r is not None])
            missing, keys = [missing[j] for j in np.flatnonzero(~hit)], [keys[j] for j in np.flatnonzero(~hit)]
        if missing:
            computed = self._encode(token_ids(self._backbone, [texts[i] for i in missing], self.max_length))
            for i, pos in enumerate(missing):
                found[pos] = computed[self.pooling if self.tuning == "frozen" else "states"][i]
            for key, values in computed.items():
                ns = namespace if key == "states" else self._namespace(key)
                STORE.put_many(ns, [texts[i] for i in missing], values)
            if disk is not None:
                disk.add(keys, np.stack(computed[self.pooling]))
        return found  # type: ignore[return-value]

    def _disk_cache(self) -> RowCache | None:
        """The on-disk cache of this pooling's frozen vectors (frozen tuning of a local model with
        caches on), else None. Lower-layer states (top_k) stay in memory only."""
        model_hash = self._backbone.disk_key.current() if self.tuning == "frozen" else None
        tag = encoding_tag(self.encode_device, "pooled", self.engine, self.precision)
        settings = f"L{self.max_length}-{self.pooling}-{DTYPE_NAMES[self.precision]}-{tag}"
        return row_cache("encoder", model_hash, settings, self.hidden_size, "float32")

    def _encode(self, tokens: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
        """Run the frozen network on token arrays: {"cls": [...], "mean": [...]} pooled float32
        vectors (H,) (frozen mode; both poolings cost the same pass) or {"states": [...]} (L_i, H)
        (top_k), each a function of its text alone (`finfusion.text.encoding.encode_frozen`)."""
        if self.engine == "onnx":  # the same calls (rows, length) on an ONNX Runtime session
            model = onnx_model(self._backbone.model, kind="encoder", precision=self.precision, where="TextEncoder",
                               model_hash=self._backbone.disk_key.current(), backbone=self._backbone)
        else:
            model = self._backbone.model_on(self.encode_device)
        n_lower = self.n_layers - self.top_k if self.tuning == "top_k" else None
        rows = rows_for(self.encode_device, "pooled" if n_lower is None else "states", self.engine, self.precision)
        with progress.bar(len(tokens), "encoding texts", unit="text", min_total=PROGRESS_MIN_TEXTS) as bar:
            return encode_frozen(model, tokens, n_lower=n_lower, device=self.encode_device,
                                 bfloat16=self.precision == "bf16", state_dtype=state_dtype(), rows=rows,
                                 packed=packed_rows(self.engine, self.precision) if n_lower is None else None,
                                 on_batch=bar.update)

    # -- forward ---------------------------------------------------------------------------------

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """The pooled text vectors (B, hidden_size) of a batch made by `TextInputs.collate`."""
        if self.tuning == "frozen":
            return batch["text_emb"]  # (B, H), cached
        mask = batch["attention_mask"]  # (B, T)
        if self.tuning == "top_k":
            states = run_layers(self.top, self._backbone.config, batch["hidden"], mask)  # (B, T, H)
        else:
            states = self.transformer(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
        return pool(states, mask, self.pooling)  # (B, H)

    @torch.no_grad()
    def embed(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Pooled vectors (n, hidden_size) float32 of `texts` with the current weights (eval mode)."""
        inputs = self.inputs(texts)
        was_training = self.training
        self.eval()
        device = next(self.parameters(), torch.empty(0)).device
        try:
            parts = [self(_to(inputs.collate(range(s, min(s + batch_size, len(inputs)))), device)).float().cpu()
                     for s in range(0, len(inputs), batch_size)]
        finally:
            self.train(was_training)
        unique = torch.cat(parts) if parts else torch.zeros(0, self.hidden_size)
        return unique[torch.from_numpy(inputs.ids)].numpy()

    # -- checkpoints -------------------------------------------------------------------------------

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Only the parameters tuning trains: none (frozen), the top k layers (top_k), the LoRA
        weights (lora) or all weights (full). Frozen weights are reloaded from `model`."""
        return {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load what `trainable_state_dict` returned; the keys must match exactly."""
        params = {name: p for name, p in self.named_parameters() if p.requires_grad}
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        if missing or unexpected:
            raise ValueError(f"TextEncoder(tuning={self.tuning!r}): state does not match the trainable "
                             f"parameters (missing {missing[:5]}, unexpected {unexpected[:5]})")
        with torch.no_grad():
            for name, p in params.items():
                if tuple(state[name].shape) != tuple(p.shape):
                    raise ValueError(f"TextEncoder: {name} has shape {tuple(state[name].shape)} in the state, "
                                     f"{tuple(p.shape)} in the encoder")
                p.copy_(state[name])

    def extra_repr(self) -> str:
        k = f", top_k={self.top_k}" if self.tuning == "top_k" else ""
        run = "" if (self.engine, self.precision) == ("torch", "fp32") else \
            f", engine={self.engine!r}, precision={self.precision!r}"
        return (f"model={self.model_name!r}, tuning={self.tuning!r}{k}, pooling={self.pooling!r}, "
                f"max_length={self.max_length}{run}")


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"TextEncoder: {name} must be one of {list(allowed)}, got {value!r}")


_SPLIT_CHECKED: set[tuple[str, int]] = set()


def _check_split(backbone: Backbone, n_lower: int, top: nn.ModuleList) -> None:
    """Once per (model, split): cached lower layers + top layers must equal the full forward,
    else this architecture is not a plain stack of layers and top_k cannot be used with it."""
    if (backbone.key, n_lower) in _SPLIT_CHECKED:
        return
    model = backbone.model
    ids = torch.tensor([[backbone.tokenizer.cls_token_id or 1] + [2] * 5 + [0, 0]])
    ids[0, -3] = backbone.tokenizer.sep_token_id or 3
    mask = torch.tensor([[1] * 6 + [0, 0]])
    try:
        with torch.inference_mode():
            full = model(input_ids=ids, attention_mask=mask).last_hidden_state
            split = run_layers(top, model.config, lower_states(model, n_lower, ids, mask), mask)
        ok = torch.allclose(full[:, :6], split[:, :6], atol=1e-4, rtol=1e-4)
    except Exception as exc:
        raise ConfigError(f"tuning='top_k' cannot split {type(model).__name__} into cached lower layers and "
                          f"trainable top layers ({type(exc).__name__}: {exc}); use 'full' or 'lora'") from exc
    if not ok:
        raise ConfigError(f"tuning='top_k': running {type(model).__name__}'s layers one by one does not "
                          "reproduce its forward (the architecture is not a plain layer stack); use 'full' or 'lora'")
    _SPLIT_CHECKED.add((backbone.key, n_lower))


def _to(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(device) for k, v in batch.items()}
