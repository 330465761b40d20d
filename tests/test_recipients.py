"""qeltrix.recipients: age's X25519 recipients, checked against the real age and age-keygen.

The real ``age`` is the oracle both ways: we unwrap the stanzas of files that ``age -r`` wrote
(and check age's header MAC and payload with the file key we recover), and ``age -d -i`` opens
files whose stanzas ``wrap_file_key`` wrote (tests/agefile.py writes the rest of the file).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from agefile import Stanza, b64decode, b64encode, decrypt_payload, encrypt, header_mac, parse_header
from hypothesis import given, settings
from hypothesis import strategies as st

from qeltrix.recipients import (
    RecipientError,
    X25519Identity,
    X25519Recipient,
    bech32_decode,
    bech32_encode,
    load_identities,
    load_recipients,
    parse_recipient_arg,
    unwrap_file_key,
    wrap_file_key,
)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (CI must install Debian's age: see .ci/run)")
        pytest.skip(f"{tool} is not installed")
    return path


def _run(*args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=input, capture_output=True, check=check, timeout=60)


class Keygen:
    """Keys made by the real age-keygen: (identity file text, secret line, public key)."""

    def __init__(self, tmp: Path) -> None:
        self.tool = _need("age-keygen")
        self.tmp = tmp
        self.n = 0

    def make(self) -> tuple[Path, str, str]:
        self.n += 1
        path = self.tmp / f"key{self.n}.txt"
        done = _run(self.tool, "-o", str(path))
        public = done.stderr.decode().strip().removeprefix("Public key: ")
        (secret,) = [
            ln for ln in path.read_text().splitlines() if ln.startswith("AGE-SECRET-KEY-1")
        ]
        return path, secret, public


@pytest.fixture
def keygen(tmp_path: Path) -> Keygen:
    return Keygen(tmp_path)


@pytest.fixture
def age() -> str:
    return _need("age")


# --- Bech32

# BIP 173's valid Bech32 strings, and two longer than its 90 characters that age accepts.
BIP173_VALID = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11" + "q" * 82 + "c8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
    "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
    "long1" + "0pu8s7rc" * 204 + "0pu8s7q" + "fcsvr0",  # age's long vector (1650 characters)
]

# BIP 173's invalid Bech32 strings (the over-long one is valid for age, above).
BIP173_INVALID = [
    "\x201nwldj5",  # HRP character out of range
    "\x7f1axkwrx",  # HRP character out of range
    "\x801eym55h",  # HRP character out of range
    "pzry9x0s0muk",  # no separator
    "1pzry9x0s0muk",  # empty HRP
    "x1b4n0q5v",  # invalid data character
    "li1dgmt3",  # too short checksum
    "de1lg7wt\xff",  # invalid character in checksum
    "A1G7SGD8",  # checksum calculated with upper case HRP
    "10a06t8",  # empty HRP
    "1qzzfhee",  # empty HRP
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e2w",  # bad checksum
    "s lit1checkupstagehandshakeupstreamerranterredcaperredp8hs2p",  # space in HRP
    "split1cheo2y9e2w",  # invalid data character
    "split1a2y9w",  # too short data part
    "a12UEL5L",  # mixed case
]


@pytest.mark.parametrize("s", BIP173_VALID)
def test_bech32_valid_vectors_decode_and_reencode(s: str) -> None:
    hrp, data = bech32_decode(s)
    assert bech32_encode(hrp, data) == s
    pos = s.rfind("1")
    flipped = s[: pos + 1] + ("q" if s[pos + 1].lower() != "q" else "p") + s[pos + 2 :]
    with pytest.raises(RecipientError):
        bech32_decode(flipped if s == s.lower() else flipped.upper())


@pytest.mark.parametrize("s", BIP173_INVALID)
def test_bech32_invalid_vectors_are_refused(s: str) -> None:
    with pytest.raises(RecipientError, match="malformed Bech32"):
        bech32_decode(s)


_HRP = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-?!"), min_size=1, max_size=20)


@given(hrp=_HRP, data=st.binary(max_size=120), upper=st.booleans())
def test_bech32_round_trip(hrp: str, data: bytes, upper: bool) -> None:
    upper = upper and hrp.upper() != hrp.lower()  # an hrp without letters is lower case
    hrp = hrp.upper() if upper else hrp
    s = bech32_encode(hrp, data)
    assert s == (s.upper() if upper else s.lower())
    assert bech32_decode(s) == (hrp, data)


@given(
    hrp=_HRP, data=st.binary(min_size=1, max_size=120), where=st.integers(0), to=st.integers(1, 31)
)
def test_bech32_detects_any_one_changed_character(
    hrp: str, data: bytes, where: int, to: int
) -> None:
    s = bech32_encode(hrp, data)
    pos = len(hrp) + 1 + where % (len(s) - len(hrp) - 1)
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    changed = charset[(charset.index(s[pos]) + to) % 32]
    with pytest.raises(RecipientError):
        bech32_decode(s[:pos] + changed + s[pos + 1 :])


def _bech32_from_groups(hrp: str, groups: list[int]) -> str:
    """An independent BIP 173 encoder of raw 5-bit groups, to build bad paddings."""
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + groups + [0] * 6:
        top, chk = chk >> 25, (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(gen):
            if top >> i & 1:
                chk ^= g
    chk ^= 1
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    return (
        hrp
        + "1"
        + "".join(charset[v] for v in groups + [chk >> 5 * (5 - i) & 31 for i in range(6)])
    )


def _groups(data: bytes) -> list[int]:
    bits = "".join(f"{b:08b}" for b in data)
    bits += "0" * (-len(bits) % 5)
    return [int(bits[i : i + 5], 2) for i in range(0, len(bits), 5)]


def test_independent_encoder_agrees() -> None:
    data = os.urandom(32)
    assert _bech32_from_groups("age", _groups(data)) == bech32_encode("age", data)


def test_bech32_padding_errors() -> None:
    groups = _groups(os.urandom(32))  # 52 groups: 256 bits and 4 zero padding bits
    with pytest.raises(RecipientError, match="non-zero padding"):
        bech32_decode(_bech32_from_groups("age", groups[:-1] + [groups[-1] | 1]))
    groups = _groups(os.urandom(31))  # 50 groups: 248 bits and 2 zero padding bits
    with pytest.raises(RecipientError, match="too many padding bits"):
        bech32_decode(_bech32_from_groups("age", groups + [0]))


# --- Recipients and identities


def test_keys_from_age_keygen_parse_and_round_trip(keygen: Keygen) -> None:
    for _ in range(3):
        path, secret, public = keygen.make()
        identity = X25519Identity.parse(secret)
        assert identity.encode() == secret
        assert identity.recipient == X25519Recipient.parse(public)
        assert str(identity.recipient) == identity.recipient.encode() == public
        assert len(identity.recipient.public_bytes) == 32
        assert f"# public key: {public}" in path.read_text()
        # age-keygen -y agrees on the recipient of the identity we parsed and re-encoded
        again = keygen.tmp / "again.txt"
        again.write_text(identity.encode() + "\n")
        assert _run(keygen.tool, "-y", str(again)).stdout.decode().strip() == public


def test_generated_identities_open_with_age_keygen(keygen: Keygen) -> None:
    identity = X25519Identity.generate()
    assert identity.encode().startswith("AGE-SECRET-KEY-1") and identity.encode().isupper()
    path = keygen.tmp / "ours.txt"
    path.write_text(identity.encode() + "\n")
    assert _run(keygen.tool, "-y", str(path)).stdout.decode().strip() == str(identity.recipient)


def test_the_secret_is_never_shown() -> None:
    identity = X25519Identity.generate()
    secret = identity.encode()
    for text in (repr(identity), str(identity), f"{identity}", repr([identity])):
        assert secret not in text and secret.lower() not in text
        assert str(identity.recipient) in text


def _low_order_points() -> list[bytes]:
    p = 2**255 - 19
    small = [
        0,
        1,
        p - 1,
        p,
        p + 1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
    ]
    small += [x + 2**255 for x in small]  # the same with the top bit set, which X25519 ignores
    return [x.to_bytes(32, "little") for x in small]


@pytest.mark.parametrize("point", _low_order_points())
def test_low_order_points_are_refused(point: bytes) -> None:
    with pytest.raises(RecipientError, match="low-order"):
        X25519Recipient(point)
    with pytest.raises(RecipientError, match="low-order"):
        X25519Recipient.parse(bech32_encode("age", point))
    with pytest.raises(RecipientError, match="low-order"):
        unwrap_file_key(X25519Identity.generate(), point, bytes(32))


def _bad_recipients() -> list[tuple[str, str]]:
    good = str(X25519Identity.generate().recipient)
    key = os.urandom(32)
    return [
        ("", "expected age1"),
        ("hello", "expected age1"),
        (good.upper(), "lower case"),
        (good[:10] + good[10:].upper(), "mixed upper and lower case"),
        (good[:-1] + ("q" if good[-1] != "q" else "p"), "bad checksum"),
        (good[:-7] + good[-6:], "bad checksum"),
        (good + " ", "not printable ASCII"),
        (good[:20] + "b" + good[21:], "not in its alphabet"),
        (bech32_encode("agx", key), "expected age1"),
        (bech32_encode("age1tag", key), "type 'age1tag'"),
        (bech32_encode("age", key[:31]), "31 bytes"),
        (bech32_encode("age", key + b"\0"), "33 bytes"),
        ("age1pq1" + "q" * 60, "post-quantum"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ6", "SSH"),
        (X25519Identity.generate().encode(), "secret key"),
        (X25519Identity.generate().encode().lower(), "secret key"),
    ]


@pytest.mark.parametrize("bad, why", _bad_recipients())
def test_bad_recipients_are_refused_clearly(bad: str, why: str) -> None:
    with pytest.raises(RecipientError, match=why) as caught:
        parse_recipient_arg(bad)
    assert isinstance(caught.value, ValueError)
    if bad.upper().startswith("AGE-SECRET-KEY-"):
        assert bad[16:] not in str(caught.value).upper()


def _bad_identities() -> list[tuple[str, str]]:
    good = X25519Identity.generate().encode()
    key = os.urandom(32)
    return [
        (good.lower(), "upper case"),
        (good[:20] + good[20:].lower(), "mixed upper and lower case"),
        (good[:-1] + ("Q" if good[-1] != "Q" else "P"), "bad checksum"),
        (bech32_encode("AGE-SECRET-KEY-", key[:31]), "31 bytes"),
        (bech32_encode("AGE-SECRET-KEY-", key + b"\0"), "33 bytes"),
        (bech32_encode("AGE-SECRET-KEY-X", key), "expected AGE-SECRET-KEY-1"),
        ("AGE-SECRET-KEY-PQ-1" + "Q" * 60, "post-quantum"),
        ("AGE-PLUGIN-YUBIKEY-1" + "Q" * 60, "plugin"),
        (str(X25519Identity.generate().recipient), "recipient"),
        ("hello", "expected AGE-SECRET-KEY-1"),
    ]


@pytest.mark.parametrize("bad, why", _bad_identities())
def test_bad_identities_are_refused_without_echo(bad: str, why: str) -> None:
    with pytest.raises(RecipientError, match=why) as caught:
        X25519Identity.parse(bad)
    if len(bad) > 20:
        for i in range(16, len(bad) - 8):
            assert bad[i : i + 8].upper() not in str(caught.value).upper()


# --- Wrapping


@given(file_key=st.binary(min_size=1, max_size=64))
@settings(max_examples=30)
def test_wrap_unwrap_round_trip_any_file_key_length(file_key: bytes) -> None:
    identity = X25519Identity.generate()
    share, wrapped = wrap_file_key(identity.recipient, file_key)
    assert len(share) == 32 and len(wrapped) == len(file_key) + 16
    assert unwrap_file_key(identity, share, wrapped) == file_key
    assert unwrap_file_key(identity, share, wrapped, file_key_size=len(file_key)) == file_key
    assert unwrap_file_key(X25519Identity.generate(), share, wrapped) is None


def test_every_wrap_has_a_fresh_ephemeral_share() -> None:
    recipient = X25519Identity.generate().recipient
    shares = {wrap_file_key(recipient, bytes(32))[0] for _ in range(20)}
    assert len(shares) == 20


def test_unwrap_refuses_malformed_lengths_and_fails_closed_on_tampering() -> None:
    identity = X25519Identity.generate()
    share, wrapped = wrap_file_key(identity.recipient, os.urandom(32))
    for bad_share in (share[:31], share + b"\0", b""):
        with pytest.raises(RecipientError, match="32 bytes"):
            unwrap_file_key(identity, bad_share, wrapped)
    for bad_body in (b"", wrapped[:16]):
        with pytest.raises(RecipientError, match="more than 16 bytes"):
            unwrap_file_key(identity, share, bad_body)
    with pytest.raises(RecipientError, match="a wrapped 16-byte file key is 32 bytes, not 48"):
        unwrap_file_key(identity, share, wrapped, file_key_size=16)
    for i in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[i] ^= 0x80
        assert unwrap_file_key(identity, share, bytes(tampered)) is None
    other_share = X25519Identity.generate().recipient.public_bytes
    assert unwrap_file_key(identity, other_share, wrapped) is None
    with pytest.raises(TypeError):
        wrap_file_key(str(identity.recipient), bytes(16))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        wrap_file_key(identity.recipient, b"")


# --- age's test kit (C2SP CCTV age/testdata, 1e3d286): the headers of its X25519 vectors

CCTV_IDENTITY = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
CCTV_FILE_KEY = b"YELLOW SUBMARINE"
CCTV = {  # name: (stanza lines, what unwrapping the stanza(s) with CCTV_IDENTITY gives)
    "x25519": (
        "TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc\nhjabGXwSLQ9c3S6Lw2i+S2Tu2fiwQHHslbBN6B41FLE",
        "WyJp9F/9FOZh7gJdheq2WIJcwHgYc8NIVh3ddwhrcNg",
    ),
    "x25519_multiple_recipients": (
        "ajtqAvDEkVNr2B7zUOtq2mAQXDSBlNrVAuM/dKb5sT4\n0evrK/HQXVsQ4YaDe+659l5OQzvAzD2ytLGHQLQiqxg\n"
        "-> X25519 0qC7u6AbLxuwnM8tPFOWVtWZn/ZZe7z7gcsP5kgA0FI\n"
        "Y3OzevLm23Vx7PN9k33F9y+ercWe/bcZJLqhqA3h408",
        "855pKblQzZ3oabDowxRDQvSj/xo47ZSh5WTjkmK0I0U",
    ),
    "x25519_bad_tag": (
        "TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc\nhjabGXwSLQ9c3S6Lw2i+S2Tu2fiwQHHslbBN6B41FE4",
        "no match",
    ),
    "x25519_low_order": (
        "X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEdc\n3E0NpFans/m0WLWF7+54ZBdNj3iqQqpraGDFiaRkvBA",
        "low-order",
    ),
    "x25519_identity": (
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nW3E/OCRme9TiTY97JoK31Z71arNur77WIIdB90XnN3M",
        "low-order",
    ),
    "x25519_short_share": (
        "l7o4oTX9X5E3/KODa/7CQ0CrA9fKMWsm9IJjYzSlJg\nyUGP5aPob6YJ+vzRfBtDT9D1K/wmyheZE/Xl/mDSKA4",
        "32 bytes, not 31",
    ),
    "x25519_long_share": (
        "TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCcA\nhjabGXwSLQ9c3S6Lw2i+S2Tu2fiwQHHslbBN6B41FLE",
        "32 bytes, not 33",
    ),
    "x25519_long_file_key": (
        "TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc\n"
        "nlObGn0CSA4pxiaG3W6nLlaFFuHmqW+bFC6sJmbsJ9yFesgSok1K0AI",
        "is 32 bytes, not 41",
    ),
}


@pytest.mark.parametrize("name", CCTV)
def test_age_testkit_x25519_vectors(name: str) -> None:
    stanza, expect = CCTV[name]
    header = parse_header(f"age-encryption.org/v1\n-> X25519 {stanza}\n--- {'A' * 43}\n".encode())
    identity = X25519Identity.parse(CCTV_IDENTITY)

    def unwrap(s: Stanza) -> bytes | None:
        return unwrap_file_key(identity, b64decode(s.args[0].encode()), s.body, file_key_size=16)

    if len(expect) == 43:  # success: the stanza addressed to us opens, and age's header MAC agrees
        opened = [k for k in map(unwrap, header.stanzas) if k is not None]
        assert opened == [CCTV_FILE_KEY]
        assert b64encode(header_mac(CCTV_FILE_KEY, header.macced)).decode() == expect
    elif expect == "no match":
        assert unwrap(header.stanzas[0]) is None
    else:  # age: "header failure"
        with pytest.raises(RecipientError, match=expect):
            unwrap(header.stanzas[0])
    if name == "x25519_long_file_key":  # without a size to hold it to, any length unwraps
        s = header.stanzas[0]
        assert (
            unwrap_file_key(identity, b64decode(s.args[0].encode()), s.body)
            == b"A LONGER YELLOW SUBMARINE"
        )


# --- age is the oracle


def _x25519_stanzas(header) -> list[Stanza]:
    stanzas = [s for s in header.stanzas if s.type == "X25519"]
    assert all(len(s.args) == 1 and len(s.body) == 32 for s in stanzas)
    return stanzas


@pytest.mark.parametrize("size", [0, 1, 65536, 200_000])
def test_we_unwrap_what_age_wrapped(age: str, keygen: Keygen, size: int) -> None:
    keys = [keygen.make() for _ in range(3)]
    plaintext = os.urandom(size)
    args = [a for _, _, public in keys for a in ("-r", public)]
    data = _run(age, *args, input=plaintext).stdout
    header = parse_header(data)
    stanzas = _x25519_stanzas(header)
    assert len(stanzas) == 3
    file_keys = []
    for _, secret, _ in keys:
        identity = X25519Identity.parse(secret)
        opened = [
            unwrap_file_key(identity, b64decode(s.args[0].encode()), s.body, file_key_size=16)
            for s in stanzas
        ]
        assert sum(k is not None for k in opened) == 1  # exactly its own stanza
        file_keys += [k for k in opened if k is not None]
    assert len(file_keys) == 3 and len(set(file_keys)) == 1 and len(file_keys[0]) == 16
    assert header.mac == header_mac(file_keys[0], header.macced)
    assert decrypt_payload(file_keys[0], data[header.payload_offset :]) == plaintext
    stranger = X25519Identity.generate()
    assert all(
        unwrap_file_key(stranger, b64decode(s.args[0].encode()), s.body) is None for s in stanzas
    )


def _our_age_file(recipients: list[X25519Recipient], plaintext: bytes) -> bytes:
    file_key = os.urandom(16)
    stanzas = []
    for r in recipients:
        share, wrapped = wrap_file_key(r, file_key)
        stanzas.append(Stanza("X25519", [b64encode(share).decode()], wrapped))
    return encrypt(file_key, stanzas, plaintext)


@pytest.mark.parametrize("size", [0, 1, 65536, 200_000])
def test_age_unwraps_what_we_wrapped(age: str, keygen: Keygen, tmp_path: Path, size: int) -> None:
    keys = [keygen.make() for _ in range(3)]
    plaintext = os.urandom(size)
    data = _our_age_file([X25519Recipient.parse(public) for _, _, public in keys], plaintext)
    sealed = tmp_path / "ours.age"
    sealed.write_bytes(data)
    for path, _, _ in keys:  # each identity alone opens it
        assert _run(age, "-d", "-i", str(path), str(sealed)).stdout == plaintext
    stranger, _, _ = keygen.make()
    refused = _run(age, "-d", "-i", str(stranger), str(sealed), check=False)
    assert refused.returncode != 0 and b"no identity matched" in refused.stderr


def test_age_refuses_our_file_when_a_stanza_is_changed(
    age: str, keygen: Keygen, tmp_path: Path
) -> None:
    (path, _, public), (_, _, other) = keygen.make(), keygen.make()
    data = _our_age_file([X25519Recipient.parse(public), X25519Recipient.parse(other)], b"hello")
    sealed = tmp_path / "ours.age"
    sealed.write_bytes(data)
    assert _run(age, "-d", "-i", str(path), str(sealed)).stdout == b"hello"
    header = parse_header(data)
    first_body_line = data.index(b"\n", data.index(b"\n-> ") + 1) + 1
    tampered = bytearray(data)
    # change the second stanza's body (ours opens the first): only the header MAC catches it
    second_body_line = data.index(b"\n", data.index(b"\n-> ", first_body_line) + 1) + 1
    tampered[second_body_line] = ord("A") if data[second_body_line] != ord("A") else ord("B")
    sealed.write_bytes(bytes(tampered))
    refused = _run(age, "-d", "-i", str(path), str(sealed), check=False)
    assert refused.returncode != 0 and b"header" in refused.stderr.lower()
    assert header.payload_offset < len(data)


# --- Key files


def test_identity_files_as_age_keygen_writes_them(keygen: Keygen, tmp_path: Path) -> None:
    keys = [keygen.make() for _ in range(3)]
    both = tmp_path / "keys.txt"
    both.write_text("".join(path.read_text() + "\n" for path, _, _ in keys))
    expected = [secret for _, secret, _ in keys]
    found = load_identities(both)
    assert [i.encode() for i in found] == expected
    assert [str(i.recipient) for i in found] == [public for _, _, public in keys]
    assert [i.encode() for i in load_identities(str(both))] == expected
    crlf = both.read_text().replace("\n", "\r\n")
    assert [i.encode() for i in load_identities(crlf)] == expected
    assert [i.encode() for i in load_identities(crlf.encode())] == expected
    assert [i.encode() for i in load_identities(io.BytesIO(crlf.encode()))] == expected
    assert [i.encode() for i in load_identities(expected[0])] == expected[:1]  # one key, no newline
    for one_line in (expected[0].lower(), expected[0] + " ", " " + expected[0][:-1]):
        with pytest.raises(RecipientError) as caught:  # taken as text, not opened as a path
            load_identities(one_line)
        assert expected[0][16:30].upper() not in str(caught.value).upper()
    # and age itself reads the same file
    sealed = _run(_need("age"), "-r", keys[2][2], input=b"x").stdout
    assert _run(_need("age"), "-d", "-i", str(both), input=sealed).stdout == b"x"


def test_malformed_identity_files_name_file_and_line(keygen: Keygen, tmp_path: Path) -> None:
    path, secret, public = keygen.make()
    lines = path.read_text().splitlines()  # "# created", "# public key", the key
    broken = secret[:-1] + ("Q" if secret[-1] != "Q" else "P")
    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join([*lines, "", broken, ""]))
    with pytest.raises(RecipientError, match=r"keys\.txt:5: not an age identity") as caught:
        load_identities(keys)
    assert secret[16:30] not in str(caught.value)
    keys.write_text("\r\n".join([lines[0], public, secret]))
    with pytest.raises(RecipientError, match=r"keys\.txt:2: .*recipient"):
        load_identities(keys)
    with pytest.raises(RecipientError, match=r"^mine:3: not an age identity"):
        load_identities("# a\n\nnot a key\n", source="mine")
    with pytest.raises(RecipientError, match=r"keys\.txt: no identities found"):
        load_identities("# nothing\n\n", source="keys.txt")
    keys.write_bytes(b"\xff\xfe\n")
    with pytest.raises(RecipientError, match="not UTF-8"):
        load_identities(keys)


def test_an_age_encrypted_identity_file_is_named_as_such(
    age: str, keygen: Keygen, tmp_path: Path
) -> None:
    (path, _, _), (_, _, other) = keygen.make(), keygen.make()
    for armor in ([], ["-a"]):
        sealed = tmp_path / "keys.age"
        sealed.write_bytes(_run(age, *armor, "-r", other, str(path)).stdout)
        with pytest.raises(RecipientError, match=r"keys\.age: .*encrypted with age"):
            load_identities(sealed)


def test_recipients_files(keygen: Keygen, tmp_path: Path) -> None:
    publics = [keygen.make()[2] for _ in range(3)]
    text = f"# team\n{publics[0]}\n\n{publics[1]}\n# old\n{publics[2]}\n"
    for source in (text, text.replace("\n", "\r\n"), text.encode()):
        assert [str(r) for r in load_recipients(source)] == publics
    path = tmp_path / "recipients.txt"
    path.write_text(text)
    assert [str(r) for r in load_recipients(path)] == publics
    # the real age reads the same file
    sealed = _run(_need("age"), "-R", str(path), input=b"y").stdout
    assert len(_x25519_stanzas(parse_header(sealed))) == 3


def test_malformed_recipients_files_name_file_and_line(tmp_path: Path) -> None:
    identity = X25519Identity.generate()
    good = str(identity.recipient)
    path = tmp_path / "recipients.txt"
    cases = [
        (
            f"{good}\n{good[:-1]}{'x' if good[-1] != 'x' else 'y'}\n",
            r"recipients\.txt:2: not an age recipient: .*checksum",
        ),
        (f"# a\n {good}\n", r"recipients\.txt:2: spaces around a key"),
        (f"# a\n{identity.encode()}\n", r"recipients\.txt:2: this is a secret key"),
        ("\n\nssh-ed25519 AAAA\n", r"recipients\.txt:3: SSH recipients are not supported"),
        (f"{good.upper()}\n", r"recipients\.txt:1: .*lower case"),
        ("# only comments\n", r"recipients\.txt: no recipients found"),
    ]
    for text, why in cases:
        path.write_text(text)
        with pytest.raises(RecipientError, match=why) as caught:
            load_recipients(path)
        assert identity.encode()[16:] not in str(caught.value)


_KEYISH = st.text(st.sampled_from("qpzry9x8gf2tvdw0s3jn54khce6mua7l1ageAGE-SECRTKY# \r\n\x00é"))


@given(text=st.one_of(st.text(max_size=120), _KEYISH), raw=st.binary(max_size=120))
def test_any_input_gives_a_key_or_a_recipient_error(text: str, raw: bytes) -> None:
    for parse in (bech32_decode, parse_recipient_arg, X25519Identity.parse):
        try:
            parse(text)
        except RecipientError:
            pass
    for load in (load_identities, load_recipients):
        for source in (text + "\n", raw, io.BytesIO(raw)):
            try:
                load(source)
            except RecipientError:
                pass
