"""A private nginx on 127.0.0.1 for tests and benchmarks: its own config, pid, logs and temp
folders in one directory, ``daemon off`` as a subprocess of ours, stopped by its pid.

The access log records ``$bytes_sent`` (headers and body) for each request, so a test can count
exactly what a client transferred. Used by tests/test_remote_nginx.py and
tools/bench/bench_remote.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

_CONF = """\
{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    log_format q '$request_method $uri $status range="$http_range" sent=$bytes_sent body=$body_bytes_sent';
    access_log {d}/access.log q;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    sendfile on;
    keepalive_timeout 30;
    keepalive_requests 10000;
{servers}
}}
"""

_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        root {root};{autoindex}
        location = /__mark {{ return 204; }}
    }}
"""


def nginx_binary() -> str | None:
    for cand in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def require_nginx() -> None:
    """Fail under CI (which must install nginx: see .ci/run), skip elsewhere, when it is missing."""
    if nginx_binary() is None:
        import pytest

        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (CI must install it: see .ci/run)")
        pytest.skip("nginx is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LogLine:
    method: str
    uri: str
    status: int
    range: str
    sent: int
    body: int


class Nginx:
    """``with Nginx(root, workdir) as n:`` serves ``root`` at ``n.url``; ``n.mark()`` returns
    the log lines written since the previous mark (each request logged in full).

    ``servers(port)``, if given, returns the ``server``/``upstream`` blocks to use instead (a
    proxy, TLS: see tests/test_deploy_nginx.py); ``port`` is the free port found for them."""

    def __init__(self, root, workdir, servers=None, autoindex: bool = False):
        self.servers = servers
        self.root = Path(root).resolve()
        self.autoindex = autoindex  # folder URLs answer with an HTML listing (tests/test_mount.py)
        self.dir = Path(workdir).resolve()
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._log_pos = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Nginx":
        exe = nginx_binary()
        if exe is None:
            raise RuntimeError("nginx is not installed")
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        # As root, nginx's worker would switch to 'nobody', who cannot read a private temp folder.
        user = "user root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        last = ""
        for _attempt in range(5):
            self.port = _free_port()
            conf = self.dir / "nginx.conf"
            servers = self.servers(self.port) if self.servers else _SERVER.format(
                port=self.port, root=self.root, autoindex="\n        autoindex on;" if self.autoindex else "")
            conf.write_text(_CONF.format(user=user, d=self.dir, servers=servers))
            self.proc = subprocess.Popen([exe, "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "error.log")],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        if self.servers is None:
                            self.mark()
                        return self
                except OSError:
                    time.sleep(0.02)
            last = self._stop_proc()
        raise RuntimeError(f"nginx did not start: {last}")

    def _stop_proc(self) -> str:
        err = ""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None
        try:
            err += (self.dir / "error.log").read_text(errors="replace")[-2000:]
        except OSError:
            pass
        return err

    def stop(self) -> None:
        self._stop_proc()

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def mark(self) -> list[LogLine]:
        """Requests logged since the last mark. A request to /__mark is sent and waited for in
        the log, so every request that finished before the call is included."""
        with urllib.request.urlopen(f"{self.url}/__mark", timeout=10) as r:
            r.read()
        log = self.dir / "access.log"
        deadline = time.monotonic() + 30  # a pass returns at once; a loaded machine may be slow
        while True:
            with open(log, "rb") as f:
                f.seek(self._log_pos)
                chunk = f.read()
            text = chunk.decode()
            if "GET /__mark " in text or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        lines = text.splitlines()
        marks = [i for i, line in enumerate(lines) if line.startswith("GET /__mark ")]
        assert marks, "nginx did not log the /__mark request within 30 s"
        upto = marks[-1]
        self._log_pos += len("".join(line + "\n" for line in lines[:upto + 1]).encode())
        return [_parse(line) for line in lines[:upto] if not line.startswith("GET /__mark ")]


def _parse(line: str) -> LogLine:
    method, uri, status, rest = line.split(" ", 3)
    rng = rest.split('range="', 1)[1].split('"', 1)[0]
    sent = int(rest.split(" sent=", 1)[1].split(" ", 1)[0])
    body = int(rest.split(" body=", 1)[1].split(" ", 1)[0])
    return LogLine(method, uri, int(status), rng, sent, body)
