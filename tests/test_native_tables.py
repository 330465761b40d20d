"""The shared tables of tests/tables/ (seek arithmetic, SHA-256, the permutation) through the
native core's Python bindings. cpp/tests/win_driver.cpp checks the same tables, and the vectors,
with the core built for Windows and run under Wine (tests/test_windows.py); the HTTP tables are
tests/test_http_parsers.py's."""

from __future__ import annotations

import hashlib

import pytest

import tables
from qeltrix import _core

SEEK = {"count": _core.block_count, "size": _core._container_size, "offset": _core._block_offset,
        "span": _core._block_span}


def seek_records(keyword, fields):
    return [tuple(int(x) for x in (*r[:-1], r[-1].decode())) for r in tables.records("seek.txt", keyword, fields - 1)]


def test_tables_are_there():
    assert len(seek_records("span", 6)) >= 15
    assert len(tables.records("seek.txt", "misuse", 1)) >= 10
    assert len(tables.records("sha256.txt", "sha256", 2)) >= 15
    assert len(tables.records("permute.txt", "permute", 2)) >= 8


@pytest.mark.parametrize("keyword,fields", [("count", 3), ("size", 4), ("offset", 3), ("span", 6)])
def test_seek_table(keyword, fields):
    for *args, expected in seek_records(keyword, fields) if keyword != "span" else \
            [(*r[:4], (r[4], r[5])) for r in seek_records("span", 6)]:
        assert SEEK[keyword](*args) == expected, (keyword, args)


def test_seek_misuse_table():
    for fn, args in tables.records("seek.txt", "misuse", 1):
        with pytest.raises(ValueError):
            SEEK[fn](*(int(a) for a in args.decode().split()))


def sha256_messages():
    return [(bytes.fromhex(d), unit * int(rep)) for d, rep, unit in tables.records("sha256.txt", "sha256", 2)]


@pytest.mark.parametrize("kernel", _core._sha256_kernels())
def test_sha256_table(kernel):
    digests, messages = zip(*sha256_messages())
    assert all(hashlib.sha256(m).digest() == d for d, m in zip(digests, messages))  # the table itself
    assert _core._sha256_many_with(list(messages), kernel) == list(digests)  # in lanes
    for d, m in zip(digests, messages):
        assert _core._sha256_many_with([m], kernel) == [d]


def test_permutation_table():
    for key, table in tables.records("permute.txt", "table", 1):
        assert bytes(_core._permutation_table(bytes.fromhex(key))) == bytes.fromhex(table.decode())


@pytest.mark.parametrize("kernel", _core._permute_kernels())
def test_permute_table(kernel):
    for key, digest, block in tables.records("permute.txt", "permute", 2):
        data = bytes.fromhex(block.decode())
        buf = bytearray(data)
        _core._permute_with(buf, bytes.fromhex(key), kernel)
        assert hashlib.sha256(buf).hexdigest() == digest
        _core._permute_with(buf, bytes.fromhex(key), kernel, True)
        assert buf == data
