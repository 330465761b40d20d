"""Small raw HTTP/1.1 client helpers for the server tests: exact bytes out, responses parsed
strictly (Content-Length framing, so a cut body is seen as such)."""

from __future__ import annotations

import socket
import time


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_all(s: socket.socket, limit: float = 20.0) -> bytes:
    """Everything until the peer closes (or ``limit`` seconds)."""
    chunks, end = [], time.monotonic() + limit
    while time.monotonic() < end:
        try:
            b = s.recv(1 << 20)
        except (ConnectionResetError, TimeoutError, socket.timeout):
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def exchange(port: int, raw: bytes, limit: float = 20.0) -> bytes:
    with connect(port) as s:
        s.sendall(raw)
        return recv_all(s, limit)


def request_bytes(method: str, path: str = "/", headers: dict | None = None, version: str = "1.1",
                  close: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if close and version == "1.1":
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Response:
    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, complete: bool):
        self.status, self.reason, self.header_list, self.body, self.complete = status, reason, headers, body, complete
        self.headers = {}
        for k, v in headers:
            self.headers.setdefault(k.lower(), v)

    def __repr__(self):
        return f"<Response {self.status} {self.headers} body={len(self.body)} complete={self.complete}>"


def parse_responses(data: bytes, methods: list[str]) -> list[Response]:
    """Responses in order, one per method (HEAD and 304 carry no body)."""
    out, pos = [], 0
    for m in methods:
        end = data.index(b"\r\n\r\n", pos)
        head = data[pos:end].decode("latin-1").split("\r\n")
        pos = end + 4
        _, status, reason = (head[0].split(" ", 2) + [""])[:3]
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in head[1:]]
        r = Response(int(status), reason, headers, b"", True)
        if m != "HEAD" and r.status not in (204, 304):
            if "content-length" in r.headers:
                n = int(r.headers["content-length"])
                r.body = data[pos:pos + n]
                r.complete = len(r.body) == n
                pos += len(r.body)
            else:
                r.body, pos = data[pos:], len(data)
        out.append(r)
    return out


def get(port: int, path: str = "/", headers: dict | None = None, method: str = "GET", version: str = "1.1"):
    return parse_responses(exchange(port, request_bytes(method, path, headers, version)), [method])[0]


def multipart(r: Response) -> list[tuple[str, str | None, bytes]]:
    """(Content-Range, Content-Type, bytes) of each part of a multipart/byteranges body."""
    ctype = r.headers["content-type"]
    assert ctype.startswith("multipart/byteranges; boundary="), ctype
    boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
    body = r.body
    if body.startswith(b"--"):
        body = b"\r\n" + body  # a body without the leading CRLF (allowed)
    segs = body.split(b"\r\n--" + boundary)
    assert segs[-1] in (b"--\r\n", b"--"), segs[-1][:40]
    parts = []
    for seg in segs[1:-1]:
        assert seg.startswith(b"\r\n")
        head, _, data = seg[2:].partition(b"\r\n\r\n")
        hs = {}
        for line in head.decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            hs[k.strip().lower()] = v.strip()
        parts.append((hs["content-range"], hs.get("content-type"), data))
    return parts
