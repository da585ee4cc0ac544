"""Progress bars: one home for whether they show and how they are made.

    with progress.showing(False):          # nothing below writes a bar (a notebook keeps its setting)
        run_protocol(...)
    bar = progress.bar(len(texts), "encoding texts", unit="text", min_total=100)
    with bar:
        bar.update(n)

The setting lives in a `contextvars.ContextVar` (default: bars show), not in a module global:
`showing` sets it for a block and puts the previous value back, even on an exception. A context
does not cross a process boundary, and a plain thread starts from the default, so a unit of work
that runs elsewhere (a process pool, a Ray task, a thread) carries its own setting and enters
`showing(...)` itself; a thread started with `contextvars.copy_context().run` sees the caller's.

`bar` returns a tqdm bar (`tqdm.auto`) when progress is on and the total is large enough, else a
`NullBar` with the same surface (update, set_postfix, close, write, external_write_mode, context
manager), so callers never test for None. Bars are written to stderr (tqdm's default).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, TextIO

from tqdm.auto import tqdm

__all__ = ["Bar", "NullBar", "bar", "enabled", "showing"]

_SHOW: ContextVar[bool] = ContextVar("finfusion_progress", default=True)


def enabled(override: bool | None = None) -> bool:
    """Whether progress shows: `override` when given (e.g. a model's `show_progress`), else the
    setting of the current context (True unless inside `showing(False)`)."""
    return _resolved(override)


def _resolved(override: bool | None) -> bool:
    return _SHOW.get() if override is None else bool(override)


@contextlib.contextmanager
def showing(on: bool) -> Iterator[None]:
    """Progress shown (`on`) or hidden for the block, in this context only; the previous setting
    comes back afterwards, also when the block raises."""
    if not isinstance(on, bool):
        raise TypeError(f"progress.showing expects a bool, got {on!r} ({type(on).__name__})")
    token = _SHOW.set(on)
    try:
        yield
    finally:
        _SHOW.reset(token)


class NullBar:
    """A bar that shows nothing: the subset of tqdm's surface finfusion uses, all no-ops except
    `write`, which prints the line as tqdm.write does when no bar is on screen."""

    def update(self, n: float = 1) -> None:
        """Count `n` more items (ignored)."""

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """Show values after the bar (ignored)."""

    def close(self) -> None:
        """Close the bar (nothing to close)."""

    @staticmethod
    def write(s: str, file: TextIO | None = None, end: str = "\n") -> None:
        """Print `s` to `file` (default stdout, as tqdm.write)."""
        print(s, file=file if file is not None else sys.stdout, end=end)

    @staticmethod
    def external_write_mode(file: TextIO | None = None) -> contextlib.AbstractContextManager[None]:
        """A block in which other code may write to `file` (no bar to clear)."""
        return contextlib.nullcontext()

    def __enter__(self) -> NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Bar = tqdm | NullBar  # what `bar` returns


def bar(total: int | None, desc: str, *, unit: str = "it", min_total: int = 0, initial: int = 0,
        leave: bool = False, enabled: bool | None = None) -> Bar:
    """A tqdm bar over `total` items (None: unknown) labelled `desc`, counting `unit`s from
    `initial` (e.g. folds already done on resume); a `NullBar` when progress is off (`enabled`
    False, or None and the context's setting is off) or when `total` < `min_total` (short work
    gets no bar). `leave`: keep the finished bar on screen."""
    if min_total < 0:
        raise ValueError(f"progress.bar({desc!r}): min_total must be >= 0, got {min_total!r}")
    if not _resolved(enabled) or (total is not None and total < min_total):
        return NullBar()
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave)
