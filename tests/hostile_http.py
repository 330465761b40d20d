"""A hostile HTTP/1.1 server for tests of the remote reader: it serves one object with byte
ranges, honestly for the first ``honest`` requests, then in the way ``mode`` names (each a lie a
broken or malicious server can tell). Sockets by hand, so that every header and byte is ours.

Modes: ``lying_total`` (Content-Range total off by ``delta``), ``long_cl`` (Content-Length and
body longer than the range), ``long_close`` (no Content-Length: the range, then bytes without
end, until the client closes), ``endless_chunked`` (chunked: chunks without end), ``short_cl``
(Content-Length and body shorter than the range), ``short_body`` (the right Content-Length, half
the body, then close), ``slow`` (a byte every ``trickle_s`` seconds, without end), ``other_range``
(206 for the range one byte later), ``redirect_host`` / ``redirect_scheme`` / ``redirect_port``
(302 to the same path on ``localhost`` / ``https`` / another port), ``redirect_same`` (302 to
another path of the same origin, served honestly), ``redirect_loop`` (302 to itself), ``stall``
(read the request, answer nothing, hold the connection).
"""

from __future__ import annotations

import re
import socket
import threading
import time

_RANGE = re.compile(rb"^bytes=(\d*)-(\d*)$")


class HostileServer:
    def __init__(self, data: bytes, mode: str | None = None, honest: int = 0, delta: int = 1000,
                 trickle_s: float = 0.05):
        self.data = data
        self.mode = mode
        self.honest = honest
        self.delta = delta
        self.trickle_s = trickle_s
        self.requests = 0
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/c.qltx"

    def __enter__(self) -> "HostileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self._thread.join()
        self._sock.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        buf = b""
        try:
            while not self._closing.is_set():
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1]
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
                with self._lock:
                    self.requests += 1
                    lying = self.requests > self.honest
                if not self._answer(conn, path, headers.get(b"range", b""), self.mode if lying else None):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _send(self, conn, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.bytes_sent += len(data)

    def _answer(self, conn, path: bytes, rng: bytes, mode: str | None) -> bool:
        """Answer one request; False to close the connection."""
        data, total = self.data, len(self.data)
        if mode == "stall":
            self._closing.wait()
            return False
        if mode and mode.startswith("redirect_") and not (mode == "redirect_same" and path == b"/other"):
            where = {"redirect_host": f"http://localhost:{self.port}/c.qltx",
                     "redirect_scheme": f"https://127.0.0.1:{self.port}/c.qltx",
                     "redirect_port": f"http://127.0.0.1:{self.port + 1}/c.qltx",
                     "redirect_same": "/other",
                     "redirect_loop": "/c.qltx"}[mode]
            self._send(conn, f"HTTP/1.1 302 Found\r\nLocation: {where}\r\nContent-Length: 0\r\n\r\n".encode())
            return True
        m = _RANGE.match(rng)
        if not m:
            self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total + data)
            return True
        a, b = m.groups()
        if a == b"":
            start, end = max(0, total - int(b)), total - 1
        else:
            start, end = int(a), min(int(b) if b else total - 1, total - 1)
        if start > end or start >= total:
            self._send(conn, b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%d\r\n"
                             b"Content-Length: 0\r\n\r\n" % total)
            return True
        body = data[start:end + 1]
        shown_total, shown_start, shown_end = total, start, end
        if mode == "lying_total":
            shown_total = total + self.delta
        elif mode == "other_range" and end > start:
            shown_start = start + 1
            body = data[start + 1:end + 2]
        head = (b"HTTP/1.1 206 Partial Content\r\nETag: \"x\"\r\nContent-Range: bytes %d-%d/%d\r\n"
                % (shown_start, shown_end, shown_total))
        if mode == "long_cl":
            body = body + b"\0" * 100
            self._send(conn, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            return True
        if mode == "short_cl":
            body = body[:-10]
            self._send(conn, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            return True
        if mode == "short_body":
            self._send(conn, head + b"Content-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
            return False
        if mode == "long_close":
            self._send(conn, head + b"Connection: close\r\n\r\n" + body)
            while not self._closing.is_set():
                self._send(conn, b"\0" * 65536)
            return False
        if mode == "endless_chunked":
            self._send(conn, head + b"Transfer-Encoding: chunked\r\n\r\n")
            self._send(conn, b"%x\r\n" % len(body) + body + b"\r\n")
            while not self._closing.is_set():
                self._send(conn, b"10000\r\n" + b"\0" * 65536 + b"\r\n")
            return False
        if mode == "slow":
            self._send(conn, head + b"Content-Length: %d\r\n\r\n" % len(body))
            for i in range(len(body)):
                if self._closing.wait(self.trickle_s):
                    return False
                self._send(conn, body[i:i + 1])
            return True
        self._send(conn, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return True
