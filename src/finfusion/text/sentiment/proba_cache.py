"""On-disk cache of a saved classifier's class probabilities, so a text is run through a given
model once per machine, not once per run.

    <root>/sentiment/<model hash>-L<max_length>/part-*.parquet     columns key, p0 .. p{C-1}

The model hash is a SHA-256 of every file of the loaded model directory (weights, tokenizer,
manifest), so retraining into the same directory starts a new cache; `key` is a BLAKE2b hash of
the text. A classifier whose weights change after loading (an in-place update, a swapped tensor)
stops using the cache. The cached values are those computed the first time, with the torch and
transformers of that time.

<root> is $FINFUSION_CACHE_DIR, else $XDG_CACHE_HOME/finfusion, else ~/.cache/finfusion;
FINFUSION_CACHE_DIR=off turns the cache off. A cache that cannot be written or read is reported
with a warning and bypassed: the probabilities are then computed, never guessed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

CACHE_ENV = "FINFUSION_CACHE_DIR"
OFF = "off"


def cache_root() -> Path | None:
    """The cache root, or None when FINFUSION_CACHE_DIR=off."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() == OFF:
        return None
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "finfusion"


def directory_hash(directory: Path) -> str:
    """SHA-256 over the names and contents of the regular files directly in `directory`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def text_keys(texts: list[str]) -> list[str]:
    return [hashlib.blake2b(t.encode("utf-8"), digest_size=16).hexdigest() for t in texts]


def module_state(model) -> tuple:
    """Identity and in-place version of every parameter and buffer: changes when the weights do."""
    tensors = [*model.parameters(), *model.buffers()]
    return tuple((id(t), t._version) for t in tensors)


class ProbaCache:
    """The probabilities of one model (hash, max_length) with C classes, under `directory`."""

    def __init__(self, directory: Path, n_classes: int) -> None:
        self.directory, self.n_classes = Path(directory), int(n_classes)
        self._rows: dict[str, np.ndarray] | None = None
        self.broken = False

    def _load(self) -> dict[str, np.ndarray]:
        if self._rows is None:
            self._rows = {}
            columns = [f"p{i}" for i in range(self.n_classes)]
            for part in sorted(self.directory.glob("part-*.parquet")):
                try:
                    frame = pd.read_parquet(part, columns=["key", *columns])
                except Exception as error:  # a damaged part: say so, recompute its texts
                    warnings.warn(f"sentiment cache: skipping unreadable {part} ({error})", stacklevel=3)
                    continue
                self._rows.update(zip(frame["key"], frame[columns].to_numpy(np.float64)))
        return self._rows

    def lookup(self, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(n, C) probabilities (NaN where unknown) and the (n,) bool mask of known rows."""
        rows = self._load()
        out = np.full((len(keys), self.n_classes), np.nan)
        found = np.zeros(len(keys), dtype=bool)
        for i, key in enumerate(keys):
            row = rows.get(key)
            if row is not None:
                out[i], found[i] = row, True
        return out, found

    def add(self, keys: list[str], probs: np.ndarray) -> None:
        """Store new rows as one more part (written to a temporary name, then renamed)."""
        if not keys or self.broken:
            return
        frame = pd.DataFrame(np.asarray(probs, dtype=np.float64), columns=[f"p{i}" for i in range(self.n_classes)])
        frame.insert(0, "key", keys)
        name = f"part-{uuid.uuid4().hex}.parquet"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{name}.tmp"
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, self.directory / name)
        except OSError as error:
            self.broken = True
            warnings.warn(f"sentiment cache: cannot write to {self.directory} ({error}); probabilities are "
                          f"not cached (set {CACHE_ENV} to a writable directory, or to 'off')", stacklevel=3)
            return
        self._load().update(zip(keys, frame.iloc[:, 1:].to_numpy(np.float64)))


@functools.lru_cache(maxsize=16)
def _cache(directory: str, n_classes: int) -> ProbaCache:
    return ProbaCache(Path(directory), n_classes)


def proba_cache(model_hash: str | None, max_length: int, n_classes: int) -> ProbaCache | None:
    """The process-wide cache object of one model, or None (no hash, or the cache is off)."""
    root = cache_root()
    if model_hash is None or root is None:
        return None
    return _cache(str(root / "sentiment" / f"{model_hash[:32]}-L{int(max_length)}"), int(n_classes))
