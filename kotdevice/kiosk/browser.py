"""Drive a headless Chromium over the DevTools protocol (for the kiosk's end-to-end tests, the
latency benchmark and the README screenshot). Needs only ``websockets`` (already pulled in by
amqtt) and Debian's ``/usr/bin/chromium``; no browser download.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("KOT_CHROMIUM", "/usr/bin/chromium")
# Flags from ECOSYSTEM.md: without the background-networking ones Chromium keeps trying to
# reach the internet, which the gym does not have.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--hide-scrollbars", "--disable-dev-shm-usage",
         # a hidden headless page must not be throttled, or the latency bench measures timers
         "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
         "--disable-backgrounding-occluded-windows"]


class BrowserError(RuntimeError):
    pass


def _die_with_parent() -> None:
    # Runs in the child before exec: if the test or bench process is killed, Chromium goes too
    # instead of lingering as an orphan (Linux prctl PR_SET_PDEATHSIG).
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def chromium_path() -> str | None:
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


class Chromium:
    def __init__(self, width: int = 1920, height: int = 1080, exe: str | None = None):
        self.exe = exe or chromium_path()
        if not self.exe:
            raise BrowserError("Chromium not found (apt-get install chromium)")
        self.width, self.height = width, height
        self.dir = tempfile.mkdtemp(prefix="kot-chromium-")
        self.proc: subprocess.Popen | None = None
        self.ws = None
        self._next_id = 0
        self.events: list[dict] = []   # DevTools events seen while waiting for replies

    def start(self, timeout_s: float = 30.0) -> "Chromium":
        self.proc = subprocess.Popen(
            [self.exe, *FLAGS, f"--user-data-dir={self.dir}", f"--window-size={self.width},{self.height}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=open(Path(self.dir) / "chromium.log", "wb"),
            start_new_session=True,  # its own process group, so close() can end all its helpers
            preexec_fn=_die_with_parent)
        port_file = Path(self.dir) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise BrowserError("Chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        while True:
            pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5))
            pages = [p for p in pages if p.get("type") == "page"]
            if pages or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not pages:
            self.close()
            raise BrowserError("Chromium has no page to drive")
        from websockets.sync.client import connect

        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=False)
        return self

    def call(self, method: str, timeout_s: float = 30.0, **params) -> dict:
        self._next_id += 1
        mid = self._next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no reply to {method} within {timeout_s} s")
            msg = json.loads(self.ws.recv(timeout=left))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == "Page.javascriptDialogOpening":
                    # Never leave a dialog open: it would block the page (and our evaluate calls).
                    self._next_id += 1
                    self.ws.send(json.dumps({"id": self._next_id, "method": "Page.handleJavaScriptDialog",
                                             "params": {"accept": True}}))

    def evaluate(self, expression: str, timeout_s: float = 30.0):
        r = self.call("Runtime.evaluate", timeout_s=timeout_s, expression=expression,
                      returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError(f"JS error: {d.get('exception', {}).get('description') or d.get('text')}")
        return r.get("result", {}).get("value")

    def goto(self, url: str, timeout_s: float = 20.0) -> None:
        # Mark the old document so a 'complete' from it is not mistaken for the new one's.
        self.evaluate("window.__kotOldPage = true; 0")
        self.call("Page.navigate", url=url)
        self.wait_for("!window.__kotOldPage && document.readyState === 'complete'", timeout_s)

    def wait_for(self, expression: str, timeout_s: float = 10.0, interval_s: float = 0.05):
        """Poll ``expression`` until it is truthy; returns its value (BrowserError on timeout)."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except BrowserError:
                last = None  # e.g. during a navigation
            if last:
                return last
            time.sleep(interval_s)
        raise BrowserError(f"timed out after {timeout_s} s waiting for: {expression} (last value {last!r})")

    def screenshot(self) -> bytes:
        r = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        return base64.b64decode(r["data"])

    def dialogs(self) -> list[dict]:
        return [e for e in self.events if e.get("method") == "Page.javascriptDialogOpening"]

    def js_errors(self) -> list[str]:
        """Uncaught exceptions and console.error calls of the page seen so far."""
        out = []
        for e in self.events:
            if e.get("method") == "Runtime.exceptionThrown":
                d = e["params"]["exceptionDetails"]
                out.append(d.get("exception", {}).get("description") or d.get("text", "?"))
            elif e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"]))
        return out

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.send(json.dumps({"id": 0, "method": "Browser.close"}))
            except Exception:
                pass
            self.ws.close()
            self.ws = None
        if self.proc is not None:
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own group (start_new_session)
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
