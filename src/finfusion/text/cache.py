"""Process-wide caches of the text encoder: token ids and frozen-layer outputs per distinct text.

Why: rolling-window protocols retrain hundreds of times on overlapping windows of the same texts,
and a frozen pre-trained network gives the same output for the same text every time. So each
distinct text is tokenised once per process, and the outputs of the frozen part of the encoder
(the pooled vector in ``tuning="frozen"``, the lower-layer token states in ``tuning="top_k"``)
are computed once per process — across `TextEncoder` instances, `inputs()` calls, windows,
clones and predictors.

One store holds every entry, keyed by ``(namespace, text)``; a namespace names everything the
value depends on, e.g. ``("tokens", model, max_length)``, ``("pooled", model, max_length,
pooling, n_frozen_layers, ..., encoding)`` or ``("states", model, max_length, n_frozen_layers,
dtype, ..., encoding)``, where ``encoding`` is (device type, texts per call, thread count). A
frozen output depends on nothing else: not on which texts were encoded with it or before it
(`finfusion.text.encoding`), so a cache filled fold by fold holds what one filled at once does.

Memory is bounded: the store is an LRU by total bytes (default 2 GiB, or the environment
variable ``FINFUSION_TEXT_CACHE_BYTES``; change it with `configure_cache(max_bytes=...)`). The
size of an entry is the array's bytes plus a fixed estimate of the Python overhead of the entry
(`ENTRY_OVERHEAD` + the text's size). Typical sizes with all-MiniLM-L6-v2 (H = 384) and a
tweet of ~30 tokens: token ids ~0.5 KB, pooled vector ~1.9 KB, top-k lower-layer states
30 x 384 x 2 bytes (float16) ~ 23 KB. The limit bounds what the cache retains; a `TextInputs`
that is alive keeps references to its own arrays, so evicting an entry never breaks it.

Frozen outputs can be computed in one process and shipped to others (`FrozenOutputs`, `seed`):
a runner that fits units on worker processes or Ray nodes computes the pooled vectors of every
text once on the driver (`Predictor.frozen_text_outputs`), sends them with the other shared
inputs, and each worker `seed`s its store with them, so no worker runs the encoder for them. An
entry is found only under the exact namespace a worker's encoder looks up, which includes the
encoding key (device type, texts per call, torch thread count): outputs computed with another
device or thread count are stored under a namespace the worker never asks for, and it computes
its own (correct, only slower).

Lower-layer states are stored as float16 by default (half the memory; the effect on the top
layers' output is ~1e-3 relative, see tests/text/test_encoder.py); `configure_cache(
state_dtype="float32")` stores them exactly.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from finfusion.errors import ConfigError

__all__ = ["CacheInfo", "FrozenOutputs", "cache_info", "clear_cache", "configure_cache", "seed", "state_dtype",
           "STORE"]

DEFAULT_MAX_BYTES = 2 * 1024**3
ENTRY_OVERHEAD = 200  # bytes: ndarray header + OrderedDict node + key tuple (an estimate)
_ENV_MAX_BYTES = "FINFUSION_TEXT_CACHE_BYTES"
_STATE_DTYPES = {"float16": np.float16, "float32": np.float32}


@dataclass
class KindStats:
    """Counters of one kind of entry ("tokens", "pooled", "states")."""

    entries: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    computed: int = 0  # texts tokenised / run through the frozen layers (or read from disk)
    seeded: int = 0  # entries put in by `seed` (computed by another process)
    evicted: int = 0


@dataclass
class CacheInfo:
    """A snapshot of the store: totals, the limit and per-kind counters."""

    bytes: int
    max_bytes: int
    entries: int
    state_dtype: str
    kinds: dict[str, KindStats] = field(default_factory=dict)

    def kind(self, name: str) -> KindStats:
        return self.kinds.get(name, KindStats())


class ByteLRU:
    """A thread-safe LRU map ``(namespace, text) -> ndarray`` bounded by total bytes.

    The first element of a namespace tuple is its kind (for the statistics).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[tuple[Hashable, str], tuple[np.ndarray, int]] = OrderedDict()
        self._bytes = 0
        self._stats: dict[str, KindStats] = {}
        self._lock = threading.RLock()

    def get_many(self, namespace: tuple, texts: Sequence[str]) -> list[np.ndarray | None]:
        """The cached arrays of `texts` (None where missing); found entries become most recent."""
        stats = self._kind(namespace)
        out: list[np.ndarray | None] = []
        with self._lock:
            data = self._data
            for text in texts:
                item = data.get((namespace, text))
                if item is None:
                    out.append(None)
                else:
                    data.move_to_end((namespace, text))
                    out.append(item[0])
            hits = sum(v is not None for v in out)
            stats.hits += hits
            stats.misses += len(out) - hits
        return out

    def put_many(self, namespace: tuple, texts: Sequence[str], values: Sequence[np.ndarray]) -> None:
        """Store freshly computed arrays, then evict least-recently-used entries over the limit."""
        with self._lock:
            self._kind(namespace).computed += len(texts)
            for text, value in zip(texts, values, strict=True):
                self._put(namespace, text, value)
            self._evict()

    def seed_many(self, namespace: tuple, texts: Sequence[str], values: Sequence[np.ndarray]) -> None:
        """Store arrays computed elsewhere for the texts not stored yet (an entry already here is
        the same value, see `seed`); evict over the limit. Counted as `seeded`, not `computed`."""
        with self._lock:
            for text, value in zip(texts, values, strict=True):
                if (namespace, text) not in self._data and self._put(namespace, text, value):
                    self._kind(namespace).seeded += 1
            self._evict()

    def _put(self, namespace: tuple, text: str, value: np.ndarray) -> bool:
        """Insert or replace one entry (lock held); False when it alone exceeds the limit."""
        size = value.nbytes + sys.getsizeof(text) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return False
        stats = self._kind(namespace)
        old = self._data.pop((namespace, text), None)
        if old is not None:
            self._forget(namespace, old[1])
        self._data[(namespace, text)] = (value, size)
        self._bytes += size
        stats.entries += 1
        stats.bytes += size
        return True

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = max_bytes
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
            self._stats.clear()

    def info(self) -> CacheInfo:
        with self._lock:
            kinds = {k: KindStats(**vars(v)) for k, v in self._stats.items()}
            return CacheInfo(self._bytes, self.max_bytes, len(self._data), _CONFIG["state_dtype"], kinds)

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._data:
            (namespace, _), (_, size) = self._data.popitem(last=False)
            self._forget(namespace, size)
            self._kind(namespace).evicted += 1

    def _forget(self, namespace: tuple, size: int) -> None:
        self._bytes -= size
        stats = self._kind(namespace)
        stats.entries -= 1
        stats.bytes -= size

    def _kind(self, namespace: tuple) -> KindStats:
        return self._stats.setdefault(str(namespace[0]), KindStats())


def _default_max_bytes() -> int:
    raw = os.environ.get(_ENV_MAX_BYTES)
    if raw is None:
        return DEFAULT_MAX_BYTES
    try:
        value = int(float(raw))
    except ValueError:
        raise ConfigError(f"{_ENV_MAX_BYTES}={raw!r} is not a number of bytes (e.g. 2147483648)") from None
    if value < 0:
        raise ConfigError(f"{_ENV_MAX_BYTES}={raw!r} must be >= 0")
    return value


_CONFIG: dict[str, str] = {"state_dtype": "float16"}
STORE = ByteLRU(_default_max_bytes())


def configure_cache(*, max_bytes: int | None = None, state_dtype: str | None = None) -> CacheInfo:
    """Set the byte limit of the process-wide text cache and/or the dtype of cached top-k states.

    max_bytes    total bytes the cache may retain (0 disables caching); shrinking evicts at once.
    state_dtype  "float16" (default: half the memory) or "float32" (exact) for lower-layer states;
                 entries of the other dtype stay cached under their own key until evicted.
    Returns the new `cache_info()`.
    """
    if max_bytes is not None:
        if not isinstance(max_bytes, int) or max_bytes < 0:
            raise ConfigError(f"configure_cache: max_bytes must be an int >= 0, got {max_bytes!r}")
        STORE.resize(max_bytes)
    if state_dtype is not None:
        if state_dtype not in _STATE_DTYPES:
            raise ConfigError(f"configure_cache: state_dtype must be one of {sorted(_STATE_DTYPES)}, "
                              f"got {state_dtype!r}")
        _CONFIG["state_dtype"] = state_dtype
    return STORE.info()


def state_dtype() -> np.dtype:
    """The numpy dtype cached lower-layer states are stored in."""
    return np.dtype(_STATE_DTYPES[_CONFIG["state_dtype"]])


def cache_info() -> CacheInfo:
    """Bytes, entries and per-kind hit/miss/compute/evict counters of the process-wide cache."""
    return STORE.info()


def clear_cache() -> None:
    """Empty the text cache (and reset its counters). Loaded models stay loaded: drop them with
    `finfusion.text.tokens.forget_backbones`."""
    STORE.clear()


@dataclass(frozen=True, eq=False)
class FrozenOutputs:
    """Frozen encoder outputs of many texts under one store namespace, to ship to other processes.

    namespace  the `STORE` namespace they were computed under (e.g. ``("pooled", model key,
               max_length, pooling, n_layers, encoding key with engine and precision)``, see
               `TextEncoder.frozen_outputs`); hashable.
    texts      n distinct texts.
    values     (n, H) array, row i the output of texts[i] (float32 pooled vectors).
    Picklable and compact: one array for all texts. Made by `TextEncoder.frozen_outputs` /
    `Predictor.frozen_text_outputs`, consumed by `seed`.
    """

    namespace: tuple
    texts: tuple[str, ...]
    values: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, tuple) or not self.namespace:
            raise ValueError(f"FrozenOutputs.namespace must be a non-empty tuple, got {self.namespace!r}")
        hash(self.namespace)  # a store key: TypeError names the unhashable part
        if not isinstance(self.texts, tuple) or not all(isinstance(t, str) for t in self.texts):
            raise ValueError("FrozenOutputs.texts must be a tuple of str, got "
                             f"{type(self.texts).__name__} {list(self.texts)[:3]!r}...")
        if len(set(self.texts)) != len(self.texts):
            raise ValueError(f"FrozenOutputs.texts must be distinct: {len(self.texts) - len(set(self.texts))} "
                             "repeated text(s)")
        if not isinstance(self.values, np.ndarray) or self.values.ndim != 2 or len(self.values) != len(self.texts):
            shape = getattr(self.values, "shape", type(self.values).__name__)
            raise ValueError(f"FrozenOutputs.values must be an ndarray (n, H) with n={len(self.texts)} "
                             f"(one row per text), got {shape}")

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        return f"FrozenOutputs(namespace={self.namespace!r}, n={len(self)}, values={self.values.dtype}{self.values.shape})"


def seed(outputs: Iterable[FrozenOutputs]) -> None:
    """Put frozen outputs computed by another process into this process's store, as if computed
    here: a later `TextEncoder` with the same namespace finds them instead of running the model.

    Idempotent: texts already stored under the namespace are left as they are (a frozen output
    is a function of its text and namespace, so both are the same value). Each row is copied, so
    the byte limit counts what the store keeps (a row view would keep the whole array alive).
    Entries obey the same LRU limit as computed ones (`configure_cache`); they do not go to the
    on-disk cache.
    """
    for item in outputs:
        if not isinstance(item, FrozenOutputs):
            raise TypeError(f"seed: expected FrozenOutputs, got {type(item).__name__}")
        STORE.seed_many(item.namespace, item.texts, [row.copy() for row in item.values])
