"""Content fingerprints (SHA-256, hex) of files, directory trees, frames and arrays.

One home for "has this input changed?": a run records the fingerprints of its inputs when it
starts and compares them when it is resumed (experiments.rundir); data.json reports them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def tree_sha256(directory: str | Path, *, recursive: bool = True) -> str:
    """SHA-256 over the relative paths and contents of every regular file under `directory`
    (in sorted order; `recursive=False`: only the files directly in it): a renamed, added,
    removed or edited file changes it."""
    root = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(p for p in (root.rglob("*") if recursive else root.iterdir()) if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def path_sha256(path: str | Path) -> str | None:
    """`file_sha256` of a file, `tree_sha256` of a directory, None when nothing is there."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    if path.is_dir():
        return tree_sha256(path)
    return None


def frame_fingerprint(frame: pd.DataFrame | None) -> str | None:
    """Content hash of a frame (values and column names, order-sensitive; the index is ignored)."""
    if frame is None:
        return None
    digest = hashlib.sha256("\0".join(map(str, frame.columns)).encode("utf-8"))
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def arrays_fingerprint(*parts: np.ndarray | pd.DataFrame | tuple | None) -> str:
    """One hash over arrays (dtype, shape and bytes), frames and tuples of strings, in order."""
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            digest.update(b"<none>")
        elif isinstance(part, pd.DataFrame):
            digest.update(str(frame_fingerprint(part)).encode())
        elif isinstance(part, tuple):
            digest.update("\0".join(map(str, part)).encode("utf-8", "surrogatepass") + b"\1")
        else:
            array = np.ascontiguousarray(part)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()
