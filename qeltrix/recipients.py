"""age's X25519 recipients and identities, byte-compatible with age v1 (https://c2sp.org/age).

A recipient is a Curve25519 public key written ``age1…``; an identity is its secret key written
``AGE-SECRET-KEY-1…``, both in Bech32 (BIP 173, without its 90-character limit), exactly as
``age-keygen`` prints them. :func:`wrap_file_key` is age's X25519 stanza construction:

    share   = X25519(ephemeral secret, basepoint)
    shared  = X25519(ephemeral secret, recipient)        (all zero: refused)
    key     = HKDF-SHA256(shared, salt = share || recipient, info = "age-encryption.org/v1/X25519")
    wrapped = ChaCha20-Poly1305(key, nonce = 12 zero bytes, file key)

so a file key wrapped here opens with ``age -d -i`` and one wrapped by ``age -r`` opens here.
Bad keys and key files raise :class:`RecipientError` (a ``ValueError``); its messages name the
file and line and never contain a secret key.
"""

from __future__ import annotations

import hmac
import os
from typing import IO, Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "X25519_LABEL",
    "RecipientError",
    "X25519Recipient",
    "X25519Identity",
    "wrap_file_key",
    "unwrap_file_key",
    "load_identities",
    "load_recipients",
    "parse_recipient_arg",
    "bech32_encode",
    "bech32_decode",
]

X25519_LABEL = b"age-encryption.org/v1/X25519"
"""The HKDF info of age's X25519 stanza."""

_RECIPIENT_HRP = "age"
_IDENTITY_HRP = "AGE-SECRET-KEY-"
_KEY_SIZE = 32
_TAG_SIZE = 16
_FILE_LIMIT = 1 << 24  # as age: a key file larger than 16 MiB is not a key file

Source = Union[str, bytes, "os.PathLike[str]", IO[str], IO[bytes]]


class RecipientError(ValueError):
    """A malformed age recipient, identity, key file or stanza. Never contains a secret."""


# --- Bech32 (BIP 173), as age uses it: any length, one case, checksum over the lower case

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(_GENERATOR):
            if top >> i & 1:
                chk ^= g
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = bits = 0
    maxv = (1 << tobits) - 1
    out = []
    for value in data:
        acc = (acc << frombits | value) & 0xFFFF
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append(acc >> bits & maxv)
    if pad:
        if bits:
            out.append(acc << (tobits - bits) & maxv)
    elif bits >= frombits:
        raise RecipientError("malformed Bech32: too many padding bits")
    elif acc << (tobits - bits) & maxv:
        raise RecipientError("malformed Bech32: non-zero padding bits")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Bech32 of ``data`` (bytes) under ``hrp``; upper case if ``hrp`` is, as age writes."""
    if not hrp or any(not 33 <= ord(c) <= 126 for c in hrp):
        raise ValueError("a Bech32 human-readable part is 1 or more printable ASCII characters")
    if hrp not in (hrp.lower(), hrp.upper()):
        raise ValueError("a Bech32 human-readable part is all lower or all upper case")
    lower = hrp.lower()
    values = _convert_bits(bytes(data), 8, 5, True)
    mod = _polymod(_hrp_expand(lower) + values + [0] * 6) ^ 1
    values += [mod >> 5 * (5 - i) & 31 for i in range(6)]
    s = lower + "1" + "".join(_CHARSET[v] for v in values)
    return s if hrp == lower else s.upper()


def bech32_decode(s: str) -> tuple[str, bytes]:
    """``(hrp, data)`` of a Bech32 string; the hrp keeps the string's case. Raises RecipientError.

    The messages give positions, never characters, so a mistyped secret key is not echoed.
    """
    if not isinstance(s, str):
        raise TypeError("a Bech32 string is a str")
    for i, c in enumerate(s):
        if not 33 <= ord(c) <= 126:
            raise RecipientError(f"malformed Bech32: character {i + 1} is not printable ASCII")
    if s not in (s.lower(), s.upper()):
        raise RecipientError("malformed Bech32: mixed upper and lower case")
    pos = s.rfind("1")
    if pos < 1:
        raise RecipientError("malformed Bech32: no human-readable part before the '1' separator")
    if pos + 7 > len(s):
        raise RecipientError("malformed Bech32: too short for its 6-character checksum")
    hrp, lower = s[:pos], s.lower()
    values = []
    for i in range(pos + 1, len(s)):
        v = _CHARSET.find(lower[i])
        if v < 0:
            raise RecipientError(f"malformed Bech32: character {i + 1} is not in its alphabet")
        values.append(v)
    if _polymod(_hrp_expand(lower[:pos]) + values) != 1:
        raise RecipientError("malformed Bech32: bad checksum (a mistyped or truncated key?)")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, False))


# --- Keys


class X25519Recipient:
    """An age X25519 public key (``age1…``). ``X25519Recipient(public_bytes)`` or :meth:`parse`.

    Low-order points, to which nobody could decrypt (age refuses them when it encrypts), are
    refused here already.
    """

    __slots__ = ("_public", "_key")

    def __init__(self, public_bytes: bytes) -> None:
        public = bytes(public_bytes)
        if len(public) != _KEY_SIZE:
            raise RecipientError(f"an X25519 recipient is 32 bytes, not {len(public)}")
        self._public = public
        self._key = X25519PublicKey.from_public_bytes(public)
        _exchange(
            _PROBE, self._key, "this recipient is a low-order point that no one can decrypt for"
        )

    @classmethod
    def parse(cls, s: str) -> X25519Recipient:
        """Parse an ``age1…`` string as age does (lower case only). Raises RecipientError."""
        if not isinstance(s, str):
            raise TypeError("a recipient is a str")
        if s.upper().startswith(_IDENTITY_HRP):
            raise RecipientError(
                "this is a secret key (identity), not a recipient: give its public key, "
                "which `age-keygen -y` prints"
            )
        if not s.lower().startswith("age1"):
            raise RecipientError("not an age recipient (expected age1…)")
        if s.startswith("age1pq1"):
            raise RecipientError("post-quantum age recipients (age1pq1…) are not supported")
        try:
            hrp, data = bech32_decode(s)
        except RecipientError as e:
            raise RecipientError(f"not an age recipient: {e}") from None
        if hrp == "AGE":
            raise RecipientError("an age recipient is written in lower case (age1…)")
        if hrp != _RECIPIENT_HRP:
            raise RecipientError(f"not an age X25519 recipient: type {hrp!r}, expected 'age1…'")
        if len(data) != _KEY_SIZE:
            raise RecipientError(f"not an age recipient: it holds {len(data)} bytes, not 32")
        return cls(data)

    @property
    def public_bytes(self) -> bytes:
        """The 32-byte Curve25519 point."""
        return self._public

    def encode(self) -> str:
        """The ``age1…`` encoding, as ``age-keygen`` prints it."""
        return bech32_encode(_RECIPIENT_HRP, self._public)

    __str__ = encode

    def __repr__(self) -> str:
        return f"X25519Recipient({self.encode()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, X25519Recipient):
            return NotImplemented
        return self._public == other._public

    def __hash__(self) -> int:
        return hash(self._public)


class X25519Identity:
    """An age X25519 secret key (``AGE-SECRET-KEY-1…``). Its repr shows only its recipient."""

    __slots__ = ("_secret", "_key", "_recipient")

    def __init__(self, secret_bytes: bytes) -> None:
        secret = bytes(secret_bytes)
        if len(secret) != _KEY_SIZE:
            raise RecipientError(f"an X25519 identity is 32 bytes, not {len(secret)}")
        self._secret = secret
        self._key = X25519PrivateKey.from_private_bytes(secret)
        self._recipient = X25519Recipient(self._key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> X25519Identity:
        """A new random identity, as ``age-keygen`` makes one."""
        return cls(os.urandom(_KEY_SIZE))

    @classmethod
    def parse(cls, s: str) -> X25519Identity:
        """Parse an ``AGE-SECRET-KEY-1…`` string as age does (upper case only)."""
        if not isinstance(s, str):
            raise TypeError("an identity is a str")
        if s.startswith("age1"):
            raise RecipientError(
                "not an age identity: this is a recipient (public key), not a secret key"
            )
        if s.startswith("AGE-SECRET-KEY-PQ-1"):
            raise RecipientError(
                "post-quantum age identities (AGE-SECRET-KEY-PQ-1…) are not supported"
            )
        if s.startswith("AGE-PLUGIN-"):
            raise RecipientError("age plugin identities (AGE-PLUGIN-…) are not supported")
        if not s.upper().startswith("AGE-SECRET-KEY-1"):
            raise RecipientError("not an age identity (expected AGE-SECRET-KEY-1…)")
        try:
            hrp, data = bech32_decode(s)
        except RecipientError as e:
            raise RecipientError(f"not an age identity: {e}") from None
        if hrp != _IDENTITY_HRP:
            raise RecipientError("an age identity is written in upper case (AGE-SECRET-KEY-1…)")
        if len(data) != _KEY_SIZE:
            raise RecipientError(f"not an age identity: it holds {len(data)} bytes, not 32")
        return cls(data)

    @property
    def recipient(self) -> X25519Recipient:
        """The public key that files for this identity are encrypted to."""
        return self._recipient

    def encode(self) -> str:
        """The secret ``AGE-SECRET-KEY-1…`` encoding, upper case as ``age-keygen`` writes it."""
        return bech32_encode(_IDENTITY_HRP, self._secret)

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={self._recipient.encode()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, X25519Identity):
            return NotImplemented
        return hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self._recipient)


_PROBE = X25519PrivateKey.from_private_bytes(bytes([9]) * _KEY_SIZE)


def _exchange(private: X25519PrivateKey, public: X25519PublicKey, why: str) -> bytes:
    try:
        shared = private.exchange(public)
    except ValueError:  # OpenSSL refuses an all-zero shared secret
        raise RecipientError(why) from None
    if not any(shared):
        raise RecipientError(why)
    return shared


def _wrap_key(shared: bytes, share: bytes, recipient: bytes) -> ChaCha20Poly1305:
    key = HKDF(hashes.SHA256(), 32, salt=share + recipient, info=X25519_LABEL).derive(shared)
    return ChaCha20Poly1305(key)


def wrap_file_key(recipient: X25519Recipient, file_key: bytes) -> tuple[bytes, bytes]:
    """Wrap ``file_key`` for ``recipient`` as age's X25519 stanza does.

    Returns ``(ephemeral share, wrapped)``: the 32-byte share (the stanza's argument) and the
    ChaCha20-Poly1305 body, ``len(file_key) + 16`` bytes. A fresh ephemeral key every call.
    """
    if not isinstance(recipient, X25519Recipient):
        raise TypeError("wrap_file_key needs an X25519Recipient")
    file_key = bytes(file_key)
    if not file_key:
        raise ValueError("the file key is empty")
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared = _exchange(ephemeral, recipient._key, "this recipient is a low-order point")
    aead = _wrap_key(shared, share, recipient.public_bytes)
    return share, aead.encrypt(bytes(12), file_key, None)


def unwrap_file_key(
    identity: X25519Identity, share: bytes, wrapped: bytes, *, file_key_size: int | None = None
) -> bytes | None:
    """The file key that ``wrapped`` holds, or None if ``identity`` does not open it.

    Raises RecipientError on a share that is not 32 bytes, a body too short for a tag (or not
    ``file_key_size + 16`` bytes when that is given, which age checks before decrypting), or a
    low-order share, where age aborts rather than trying the next stanza.
    """
    if not isinstance(identity, X25519Identity):
        raise TypeError("unwrap_file_key needs an X25519Identity")
    share, wrapped = bytes(share), bytes(wrapped)
    if len(share) != _KEY_SIZE:
        raise RecipientError(f"an X25519 ephemeral share is 32 bytes, not {len(share)}")
    if file_key_size is not None and len(wrapped) != file_key_size + _TAG_SIZE:
        want = file_key_size + _TAG_SIZE
        raise RecipientError(
            f"a wrapped {file_key_size}-byte file key is {want} bytes, not {len(wrapped)}"
        )
    if len(wrapped) <= _TAG_SIZE:
        raise RecipientError(f"a wrapped file key is more than 16 bytes, not {len(wrapped)}")
    shared = _exchange(
        identity._key,
        X25519PublicKey.from_public_bytes(share),
        "the ephemeral share is a low-order point",
    )
    try:
        return _wrap_key(shared, share, identity.recipient.public_bytes).decrypt(
            bytes(12), wrapped, None
        )
    except InvalidTag:
        return None


# --- Key files, as age-keygen writes them and age reads them


def _looks_like_text(s: str) -> bool:
    """Whether a str given as a key file is its text rather than a path: never open a key as a
    path, or an OSError would show it."""
    head = s.lstrip()
    return (
        "\n" in s
        or "\r" in s
        or not head
        or head.startswith(("#", "age-encryption.org/", "-----BEGIN"))
        or head.upper().startswith(("AGE-SECRET-KEY-", "AGE-PLUGIN-"))
        or (head.lower().startswith("age1") and head.strip().isalnum())
    )


def _read(path_or_text: Source, source: str | None, what: str) -> tuple[str, str]:
    """(text, name for messages) of a path, a file object, bytes, or the text itself."""
    if hasattr(path_or_text, "read"):
        data = path_or_text.read(_FILE_LIMIT + 1)  # type: ignore[union-attr]
        name = source or getattr(path_or_text, "name", None) or f"<{what}>"
    elif isinstance(path_or_text, (bytes, bytearray, memoryview)):
        data, name = bytes(path_or_text), source or f"<{what}>"
    elif isinstance(path_or_text, str) and _looks_like_text(path_or_text):
        data, name = path_or_text, source or f"<{what}>"
    elif isinstance(path_or_text, (str, os.PathLike)):
        name = source or os.fspath(path_or_text)
        with open(path_or_text, "rb") as f:
            data = f.read(_FILE_LIMIT + 1)
    else:
        raise TypeError(
            f"{what}: a path, a file object, bytes or str, not {type(path_or_text).__name__}"
        )
    name = str(name)
    if len(data) > _FILE_LIMIT:
        raise RecipientError(f"{name}: larger than 16 MiB, not an age {what} file")
    head = data[:64] if isinstance(data, str) else bytes(data[:64]).decode("latin-1")
    if head.lstrip().startswith(("age-encryption.org/", "-----BEGIN AGE ENCRYPTED FILE-----")):
        raise RecipientError(
            f"{name}: this {what} file is encrypted with age; decrypt it first (age -d)"
        )
    if not isinstance(data, str):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise RecipientError(f"{name}: not UTF-8 text, not an age {what} file") from None
    return data, name


def _lines(text: str, name: str):
    """(line number, content) of every line that is not empty or a '#' comment.

    As age: lines end in LF or CRLF, and a key line has nothing else on it, not even spaces.
    """
    for n, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if line and not line.startswith("#"):
            if line != line.strip():
                raise RecipientError(f"{name}:{n}: spaces around a key (age does not allow them)")
            yield n, line


def load_identities(path_or_text: Source, *, source: str | None = None) -> list[X25519Identity]:
    """Every identity in an identity file as ``age-keygen`` writes it (``#`` comments, blank
    lines, several keys). ``path_or_text``: a path, a file object, bytes, or the text itself (a
    str with a line break, or that starts with a key or ``#``). ``source`` names it in messages.
    """
    text, name = _read(path_or_text, source, "identity")
    found = []
    for n, line in _lines(text, name):
        if line.startswith("-----BEGIN"):
            raise RecipientError(
                f"{name}:{n}: SSH keys are not supported; use a key from age-keygen"
            )
        try:
            found.append(X25519Identity.parse(line))
        except RecipientError as e:
            raise RecipientError(f"{name}:{n}: {e}") from None
    if not found:
        raise RecipientError(f"{name}: no identities found")
    return found


def load_recipients(path_or_text: Source, *, source: str | None = None) -> list[X25519Recipient]:
    """Every recipient in a recipients file: one ``age1…`` a line, ``#`` comments, blank lines.
    ``path_or_text`` and ``source`` as for :func:`load_identities`.
    """
    text, name = _read(path_or_text, source, "recipients")
    found = []
    for n, line in _lines(text, name):
        try:
            found.append(parse_recipient_arg(line))
        except RecipientError as e:
            raise RecipientError(f"{name}:{n}: {e}") from None
    if not found:
        raise RecipientError(f"{name}: no recipients found")
    return found


def parse_recipient_arg(s: str) -> X25519Recipient:
    """A recipient given on the command line (``-r age1…``). Raises RecipientError."""
    if not isinstance(s, str):
        raise TypeError("a recipient is a str")
    if s.startswith(("ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-")):
        raise RecipientError("SSH recipients are not supported; use an age1… key from age-keygen")
    return X25519Recipient.parse(s)
