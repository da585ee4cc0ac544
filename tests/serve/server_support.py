"""Running `finfusion serve` for the tests: a subprocess (server_script.py) on a free 127.0.0.1
port, ready once /healthz answers, always stopped by its fixture (imported by conftest.py and the
test modules)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SCRIPT = Path(__file__).parent / "server_script.py"
API_KEY = "test-key-0123"
LIMITS = {"max_texts": 40, "max_chars": 300, "max_rows": 60, "max_body_bytes": 20_000}
START_TIMEOUT_S = 90


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def client(self, key: str | None = API_KEY) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": key} if key else {}, timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REAL = [sys.executable, "-c", "import sys; from finfusion.cli import main; sys.exit(main(sys.argv[1:]))"]


def start_server(args: list[str], log: Path, env: dict[str, str] | None = None, *, real: bool = False) -> Server:
    """`finfusion serve ARGS --port <free>` in a subprocess, once /healthz answers (a few tries
    when the port was taken meanwhile). Its output goes to `log`. `real`: the command as a user
    runs it (real pipelines), else server_script.py (pipelines replaced by fakes.py's)."""
    command = REAL if real else [sys.executable, str(SCRIPT)]
    for _ in range(3):
        port = _free_port()
        with log.open("w") as out:
            process = subprocess.Popen([*command, "serve", *args, "--port", str(port)],
                                       stdout=out, stderr=subprocess.STDOUT,
                                       env={**os.environ, "FINFUSION_CACHE_DIR": "off", "CUDA_VISIBLE_DEVICES": "",
                                            **(env or {})})  # on the CPU, as the in-process reference
        server = Server(f"http://127.0.0.1:{port}", process, log)
        if _wait_healthy(server):
            return server
        stop_server(server)
        if "address already in use" not in log.read_text().lower():
            break
    raise RuntimeError(f"finfusion serve did not start:\n{log.read_text()}")


def _wait_healthy(server: Server) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)
