"""Writes the seed corpora of the fuzz harnesses: python3 tools/fuzz/seeds.py OUT_DIR.

OUT_DIR/<harness>/ gets: for `format` and `stream`, the containers of tests/vectors/*.qltxv
(text header stripped) and their parts behind each selector byte; for `format61`, and `stream`
too, synthetic format 6.1 containers (structure only) and their parts; for `http`, real requests
(curl's, a browser's, urllib3's ranged GETs) and bad ones; for `range`, Range values against
several sizes. Standard library only.
"""
import hashlib
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def containers():
    for p in sorted((ROOT / "tests" / "vectors").glob("*.qltxv")):
        raw = p.read_bytes()
        yield p.stem, raw[raw.index(b"\n\n") + 2:]


def format_seeds(c):
    """Selector byte + the structure each case decodes."""
    out = [b"\x00" + c[:416], b"\x01" + c[416:444], b"\x02" + c[444:592]]
    if len(c) >= 24:
        tail = c[-24:]  # footer_offset, footer_size, "QLTX-END"
        out.append(b"\x05" + struct.pack(">Q", len(c)) + tail)
        fo, fs = struct.unpack(">QQ", tail[:16])
        if tail[16:] == b"QLTX-END" and 0 < fs < len(c) and fo + fs + 24 == len(c):
            footer = c[fo:fo + fs]
            out.append(b"\x03" + footer[:64])
            out.append(b"\x04" + footer)
    return out


def _v61_container(sizes, shift=6, slots=1, patch=False):
    """A format 6.1 container's structure (spec/qeltrix_v6.ksy; no crypto: zero metadata and
    tags, random payloads), built here with struct so the seeds need no native build.
    Returns (container, {"header", "keyring_copy", "pages", "footer", "knobs"})."""
    E = 1 << shift
    copy = struct.pack(">4sIQQ", b"QKEY", slots, 1, 0)
    copy += struct.pack(">BBH", 1, 0, 48) + bytes(range(48)) + bytes(76) + bytes(128 * (slots - 1)) + b"K" * 32
    data_offset = 256 + 2 * len(copy)
    body, pages, top = bytearray(), [], []
    off, plain, entries = data_offset, 0, []
    for i, n in enumerate(sizes):
        final = i == len(sizes) - 1
        block = struct.pack(">4sQIQI", b"QBLK", i, 164, n + 16, int(final)) + bytes(176)
        block += hashlib.sha256(b"%d" % i).digest()[:1] * n + bytes(16)
        entries.append(struct.pack(">QQII32s", plain, off, n, n + 220, hashlib.sha256(block).digest()))
        body += block
        off += len(block)
        plain += n
        if len(entries) == E or final:
            first = i + 1 - len(entries)
            page = struct.pack(">4sIQ", b"QPAG", len(entries), first) + b"".join(entries)
            top.append(struct.pack(">QQ32s", off, plain - sum(struct.unpack(">I", e[16:20])[0] for e in entries),
                                   hashlib.sha256(page).digest()))
            pages.append(page)
            body += page
            off += len(page)
            entries = []
    info = b"I" * 50
    footer = struct.pack(">8sQQII32s", b"QLTXFOOT", len(sizes), plain, len(info), len(top), b"F" * 32)
    footer += b"".join(top) + info
    patched = (len(sizes), plain, off, len(footer)) if patch else (0, 0, 0, 0)
    header = struct.pack(">4sHBBBBHI32sII32sQQQQ104s32s", b"QLTX", 0x0601, 1, 2, 1, shift, 0, 4096,
                         bytes(range(32)), slots, 0, b"C" * 32, *patched, bytes(104), b"M" * 32)
    trailer = struct.pack(">QQ8s", off, len(footer), b"QLTX-END")
    c = header + copy + copy + bytes(body) + footer + trailer
    # fuzz_format61's footer knobs: shift = 6 + k % 11, slots = 1 + (k >> 4) % 4, bit 7 = 64 MiB
    knobs = next(k for k in range(128) if 6 + k % 11 == shift and 1 + (k >> 4) % 4 == slots)
    return c, {"header": header, "keyring_copy": copy, "pages": pages, "footer": footer, "knobs": knobs,
               "slots": slots}


def format61_seeds():
    out = []
    for sizes, shift, slots, patch in [([], 6, 1, False), ([4096] * 64 + [0], 6, 2, True),
                                       ([4096] * 130 + [77], 6, 1, False), ([1, 4096, 300], 10, 4, True)]:
        c, p = _v61_container(sizes, shift, slots, patch)
        out.append(b"\x00" + p["header"])
        out.append(b"\x01" + bytes([p["slots"] - 1]) + p["keyring_copy"])
        for i, page in enumerate(p["pages"]):
            out.append(b"\x02" + bytes([2 if i == len(p["pages"]) - 1 else 0]) + page)
        out.append(b"\x03" + p["footer"][:64])
        out.append(b"\x04" + bytes([p["knobs"]]) + p["footer"])
        out.append(b"\x05" + struct.pack(">Q", len(c)) + c[-24:])
        out.append(b"\x06" + c[:6])
    return out


def stream61_seeds():
    out = []
    for sizes, shift in [([], 6), ([4096] * 64, 6), ([4096, 5, 4096] * 30 + [0], 6), ([9], 16)]:
        c, _ = _v61_container(sizes, shift, 2, False)
        out += [bytes([sel]) + c for sel in (0x00, 0x39, 0x3F)]
    return out


HTTP = [
    b"GET /big.qltx HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
    b"Range: bytes=0-1023\r\n\r\n",
    b"HEAD /big.qltx HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /x.qltx HTTP/1.1\r\nHost: example.org\r\nAccept-Encoding: identity\r\n"
    b"User-Agent: python-urllib3/2.2.1\r\nRange: bytes=-16384\r\nIf-Match: \"65f1-3a\"\r\n\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    b"Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
    b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nIf-None-Match: W/\"a\", \"b\"\r\n"
    b"Connection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nIf-Unmodified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n"
    b"If-Range: Sun Nov  6 08:49:37 1994\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
]

RANGES = [b"bytes=0-99", b"bytes=-500", b"bytes=9500-", b"bytes=0-0,-1", b"bytes=500-600,601-999",
          b"bytes= 0 - 9 , 20-29,,", b"bytes=0-99999999999999999999999", b"bytes=10-5",
          b"bytes=0-1,2-3,4-5,6-7,8-9,10-11,12-13,14-15,16-17,18-19",
          b"bytes=0-9\nif-range: \"e1\"", b"bytes=0-9\nif-match: \"zz\"",
          b"x\nif-none-match: *", b"bytes=5-9\nif-range: Sun, 06 Nov 1994 08:49:37 GMT"]


def main(out):
    out = Path(out)
    corpora = {"format": [], "format61": format61_seeds(), "stream": stream61_seeds(), "http": list(HTTP),
               "range": []}
    for _name, c in containers():
        corpora["format"] += format_seeds(c)
        corpora["stream"] += [bytes([sel]) + c for sel in (0x00, 0x39, 0x3F)]
    for args in [(10000, 4096, 0, 10000), (2**63 - 1, 2**26, 2**62, 2**64 - 1), (0, 4096, 0, 1)]:
        corpora["format"].append(b"\x07" + struct.pack(">QQQQ", *args))
    for size in (10000, 0, 2**64 - 1):
        for r in RANGES:
            corpora["range"].append(struct.pack(">QBB", size, 0x24, 0x06) + r)
    for name, seeds in corpora.items():
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        for s in seeds:
            (d / hashlib.sha1(s).hexdigest()).write_bytes(s)
        print(f"seeds: {name}: {len(seeds)}")


if __name__ == "__main__":
    main(sys.argv[1])
