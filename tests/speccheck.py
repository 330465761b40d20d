"""Validate a container with the parser generated from spec/qeltrix_v6.ksy."""

from __future__ import annotations

import hashlib

from blake3 import blake3

from qeltrix._spec.qeltrix_v6 import QeltrixV6
from qeltrix.inspect import V6_0, data_offset, index_entries, parse_container

OVERHEAD = 220
PAGE_HEAD = 16
ENTRY = 56


def index_hash(parsed, data: bytes) -> bytes:
    """The container's index hash of ``data``: SHA-256 in 6.0, the header's choice in 6.1."""
    if parsed.version == V6_0 or parsed.header.index_hash == QeltrixV6.Hash.sha256:
        return hashlib.sha256(data).digest()
    return blake3(data).digest()


def spec_check(blob, result=None, patched=None) -> QeltrixV6:
    """Parse ``blob`` (bytes or a path) with the spec's parser and check every structural field,
    and, given the writer's PackResult, that the parse agrees with what the writer reported."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        with open(blob, "rb") as f:
            blob = f.read()
    blob = bytes(blob)
    p = parse_container(blob)
    h, f, t = p.header, p.footer, p.trailer
    entries = list(index_entries(p))
    n = len(entries)
    assert t.ofs_footer + t.len_footer + 24 == len(blob)
    assert f.len_plaintext == sum(e.len_plaintext for e in entries)
    offset, plain = data_offset(p), 0
    if p.version != V6_0:
        per_page = 1 << h.page_shift
        assert f.num_blocks == n and f.num_pages == -(-n // per_page)
        for copy in (p.keyring_a, p.keyring_b):
            assert copy.num_slots == h.keyring_slots
    for i, e in enumerate(entries):
        assert e.ofs_block == offset and e.ofs_plaintext == plain
        assert e.len_block == e.len_plaintext + OVERHEAD
        assert e.len_plaintext <= h.block_size
        b = e.block
        assert b.prefix.index == i
        assert b.prefix.len_meta == 164
        assert b.prefix.len_payload == e.len_plaintext + 16
        assert b.prefix.is_final == (i == n - 1)
        assert index_hash(p, blob[e.ofs_block:e.ofs_block + e.len_block]) == e.hash
        offset += e.len_block
        plain += e.len_plaintext
        if p.version != V6_0 and ((i + 1) % per_page == 0 or i == n - 1):
            k = i // per_page
            top = f.pages[k]
            page = top.page
            size = PAGE_HEAD + ENTRY * page.num_entries
            assert top.ofs_page == offset and page.first_block == k * per_page
            assert top.ofs_plaintext == page.entries[0].ofs_plaintext
            assert index_hash(p, blob[offset:offset + size]) == top.hash
            offset += size
    assert t.ofs_footer == offset
    streamed = (h.num_blocks, h.len_plaintext, h.ofs_footer, h.len_footer) == (0, 0, 0, 0)
    if not streamed:
        assert (h.num_blocks, h.len_plaintext, h.ofs_footer, h.len_footer) == (n, plain, t.ofs_footer, t.len_footer)
    if patched is not None:
        assert (not streamed) == patched or (n == 0 and patched)
    if result is not None:
        assert result.total_blocks == n
        assert result.bytes_in == plain
        assert result.bytes_out == len(blob)
        assert result.block_size == h.block_size
        assert result.cipher_id == h.cipher.value
        assert result.permuted == h.permuted
        assert result.container_id == h.container_id
        assert (result.footer_offset, result.footer_size) == (t.ofs_footer, t.len_footer)
        if result.entries or p.version == V6_0:  # a 6.1 writer keeps its entries only when asked
            assert [tuple(x) for x in result.entries] == [
                (e.ofs_plaintext, e.ofs_block, e.len_plaintext, e.len_block, e.hash) for e in entries]
    return p
