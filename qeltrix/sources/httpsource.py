"""Random access to a container over HTTP(S) with Range requests (the connections, plain http
through http.client, https and proxies through urllib3, are :mod:`.httpconn`'s).

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
import threading
import time
import urllib.parse

from ..errors import RangeNotSupportedError, RemoteChangedError, RemoteError
from .base import display_url, url_scheme
from .httpconn import Connections, Retry, Urllib3Connections, proxy_for, reason
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
        proxy = proxy_for(url)
        # Plain http without a proxy: our own keep-alive connections (bodies received in place);
        # else urllib3 (TLS, proxies).
        if url_scheme(url) == "http" and proxy is None:
            self._conns = Connections(url, connect_timeout, timeout, workers + 1)
        else:
            self._conns = Urllib3Connections(url, proxy, connect_timeout, timeout, workers + 1)
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
            raise Retry(f"HTTP {resp.status} {resp.reason or ''}".strip(), resp.status, after)
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
                    raise Retry(f"too slow: {got} of {n} bytes in {self._grace + n / self._min_speed:.0f}s")
            more = got == n and length is None and resp.read(1)  # close-delimited or chunked: no more
        except (OSError, http.client.HTTPException) as e:
            _discard(resp)
            raise Retry(f"connection lost after {got} of {n} bytes ({reason(e)})") from e
        finally:
            with self._stats:
                self.bytes_received += got
        if got != n:
            _discard(resp)
            raise Retry(f"the body ended after {got} of {n} bytes")
        if more:
            _discard(resp)
            raise RemoteError(f"{self.name}: asked for {rng} ({n} bytes), the server sent more", self.name,
                              resp.status)

    def _with_retries(self, attempt):
        delay = self._backoff
        for i in range(self._retries + 1):
            try:
                return attempt()
            except Retry as e:
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


def _discard(resp) -> None:
    """Drop a response without reading its body (it may be the whole object): close the socket."""
    resp.close()


def _release(resp) -> None:
    """Give the connection back for reuse when the body was read to its end, else close it."""
    resp.release()
