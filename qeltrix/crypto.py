"""Every key derivation, AEAD and MAC call of the V6 format, in one place.

The construction is specified in words in ``spec/qeltrix_v6.ksy`` (top-level ``doc``); the labels
below are the ones it names. Only the ``cryptography`` library is used for primitives (plus the
standard library's ``hmac``/``hashlib`` for HMAC-SHA256 and SHA-256, which are the same OpenSSL
code). One exception, for speed: ``sha256_many`` hashes several blocks at once with the native
core's interleaved SHA-NI kernel (``cpp/sha256.cpp``; faster than OpenSSL's single stream where
the CPU has SHA extensions, see docs/benchmarks.md), which the tests hold to hashlib's digests; without SHA extensions it is hashlib.
"""

from __future__ import annotations

import os
import struct
import threading
import unicodedata
from typing import NamedTuple

from . import _core
from .errors import DamagedError, LimitError, WrongKeyError

__all__ = [
    "CIPHER_AES256_GCM",
    "CIPHER_CHACHA20_POLY1305",
    "CIPHER_NAMES",
    "compare_digest",
    "KDF_NONE",
    "KDF_ARGON2ID",
    "KDF_SCRYPT",
    "KEY_SIZE",
    "KdfParams",
    "FileKeys",
    "random_master_key",
    "derive_master_key",
    "new_kdf_params",
    "weak_kdf",
    "load_key_file",
    "sha256",
    "sha256_many",
    "blake3_many",
    "hash_many",
    "HASH_SHA256",
    "HASH_BLAKE3",
    "HASH_NAMES",
]

# The format's numbers have one home, the native core (cpp/format*.hpp, from the spec).
VERSION = _core.VERSION
VERSION_6_0 = _core.VERSION_6_0
VERSION_6_1 = _core.VERSION_6_1
KEY_SIZE = 32
IV_SIZE = _core.META_IV_SIZE
TAG_SIZE = _core.TAG_SIZE
CONTAINER_ID_SIZE = 32
SALT_SIZE = 32
KDF_SALT_SIZE = 16

CIPHER_AES256_GCM = _core.CIPHER_AES256_GCM
CIPHER_CHACHA20_POLY1305 = _core.CIPHER_CHACHA20_POLY1305
CIPHER_NAMES = {CIPHER_AES256_GCM: "AES-256-GCM", CIPHER_CHACHA20_POLY1305: "ChaCha20-Poly1305"}

KDF_NONE = _core.KDF_NONE
KDF_ARGON2ID = _core.KDF_ARGON2ID
KDF_SCRYPT = _core.KDF_SCRYPT
KDF_NAMES = {KDF_NONE: "none", KDF_ARGON2ID: "argon2id", KDF_SCRYPT: "scrypt"}

LABEL_FILE_KEY = b"qeltrix-v6 file key"
LABEL_WRAP = b"qeltrix-v6 key wrap"
LABEL_META = b"qeltrix-v6 metadata"
LABEL_HEADER_MAC = b"qeltrix-v6 header mac"
LABEL_FOOTER_MAC = b"qeltrix-v6 footer mac"
LABEL_COMMIT = b"qeltrix-v6 key commitment"
LABEL_BLOCK_KEY = b"qeltrix-v6 block key"
LABEL_PERMUTATION = b"qeltrix-v6 permutation"
LABEL_FILE_INFO = b"qeltrix-v6 file info"
LABEL_KEYRING_MAC = b"qeltrix-v6 keyring mac"
LABEL_RECIPIENT_TAG = b"qeltrix-v6 recipient tag"
RECIPIENT_TAG_SIZE = 16
LABEL_RAW_SLOT = b"qeltrix-v6 raw slot"
LABEL_PASSPHRASE_SLOT = b"qeltrix-v6 passphrase slot"
PERMUTATION_KEY_SIZE = 72
#: Wrapped file secret in a key slot: 32 bytes sealed with ChaCha20-Poly1305 (zero nonce).
WRAPPED_SECRET_SIZE = KEY_SIZE + TAG_SIZE
_ZERO_NONCE = bytes(IV_SIZE)

HASH_SHA256 = _core.HASH_SHA256
HASH_BLAKE3 = _core.HASH_BLAKE3
HASH_NAMES = {HASH_SHA256: "sha256", HASH_BLAKE3: "blake3"}

# Passphrase KDF: RFC 9106's second recommended option (t=3, 64 MiB, p=4).
ARGON2_DEFAULT = (3, 64 * 1024, 4)
# Readers refuse costs above these caps (a hostile header must not make us allocate 100 GiB).
ARGON2_MAX_T, ARGON2_MAX_M_KIB, ARGON2_MAX_P = 16, 1024 * 1024, 16
SCRYPT_MAX_MEMORY, SCRYPT_MAX_P = 1 << 30, 16

# Test-only: QELTRIX_INSECURE_TEST_KDF=1 makes *new* containers use a tiny Argon2id cost
# (t=1, 64 KiB, p=1) so a test suite can make hundreds of passphrase containers quickly, as
# age's tests do. It never lowers what a reader accepts or checks. It is refused (ValueError)
# outside a pytest run (pytest imported, or PYTEST_CURRENT_TEST inherited by a test's child
# process), so a shell or service left with it set fails loudly instead of writing weak
# containers; and ``info`` flags any container with a cost this low (``weak_kdf``).
TEST_KDF_ENV = "QELTRIX_INSECURE_TEST_KDF"
ARGON2_TEST = (1, 64, 1)
#: Passphrase KDF memory below which ``info`` warns (the default is 64 MiB).
WEAK_KDF_MEMORY = 8 << 20

_U64 = struct.Struct(">Q")

# The primitives (``cryptography``, and OpenSSL's hashlib/hmac) are imported on first use, by
# _primitives(): commands that need no key (info, inspect, a keyless verify) start without them.
_loaded = False


def _primitives() -> None:
    global _loaded, hashlib, hmac, InvalidTag, hashes, AESGCM, ChaCha20Poly1305, Argon2id, HKDF, HKDFExpand
    global Scrypt, _AEADS
    if _loaded:
        return
    import hashlib
    import hmac

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    _AEADS = {CIPHER_AES256_GCM: AESGCM, CIPHER_CHACHA20_POLY1305: ChaCha20Poly1305}
    _loaded = True


def compare_digest(a, b) -> bool:
    """``hmac.compare_digest`` (constant time), without importing OpenSSL's hashlib until used."""
    import hmac

    return hmac.compare_digest(a, b)


def random_master_key() -> bytes:
    """Return 32 random bytes from the OS CSPRNG: a new master key."""
    return os.urandom(KEY_SIZE)


def sha256(data) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()


def _sha256_many_hashlib(bufs) -> list:
    import hashlib

    return [hashlib.sha256(b).digest() for b in bufs]


#: True where ``sha256_many`` hashes several buffers side by side (SHA-NI lanes); hashing in
#: groups then pays (see ``pipeline.group_size``).
SHA256_LANES = bool(_core.SHA256_ACCELERATED)

#: SHA-256 of each buffer of a sequence (list of 32-byte digests, in order). Hash blocks in
#: groups of up to four with it: the lanes run side by side. Releases the GIL.
sha256_many = _core.sha256_many if SHA256_LANES else _sha256_many_hashlib


def blake3_many(bufs) -> list:
    """BLAKE3 (32-byte output) of each buffer, in order. The ``blake3`` package releases the GIL."""
    from blake3 import blake3

    return [blake3(b).digest() for b in bufs]


def hash_many(hash_id: int):
    """The ``*_many`` function of a header's hash id (SHA-256 or BLAKE3)."""
    if hash_id == HASH_SHA256:
        return sha256_many
    if hash_id == HASH_BLAKE3:
        return blake3_many
    raise ValueError(f"unknown hash id {hash_id!r}")


def check_master_key(mk) -> bytes:
    if not isinstance(mk, (bytes, bytearray, memoryview)):
        raise TypeError(f"master key must be bytes, not {type(mk).__name__}")
    mk = bytes(mk)
    if len(mk) != KEY_SIZE:
        raise ValueError(f"master key must be {KEY_SIZE} bytes, got {len(mk)}")
    return mk


def load_key_file(path) -> bytes:
    """Read a raw 32-byte key file (as written by ``qeltrix keygen``)."""
    with open(path, "rb") as f:
        data = f.read(KEY_SIZE + 1)
    if len(data) != KEY_SIZE:
        raise ValueError(f"key file {path} must hold exactly {KEY_SIZE} raw bytes")
    return data


class KdfParams(NamedTuple):
    """Passphrase KDF parameters as stored in the header."""

    kdf_id: int = KDF_NONE
    salt: bytes = bytes(KDF_SALT_SIZE)
    t: int = 0
    m: int = 0
    p: int = 0


def _insecure_test_kdf() -> bool:
    if not os.environ.get(TEST_KDF_ENV):
        return False
    import sys

    if "pytest" not in sys.modules and "PYTEST_CURRENT_TEST" not in os.environ:
        raise ValueError(f"{TEST_KDF_ENV} is set: it makes weak passphrase containers and is for "
                         "qeltrix's test suite only; unset it")
    return True


def new_kdf_params() -> KdfParams:
    t, m, p = ARGON2_TEST if _insecure_test_kdf() else ARGON2_DEFAULT
    return KdfParams(KDF_ARGON2ID, os.urandom(KDF_SALT_SIZE), t, m, p)


def weak_kdf(params: KdfParams) -> bool:
    """True for a passphrase KDF whose memory cost is below WEAK_KDF_MEMORY (such as the test
    setting's): offline guessing is cheap."""
    if params.kdf_id == KDF_ARGON2ID:
        return params.m * 1024 < WEAK_KDF_MEMORY
    if params.kdf_id == KDF_SCRYPT:
        return 128 * params.m * (1 << min(params.t, 62)) < WEAK_KDF_MEMORY
    return False


#: One process-wide gate around every passphrase KDF. OpenSSL's Argon2 runs its lanes in a thread
#: pool that ``cryptography`` sizes to the number of cores; two Argon2id derivations with 4 lanes
#: started at once on a 2-core machine each wait for pool threads the other holds, forever
#: (seen with cryptography 50.0.2 / OpenSSL 3.5). One KDF at a time also bounds the memory and CPU
#: that passphrase work can take in a server, whoever asks for it.
_KDF_GATE = threading.Lock()


def passphrase_bytes(passphrase, version: int = VERSION_6_1) -> bytes:
    """The bytes a passphrase stands for: 6.1 takes the UTF-8 of its NFC form (so the NFC and
    NFD spellings of one text are one passphrase), 6.0 the UTF-8 as given. Bytes pass as they are."""
    if isinstance(passphrase, str):
        if version != VERSION_6_0:
            passphrase = unicodedata.normalize("NFC", passphrase)
        passphrase = passphrase.encode("utf-8")
    if not isinstance(passphrase, (bytes, bytearray)):
        raise TypeError("passphrase must be str or bytes")
    if not passphrase:
        raise ValueError("empty passphrase")
    return bytes(passphrase)


def check_kdf_params(params: KdfParams) -> None:
    """LimitError unless the costs are within the spec's minimums and the readers' caps."""
    t, m, p = params.t, params.m, params.p
    if params.kdf_id == KDF_ARGON2ID:
        if not (1 <= t <= ARGON2_MAX_T and 1 <= p <= ARGON2_MAX_P and 8 * p <= m <= ARGON2_MAX_M_KIB):
            raise LimitError(f"Argon2id cost t={t} m={m}KiB p={p} is outside the accepted range")
    elif params.kdf_id == KDF_SCRYPT:
        if not (1 <= t <= 40 and 1 <= m and 1 <= p <= SCRYPT_MAX_P) or 128 * m * (1 << t) > SCRYPT_MAX_MEMORY:
            raise LimitError(f"scrypt cost logN={t} r={m} p={p} is outside the accepted range")
    else:
        raise ValueError("this container was made with a raw key, not a passphrase")


def derive_master_key(passphrase, params: KdfParams, version: int = VERSION_6_0) -> bytes:
    """The passphrase KDF's 32-byte output for ``params`` (6.0: the master key MK; 6.1: the input
    of a passphrase slot's KEK); refuses costs above the caps before any work.

    Thread-safe: derivations run one at a time in the process (see ``_KDF_GATE``)."""
    _primitives()
    passphrase = passphrase_bytes(passphrase, version)
    check_kdf_params(params)
    t, m, p = params.t, params.m, params.p
    if params.kdf_id == KDF_ARGON2ID:
        kdf = Argon2id(salt=params.salt, length=KEY_SIZE, iterations=t, lanes=p, memory_cost=m)
    else:
        kdf = Scrypt(salt=params.salt, length=KEY_SIZE, n=1 << t, r=m, p=p)
    with _KDF_GATE:
        return kdf.derive(bytes(passphrase))


def raw_slot_kek(master_key: bytes, container_id: bytes) -> bytes:
    """KEK of a 6.1 raw slot: HKDF(IKM = master key, salt = container id, "qeltrix-v6 raw slot")."""
    _primitives()
    return HKDF(hashes.SHA256(), KEY_SIZE, salt=bytes(container_id), info=LABEL_RAW_SLOT).derive(
        check_master_key(master_key))


def passphrase_slot_kek(kdf_output: bytes, container_id: bytes) -> bytes:
    """KEK of a 6.1 passphrase slot from the KDF's output (unique per container by its id)."""
    _primitives()
    return HKDF(hashes.SHA256(), KEY_SIZE, salt=bytes(container_id), info=LABEL_PASSPHRASE_SLOT).derive(
        bytes(kdf_output))


def wrap_secret(kek: bytes, secret: bytes) -> bytes:
    """A key slot's wrapped secret: ChaCha20-Poly1305 under ``kek``, zero nonce, no AAD (each KEK
    wraps one secret only)."""
    _primitives()
    return ChaCha20Poly1305(kek).encrypt(_ZERO_NONCE, bytes(secret), None)


def unwrap_secret(kek: bytes, wrapped) -> bytes | None:
    """The secret a slot wraps, or None when ``kek`` does not open it."""
    _primitives()
    try:
        return ChaCha20Poly1305(kek).decrypt(_ZERO_NONCE, bytes(wrapped), None)
    except InvalidTag:
        return None


def random_file_secret() -> bytes:
    """A 6.1 container's file secret S: 32 random bytes."""
    return os.urandom(KEY_SIZE)


def _expand(prk: bytes, label: bytes, length: int = KEY_SIZE) -> bytes:
    _primitives()
    return HKDFExpand(hashes.SHA256(), length, label).derive(prk)


class FileKeys:
    """The per-container key FK and its sub-keys; seals and opens blocks."""

    __slots__ = ("_fk", "container_id", "cipher_id", "block_size", "_wrap", "_meta",
                 "_header_mac_key", "_footer_mac_key", "commitment", "_aead", "_info", "version",
                 "_keyring_mac_key", "_recipient_tag_key", "block_hash_many", "secret")

    def __init__(self, master_key: bytes, container_id: bytes, cipher_id: int, block_size: int,
                 version: int = VERSION_6_0, block_hash: int = HASH_SHA256):
        """``master_key`` is the file secret S: the master key MK in 6.0, the random secret the
        keyring wraps in 6.1."""
        _primitives()
        if cipher_id not in CIPHER_NAMES:
            raise ValueError(f"unknown cipher id {cipher_id}")
        if version not in (VERSION_6_0, VERSION_6_1):
            raise ValueError(f"unknown format version {version:#x}")
        if version == VERSION_6_0 and block_hash != HASH_SHA256:
            raise ValueError("format 6.0 hashes blocks with SHA-256")
        self.version = version
        self.secret = bytes(master_key)
        info = LABEL_FILE_KEY + struct.pack(">HBI", version, cipher_id, block_size)
        self._fk = HKDF(hashes.SHA256(), KEY_SIZE, salt=bytes(container_id), info=info).derive(master_key)
        self._keyring_mac_key = _expand(self._fk, LABEL_KEYRING_MAC)
        self._recipient_tag_key = _expand(self._fk, LABEL_RECIPIENT_TAG)
        self.block_hash_many = hash_many(block_hash)
        self.container_id = bytes(container_id)
        self.cipher_id = cipher_id
        self.block_size = block_size
        self._wrap = AESGCM(_expand(self._fk, LABEL_WRAP))
        self._meta = AESGCM(_expand(self._fk, LABEL_META))
        self._header_mac_key = _expand(self._fk, LABEL_HEADER_MAC)
        self._footer_mac_key = _expand(self._fk, LABEL_FOOTER_MAC)
        self.commitment = _expand(self._fk, LABEL_COMMIT)
        self._info = AESGCM(_expand(self._fk, LABEL_FILE_INFO))
        self._aead = _AEADS[cipher_id]

    # -- header and footer -------------------------------------------------------------------
    def check_commitment(self, stored: bytes) -> None:
        if not hmac.compare_digest(self.commitment, bytes(stored)):
            raise WrongKeyError()

    def header_mac(self, header_prefix) -> bytes:
        return hmac.digest(self._header_mac_key, header_prefix, "sha256")

    def keyring_mac(self, header_mac: bytes, copy_without_mac) -> bytes:
        return hmac.new(self._keyring_mac_key, bytes(header_mac) + bytes(copy_without_mac), "sha256").digest()

    def recipient_tag(self, public_key: bytes) -> bytes:
        """Which X25519 recipient a slot is for, as only holders of the file secret can tell."""
        return hmac.digest(self._recipient_tag_key, bytes(public_key), "sha256")[:RECIPIENT_TAG_SIZE]

    def footer_mac(self, header_mac: bytes, footer_head24, entries) -> bytes:
        h = hmac.new(self._footer_mac_key, header_mac, "sha256")
        h.update(footer_head24)
        h.update(entries)
        return h.digest()

    def seal_info(self, iv: bytes, info_plain: bytes) -> bytes:
        return iv + self._info.encrypt(iv, info_plain, self.container_id)

    def open_info(self, sealed) -> bytes:
        sealed = bytes(sealed)
        try:
            return self._info.decrypt(sealed[:IV_SIZE], sealed[IV_SIZE:], self.container_id)
        except InvalidTag:
            raise DamagedError("file info failed authentication") from None

    # -- blocks ------------------------------------------------------------------------------
    def block_key(self, salt: bytes, index: int, pt_hash: bytes) -> bytes:
        info = LABEL_BLOCK_KEY + _U64.pack(index) + pt_hash
        return HKDF(hashes.SHA256(), KEY_SIZE, salt=salt, info=info).derive(self._fk)

    def permutation_key(self, cdk: bytes, salt: bytes, index: int, pt_hash: bytes) -> bytes:
        """The block's permutation key: 6.0 expands CDK; 6.1 derives it from FK with its own
        label, so that no key is both an AEAD key and a KDF input."""
        if self.version == VERSION_6_0:
            return _expand(cdk, LABEL_PERMUTATION, PERMUTATION_KEY_SIZE)
        info = LABEL_PERMUTATION + _U64.pack(index) + pt_hash
        return HKDF(hashes.SHA256(), PERMUTATION_KEY_SIZE, salt=salt, info=info).derive(self._fk)

    def wrap_cdk(self, iv: bytes, cdk: bytes, index: int) -> bytes:
        return self._wrap.encrypt(iv, cdk, self.container_id + _U64.pack(index))

    def unwrap_cdk(self, iv: bytes, wrapped: bytes, index: int) -> bytes:
        try:
            return self._wrap.decrypt(iv, wrapped, self.container_id + _U64.pack(index))
        except InvalidTag:
            raise DamagedError(f"block {index}: wrapped key failed authentication", index) from None

    def seal_meta(self, iv: bytes, meta_plain: bytes, prefix: bytes, out) -> None:
        self._meta.encrypt_into(iv, meta_plain, self.container_id + prefix, out)

    def open_meta(self, iv, sealed, prefix, index: int) -> bytes:
        try:
            return self._meta.decrypt(bytes(iv), bytes(sealed), self.container_id + bytes(prefix))
        except InvalidTag:
            raise DamagedError(f"block {index}: metadata failed authentication", index) from None

    def payload_aad(self, index: int, final: bool) -> bytes:
        return self.container_id + _U64.pack(index) + bytes((1 if final else 0, self.cipher_id))

    def seal_payload(self, cdk: bytes, iv: bytes, data, aad: bytes, out) -> None:
        self._aead(cdk).encrypt_into(iv, data, aad, out)

    def open_payload(self, cdk: bytes, iv: bytes, sealed, aad: bytes, out, index: int) -> None:
        try:
            self._aead(cdk).decrypt_into(iv, sealed, aad, out)
        except InvalidTag:
            # decrypt_into writes the plaintext before it checks the tag: leave none of it
            view = memoryview(out).cast("B")
            view[:] = bytes(len(view))
            raise DamagedError(f"block {index}: payload failed authentication", index) from None

    def check_block_key(self, cdk: bytes, salt: bytes, index: int, pt_hash: bytes) -> None:
        """The unwrapped CDK must be the one derived from FK, the block salt, its index and the
        block hash just checked: the binding to content and position, enforced on read."""
        if not hmac.compare_digest(self.block_key(salt, index, pt_hash), bytes(cdk)):
            raise DamagedError(f"block {index}: block key does not match its content and position", index)
