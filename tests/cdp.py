"""Headless Chromium driven over the DevTools protocol through ``--remote-debugging-pipe`` (the
protocol's JSON messages, NUL-terminated, on file descriptors 3 and 4): no port, no websocket
client, nothing to install beyond Debian's ``chromium``. Used by tests/test_browser.py.

    with Chromium() as b:
        b.open("http://127.0.0.1:8000/page.html")
        b.wait_for("window.result")          # polls a JS expression until it is truthy
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
    "--remote-debugging-pipe",
]


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class CdpError(RuntimeError):
    pass


class Chromium:
    def __init__(self, timeout: float = 60.0, flags: list[str] | None = None):
        self.timeout = timeout
        self.flags = list(flags or [])
        self.proc: subprocess.Popen | None = None
        self._profile: str | None = None
        self._next_id = 0
        self._buf = b""
        self._session: str | None = None
        self._lock = threading.Lock()
        self.stderr_path: str | None = None
        self._cmd_w = self._out_r = -1

    def start(self) -> "Chromium":
        exe = chromium_binary()
        if exe is None:
            raise RuntimeError("chromium is not installed")
        self._profile = tempfile.mkdtemp(prefix="qeltrix-chromium-")
        self.stderr_path = os.path.join(self._profile, "stderr.log")
        # fd 3: commands to Chromium; fd 4: its answers and events.
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()
        try:
            # A small Python moves the two pipe ends to 3 and 4, then execs Chromium (no
            # preexec_fn: this process has threads; no sh: dash takes single-digit fds only).
            script = (f"import os, sys; os.dup2({cmd_r}, 3); os.dup2({out_w}, 4); "
                      f"os.close({cmd_r}); os.close({out_w}); os.execv(sys.argv[1], sys.argv[1:])")
            with open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", script, exe, *FLAGS, *self.flags, f"--user-data-dir={self._profile}",
                     "about:blank"],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err, pass_fds=(cmd_r, out_w))
        finally:
            os.close(cmd_r)
            os.close(out_w)
        return self

    # -- protocol -----------------------------------------------------------------------------

    def _recv(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            r, _, _ = select.select([self._out_r], [], [], left)
            if not r:
                continue
            chunk = os.read(self._out_r, 1 << 16)
            if not chunk:
                raise CdpError(f"Chromium exited (code {self.proc.poll()}): {self._stderr_tail()}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, *, session: bool = True, timeout: float = 30.0):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self._session:
            msg["sessionId"] = self._session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._recv(deadline)
            if m.get("id") == self._next_id:
                if "error" in m:
                    raise CdpError(f"{method}: {m['error']}")
                return m.get("result", {})

    def open(self, url: str, download_bytes_per_s: int | None = None) -> None:
        """A new tab at ``url``, attached: later calls go to its page. ``download_bytes_per_s``
        throttles the tab's network (DevTools' network emulation) before it loads."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                  session=False)["sessionId"]
        if download_bytes_per_s:
            self.call("Network.enable")
            self.call("Network.emulateNetworkConditions", {
                "offline": False, "latency": 0, "downloadThroughput": download_bytes_per_s,
                "uploadThroughput": -1})
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str, await_promise: bool = False):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": await_promise})
        if "exceptionDetails" in r:
            raise CdpError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self) -> bytes:
        """The tab as a PNG."""
        import base64

        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])

    def wait_for(self, expression: str, timeout: float | None = None, interval: float = 0.2):
        """Evaluates ``expression`` until it is truthy; returns that value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                v = self.evaluate(expression)
            except CdpError as e:
                # asked while the page navigates (a click just followed a link): not yet
                if "navigated or closed" not in str(e) and "context" not in str(e).lower():
                    raise
                v = None
            if v:
                return v
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} still {v!r} after {timeout or self.timeout} s")
            time.sleep(interval)

    def _stderr_tail(self) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except (OSError, TypeError):
            return ""

    # -- shutdown -----------------------------------------------------------------------------

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.call("Browser.close", session=False, timeout=5)
                except (OSError, CdpError, TimeoutError):
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        for fd in ("_cmd_w", "_out_r"):
            if getattr(self, fd, -1) >= 0:
                os.close(getattr(self, fd))
                setattr(self, fd, -1)
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __enter__(self) -> "Chromium":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
