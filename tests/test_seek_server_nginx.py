"""Differential test: the same requests to nginx (serving the plaintext) and to the SeekServer
(serving its container); status, Content-Range, Content-Length and bytes (multipart: each part's
range and bytes) must agree, except for the deliberate differences in ALLOWED, each with its RFC
9110 reason. Skipped only when nginx is absent and $CI is unset (with CI set, it fails)."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time

import pytest

import qeltrix as qltx
from httpclient import exchange, multipart, parse_responses, request_bytes

N = 3_000_000
C = 65536  # the container's block size
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

if NGINX is None and not os.environ.get("CI"):
    pytest.skip("nginx is not installed (CI installs it)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    assert NGINX, "nginx is required in CI"
    d = tmp_path_factory.mktemp("nginx")
    www = d / "www"
    www.mkdir()
    plain = random.Random(5).randbytes(N)
    (www / "file.bin").write_bytes(plain)
    mk = qltx.random_master_key()
    box = d / "file.qltx"
    qltx.pack(str(www / "file.bin"), str(box), mk, block_size=C)
    port = _free_port()
    user = "user root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    conf = d / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{ default_type application/octet-stream; types {{ }} access_log off;
  client_body_temp_path {d}/t1; proxy_temp_path {d}/t2; fastcgi_temp_path {d}/t3;
  uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;
  sendfile on; keepalive_timeout 10;
  server {{ listen 127.0.0.1:{port}; root {www}; }} }}
""")
    proc = subprocess.Popen([NGINX, "-p", str(d), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() - t0 > 10:
                    raise RuntimeError("nginx did not start: " + proc.stderr.read().decode(errors="replace"))
                time.sleep(0.05)
        with qltx.SeekServer(box, mk, port=0) as srv:
            yield {"nginx": port, "ours": srv.port, "plain": plain, "path": "/file.bin"}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _ask(port, method, headers, version="1.1"):
    raw = request_bytes(method, "/file.bin", headers, version)
    return parse_responses(exchange(port, raw), [method])[0]


def _view(r, plain, method):
    """What must agree: status, Content-Range, Content-Length (200, single 206, HEAD), bytes."""
    v = {"status": r.status, "content_range": r.headers.get("content-range") if r.status != 416 else None}
    if r.status == 416:
        v["content_range"] = r.headers.get("content-range")
    if r.status in (200, 206) and not r.headers.get("content-type", "").startswith("multipart/"):
        v["content_length"] = r.headers.get("content-length")
        if method == "GET":
            assert r.complete
            v["body_ok"] = True
            if r.status == 200:
                assert r.body == plain
            else:
                a, b = r.headers["content-range"].split()[1].split("/")[0].split("-")
                assert r.body == plain[int(a):int(b) + 1]
    if r.status == 206 and r.headers.get("content-type", "").startswith("multipart/") and method == "HEAD":
        v["multipart"] = True
    elif r.status == 206 and r.headers.get("content-type", "").startswith("multipart/"):
        assert "content-range" not in r.headers
        parts = multipart(r)
        v["parts"] = [p[0] for p in parts]
        for cr, _, data in parts:
            a, b = cr.split()[1].split("/")[0].split("-")
            assert data == plain[int(a):int(b) + 1]
    return v


# Deliberate differences: (predicate on the request, nginx's answer, ours, RFC 9110 reason)
def _numbers(value):
    import re

    return [int(x) for x in re.findall(r"\d+", value.split("=", 1)[-1])]


def _overlaps(ranges):
    n = 0
    for i in range(1, len(ranges)):
        if any(ranges[i][0] <= ranges[j][1] and ranges[j][0] <= ranges[i][1] for j in range(i)):
            n += 1
    return n


def allowed(method, headers, ng, ours):
    """The RFC reason when this difference is one of our deliberate ones, else None."""
    value = headers.get("Range", "")
    if method == "HEAD" and value and ng["status"] in (206, 416) and ours["status"] == 200:
        return "§14.2: a server MUST ignore Range for methods other than GET (nginx applies it to HEAD)"
    if value and ng["status"] == 416 and ours["status"] in (200, 206) and any(n > 2**63 - 1 for n in _numbers(value)):
        return "§14.1.1: numbers of any length, no overflow error: a huge last-pos/suffix is clamped"
    spec = value.split("=", 1)[-1]
    members = [m.strip() for m in spec.split(",")]
    if value.lower().startswith("bytes=") and "" in members and any(members) and ng["status"] == 416:
        return "§5.6.1: empty list elements MUST be accepted"
    if ng["status"] == 206 and ours["status"] == 200 and "parts" in ng:
        ranges = [tuple(int(x) for x in p.split()[1].split("/")[0].split("-")) for p in ng["parts"]]
        if len(ranges) > 16 or _overlaps(ranges) > 2:
            return "§14.2: many or overlapping ranges MAY be ignored (denial of service)"
    return None


TABLE = [
    {}, {"Range": "bytes=0-0"}, {"Range": "bytes=0-99"}, {"Range": "bytes=100-"}, {"Range": "bytes=-100"},
    {"Range": "bytes=2999999-"}, {"Range": "bytes=3000000-"}, {"Range": "bytes=-0"}, {"Range": "bytes=5-2"},
    {"Range": "bytes=0-99,200-299"}, {"Range": "bytes=0-99,50-149"}, {"Range": "bytes=200-299,0-99"},
    {"Range": "bytes=0-9,10-19"}, {"Range": "bytes=" + ",".join(["0-2999999"] * 50)},
    {"Range": "bytes=0-1999999,1000000-2999999"}, {"Range": "bytes=0-" + "9" * 20},
    {"Range": "bytes=-" + "9" * 20}, {"Range": "bytes=0-9223372036854775807"},
    {"Range": "bytes=2999900-5000000"}, {"Range": "bytes=-5000000"}, {"Range": "bytes=0-9,4000000-4000010"},
    {"Range": "bytes=2781569-2999999,2999999-628647"}, {"Range": "bytes=abc"}, {"Range": "bytes=0-9,"},
    {"Range": "bytes=0-9,,20-29"}, {"Range": "bytes=+0-9"}, {"Range": "items=0-1"}, {"Range": "bytes = 0-9"},
    {"Range": ""}, {"Range": "bytes="}, {"Range": "BYTES=0-9"}, {"Range": "bytes= 0-1"}, {"Range": "bytes=0 - 9"},
    {"Range": "bytes=" + ",".join(f"{i * 10}-{i * 10}" for i in range(200))},
    {"Range": "bytes=0-9,5-14,8-20,1-2"},
    {"Range": f"bytes={C - 1}-{C + 1},{3 * C}-{5 * C}"},
]


@pytest.mark.parametrize("headers", TABLE, ids=lambda h: h.get("Range", "none")[:40])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_same_as_nginx(pair, method, headers):
    _compare(pair, method, headers)


def _compare(pair, method, headers, version="1.1"):
    plain = pair["plain"]
    ng = _view(_ask(pair["nginx"], method, headers, version), plain, method)
    ours = _view(_ask(pair["ours"], method, headers, version), plain, method)
    if ng != ours:
        reason = allowed(method, headers, ng, ours)
        assert reason, f"{method} {headers}: nginx {ng} != ours {ours}"
        if os.environ.get("QELTRIX_SHOW_DIFFS"):
            print(f"\nDIFF {method} {str(headers)[:70]}: nginx {ng['status']} ours {ours['status']}: {reason}")


def test_conditionals_same_as_nginx(pair):
    """Each side's own validators (fetched by HEAD)."""
    for who in ("nginx", "ours"):
        h = _ask(pair[who], "HEAD", {}).headers
        pair[who + "_etag"], pair[who + "_lm"] = h["etag"], h["last-modified"]
    cases = [
        lambda e, lm: {"If-Range": e, "Range": "bytes=0-9"},
        lambda e, lm: {"If-Range": lm, "Range": "bytes=0-9"},
        lambda e, lm: {"If-Range": "W/" + e, "Range": "bytes=0-9"},
        lambda e, lm: {"If-Range": '"other"', "Range": "bytes=0-9"},
        lambda e, lm: {"If-Range": "Sat, 01 Jan 2000 00:00:00 GMT", "Range": "bytes=0-9"},
        lambda e, lm: {"If-Range": "garbage", "Range": "bytes=0-9"},
        lambda e, lm: {"If-Range": '"other"', "Range": "bytes=3000000-"},
        lambda e, lm: {"If-None-Match": e},
        lambda e, lm: {"If-None-Match": "*", "Range": "bytes=0-9"},
        lambda e, lm: {"If-None-Match": '"other"', "Range": "bytes=0-9"},
        lambda e, lm: {"If-Modified-Since": lm},
        lambda e, lm: {"If-Modified-Since": lm, "Range": "bytes=0-9"},
        lambda e, lm: {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
        lambda e, lm: {"If-Match": '"x"', "Range": "bytes=0-9"},
        lambda e, lm: {"If-Match": e, "Range": "bytes=0-9"},
    ]
    plain = pair["plain"]
    for make in cases:
        ng = _view(_ask(pair["nginx"], "GET", make(pair["nginx_etag"], pair["nginx_lm"])), plain, "GET")
        ours = _view(_ask(pair["ours"], "GET", make(pair["ours_etag"], pair["ours_lm"])), plain, "GET")
        assert ng == ours, (make("E", "LM"), ng, ours)


def test_http10_and_methods_same_status(pair):
    _compare(pair, "GET", {"Range": "bytes=0-99"}, version="1.0")
    _compare(pair, "GET", {}, version="1.0")
    for m in ("POST", "PUT", "DELETE", "OPTIONS"):
        ng = _ask(pair["nginx"], m, {"Range": "bytes=0-9"}).status
        ours = _ask(pair["ours"], m, {"Range": "bytes=0-9"})
        assert ng == ours.status == 405 and ours.headers["allow"] == "GET, HEAD"  # nginx omits Allow


def test_seeded_fuzz_same_as_nginx(pair):
    rng = random.Random(2024)
    ends = [0, 1, C - 1, C, C + 1, N - 1, N, N + 1, 2**63 - 1, 2**64, 10**19 + 7]

    def num():
        return str(rng.choice(ends) if rng.random() < 0.7 else rng.randrange(N + 10))

    def spec():
        k = rng.randrange(4)
        sp = [" ", ""][rng.random() < 0.8]
        if k == 0:
            return f"{num()}{sp}-{sp}{num()}"
        if k == 1:
            return f"{num()}-"
        if k == 2:
            return f"-{num()}"
        a, b = sorted([int(num()), int(num())])
        return f"{b}-{a}"  # inverted

    for _ in range(150):
        value = ("bytes=" if rng.random() < 0.9 else "Bytes=") + ",".join(spec() for _ in range(rng.randint(1, 3)))
        _compare(pair, "GET", {"Range": value})
