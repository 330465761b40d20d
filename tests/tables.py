"""Tables of good and bad inputs shared by the Linux tests and the Windows test driver
(tests/tables/*.txt; cpp/tests/win_driver.cpp reads the same files under Wine).

One record a line: a keyword, then space-separated fields; the last field of a record takes the
rest of the line and is escaped (``\\r \\n \\t \\\\ \\xHH``; a space is written ``\\x20`` where it
would end a line; an empty last field may be left out). Lines starting with ``#`` and blank lines are comments.
"""

from __future__ import annotations

from pathlib import Path

TABLES = Path(__file__).resolve().parent / "tables"
ESCAPES = {"r": 13, "n": 10, "t": 9, "\\": 92}


def unescape(text: str) -> bytes:
    out, i = bytearray(), 0
    raw = text.encode()
    while i < len(raw):
        c = raw[i]
        if c != 92:
            out.append(c)
            i += 1
            continue
        e = chr(raw[i + 1])
        if e == "x":
            out.append(int(raw[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(ESCAPES[e])
            i += 2
    return bytes(out)


def escape(data: bytes) -> str:
    out = []
    for i, b in enumerate(data):
        if b == 92:
            out.append("\\\\")
        elif b in (13, 10, 9):
            out.append({13: "\\r", 10: "\\n", 9: "\\t"}[b])
        elif 0x20 < b < 0x7F or (b == 0x20 and 0 < i < len(data) - 1):
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def records(name: str, keyword: str, fields: int) -> list[tuple]:
    """The records of ``tests/tables/<name>`` with this keyword: ``fields`` plain fields, then the
    escaped rest of the line as bytes."""
    rows = []
    for line in (TABLES / name).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(" ", fields + 1)
        if parts[0] == keyword:
            if len(parts) == fields + 1:  # an empty last field
                parts.append("")
            assert len(parts) == fields + 2, line
            rows.append((*parts[1:-1], unescape(parts[-1])))
    return rows


def ranges_field(text: str) -> list[tuple[int, int]]:
    """``0-9,20-29`` (or ``-`` for none) as [(0, 9), (20, 29)]."""
    if text == "-":
        return []
    return [tuple(int(x) for x in r.split("-")) for r in text.split(",")]
