"""`SentimentClassifier`: a fine-tuned sequence classifier as a batch inference API.

    clf = SentimentClassifier.load("runs/pb/model")      # offline; a run directory works too
    clf.labels                                           # ("negative", "neutral", "positive")
    clf.predict_batch(["Profit rose 12 %", ""])          # [{label, label_id, confidence, probs}, ...]
    clf.score(texts)                                     # (n,) float64: p_pos - p_neg in [-1, 1]

A model directory (written by `save`, i.e. by `finfusion sentiment train`) holds
``config.json`` + ``model.safetensors`` (`save_pretrained`), the tokenizer files and
``finfusion_sentiment.json``: the format tag, the label names in class-id order, ``max_length``,
the base model, and whatever the trainer recorded (training config, data summary, metrics,
history). No pickle. A plain Hugging Face classification directory (or a hub name in the local
cache) whose ``config.json`` labels are sentiment names (e.g. FinBERT's positive / negative /
neutral) loads too; its labels keep the model's class order.

Inference: texts are deduplicated, each distinct text is tokenised once per process (the token
cache of `finfusion.text.tokens`), truncated to ``max_length`` tokens (special tokens included),
sorted by length so batches carry little padding, and run under ``torch.inference_mode``.
Probabilities are a float64 softmax of the logits. The network runs on torch (default) or ONNX
Runtime (``engine="onnx"``, extra ``finfusion[onnx]``, `finfusion.text.onnx_engine`), at
``precision`` "fp32", "int8" (onnx; int8 weights and activations with fixed, calibrated scales:
`finfusion.text.onnx_int8`) or "bf16" (torch autocast); see `finfusion.text.inference`.

A text that is empty or only whitespace carries no sentiment and is not run through the model:
its probabilities are uniform (1/C each), its confidence is 1/C, its ``label`` and ``label_id``
are None, and its score is (alpha - beta) / C — 0 with the default weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

import finfusion.progress as progress
from finfusion._version import __version__
from finfusion.errors import ConfigError, DataError
from finfusion.io import write_json
from finfusion.text.disk_cache import ModelKey, row_cache, text_keys
from finfusion.text.inference import Engine, Precision, check_inference
from finfusion.text.onnx_engine import CALL_TOKENS as ONNX_CALL_TOKENS
from finfusion.text.onnx_engine import engine_name, onnx_model
from finfusion.text.sentiment.data import ALIASES, NEGATIVE, POSITIVE
from finfusion.text.tokens import (
    ALLOW_DOWNLOAD_ENV,
    Backbone,
    call_tokens,
    length_batches,
    pad_ids,
    token_ids,
    unique_texts,
)

MANIFEST_NAME = "finfusion_sentiment.json"
FORMAT = "finfusion-sentiment/1"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "spiece.model",
    "sentencepiece.bpe.model",
)
PROGRESS_MIN_TEXTS = 2000  # predict_proba(show_progress=True) shows a bar from this many texts to run


class SentimentClassifier:
    """A sequence classifier over sentiment labels (see the module docstring).

    model       a Hugging Face ``...ForSequenceClassification`` module (its logits (B, C)).
    tokenizer   its tokenizer.
    labels      label name of each class id (C names among negative / neutral / positive; negative
                and positive required).
    max_length  truncation length in tokens, special tokens included.
    name        a short name for reports.
    info        the manifest (training config, metrics, ...), saved with the model.
    device      where inference runs; None: CUDA when available, else CPU (onnx: the CPU).
    engine, precision   "torch" (fp32 or bf16) or "onnx" (fp32 or int8), see the module docstring.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        labels: Sequence[str],
        *,
        max_length: int = 128,
        name: str = "sentiment",
        info: Mapping[str, Any] | None = None,
        path: str | Path | None = None,
        tokens_key: str | None = None,
        device: str | torch.device | None = None,
        engine: Engine = "torch",
        precision: Precision = "fp32",
    ) -> None:
        self.name = str(name)
        check_inference(engine, precision, target="classifier", where=f"sentiment model {self.name!r}")
        if engine == "onnx" and device is not None and torch.device(device).type != "cpu":
            raise ConfigError(f"sentiment model {self.name!r}: engine 'onnx' runs on the CPU (onnxruntime's CPU "
                              f"provider), got device={str(device)!r}; use engine 'torch' on it")
        self.engine, self.precision = engine, precision
        self.labels: tuple[str, ...] = _check_labels(tuple(labels), int(model.config.num_labels), "labels")
        if not 2 <= int(max_length) <= int(getattr(model.config, "max_position_embeddings", None) or 10**9):
            raise ConfigError(f"max_length must be in [2, max_position_embeddings], got {max_length}")
        self.max_length = int(max_length)
        self.info: dict[str, Any] = dict(info or {})
        self.path = Path(path) if path is not None else None
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() and engine == "torch" else "cpu"))
        self.model = model.float().eval().requires_grad_(False).to(self.device)
        self.tokenizer = tokenizer
        key = tokens_key or (_tokenizer_key(self.path) if self.path else f"sentiment-tokenizer:{uuid.uuid4().hex}")
        self._tokens = Backbone(key=key, name=self.name, tokenizer=tokenizer, model=self.model)
        self._disk_key = ModelKey(None, self.model)  # `load` keys it by the model directory

    # -- loading and saving ------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device | None = None, engine: Engine = "torch",
             precision: Precision = "fp32") -> SentimentClassifier:
        """Load a model directory offline (a run directory with ``model/`` inside works too; see
        the module docstring). A missing or broken model raises FileNotFoundError / DataError
        naming the path and what was expected."""
        where = Path(path).expanduser()
        run = {"device": device, "engine": engine, "precision": precision}
        if not where.exists():
            if _looks_like_hub_name(str(path)):
                return cls._from_hub(str(path), run)
            raise FileNotFoundError(
                f"no sentiment model at {where.resolve()}: expected a directory written by "
                f"`finfusion sentiment train` ({MANIFEST_NAME}, config.json, model.safetensors, "
                "tokenizer files) or its run directory"
            )
        if not where.is_dir():
            raise DataError(
                f"{where}: is a file; a sentiment model is a directory ({MANIFEST_NAME}, config.json, "
                "model.safetensors, tokenizer files)"
            )
        if not (where / MANIFEST_NAME).is_file() and (where / "model" / MANIFEST_NAME).is_file():
            where = where / "model"
        if (where / MANIFEST_NAME).is_file():
            manifest = _read_manifest(where)
            tokenizer, model = _load_hf(str(where), local=True)
            return _keyed_by(where, cls(
                model,
                tokenizer,
                manifest["labels"],
                max_length=manifest.get("max_length", 128),
                name=manifest.get("name") or where.name,
                info=manifest,
                path=where,
                **run,
            ))
        if not (where / "config.json").is_file():
            raise DataError(
                f"{where}: not a sentiment model directory: it has neither {MANIFEST_NAME} (finfusion) nor "
                "config.json (Hugging Face); train one with `finfusion sentiment train`"
            )
        tokenizer, model = _load_hf(str(where), local=True)
        return _keyed_by(where, cls(
            model,
            tokenizer,
            _config_labels(model, str(where)),
            max_length=_default_max_length(tokenizer, model),
            name=where.name,
            info={"source": str(where)},
            path=where,
            **run,
        ))

    @classmethod
    def _from_hub(cls, name: str, run: dict[str, Any]) -> SentimentClassifier:
        tokenizer, model = _load_hf(name, local=False)
        return cls(
            model,
            tokenizer,
            _config_labels(model, name),
            max_length=_default_max_length(tokenizer, model),
            name=name,
            info={"source": name},
            tokens_key=f"sentiment-hub:{name}",
            **run,
        )

    def save(self, path: str | Path, *, extra: Mapping[str, Any] | None = None) -> Path:
        """Write the model directory (safetensors weights, tokenizer, manifest) atomically: into a
        temporary sibling first, then renamed over `path`. `extra` is merged into the manifest."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            with quiet_hf():
                self.model.save_pretrained(tmp)
                self.tokenizer.save_pretrained(tmp)
            manifest = self.manifest() | dict(extra or {})
            write_json(tmp / MANIFEST_NAME, manifest)
            _replace_dir(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.info, self.path = manifest, path
        return path

    def manifest(self) -> dict[str, Any]:
        """What `save` writes to finfusion_sentiment.json (the recorded info plus the essentials)."""
        return {
            **self.info,
            "format": FORMAT,
            "name": self.name,
            "labels": list(self.labels),
            "max_length": self.max_length,
            "finfusion_version": __version__,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def __reduce__(self):
        if self.path is None:
            raise TypeError("an unsaved SentimentClassifier cannot be pickled: save() it and pass the directory")
        return (_load_again, (str(self.path), str(self.device), self.engine, self.precision))

    def __repr__(self) -> str:
        run = "" if (self.engine, self.precision) == ("torch", "fp32") else \
            f", engine={self.engine!r}, precision={self.precision!r}"
        return f"SentimentClassifier(name={self.name!r}, labels={self.labels}, max_length={self.max_length}{run})"

    # -- inference -----------------------------------------------------------------------------

    def predict_proba(
        self, texts: str | Sequence[str], batch_size: int = 64, *, show_progress: bool = False
    ) -> np.ndarray:
        """(n, C) float64 class probabilities in `labels` order, one row per text (a single str
        counts as one text). Empty / whitespace-only texts get uniform rows."""
        items = as_text_list(texts)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")
        uniques, ids = unique_texts(items)
        out = np.full((len(uniques), len(self.labels)), 1.0 / len(self.labels))
        todo = np.asarray([i for i, t in enumerate(uniques) if t.strip()], dtype=np.int64)
        cache = self._disk_cache() if todo.size else None
        if cache is not None:
            keys = text_keys([uniques[i] for i in todo])
            known, found = cache.lookup(keys)
            if found.any():
                out[todo[found]] = np.stack([row for row in known if row is not None])
            todo, keys = todo[~found], [k for k, hit in zip(keys, found) if not hit]
        if todo.size:
            for rows, probs in self._batches([uniques[i] for i in todo], batch_size, show_progress):
                out[todo[rows]] = probs
            if cache is not None:
                cache.add(keys, out[todo])
        return out[ids]

    def _disk_cache(self):
        """The on-disk probability cache of a loaded model whose weights are unchanged, else None."""
        engine = engine_name(self.precision) if self.engine == "onnx" else self.engine
        run = "" if (self.engine, self.precision) == ("torch", "fp32") else f"-{engine}-{self.precision}"
        return row_cache("sentiment", self._disk_key.current(), f"L{self.max_length}{run}", len(self.labels), "float64")

    def prepare(self) -> SentimentClassifier:
        """Make the inference engine ready now (engine "onnx": export the model, or read its
        export, and open the session), so the first texts don't pay for it (`finfusion serve`
        calls it before it accepts requests). Returns self."""
        self._network()
        return self

    def _network(self):
        """What runs the texts: the torch module, or its ONNX Runtime session (called alike)."""
        if self.engine == "torch":
            return self.model
        return onnx_model(self.model, kind="classifier", precision=self.precision,
                          model_hash=self._disk_key.current(), where=f"sentiment model {self.name!r}",
                          backbone=self._tokens)

    def _batches(
        self, texts: list[str], batch_size: int, show_progress: bool
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions in `texts`, (b, C) probabilities) per length-sorted batch."""
        tokens = token_ids(self._tokens, texts, self.max_length)
        cost = ONNX_CALL_TOKENS if self.engine == "onnx" else call_tokens(self.device)
        batches = length_batches([len(t) for t in tokens], batch_size, cost)  # little padding
        bar = progress.bar(len(texts), "sentiment", unit="text", min_total=PROGRESS_MIN_TEXTS, enabled=show_progress)
        network = self._network()
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with bar, torch.inference_mode():
            for rows in batches:
                input_ids, mask = pad_ids([tokens[i] for i in rows], self._tokens.pad_id)
                with autocast:
                    logits = network(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)).logits
                yield rows, torch.softmax(torch.as_tensor(logits).double(), dim=-1).cpu().numpy()  # (b, C)
                bar.update(len(rows))

    def predict_batch(
        self, texts: str | Sequence[str], batch_size: int = 64, *, show_progress: bool = False
    ) -> list[dict[str, Any]]:
        """One dict per text: ``label`` (name), ``label_id`` (index into `labels`), ``confidence``
        (probability of that label) and ``probs`` ({label name: probability}). Empty texts get
        label and label_id None (see the module docstring)."""
        items = as_text_list(texts)
        probs = self.predict_proba(items, batch_size, show_progress=show_progress)
        results = []
        for text, row in zip(items, probs):
            k = int(np.argmax(row))
            empty = not text.strip()
            results.append(
                {
                    "label": None if empty else self.labels[k],
                    "label_id": None if empty else k,
                    "confidence": float(row[k]),
                    "probs": {name: float(p) for name, p in zip(self.labels, row)},
                }
            )
        return results

    def score(
        self,
        texts: str | Sequence[str],
        batch_size: int = 64,
        *,
        alpha: float = 1.0,
        beta: float = 1.0,
        show_progress: bool = False,
    ) -> np.ndarray:
        """(n,) float64 sentiment scores alpha * p_pos - beta * p_neg (seed 003 definition 3 and
        eq. of §4.2); in [-1, 1] with the default weights alpha = beta = 1."""
        return self.score_from_proba(
            self.predict_proba(texts, batch_size, show_progress=show_progress), alpha=alpha, beta=beta
        )

    def score_from_proba(self, probs: np.ndarray, *, alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
        """alpha * p_pos - beta * p_neg of (n, C) probabilities in `labels` order."""
        for key, value in (("alpha", alpha), ("beta", beta)):
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise ConfigError(f"{key} must be a finite number >= 0, got {value!r}")
        probs = np.asarray(probs, dtype=np.float64)
        return alpha * probs[:, self.labels.index(POSITIVE)] - beta * probs[:, self.labels.index(NEGATIVE)]


# -- helpers -------------------------------------------------------------------------------------


def _keyed_by(directory: Path, clf: SentimentClassifier) -> SentimentClassifier:
    """Key `clf`'s on-disk probability cache by the files it was just loaded from."""
    clf._disk_key = ModelKey(directory, clf.model)
    return clf


def as_text_list(texts: str | Sequence[str]) -> list[str]:
    """A single str -> [str]; a sequence (list, tuple, array, Series) -> list. Elements are checked
    by `unique_texts` (a non-str raises naming its index)."""
    if isinstance(texts, str):
        return [texts]
    if texts is None or isinstance(texts, (bytes, Mapping)) or not hasattr(texts, "__len__"):
        raise DataError(f"texts must be a str or a sequence of str, got {type(texts).__name__}")
    return list(texts)


def _check_labels(labels: tuple[str, ...], n_classes: int, where: str) -> tuple[str, ...]:
    names = set(ALIASES.values())
    if (
        len(labels) != n_classes
        or len(set(labels)) != len(labels)
        or not set(labels) <= names
        or not {NEGATIVE, POSITIVE} <= set(labels)
    ):
        raise DataError(
            f"{where}: labels {list(labels)} do not fit a sentiment classifier with {n_classes} classes; "
            f"expected {n_classes} distinct names among {sorted(names)}, including negative and positive"
        )
    return labels


def _config_labels(model: torch.nn.Module, where: str) -> tuple[str, ...]:
    id2label = getattr(model.config, "id2label", None) or {}
    raw = [str(id2label.get(i, id2label.get(str(i), ""))) for i in range(int(model.config.num_labels))]
    names = tuple(ALIASES.get(r.strip().lower(), "") for r in raw)
    if "" in names:
        raise DataError(
            f"{where}: has no {MANIFEST_NAME} and the labels in its config.json ({raw}) are not sentiment "
            f"names {sorted(set(ALIASES.values()))}; train a model with `finfusion sentiment train`"
        )
    return _check_labels(names, len(raw), f"{where}/config.json")


def _default_max_length(tokenizer: Any, model: torch.nn.Module) -> int:
    """Truncation for a model without a manifest: the tokenizer's and the model's limit, at most 512."""
    limits = [512, getattr(tokenizer, "model_max_length", None), getattr(model.config, "max_position_embeddings", None)]
    return int(min(v for v in limits if isinstance(v, int) and v >= 2))


def _read_manifest(where: Path) -> dict[str, Any]:
    file = where / MANIFEST_NAME
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: is not valid JSON ({exc}); re-train or re-save the model") from exc
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("labels"), list)
    ):
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DataError(
            f"{file}: expected a finfusion sentiment manifest with format {FORMAT!r} and a 'labels' list, "
            f"got format {got!r}"
        )
    return manifest


def _load_hf(source: str, *, local: bool) -> tuple[Any, torch.nn.Module]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    allow = not local and os.environ.get(ALLOW_DOWNLOAD_ENV) == "1"
    try:
        with quiet_hf():
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=not allow)
            model = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=not allow)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, safetensors errors...
        reason = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
        if local:
            raise DataError(
                f"{source}: cannot load the sentiment model ({reason}); expected config.json, "
                "model.safetensors and tokenizer files as written by save_pretrained"
            ) from exc
        raise FileNotFoundError(
            f"sentiment model {source!r} is not a local directory and is not in the local Hugging "
            f"Face cache ({reason}); download it once or set {ALLOW_DOWNLOAD_ENV}=1"
        ) from exc
    return tokenizer, model


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """Silence transformers' load reports and progress bars (a fresh head is expected here)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _tokenizer_key(path: Path) -> str:
    """Token-cache identity of a saved tokenizer: a hash of its files (not the path, which a new
    model could reuse)."""
    digest = hashlib.sha256()
    for name in TOKENIZER_FILES:
        file = path / name
        if file.is_file():
            digest.update(name.encode() + b"\0" + file.read_bytes())
    return f"sentiment-tokenizer:{digest.hexdigest()[:24]}"


def _looks_like_hub_name(text: str) -> bool:
    return text.count("/") == 1 and not text.startswith(("/", ".", "~")) and "\\" not in text


def _replace_dir(new: Path, target: Path) -> None:
    """Rename `new` onto `target`; an existing `target` is moved aside first and removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _load_again(path: str, device: str, engine: str = "torch", precision: str = "fp32") -> SentimentClassifier:
    return SentimentClassifier.load(path, device=device, engine=engine, precision=precision)
