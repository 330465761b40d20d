"""The deployment the README documents, run: nginx terminating TLS (a self-signed certificate
made here) in front of two ``qeltrix serve`` processes of the same folder (nginx ``upstream``),
with the README's configuration block itself (only ports and certificate paths replaced).

Through the proxy: curl (whole file, ranges, HEAD, If-None-Match, If-Range), aria2c (one file in
segments over several HTTPS connections, which nginx spreads over both instances: they must agree
on every validator) and Chromium (plays a clip and seeks into it) get byte-exact data.

Needs nginx (with ssl), curl and aria2c; Chromium and ffmpeg for the video part. Each skips when
missing, except in CI (env CI set), where it fails (.ci/run installs them)."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import qeltrix as qltx
from nginxserver import Nginx, nginx_binary
from polling import DEADLINE
from tlsproxy import Instance, conf_for, make_cert

BIG = 24 << 20


def _need(tool: str, found) -> None:
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (CI must install it: see .ci/run)")
        pytest.skip(f"{tool} is not installed")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    _need("nginx", nginx_binary())
    ssl = subprocess.run([nginx_binary(), "-V"], capture_output=True, text=True).stderr
    _need("nginx with the ssl module", "--with-http_ssl_module" in ssl)
    d = tmp_path_factory.mktemp("deploy")
    cert, key, spki = make_cert(d)
    mk = qltx.random_master_key()
    (d / "media.key").write_bytes(mk)
    os.chmod(d / "media.key", 0o600)
    folder = d / "media"
    folder.mkdir()
    big = random.Random(11).randbytes(BIG)
    qltx.pack(big, str(folder / "big.qltx"), mk, name="big.bin")
    instances = [Instance(folder, d / "media.key"), Instance(folder, d / "media.key")]
    nginx = Nginx(d, d / "nginx", servers=lambda port: conf_for(port, [i.port for i in instances], cert, key))
    try:
        nginx.start()
        yield {"dir": d, "folder": folder, "mk": mk, "big": big, "cert": cert, "spki": spki,
               "url": f"https://127.0.0.1:{nginx.port}", "instances": instances, "nginx": nginx}
    finally:
        nginx.stop()
        for i in instances:
            i.stop()


def curl(dep, *args, path="/big.bin") -> subprocess.CompletedProcess:
    _need("curl", shutil.which("curl"))
    return subprocess.run(["curl", "-sS", "--cacert", str(dep["cert"]), *args, dep["url"] + path],
                          capture_output=True, timeout=120)


def headers_of(raw: bytes) -> tuple[int, dict]:
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    return status, {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}


def test_curl_through_tls_proxy(deployment):
    dep, big = deployment, deployment["big"]
    p = curl(dep, "--http1.1", "-o", "-")
    assert p.returncode == 0, p.stderr
    assert p.stdout == big
    p = curl(dep, "-o", "-", "-r", "1000-2999")  # HTTP/2 to nginx
    assert p.stdout == big[1000:3000]
    p = curl(dep, "-o", "-", "-r", f"{BIG - 100}-")
    assert p.stdout == big[-100:]
    # HEAD
    p = curl(dep, "-I", "--http1.1")
    status, h = headers_of(p.stdout.split(b"\r\n\r\n")[0])
    assert status == 200 and h["content-length"] == str(BIG) and h["accept-ranges"] == "bytes"
    etag, lm = h["etag"], h["last-modified"]
    assert etag.startswith('"')
    # If-None-Match: 304; If-Range with the ETag: 206; with another: the whole file
    p = curl(dep, "--http1.1", "-D", "-", "-o", "/dev/null", "-H", f"If-None-Match: {etag}")
    assert headers_of(p.stdout.split(b"\r\n\r\n")[0])[0] == 304
    p = curl(dep, "--http1.1", "-D", "-", "-H", f"If-Range: {etag}", "-r", "5-9")
    head, body = p.stdout.split(b"\r\n\r\n", 1)
    assert headers_of(head)[0] == 206 and body == big[5:10]
    p = curl(dep, "--http1.1", "-D", "-", "-H", 'If-Range: "stale"', "-r", "5-9")
    head, body = p.stdout.split(b"\r\n\r\n", 1)
    assert headers_of(head)[0] == 200 and body == big
    p = curl(dep, "--http1.1", "-D", "-", "-o", "/dev/null", "-H", f"If-Range: {lm}", "-r", "5-9")
    assert headers_of(p.stdout.split(b"\r\n\r\n")[0])[0] == 206
    # the index and the server's own pages pass too (/-/ from 127.0.0.1 only)
    p = curl(dep, "-H", "Accept: application/json", path="/")
    assert b'"big.bin"' in p.stdout
    p = curl(dep, path="/-/health")
    assert p.stdout == b'{"status": "ok"}\n'


def test_validators_are_the_same_on_both_instances(deployment):
    import urllib.request

    seen = set()
    for inst in deployment["instances"]:
        req = urllib.request.Request(f"http://127.0.0.1:{inst.port}/big.bin", method="HEAD")
        with urllib.request.urlopen(req, timeout=10) as r:
            seen.add((r.headers["ETag"], r.headers["Last-Modified"], r.headers["Content-Length"]))
    assert len(seen) == 1, seen


def test_aria2c_segments_across_both_instances(deployment, tmp_path):
    dep = deployment
    _need("aria2c", shutil.which("aria2c"))
    marks = [len(i.access("/big.bin")) for i in dep["instances"]]
    p = subprocess.run(["aria2c", "-q", "--ca-certificate", str(dep["cert"]), "-x", "8", "-s", "8", "-k", "1M",
                        "--file-allocation=none", "--allow-overwrite=true", "--auto-file-renaming=false",
                        "-d", str(tmp_path), "-o", "out.bin", dep["url"] + "/big.bin"],
                       capture_output=True, timeout=300)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert (tmp_path / "out.bin").read_bytes() == dep["big"]
    # each instance logs a request when its last byte is sent: wait for both to have some
    deadline = time.monotonic() + DEADLINE
    while True:
        per = [i.access("/big.bin")[m:] for i, m in zip(dep["instances"], marks)]
        ranged = [[x for x in lines if x[0] == 206] for lines in per]
        if all(ranged) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(ranged), per  # the segments came from both instances
    assert sum(len(r) for r in ranged) >= 2


def _make_clip(d: Path) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    _need("ffmpeg", ffmpeg)
    clip = d / "clip.webm"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc=duration=20:size=320x240:rate=25",
                    "-vf", "noise=alls=60:allf=t", "-c:v", "libvpx-vp9", "-b:v", "6M", "-minrate", "6M",
                    "-maxrate", "6M", "-g", "25", "-keyint_min", "25", "-deadline", "realtime",
                    "-cpu-used", "8", "-threads", "2", str(clip)], check=True, timeout=300)
    return clip


def test_chromium_plays_and_seeks_through_the_proxy(deployment):
    from cdp import Chromium, chromium_binary
    from test_browser import PAGE, TARGET

    dep = deployment
    _need("chromium", chromium_binary())
    clip = _make_clip(dep["dir"])
    # New containers in the served folder: the instances opened the folder at start, so these
    # are served by instances started now, behind a second nginx of the same configuration.
    folder = dep["dir"] / "media2"
    folder.mkdir()
    qltx.pack(clip, folder / "clip.qltx", dep["mk"], block_size=64 << 10)
    (dep["dir"] / "page.html").write_text(PAGE % {"target": TARGET})
    qltx.pack(dep["dir"] / "page.html", folder / "page.qltx", dep["mk"])
    instances = [Instance(folder, dep["dir"] / "media.key"), Instance(folder, dep["dir"] / "media.key")]
    nginx = Nginx(dep["dir"], dep["dir"] / "nginx2",
                  servers=lambda port: conf_for(port, [i.port for i in instances], dep["cert"],
                                                dep["dir"] / "key.pem"))
    try:
        nginx.start()
        url = f"https://127.0.0.1:{nginx.port}/page.html"
        with Chromium(timeout=60, flags=[f"--ignore-certificate-errors-spki-list={dep['spki']}"]) as b:
            b.open(url, download_bytes_per_s=1_500_000)
            try:
                result = b.wait_for("window.result", timeout=90)
            finally:
                events = b.evaluate("JSON.stringify(window.events)")
    finally:
        nginx.stop()
        for i in instances:
            i.stop()
    assert result["ok"] and result["error"] is None, (result, events)
    assert abs(result["seekedAt"] - TARGET) < 0.1, (result, events)
    assert result["currentTime"] > TARGET + 0.3
    media = [x for i in instances for x in i.access("/clip.webm")]
    assert media and all(status == 206 for status, _ in media), media
    size = clip.stat().st_size
    starts = [int(m.group(1)) for _, r in media if (m := re.fullmatch(r"bytes=(\d+)-\d*", r))]
    assert any(0.3 * size < s < 0.7 * size for s in starts), (media, size)
