"""age v1 files, for the tests only: the header (read and written) and the STREAM payload.

Written from the spec (https://c2sp.org/age, sections "Header" and "Payload") so that the real
``age`` binary can be the oracle for ``qeltrix.recipients``: we read the X25519 stanzas of files
that ``age -r`` wrote, and write files with our own stanzas for ``age -d -i`` to open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION_LINE = b"age-encryption.org/v1"
CHUNK = 64 * 1024
_B64 = re.compile(rb"[A-Za-z0-9+/]*")


def b64encode(data: bytes) -> bytes:
    """Standard base64 without '=' padding."""
    return base64.b64encode(data).rstrip(b"=")


def b64decode(text: bytes) -> bytes:
    """Canonical unpadded base64 only (as the spec requires of decoders)."""
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64")
    data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    if b64encode(data) != text:
        raise ValueError("non-canonical base64")
    return data


@dataclass
class Stanza:
    type: str
    args: list[str]
    body: bytes


@dataclass
class Header:
    stanzas: list[Stanza]
    mac: bytes
    macced: bytes  # the header up to and including "---", what the MAC covers
    payload_offset: int


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=salt, info=info).derive(ikm)


def header_mac(file_key: bytes, macced: bytes) -> bytes:
    """HMAC-SHA256 under HKDF-SHA256(file key, salt = empty, info = "header")."""
    return hmac.new(_hkdf(file_key, b"", b"header"), macced, hashlib.sha256).digest()


def parse_header(data: bytes) -> Header:
    """The header of an age v1 file (binary, not armored). Raises ValueError when malformed."""
    pos = 0

    def line() -> bytes:
        nonlocal pos
        end = data.index(b"\n", pos)
        text, pos = data[pos:end], end + 1
        return text

    if line() != VERSION_LINE:
        raise ValueError("not an age v1 file")
    stanzas = []
    while True:
        start = pos
        text = line()
        if text.startswith(b"-> "):
            args = text[3:].decode("ascii").split(" ")
            body = b""
            while True:
                chunk = line()
                if len(chunk) > 64 or not _B64.fullmatch(chunk):
                    raise ValueError("malformed stanza body")
                body += chunk
                if len(chunk) < 64:
                    break
            stanzas.append(Stanza(args[0], args[1:], b64decode(body)))
        elif text.startswith(b"--- "):
            if not stanzas:
                raise ValueError("an age header has at least one stanza")
            return Header(stanzas, b64decode(text[4:]), data[: start + 3], pos)
        else:
            raise ValueError("malformed header line")


def encode_header(stanzas: list[Stanza], file_key: bytes) -> bytes:
    """A header for ``stanzas`` with its MAC: bodies wrapped at 64 columns, the last line short."""
    out = [VERSION_LINE + b"\n"]
    for s in stanzas:
        out.append(b"-> " + " ".join([s.type, *s.args]).encode("ascii") + b"\n")
        body = b64encode(s.body)
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        if not lines or len(lines[-1]) == 64:
            lines.append(b"")
        out += [ln + b"\n" for ln in lines]
    macced = b"".join(out) + b"---"
    return macced + b" " + b64encode(header_mac(file_key, macced)) + b"\n"


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def encrypt_payload(file_key: bytes, plaintext: bytes) -> bytes:
    """The STREAM payload: a 16-byte nonce, then ChaCha20-Poly1305 chunks of 64 KiB."""
    nonce = os.urandom(16)
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    chunks = [plaintext[i : i + CHUNK] for i in range(0, len(plaintext), CHUNK)] or [b""]
    out = [nonce]
    for i, chunk in enumerate(chunks):
        out.append(aead.encrypt(_chunk_nonce(i, i == len(chunks) - 1), chunk, None))
    return b"".join(out)


def decrypt_payload(file_key: bytes, payload: bytes) -> bytes:
    """The plaintext of a STREAM payload; raises on any damage or truncation."""
    nonce, body = payload[:16], payload[16:]
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    size = CHUNK + 16
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    if len(nonce) != 16 or not chunks:
        raise ValueError("truncated payload")
    return b"".join(
        aead.decrypt(_chunk_nonce(i, i == len(chunks) - 1), c, None) for i, c in enumerate(chunks)
    )


def encrypt(file_key: bytes, stanzas: list[Stanza], plaintext: bytes) -> bytes:
    """A whole age v1 file."""
    return encode_header(stanzas, file_key) + encrypt_payload(file_key, plaintext)
