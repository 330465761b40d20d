"""A real browser against the SeekServer: headless Chromium (Debian's, driven over the DevTools
protocol by tests/cdp.py) loads a page and a VP9/WebM clip, both served decrypted from
containers, plays it, seeks into the middle and keeps playing.

The clip is made by ffmpeg (noise makes it ~6 Mbit/s, 15 MB for 20 s; a keyframe every second)
and packed in 64 KiB blocks. The tab's network is throttled (DevTools network emulation) so
that the seek lands beyond what Chromium has fetched: it must then ask for a new range, as it
does on a real network. Without chromium or ffmpeg these tests skip, except in CI (env CI set),
where they fail."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest

import qeltrix as qltx

from cdp import Chromium, chromium_binary

DURATION = 20
TARGET = 10.0  # seconds: the middle of the clip

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>qeltrix seek test</title>
<video id="v" src="clip.webm" muted playsinline preload="auto"></video>
<script>
const v = document.getElementById("v");
const TARGET = %(target)s;
window.events = [];
window.result = null;
function done(r) { if (!window.result) window.result = r; }
v.addEventListener("error", () => done({ok: false, error: v.error && v.error.code,
                                         message: v.error && v.error.message}));
for (const e of ["loadedmetadata", "canplay", "playing", "waiting", "seeking", "seeked", "stalled"])
  v.addEventListener(e, () => window.events.push([e, v.currentTime]));
let phase = "play";
v.addEventListener("timeupdate", () => {
  if (phase === "play" && v.currentTime > 0.5) {
    phase = "seek";
    v.addEventListener("seeked", () => { phase = "after"; window.seekedAt = v.currentTime; }, {once: true});
    v.currentTime = TARGET;
  } else if (phase === "after" && v.currentTime > TARGET + 0.3) {
    phase = "done";
    const q = v.getVideoPlaybackQuality();
    done({ok: true, currentTime: v.currentTime, seekedAt: window.seekedAt, duration: v.duration,
          error: v.error && v.error.code, width: v.videoWidth, height: v.videoHeight,
          frames: q.totalVideoFrames, dropped: q.droppedVideoFrames});
  }
});
v.play().catch(e => done({ok: false, play: String(e)}));
</script>
"""


def _need(tool: str, found: bool) -> None:
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (CI must install it: see .ci/run)")
        pytest.skip(f"{tool} is not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    ffmpeg = shutil.which("ffmpeg")
    _need("ffmpeg", ffmpeg is not None)
    _need("chromium", chromium_binary() is not None)
    d = tmp_path_factory.mktemp("browser")
    clip = d / "clip.webm"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", f"testsrc=duration={DURATION}:size=320x240:rate=25",
                    "-vf", "noise=alls=60:allf=t", "-c:v", "libvpx-vp9", "-b:v", "6M", "-minrate", "6M",
                    "-maxrate", "6M", "-g", "25", "-keyint_min", "25", "-deadline", "realtime",
                    "-cpu-used", "8", "-threads", "2", str(clip)], check=True, timeout=300)
    (d / "page.html").write_text(PAGE % {"target": TARGET})
    mk = qltx.random_master_key()
    www = d / "www"
    www.mkdir()
    qltx.pack(clip, www / "clip.qltx", mk, block_size=64 << 10)
    qltx.pack(d / "page.html", www / "page.qltx", mk)
    return {"www": www, "mk": mk, "size": clip.stat().st_size}


_ACCESS = re.compile(r'"(?P<method>\S+) (?P<path>\S+) HTTP/1\.[01]" (?P<status>\d{3}) (?P<sent>\d+) '
                     r'range="(?P<range>[^"]*)"')


def test_chromium_plays_and_seeks(site, caplog):
    caplog.set_level(logging.INFO, logger="qeltrix.server")
    with qltx.SeekServer(site["www"], site["mk"], port=0, workers=4) as srv:
        assert sorted(srv.paths) == ["/clip.webm", "/page.html"]
        with Chromium(timeout=60) as b:
            # 1.5 MB/s: the clip plays (6 Mbit/s), but 10 s in is far beyond what was fetched.
            b.open(srv.url + "page.html", download_bytes_per_s=1_500_000)
            try:
                result = b.wait_for("window.result", timeout=60)
            finally:
                events = b.evaluate("JSON.stringify(window.events)")
        # leaving both closes Chromium's connections: in-flight responses are logged as aborted
    assert result["ok"], (result, events)
    assert result["error"] is None
    assert abs(result["seekedAt"] - TARGET) < 0.1, (result, events)
    assert TARGET + 0.3 < result["currentTime"] < DURATION, result
    assert result["duration"] == pytest.approx(DURATION, abs=0.1)
    assert (result["width"], result["height"]) == (320, 240)

    lines = [m.groupdict() for rec in caplog.records if (m := _ACCESS.search(rec.getMessage()))]
    media = [x for x in lines if x["path"] == "/clip.webm"]
    assert any(x["path"] == "/page.html" and x["status"] == "200" for x in lines), lines
    assert media and all(x["status"] == "206" for x in media), media  # Range on every media request
    starts = []
    for x in media:
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", x["range"])
        assert m, x  # Chromium's form: bytes=N- (or N-M once it knows where the clip ends)
        starts.append(int(m.group(1)))
    assert any(x["range"] == "bytes=0-" for x in media), media
    # the seek: a new request starting in the middle of the clip
    size = site["size"]
    assert any(0.3 * size < s < 0.7 * size for s in starts), (media, size)
    # and no request that failed to decrypt
    assert not any(rec.levelno >= logging.ERROR for rec in caplog.records if rec.name == "qeltrix.server")


# ---- the folder index in a browser ----------------------------------------------------------------

HOSTILE_TEXT = {
    "readme.txt": "plain readme\n",
    "<img src=x onerror=window.pwned=1>.txt": "img\n",
    'q"uo\'te & <b>.txt': "quote\n",
    "../../etc/passwd": "not the passwd\n",
    "ctl\x1b[31m\x07.txt": "control\n",
    "n" * 996 + ".txt": "long\n",
    "javascript:window.pwned=2": "scheme\n",
    "sub/deep.txt": "deep\n",
}


def test_chromium_browses_the_index(site, tmp_path):
    """Chromium loads the index, every link (resolved by the browser) fetches its container's
    bytes, no name injects markup or script, following the clip's link plays it; a screenshot
    of the index is kept (QELTRIX_ARTIFACTS, else the test's temporary folder)."""
    www = tmp_path / "www"
    www.mkdir()
    shutil.copy(site["www"] / "clip.qltx", www / "clip.qltx")
    from test_seek_server_index import pack_any_name  # names another writer may have stored

    for i, (name, text) in enumerate(HOSTILE_TEXT.items()):
        pack_any_name(text.encode(), www / f"t{i}.qltx", site["mk"], name=name)
    with qltx.SeekServer(www, site["mk"], port=0, workers=4) as srv, Chromium(timeout=60) as b:
        b.open(srv.url)
        b.wait_for("document.readyState === 'complete' && document.querySelector('table') !== null")
        names = b.evaluate("Array.from(document.querySelectorAll('td.n a')).map(a => a.textContent)")
        shown = [n.replace("\x1b", "\\x1b").replace("\x07", "\\x07") for n in HOSTILE_TEXT if "/" not in n
                 or n.startswith("..")]
        for n in shown + ["clip.webm", "sub/"]:
            assert n in names, (n, names)
        assert b.evaluate("document.querySelectorAll('script, img').length") == 0
        # every link as the browser resolves it (the page itself may fetch nothing: its CSP)
        got = b.evaluate("Array.from(document.querySelectorAll('td.n a')).map(a => [a.textContent, a.href])")
        got = [(t, h) for t, h in got if not t.endswith("/") and t != "clip.webm"]
        assert len(got) == len(shown)
        for text, href in got:
            name = next(n for n in HOSTILE_TEXT if n.replace("\x1b", "\\x1b").replace("\x07", "\\x07") == text)
            path = urllib.parse.urlsplit(href).path
            assert href.startswith(srv.url) and path.count("/") == 1, href  # no dot segment resolved
            r = urllib.request.urlopen(srv.url.rstrip("/") + path, timeout=10)
            assert r.read() == HOSTILE_TEXT[name].encode(), (text, href)
        # a text file's link, clicked: the browser shows its plaintext
        b.evaluate("Array.from(document.querySelectorAll('td.n a')).find(a => a.textContent === 'readme.txt').click()")
        b.wait_for("location.pathname === '/readme.txt' && document.readyState === 'complete'")
        assert b.evaluate("document.body.innerText").strip() == HOSTILE_TEXT["readme.txt"].strip()
        b.evaluate("history.back()")
        b.wait_for("location.pathname === '/' && document.readyState === 'complete' && "
                   "document.querySelector('table') !== null")
        assert b.evaluate("typeof window.pwned") == "undefined"
        png = b.screenshot()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
        out = os.environ.get("QELTRIX_ARTIFACTS") or str(tmp_path)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "seekserver-index.png"), "wb") as f:
            f.write(png)
        # into the sub folder and back
        b.evaluate("Array.from(document.querySelectorAll('td.n a')).find(a => a.textContent === 'sub/').click()")
        b.wait_for("location.pathname === '/sub/' && document.readyState === 'complete'")
        assert b.evaluate("Array.from(document.querySelectorAll('td.n a')).map(a => a.textContent)") == \
            ["../", "deep.txt"]
        b.evaluate("document.querySelector('td.n a').click()")
        b.wait_for("location.pathname === '/' && document.readyState === 'complete' && "
                   "document.querySelector('table') !== null")
        # follow the clip's link: Chromium's media document plays it
        b.evaluate("Array.from(document.querySelectorAll('td.n a')).find(a => a.textContent === 'clip.webm').click()")
        b.wait_for("location.pathname === '/clip.webm' && !!document.querySelector('video')")
        b.evaluate("(() => { const v = document.querySelector('video'); v.muted = true; v.play(); return 1; })()")
        t = b.wait_for("(() => { const v = document.querySelector('video'); "
                       "return !v.error && v.currentTime > 1.0 && v.currentTime; })()", timeout=60)
        assert t > 1.0
