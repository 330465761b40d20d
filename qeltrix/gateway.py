"""GatewayServer: a TCP gateway that turns each connection's bytes into a V6 stream as they
arrive (or, with ``decrypt=True``, a V6 stream back into its plaintext).

    with GatewayServer(mk, listen_port=0) as gw:        # reflect mode: the result comes back
        ...                                              # on the same connection (the client
                                                         # half-closes its write side)
    GatewayServer(mk, dest_host="10.0.0.2", dest_port=7621)            # forward: encrypt
    GatewayServer(mk, listen_port=7621, dest_host="db", dest_port=5432, decrypt=True)

Two gateways (one encrypting, one decrypting) form an encrypted tunnel: plain TCP in on one side,
the same bytes out on the other, V6 on the wire between.

The socket loop, reading, idle-flush timing and framing run in the native core without the GIL
(``cpp/gateway.cpp``); only sealing or opening a block calls back into ``qeltrix.crypto``. A block
is sealed when full, or after ``flush_after`` seconds without new bytes (or once its first byte
waited ``5 * flush_after``), so a slow live source is not held back; the end of the input seals the
final block (empty when the input ended on a block boundary), the footer and the trailer. Each
connection holds at most ``window`` blocks in flight: a slow destination slows the source.

A source that aborts (connection reset), an unreachable destination or a stream that fails to
decode ends the connection without a footer: the receiver of an encrypted stream sees a truncated
container (``TruncatedError``, exit code 4); a decrypting gateway resets its plaintext output, so
its receiver sees an error rather than a clean end.

The gateway has no authentication of its own: anyone who can connect can have bytes sealed with
its key (or, decrypting, have any container made with its key opened). Bind it to loopback or
protect the port.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import weakref

from . import _core
from .blocks import open_block, stored_size
from .crypto import CIPHER_AES256_GCM, KdfParams, check_master_key, derive_master_key, hash_many
from .errors import DamagedError
from .keyring import prepare_recipients
from .reader import Layout, PagedIndex, check_footer, make_secrets, open_layout
from .writer import DEFAULT_BLOCK_SIZE, Sealer, StreamPacker, _check_settings

__all__ = ["GatewayServer", "StreamPacker", "is_loopback"]

log = logging.getLogger("qeltrix.gateway")

DEFAULT_FLUSH_AFTER = 0.2


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _SealSession:
    """One connection's container, sealed block by block by the native gateway's workers; the
    native writer thread hands back the entries of each index page (``page``) and of the end
    (``finish``), in order, and writes the bytes these return."""

    def __init__(self, prepared, block_size: int, cipher_id: int):
        self.sealer = Sealer(prepared=prepared, block_size=block_size, cipher_id=cipher_id, workers=1)
        self.header_bytes = self.sealer.header_bytes
        self.page_entries = self.sealer.page_entries  # the native writer calls page() after this many blocks

    def seal(self, index, plain_offset, data, final, out) -> bytes:
        return self.sealer.seal_at(index, plain_offset, data, final, out)

    def _record(self, entries, final: bool) -> bytes:
        s, out = self.sealer, b""
        for j, (plain_offset, block_offset, n, stored, digest) in enumerate(entries):
            if (plain_offset, block_offset, stored) != (s.plain_offset, s.offset, stored_size(n)):
                raise ValueError("entries out of order")
            out += s.record(n, stored, digest, final and j == len(entries) - 1)
        return out

    def page(self, entries) -> bytes:
        """The index page after these blocks (a full page, or the last one, which is shorter
        unless the final block filled it)."""
        return self._record(entries, len(entries) < self.sealer.page_entries)

    def finish(self, entries, plaintext_size) -> bytes:
        """The footer and trailer (``entries``: the last page's, already recorded by ``page``)."""
        s = self.sealer
        out = b""
        s.final_seen = s.num_blocks > 0
        if s.plain_offset != plaintext_size:
            raise ValueError("plaintext size does not match the entries")
        return out + s.finish()


class _OpenSession:
    """One connection's container, opened block by block (each authenticated before release)."""

    def __init__(self, header_bytes: bytes, secrets, derive):
        version = _core.header_version(header_bytes)
        if version == _core.VERSION_6_0:
            header = _core.decode_header(header_bytes)
            layout = Layout(version, header, header_bytes[:_core.HEADER_SIZE], None, _core.HEADER_SIZE)
        else:
            header = _core.decode_header61(header_bytes)
            layout = Layout(version, header, header_bytes[:_core.HEADER61_SIZE],
                            header_bytes[_core.HEADER61_SIZE:header.data_offset], header.data_offset)
        self.layout, self.header = layout, header
        self.keys = open_layout(layout, secrets, derive)
        self._pages: list[tuple[int, int, bytes]] = []

    def open(self, index, plain_offset, plain_size, final, stored, out) -> None:
        open_block(self.keys, index, stored, plain_offset, plain_size, final, self.header.permuted, True, out)

    def check_page(self, page: bytes, offset: int) -> None:
        """A 6.1 index page as it passed (its framing checked natively): kept to be matched
        against the authenticated footer."""
        first_plain = int.from_bytes(page[_core.PAGE_HEAD_SIZE:_core.PAGE_HEAD_SIZE + 8], "big")
        self._pages.append((offset, first_plain, hash_many(self.header.index_hash)([page])[0]))

    def check_footer(self, footer: bytes, footer_offset: int) -> None:
        if self.layout.version == _core.VERSION_6_0:
            index = _core.decode_footer(footer, self.header.block_size, footer_offset)
        else:
            top = _core.decode_footer61(footer, self.header.page_shift, self.header.block_size,
                                        self.layout.data_offset, footer_offset)
            if top.num_pages != len(self._pages):
                raise DamagedError(f"the footer lists {top.num_pages} index pages, the stream held {len(self._pages)}")
            for k, (ofs, po, digest) in enumerate(self._pages):
                ref = top.page(k)
                if (ref.ofs_page, ref.ofs_plaintext, ref.hash) != (ofs, po, digest):
                    raise DamagedError(f"index page {k} does not match the footer")
            index = PagedIndex(None, top, self.header)
        check_footer(self.keys, self.header, index, footer, footer_offset)


class _KeyCache:
    """Passphrase -> master key per KDF parameters: an encrypting gateway derives its key once
    and uses one salt for every connection, so the decrypting side need not pay the KDF again."""

    def __init__(self, size: int = 16):
        self._d: dict = {}
        self._size = size
        self._lock = threading.Lock()

    def __call__(self, passphrase, params: KdfParams) -> bytes:
        with self._lock:
            mk = self._d.get(params)
        if mk is None:
            mk = derive_master_key(passphrase, params)
            with self._lock:
                if len(self._d) >= self._size:
                    self._d.pop(next(iter(self._d)))
                self._d[params] = mk
        return mk


def _log(level: int, msg: str) -> None:
    log.log(level, "%s", msg)


def _stop_native(native) -> None:
    native.stop(0)


class GatewayServer:
    """A TCP gateway sealing (or, with ``decrypt=True``, opening) one V6 stream per connection.

    ``dest_host=None``: the result goes back on the same connection (the client shuts down its
    write side, then reads). Otherwise each connection opens one to ``dest_host:dest_port``.
    ``workers`` threads seal or open blocks for all connections; ``block_size`` bytes per block;
    ``flush_after`` seconds of idle input seal a partial block; a source silent for
    ``idle_timeout`` seconds (None: never) is dropped, as an abort, so clients that connect and
    send nothing cannot hold the ``max_connections`` slots. ``listen_port=0`` picks a free
    port (see ``.port`` after ``start()``).
    """

    def __init__(self, master_key=None, listen_host: str = "127.0.0.1", listen_port: int = 7620,
                 cipher_id: int = CIPHER_AES256_GCM, workers: int = 4, dest_host: str | None = None,
                 dest_port: int | None = None, *, passphrase=None, recipients=None, identities=None,
                 block_size: int = DEFAULT_BLOCK_SIZE,
                 flush_after: float = DEFAULT_FLUSH_AFTER, decrypt: bool = False,
                 max_connections: int = 64, window: int | None = None, connect_timeout: float = 10.0,
                 idle_timeout: float | None = 300.0):
        _check_settings(block_size, cipher_id, workers)
        if not isinstance(listen_port, int) or not 0 <= listen_port <= 65535:
            raise ValueError("listen_port must be in 0..65535")
        if (dest_host is None) != (dest_port is None):
            raise ValueError("give dest_host and dest_port together (or neither, to reply on the same connection)")
        if dest_port is not None and (not isinstance(dest_port, int) or not 1 <= dest_port <= 65535):
            raise ValueError("dest_port must be in 1..65535")
        if not 0.001 <= float(flush_after) <= 60:
            raise ValueError("flush_after must be between 0.001 and 60 seconds")
        if not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError("max_connections must be a positive integer")
        if window is not None and (not isinstance(window, int) or window < 1):
            raise ValueError("window must be a positive integer")
        if idle_timeout is not None and not 0.01 <= float(idle_timeout) <= 86400:
            raise ValueError("idle_timeout must be between 0.01 and 86400 seconds, or None (never)")
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.dest_host = dest_host
        self.dest_port = dest_port
        self.cipher_id = cipher_id
        self.workers = workers
        self.block_size = block_size
        self.flush_after = float(flush_after)
        self.decrypt = bool(decrypt)
        self.max_connections = max_connections
        self.window = window or 2 * workers
        self._connect_timeout_ms = max(1, int(connect_timeout * 1000))
        self.idle_timeout = None if idle_timeout is None else float(idle_timeout)
        if self.decrypt:
            self._secrets = make_secrets(master_key, passphrase, identities)
            if not self._secrets:
                raise ValueError("a master key, a passphrase or an identity is required")
            self._derive = _KeyCache()
        else:  # derive once: every connection's container shares the KDF salt, not its file key
            self._prepared = prepare_recipients(master_key, passphrase, recipients)
        self._native = None
        self._finalizer = None
        self._lock = threading.Lock()

    # -- the callbacks the native gateway calls (GIL held only for the call) --
    def _make_sealer(self) -> _SealSession:
        return _SealSession(self._prepared, self.block_size, self.cipher_id)

    def _make_opener(self, header_bytes: bytes) -> _OpenSession:
        return _OpenSession(header_bytes, self._secrets, self._derive)

    # -- lifecycle --
    def start(self) -> "GatewayServer":
        """Bind, listen and serve in background threads; returns at once. OSError if the
        address cannot be bound."""
        with self._lock:
            if self._native is not None:
                raise RuntimeError("the gateway is already started")
            flush_ms = max(1, round(self.flush_after * 1000))
            native = _core._Gateway(
                self.listen_host, self.listen_port, self.dest_host or "", self.dest_port or 0, self.decrypt,
                self.block_size, flush_ms, 5 * flush_ms, self.workers, self.window, self.max_connections,
                self._connect_timeout_ms, self._make_sealer, self._make_opener, _log,
                0 if self.idle_timeout is None else max(1, round(self.idle_timeout * 1000)))
            native.start()
            self._native = native
            self._finalizer = weakref.finalize(self, _stop_native, native)
        if not is_loopback(self.listen_host):
            log.warning("listening on %s:%d: the gateway has no authentication; anyone who can reach "
                        "this port can use its key", self.listen_host, self.port)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting; let open connections finish for up to ``timeout`` seconds, then end
        the rest without their footer (their receivers see a truncated stream). Idempotent."""
        with self._lock:
            native, self._native = self._native, None
            fin, self._finalizer = self._finalizer, None
        if native is not None:
            native.stop(max(0, int(timeout * 1000)))
            if fin is not None:
                fin.detach()

    close = stop

    @property
    def port(self) -> int:
        """The bound port (the free port chosen for ``listen_port=0``) once started."""
        native = self._native
        return native.port if native is not None else self.listen_port

    @property
    def running(self) -> bool:
        native = self._native
        return native is not None and native.running

    def stats(self) -> dict:
        """Counters: accepted, active, completed, failed connections; bytes_in, bytes_out;
        buffered (bytes held in connection queues now) and peak_buffered."""
        native = self._native
        if native is None:
            return {}
        return native.stats()

    def __enter__(self) -> "GatewayServer":
        if self._native is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        mode = "decrypt" if self.decrypt else "encrypt"
        dest = f"{self.dest_host}:{self.dest_port}" if self.dest_host else "reflect"
        return f"<GatewayServer {mode} {self.listen_host}:{self.port} -> {dest}>"
