"""Random access to a container over HTTP(S) with Range requests: plain ``http://`` without a
proxy through keep-alive :mod:`http.client` connections, whose bodies are received straight into
the caller's buffer (one ``recv_into`` per read, the GIL released); https and proxies through
urllib3 (imported only then).

At open, two requests in parallel: ``Range: bytes=-16384`` (trailer and footer; the total size
comes from ``Content-Range``) and ``bytes=0-415`` (the header); a footer larger than that costs
one more request, for the rest of it. Later reads ask for exactly the bytes
wanted (``bytes=a-b``), conditionally on the object being the one first seen (``If-Match`` with
a strong ETag, else ``If-Unmodified-Since``), and every answer's ``Content-Range``, size, ETag
and Last-Modified are compared too, so a server that ignores either is still caught.

Never silently wrong bytes: a server that ignores Range raises :class:`RangeNotSupportedError`
(at once, without downloading the object); an object that changed raises
:class:`RemoteChangedError`. Connection errors, timeouts, a connection dropped mid-body and
408/429/5xx answers are retried with exponential backoff and jitter (``retries``), then raise
:class:`RemoteError`. (The container's authentication would catch mixed bytes anyway; these
checks turn that into a clear error before any decryption.)

A hostile or broken server gets a clear :class:`RemoteError` (exit code 5), never a wrong byte, a
hang or unbounded memory: a body longer or shorter than the range asked (by its Content-Length or
by the bytes that come), a 206 for another range, a Content-Range total that changes, a body
slower than ``min_speed`` bytes/s (after ``timeout`` seconds of grace: a trickle cannot hold a
read forever, whatever the socket timeout), and a redirect to another scheme, host or port
(followed only within the same origin, 5 at most: an https URL is never downgraded, and the
``headers`` given, such as ``Authorization``, never go to another host). Bodies are read into
buffers of the size asked, never more.
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import threading
import time
import urllib.parse
import urllib.request

from ..errors import RangeNotSupportedError, RemoteChangedError, RemoteError
from .base import display_url, url_scheme
from .remote import HEAD_BYTES, PART_BYTES, TAIL_BYTES, RemoteAccess

__all__ = ["HttpAccess"]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.IGNORECASE)
_UNSATISFIED = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_USER_AGENT = "qeltrix"
#: The slowest body accepted, in bytes per second (after the read timeout's worth of grace).
MIN_SPEED = 16 << 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


class _Retry(Exception):
    """An attempt failed in a way worth retrying."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after


class HttpAccess(RemoteAccess):
    """A container (or any object) at an http(s) URL, read with Range requests.

    ``headers`` are sent with every request (e.g. ``Authorization``); ``http_proxy``,
    ``https_proxy`` and ``no_proxy`` are honoured as by curl and requests; ``timeout`` bounds each
    socket read, ``connect_timeout`` each connection; ``retries`` is the number of retries of a
    failed request (so ``retries + 1`` attempts), waiting ``backoff`` seconds, doubling up to
    ``max_backoff``, with jitter. ``workers`` requests may run at once. A body must arrive at
    ``min_speed`` bytes/s at least (after ``timeout`` seconds of grace), else the attempt fails.
    """

    def __init__(self, url: str, *, workers: int = 4, headers: dict | None = None, timeout: float = 30.0,
                 connect_timeout: float = 10.0, retries: int = 4, backoff: float = 0.25, max_backoff: float = 8.0,
                 tail_bytes: int = TAIL_BYTES, head_bytes: int = HEAD_BYTES, part_bytes: int = PART_BYTES,
                 min_speed: float = MIN_SPEED):
        super().__init__(url, workers, part_bytes)
        if retries < 0 or backoff < 0 or tail_bytes < 1:
            raise ValueError("retries, backoff and tail_bytes must be non-negative (tail_bytes positive)")
        if not min_speed > 0:
            raise ValueError("min_speed must be positive")
        self._grace, self._min_speed = float(timeout), float(min_speed)
        self._headers = {"User-Agent": _USER_AGENT, **(headers or {}), "Accept-Encoding": "identity"}
        self._retries, self._backoff, self._max_backoff = retries, backoff, max_backoff
        proxy = _proxy_for(url)
        # Plain http without a proxy: our own keep-alive connections (bodies received in place);
        # else urllib3 (TLS, proxies).
        if url_scheme(url) == "http" and proxy is None:
            self._conns = _Connections(url, connect_timeout, timeout, workers + 1)
        else:
            self._conns = _Urllib3Connections(url, proxy, connect_timeout, timeout, workers + 1)
        self._stats = threading.Lock()
        self.etag: str | None = None
        self.last_modified: str | None = None
        #: Requests sent and body bytes received, for tests and benchmarks.
        self.requests = 0
        self.bytes_received = 0
        try:
            self._open(tail_bytes, head_bytes)
        except Exception:
            self.close()
            raise
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): do not wait for requests in flight
            self.close(wait=False)
            raise

    # -- open -------------------------------------------------------------------------------

    def _open(self, tail_bytes: int, head_bytes: int) -> None:
        head = None
        if head_bytes and self.concurrency > 1:
            head = self._pool().submit(self._get_small, f"bytes=0-{head_bytes - 1}", head_bytes)
        try:
            start, total, tail, validators = self._get_small(f"bytes=-{tail_bytes}", tail_bytes)
        except Exception:
            if head is not None:
                head.cancel()
                try:
                    head.result()
                except BaseException:  # the tail's error is the one to report
                    pass
            raise
        self.size = total
        self.etag, self.last_modified = validators
        self._cache(start, tail)
        if head is not None and start == 0:  # the tail is the whole object: the header is in it
            try:
                head.result()
            except (RemoteError, OSError):
                pass
        elif head is not None:  # the header lies before the tail: check both are of one object
            _h_start, h_total, h_data, h_validators = head.result()
            if h_total != total or not _same(h_validators, validators):
                raise RemoteChangedError(f"{self.name}: the object changed while being opened", self.name)
            self._cache(0, h_data)
        elif head_bytes and start > 0:
            self._cache(0, self.pread(0, min(head_bytes, start)))

    def _get_small(self, rng: str, limit: int):
        """GET a suffix or prefix range of at most ``limit`` bytes: (start, total, data,
        validators). A 200 is accepted only for an object of at most ``limit`` bytes (then it
        is the whole object, which is what was asked)."""

        def attempt():
            resp = self._send(rng, conditional=False)
            try:
                validators = (resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
                if resp.status == 206:
                    start, end, total = self._content_range(resp)
                    if end - start + 1 > limit or (rng.startswith("bytes=-") and end != total - 1) or \
                            (not rng.startswith("bytes=-") and start != 0):
                        raise RangeNotSupportedError(
                            f"{self.name}: asked for {rng}, the server sent bytes {start}-{end}", self.name, 206)
                    buf = bytearray(end - start + 1)
                    self._read_body(resp, memoryview(buf), rng)
                    return start, total, buf, validators
                if resp.status == 200:
                    length = resp.headers.get("Content-Length")
                    if length is None or not length.isdigit() or int(length) > limit:
                        raise self._ignored(rng)
                    buf = bytearray(int(length))
                    self._read_body(resp, memoryview(buf), rng)
                    return 0, len(buf), buf, validators
                if resp.status == 416:
                    m = _UNSATISFIED.match(resp.headers.get("Content-Range", ""))
                    if m and int(m.group(1)) == 0:
                        return 0, 0, b"", validators  # an empty object
                self._raise_status(resp)
            finally:
                _release(resp)

        return self._with_retries(attempt)

    # -- reads ------------------------------------------------------------------------------

    def _read_into(self, offset: int, view: memoryview) -> None:
        n = len(view)
        rng = f"bytes={offset}-{offset + n - 1}"

        def attempt():
            resp = self._send(rng, conditional=True)
            try:
                if not _same((resp.headers.get("ETag"), resp.headers.get("Last-Modified")),
                             (self.etag, self.last_modified)):
                    raise self._changed()
                if resp.status == 206:
                    start, end, total = self._content_range(resp)
                    if total != self.size:
                        raise self._changed()
                    if (start, end) != (offset, offset + n - 1):
                        raise RangeNotSupportedError(
                            f"{self.name}: asked for {rng}, the server sent bytes {start}-{end}", self.name, 206)
                elif resp.status == 200:
                    if (offset, n) != (0, self.size) or resp.headers.get("Content-Length") != str(n):
                        raise self._ignored(rng)
                elif resp.status in (412, 416):
                    raise self._changed()
                else:
                    self._raise_status(resp)
                self._read_body(resp, view, rng)
            finally:
                _release(resp)

        self._with_retries(attempt)

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, rng: str, conditional: bool):
        headers = dict(self._headers, Range=rng)
        if conditional:
            if self.etag and not self.etag.startswith("W/"):
                headers["If-Match"] = self.etag
            elif self.last_modified:
                headers["If-Unmodified-Since"] = self.last_modified
        url = self.url
        for _hop in range(MAX_REDIRECTS + 1):
            resp = self._request(url, headers)
            if resp.status not in _REDIRECTS:
                break
            url = self._redirect_target(url, resp)
        else:
            _discard(resp)
            raise RemoteError(f"{self.name}: more than {MAX_REDIRECTS} redirects", self.name, resp.status)
        if resp.status in _RETRY_STATUS:
            after = _retry_after(resp.headers.get("Retry-After"))
            _discard(resp)
            raise _Retry(f"HTTP {resp.status} {resp.reason or ''}".strip(), resp.status, after)
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            _discard(resp)
            raise RemoteError(f"{self.name}: the server sent a {encoding}-encoded body to a Range request",
                              self.name, resp.status)
        if "multipart/" in resp.headers.get("Content-Type", "").lower():
            _discard(resp)
            raise RangeNotSupportedError(f"{self.name}: a multipart answer to a single range", self.name)
        return resp

    def _request(self, url: str, headers: dict):
        with self._stats:
            self.requests += 1
        return self._conns.request(url, headers)

    def _redirect_target(self, url: str, resp) -> str:
        """Where a 3xx answer points, if it is the same origin (scheme, host, port) as the URL
        given; a redirect elsewhere is refused (a downgrade to http, or headers such as
        Authorization sent to another host)."""
        location = resp.headers.get("Location")
        _discard(resp)
        if not location:
            raise RemoteError(f"{self.name}: HTTP {resp.status} without a Location", self.name, resp.status)
        target = urllib.parse.urljoin(url, location.strip())
        if _origin(target) != _origin(self.url):
            raise RemoteError(f"{self.name}: redirected to another origin ({display_url(target)}): refused; "
                              f"give that URL itself if it is trusted", self.name, resp.status)
        return target

    def _read_body(self, resp, view: memoryview, rng: str) -> None:
        """Exactly ``len(view)`` body bytes into ``view``: a Content-Length that says otherwise,
        or more bytes than that, is an error (no retry); a short or too slow body is retried."""
        n, got = len(view), 0
        length = resp.headers.get("Content-Length")
        if length is not None and length.strip() != str(n):
            _discard(resp)
            raise RemoteError(f"{self.name}: asked for {rng} ({n} bytes), the server announced a body of "
                              f"{length.strip()[:20]} bytes", self.name, resp.status)
        deadline = time.monotonic() + self._grace + n / self._min_speed
        try:
            while got < n:
                # readinto1: what one receive brings (readinto would wait for the whole view, so a
                # trickle could hold it for ever); the deadline is checked between receives
                k = resp.readinto1(view[got:])
                if not k:
                    break
                got += k
                if got < n and time.monotonic() > deadline:
                    _discard(resp)
                    raise _Retry(f"too slow: {got} of {n} bytes in {self._grace + n / self._min_speed:.0f}s")
            more = got == n and length is None and resp.read(1)  # close-delimited or chunked: no more
        except (OSError, http.client.HTTPException) as e:
            _discard(resp)
            raise _Retry(f"connection lost after {got} of {n} bytes ({_reason(e)})") from e
        finally:
            with self._stats:
                self.bytes_received += got
        if got != n:
            _discard(resp)
            raise _Retry(f"the body ended after {got} of {n} bytes")
        if more:
            _discard(resp)
            raise RemoteError(f"{self.name}: asked for {rng} ({n} bytes), the server sent more", self.name,
                              resp.status)

    def _with_retries(self, attempt):
        delay = self._backoff
        for i in range(self._retries + 1):
            try:
                return attempt()
            except _Retry as e:
                last = e
                if i == self._retries:
                    break
                wait = e.retry_after if e.retry_after is not None else delay * (0.5 + random.random() / 2)
                time.sleep(min(wait, self._max_backoff))
                delay = min(delay * 2, self._max_backoff)
        raise RemoteError(f"{self.name}: {last} (gave up after {self._retries + 1} attempts)", self.name,
                          last.status) from None

    def _content_range(self, resp) -> tuple[int, int, int]:
        value = resp.headers.get("Content-Range", "")
        m = _CONTENT_RANGE.match(value)
        if not m:
            raise RangeNotSupportedError(f"{self.name}: a 206 answer with a bad Content-Range {value!r}",
                                         self.name, 206)
        start, end, total = (int(g) for g in m.groups())
        if not start <= end < total:
            raise RangeNotSupportedError(f"{self.name}: an impossible Content-Range {value!r}", self.name, 206)
        return start, end, total

    def _ignored(self, rng: str) -> RangeNotSupportedError:
        return RangeNotSupportedError(f"{self.name}: the server ignored the Range request ({rng}) and answered "
                                      f"200 with the whole object; random access needs a server that honours "
                                      f"Range", self.name, 200)

    def _changed(self) -> RemoteChangedError:
        return RemoteChangedError(f"{self.name}: the object changed on the server while it was being read "
                                  f"(ETag, Last-Modified or size differ); open it again", self.name)

    def _raise_status(self, resp):
        status = resp.status
        what = f"{self.name}: HTTP {status} {resp.reason or ''}".strip()
        if status in (404, 410):
            raise FileNotFoundError(what)
        if status in (401, 403):
            raise PermissionError(what)
        if status == 412:
            raise self._changed()
        raise RemoteError(what, self.name, status)

    def close(self, wait: bool = True) -> None:
        super().close(wait)
        conns = getattr(self, "_conns", None)
        if conns is not None:
            conns.clear()


def _proxy_for(url: str) -> str | None:
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


class _Connections:
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
                raise _Retry(_reason(e)) from e
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if isinstance(e, http.client.InvalidURL):
                    raise ValueError(f"{display_url(url)}: not a valid URL ({e})") from None
                raise _Retry(_reason(e)) from e
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

    def __init__(self, pool: _Connections, conn: _Connection, resp: _Response):
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


class _Urllib3Connections:
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
                raise RemoteError(f"{self.name}: {_reason(e.reason)}", self.name) from None
            raise _Retry(_reason(e.reason)) from e
        except exc.LocationValueError as e:
            raise ValueError(f"{self.name}: not a valid URL ({e})") from None
        except (exc.HTTPError, OSError, http.client.HTTPException) as e:
            raise _Retry(_reason(e)) from e

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
            raise ConnectionError(_reason(e)) from e
        k = len(chunk)
        b[:k] = chunk
        return k

    def read(self, n: int) -> bytes:
        try:
            return self._resp.read(n)
        except self._errors as e:
            raise ConnectionError(_reason(e)) from e

    def close(self) -> None:
        self._resp.close()

    def release(self) -> None:
        resp = self._resp
        if resp.length_remaining != 0:
            resp.close()
        resp.release_conn()


def _origin(url: str) -> tuple:
    p = urllib.parse.urlsplit(url)
    scheme = p.scheme.lower()
    return scheme, (p.hostname or "").lower(), p.port or {"http": 80, "https": 443}.get(scheme)


def _same(a: tuple, b: tuple) -> bool:
    """Two (ETag, Last-Modified) pairs name the same object version where both are known."""
    return all(x is None or y is None or x == y for x, y in zip(a, b))


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def _reason(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text.split(": ", 1)[-1] if text.startswith("<") else text


def _discard(resp) -> None:
    """Drop a response without reading its body (it may be the whole object): close the socket."""
    resp.close()


def _release(resp) -> None:
    """Give the connection back for reuse when the body was read to its end, else close it."""
    resp.release()
