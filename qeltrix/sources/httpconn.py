"""The connections of :mod:`.httpsource`: one request and its answer, whose body is read into
the caller's buffer. Plain ``http://`` without a proxy goes through keep-alive
:mod:`http.client` connections of our own, bodies received straight into the buffer (one
``recv_into`` per read, the GIL released); https and proxies through urllib3 (imported only
then). Both give a ``Reply`` with ``status``, ``reason``, ``headers``, ``readinto1``, ``read``,
``close`` (drop it, closing its connection) and ``release`` (the connection back for reuse when
the body was read to its end)."""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.parse
import urllib.request

from ..errors import RemoteError
from .base import display_url

__all__ = ["Retry", "Connections", "Urllib3Connections", "proxy_for", "reason"]


class Retry(Exception):
    """An attempt failed in a way worth retrying."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after


def proxy_for(url: str) -> str | None:
    """The proxy that ``http_proxy``/``https_proxy`` name for ``url``, unless ``no_proxy``
    exempts its host (the convention of curl and requests); None: direct."""
    p = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(p.scheme)
    if proxy and not urllib.request.proxy_bypass(p.hostname or ""):
        return proxy
    return None


class _Response(http.client.HTTPResponse):
    """http.client's response with ``readinto1``: what one receive brings, straight into the
    caller's buffer (``read1`` returns new bytes, ``readinto`` waits for the whole buffer). The
    bookkeeping is ``read1``'s and ``readinto``'s own: the length left, and the end of the body
    closing the response, so that its connection can send the next request."""

    def readinto1(self, b) -> int:
        if self.fp is None:
            return 0
        if self.chunked:  # rare for a range (a copy): http.client decodes the chunks
            data = self.read1(len(b))
            b[:len(data)] = data
            return len(data)
        if self.length is not None and len(b) > self.length:
            b = memoryview(b)[:self.length]
        n = self.fp.readinto1(b)
        if not n and b:
            self._close_conn()
            if self.length:  # the connection closed before the Content-Length's end
                raise http.client.IncompleteRead(b"", self.length)
        elif self.length is not None:
            self.length -= n
            if not self.length:
                self._close_conn()
        return n


class _Connection(http.client.HTTPConnection):
    """A keep-alive connection: ``connect_timeout`` to connect, ``timeout`` for each receive."""

    response_class = _Response

    def __init__(self, host: str, port: int, connect_timeout: float, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.connect_timeout = connect_timeout
        #: Answers received on this connection (a first request is never on a stale one).
        self.used = 0

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), self.connect_timeout)
        self.sock.settimeout(self.timeout)
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not every platform has it
            pass


class Connections:
    """Keep-alive http.client connections to the one origin of a plain http URL (redirects are
    followed only within it), at most ``keep`` of them idle."""

    def __init__(self, url: str, connect_timeout: float, timeout: float, keep: int):
        try:
            p = urllib.parse.urlsplit(url)
            host, port = p.hostname, p.port
        except ValueError as e:
            raise ValueError(f"{display_url(url)}: not a valid URL ({e})") from None
        if not host:
            raise ValueError(f"{display_url(url)}: not a valid URL (no host)")
        self._host, self._port = host, port or 80
        self._connect_timeout, self._timeout, self._keep = connect_timeout, timeout, keep
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _get(self, fresh: bool = False) -> _Connection:
        conn = None
        if not fresh:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
        if conn is None:
            return _Connection(self._host, self._port, self._connect_timeout, self._timeout)
        if conn.sock is not None and _dropped(conn.sock):
            conn.close()  # closed by the server while idle (or it sent what nobody asked): reconnect
            conn.used = 0
        return conn

    def put(self, conn: _Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        conn.close()

    def request(self, url: str, headers: dict) -> "_DirectReply":
        target = _request_target(url)
        for fresh in (False, True):
            conn = self._get(fresh)
            reused = conn.used > 0 and conn.sock is not None
            try:
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected) as e:
                conn.close()
                if reused:  # a kept connection the server closed as we sent: once more, on a new one
                    continue
                raise Retry(reason(e)) from e
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if isinstance(e, http.client.InvalidURL):
                    raise ValueError(f"{display_url(url)}: not a valid URL ({e})") from None
                raise Retry(reason(e)) from e
            conn.used += 1
            return _DirectReply(self, conn, resp)
        raise AssertionError("unreachable")  # pragma: no cover

    def clear(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _DirectReply:
    """An answer on one of our connections: its status and headers, its body read in place."""

    __slots__ = ("status", "reason", "headers", "_pool", "_conn", "_resp")

    def __init__(self, pool: Connections, conn: _Connection, resp: _Response):
        self.status, self.reason, self.headers = resp.status, resp.reason, resp.headers
        self._pool, self._conn, self._resp = pool, conn, resp

    def readinto1(self, b) -> int:
        return self._resp.readinto1(b)

    def read(self, n: int) -> bytes:
        return self._resp.read(n)

    def close(self) -> None:
        """Drop the answer without reading the rest of its body: close the connection (and the
        answer, which holds the socket alone when the server said ``Connection: close``)."""
        self._resp.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def release(self) -> None:
        """The connection back to the pool when the body was read to its end, else closed."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._resp.isclosed():
            self._pool.put(conn)
        else:
            self._resp.close()
            conn.close()


def _dropped(sock: socket.socket) -> bool:
    """True when the server closed an idle kept connection (or wrote what nobody asked for)."""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        sock.recv(1, socket.MSG_PEEK)
        return True  # b"": closed; anything else: not the start of an answer to anything
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


#: What a request target keeps as it is (reserved characters and escapes); anything else (a
#: space, a non-ASCII character) is percent-encoded, as urllib3 and requests do.
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"


def _request_target(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    target = (p.path or "/") + (f"?{p.query}" if p.query else "")
    return urllib.parse.quote(target, safe=_TARGET_SAFE)


class Urllib3Connections:
    """https and proxies: urllib3's pools (TLS, CONNECT tunnels), the same ``request``."""

    def __init__(self, url: str, proxy: str | None, connect_timeout: float, timeout: float, keep: int):
        import urllib3

        self._urllib3 = urllib3
        self.name = display_url(url)
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=timeout)
        # Every retry is ours (a dropped body too); redirects are followed by _send (same origin).
        self._no_retries = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=0,
                                         raise_on_redirect=False)
        if proxy:
            self._http = urllib3.ProxyManager(proxy, num_pools=4, maxsize=keep)
        else:
            self._http = urllib3.PoolManager(num_pools=4, maxsize=keep)

    def request(self, url: str, headers: dict) -> "_Urllib3Reply":
        exc = self._urllib3.exceptions
        try:
            return _Urllib3Reply(self._http.request("GET", url, headers=headers, preload_content=False,
                                                    redirect=False, decode_content=False, timeout=self._timeout,
                                                    retries=self._no_retries), exc.HTTPError)
        except exc.MaxRetryError as e:
            if isinstance(e.reason, (exc.SSLError, exc.ResponseError)):
                raise RemoteError(f"{self.name}: {reason(e.reason)}", self.name) from None
            raise Retry(reason(e.reason)) from e
        except exc.LocationValueError as e:
            raise ValueError(f"{self.name}: not a valid URL ({e})") from None
        except (exc.HTTPError, OSError, http.client.HTTPException) as e:
            raise Retry(reason(e)) from e

    def clear(self) -> None:
        self._http.clear()


class _Urllib3Reply:
    """A urllib3 answer with the same few methods (``readinto1`` copies what ``read1`` brings);
    urllib3's errors while reading the body become ConnectionError."""

    __slots__ = ("status", "reason", "headers", "_resp", "_errors")

    def __init__(self, resp, errors):
        self.status, self.reason, self.headers, self._resp = resp.status, resp.reason, resp.headers, resp
        self._errors = errors

    def readinto1(self, b) -> int:
        try:
            chunk = self._resp.read1(min(len(b), 1 << 20))
        except self._errors as e:
            raise ConnectionError(reason(e)) from e
        k = len(chunk)
        b[:k] = chunk
        return k

    def read(self, n: int) -> bytes:
        try:
            return self._resp.read(n)
        except self._errors as e:
            raise ConnectionError(reason(e)) from e

    def close(self) -> None:
        self._resp.close()

    def release(self) -> None:
        resp = self._resp
        if resp.length_remaining != 0:
            resp.close()
        resp.release_conn()


def reason(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text.split(": ", 1)[-1] if text.startswith("<") else text
