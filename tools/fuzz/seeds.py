"""Writes the seed corpora of the fuzz harnesses: python3 tools/fuzz/seeds.py OUT_DIR.

OUT_DIR/<harness>/ gets: for `format` and `stream`, the containers of tests/vectors/*.qltxv
(text header stripped) and their parts behind each selector byte; for `http`, real requests
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
    corpora = {"format": [], "stream": [], "http": list(HTTP), "range": []}
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
