"""Running the app with uvicorn on the fastest event loop and HTTP parser installed, said aloud.

    stack = server_stack()          # ServerStack(loop='uvloop', http='httptools') with finfusion[serve]
    print(stack)                    # uvicorn 0.55.0, event loop uvloop, HTTP parser httptools
    run_server(app, "127.0.0.1", 8000, stack=stack)

The extra `finfusion[serve]` installs uvloop (not on Windows) and httptools; with them the server
spends less CPU per request than on asyncio's loop with the pure-Python h11 parser (docs/serve.md
gives the figures of benchmarks/serve_load.py with and without them). uvicorn's "auto" would pick
them too, but silently: here the choice is explicit, printed by `finfusion serve`, and
`ServerStack.missing` names what to install when they are absent.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import uvicorn

LOOPS = ("uvloop", "asyncio")
UVLOOP_EXISTS = sys.platform != "win32"  # uvloop is not built for Windows
HTTP_PARSERS = ("httptools", "h11")


@dataclass(frozen=True)
class ServerStack:
    """The event loop ("uvloop" | "asyncio") and HTTP/1.1 parser ("httptools" | "h11") uvicorn runs with."""

    loop: str
    http: str

    def __post_init__(self) -> None:
        if self.loop not in LOOPS or self.http not in HTTP_PARSERS:
            raise ValueError(f"unknown server stack {self.loop!r} / {self.http!r}: loop one of {LOOPS}, "
                             f"http one of {HTTP_PARSERS}")

    @property
    def missing(self) -> list[str]:
        """The faster parts this stack runs without (empty when it runs on uvloop and httptools,
        or on asyncio where uvloop does not exist: Windows)."""
        slow_loop = self.loop == "asyncio" and UVLOOP_EXISTS
        return [name for name, slow in (("uvloop", slow_loop), ("httptools", self.http == "h11")) if slow]

    def __str__(self) -> str:
        return f"uvicorn {version('uvicorn')}, event loop {self.loop}, HTTP parser {self.http}"


def server_stack() -> ServerStack:
    """uvloop and httptools where they are installed (uvloop never on Windows), else asyncio and h11."""
    has = {name: importlib.util.find_spec(name) is not None for name in ("uvloop", "httptools")}
    return ServerStack(loop="uvloop" if has["uvloop"] and UVLOOP_EXISTS else "asyncio",
                       http="httptools" if has["httptools"] else "h11")


def run_server(app: Any, host: str, port: int, *, stack: ServerStack | None = None,
               log_level: str = "warning") -> None:
    """Serve the ASGI `app` on host:port with uvicorn until Ctrl-C / SIGTERM (the requests in
    flight finish first). `stack`: `server_stack()` by default."""
    stack = stack or server_stack()
    uvicorn.run(app, host=host, port=port, loop=stack.loop, http=stack.http, log_level=log_level)
