"""On-disk caches of what a frozen model computes per text, so a text runs through a given model
once per machine, not once per run: a sentiment classifier's class probabilities and the text
encoder's pooled frozen vectors.

    <root>/<kind>/<model hash>-<settings>/part-<id>.rows.npy   (n, width) values
                                          part-<id>.keys.npy   (n,) text keys, written last

Each call that computes new rows adds a part; a process that finds more than 16 parts merges them.
Rows are memory-mapped, so a large cache costs page cache, not process memory; the keys (about
100 bytes per text) are held in memory.

The model hash is a SHA-256 of every file of the model directory (weights, tokenizer, config),
so a model retrained into the same directory starts a new cache; the settings name whatever
else the values depend on (truncation length, pooling, precision; for the encoder also the
device type, the texts per call and the thread count, see `finfusion.text.encoding`). A row's
key is a BLAKE2b hash of the text. A model whose weights change after loading (an in-place
update, a swapped tensor) stops using the cache. Cached values are those computed the first time
(same model and settings; bit-identical on the machine that computed them, with the torch of that
time). The encoder's are moreover what encoding the text again gives there, whatever texts it
was first encoded with.

<root> is $FINFUSION_CACHE_DIR, else $XDG_CACHE_HOME/finfusion, else ~/.cache/finfusion;
FINFUSION_CACHE_DIR=off turns the caches off. A part that cannot be read, or a directory that
cannot be written, is reported with a warning and bypassed: values are then computed, never
guessed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np

from finfusion.fingerprint import tree_sha256

CACHE_ENV = "FINFUSION_CACHE_DIR"
OFF = "off"
MAX_PARTS = 16  # more parts than this are merged into one when a process first reads them
KEYS, ROWS = ".keys.npy", ".rows.npy"


def cache_root() -> Path | None:
    """The cache root, or None when FINFUSION_CACHE_DIR=off."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() == OFF:
        return None
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return Path(xdg) / "finfusion"
    try:
        return Path.home() / ".cache" / "finfusion"
    except RuntimeError:  # no home directory to be found
        warnings.warn(f"finfusion cache: no home directory; set {CACHE_ENV} to cache model outputs on disk",
                      stacklevel=2)
        return None


def text_keys(texts: list[str]) -> list[str]:
    return [hashlib.blake2b(t.encode("utf-8"), digest_size=16).hexdigest() for t in texts]


def module_state(model) -> tuple:
    """Identity and in-place version of every parameter and buffer: changes when the weights do."""
    return tuple((id(t), t._version) for t in (*model.parameters(), *model.buffers()))


class ModelKey:
    """The key of a model's on-disk caches: a hash of the files of the directory it was loaded from
    (taken at load when the caches are on, else when first needed), valid while its weights stay
    as loaded."""

    def __init__(self, directory: str | Path | None, model) -> None:
        self._directory = Path(directory) if directory is not None and Path(directory).is_dir() else None
        self._model, self._state, self._hash = model, module_state(model), None
        self.current()

    def current(self) -> str | None:
        """The hash, or None (not a local directory, caches off, or the weights changed)."""
        if self._directory is None or cache_root() is None or module_state(self._model) != self._state:
            return None
        if self._hash is None:
            self._hash = tree_sha256(self._directory, recursive=False)  # the weights and tokenizer files
        return self._hash


class RowCache:
    """Rows of `width` values of dtype `dtype` keyed by text, in the part files of `directory`."""

    def __init__(self, directory: Path, width: int, dtype: str) -> None:
        self.directory, self.width, self.dtype = Path(directory), int(width), np.dtype(dtype)
        self._rows: dict[str, np.ndarray] | None = None
        self.broken = False

    def _load(self) -> dict[str, np.ndarray]:
        if self._rows is None:
            self._rows, read = {}, []
            for part in sorted(self.directory.glob(f"part-*{KEYS}")):
                try:
                    keys = np.load(part, allow_pickle=False).astype(str)
                    rows = np.load(_rows_file(part), mmap_mode="r", allow_pickle=False)
                    if rows.shape != (len(keys), self.width) or rows.dtype != self.dtype:
                        raise ValueError(f"rows {rows.shape} {rows.dtype}, expected (n, {self.width}) {self.dtype}")
                except FileNotFoundError:  # merged away by another process meanwhile
                    continue
                except Exception as error:  # a damaged part: say so, recompute its texts
                    warnings.warn(f"finfusion cache: skipping unreadable {part} ({error})", stacklevel=4)
                    continue
                self._rows.update(zip(keys.tolist(), rows))
                read.append(part)
            if len(read) > MAX_PARTS and self._write(list(self._rows), np.stack(list(self._rows.values()))):
                for part in read:  # their rows are all in the part just written
                    part.unlink(missing_ok=True)
                    _rows_file(part).unlink(missing_ok=True)
        return self._rows

    def lookup(self, keys: list[str]) -> tuple[list[np.ndarray | None], np.ndarray]:
        """The row of each key (None where unknown) and the (n,) bool mask of known keys."""
        rows = self._load()
        found = [rows.get(key) for key in keys]
        return found, np.fromiter((row is not None for row in found), dtype=bool, count=len(keys))

    def add(self, keys: list[str], rows) -> None:
        """Store new rows as one more part."""
        if not keys or self.broken:
            return
        rows = np.asarray(rows, dtype=self.dtype).reshape(len(keys), self.width)
        known = self._load()
        if self._write(keys, rows):
            known.update(zip(keys, rows))

    def _write(self, keys: list[str], rows: np.ndarray) -> bool:
        """Write one part, rows then keys, each to a temporary name first; False, with a warning, if
        it cannot."""
        name = f"part-{uuid.uuid4().hex}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for suffix, array in ((ROWS, rows), (KEYS, np.array(keys, dtype="S32"))):
                tmp = self.directory / f".{name}{suffix}.tmp"
                with tmp.open("wb") as handle:
                    np.save(handle, array, allow_pickle=False)
                os.replace(tmp, self.directory / f"{name}{suffix}")
        except OSError as error:
            self.broken = True
            warnings.warn(f"finfusion cache: cannot write to {self.directory} ({error}); values are not "
                          f"cached (set {CACHE_ENV} to a writable directory, or to 'off')", stacklevel=5)
            return False
        return True


def _rows_file(keys_file: Path) -> Path:
    return keys_file.with_name(keys_file.name[: -len(KEYS)] + ROWS)


@functools.lru_cache(maxsize=32)
def _cache(directory: str, width: int, dtype: str) -> RowCache:
    return RowCache(Path(directory), width, dtype)


def row_cache(kind: str, model_hash: str | None, settings: str, width: int, dtype: str) -> RowCache | None:
    """The process-wide cache of one (kind, model, settings), or None (no hash, or caches off)."""
    root = cache_root()
    if model_hash is None or root is None:
        return None
    return _cache(str(root / kind / f"{model_hash[:32]}-{settings}"), int(width), str(np.dtype(dtype)))


def cache_entries(root: Path) -> list[dict]:
    """One dict per cache directory under `root`: kind, name, parts, bytes (sorted by kind, name)."""
    entries = []
    for directory in sorted(p for p in Path(root).glob("*/*") if p.is_dir()):
        files = list(directory.glob("part-*.npy"))
        entries.append({"kind": directory.parent.name, "name": directory.name,
                        "parts": sum(f.name.endswith(KEYS) for f in files), "bytes": sum(f.stat().st_size for f in files)})
    return entries


def clear_caches(root: Path, kind: str | None = None) -> tuple[int, int]:
    """Delete the cache directories under `root` (of one `kind`, or all); (directories, bytes) freed."""
    freed = [e for e in cache_entries(root) if kind is None or e["kind"] == kind]
    for entry in freed:
        shutil.rmtree(Path(root) / entry["kind"] / entry["name"], ignore_errors=True)
    _cache.cache_clear()
    return len(freed), sum(e["bytes"] for e in freed)
