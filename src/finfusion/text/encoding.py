"""Batch-invariant encoding: the frozen outputs of a text do not depend on the texts encoded with it.

    out = encode_frozen(model, tokens, n_lower=None)   # {"cls": [(H,) ...], "mean": [(H,) ...]} float32
    out = encode_frozen(model, tokens, n_lower=4)      # {"states": [(L_i, H) ...]} unpadded

Why: the caches of `finfusion.text.cache` keep what the frozen network computes per text; a
rolling run fills them a few texts per fold, a resumed run with all the texts up to the resume
fold at once. Floating-point results depend on more than a text's own tokens. Measured on
all-MiniLM-L6-v2 (torch 2.13, CPU, float32, max differences of states):

* padding: a text padded to a longer text of its batch differs from it alone by up to 6e-6
  (the attention reductions run over the padded length);
* the rows of the matrix products: a 3- or 7-token text alone differs from the same text in any
  batch of >= 2 texts (2e-6 to 5e-6), however long the batch;
* the row: with 2 threads, a text's row in a batch of 2 changes its states (1.8e-6);
* the thread count: 1 vs 2 threads differ by 2.6e-6.

Float16 storage turns such differences into whole ulps (1e-3 on MiniLM) and training amplifies
them: a resumed run drifted from the uninterrupted one (issue 16, item 10).

The design removes each cause. A text of L tokens is encoded only in a call of exactly `rows`
texts of exactly L tokens (`rows_for`; no padding; rows no text fills repeat one of the call),
always at row `slot(tokens, rows)`, a hash of its token ids. Every kernel then sees the same
shapes for it, with it at the same row, whatever the other texts are; only the values in other
rows change, and nothing the network computes for one row reads another (matrix products,
layer norm and attention all work per row or per text). So a text's output is a function of its
tokens, the model and settings, the device, `rows` and the thread count; the last three are in
every cache key (`encoding_key`). Texts with identical token ids are encoded once.

Cost: a call with fewer texts than `rows` still runs `rows` texts, and two texts of one length in
one slot need two calls; in exchange nothing is padded. A call costs about 12 ms plus 4 ms per
text of ~25 tokens on 2 CPU threads (reading the weights dominates), so `ROWS` trades bulk fills
against fills of a few texts: pooled vectors (cached on disk, computed once per machine, mostly
for a whole corpus at once) use 8 texts per call on a CPU; lower-layer states (in memory, filled
a few texts per fold by rolling runs) use 1, so a fold never pays for rows it does not fill.
Accelerators use 64 (not measured: there a call costs about the same with 1 or 64 texts).
On ONNX Runtime (`finfusion.text.onnx_engine`) the outputs are those of each text alone
(`rows_for` is 1 there). The calls are *packed* (`packed_rows`): up to PACKED_ROWS texts
of one length per call, each at its position, no slots and no filler rows, because ONNX Runtime's
CPU kernels (MLAS matrix products split over rows and columns, never over the reduction; the fused
attention per text and head; layer norms per row) compute a row of a same-length call exactly as
the text alone: tests/text/test_onnx_engine.py checks it bit for bit against calls of one text.
int8 too: its activations are quantised with fixed, calibrated scales (`finfusion.text.onnx_int8`),
not one scale per call, and its integer products are exact.
Measured on 2 CPU threads with MiniLM, 2,000 simulated tweets: fp32 266 texts/s packed vs 201 with
one text per call; int8 (1,000 tweets) 585 packed vs 356 with one text per call. The engine and
precision are in every cache key (`encoding_key`): vectors of different engines never mix.
Measured on 2 shared CPU threads with MiniLM, 2,000 simulated headlines of 12-39 tokens, against
the padded, length-sorted batches of 64 this replaced: pooled vectors 9.2 s -> 16.5 s, top-2
lower states 6.0 s -> 21.9 s; a rolling pattern (360 texts, then 60 fills of 4) 3.8 s -> 12.3 s
and 2.7 s -> 6.8 s. Each text is encoded once per process (pooled vectors: once per machine).
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from finfusion.errors import ConfigError
from finfusion.text.onnx_engine import engine_name

__all__ = ["ROWS", "PACKED_ROWS", "rows_for", "packed_rows", "slot", "plan_batches", "plan_packed", "encode_frozen", "encoding_key", "encoding_tag", "pool",
           "layers_of", "run_layers", "lower_states"]

Pooling = Literal["cls", "mean"]
Kind = Literal["pooled", "states"]  # pooled vectors (frozen tuning) or lower-layer states (top_k)
# texts per encoding call: by (device type, kind) on CPUs, ACCELERATOR_ROWS elsewhere (see above)
ROWS: dict[tuple[str, str], int] = {("cpu", "pooled"): 8, ("cpu", "states"): 1}
ACCELERATOR_ROWS = 64
PACKED_ROWS = 64  # most texts of one length per call of a packed plan (ONNX Runtime)


# -- pooling and the layer split ------------------------------------------------------------------

def pool(states: Tensor | np.ndarray, mask: Tensor, pooling: Pooling) -> Tensor | np.ndarray:
    """(B, T, H) token states -> (B, H): first token ("cls") or mask-weighted mean ("mean").
    A float32 numpy array (ONNX Runtime's outputs) is pooled in numpy, with an all-ones mask only
    (the unpadded calls of `encode_frozen`): measured +10 % int8 texts/s against torch, whose
    thread pool waited on ONNX Runtime's still-spinning threads."""
    if pooling == "cls":
        return states[:, 0]
    if isinstance(states, np.ndarray):
        if not bool(mask.all()):
            raise ValueError("pool: numpy states are pooled without padding only")
        return states.sum(1) / np.float32(states.shape[1])
    weights = mask.to(states.dtype).unsqueeze(-1)  # (B, T, 1)
    return (states * weights).sum(1) / weights.sum(1).clamp_min(1e-9)


def layers_of(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers of a BERT-style model (ConfigError for other models)."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList) or not isinstance(getattr(model, "embeddings", None), nn.Module):
        raise ConfigError(
            f"tuning='top_k' needs a BERT-style encoder (model.embeddings + model.encoder.layer); "
            f"{type(model).__name__} is not one: use tuning='full' or 'lora'"
        )
    return layers


def run_layers(layers: Sequence[nn.Module], config, hidden: Tensor, mask: Tensor) -> Tensor:
    """Token states (B, T, H) after `layers`, with the model's own attention-mask format."""
    from transformers.masking_utils import create_bidirectional_mask

    mask4d = create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)
    for layer in layers:
        out = layer(hidden, mask4d)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def lower_states(model: nn.Module, n_lower: int, input_ids: Tensor, mask: Tensor) -> Tensor:
    """Token states after the embeddings and the first `n_lower` layers: (B, T, H)."""
    hidden = model.embeddings(input_ids=input_ids)
    return run_layers(layers_of(model)[:n_lower], model.config, hidden, mask)


# -- the batch plan ---------------------------------------------------------------------------------

def rows_for(device: str | torch.device, kind: Kind, engine: str = "torch", precision: str = "fp32") -> int:
    """Texts per encoding call of `kind` outputs on `device` (see `ROWS`); 1 on ONNX Runtime
    (whose calls are packed instead: `packed_rows`) and for int8 (ONNX Runtime only)."""
    if engine == "onnx" or precision == "int8":
        return 1
    return ROWS.get((torch.device(device).type, kind), ACCELERATOR_ROWS)


def packed_rows(engine: str = "torch", precision: str = "fp32") -> int | None:
    """The most texts per call where calls are packed (ONNX Runtime, fp32 and int8: texts of one
    length at any position, each computed as it is alone; see the module docstring), else None
    (slotted calls of `rows_for` texts)."""
    return PACKED_ROWS if engine == "onnx" else None


def encoding_key(device: str | torch.device, kind: Kind, engine: str = "torch",
                 precision: str = "fp32") -> tuple[str, int, int, str, str]:
    """What a frozen output depends on besides the text, the model and the settings: (device
    type, texts per call, torch threads on a CPU else 0, engine, precision); for the onnx engine
    the engine is `onnx_engine.engine_name` (the onnxruntime version, the export format, the int8
    calibration). Part of every cache key."""
    device = torch.device(device)
    threads = torch.get_num_threads() if device.type == "cpu" else 0
    rows = rows_for(device, kind, engine, precision)
    if engine == "onnx":
        engine = engine_name(precision)
    return (device.type, rows, threads, engine, precision)


def encoding_tag(device: str | torch.device, kind: Kind, engine: str = "torch", precision: str = "fp32") -> str:
    """`encoding_key` as a name for the on-disk cache, e.g. "cpu-r8-t2" (torch), "cpu-r1-t2-onnx1.32.0-f2"
    (onnx; the precision is named by the cache's settings, as it is for torch)."""
    device_type, rows, threads, engine, _ = encoding_key(device, kind, engine, precision)
    return f"{device_type}-r{rows}-t{threads}" + ("" if engine == "torch" else f"-{engine}")


def slot(tokens: np.ndarray, rows: int) -> int:
    """The row (0..rows-1) of a text in every batch it is encoded in: a hash of its token ids."""
    return zlib.crc32(_key(tokens)) % rows


def plan_batches(tokens: Sequence[np.ndarray], rows: int, first: dict[bytes, int] | None = None) -> list[np.ndarray]:
    """Batches that encode each distinct token array once: (rows,) int64 indices into `tokens`,
    all of one length, the text of a distinct array at row `slot(...)`; rows no text fills repeat
    the batch's first text. Texts whose arrays equal an earlier one's are not planned (see
    `first_of`, which `first` may give). Deterministic: sorted by length, then by first index."""
    groups: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i in (first if first is not None else first_of(tokens)).values():
        groups[len(tokens[i])][slot(tokens[i], rows)].append(i)
    batches = []
    for length in sorted(groups):
        by_slot = groups[length]
        for k in range(max(len(v) for v in by_slot.values())):
            batch = np.full(rows, -1, dtype=np.int64)
            for s, members in by_slot.items():
                if k < len(members):
                    batch[s] = members[k]
            batch[batch < 0] = batch[batch >= 0].min()
            batches.append(batch)
    return batches


def plan_packed(tokens: Sequence[np.ndarray], cap: int, first: dict[bytes, int] | None = None) -> list[np.ndarray]:
    """Packed batches: the distinct token arrays (`first_of`) grouped by length, at most `cap` per
    batch, in order of first appearance; no slots, no filler rows. Deterministic."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i in sorted((first if first is not None else first_of(tokens)).values()):
        groups[len(tokens[i])].append(i)
    return [np.asarray(members[s:s + cap], dtype=np.int64)
            for length in sorted(groups) for members in [groups[length]] for s in range(0, len(members), cap)]


def first_of(tokens: Sequence[np.ndarray]) -> dict[bytes, int]:
    """The first index of each distinct token array, keyed by its bytes."""
    first: dict[bytes, int] = {}
    for i, t in enumerate(tokens):
        first.setdefault(_key(t), i)
    return first


def _key(tokens: np.ndarray) -> bytes:
    """The identity of a token array (its int32 bytes)."""
    return np.ascontiguousarray(tokens, dtype=np.int32).tobytes()


# -- encoding ---------------------------------------------------------------------------------------

def encode_frozen(model: nn.Module, tokens: Sequence[np.ndarray], *, n_lower: int | None,
                  device: str | torch.device = "cpu", bfloat16: bool = False,
                  state_dtype: np.dtype = np.dtype(np.float32), rows: int | None = None,
                  packed: int | None = None,
                  on_batch: Callable[[int], None] | None = None) -> dict[str, list[np.ndarray]]:
    """Run the frozen network on token arrays in the batches of `plan_batches` (or `plan_packed`).

    n_lower None: the whole model, {"cls": [...], "mean": [...]} pooled float32 vectors (H,);
    else the embeddings + first `n_lower` layers, {"states": [...]} unpadded states (L_i, H) of
    `state_dtype`. bfloat16: autocast. rows: texts per call (default `rows_for(device, kind)`).
    packed: the most texts per packed call (`packed_rows`; only for models whose rows are computed
    as alone, see the module docstring), None: slotted calls of `rows` texts.
    `model` is a Hugging Face module, or anything called like one (`finfusion.text.onnx_engine.OnnxModel`).
    on_batch(n) is called after each call, n = the texts it encoded.
    """
    keys = ("cls", "mean") if n_lower is None else ("states",)
    out: dict[str, list] = {k: [None] * len(tokens) for k in keys}
    first = first_of(tokens)
    origin = [first[_key(t)] for t in tokens]  # the first text with the same token ids
    copies = Counter(origin)
    rows = rows or rows_for(device, "pooled" if n_lower is None else "states")
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bfloat16)
    with torch.inference_mode():
        plan = plan_packed(tokens, packed, first) if packed else plan_batches(tokens, rows, first)
        for batch in plan:
            position = {int(i): k for k, i in enumerate(batch)}  # packed: a text's row is its position
            at = position.__getitem__ if packed else (lambda i: slot(tokens[i], rows))
            ids = torch.from_numpy(np.stack([tokens[i] for i in batch]).astype(np.int64)).to(device)
            mask = torch.ones_like(ids)  # (rows, L): no padding
            with autocast:
                if n_lower is None:
                    states = model(input_ids=ids, attention_mask=mask).last_hidden_state
                else:
                    states = lower_states(model, n_lower, ids, mask)
            fresh = sorted({int(i) for i in batch})
            if n_lower is None:
                for key in keys:
                    _take(out[key], fresh, _pooled(states, mask, key), at)
            else:
                values = states.float().cpu().numpy().astype(state_dtype, copy=False)
                _take(out["states"], fresh, values, at)
            if on_batch is not None:
                on_batch(sum(copies[i] for i in fresh))
    for i, j in enumerate(origin):  # texts with the token ids of an earlier one
        if j != i:
            for key in keys:
                out[key][i] = out[key][j]
    return out


def _pooled(states: Tensor | np.ndarray, mask: Tensor, pooling: Pooling) -> np.ndarray:
    """`pool` as a float32 numpy array (B, H), of torch states or of ONNX Runtime's numpy states."""
    if isinstance(states, np.ndarray):
        return pool(states, mask, pooling)
    return pool(states.float(), mask, pooling).cpu().numpy()


def _take(target: list, fresh: list[int], values: np.ndarray, at: Callable[[int], int]) -> None:
    """target[i] = a copy of the row of `values` (rows, ...) that holds text i, `at(i)` (its slot,
    or its position in a packed call; not a row that only repeats it), for i in `fresh`."""
    for i in fresh:
        target[i] = values[at(i)].copy()
