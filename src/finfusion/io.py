"""Atomic writes and safe paths: a run killed at any moment leaves no half-written artifact."""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from finfusion.errors import ConfigError, DataError


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it onto `path`: readers
    see the old file or the new one, never a part. The file gets the usual permissions (0666 less
    the umask), not mkstemp's private 0600, so colleagues can open a shared run's report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda p: frame.to_parquet(p, index=False))


def read_parquet(path: str | Path, *, recover: str = "delete it and rerun") -> pd.DataFrame:
    """A Parquet file this package wrote; a damaged file raises DataError naming it and `recover`."""
    try:
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types (ArrowInvalid, OSError, ...) for a damaged file
        raise DataError(f"{path} cannot be read ({type(err).__name__}: {err}); {recover}") from None


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def output_dir(path: str | Path, *, overwrite: bool = False, what: str = "output directory") -> Path:
    """Create `path` as an empty directory, or accept an existing empty one; refuse a file, and a
    non-empty directory unless `overwrite` (files of the same names are then replaced)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file, not a directory")
    if path.is_dir() and not overwrite and any(path.iterdir()):
        raise ConfigError(f"{what} {path} is not empty; choose an empty or new directory, or pass --overwrite "
                          "to replace the files of the same names")
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_join(root: str | Path, *parts: str) -> Path:
    """Join `parts` under `root`, refusing any result outside `root` (e.g. '../x' or an absolute part)."""
    root = Path(root).resolve()
    target = root.joinpath(*parts).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"path {'/'.join(parts)!r} escapes the directory {str(root)!r}")
    return target


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (pd.Timestamp, Path)):
        return str(obj)
    if isinstance(obj, (datetime.date, datetime.datetime)):
        return obj.isoformat()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
