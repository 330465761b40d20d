"""Read the structure of a V6 container without a key, using the parser generated from the spec.

:func:`parse_container` parses a container with ``qeltrix._spec.qeltrix_v6`` (header, trailer,
footer and index entries; blocks are parsed when first reached through
``footer.entries[i].block``) and :func:`describe` turns the result into a JSON-able dict.

Nothing here handles keys, decrypts, or checks a MAC: a container that parses is well formed, not
authentic. Malformed input raises :class:`~qeltrix.errors.NotAContainerError`,
:class:`~qeltrix.errors.UnsupportedVersionError`, :class:`~qeltrix.errors.TruncatedError` or
:class:`~qeltrix.errors.DamagedError` with a one-line message, never a Kaitai Struct exception
(the original is chained as ``__cause__``).
"""

from __future__ import annotations

import io
import mmap
import os
from typing import Any, BinaryIO, Union

import kaitaistruct
from kaitaistruct import KaitaiStream

from ._spec.qeltrix_v6 import QeltrixV6
from .errors import (
    DamagedError,
    NotAContainerError,
    TruncatedError,
    UnsupportedVersionError,
)
from .sources import RandomAccessFile, is_url, open_random_access

__all__ = ["parse_container", "describe", "HEADER_SIZE", "FOOTER_HEAD_SIZE", "ENTRY_SIZE",
           "TRAILER_SIZE", "BLOCK_OVERHEAD", "INFO_IV_SIZE", "MIN_INFO_SIZE", "MAX_INFO_SIZE", "inspect_container"]

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO]

MAGIC = b"QLTX"
HEADER_SIZE = 416
PREFIX_SIZE = 28
#: magic 8, num_entries 8, len_plaintext 8, len_info 4, reserved 4, footer_mac 32.
FOOTER_HEAD_SIZE = 64
ENTRY_SIZE = 56
TRAILER_SIZE = 24
#: Stored bytes of a block beyond its plaintext: prefix 28, meta_iv 12, meta_sealed 164, tag 16.
BLOCK_OVERHEAD = 220
#: The footer's sealed file info: info_iv (12 bytes) then info_sealed (len_info - 12 bytes, the
#: 18-byte file_info plus a name of at most 1024 bytes, and a 16-byte tag).
INFO_IV_SIZE = 12
MIN_INFO_SIZE = 46
MAX_INFO_SIZE = 1070
_MIN_SIZE = HEADER_SIZE + FOOTER_HEAD_SIZE + MIN_INFO_SIZE + TRAILER_SIZE

# Field ids of each type's seq, in order, to name the field in a Kaitai error's src_path
# ("/types/<type>/seq/<n>"). tests/test_spec_parser.py checks them against the generated parser.
SEQ_IDS: dict[str, tuple[str, ...]] = {
    "qeltrix_v6": ("magic", "version", "header", "keyring"),
    "header_v6_0": ("cipher", "kdf", "reserved_flags", "permuted", "block_size",
                    "container_id", "kdf_salt", "kdf_t", "kdf_m", "kdf_p", "key_commitment",
                    "header_mac", "num_blocks", "len_plaintext", "ofs_footer", "len_footer",
                    "reserved", "reserved_tail"),
    "header_v6_1": ("cipher", "index_hash", "block_hash", "page_shift", "reserved_flags", "permuted",
                    "block_size", "container_id", "keyring_slots", "reserved_a", "key_commitment",
                    "num_blocks", "len_plaintext", "ofs_footer", "len_footer", "reserved", "header_mac"),
    "keyring_copy": ("magic", "num_slots", "generation", "reserved", "slots", "keyring_mac"),
    "key_slot": ("slot_type", "reserved", "len_body", "body", "padding"),
    "block": ("prefix", "meta_iv", "meta_sealed", "payload_sealed"),
    "block_prefix": ("magic", "index", "len_meta", "len_payload", "reserved_flags", "is_final"),
    "footer_v6_0": ("magic", "num_entries", "len_plaintext", "len_info", "reserved", "footer_mac",
                    "entries", "info_iv", "info_sealed"),
    "footer_v6_1": ("magic", "num_blocks", "len_plaintext", "len_info", "num_pages", "footer_mac",
                    "pages", "info_iv", "info_sealed"),
    "top_entry": ("ofs_page", "ofs_plaintext", "hash"),
    "index_page": ("magic", "num_entries", "first_block", "entries"),
    "index_entry": ("ofs_plaintext", "ofs_block", "len_plaintext", "len_block", "hash"),
    "trailer": ("ofs_footer", "len_footer", "magic"),
}

_KAITAI_ERRORS = (kaitaistruct.KaitaiStructError, EOFError)


def _field(exc: BaseException) -> str:
    """The name of the field a Kaitai error is about, from its src_path."""
    path = getattr(exc, "src_path", None) or ""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "seq" and parts[1].isdigit():
        parts = ["types", "qeltrix_v6", *parts]
    if len(parts) == 4 and parts[0] == "types" and parts[2] == "seq" and parts[3].isdigit():
        ids = SEQ_IDS.get(parts[1], ())
        n = int(parts[3])
        if n < len(ids):
            # users read "header.cipher", not the spec's per-version type name
            return f"{parts[1].removesuffix('_v6_0').removesuffix('_v6_1')}.{ids[n]}"
    return path or "?"


def _short(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return value[:16].hex() + ("..." if len(value) > 16 else "")
    return repr(int(value)) if isinstance(value, int) else repr(value)


def _detail(exc: BaseException) -> str:
    """One line telling what a Kaitai error found."""
    if isinstance(exc, EOFError):
        needed = getattr(exc, "bytes_needed", None)
        available = getattr(exc, "bytes_available", None)
        if needed is not None and available is not None:
            return f"data ends early ({needed} bytes needed, {available} available)"
        return "data ends early"
    k = kaitaistruct
    if isinstance(exc, k.ValidationNotEqualError):
        what = f"expected {_short(exc.expected)}, found {_short(exc.actual)}"
    elif isinstance(exc, k.ValidationLessThanError):
        what = f"{_short(exc.actual)} is below the minimum {_short(exc.min)}"
    elif isinstance(exc, k.ValidationGreaterThanError):
        what = f"{_short(exc.actual)} is above the maximum {_short(exc.max)}"
    elif isinstance(exc, (k.ValidationNotInEnumError, k.ValidationNotAnyOfError)):
        what = f"unknown value {_short(exc.actual)}"
    elif isinstance(exc, k.ValidationExprError):
        what = f"invalid value {_short(exc.actual)}"
    else:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{_field(exc)}: {what}"


def _open(src: Source) -> tuple[KaitaiStream, bool]:
    """A Kaitai stream over ``src``, and whether the caller must close it."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return KaitaiStream(io.BytesIO(bytes(src))), True
    if isinstance(src, str) and is_url(src):
        # A remote container: ranged reads through a buffer; close the result to release it.
        return KaitaiStream(io.BufferedReader(RandomAccessFile(open_random_access(src)), 1 << 20)), True
    if isinstance(src, (str, os.PathLike)):
        # A read-only map: blocks are paged in only when reached, and an unclosed map (unlike an
        # unclosed file) is released silently when the parse is collected.
        with open(src, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return KaitaiStream(io.BytesIO(b"")), True
            return KaitaiStream(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)), True
    if hasattr(src, "read") and hasattr(src, "seek"):
        return KaitaiStream(src), False
    raise TypeError(f"parse_container() wants bytes, a path or a binary file, not {type(src).__name__}")


def parse_container(src: Source) -> QeltrixV6:
    """Parse the structure of a V6 container.

    ``src`` is the whole container as bytes, a path, a URL, or a seekable binary file (read from
    its start; the caller keeps ownership of a file it passes). A path is memory-mapped
    read-only; the map is released when the result is collected, or at once by its ``close()``
    (the result is also a context manager). A URL is read with ranged requests: close the
    result (or use it in a ``with``) to release its connections.

    The header, trailer, footer and every index entry are read and validated here, and the
    footer is checked to sit right before the trailer with the size its entry count and
    ``len_info`` imply (64 + 56 * num_entries + len_info). The sealed file info is never opened.
    Blocks are read lazily through ``footer.entries[i].block``; :func:`describe` reads them all.
    """
    stream, owned = _open(src)
    try:
        return _parse(stream)
    except BaseException:
        if owned:
            stream.close()
        raise


V6_0, V6_1 = 6, 0x0601
HEADER61_SIZE = 256
TOP_ENTRY_SIZE = 48
PAGE_HEAD_SIZE = 16


def version_name(version: int) -> str:
    """"6.0" or "6.1" for the header's u16 version."""
    return "6.0" if version == V6_0 else f"{version >> 8}.{version & 0xFF}"


def data_offset(parsed: QeltrixV6) -> int:
    """Where block 0 (or the footer of an empty stream) starts: after the header (and keyring)."""
    if parsed.version == V6_0:
        return HEADER_SIZE
    return parsed.header.ofs_first_block


def footer_size_formula(parsed: QeltrixV6) -> int:
    f = parsed.footer
    if parsed.version == V6_0:
        return FOOTER_HEAD_SIZE + ENTRY_SIZE * f.num_entries + f.len_info
    return FOOTER_HEAD_SIZE + TOP_ENTRY_SIZE * f.num_pages + f.len_info


def num_blocks(parsed: QeltrixV6) -> int:
    f = parsed.footer
    return f.num_entries if parsed.version == V6_0 else f.num_blocks


def _parse(stream: KaitaiStream) -> QeltrixV6:
    size = stream.size()
    stream.seek(0)
    head = stream.read_bytes(min(size, 4))
    stream.seek(0)
    if head != MAGIC:
        raise NotAContainerError("not a V6 container: it does not start with the magic 'QLTX'")

    try:
        parsed = QeltrixV6(stream)
    except _KAITAI_ERRORS as exc:
        if getattr(exc, "src_path", None) == "/seq/1":
            raise UnsupportedVersionError(
                f"unsupported container version {exc.actual} (this reader reads 6 = 6.0 and 0x0601 = 6.1)"
            ) from exc
        if isinstance(exc, EOFError):
            raise TruncatedError(
                f"truncated container: {size} bytes, shorter than its header"
            ) from exc
        raise DamagedError(f"damaged container header: {_detail(exc)}") from exc

    start = data_offset(parsed)
    minimum = start + FOOTER_HEAD_SIZE + MIN_INFO_SIZE + TRAILER_SIZE
    if size < minimum:
        raise TruncatedError(
            f"truncated container: {size} bytes, less than header, footer and trailer "
            f"({minimum} bytes)"
        )
    try:
        trailer = parsed.trailer
    except _KAITAI_ERRORS as exc:
        raise TruncatedError(
            "truncated container: no trailer at its end (unfinished or cut short)"
        ) from exc
    if trailer.ofs_footer + trailer.len_footer != size - TRAILER_SIZE or trailer.ofs_footer < start:
        raise DamagedError(
            f"damaged container: the trailer puts the footer at {trailer.ofs_footer} "
            f"({trailer.len_footer} bytes), not right before the trailer at {size - TRAILER_SIZE}"
        )
    try:
        footer = parsed.footer
    except _KAITAI_ERRORS as exc:
        raise DamagedError(f"damaged container footer: {_detail(exc)}") from exc
    expected = footer_size_formula(parsed)
    if trailer.len_footer != expected:
        counts = (f"{footer.num_entries} entries" if parsed.version == V6_0
                  else f"{footer.num_pages} index pages")
        raise DamagedError(
            f"damaged container footer: {trailer.len_footer} bytes for "
            f"{counts} and {footer.len_info} bytes of file info "
            f"(expected {expected})"
        )
    if parsed.version != V6_0:
        e = 1 << parsed.header.page_shift
        if footer.num_pages != -(-footer.num_blocks // e):
            raise DamagedError(
                f"damaged container footer: {footer.num_pages} index pages for "
                f"{footer.num_blocks} blocks of {e} per page")
    return parsed


def _page(parsed: QeltrixV6, k: int):
    """Index page ``k`` of a 6.1 container through its top entry, bounds checked first."""
    top = parsed.footer.pages[k]
    e = 1 << parsed.header.page_shift
    n = min(e, parsed.footer.num_blocks - k * e)
    end = top.ofs_page + PAGE_HEAD_SIZE + ENTRY_SIZE * n
    if top.ofs_page < data_offset(parsed) or end > parsed.trailer.ofs_footer:
        raise DamagedError(
            f"damaged container: index page {k} at {top.ofs_page} lies outside the block area")
    try:
        page = top.page
    except _KAITAI_ERRORS as exc:
        raise DamagedError(f"damaged container: index page {k}: {_detail(exc)}") from exc
    if page.num_entries != n or page.first_block != k * e:
        raise DamagedError(
            f"damaged container: index page {k} lists blocks {page.first_block}.."
            f"{page.first_block + page.num_entries - 1}, expected {k * e}..{k * e + n - 1}")
    return page


def index_entries(parsed: QeltrixV6):
    """Every index entry in block order: the 6.0 footer's, or the 6.1 pages' (read one by one)."""
    if parsed.version == V6_0:
        yield from parsed.footer.entries
        return
    for k in range(parsed.footer.num_pages):
        yield from _page(parsed, k).entries


def _entry(parsed: QeltrixV6, i: int):
    if parsed.version == V6_0:
        return parsed.footer.entries[i]
    e = 1 << parsed.header.page_shift
    return _page(parsed, i // e).entries[i % e]


def _block(parsed: QeltrixV6, i: int, entry=None) -> QeltrixV6.Block:
    """Block ``i`` through its index entry, with its bounds checked first."""
    entry = entry if entry is not None else _entry(parsed, i)
    end = entry.ofs_block + entry.len_block
    start = data_offset(parsed)
    if entry.ofs_block < start or end > parsed.trailer.ofs_footer:
        raise DamagedError(
            f"damaged container: block {i}: index entry puts it at {entry.ofs_block} "
            f"({entry.len_block} bytes), outside the block area {start}.."
            f"{parsed.trailer.ofs_footer}",
            block=i,
        )
    try:
        return entry.block
    except _KAITAI_ERRORS as exc:
        raise DamagedError(f"damaged container: block {i}: {_detail(exc)}", block=i) from exc


def _header_dict(parsed: QeltrixV6) -> dict[str, Any]:
    h = parsed.header
    streamed = not (h.num_blocks or h.len_plaintext or h.ofs_footer or h.len_footer)
    d: dict[str, Any] = {"version": parsed.version, "format": version_name(parsed.version),
                         "cipher": h.cipher.name}
    if parsed.version == V6_0:
        d.update({"kdf": h.kdf.name})
    else:
        d.update({"index_hash": h.index_hash.name, "block_hash": h.block_hash.name,
                  "page_entries": 1 << h.page_shift, "keyring_slots": h.keyring_slots})
    d.update({"flags": {"permuted": bool(h.permuted)}, "block_size": h.block_size,
              "container_id": h.container_id.hex()})
    if parsed.version == V6_0:
        d.update({"kdf_salt": h.kdf_salt.hex(), "kdf_t": h.kdf_t, "kdf_m": h.kdf_m, "kdf_p": h.kdf_p})
    d.update({"key_commitment": h.key_commitment.hex(), "header_mac": h.header_mac.hex(),
              "streamed": streamed, "num_blocks": h.num_blocks, "len_plaintext": h.len_plaintext,
              "ofs_footer": h.ofs_footer, "len_footer": h.len_footer})
    return d


def _slot_type(slot) -> str:
    t = slot.slot_type
    return t.name if hasattr(t, "name") else f"unknown({int(t)})"


def keyring_copies(parsed: QeltrixV6) -> list:
    """The 6.1 keyring copies A and B, each parsed on its own: a copy, or the DamagedError that
    says why it is malformed (readers then use the other one)."""
    out = []
    for name in "ab":
        try:
            out.append(getattr(parsed, f"keyring_{name}"))
        except _KAITAI_ERRORS as exc:
            out.append(DamagedError(f"keyring copy {name.upper()} is malformed: {_detail(exc)}"))
    return out


def _keyring_dict(parsed: QeltrixV6) -> list[dict[str, Any]]:
    copies = []
    for name, copy in zip("AB", keyring_copies(parsed)):
        if isinstance(copy, Exception):
            copies.append({"copy": name, "malformed": str(copy)})
            continue
        used = [s for s in copy.slots if _slot_type(s) != "empty"]
        copies.append({"copy": name, "generation": copy.generation, "slots": len(copy.slots),
                       "used": [_slot_type(s) for s in used], "free": len(copy.slots) - len(used),
                       "keyring_mac": copy.keyring_mac.hex()})
    if all("malformed" in c for c in copies):
        raise DamagedError("damaged container: both keyring copies are malformed")
    return copies


def describe(parsed: QeltrixV6) -> dict[str, Any]:
    """A JSON-able dict of a parsed container: byte strings as hex, enums by name.

    Every block is read (through its index entry) to report its prefix; a block that does not
    parse raises :class:`~qeltrix.errors.DamagedError` with its index. The sealed file info is
    reported by its IV and size only (it needs the key to open); key slots by their types only.
    """
    t = parsed.trailer
    f = parsed.footer
    entries = []
    for i, e in enumerate(index_entries(parsed)):
        block = _block(parsed, i, e)
        p = block.prefix
        entries.append({
            "index": i,
            "ofs_plaintext": e.ofs_plaintext,
            "len_plaintext": e.len_plaintext,
            "ofs_block": e.ofs_block,
            "len_block": e.len_block,
            "hash": e.hash.hex(),
            "block": {
                "index": p.index,
                "len_meta": p.len_meta,
                "len_payload": p.len_payload,
                "is_final": bool(p.is_final),
                "meta_iv": block.meta_iv.hex(),
            },
        })
    footer: dict[str, Any] = {"ofs": t.ofs_footer, "len": t.len_footer}
    if parsed.version == V6_0:
        footer["num_entries"] = f.num_entries
    else:
        footer["num_blocks"] = f.num_blocks
        footer["num_pages"] = f.num_pages
    footer.update({"len_plaintext": f.len_plaintext, "len_info": f.len_info,
                   "footer_mac": f.footer_mac.hex(), "info_iv": f.info_iv.hex(),
                   "len_info_sealed": len(f.info_sealed)})
    out: dict[str, Any] = {"size": parsed._io.size(), "header": _header_dict(parsed)}
    if parsed.version != V6_0:
        out["keyring"] = _keyring_dict(parsed)
        out["pages"] = [{"index": k, "ofs_page": p.ofs_page, "ofs_plaintext": p.ofs_plaintext,
                         "hash": p.hash.hex()} for k, p in enumerate(f.pages)]
    out["footer"] = footer
    out["entries"] = entries
    return out


def inspect_container(src: Source) -> dict[str, Any]:
    """The spec parser's view of a container (no key needed); see ``qeltrix inspect``."""
    with parse_container(src) as parsed:
        return describe(parsed)
