"""Open a page in headless Chromium over the DevTools protocol: screenshot, console, requests.

Used by the browser tests; also handy by hand:

    .venv/bin/python tests/report/chromium.py reports/<name>/index.html /tmp/shot.png
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import websocket

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageVisit:
    screenshot: bytes
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)
    height: int = 0


class Chromium:
    """One headless Chromium with a fresh profile, driven over its DevTools websocket."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.profile = Path(tempfile.mkdtemp(prefix="loadlab-chromium-"))
        self.proc: subprocess.Popen | None = None
        self.ws: websocket.WebSocket | None = None
        self._id = 0
        self.events: list[dict] = []

    def __enter__(self) -> Chromium:
        self.proc = subprocess.Popen(
            [self.binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.binary} did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        target = self._page_target(port)
        self.ws = websocket.create_connection(target, timeout=30, suppress_origin=True)
        return self

    def _page_target(self, port: int) -> str:
        import urllib.request

        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            if time.monotonic() > deadline:
                raise RuntimeError("Chromium opened no page target")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def call(self, method: str, **params: object) -> dict:
        assert self.ws is not None
        self._id += 1
        mine = self._id
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == mine:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        assert self.ws is not None
        for message in self.events:
            if message.get("method") == event:
                return message
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            self.events.append(message)
            if message.get("method") == event:
                return message
        raise TimeoutError(event)

    def visit(
        self, path: Path, width: int = 1280, full_page: bool = True, open_details: bool = False
    ) -> PageVisit:
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        self.call("Page.navigate", url=Path(path).resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        if open_details:
            self.call(
                "Runtime.evaluate",
                expression="document.querySelectorAll('details').forEach(d => d.open = true)",
            )
        time.sleep(0.3)  # let layout settle and late console messages arrive
        charts = self.call(
            "Runtime.evaluate",
            returnByValue=True,
            expression="""Array.from(document.querySelectorAll('figure svg')).map(s => {
                const r = s.getBoundingClientRect();
                return {id: s.closest('figure').id, width: r.width, height: r.height,
                        shapes: s.querySelectorAll('path, use, text, rect').length};
            })""",
        )["result"]["value"]
        height = self.call(
            "Runtime.evaluate",
            returnByValue=True,
            expression="document.documentElement.scrollHeight",
        )["result"]["value"]
        if full_page:
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=min(int(height), 16000),
                deviceScaleFactor=1,
                mobile=False,
            )
            time.sleep(0.2)
        shot = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        errors, requests = [], []
        for message in self.events:
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(
                    " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
                )
            elif method == "Runtime.exceptionThrown":
                errors.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                requests.append(params["request"]["url"])
        return PageVisit(shot, errors, requests, charts, int(height))


if __name__ == "__main__":
    page, out = Path(sys.argv[1]), Path(sys.argv[2])
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 1280
    binary = find_chromium()
    if binary is None:
        sys.exit("chromium not found")
    with Chromium(binary) as browser:
        visit = browser.visit(page, width=width)
    out.write_bytes(visit.screenshot)
    print(
        json.dumps(
            {
                "errors": visit.console_errors,
                "requests": visit.requests,
                "height": visit.height,
                "charts": visit.charts,
            },
            indent=1,
        )
    )
