"""Private native core of Qeltrix (C++, pybind11, bound in cpp/py/: one bind_*.cpp per area below).
Framing, permutation, seek arithmetic, the gateway and the SeekServer. Names with a leading
underscore are for the tests and tools (and ``_Gateway`` for qeltrix.gateway alone).

The layout is normative in spec/qeltrix_v6.ksy. Every decoder validates what it reads and never
trusts a size from its input. Decoders raise the exceptions of ``qeltrix.errors``:
``NotAContainerError`` (wrong magic), ``UnsupportedVersionError``, ``TruncatedError`` (input
shorter than the structure), ``DamagedError`` (a field out of range or inconsistent; ``block``
is set when the error is about one block or footer entry); misuse (bad arguments) raises
``ValueError`` (``TypeError`` for a wrong type, e.g. a read-only buffer where a writable one is
needed). A magic is checked on the bytes present, so a short input that already differs from the
magic raises ``NotAContainerError`` (and a short header with the wrong version
``UnsupportedVersionError``), while a short prefix of a valid structure raises ``TruncatedError``.
Integer arguments and fields take any ``int`` (``__index__``); negative or too large: ValueError.
"""

from collections.abc import Buffer, Iterable, Sequence

VERSION: int  # 6
HEADER_SIZE: int  # 416
HEADER_MAC_OFFSET: int  # 108: header_mac covers bytes [0, 108)
PREFIX_SIZE: int  # 28
META_IV_SIZE: int  # 12
META_PLAIN_SIZE: int  # 148
META_SEALED_SIZE: int  # 164
TAG_SIZE: int  # 16
BLOCK_OVERHEAD: int  # 220 = 28 + 12 + 164 + 16
FOOTER_HEAD_SIZE: int  # 64
FOOTER_MAC_OFFSET: int  # 32: footer_mac is footer bytes [32, 64)
FOOTER_ENTRY_SIZE: int  # 56
MIN_INFO_SIZE: int  # 46: footer file info (info_iv || info_sealed) with an empty name
MAX_INFO_SIZE: int  # 1070 = 46 + 1024
TRAILER_SIZE: int  # 24
MIN_BLOCK_SIZE: int  # 4096
MAX_BLOCK_SIZE: int  # 64 MiB
MAX_BLOCKS: int  # 2**31
CIPHER_AES256_GCM: int  # 1
CIPHER_CHACHA20_POLY1305: int  # 2
KDF_NONE: int  # 0
KDF_ARGON2ID: int  # 1
KDF_SCRYPT: int  # 2
FLAG_PERMUTED: int  # 1 (header flags bit 0)
FLAG_FINAL: int  # 1 (block prefix flags bit 0)

class Header:
    cipher_id: int
    kdf_id: int
    flags: int
    block_size: int
    container_id: bytes  # 32
    kdf_salt: bytes  # 16
    kdf_t: int
    kdf_m: int
    kdf_p: int
    key_commitment: bytes  # 32
    header_mac: bytes  # 32
    num_blocks: int
    plaintext_size: int
    footer_offset: int
    footer_size: int
    def __init__(self) -> None: ...  # all zero / empty; version is always 6
    @property
    def permuted(self) -> bool: ...
    @property
    def streamed(self) -> bool: ...  # the four mutable fields are all zero

def encode_header(h: Header) -> bytes: ...  # 416 bytes; ValueError on out-of-range fields
def decode_header(buf: Buffer) -> Header: ...  # reads the first 416 bytes
    # checks magic, version, cipher and kdf ids, reserved flags and bytes, 4096 <= block_size <=
    # 64 MiB, kdf none => zero kdf salt and costs; unless streamed, the totals: num_blocks <= 2**31,
    # plaintext_size < 2**63 and fits num_blocks blocks, footer_size = 64 + 56*num_blocks + 46..1070,
    # footer_offset == 416 + 220*num_blocks + plaintext_size. encode_header checks the same.

class Prefix:
    index: int
    meta_size: int
    payload_size: int
    flags: int
    def __init__(self, index: int = 0, payload_size: int = 16, final: bool = False) -> None: ...
    @property
    def final(self) -> bool: ...

def encode_prefix(p: Prefix) -> bytes: ...  # 28 bytes
def decode_prefix(buf: Buffer, block_size: int) -> Prefix: ...
    # checks magic "QBLK", meta_size == 164, 16 <= payload_size <= block_size + 16, reserved flags

class Meta:
    plain_offset: int
    plain_size: int
    payload_iv: bytes  # 12
    block_salt: bytes  # 32
    wrap_iv: bytes  # 12
    wrapped_cdk: bytes  # 48
    plaintext_sha256: bytes  # 32
    def __init__(self) -> None: ...

def encode_meta(m: Meta) -> bytes: ...  # 148 bytes
def decode_meta(buf: Buffer) -> Meta: ...

class Entry:
    plain_offset: int
    block_offset: int
    plain_size: int
    block_size: int  # stored bytes = plain_size + 220
    hash: bytes  # 32

class Index:
    """The decoded and structurally validated footer."""

    num_blocks: int
    plaintext_size: int
    info_size: int  # bytes of info_iv || info_sealed, the last bytes of the footer (46..1070)
    mac: bytes
    uniform: bool  # every block but the last holds exactly block_size bytes
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> Entry: ...  # negative indexes allowed; IndexError
    def locate(self, offset: int) -> int: ...  # block holding plaintext byte `offset` (ValueError if >= size)
    def span(self, offset: int, length: int) -> tuple[int, int]: ...
        # blocks [first, last) covering plaintext [offset, offset+length) clamped to the size;
        # (n, n) when empty; ValueError on negative input

def decode_footer_head(buf: Buffer) -> tuple[int, int, int, bytes]: ...
    # (num_blocks, plaintext_size, info_size, mac) from the first 64 bytes; checks magic
    # "QLTXFOOT", limits (num_blocks <= 2**31, plaintext_size < 2**63 and fits num_blocks blocks
    # of 64 MiB), 46 <= info_size <= 1070, reserved field zero

def decode_footer(buf: Buffer, block_size: int, footer_offset: int) -> Index: ...
    # the whole footer (exactly 64 + 56*n + info_size bytes). Checks, for every entry i: plain_offset equals
    # the sum of earlier plain_size; block_offset equals 416 + sum of earlier block_size;
    # block_size == plain_size + 220; plain_size <= block_size (the header's); plain_size >= 1
    # except for the last entry; the sum of plain_size equals plaintext_size; the end of the last
    # block (or 416 with no block) equals footer_offset.

def encode_footer(entries: Iterable[tuple[int, int, int, int, bytes] | Entry], plaintext_size: int,
                  info: Buffer, mac: Buffer) -> bytes: ...
    # entries as (plain_offset, block_offset, plain_size, block_size, hash) or Entry; info is
    # info_iv || info_sealed (46..1070 bytes); mac 32 bytes (encode with zeros, compute the MAC,
    # patch bytes [32, 64)). ValueError unless the entries are what decode_footer accepts (with
    # plain_size <= 64 MiB in place of the header's block size).

class Trailer:
    footer_offset: int
    footer_size: int

def encode_trailer(footer_offset: int, footer_size: int, version: int = 6) -> bytes: ...  # 24 bytes
def decode_trailer(buf: Buffer, container_size: int, version: int = 6) -> Trailer: ...
    # version=VERSION_6_1 (0x0601): the same 24 bytes, with the 6.1 bounds: footer_size = 64 +
    # 48*P + 46..1070 for some P <= 2**25, footer_offset >= 256 + 2 keyring copies + room for
    # the fewest pages (each with a block) such a footer can list, and not more than the most
    # blocks they can list fill; otherwise as below. ValueError for another version.
    # the last 24 bytes of buf, the end of a container of container_size bytes: checks magic
    # "QLTX-END", footer_size == 64 + 56*n + info_size for some n <= MAX_BLOCKS and
    # 46 <= info_size <= 1070, footer_offset leaves room for the fewest blocks such a footer can
    # list (>= 416 + 220*n_min) and not more than its most blocks can fill,
    # footer_offset + footer_size + 24 == container_size (no overflow)

# ---- format 6.1 (version 0x0601): cpp/format61.hpp ----------------------------------------------
# The same rules as above: decoders check every length before allocating anything whose size
# they read; encoders raise ValueError on what their decoder would reject.
VERSION_6_0: int  # 6
VERSION_6_1: int  # 0x0601
HEADER61_SIZE: int  # 256
HEADER61_MAC_OFFSET: int  # 224: header_mac is bytes [224, 256)
KEYRING_HEAD_SIZE: int  # 24 (a copy is 24 + 128 * slots + 32 bytes of keyring_mac)
SLOT_SIZE: int  # 128
SLOT_BODY_MAX: int  # 124
MIN_KEYRING_SLOTS: int  # 1
MAX_KEYRING_SLOTS: int  # 1024
PAGE_HEAD_SIZE: int  # 16 (a page is 16 + 56 * entries bytes)
TOP_ENTRY_SIZE: int  # 48
MIN_PAGE_SHIFT: int  # 6
MAX_PAGE_SHIFT: int  # 16
HASH_SHA256: int  # 1
HASH_BLAKE3: int  # 2
SLOT_EMPTY: int  # 0
SLOT_RAW: int  # 1
SLOT_ARGON2ID: int  # 2
SLOT_SCRYPT: int  # 3
SLOT_X25519: int  # 4
SLOT_BODY_SIZES: dict[int, int]  # {1: 48, 2: 76, 3: 76, 4: 96}

def header_version(buf: Buffer) -> int: ...
    # VERSION_6_0 or VERSION_6_1 from the first 6 bytes: NotAContainerError on a wrong magic
    # (bytes present), TruncatedError under 6 bytes, UnsupportedVersionError for another version

class Header61:
    cipher_id: int
    index_hash: int  # HASH_SHA256 or HASH_BLAKE3
    block_hash: int  # HASH_SHA256 or HASH_BLAKE3
    page_shift: int  # 6..16
    flags: int  # u16; bit 0 permuted
    block_size: int
    container_id: bytes  # 32
    keyring_slots: int  # 1..1024
    key_commitment: bytes  # 32
    num_blocks: int
    plaintext_size: int
    footer_offset: int
    footer_size: int
    header_mac: bytes  # 32
    def __init__(self) -> None: ...  # all zero / empty; version is always 0x0601
    @property
    def permuted(self) -> bool: ...
    @property
    def streamed(self) -> bool: ...  # the four patched fields are all zero
    @property
    def keyring_copy_size(self) -> int: ...  # 56 + 128 * keyring_slots
    @property
    def data_offset(self) -> int: ...  # 256 + 2 * keyring_copy_size: block 0 (or the footer)
    @property
    def page_entries(self) -> int: ...  # E = 1 << page_shift

def encode_header61(h: Header61) -> bytes: ...  # 256 bytes; ValueError on out-of-range fields
def decode_header61(buf: Buffer) -> Header61: ...  # reads the first 256 bytes
    # checks magic, version 0x0601 (6 -> UnsupportedVersionError), cipher, index and block hash
    # ids, 6 <= page_shift <= 16, reserved flag bits, 4096 <= block_size <= 64 MiB,
    # 1 <= keyring_slots <= 1024, reserved_a and the 104 reserved bytes zero; unless streamed,
    # the totals: num_blocks <= 2**31, plaintext_size < 2**63 and fits num_blocks blocks,
    # footer_size = 64 + 48 * ceil(num_blocks / E) + 46..1070 and footer_offset = data_offset +
    # 276 * num_blocks + plaintext_size + 16 * ceil(num_blocks / E) (blocks and their pages).
def header61_mac_input(buf: Buffer) -> bytes: ...
    # bytes 0..223 of a 6.1 header (magic, version checked; at least 256 bytes) with the
    # patched fields, bytes 88..119, set to zero: what header_mac covers

def encode_keyring_copy(num_slots: int, generation: int, slots: Iterable[tuple[int, Buffer]],
                        mac: Buffer) -> bytes: ...
    # 56 + 128 * num_slots bytes: at most num_slots (slot_type, body) pairs, padded with empty
    # slots; known types need exactly their SLOT_BODY_SIZES length, types 5..255 any length
    # <= 124, type 0 an empty body; mac (32 bytes) at the end (encode with zeros, compute the
    # HMAC over bytes[:-32], patch)
def decode_keyring_copy(buf: Buffer, num_slots: int) -> tuple[int, list[tuple[int, bytes]], bytes]: ...
    # (generation, [(slot_type, body)] one per slot, empty ones (0, b""), mac). buf exactly one
    # copy (shorter: TruncatedError, longer: DamagedError); DamagedError (naming the slot) on a
    # bad magic "QKEY", a num_slots field other than num_slots, a non-zero reserved field or
    # slot reserved byte, len_body > 124, non-zero padding, an empty slot not all zero, a known
    # type with another body length. ValueError unless 1 <= num_slots <= 1024.

class Page:
    """One decoded and validated index page: its entries, like Index's."""

    first_block: int
    plain_offset: int  # of its first block
    block_offset: int  # of its first block
    plain_end: int  # plaintext offset after its last block
    block_end: int  # container offset just past its last block (where the page itself is)
    def __len__(self) -> int: ...
    def __getitem__(self, j: int) -> Entry: ...  # negative indexes allowed; IndexError
    def locate(self, plain_offset: int) -> int: ...
        # the entry j holding plaintext byte plain_offset; IndexError outside
        # [plain_offset, plain_end), ValueError when negative

def encode_page(first_block: int, entries: Iterable[tuple[int, int, int, int, bytes] | Entry]) -> bytes: ...
    # 16 + 56 * n bytes, n = 1..65536 entries (as for encode_footer), each right after the
    # previous, block_size = plain_size + 220, plain_size <= 64 MiB, only the last may be empty;
    # first_block + n <= 2**31
def decode_page(buf: Buffer, first_block: int, num_entries: int, block_size: int, plain_offset: int,
                block_offset: int, last: bool) -> Page: ...
    # buf exactly 16 + 56 * num_entries bytes (TruncatedError / DamagedError); DamagedError
    # (block = the entry's block) unless: magic "QPAG", count == num_entries, first_block field
    # == first_block, entry 0 at (plain_offset, block_offset) and every next one right after the
    # previous, block_size field = plain_size + 220, plain_size <= block_size, plain_size >= 1
    # except for the very last entry of the last page (last=True). Releases the GIL.

class PageRef:
    """Where index page `index` is and what it lists, from the validated top table."""

    index: int
    ofs_page: int
    len_page: int  # 16 + 56 * num_entries
    ofs_plaintext: int
    plain_end: int  # ofs_plaintext of the next page, or plaintext_size for the last
    first_block: int  # index * page_entries
    num_entries: int  # page_entries, fewer in the last page
    block_offset: int  # container offset of its first block
    hash: bytes  # 32: the index hash of the page's bytes
    last: bool

class TopTable:
    """The decoded and validated 6.1 footer: totals and the top table of index pages."""

    num_blocks: int
    plaintext_size: int
    info_size: int
    mac: bytes
    num_pages: int
    page_shift: int
    page_entries: int
    def __len__(self) -> int: ...  # num_pages
    def page(self, k: int) -> PageRef: ...  # negative indexes allowed; IndexError
    def locate(self, plain_offset: int) -> int: ...  # page holding the byte; IndexError at/after the end
    def span(self, offset: int, length: int) -> tuple[int, int]: ...
        # PAGES [first, last) covering plaintext [offset, offset+length) clamped to the size;
        # (P, P) when empty (the top table alone cannot tell blocks: decode the pages for that)
    def block_page(self, i: int) -> int: ...  # i >> page_shift; IndexError unless i < num_blocks

def decode_footer61_head(buf: Buffer) -> tuple[int, int, int, int, bytes]: ...
    # (num_blocks, plaintext_size, info_size, num_pages, mac) from the first 64 bytes: magic
    # "QLTXFOOT" (NotAContainerError), num_blocks <= 2**31, plaintext_size < 2**63 and fits
    # num_blocks blocks of 64 MiB, 46 <= info_size <= 1070, ceil(n / 2**16) <= num_pages <=
    # ceil(n / 2**6) (so no blocks, no pages)
def decode_footer61(buf: Buffer, page_shift: int, block_size: int, data_offset: int,
                    footer_offset: int) -> TopTable: ...
    # the whole footer: num_pages == ceil(num_blocks / E), buf exactly 64 + 48 * num_pages +
    # info_size bytes; the pages tile data_offset..footer_offset: page k's blocks start at
    # data_offset (k = 0) or right after page k-1; ofs_plaintext[0] == 0, increasing; each page
    # at (start of its blocks) + (its plaintext span) + 220 * n_k with that span in
    # n_k..n_k * block_size (n_k - 1.. for the last page); the last page ends at footer_offset;
    # no blocks: no pages and data_offset == footer_offset. DamagedError (block = the page's
    # first block) otherwise; ValueError on bad arguments (data_offset must be 256 + 2 keyring
    # copies). Releases the GIL.
def encode_footer61(num_blocks: int, plaintext_size: int, pages: Iterable[tuple[int, int, Buffer]],
                    info: Buffer, mac: Buffer) -> bytes: ...
    # 64 + 48 * len(pages) + len(info) bytes; pages as (ofs_page, ofs_plaintext, hash): page 0 at
    # plaintext 0, both offsets strictly increasing, ofs_plaintext <= plaintext_size, a page
    # count some E in 2**6..2**16 gives for num_blocks. Tiling is checked by decode_footer61.

# Seek arithmetic of uniform containers (cpp/seek.hpp). block_count plans a parallel pack
# (qeltrix.distributed); the others are private, for tests: the package reads each container's
# index. ValueError on block_size outside 4096..64 MiB, plaintext_size >= 2**63, more than 2**31
# blocks, index >= 2**31, negative input; results never overflow.
def block_count(plaintext_size: int, block_size: int) -> int: ...  # ceil; 0 for 0
def _container_size(plaintext_size: int, block_size: int, info_size: int = 46) -> int: ...
    # of a packed (uniform) container whose footer holds info_size bytes of file info
    # (46 + the length of the stored name)
def _block_offset(index: int, block_size: int) -> int: ...  # container offset of block `index` (uniform)
def _block_span(offset: int, length: int, plaintext_size: int, block_size: int) -> tuple[int, int]: ...
    # as Index.span for a uniform container: (n, n) with n = block_count(...) when empty

def _permutation_table(key: Buffer) -> list[int]: ...  # the 64-entry table T (private, for tests)
def permute(buf: Buffer, key: Buffer) -> None: ...  # in place, writable buffer; key 72 bytes; releases the GIL
def unpermute(buf: Buffer, key: Buffer) -> None: ...

# Private, for tests and tools/bench/bench_permute.py: the gather kernels this CPU runs, best first
# ("ssse3", "portable"), and permute/unpermute with one of them ("auto" = what permute uses).
def _permute_kernels() -> list[str]: ...
def _permute_with(buf: Buffer, key: Buffer, kernel: str, inverse: bool = False) -> None: ...

# SHA-256 of each buffer (32-byte digests, in order); up to four hashed side by side in SHA-NI
# lanes where the CPU has the SHA extensions (SHA256_ACCELERATED); releases the GIL.
SHA256_ACCELERATED: bool
def sha256_many(buffers: Sequence[Buffer]) -> list[bytes]: ...
# Private, for tests and tools/bench/bench_sha256.py: "shani" (if the CPU has it), "portable".
def _sha256_kernels() -> list[str]: ...
def _sha256_many_with(buffers: Sequence[Buffer], kernel: str) -> list[bytes]: ...

# Private, the gateway (qeltrix.gateway is the API; cpp/stream.hpp, cpp/gateway.hpp).
class _StreamDecoder:
    """One-pass V6 stream decoder, sans I/O, for format 6.0 and 6.1 (told apart by the header's
    version): ``next(bytes of the current item so far)`` returns ("need", total bytes needed) or
    (kind, bytes of the complete item) with kind "header", "keyring" (6.1: both copies, right
    after the header; at least one copy must be well-formed), "block", "page" (6.1: the index
    page after every E-th block and after the final block; it must list exactly the blocks seen
    since the previous page), "footer" or "trailer"; ``end(pending)`` at end of input raises
    TruncatedError unless the trailer was decoded. Bad bytes raise NotAContainerError or
    DamagedError. No item is larger than its bound: 416 or 256 (header), 2 * (56 + 128 *
    keyring_slots), block_size + 220, 16 + 56 * E (page), 64 + 56 * blocks seen + 1070 (6.0
    footer) or 64 + 48 * pages seen + 1070 (6.1 footer)."""

    done: bool
    version: int  # VERSION_6_0 or VERSION_6_1 once the first 6 bytes were seen, 0 before
    offset: int
    num_blocks: int
    num_pages: int  # 6.1: pages seen
    plaintext_size: int
    last_block: tuple[int, int, int, bool]  # index, plain_offset, plain_size, final
    last_page: tuple[int, int]  # 6.1: first_block, num_entries of the last page seen
    def __init__(self) -> None: ...
    def next(self, buf: Buffer) -> tuple[str, int]: ...
    def end(self, pending: int) -> None: ...

def _flush_deadline(first_byte: int, last_byte: int, flush_after: int, max_delay: int) -> int: ...

class _Gateway:
    """The native gateway. make_sealer() returns a session with header_bytes (the header, and
    for 6.1 the keyring: any size), seal(index, plain_offset, data, final, out) -> entry hash and
    finish(entries, plaintext_size) -> footer and trailer; make_opener(header) one with
    open(index, plain_offset, plain_size, final, stored, out) and check_footer(footer,
    footer_offset); log(level, message). Each is called with the GIL held, from the gateway's
    threads. start() raises OSError when it cannot bind.

    Format 6.1, optional: a sealer with a ``page`` attribute also has ``page_entries`` (E), and
    page(entries) -> the index page's bytes is called after every E blocks and after the final
    block when the last page is partial (the bytes are written at once, and count in the
    offsets of the entries that follow); finish() then gets the entries of the last page (empty
    with no blocks). A sealer without ``page`` is called exactly as for 6.0. Decrypting a 6.1
    stream, make_opener gets the header followed by both keyring copies, and each index page
    goes to the opener's check_page(page, offset) when it has one (after the page's blocks were
    opened, before the next block is released)."""

    port: int
    running: bool
    def __init__(self, listen_host: str, listen_port: int, dest_host: str, dest_port: int, decrypt: bool,
                 block_size: int, flush_after_ms: int, max_delay_ms: int, workers: int, window: int,
                 max_connections: int, connect_timeout_ms: int, make_sealer, make_opener, log,
                 idle_timeout_ms: int = 300000) -> None: ...
    def start(self) -> None: ...
    def stop(self, grace_ms: int) -> None: ...  # releases the GIL; joins every thread
    def stats(self) -> dict[str, int]: ...

# ---- HTTP: sans-IO parsers and builders (cpp/http.hpp, cpp/range.hpp) -------------------------
# Private, for tests: pure functions over bytes; the SeekServer uses the same code in C++. Limits and semantics: nginx
# 1.22 (shared/reference/http-range-anchors.md) with the deviations listed in cpp/range.hpp.

def _http_parse_request(buf: Buffer, max_request_line: int = 8192, max_header_line: int = 8192,
                        max_header_bytes: int = 32768, max_body: int = 65536
                        ) -> tuple[str] | tuple[str, int, str] | tuple[str, dict]: ...
    # ("need_more",) | ("error", status, reason) | ("request", {"method": str, "target": bytes,
    # "version": 10 | 11, "headers": [(lower-case name, value bytes)], "consumed": int (head and
    # Content-Length body), "body_length": int, "keep_alive": bool}).
    # Errors: 414 request line > max_request_line; 400 header line/section too large, bad syntax,
    # obs-fold, no Host on 1.1, several Host, bad/conflicting Content-Length, CL with
    # Transfer-Encoding, HTTP/0.9; 413 body > max_body; 501 any Transfer-Encoding; 505 HTTP/2+.
def _http_parse_range(value: str, size: int, max_ranges: int = 16, max_overlaps: int = 2
                      ) -> tuple[str, list[tuple[int, int]]]: ...
    # ("ignore", []) -> 200 | ("unsatisfiable", []) -> 416 | ("ranges", [(first, last inclusive)])
    # in request order. max_ranges 0: no cap.
def _http_plan(method: str, headers: Iterable[tuple[str, str]], size: int, etag: str = "",
               last_modified: int | None = None, content_type: str = "application/octet-stream",
               boundary: str = "qeltrix-boundary", max_ranges: int = 16, max_overlaps: int = 2) -> dict: ...
    # The GET/HEAD answer: {"status": 200|206|304|412|416, "fields": [(name, value)],
    # "ranges": [(first, last)], "multipart": bool, "content_length": int, "send_body": bool,
    # "static_body": bytes (412/416)}. RFC 9110 §13.2.2 precedence; HEAD ignores Range.
def _http_format_date(t: int) -> str: ...  # IMF-fixdate of Unix seconds
def _http_parse_date(s: str) -> int | None: ...  # IMF-fixdate, RFC 850 or asctime; None if invalid
def _http_build_head(status: int, fields: Iterable[tuple[str, str]]) -> bytes: ...
    # status line + fields + CRLF; ValueError on CR/LF in a field (no response splitting)
def _http_multipart_part(boundary: str, content_type: str, first: int, last: int, size: int) -> bytes: ...
def _http_multipart_close(boundary: str) -> bytes: ...

class SeekServer:
    """The native HTTP server behind qeltrix.SeekServer (cpp/seek_server.hpp). entries: (path,
    id, size, etag, last_modified, content_type, chunk). Called from its threads with the GIL
    taken around each call: read(id, offset, length) -> buffer of exactly length bytes;
    log(level, line) (a batch of lines per GIL acquisition); page(method, path bytes, query,
    accept) -> (status, [(name, value)], body) for paths that are no entry and every path under
    /-/ (None: 404 for those); log_level() -> the lowest level wanted (asked after each batch of
    lines and about once a second; lines below it are not made; None: every line). A Python
    exception in a callback ends that response (the connection is closed before its
    Content-Length) and is logged as "Type: message". Short reads (64 KiB or less) waiting at
    once are made in batches, read called for each with the GIL taken once per batch.

    The settings are checked by the native server (ValueError naming them): 1 <= workers <= 1024,
    1 <= max_connections <= 2**20, timeouts in (0, 86400] seconds, a token (None: no token) non-empty
    without CR, LF or NUL, boundary_prefix alphanumeric, 1 <= max_chunk <= 64 MiB, every entry's
    chunk >= 1 and its etag and content_type without CR, LF or NUL."""

    port: int
    running: bool
    def __init__(self, entries, read, log, host: str = "127.0.0.1", port: int = 7621, workers: int = 4,
                 max_connections: int = 256, header_timeout: float = 10.0, idle_timeout: float = 15.0,
                 send_timeout: float = 30.0, stop_timeout: float = 5.0, token: str | None = None,
                 boundary_prefix: str = "qeltrix", max_ranges: int = 16, max_overlaps: int = 2,
                 max_chunk: int = 4 << 20, page=None, log_level=None) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def stats(self) -> dict: ...
    # {"responses": {status: count}, "body_bytes", "head_bytes", "aborted", "auth_failures",
    # "refused", "accepted", "open_connections", "duration_bounds": [s], "duration_counts":
    # [per bucket, the last +Inf], "duration_sum": s}; each response counted when it ends.
