"""A tiny HTTP/1.1 server with byte ranges and injected faults, for tests of remote reading.

It serves one object (``data``) at any path, with single-range support (``bytes=a-b``, ``a-``,
``-n``), a strong ETag and Last-Modified, and ``If-Match``/``If-Unmodified-Since``. Faults are
counters or switches on the server object, changed by the test between requests.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data: bytes):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.set_object(data, 1)
        self.log: list[dict] = []  # one dict of request headers (and 'status') per request
        # Faults, each consumed by the requests it hits:
        self.fail_status = 0  # answer this many requests with `fail_code`
        self.fail_code = 500
        self.retry_after: str | None = None
        self.drop_mid_body = 0  # this many ranged answers close the connection half-way
        self.drop_min = 1024  # ...among answers of at least this many bytes
        self.stall = 0  # this many answers wait `stall_s` before their body
        self.stall_s = 0.0
        self.ignore_range = False  # answer 200 with the whole object
        self.ignore_explicit_range = False  # honour suffix ranges only
        self.wrong_range = False  # answer a range other than the one asked
        self.conditionals = True  # honour If-Match / If-Unmodified-Since
        self.send_etag = True
        self.send_last_modified = True
        self.change_after: int | None = None  # after this many requests, serve `next_data`
        self.next_data: bytes | None = None
        self.status_only: int | None = None  # answer every request with this status
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def set_object(self, data: bytes, version: int) -> None:
        self.data = data
        self.version = version
        self.etag = f'"v{version}-{len(data)}"'
        self.last_modified = formatdate(1_700_000_000 + version * 1000, usegmt=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/c.qltx"

    def handle_error(self, request, client_address):  # dropped connections are expected
        pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultServer

    def log_message(self, *args):
        pass

    def _plain(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: C901 - one place for every fault
        s = self.server
        with s.lock:
            entry = {k.lower(): v for k, v in self.headers.items()}
            s.log.append(entry)
            if s.change_after is not None and len(s.log) > s.change_after and s.next_data is not None:
                s.set_object(s.next_data, s.version + 1)
                s.next_data = None
            data, etag, lm = s.data, s.etag, s.last_modified
            fail = s.fail_status > 0
            if fail:
                s.fail_status -= 1
        if s.status_only is not None:
            entry["status"] = s.status_only
            return self._plain(s.status_only, b"no")
        if fail:
            entry["status"] = s.fail_code
            extra = {"Retry-After": s.retry_after} if s.retry_after is not None else {}
            return self._plain(s.fail_code, b"injected failure", extra)
        validators = {}
        if s.send_etag:
            validators["ETag"] = etag
        if s.send_last_modified:
            validators["Last-Modified"] = lm
        if s.conditionals:
            im = self.headers.get("If-Match")
            ius = self.headers.get("If-Unmodified-Since")
            if (im is not None and im != etag) or (im is None and ius is not None and ius != lm):
                entry["status"] = 412
                return self._plain(412, b"precondition failed")
        rng = self.headers.get("Range")
        total = len(data)
        m = _RANGE.match(rng or "")
        if s.ignore_range or not m or (s.ignore_explicit_range and m.group(1)):
            entry["status"] = 200
            return self._send_body(200, data, validators)
        a, b = m.groups()
        if a == "":
            start, end = max(0, total - int(b)), total - 1
        else:
            start, end = int(a), min(int(b) if b else total - 1, total - 1)
        if start >= total or start > end:
            entry["status"] = 416
            return self._plain(416, b"", {"Content-Range": f"bytes */{total}"})
        if s.wrong_range and end > start:
            start += 1
        entry["status"] = 206
        self._send_body(206, data[start:end + 1], dict(validators, **{"Content-Range": f"bytes {start}-{end}/{total}"}))

    def _send_body(self, status: int, body: bytes, headers: dict) -> None:
        s = self.server
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with s.lock:
            drop = status == 206 and s.drop_mid_body > 0 and len(body) >= s.drop_min
            if drop:
                s.drop_mid_body -= 1
            stall = s.stall > 0
            if stall:
                s.stall -= 1
        if stall:
            self.wfile.flush()
            time.sleep(s.stall_s)
        if drop:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
