"""Request size limits of the HTTP service: bodies over a limit get 413 Content Too Large.

    limits = Limits(max_texts=256, max_chars=5000, max_rows=50_000, max_body_bytes=8 * 2**20)

max_texts       texts per request: /v1/sentiment's texts, /v1/predict's texts rows
max_chars       characters per text (Unicode code points)
max_rows        price rows per /v1/predict request
max_body_bytes  the raw request body in bytes: FastAPI's own `max_body_size` refuses a larger
                Content-Length before reading anything, and stops reading a chunked body once
                it passes the limit (body "Content Too Large")

The counts are checked on the validated body (`check_texts`, `check_rows`); their 413 body names
the field, the count and the limit in FastAPI's error shape:
{"detail": [{"type": "too_large", "loc": ["body", "texts"], "msg": "...", "input": 300,
"ctx": {"limit": 256, "option": "--max-texts"}}]}.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from fastapi import HTTPException

from finfusion.errors import ConfigError

OPTIONS = {"max_texts": "--max-texts", "max_chars": "--max-chars", "max_rows": "--max-rows",
           "max_body_bytes": "--max-body-bytes"}  # the `finfusion serve` option of each limit


@dataclass(frozen=True)
class Limits:
    """The size limits of one service (see the module docstring); each an int >= 1."""

    max_texts: int = 1024
    max_chars: int = 10_000
    max_rows: int = 100_000
    max_body_bytes: int = 16 * 2**20

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"limit {f.name} ({OPTIONS[f.name]}) must be an int >= 1, got {value!r}")


def too_large(loc: Sequence[str | int], got: int, limit: int, option: str, what: str) -> HTTPException:
    """The 413 error for a count `got` over `limit` at body location `loc`."""
    where = ".".join(str(part) for part in loc)
    return HTTPException(413, detail=[{
        "type": "too_large", "loc": ["body", *loc], "input": got, "ctx": {"limit": limit, "option": option},
        "msg": f"{where}: {got} {what}, over the limit of {limit} (the server's {option})",
    }])


def check_texts(texts: Sequence[str], limits: Limits, loc: Sequence[str | int], key: str | None = None, *,
                single: bool = False) -> None:
    """413 when there are more than `max_texts` texts or one has more than `max_chars` characters.
    `loc` is where the list is in the body, `key` the field holding each text in its items (None:
    the items are the texts); `single`: `loc` holds one text, not a list."""
    if len(texts) > limits.max_texts:
        raise too_large(loc, len(texts), limits.max_texts, OPTIONS["max_texts"], "texts")
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            item = list(loc) if single else [*loc, i] if key is None else [*loc, i, key]
            raise too_large(item, len(text), limits.max_chars, OPTIONS["max_chars"], "characters")


def check_rows(n_rows: int, limits: Limits, loc: Sequence[str | int] = ("prices",)) -> None:
    """413 when a request carries more than `max_rows` price rows."""
    if n_rows > limits.max_rows:
        raise too_large(loc, n_rows, limits.max_rows, OPTIONS["max_rows"], "price rows")
