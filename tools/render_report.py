"""Render a run report in headless Chromium to one full-page PNG, to look at it as a reader would.

    python tools/render_report.py RUN_DIR|report.html --out PNG [--width 1400] [--chromium PATH]

A developer tool, not part of the package (the tests never need a browser). It starts Chromium
(`/usr/bin/chromium`, Debian package `chromium`) headless with networking features off and a
fresh profile, and drives it over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
JSON messages ending in NUL on file descriptors 3 and 4, so no port, no websocket library and no
playwright download): it loads the file, measures the page's full height, and captures it in
tiles of at most TILE pixels that Pillow stitches into one PNG (a single capture taller than the
GPU texture limit comes back blank or cut).

A report is a self-contained offline file: any request the page makes to the network is logged
on stderr and makes the exit status 1 (the PNG is still written).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

CHROMIUM = "/usr/bin/chromium"
TILE = 4000  # px per captured tile
TIMEOUT = 120.0  # s for the page to load and each DevTools answer
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe")


def _high(*fds: int) -> tuple[int, ...]:
    """The fds moved to numbers >= 10, so that none is 3 or 4 (bash puts the pipe ends there)."""
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds)
    for fd in fds:
        os.close(fd)
    return moved


class DevTools:
    """A Chromium started with --remote-debugging-pipe, and the messages on its pipe."""

    def __init__(self, chromium: str, profile: str) -> None:
        to_child_r, self._out = _high(*os.pipe())  # we write commands, Chromium reads them on fd 3
        self._in, from_child_w = _high(*os.pipe())  # Chromium writes answers on fd 4, we read them
        # bash puts the two pipe ends on fds 3 and 4 of Chromium (subprocess keeps their numbers)
        script = f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-'
        self.proc = subprocess.Popen(["bash", "-c", script, chromium, *FLAGS, f"--user-data-dir={profile}",
                                      "about:blank"], pass_fds=(to_child_r, from_child_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer, self._next_id, self.events = b"", 0, []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"DevTools {method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> dict:
        for i, event in enumerate(self.events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            event = self._read()
            if event.get("method") == method and event.get("sessionId") == session:
                return event
            self.events.append(event)

    def _read(self) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no DevTools answer in {TIMEOUT:g} s")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"Chromium closed the DevTools pipe; its stderr:\n{err[-3000:]}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._out)
        os.close(self._in)


def report_path(target: Path) -> Path:
    path = target / "report.html" if target.is_dir() else target
    if not path.is_file():
        raise SystemExit(f"render_report: no report at {str(path)!r} (give a run directory or a report.html)")
    return path.resolve()


def render(report: Path, out: Path, *, width: int = 1400, chromium: str = CHROMIUM) -> tuple[int, list[str]]:
    """Write the full-page PNG of `report` to `out`; returns the page height (px) and the network
    requests the page tried to make (none for a self-contained report)."""
    if not Path(chromium).exists():
        raise SystemExit(f"render_report: no Chromium at {chromium!r}; install it (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="render-report-") as profile:
        tools = DevTools(chromium, profile)
        try:
            target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network"):
                tools.send(f"{domain}.enable", session=session)
            metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
            tools.send("Emulation.setDeviceMetricsOverride", metrics, session)
            tools.send("Page.navigate", {"url": report.as_uri()}, session)
            tools.wait_for("Page.loadEventFired", session)
            height = int(tools.send("Runtime.evaluate", {"expression": "Math.ceil(Math.max(document.body.scrollHeight,"
                                                         " document.documentElement.scrollHeight))",
                                                         "returnByValue": True}, session)["result"]["value"])
            requests = [e["params"]["request"]["url"] for e in tools.events
                        if e.get("method") == "Network.requestWillBeSent"
                        and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:"))]
            page = Image.new("RGB", (width, height), "white")
            for top in range(0, height, TILE):
                clip = {"x": 0, "y": top, "width": width, "height": min(TILE, height - top), "scale": 1}
                shot = tools.send("Page.captureScreenshot", {"format": "png", "clip": clip,
                                                             "captureBeyondViewport": True}, session)
                page.paste(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"), (0, top))
        finally:
            tools.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    page.save(out, optimize=True)
    return height, requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=Path, help="a run directory or a report.html")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1400, help="viewport width in CSS px (default 1400)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or CHROMIUM, help="the Chromium binary")
    args = parser.parse_args(argv)
    report = report_path(args.target)
    height, requests = render(report, args.out, width=args.width, chromium=args.chromium)
    print(f"{args.out}: {args.width} x {height} px from {report} ({report.stat().st_size:,} bytes)")
    for url in requests:
        print(f"render_report: the page requested {url} (a report must be self-contained)", file=sys.stderr)
    return 1 if requests else 0


if __name__ == "__main__":
    sys.exit(main())
