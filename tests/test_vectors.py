"""Known-answer vectors (tests/vectors/*.qltxv, age-testkit style) through every reading path,
and through the independent decoder (spec parser + crypto, no C++)."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import pytest

import qeltrix as qltx
from streams import Unseekable
from independent import decode as independent_decode

ROOT = Path(__file__).resolve().parent.parent
VECTORS = sorted((ROOT / "tests" / "vectors").glob("*.qltxv"))
KNOWN_KEYS = {"expect", "key", "passphrase", "payload", "size", "comment"}
EXPECT = {
    "success": None,
    "wrong key": qltx.WrongKeyError,
    "header failure": qltx.DamagedError,
    "block failure": qltx.DamagedError,
    "footer failure": qltx.DamagedError,
    "truncated": qltx.TruncatedError,
    "not a container": qltx.NotAContainerError,
    "unsupported version": qltx.UnsupportedVersionError,
    "limit": qltx.LimitError,
}


def load(path: Path):
    raw = path.read_bytes()
    head, _, blob = raw.partition(b"\n\n")
    fields = dict(line.split(": ", 1) for line in head.decode().splitlines())
    unknown = set(fields) - KNOWN_KEYS
    assert not unknown, f"unknown header keys {unknown}"
    assert fields["expect"] in EXPECT, fields["expect"]
    return fields, blob


def _key_args(fields):
    if "passphrase" in fields:
        return {"passphrase": fields["passphrase"]}
    return {"master_key": bytes.fromhex(fields["key"])}


def _readers(blob, kw):
    def unpack():
        out = io.BytesIO()
        qltx.unpack(blob, out, **kw)
        return out.getvalue()

    def stream():
        out = io.BytesIO()
        qltx.unpack(Unseekable(blob), out, **kw)
        return out.getvalue()

    def seek():
        return qltx.seek_extract(blob, 0, 1 << 40, **kw)

    return {"unpack": unpack, "stream": stream, "seek": seek,
            "independent": lambda: independent_decode(blob, kw.get("master_key"), kw.get("passphrase"))}


def test_there_are_vectors():
    assert len(VECTORS) >= 15


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path):
    fields, blob = load(path)
    expected = EXPECT[fields["expect"]]
    for name, read in _readers(blob, _key_args(fields)).items():
        if expected is None:
            data = read()
            assert hashlib.sha256(data).hexdigest() == fields["payload"], name
            assert len(data) == int(fields["size"]), name
        else:
            with pytest.raises(expected) as exc:
                read()
            if fields["expect"] == "block failure":
                assert exc.value.block is not None, name
            if fields["expect"] in ("header failure", "footer failure"):
                assert fields["expect"].split()[0] in str(exc.value), (name, str(exc.value))


def test_vectors_are_what_the_generator_makes():
    """The generator is deterministic: regenerating must give the committed bytes (format pinned)."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_vectors
    finally:
        sys.path.pop(0)
    assert gen_vectors.main(["--check"]) == 0
