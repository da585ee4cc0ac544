"""ONNX Runtime inference for frozen text models: an encoder's token states, a classifier's logits.

    model = onnx_model(backbone.model, kind="encoder", precision="fp32", model_hash=h, where="...")
    states = model(input_ids=ids, attention_mask=mask).last_hidden_state   # called like the HF module

`OnnxModel` is called like the Hugging Face module it was exported from, so the code that runs
the torch module runs it unchanged: `finfusion.text.encoding.encode_frozen` (the batch-invariant
calls of the frozen encoder: same shapes, same rows) and `SentimentClassifier` (length batches,
float64 softmax of the logits). Which settings reach this engine: `finfusion.text.inference`.

Export, once per model (the hash of its files), kind, opset, torch and onnxruntime version:

1. `torch.onnx.export(dynamo=False)` (the TorchScript exporter) of a copy of the very module
   finfusion runs (the encoder without its pooler: token states; the classifier: logits), with
   eager attention, inputs input_ids and attention_mask, dynamic batch and sequence axes.
2. ONNX Runtime's transformer optimiser (`onnxruntime.transformers`, in the onnxruntime wheel)
   fuses BERT-family graphs: embeddings + layer norm, attention, bias + GELU; not residual add +
   layer norm (SkipLayerNormalization), whose CPU kernel is 3x slower than the two ops (UNFUSED).
   Measured on all-MiniLM-L6-v2: all 6 attention blocks fuse from this export; from torch's
   dynamo exporter (its default since 2.9, which also needs onnxscript and exports 3x slower)
   or from SDPA attention, none do. Optimum (what sentence-transformers' ONNX backend uses) was
   not an option: optimum-onnx 0.1 needs transformers < 4.58, finfusion uses transformers 5.
3. The fused fp32 graph must reproduce torch on a probe batch (another batch size and length,
   one padded row): max |difference| <= 1e-4 x max(1, max |torch|), else ConfigError.
4. int8: `finfusion.text.onnx_int8`: int8 weights (one scale per output channel) and int8
   activations with fixed scales calibrated on the shipped calibration texts, so int8 calls are
   packed like fp32 ones (each row computed as the text alone).

Files: <cache root>/onnx/<model hash>-<kind>-op<opset>-torch<v>-ort<v>-f<format>/fp32.onnx and
int8-<calibration key>.onnx
(the cache root of `finfusion.text.disk_cache`), written to a temporary name first. A model
without a hash (no local directory, weights changed in place, or FINFUSION_CACHE_DIR=off) is
exported into a temporary directory of the process, removed at exit.

Sessions: graph optimisation ORT_ENABLE_ALL but the UNFUSED fusions, CPU provider, intra-op
threads = torch's thread count when the session is made (part of every cache key), one inter-op
thread; one session per (model, kind, precision, threads) per process. `run`
releases the GIL, so threads (the HTTP server's) run sessions in parallel. onnxruntime is
imported here (and in `finfusion.text.onnx_int8`) only, when first used.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import importlib.metadata
import logging
import os
import shutil
import tempfile
import threading
import uuid
import warnings
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from finfusion.errors import ConfigError
from finfusion.text.disk_cache import cache_root, module_state
from finfusion.text.inference import require_onnx
from finfusion.text.onnx_int8 import calibration_key, calibration_tokens, calibration_version, quantize_int8
from finfusion.text.tokens import Backbone

__all__ = ["OnnxModel", "onnx_model", "exported", "ort_version", "engine_name", "OPSET", "CALL_TOKENS"]

Kind = Literal["encoder", "classifier"]
OPSET = 17
FORMAT = 2  # bump when the exported graph changes: a new cache directory
OUTPUTS = {"encoder": "last_hidden_state", "classifier": "logits"}
FUSED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "electra")  # ORT's "bert" fusions apply
# fusions left out, in the export and in the session: ORT's SkipLayerNormalization kernel (residual
# add + layer norm) took 1.0 ms where Add + LayerNormalization took 0.34 ms, (8, 115, 384) on 2
# threads; MiniLM int8 +9-13 % texts/s, fp32 +3-8 %
UNFUSED = ["SkipLayerNormFusion"]
TOLERANCE = 1e-4  # export check: max |onnx - torch| <= TOLERANCE * max(1, max |torch|)
# The fixed cost of one call, in tokens of work, for `finfusion.text.tokens.length_batches` (torch on
# a CPU: 75). Rough, on 2 shared CPU threads, a fine-tuned MiniLM classifier, 600 simulated tweets
# in chunks of 64: 234 texts/s with 10, 103 with 75, 199 with one text per call.
CALL_TOKENS = 10

_LOCK = threading.RLock()
_SESSIONS: dict[tuple, OnnxModel] = {}  # by model hash
_UNHASHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> {key: OnnxModel}
_TEMP_DIRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> export directory


def ort_version() -> str:
    """The installed onnxruntime version (read without importing it)."""
    return importlib.metadata.version("onnxruntime")


def engine_name(precision: str) -> str:
    """What outputs of the onnx engine at `precision` depend on besides the model, for cache keys:
    e.g. "onnx1.32.0-f2" (fp32), "onnx1.32.0-f2-c1a2b3c4d" (int8: and the calibration texts)."""
    calibrated = f"-c{calibration_version()}" if precision == "int8" else ""
    return f"onnx{ort_version()}-f{FORMAT}{calibrated}"


class OnnxModel:
    """An ONNX Runtime session called like the module it was exported from:
    ``model(input_ids=(B, T), attention_mask=(B, T))`` (tensors) -> an object with
    ``last_hidden_state`` (B, T, H) (kind "encoder") or ``logits`` (B, C) (kind "classifier"),
    float32 numpy arrays: what reads them works in numpy, whose single-threaded reductions do
    not wait on torch's thread pool while ONNX Runtime's threads still spin after a call."""

    def __init__(self, session: Any, kind: Kind, path: Path, precision: str) -> None:
        self.session, self.kind, self.path, self.precision = session, kind, Path(path), precision
        self.output = OUTPUTS[kind]

    def __call__(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        feeds = {"input_ids": _int64(input_ids), "attention_mask": _int64(attention_mask)}
        (out,) = self.session.run([self.output], feeds)
        return SimpleNamespace(**{self.output: out})

    def __repr__(self) -> str:
        return f"OnnxModel(kind={self.kind!r}, precision={self.precision!r}, path={str(self.path)!r})"


def _int64(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.int64)


def onnx_model(module: nn.Module, *, kind: Kind, precision: str, model_hash: str | None, where: str,
               backbone: Backbone | None = None) -> OnnxModel:
    """The process-wide ONNX Runtime model of `module` (a Hugging Face encoder or sequence
    classifier, on the CPU) at `precision` ("fp32" or "int8"), exported on first use (see the
    module docstring). `model_hash` keys the on-disk export (None: exported per process).
    `backbone`: the tokenizer of `module`'s inputs; int8 calibrates on the shipped texts through it
    (`finfusion.text.onnx_int8.calibration_tokens`, only when the export is made or looked up:
    the calibration texts are fixed, and the tokenizer is among the files `model_hash` covers)."""
    require_onnx(where)
    threads = torch.get_num_threads()
    with _LOCK:
        if model_hash is not None:
            table, key = _SESSIONS, (model_hash, kind, precision, threads)
        else:
            table, key = _UNHASHED.setdefault(module, {}), (kind, precision, threads, module_state(module))
        found = table.get(key)
        if found is None:
            calibration = calibration_tokens(backbone) if precision == "int8" and backbone is not None else None
            path = exported(module, kind=kind, precision=precision, model_hash=model_hash, where=where,
                            calibration=calibration)
            found = table[key] = OnnxModel(_session(path, threads), kind, path, precision)
        return found


def exported(module: nn.Module, *, kind: Kind, precision: str, model_hash: str | None, where: str,
             calibration: Sequence[np.ndarray] | None = None) -> Path:
    """The path of `module`'s ONNX graph at `precision`, exported (and quantised, calibrated on
    `calibration`: required for int8) if missing."""
    if precision not in ("fp32", "int8"):
        raise ConfigError(f"{where}: engine 'onnx' offers precision 'fp32' and 'int8', got {precision!r}")
    if precision == "int8" and not calibration:
        raise ValueError(f"{where}: int8 needs calibration token ids (finfusion.text.onnx_int8.calibration_tokens)")
    directory = _directory(module, kind, model_hash)
    fp32 = directory / "fp32.onnx"
    with _LOCK:
        if not fp32.is_file():
            _export(module, kind, fp32, where)
        if precision == "fp32":
            return fp32
        int8 = directory / f"int8-{calibration_key(calibration)}.onnx"
        if not int8.is_file():
            with _quiet_logging(), tempfile.TemporaryDirectory(dir=directory, prefix=".quantize-") as tmp:
                out = Path(tmp) / f"{uuid.uuid4().hex}.onnx"
                quantize_int8(fp32, out, calibration)
                os.replace(out, int8)
        return int8


def _directory(module: nn.Module, kind: Kind, model_hash: str | None) -> Path:
    root = cache_root()
    if model_hash is not None and root is not None:
        name = f"{model_hash[:32]}-{kind}-op{OPSET}-torch{torch.__version__}-ort{ort_version()}-f{FORMAT}"
        directory = root / "onnx" / name
        try:
            directory.mkdir(parents=True, exist_ok=True)
            return directory
        except OSError as error:
            warnings.warn(f"finfusion cache: cannot write to {directory} ({error}); the ONNX export is kept "
                          "for this process only", stacklevel=4)
    with _LOCK:
        if module not in _TEMP_DIRS:
            _TEMP_DIRS[module] = Path(tempfile.mkdtemp(prefix="finfusion-onnx-"))
            atexit.register(shutil.rmtree, _TEMP_DIRS[module], True)
        return _TEMP_DIRS[module]


class _Exported(nn.Module):
    """What is exported: the module's token states (encoder) or logits (classifier)."""

    def __init__(self, model: nn.Module, kind: Kind) -> None:
        super().__init__()
        self.model, self.output = model, OUTPUTS[kind]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask), self.output)


def _export(module: nn.Module, kind: Kind, target: Path, where: str) -> None:
    """Export, fuse and check the fp32 graph of `module` into `target` (see the module docstring)."""
    model = copy.deepcopy(module).cpu().float().eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # the attention pattern ORT's optimiser fuses
    net = _Exported(model, kind).eval()
    ids, mask = _probe(model.config, rows=2, length=16)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        raw, fused = Path(tmp) / "raw.onnx", Path(tmp) / "fused.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer notes on Python branches and the exporter's deprecation
            try:
                torch.onnx.export(net, (ids, mask), str(raw), input_names=["input_ids", "attention_mask"],
                                  output_names=[OUTPUTS[kind]], dynamic_axes=axes | {OUTPUTS[kind]: {0: "batch"}},
                                  opset_version=OPSET, dynamo=False)
            except Exception as exc:
                raise ConfigError(f"{where}: cannot export {type(module).__name__} to ONNX ({type(exc).__name__}: "
                                  f"{exc}); use engine 'torch'") from exc
        _fuse(raw, fused, model.config)
        _check(fused, net, kind, where)
        os.replace(fused, target)


def _probe(config: Any, *, rows: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of random tokens; the last row has 5 padded positions."""
    generator = torch.Generator().manual_seed(length)
    ids = torch.randint(0, int(config.vocab_size), (rows, length), generator=generator)
    mask = torch.ones_like(ids)
    mask[-1, -5:] = 0
    return ids, mask


def _fuse(raw: Path, target: Path, config: Any) -> None:
    """ORT's BERT fusions for BERT-family models; other graphs are left to ORT's own optimiser."""
    if getattr(config, "model_type", None) not in FUSED_MODEL_TYPES:
        shutil.copyfile(raw, target)
        return
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = False  # UNFUSED: slower fused
    with _quiet_logging():
        fused = optimize_model(str(raw), model_type="bert", num_heads=int(config.num_attention_heads),
                               hidden_size=int(config.hidden_size), opt_level=0, optimization_options=options)
        fused.save_model_to_file(str(target))


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """Silence the optimiser's and quantiser's notes: they log through module-named loggers and the
    root logger (whose first use would configure it for the whole process)."""
    root, quiet, disabled = logging.getLogger(), logging.NullHandler(), logging.root.manager.disable
    root.addHandler(quiet)
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(disabled)
        root.removeHandler(quiet)


def _check(path: Path, net: nn.Module, kind: Kind, where: str) -> None:
    """ConfigError unless the graph at `path` reproduces `net` on a probe batch."""
    ids, mask = _probe(net.model.config, rows=3, length=24)
    with torch.inference_mode():
        expected = net(ids, mask).float().numpy()
    got = OnnxModel(_session(path, 1), kind, path, "fp32")(input_ids=ids, attention_mask=mask)
    got = getattr(got, OUTPUTS[kind])
    valid = mask.bool().numpy() if kind == "encoder" else np.ones(len(ids), dtype=bool)  # padded states are noise
    diff = float(np.abs(got[valid] - expected[valid]).max())
    if not diff <= TOLERANCE * max(1.0, float(np.abs(expected[valid]).max())):
        raise ConfigError(f"{where}: the ONNX export of {type(net.model).__name__} does not reproduce torch "
                          f"(max |difference| {diff:.2e}); use engine 'torch'")


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=UNFUSED)


def forget_sessions() -> None:
    """Drop every session of the process (the next `onnx_model` reloads from disk)."""
    with _LOCK:
        _SESSIONS.clear()
        _UNHASHED.clear()
