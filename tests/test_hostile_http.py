"""The remote reader against a hostile HTTP server (tests/hostile_http.py): every lie is a clear
error (``RemoteError``, or a ``QeltrixError`` once the bytes reach the container checks; exit code
5 or 4 from the CLI), in bounded time and memory, and never a wrong byte."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import tracemalloc

import pytest

import qeltrix as qltx
from qeltrix.errors import QeltrixError, RemoteError
from qeltrix.sources import HttpAccess
from qeltrix.reader import Container

from hostile_http import HostileServer

BS = 16 << 10
KEY = os.urandom(32)
PLAIN = os.urandom(6 * BS + 77)


def _blob() -> bytes:
    out = io.BytesIO()
    qltx.pack(PLAIN, out, KEY, block_size=BS)
    return out.getvalue()


BLOB = _blob()
OPEN_REQUESTS = 2  # header and tail, at open


def _read_all(url: str, **options) -> bytes:
    """Open through HttpAccess (short timeouts, one retry) and read every block."""
    options = {"timeout": 1.0, "connect_timeout": 1.0, "retries": 1, "backoff": 0.01, **options}
    with Container(HttpAccess(url, workers=2, **options), KEY) as c:
        return c.read_range(0, c.size)


def test_honest_server_is_read_byte_for_byte():
    with HostileServer(BLOB) as srv:
        assert _read_all(srv.url) == PLAIN


LIES = [
    # (mode, lie at open (honest=0) or on block reads (honest=OPEN_REQUESTS), error text)
    ("lying_total", 0, None),
    ("lying_total", OPEN_REQUESTS, "changed"),
    ("long_cl", 0, "announced a body"),
    ("long_cl", OPEN_REQUESTS, "announced a body"),
    ("short_cl", OPEN_REQUESTS, "announced a body"),
    ("short_body", OPEN_REQUESTS, "connection lost after"),
    ("long_close", OPEN_REQUESTS, "sent more"),
    ("endless_chunked", OPEN_REQUESTS, "sent more"),
    ("endless_chunked", 0, "sent more"),
    ("other_range", OPEN_REQUESTS, "the server sent bytes"),
    ("other_range", 0, "the server sent bytes"),
    ("slow", OPEN_REQUESTS, "too slow"),
    ("redirect_host", 0, "another origin"),
    ("redirect_scheme", 0, "another origin"),
    ("redirect_port", OPEN_REQUESTS, "another origin"),
    ("redirect_loop", 0, "more than 5 redirects"),
]


@pytest.mark.parametrize("mode,honest,text", LIES)
def test_each_lie_is_a_clear_error_in_bounded_time_and_memory(mode, honest, text):
    with HostileServer(BLOB, mode, honest=honest, trickle_s=0.02) as srv:
        tracemalloc.start()
        t0 = time.monotonic()
        try:
            with pytest.raises((RemoteError, QeltrixError)) as err:
                _read_all(srv.url, min_speed=65536)
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        took = time.monotonic() - t0
    if text is not None:
        assert text in str(err.value)
    # bounded: the endless bodies never reach memory (a few block buffers at most), and even the
    # trickle ends within its deadlines (2 attempts of timeout + size / min_speed); a generous
    # bound, not a speed claim
    assert peak < 4 << 20, peak
    assert took < 60, took


def test_same_origin_redirect_is_followed():
    with HostileServer(BLOB, "redirect_same") as srv:
        assert _read_all(srv.url) == PLAIN


def test_authorization_never_follows_a_redirect_elsewhere():
    """A redirect to another host is refused before any request goes there (the token given in
    ``headers`` would go with it)."""
    with HostileServer(BLOB, "redirect_host") as srv:
        with pytest.raises(RemoteError, match="another origin"):
            HttpAccess(srv.url, headers={"Authorization": "Bearer secret"}, retries=0)
        assert srv.requests == 2  # the two opening requests, not a third to "localhost"


def _cli(*args, timeout=60):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "qeltrix", *map(str, args)], capture_output=True, timeout=timeout,
                          env=env)


@pytest.mark.parametrize("mode,honest,codes", [
    ("long_cl", OPEN_REQUESTS, (5,)),
    ("redirect_host", 0, (5,)),
    ("redirect_scheme", 0, (5,)),
    ("other_range", OPEN_REQUESTS, (5,)),
    ("lying_total", 0, (4, 5)),  # a total that puts the trailer elsewhere: not a container there
    ("endless_chunked", OPEN_REQUESTS, (5,)),
])
def test_cli_exit_codes(tmp_path, mode, honest, codes):
    (tmp_path / "k").write_bytes(KEY)
    with HostileServer(BLOB, mode, honest=honest) as srv:
        r = _cli("seek", srv.url, "--offset", 0, "--length", len(PLAIN), "--key-file", tmp_path / "k")
    assert r.returncode in codes, r.stderr
    assert r.stdout == b"" and r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr
