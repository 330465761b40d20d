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
