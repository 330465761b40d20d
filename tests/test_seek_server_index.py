"""SeekServer as it is watched and browsed: a folder's index (HTML and JSON) with hostile stored
names, /-/health, /-/metrics (parsed with prometheus_client), the access log written when a
response ends with the bytes actually sent, and refused connections logged at a bounded rate."""

from __future__ import annotations

import html.parser
import json
import logging
import os
import random
import re
import socket
import subprocess
import sys
import urllib.parse

import pytest
from prometheus_client.parser import text_string_to_metric_families

import qeltrix as qltx
from httpclient import connect, get, parse_responses, recv_all, request_bytes
from polling import wait_until

HOSTILE = [
    "<script>alert(1)</script>.txt",   # a slash too: a folder "<script>alert(1)<"
    'q"uo\'te & <b>.txt',
    "../../etc/passwd",
    "./dot",
    "a//b.txt",
    "ctl\x1b[31m\x07\x7f\u2028.txt",
    "n" * 996 + ".txt",                 # 1,000 bytes
    "javascript:alert(1)",
    "space name?x=1#frag.mp4",
    "%2e%2e%2fpct.txt",
    "sub/dir/deep.mp4",
    "sub/top.txt",
    "dup.txt",
]


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._href = None
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        if tag == "a":
            self._href = dict(attrs)["href"]
            self._text = ""

    def handle_data(self, data):
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text))
            self._href = None


def links_of(body: bytes) -> Links:
    p = Links()
    p.feed(body.decode("utf-8"))
    p.close()
    return p


def shown(name: str) -> str:
    """How the index shows a name (control characters as \\xNN)."""
    return "".join("\\x%02x" % ord(c) if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in name)


def pack_any_name(*args, **kwargs):
    """``qltx.pack`` as another writer would: our writers store plain names only (spec: "File
    info"), but a container from a hostile writer (or a 6.0 writer, which took any name) may hold
    any name, and the index must show it safely."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(qltx.writer, "check_plain_name", lambda name: name)
        mp.setattr(qltx.fileinfo, "check_plain_name", lambda name: name)
        return qltx.pack(*args, **kwargs)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("index")
    mk = qltx.random_master_key()
    rng = random.Random(5)
    plains = {}
    for i, name in enumerate(HOSTILE):
        plains[name] = rng.randbytes(1000 + 37 * i)
        pack_any_name(plains[name], str(d / f"f{i:02d}.qltx"), mk, name=name, block_size=4096)
    # a second container with a name already taken: skipped (the first by file name is served)
    qltx.pack(b"the other dup", str(d / "z-dup.qltx"), mk, name="dup.txt")
    pack_any_name(b"reserved", str(d / "z-res.qltx"), mk, name="-/metrics")
    (d / "notes.txt").write_text("not a container")
    return {"dir": d, "mk": mk, "plains": plains}


@pytest.fixture(scope="module")
def server(folder):
    with qltx.SeekServer(folder["dir"], folder["mk"], port=0) as srv:
        yield srv


def follow(port: int, base: str, href: str):
    """Resolve ``href`` as a browser does (RFC 3986), then GET it."""
    target = urllib.parse.urljoin(f"http://h{base}", href)
    return get(port, urllib.parse.urlsplit(target).path or "/")


def test_every_name_is_listed_escaped_and_its_link_serves_it(server, folder):
    r = get(server.port, "/", {"Accept": "text/html"})
    assert r.status == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    body = r.body
    for raw in (b"<script>", b'"uo', b"\x1b", b"\x07"):
        assert raw not in body  # escaped, never as is
    page = links_of(body)
    assert page.scripts == 0
    texts = {t: h for h, t in page.links}
    served = 0

    def visit(base: str):
        nonlocal served
        r = get(server.port, base)
        assert r.status == 200, base
        for href, text in links_of(r.body).links:
            assert not re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I)  # no scheme: javascript: cannot run
            if text == "../":
                continue
            if text.endswith("/"):
                visit(urllib.parse.urlsplit(urllib.parse.urljoin(f"http://h{base}", href)).path)
                continue
            got = follow(server.port, base, href)
            assert got.status == 200, (base, href)
            full = urllib.parse.unquote(base)[1:] + text
            name = next(n for n in folder["plains"] if shown(n) == full)
            assert got.body == folder["plains"][name], name
            served += 1

    visit("/")
    assert served == len(HOSTILE)
    assert "dup.txt" in texts and list(texts).count("dup.txt") == 1
    assert not any("metrics" in t for t in texts)  # the reserved name is not served


def test_json_listing(server, folder):
    a = json.loads(get(server.port, "/?format=json").body)
    b = get(server.port, "/", {"Accept": "application/json"})
    assert b.headers["content-type"] == "application/json" and json.loads(b.body) == a
    assert a["path"] == "/"
    files = {e["name"]: e for e in a["entries"] if e["type"] == "file"}
    folders = {e["name"]: e for e in a["entries"] if e["type"] == "folder"}
    assert folders["sub"]["files"] == 2
    assert files["../../etc/passwd"]["href"] == "./..%2F..%2Fetc%2Fpasswd"
    assert files["n" * 996 + ".txt"]["size"] == len(folder["plains"]["n" * 996 + ".txt"])
    e = files["ctl\x1b[31m\x07\x7f\u2028.txt"]
    assert e["content_type"] == "text/plain" and isinstance(e["mtime"], int)
    assert [x["name"] for x in a["entries"]] == sorted(folders) + sorted(files)
    sub = json.loads(get(server.port, "/sub/?format=json").body)
    assert {(x["name"], x["type"]) for x in sub["entries"]} == {("dir", "folder"), ("top.txt", "file")}
    # a folder without its slash: redirected to it; nothing there: 404
    r = get(server.port, "/sub")
    assert r.status == 301 and r.headers["location"] == "./sub/"
    assert get(server.port, "/nothing/").status == 404
    assert get(server.port, "/notes.txt").status == 404
    assert get(server.port, "/", method="HEAD").body == b""


def test_no_index_and_token(folder):
    with qltx.SeekServer(folder["dir"], folder["mk"], port=0, index=False) as srv:
        assert get(srv.port, "/").status == 404 and get(srv.port, "/sub/").status == 404
        assert get(srv.port, "/dup.txt").body == folder["plains"]["dup.txt"]
        assert get(srv.port, "/-/health").status == 200
    with qltx.SeekServer(folder["dir"], folder["mk"], port=0, token="t0k") as srv:
        for p in ("/", "/?format=json", "/sub/", "/-/health", "/-/metrics"):
            r = get(srv.port, p)
            assert r.status == 401 and b"dup" not in r.body, p
        ok = {"Authorization": "Bearer t0k"}
        assert b"dup.txt" in get(srv.port, "/", ok).body
        assert get(srv.port, "/-/health", ok).status == 200
        text = get(srv.port, "/-/metrics", ok).body.decode()
        assert sample(text, "qeltrix_http_auth_failures_total") == 5


def sample(text: str, name: str, **labels) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise KeyError(name)


def test_metrics(folder):
    with qltx.SeekServer(folder["dir"], folder["mk"], port=0, workers=2) as srv:
        name = "sub/dir/deep.mp4"
        plain = folder["plains"][name]
        assert get(srv.port, "/" + name).body == plain
        assert get(srv.port, "/" + name, {"Range": "bytes=0-9"}).body == plain[:10]
        assert get(srv.port, "/nope").status == 404
        r = get(srv.port, "/-/metrics")
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = r.body.decode()
        fams = {f.name: f for f in text_string_to_metric_families(text)}  # parses: valid exposition
        assert sample(text, "qeltrix_http_responses_total", code="200") == 1
        assert sample(text, "qeltrix_http_responses_total", code="206") == 1
        assert sample(text, "qeltrix_http_responses_total", code="404") == 1
        assert sample(text, "qeltrix_http_response_body_bytes_total") == len(plain) + 10 + len(b"404 Not Found\n")
        assert sample(text, "qeltrix_blocks_decrypted_total") >= 1
        assert sample(text, "qeltrix_block_cache_hits_total") >= 1  # the range: block 0 again
        assert sample(text, "qeltrix_block_cache_misses_total") >= 1
        assert sample(text, "qeltrix_open_connections") == 1  # this one
        assert sample(text, "qeltrix_http_request_duration_seconds_count") == 3
        assert fams["qeltrix_http_request_duration_seconds"].type == "histogram"
        assert sample(text, "qeltrix_containers") == len(HOSTILE)
        # no name, path or key in any label or anywhere in the text
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                assert set(s.labels) <= {"code", "le"}
        assert "deep" not in text and "sub" not in text.replace("# ", "")


def test_health_follows_the_files(tmp_path):
    mk = qltx.random_master_key()
    qltx.pack(b"x" * 5000, str(tmp_path / "a.qltx"), mk, name="a.bin")
    with qltx.SeekServer(tmp_path, mk, port=0) as srv:
        r = get(srv.port, "/-/health")
        assert r.status == 200 and json.loads(r.body) == {"status": "ok"}
        os.replace(tmp_path / "a.qltx", tmp_path / "gone")  # the container moved away
        r = get(srv.port, "/-/health")
        assert r.status == 503 and json.loads(r.body) == {"status": "unavailable"}


def test_access_log_counts_bytes_actually_sent(tmp_path, caplog):
    """A client that reads a little of a big body and goes away: the line is written when the
    connection ends, with what was sent (far less than the body), marked aborted; a complete
    response is logged with its whole body."""
    mk = qltx.random_master_key()
    size = 4 << 20  # one 4 MiB block: the whole body is produced (queued) at once
    qltx.pack(b"\0" * size, str(tmp_path / "big.qltx"), mk, name="big.bin", block_size=size)
    caplog.set_level(logging.INFO, logger="qeltrix.server")
    with qltx.SeekServer(tmp_path / "big.qltx", mk, port=0, workers=2, send_timeout=30) as srv:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect(("127.0.0.1", srv.port))
            s.sendall(request_bytes("GET", "/"))
            assert s.recv(1000)
        assert get(srv.port, "/", {"Range": "bytes=0-99"}).status == 206

        def access_lines():
            return [r.getMessage() for r in caplog.records if '"GET / HTTP/1.1"' in r.getMessage()]

        wait_until(lambda: len(access_lines()) == 2, "both access lines (the aborted one: once the reset is seen)")
    lines = access_lines()
    aborted = [ln for ln in lines if ln.endswith(" aborted")]
    assert len(aborted) == 1, lines
    sent = int(aborted[0].split('" 200 ', 1)[1].split(" ", 1)[0])
    assert sent < size // 2, aborted  # what left the socket, not what was queued (the whole body)
    assert any(" 206 100 " in ln and not ln.endswith("aborted") for ln in lines), lines


def test_refused_connections_are_logged_at_a_bounded_rate(tmp_path, caplog):
    mk = qltx.random_master_key()
    qltx.pack(b"y" * 1000, str(tmp_path / "a.qltx"), mk)
    caplog.set_level(logging.INFO, logger="qeltrix.server")
    n = 300
    with qltx.SeekServer(tmp_path / "a.qltx", mk, port=0, max_connections=2) as srv:
        keep = [connect(srv.port), connect(srv.port)]
        try:
            keep[0].sendall(request_bytes("GET", "/", {"Range": "bytes=0-0"}, close=False))
            keep[1].sendall(request_bytes("GET", "/", {"Range": "bytes=0-0"}, close=False))
            for k in keep:  # both accepted and answered: the next connections are over the limit
                assert k.recv(1000).startswith(b"HTTP/1.1 206 ")
            for _ in range(n):
                with connect(srv.port) as c:
                    c.sendall(request_bytes("GET", "/"))
                    data = recv_all(c, limit=5)
                    if data:  # else closed at once (more than twice the limit pending)
                        assert parse_responses(data, ["GET"])[0].status == 503
        finally:
            for k in keep:
                k.close()
    text = srv.metrics().decode()  # the counters outlive the server
    refused_total = sample(text, "qeltrix_connections_refused_total")
    assert refused_total == n
    refused = [r.getMessage() for r in caplog.records if "refused over the limit" in r.getMessage()]
    assert 1 <= len(refused) < 30, refused  # lines per second, each with its count, not per connection
    assert sum(int(m.split(" ", 1)[0]) for m in refused) == n
    assert not any("connection limit reached" in r.getMessage() for r in caplog.records)


def test_cli_options_are_documented():
    out = subprocess.run([sys.executable, "-m", "qeltrix", "serve", "--help"], capture_output=True, text=True).stdout
    for opt in ("--no-index", "--max-connections", "--header-timeout", "--idle-timeout", "--send-timeout",
                "--stop-timeout",
                "--cache-mb", "--readahead-blocks", "--max-ranges"):
        assert opt in out
    out = subprocess.run([sys.executable, "-m", "qeltrix", "gateway", "--help"], capture_output=True, text=True).stdout
    for opt in ("--max-connections", "--window", "--connect-timeout"):
        assert opt in out
    for bad in (("--max-connections", "0"), ("--header-timeout", "0"), ("--cache-mb", "0"), ("--max-ranges", "-1")):
        p = subprocess.run([sys.executable, "-m", "qeltrix", "serve", ".", *bad], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 2 and bad[0] in p.stderr, p.stderr


def test_cli_serve_lists_and_reports(folder, tmp_path):
    """`qeltrix serve DIR --max-connections 1 --no-index` runs with its options."""
    env = dict(os.environ)
    env.pop("QELTRIX_PASSPHRASE", None)
    kf = tmp_path / "k.bin"
    kf.write_bytes(folder["mk"])
    p = subprocess.Popen([sys.executable, "-m", "qeltrix", "serve", str(folder["dir"]), "--port", "0",
                          "--key-file", str(kf), "--no-index", "--max-connections", "4"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        port = None
        lines = []
        for line in p.stderr:
            lines.append(line.decode(errors="replace"))
            m = re.search(rb"serving http://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        assert port, lines
        assert get(port, "/").status == 404
        assert get(port, "/dup.txt").body == folder["plains"]["dup.txt"]
    finally:
        p.terminate()
        p.wait(timeout=20)
        p.stderr.close()
