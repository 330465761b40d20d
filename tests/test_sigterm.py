"""SIGTERM cleans up like Ctrl-C (issue 12): each command, in a subprocess, signalled at a random
moment while it works (input held open, or a remote source that stalls): it says "terminated"
and exits 143 (130 for SIGINT), within a deadline, and leaves nothing behind: no temporary
``.NAME.*.part``, no object and no open multipart upload on S3 (moto). Servers stop gracefully on
the first signal (exit 0), and at once on the second, or when a worker stays stuck past
``--stop-timeout``."""

from __future__ import annotations

import io
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import qeltrix as qltx

from hostile_http import HostileServer
from motoserver import BUCKET, CHILD_ENV, moto_s3

KEY = os.urandom(32)
BS = 16 << 10
PLAIN = os.urandom(20 * BS + 5)
DEADLINE = 20  # seconds for a signalled command to exit: generous, it is a hang detector
SEEDS = [1, 2, 3]


def _blob() -> bytes:
    out = io.BytesIO()
    qltx.pack(PLAIN, out, KEY, block_size=BS)
    return out.getvalue()


BLOB = _blob()


@pytest.fixture
def work(tmp_path):
    (tmp_path / "k").write_bytes(KEY)
    out = tmp_path / "out"
    out.mkdir()
    return tmp_path


def _spawn(args, env=None, stdin=subprocess.PIPE):
    return subprocess.Popen([sys.executable, "-m", "qeltrix", *map(str, args)], stdin=stdin,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or dict(os.environ))


def _wait_for(cond, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"never saw: {what}")
        time.sleep(0.01)


def _signal_and_wait(p, sig=signal.SIGTERM, seed: int = 0) -> tuple[int, str, float]:
    time.sleep(random.Random(seed).uniform(0, 0.3))  # a random moment of the work
    t0 = time.monotonic()
    p.send_signal(sig)
    try:
        rc = p.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        pytest.fail(f"no exit within {DEADLINE} s of the signal")
    took = time.monotonic() - t0
    err = p.stderr.read().decode()
    p.stderr.close()
    if p.stdin:
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
    return rc, err, took


def _feed(p, data: bytes) -> None:
    """Write into the child's stdin from a thread (the pipe fills), never closing it."""
    def run():
        try:
            p.stdin.write(data)
            p.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass
    threading.Thread(target=run, daemon=True).start()


def _parts(d) -> list:
    return [f for f in os.listdir(d)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_pack_from_a_pipe(work, seed, sig, code, word):
    p = _spawn(["pack", "-", work / "out" / "c.qltx", "--key-file", work / "k", "--block-size", 64, "-q"])
    _feed(p, os.urandom(3 << 20))
    _wait_for(lambda: _parts(work / "out"), "the temporary output")
    rc, err, _ = _signal_and_wait(p, sig, seed)
    assert (rc, err) == (code, f"qeltrix: {word}\n")
    assert _parts(work / "out") == []


@pytest.mark.parametrize("seed", SEEDS)
def test_unpack_from_a_pipe(work, seed):
    p = _spawn(["unpack", "-", work / "out" / "plain", "--key-file", work / "k", "-q"])
    _feed(p, BLOB[:len(BLOB) // 2])  # half a container, then nothing more
    _wait_for(lambda: _parts(work / "out"), "the temporary output")
    rc, err, _ = _signal_and_wait(p, seed=seed)
    assert (rc, err) == (143, "qeltrix: terminated\n")
    assert _parts(work / "out") == []


@pytest.mark.parametrize("command", ["unpack", "seek", "verify", "info"])
def test_commands_reading_a_stalled_server(work, command):
    """The origin answers the opening requests, then holds every block read (info: stalls at
    once): each command is mid-read when signalled."""
    honest = 0 if command == "info" else 2
    with HostileServer(BLOB, "stall", honest=honest) as srv:
        args = {"unpack": ["unpack", srv.url, work / "out" / "plain", "--key-file", work / "k", "-q"],
                "seek": ["seek", srv.url, "--offset", 5, "--length", 3 * BS, "-o", work / "out" / "part",
                         "--key-file", work / "k"],
                "verify": ["verify", srv.url, "--key-file", work / "k"],
                "info": ["info", srv.url]}[command]
        p = _spawn(args, stdin=subprocess.DEVNULL)
        _wait_for(lambda: srv.requests > honest, "a stalled request")
        rc, err, _ = _signal_and_wait(p, seed=len(command))
    assert (rc, err) == (143, "qeltrix: terminated\n")
    assert _parts(work / "out") == []


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_pack_to_s3_aborts_the_multipart_upload(s3, work, seed):
    import fsspec

    fs = fsspec.filesystem("s3")
    env = dict(os.environ, FSSPEC_S3_ENDPOINT_URL=s3, FSSPEC_S3='{"default_block_size": 5242880}', **CHILD_ENV)
    url = f"s3://{BUCKET}/term{seed}.qltx"
    p = _spawn(["pack", "-", url, "--key-file", work / "k", "--block-size", 256, "-q"], env=env)
    _feed(p, os.urandom(12 << 20))  # more than a 5 MiB part: the multipart upload has begun

    def uploading():
        return fs.call_s3("list_multipart_uploads", Bucket=BUCKET).get("Uploads")

    _wait_for(uploading, "a multipart upload in progress", timeout=60)
    rc, err, _ = _signal_and_wait(p, seed=seed)
    assert (rc, err) == (143, "qeltrix: terminated\n")
    assert not uploading()
    fs.invalidate_cache()
    assert not fs.exists(url)


# -- servers ----------------------------------------------------------------------------------

def _ready(p, word: str) -> list:
    lines = []
    while True:
        line = p.stderr.readline().decode()
        assert line, f"exited before {word!r}: {lines}"
        lines.append(line)
        if word in line:
            return lines


def test_serve_stops_gracefully_on_sigterm(work):
    (work / "c.qltx").write_bytes(BLOB)
    p = _spawn(["serve", work / "c.qltx", "--port", 0, "--key-file", work / "k", "--stop-timeout", 1],
               stdin=subprocess.DEVNULL)
    _ready(p, "serving")
    rc, err, _ = _signal_and_wait(p)
    assert rc == 0 and "stopping" in err


def _serve_stuck(work, srv, stop_timeout: float = 1):
    """``qeltrix serve`` of the stalled origin, with one client whose range is being read (its
    worker is stuck in the read)."""
    p = _spawn(["serve", srv.url, "--port", 0, "--key-file", work / "k", "--stop-timeout", stop_timeout],
               stdin=subprocess.DEVNULL)
    url = _ready(p, "serving")[-1].split()[-1]

    def client():
        try:
            req = urllib.request.Request(url, headers={"Range": f"bytes={5 * BS}-{6 * BS}"})
            urllib.request.urlopen(req, timeout=DEADLINE).read()
        except Exception:  # the server goes away mid-answer: expected here
            pass

    threading.Thread(target=client, daemon=True).start()
    _wait_for(lambda: srv.requests > 2, "the worker's stalled read")
    return p


def test_serve_with_a_stuck_worker_exits_after_its_stop_timeout(work):
    with HostileServer(BLOB, "stall", honest=2) as srv:
        p = _serve_stuck(work, srv)
        rc, err, _ = _signal_and_wait(p)
    assert rc == 143 and "still busy" in err


def test_serve_exits_at_once_on_a_second_signal(work):
    with HostileServer(BLOB, "stall", honest=2) as srv:
        # a stop timeout far longer than the pause before the second signal (0.25 s), so that
        # even a loaded machine sends it while the first stop is still waiting
        p = _serve_stuck(work, srv, stop_timeout=DEADLINE / 2)
        p.send_signal(signal.SIGTERM)
        rc, err, _ = _signal_and_wait(p, signal.SIGINT)
    assert rc == 130 and "second signal" in err


def test_gateway_stops_gracefully_then_at_once(work):
    args = ["gateway", "--port", 0, "--key-file", work / "k", "--stop-timeout", 30, "--flush-after", 0.05]
    p = _spawn(args, stdin=subprocess.DEVNULL)
    port = int(_ready(p, "listening")[-1].split("listening on ")[1].split()[0].rsplit(":", 1)[1])
    rc, err, _ = _signal_and_wait(p)  # idle: a graceful stop at once
    assert rc == 0 and "stopped" in err
    p = _spawn(args, stdin=subprocess.DEVNULL)
    port = int(_ready(p, "listening")[-1].split("listening on ")[1].split()[0].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as s:  # a source that never ends
        s.sendall(os.urandom(10_000))
        _wait_for(lambda: s.recv(1 << 16), "the first sealed bytes")
        p.send_signal(signal.SIGTERM)  # graceful: would wait up to 30 s for this connection
        rc, err, took = _signal_and_wait(p)  # ... the second signal ends it at once
    assert rc == 143 and "second signal" in err and took < DEADLINE
