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

Lower-layer states are stored as float16 by default (half the memory; the effect on the top
layers' output is ~1e-3 relative, see tests/text/test_encoder.py); `configure_cache(
state_dtype="float32")` stores them exactly.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from finfusion.errors import ConfigError

__all__ = ["CacheInfo", "cache_info", "clear_cache", "configure_cache", "state_dtype", "STORE"]

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
    computed: int = 0  # texts tokenised / run through the frozen layers
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
        stats = self._kind(namespace)
        with self._lock:
            stats.computed += len(texts)
            for text, value in zip(texts, values, strict=True):
                size = value.nbytes + sys.getsizeof(text) + ENTRY_OVERHEAD
                if size > self.max_bytes:
                    continue
                old = self._data.pop((namespace, text), None)
                if old is not None:
                    self._forget(namespace, old[1])
                self._data[(namespace, text)] = (value, size)
                self._bytes += size
                stats.entries += 1
                stats.bytes += size
            self._evict()

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
