"""Coverage-guided fuzzing of the Python entry points that read untrusted bytes (atheris).

    python tools/fuzz/atheris_py.py -max_total_time=20      (or -atheris_runs=N; run.sh runs it)

Each input either is a container itself (byte 0 even) or edits one of a few genuine containers
made at start-up with a fixed key (byte 0 odd: format 6.0 aes, chacha, permuted, streamed header,
empty; format 6.1 with a raw-key and an age X25519 slot, with index pages of 64 entries over
several pages, streamed, empty; then (offset, byte) edits, a cut and an insertion). Edits reach
6.1's keyring copies, slots, index pages and top table. It goes through qeltrix.open + read,
seek_extract, unpack from bytes, streaming unpack from an unseekable file object, keyed verify,
and inspect's parse_container + describe. The oracle: each either raises a QeltrixError or
returns exactly the original plaintext (of the container that was edited), never another
exception type, never other bytes.
"""

from __future__ import annotations

import io
import os
import struct
import sys

import atheris

import qeltrix as qltx
from qeltrix import writer
from qeltrix.inspect import describe, parse_container

# instrument_imports() misses an editable install's import hook: instrument the loaded code.
atheris.instrument_all()

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
from streams import Unseekable  # noqa: E402

MK = bytes(range(32))
BS = 4096


def _make():
    import random

    rnd = random.Random(7)
    out = []
    from qeltrix.recipients import X25519Identity

    someone = X25519Identity.generate().recipient
    v61 = {"version": 0x0601, "keyring_slots": 3, "recipients": [someone], "page_shift": 6}
    for kw, size, patch in [({}, 2 * BS + 100, True),
                            ({"cipher_id": qltx.CIPHER_CHACHA20_POLY1305}, BS + 1, True),
                            ({"permute": True}, 3 * BS, True),
                            ({}, BS + 7, False),
                            ({}, 0, True),
                            (v61, 2 * BS + 100, True),
                            (dict(v61, block_hash="blake3", index_hash="sha256"), 130 * BS + 5, True),
                            (dict(v61, permute=True), BS + 7, False),
                            (v61, 0, True)]:
        data = rnd.randbytes(size)
        kw = dict(kw)
        version = kw.pop("version", 6)
        blob = writer._pack_from_parts(data, MK, rand=rnd.randbytes, block_size=BS, patch=patch, version=version,
                                       **kw)
        out.append((blob, data))
    return out


BASES = _make()


def _edit(fdp: atheris.FuzzedDataProvider) -> tuple[bytes, bytes | None]:
    blob, data = BASES[fdp.ConsumeIntInRange(0, len(BASES) - 1)]
    b = bytearray(blob)
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        at = fdp.ConsumeIntInRange(0, len(b) - 1)
        b[at] = fdp.ConsumeInt(1) & 0xFF
    what = fdp.ConsumeIntInRange(0, 3)
    if what == 1:
        del b[fdp.ConsumeIntInRange(0, len(b)):]
    elif what == 2:
        at = fdp.ConsumeIntInRange(0, len(b))
        b[at:at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64))
    elif what == 3:  # rewrite the trailer to point elsewhere
        b[-24:-8] = struct.pack(">QQ", fdp.ConsumeInt(8) % (len(b) + 8), fdp.ConsumeInt(8) % (len(b) + 8))
    return bytes(b), data


def _check(name, fn, expect):
    try:
        got = fn()
    except qltx.QeltrixError:
        return
    if expect is None:
        raise AssertionError(f"{name}: accepted a container that no key made")
    if got is not None and got != expect:
        raise AssertionError(f"{name}: returned wrong bytes")


def TestOneInput(raw: bytes) -> None:
    if not raw:
        return
    fdp = atheris.FuzzedDataProvider(raw)
    if fdp.ConsumeIntInRange(0, 1):
        blob, data = _edit(fdp)
    else:
        blob, data = fdp.ConsumeBytes(1 << 16), None
    off = fdp.ConsumeIntInRange(0, 4 * BS)
    ln = fdp.ConsumeIntInRange(0, 4 * BS)
    piece = fdp.ConsumeIntInRange(1, 5000)
    want = None if data is None else data[off:off + ln]

    def unpack(src):
        out = io.BytesIO()
        qltx.unpack(src, out, MK)
        return out.getvalue()

    def read_open():
        with qltx.open(blob, MK) as f:
            f.seek(off)
            return f.read(ln)

    def verify():
        r = qltx.verify(blob, MK)
        if not r.ok:
            raise qltx.DamagedError("verify reported damage")
        return None

    _check("open", read_open, want)
    _check("seek_extract", lambda: qltx.seek_extract(blob, off, ln, MK), want)
    _check("unpack", lambda: unpack(blob), data)
    _check("stream unpack", lambda: unpack(Unseekable(blob, piece)), data)
    _check("verify", verify, data)
    try:
        with parse_container(blob) as parsed:
            describe(parsed)
    except qltx.QeltrixError:
        pass


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
