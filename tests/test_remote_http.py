"""Reading containers over HTTP through a fault-injecting server (tests/faultserver.py): correct
bytes through retried faults, a clear error otherwise, never wrong bytes."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys

import pytest

import qeltrix
from qeltrix import (DamagedError, RangeNotSupportedError, RemoteChangedError, RemoteError, TruncatedError,
                     WrongKeyError)
from qeltrix.sources import HttpAccess
from qeltrix.sources import display_url, is_url

from faultserver import FaultServer

BS = 64 << 10
EXIT_IO = 5


@pytest.fixture(scope="module")
def key():
    return qeltrix.random_master_key()


@pytest.fixture(scope="module")
def plain():
    return os.urandom(10 * BS + 777)


@pytest.fixture(scope="module")
def blob(plain, key):
    out = io.BytesIO()
    qeltrix.pack(plain, out, key, block_size=BS, name="plain.bin")
    return out.getvalue()


@pytest.fixture
def server(blob):
    with FaultServer(blob) as s:
        yield s


def ra(server, **kw):
    """A fast-retrying HttpAccess (the defaults wait 0.25 s, doubling)."""
    return HttpAccess(server.url, **{"retries": 3, "backoff": 0.001, "workers": 2, **kw})


def ranges(server):
    return [e.get("range") for e in server.log]


# -- plain reads -------------------------------------------------------------------------------

def test_every_entry_point_reads_byte_for_byte(server, blob, plain, key):
    url = server.url
    local = qeltrix.info(blob)
    remote = qeltrix.info(url)
    assert remote == local
    assert ranges(server) == ["bytes=-16384", "bytes=0-4463"] or sorted(ranges(server)) == sorted(
        ["bytes=-16384", "bytes=0-4463"])
    for off, n in [(0, 1), (BS - 3, 7), (5 * BS + 11, 3 * BS), (len(plain) - 5, 100), (len(plain), 5)]:
        server.log.clear()
        assert qeltrix.seek_extract(url, off, n, key) == plain[off:off + n]
        blocks = [e for e in server.log if e["range"] not in ("bytes=-16384", "bytes=0-4463")]
        assert len(blocks) <= 1  # adjacent blocks in one request
        assert all(e.get("if-match") == server.etag for e in blocks)  # conditional on the version
    out = io.BytesIO()
    r = qeltrix.unpack(url, out, key)
    assert out.getvalue() == plain and r.name == "plain.bin"
    assert qeltrix.verify(url, key).ok and qeltrix.verify(url).ok
    with qeltrix.open(url, key) as f:
        f.seek(3 * BS + 5)
        assert f.read(10) == plain[3 * BS + 5:3 * BS + 15]
        f.seek(0)
        assert f.read() == plain
    assert qeltrix.inspect_container(url)["footer"]["num_blocks"] == 11


def test_parallel_parts(server, plain, key):
    with qeltrix.open(HttpAccess(server.url, part_bytes=BS, workers=3), key) as f:
        server.log.clear()
        assert f.readall() == plain
    explicit = [e["range"] for e in server.log]
    assert len(explicit) > 3  # split into parts of ~BS


def test_large_footer_costs_one_more_request_for_the_missing_bytes(key):
    """A 6.0 container's flat index (6.1 keeps its footer small: a top table of pages)."""
    from qeltrix.writer import _pack_from_parts

    data = os.urandom(400 * 4096)  # 400 blocks: a 22 KiB footer, more than the 16 KiB tail
    blob = _pack_from_parts(data, key, rand=os.urandom, block_size=4096, version=6)
    info = qeltrix.info(blob)
    with FaultServer(blob) as s:
        with qeltrix.open(s.url, key) as f:
            f.seek(200 * 4096 + 1)
            assert f.read(5) == data[200 * 4096 + 1:200 * 4096 + 6]
        rs = [e["range"] for e in s.log]
    tail_start = len(blob) - 16384
    assert f"bytes={info['footer_offset']}-{tail_start - 1}" in rs
    assert len(rs) == 4  # tail, header, the rest of the footer, one block


def test_small_object_from_a_server_without_ranges(key):
    """An object no larger than the tail arrives whole in the 200 answer: nothing else to ask."""
    out = io.BytesIO()
    qeltrix.pack(b"tiny", out, key, block_size=4096)
    with FaultServer(out.getvalue()) as s:
        s.ignore_range = True
        with qeltrix.open(s.url, key) as f:
            assert f.read() == b"tiny"


def test_empty_object():
    with FaultServer(b"") as s, pytest.raises(TruncatedError):
        qeltrix.info(s.url)


# -- retried faults ----------------------------------------------------------------------------

def test_500_once_at_open_and_on_a_block(server, plain, key):
    server.fail_status = 1
    with qeltrix.open(ra(server, workers=1), key) as f:
        server.fail_status = 1
        f.seek(4 * BS)
        assert f.read(100) == plain[4 * BS:4 * BS + 100]
    statuses = [e["status"] for e in server.log]
    assert statuses.count(500) == 2 and statuses[-1] == 206


def test_503_with_retry_after_then_gives_up(server, key):
    server.fail_status, server.fail_code, server.retry_after = 100, 503, "0"
    with pytest.raises(RemoteError, match=r"HTTP 503.*gave up after 4 attempts") as e:
        qeltrix.info(ra(server))
    assert not isinstance(e.value, (RangeNotSupportedError, RemoteChangedError))
    assert isinstance(e.value, OSError) and e.value.status == 503
    assert ranges(server).count("bytes=-16384") == 4  # retries + 1 attempts


def test_connection_dropped_mid_block_is_retried(server, plain, key):
    with qeltrix.open(ra(server), key) as f:
        server.drop_mid_body, server.drop_min = 1, BS
        f.seek(2 * BS)
        assert f.read(3 * BS) == plain[2 * BS:5 * BS]
    assert server.drop_mid_body == 0


def test_connection_dropped_every_time_is_an_error_not_short_data(server, key):
    with qeltrix.open(ra(server), key) as f:
        server.drop_mid_body, server.drop_min = 100, BS
        f.seek(2 * BS)
        with pytest.raises(RemoteError, match="connection lost|ended after"):
            f.read(10)


def test_stalled_answer_times_out_and_is_retried(server, plain, key):
    with qeltrix.open(ra(server, timeout=0.3), key) as f:
        server.stall, server.stall_s = 1, 1.0
        f.seek(BS)
        assert f.read(10) == plain[BS:BS + 10]


def test_unreachable_server():
    # bound, never listening: refused (a closed port could be taken meanwhile, or become the
    # client's own source port, and a TCP self-connect succeeds)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(RemoteError, match="gave up after 2 attempts"):
            HttpAccess(f"http://127.0.0.1:{port}/x.qltx", retries=1, backoff=0.001)


def test_not_found_and_forbidden(server):
    server.status_only = 404
    with pytest.raises(FileNotFoundError, match="404"):
        qeltrix.info(server.url)
    server.status_only = 403
    with pytest.raises(PermissionError, match="403"):
        qeltrix.info(server.url)


# -- clear errors, never wrong bytes -----------------------------------------------------------

def test_range_ignored(server, key):
    server.ignore_range = True
    with pytest.raises(RangeNotSupportedError, match="ignored the Range request"):
        qeltrix.seek_extract(server.url, 0, 10, key)


def test_explicit_range_ignored(server, key):
    server.ignore_explicit_range = True  # honours bytes=-N only: the header request finds out
    with pytest.raises(RangeNotSupportedError):
        qeltrix.info(ra(server, workers=1))


def test_wrong_range_answered(server, key):
    with qeltrix.open(ra(server), key) as f:
        server.wrong_range = True
        with pytest.raises(RangeNotSupportedError, match="the server sent bytes"):
            f.read(10)


def _other_version(blob: bytes, key) -> bytes:
    """Another container of the same size (same plaintext size and block size, new ids)."""
    plain = os.urandom(10 * BS + 777)
    out = io.BytesIO()
    qeltrix.pack(plain, out, key, block_size=BS, name="plain.bin")
    assert len(out.getvalue()) == len(blob)
    return out.getvalue()


@pytest.mark.parametrize("mode", ["if-match", "etag-compared", "last-modified-compared"])
def test_object_changed_between_requests(server, blob, key, mode):
    if mode != "if-match":
        server.conditionals = False  # the server ignores preconditions: the client compares
    if mode == "last-modified-compared":
        server.send_etag = False
    with qeltrix.open(ra(server), key) as f:
        server.next_data, server.change_after = _other_version(blob, key), 0
        with pytest.raises(RemoteChangedError, match="changed"):
            f.read(10)
    if mode == "if-match":
        assert server.log[-1]["status"] == 412
    elif mode == "last-modified-compared":
        assert "if-unmodified-since" in server.log[-1]


def test_object_changed_while_opening(server, blob, key):
    server.next_data, server.change_after = _other_version(blob, key), 1
    with pytest.raises(RemoteChangedError):
        qeltrix.info(ra(server))


def test_object_changed_without_validators_fails_authentication(server, blob, plain, key):
    """With no ETag, no Last-Modified and the same size, only the container's own
    authentication can tell: it does, and no byte of the other object is returned."""
    server.send_etag = server.send_last_modified = False
    with qeltrix.open(ra(server), key) as f:
        server.next_data, server.change_after = _other_version(blob, key), 0
        with pytest.raises((DamagedError, WrongKeyError)):
            f.read(10)


# -- the command line --------------------------------------------------------------------------

def cli(tmp_path, *args):
    p = subprocess.run([sys.executable, "-m", "qeltrix", *map(str, args)], cwd=tmp_path, capture_output=True,
                       timeout=120)
    assert b"Traceback" not in p.stderr, p.stderr.decode()
    return p


def test_cli_over_http(server, plain, key, tmp_path):
    (tmp_path / "k").write_bytes(key)
    p = cli(tmp_path, "seek", server.url, "--offset", 5, "--length", 1000, "--key-file", "k")
    assert p.returncode == 0 and p.stdout == plain[5:1005]
    p = cli(tmp_path, "unpack", server.url, "--key-file", "k", "-q")  # the stored name
    assert p.returncode == 0 and (tmp_path / "plain.bin").read_bytes() == plain
    assert cli(tmp_path, "verify", server.url).returncode == 0
    assert b"total_blocks" in cli(tmp_path, "info", server.url).stdout
    assert b"num_blocks" in cli(tmp_path, "inspect", server.url, "--json").stdout


@pytest.mark.parametrize("fault", ["ignore_range", "status_only"])
def test_cli_remote_errors_exit_5(server, key, tmp_path, fault):
    (tmp_path / "k").write_bytes(key)
    if fault == "ignore_range":
        server.ignore_range = True
    else:
        server.status_only = 404
    p = cli(tmp_path, "seek", server.url, "--offset", 0, "--length", 10, "--key-file", "k")
    assert p.returncode == EXIT_IO
    lines = p.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qeltrix: ")
    assert ("Range" in lines[0]) if fault == "ignore_range" else ("404" in lines[0])


# -- URLs --------------------------------------------------------------------------------------

def test_url_helpers(tmp_path, key):
    assert is_url("https://x/y") and is_url("s3://b/k") and is_url("memory://a")
    assert not is_url("/tmp/a://b") and not is_url("C:\\x") and not is_url("rel/path") and not is_url(b"http://x")
    assert display_url("https://user:secret@host:8443/a/b.qltx?X-Amz-Signature=abc") == "https://host:8443/a/b.qltx"
    p = tmp_path / "a b.qltx"
    qeltrix.pack(b"local", p, key, block_size=4096)
    with qeltrix.open(p.as_uri(), key) as f:
        assert f.read() == b"local"
    with pytest.raises(ValueError, match="http"):
        qeltrix.pack(b"x", "http://127.0.0.1:1/x.qltx", key)


def test_proxy_from_the_environment(server, plain, key, monkeypatch):
    """http_proxy is honoured (the fault server answers any absolute URL, as a proxy would)."""
    proxy = server.url.rsplit("/", 1)[0]
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.setenv("no_proxy", "")
    assert qeltrix.seek_extract("http://qeltrix.invalid/c.qltx", 10, 20, key) == plain[10:30]
    assert server.log[-1]["host"] == "qeltrix.invalid"
    monkeypatch.setenv("no_proxy", "qeltrix.invalid")
    with pytest.raises(RemoteError):
        HttpAccess("http://qeltrix.invalid/c.qltx", retries=0)
