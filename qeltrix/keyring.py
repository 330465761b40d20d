"""Key slots of a 6.1 container: who may open it (recipients) and opening it (secrets).

A 6.1 container is sealed under a random file secret S; its keyring (two copies right after the
header, spec: "6.1 keyring") wraps S once per recipient: a raw 32-byte key, a passphrase
(Argon2id or scrypt, its own salt and costs per slot) or an age X25519 recipient. Writers turn
what the user gave into :class:`Recipient` values once (a passphrase's KDF runs here, once, however
many containers follow), then wrap S for each new container (:func:`make_slots`). Readers try the
secrets they hold on the slots of the matching type (:func:`open_keyring`); every KDF and AEAD
call is in :mod:`qeltrix.crypto` (and :mod:`qeltrix.recipients` for age's X25519).
"""

from __future__ import annotations

import struct
from typing import Callable, NamedTuple

from . import _core
from .crypto import (KDF_ARGON2ID, KDF_SCRYPT, KDF_SALT_SIZE, KEY_SIZE, VERSION_6_1, FileKeys, KdfParams,
                     check_kdf_params, check_master_key, compare_digest, derive_master_key, new_kdf_params,
                     passphrase_bytes, passphrase_slot_kek, raw_slot_kek, unwrap_secret, wrap_secret)
from .errors import DamagedError, LimitError, WrongKeyError

__all__ = ["DEFAULT_SLOTS", "Recipient", "Secrets", "Opened", "prepare_recipients", "make_slots",
           "encode_copy", "decode_copies", "open_keyring", "slot_kind", "slot_kdf_params",
           "first_passphrase_params", "WRONG_SECRET"]

#: Slots in each keyring copy unless the writer asks for more or fewer (``--keyring-slots``).
DEFAULT_SLOTS = 16
WRONG_SECRET = "wrong key or passphrase: no identity or passphrase opens this container"

SLOT_NAMES = {_core.SLOT_RAW: "raw", _core.SLOT_ARGON2ID: "argon2id", _core.SLOT_SCRYPT: "scrypt",
              _core.SLOT_X25519: "x25519"}
_KDF_SLOT = {KDF_ARGON2ID: _core.SLOT_ARGON2ID, KDF_SCRYPT: _core.SLOT_SCRYPT}
_SLOT_KDF = {v: k for k, v in _KDF_SLOT.items()}
_COSTS = struct.Struct(">III")


def slot_kind(slot_type: int) -> str:
    return SLOT_NAMES.get(slot_type, f"unknown({slot_type})")


def slot_kdf_params(slot_type: int, body) -> KdfParams | None:
    """A passphrase slot's KDF parameters (salt and costs); None for other slot types."""
    kdf = _SLOT_KDF.get(slot_type)
    if kdf is None:
        return None
    t, m, p = _COSTS.unpack_from(body, KDF_SALT_SIZE)
    return KdfParams(kdf, bytes(body[:KDF_SALT_SIZE]), t, m, p)


def first_passphrase_params(copy) -> KdfParams | None:
    """The KDF parameters of a keyring copy's first passphrase slot (None without one)."""
    return next((p for p in (slot_kdf_params(t, b) for t, b in copy.slots) if p is not None), None)


class Recipient(NamedTuple):
    """One way to open a container, ready to wrap a file secret: ``kind`` is "raw" (``key``),
    "passphrase" (``params`` and the KDF's ``kdf_output``, computed once) or "x25519"
    (``recipient``, an :class:`qeltrix.recipients.X25519Recipient`)."""

    kind: str
    key: bytes | None = None
    params: KdfParams | None = None
    kdf_output: bytes | None = None
    recipient: object = None

    def __repr__(self) -> str:  # never the key or the KDF output
        if self.kind == "x25519":
            return f"Recipient(x25519, {self.recipient})"
        if self.kind == "passphrase":
            return f"Recipient(passphrase, kdf={self.params.kdf_id})"
        return "Recipient(raw key)"


def _as_x25519(r):
    from .recipients import X25519Recipient

    if isinstance(r, X25519Recipient):
        return r
    if isinstance(r, str):
        return X25519Recipient.parse(r)
    raise TypeError(f"a recipient is an age1... string or an X25519Recipient, not {type(r).__name__}")


def prepare_recipients(master_key=None, passphrase=None, recipients=(), *, kdf_params: KdfParams | None = None,
                       derive: Callable = derive_master_key) -> list[Recipient]:
    """The recipients of new containers: a raw key, a passphrase (its KDF runs now, once, with
    ``kdf_params`` or new default parameters) and age X25519 recipients, in any mix; at least one."""
    out: list[Recipient] = []
    if master_key is not None:
        out.append(Recipient("raw", key=check_master_key(master_key)))
    if passphrase is not None:
        params = kdf_params or new_kdf_params()
        check_kdf_params(params)
        out.append(Recipient("passphrase", params=params,
                             kdf_output=derive(passphrase_bytes(passphrase, VERSION_6_1), params)))
    for r in recipients or ():
        if isinstance(r, Recipient):
            out.append(r)
        else:
            out.append(Recipient("x25519", recipient=_as_x25519(r)))
    if not out:
        raise ValueError("a master key, a passphrase or a recipient is required")
    return out


def make_slots(recipients: list[Recipient], keys: FileKeys) -> list[tuple[int, bytes]]:
    """(slot_type, body) for each recipient, each wrapping the container's secret."""
    container_id, secret = keys.container_id, keys.secret
    slots = []
    for r in recipients:
        if r.kind == "raw":
            slots.append((_core.SLOT_RAW, wrap_secret(raw_slot_kek(r.key, container_id), secret)))
        elif r.kind == "passphrase":
            p = r.params
            body = (bytes(p.salt) + _COSTS.pack(p.t, p.m, p.p)
                    + wrap_secret(passphrase_slot_kek(r.kdf_output, container_id), secret))
            slots.append((_KDF_SLOT[p.kdf_id], body))
        elif r.kind == "x25519":
            from .recipients import wrap_file_key

            share, wrapped = wrap_file_key(r.recipient, secret)
            tag = keys.recipient_tag(r.recipient.public_bytes)
            slots.append((_core.SLOT_X25519, share + wrapped + tag))
        else:
            raise ValueError(f"unknown recipient kind {r.kind!r}")
    return slots


def encode_copy(keys: FileKeys, header_mac: bytes, num_slots: int, generation: int, slots) -> bytes:
    """One keyring copy with its MAC."""
    if len(slots) > num_slots:
        raise ValueError(f"{len(slots)} key slots do not fit a keyring of {num_slots} "
                         "(make the container with a larger --keyring-slots)")
    raw = _core.encode_keyring_copy(num_slots, generation, list(slots), bytes(32))
    return raw[:-32] + keys.keyring_mac(header_mac, raw[:-32])


class Copy(NamedTuple):
    """A structurally valid keyring copy: which one (0 = A, 1 = B), its generation and slots."""

    which: int
    generation: int
    slots: list
    raw: bytes


def decode_copies(header, keyring: bytes) -> list[Copy]:
    """Both copies, structurally checked; a malformed copy is left out (a torn write), and
    DamagedError when neither is sound. Ordered as readers try them: newest generation first."""
    size = header.keyring_copy_size
    if len(keyring) != 2 * size:
        raise DamagedError("the keyring is truncated")
    copies, errors = [], []
    for which in (0, 1):
        raw = bytes(keyring[which * size:(which + 1) * size])
        try:
            generation, slots, _mac = _core.decode_keyring_copy(raw, header.keyring_slots)
        except DamagedError as e:
            errors.append(f"copy {'AB'[which]}: {e}")
            continue
        copies.append(Copy(which, generation, slots, raw))
    if not copies:
        raise DamagedError("keyring damaged in both copies (" + "; ".join(errors) + ")")
    copies.sort(key=lambda c: (-c.generation, c.which))
    return copies


class Secrets(NamedTuple):
    """What a reader holds: a raw key, a passphrase, age identities (any of them)."""

    master_key: bytes | None = None
    passphrase: object = None
    identities: tuple = ()

    def __repr__(self) -> str:
        return (f"Secrets(key={'yes' if self.master_key is not None else 'no'}, "
                f"passphrase={'yes' if self.passphrase is not None else 'no'}, "
                f"identities={len(self.identities)})")

    def __bool__(self) -> bool:
        return self.master_key is not None or self.passphrase is not None or bool(self.identities)


class Opened(NamedTuple):
    """An opened keyring: the container's keys, the copy that opened it and the slot used."""

    keys: FileKeys
    copy: Copy
    slot: int
    copies: list


def _candidates(secrets: Secrets, slot_type: int, body: bytes, container_id: bytes, derive, kdf_cache,
                skipped: list):
    """Secrets S that this slot yields for what the reader holds (usually none or one)."""
    if slot_type == _core.SLOT_RAW and secrets.master_key is not None:
        s = unwrap_secret(raw_slot_kek(secrets.master_key, container_id), body)
        if s is not None:
            yield s
    elif slot_type in _SLOT_KDF and secrets.passphrase is not None:
        params = slot_kdf_params(slot_type, body)
        try:
            check_kdf_params(params)
        except LimitError as e:
            skipped.append(e)
            return
        out = kdf_cache.get(params)
        if out is None:
            try:  # a server's derive refuses parameters it was not configured with (no KDF runs)
                out = kdf_cache[params] = derive(secrets.passphrase, params, VERSION_6_1)
            except WrongKeyError as e:
                skipped.append(e)
                return
        s = unwrap_secret(passphrase_slot_kek(out, container_id), body[KDF_SALT_SIZE + _COSTS.size:])
        if s is not None:
            yield s
    elif slot_type == _core.SLOT_X25519 and secrets.identities:
        from .recipients import RecipientError, unwrap_file_key

        for identity in secrets.identities:
            try:
                s = unwrap_file_key(identity, bytes(body[:32]), bytes(body[32:80]), file_key_size=KEY_SIZE)
            except RecipientError:  # a low-order share: a slot nobody can open; try the others
                continue
            if s is not None:
                yield s


def _try_copy(copy: Copy, header, mac_input: bytes, secrets: Secrets, cid: bytes, derive, kdf_cache, skipped):
    """Opened when a slot of ``copy`` gives the container's secret and the copy's MAC holds;
    True when a slot gave it but the MAC fails; False when no slot opens with our secrets."""
    for j, (slot_type, body) in enumerate(copy.slots):
        for s in _candidates(secrets, slot_type, body, cid, derive, kdf_cache, skipped):
            keys = FileKeys(s, cid, header.cipher_id, header.block_size, VERSION_6_1, header.block_hash)
            if not compare_digest(keys.commitment, bytes(header.key_commitment)):
                continue  # a slot that wraps another secret: not this container's
            if not compare_digest(keys.header_mac(mac_input), bytes(header.header_mac)):
                raise DamagedError("header failed authentication")
            raw = copy.raw
            if not compare_digest(keys.keyring_mac(header.header_mac, raw[:-32]), raw[-32:]):
                return True
            return Opened(keys, copy, j, [])
    return False


def open_keyring(header, header_bytes: bytes, keyring: bytes, secrets: Secrets,
                 derive: Callable = derive_master_key) -> Opened:
    """Open a 6.1 container's keyring with ``secrets`` (spec: "Opening a 6.1 container").

    Copies are tried newest first; a slot's secret S is accepted only if the key commitment,
    the header MAC and that copy's keyring MAC all verify. WrongKeyError when nothing opens it;
    DamagedError when S is right but the header or both copies fail authentication."""
    if not secrets:
        raise WrongKeyError("this container needs a key, a passphrase or an identity")
    copies = decode_copies(header, keyring)
    cid = bytes(header.container_id)
    kdf_cache: dict = {}
    skipped: list = []
    tampered: list[Copy] = []
    unopened: list[Copy] = []
    mac_input = _core.header61_mac_input(header_bytes)
    for copy in copies:
        state = _try_copy(copy, header, mac_input, secrets, cid, derive, kdf_cache, skipped)
        if isinstance(state, Opened):
            return state._replace(copies=copies)
        (tampered if state else unopened).append(copy)
    # A copy that our secret opened but whose MAC fails was changed without the file key, or torn
    # by a crash in a rekey. If the other copy is sound-looking but does not know our secret, the
    # keyring is in a state without it (a rekey that never committed, or one that removed it): a
    # wrong secret. Damage only when every copy that knows it fails its MAC.
    if tampered and not unopened:
        raise DamagedError("keyring failed authentication (changed by someone without the file key)")
    if skipped:
        raise skipped[0]
    raise WrongKeyError(WRONG_SECRET)
