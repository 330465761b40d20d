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

No connection chooses a KDF. An encrypting gateway derives its key once, at start-up, and every
container it writes carries that one salt and cost (``kdf_params``; so its containers can be
linked to each other). A decrypting gateway derives its key once, at start-up, too: from a raw
key, or from a passphrase *and the KDF parameters the operator gives* (``kdf_params``: those of
the encrypting side, from the small JSON file ``save_kdf_params`` writes, ``qeltrix gateway
--kdf-params FILE``, or read from any container made with them). A stream whose header names other
parameters is refused before any work (``StartupKey``), so 416 bytes from a client cannot buy an
Argon2id run.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref

from . import _core
from .blocks import open_block, stored_size
from .crypto import (CIPHER_AES256_GCM, KDF_NAMES, KDF_NONE, VERSION_6_0, VERSION_6_1, KdfParams,
                     derive_master_key, hash_many, passphrase_bytes)
from .errors import DamagedError, NotAContainerError, QeltrixError, WrongKeyError
from .keyring import prepare_recipients
from .reader import Layout, PagedIndex, check_footer, make_secrets, open_layout
from .sources import is_loopback
from .writer import DEFAULT_BLOCK_SIZE, Sealer, StreamPacker, check_settings

__all__ = ["GatewayServer", "StreamPacker", "StartupKey", "load_kdf_params", "save_kdf_params"]

log = logging.getLogger("qeltrix.gateway")

DEFAULT_FLUSH_AFTER = 0.2


class _SealSession:
    """One connection's container, sealed block by block by the native gateway's workers; the
    native writer thread hands back the entries of each index page (``page``) and of the end
    (``finish``), in order, and writes the bytes these return."""

    def __init__(self, prepared, block_size: int, cipher_id: int, block_hash: str = "sha256"):
        self.sealer = Sealer(prepared=prepared, block_size=block_size, cipher_id=cipher_id, workers=1,
                             block_hash=block_hash)
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


class _Configured:
    """Stands for the passphrase in the readers' key lookup: StartupKey.match never reads it."""

    def __repr__(self) -> str:
        return "<configured passphrase>"


_CONFIGURED = _Configured()


class StartupKey:
    """The keys a decrypting server opens containers with, derived once at start-up.

    A raw ``master_key``, age ``identities``, and/or a ``passphrase`` with the operator's
    ``kdf_params`` (the salt and cost of the containers to open: a 6.0 header's, or a 6.1
    passphrase slot's). ``match`` answers a container's (or slot's) KDF parameters with the
    KDF output if they are exactly the configured ones, else WrongKeyError: it never runs a KDF,
    so a client cannot choose the work."""

    def __init__(self, master_key=None, passphrase=None, kdf_params: KdfParams | None = None, identities=None):
        if master_key is None and passphrase is None and not identities:
            raise ValueError("a master key, a passphrase (with its kdf_params) or an identity is required")
        self._out: dict[int, bytes] = {}
        if passphrase is not None:
            if kdf_params is None or kdf_params.kdf_id == KDF_NONE:
                raise ValueError("decrypting with a passphrase needs the KDF parameters (salt and cost) of the "
                                 "containers to open: kdf_params, e.g. load_kdf_params(file written by the "
                                 "encrypting gateway) or taken from one of its containers")
            self.kdf_params: KdfParams | None = kdf_params
            # once, here: 6.0 takes the passphrase as given, 6.1 its NFC form (usually the same bytes)
            for version in (VERSION_6_0, VERSION_6_1):
                raw = passphrase_bytes(passphrase, version)
                done = next((v for k, v in self._out.items() if passphrase_bytes(passphrase, k) == raw), None)
                self._out[version] = done if done is not None else derive_master_key(raw, kdf_params, version)
        elif kdf_params is not None:
            raise ValueError("kdf_params go with a passphrase, not a raw key")
        else:
            self.kdf_params = None
        self.secrets = make_secrets(master_key, _CONFIGURED if passphrase is not None else None, identities)

    def match(self, _passphrase, claimed: KdfParams, version: int = VERSION_6_0) -> bytes:
        """The KDF output for a container (6.0) or passphrase slot (6.1) that claims ``claimed``."""
        if self.kdf_params is None:
            raise WrongKeyError("this container was made with a passphrase; this gateway has no passphrase")
        if claimed != self.kdf_params:
            raise WrongKeyError(f"this container's KDF parameters ({_describe(claimed)}) are not the ones "
                                f"configured ({_describe(self.kdf_params)}): refused without running a KDF")
        return self._out[version]


def _describe(p: KdfParams) -> str:
    return f"{KDF_NAMES.get(p.kdf_id, p.kdf_id)} t={p.t} m={p.m} p={p.p} salt {bytes(p.salt).hex()[:8]}..."


def save_kdf_params(path, params: KdfParams) -> None:
    """Write ``params`` (not secret: a salt and a cost) as a small JSON file, for the decrypting
    side's ``load_kdf_params``. Refuses to overwrite an existing file."""
    doc = {"qeltrix_kdf_params": 1, "kdf": KDF_NAMES[params.kdf_id], "salt": bytes(params.salt).hex(),
           "t": params.t, "m": params.m, "p": params.p}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(doc) + "\n")


def _container_kdf_params(path) -> KdfParams:
    """A 6.0 header's KDF parameters, or a 6.1 container's first passphrase slot's."""
    from .sources import open_random_access
    from .keyring import decode_copies, first_passphrase_params
    from .reader import read_layout

    try:
        with open_random_access(path) as ra:
            layout = read_layout(ra)
    except (NotAContainerError, QeltrixError, ValueError) as e:
        raise ValueError(f"{path}: not a container header ({e})") from None
    h = layout.header
    if layout.version == _core.VERSION_6_0:
        if h.kdf_id == KDF_NONE:
            raise ValueError(f"{path}: this container was made with a raw key: it has no KDF parameters")
        return KdfParams(h.kdf_id, bytes(h.kdf_salt), h.kdf_t, h.kdf_m, h.kdf_p)
    params = first_passphrase_params(decode_copies(h, layout.keyring)[0])
    if params is None:
        raise ValueError(f"{path}: this container has no passphrase slot: it has no KDF parameters")
    return params


def load_kdf_params(path) -> KdfParams:
    """KDF parameters from a file ``save_kdf_params`` wrote, or from the header of a container
    (or a captured gateway stream) made with them. ValueError if it is neither."""
    with open(path, "rb") as f:
        head = f.read(_core.HEADER_SIZE)
        if head[:4] == b"QLTX":
            return _container_kdf_params(path)
        text = head + f.read(4096)
    try:
        doc = json.loads(text)
        ids = {v: k for k, v in KDF_NAMES.items()}
        p = KdfParams(ids[doc["kdf"]], bytes.fromhex(doc["salt"]), int(doc["t"]), int(doc["m"]), int(doc["p"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{path}: neither a KDF parameters file nor a container") from None
    if p.kdf_id == KDF_NONE or len(p.salt) != 16:
        raise ValueError(f"{path}: not passphrase KDF parameters")
    return p


def _log(level: int, msg: str) -> None:
    log.log(level, "%s", msg)


def _stop_native(native) -> None:
    native.stop(0)


class GatewayServer:
    """A TCP gateway sealing (or, with ``decrypt=True``, opening) one V6 stream per connection.

    ``dest_host=None``: the result goes back on the same connection (the client shuts down its
    write side, then reads). Otherwise each connection opens one to ``dest_host:dest_port``.
    ``workers`` threads seal or open blocks for all connections; ``block_size`` bytes per block;
    ``block_hash`` is the plaintext hash each sealed block carries: ``"sha256"``, or ``"blake3"``
    (about 4x faster to compute, and to check on the decrypting side, which reads it from the
    stream's header: a tunnel of two gateways spends most of its CPU on SHA-256 otherwise).
    ``flush_after`` seconds of idle input seal a partial block; a source silent for
    ``idle_timeout`` seconds (None: never) is dropped, as an abort, so clients that connect and
    send nothing cannot hold the ``max_connections`` slots. ``listen_port=0`` picks a free
    port (see ``.port`` after ``start()``).

    With a ``passphrase``, the key is derived once, here. Encrypting: with ``kdf_params`` (else
    new ones, see ``.kdf_params``), which every container written carries. Decrypting:
    ``kdf_params`` is required (those of the encrypting side: ``load_kdf_params``), and a
    stream made with any other parameters is refused without running a KDF.
    """

    def __init__(self, master_key=None, listen_host: str = "127.0.0.1", listen_port: int = 7620,
                 cipher_id: int = CIPHER_AES256_GCM, workers: int = 4, dest_host: str | None = None,
                 dest_port: int | None = None, *, passphrase=None, recipients=None, identities=None,
                 block_size: int = DEFAULT_BLOCK_SIZE,
                 flush_after: float = DEFAULT_FLUSH_AFTER, decrypt: bool = False,
                 max_connections: int = 64, window: int | None = None, connect_timeout: float = 10.0,
                 idle_timeout: float | None = 300.0, kdf_params: KdfParams | None = None,
                 block_hash: str = "sha256"):
        check_settings(block_size, cipher_id, workers)
        if block_hash not in ("sha256", "blake3"):
            raise ValueError("block_hash must be 'sha256' or 'blake3'")
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
        self.block_hash = block_hash
        self.flush_after = float(flush_after)
        self.decrypt = bool(decrypt)
        self.max_connections = max_connections
        self.window = window or 2 * workers
        self._connect_timeout_ms = max(1, int(connect_timeout * 1000))
        self.idle_timeout = None if idle_timeout is None else float(idle_timeout)
        if self.decrypt:  # derive once, here; each stream's KDF parameters must match (StartupKey)
            self._key = StartupKey(master_key, passphrase, kdf_params, identities)
            self.kdf_params = self._key.kdf_params
        else:  # derive once: every connection's container shares the KDF salt, not its file key
            if kdf_params is not None and passphrase is None:
                raise ValueError("kdf_params go with a passphrase, not a raw key")
            self._prepared = prepare_recipients(master_key, passphrase, recipients, kdf_params=kdf_params)
            self.kdf_params = next((r.params for r in self._prepared if r.kind == "passphrase"), None)
        self._native = None
        self._finalizer = None
        self._lock = threading.Lock()

    # -- the callbacks the native gateway calls (GIL held only for the call) --
    def _make_sealer(self) -> _SealSession:
        return _SealSession(self._prepared, self.block_size, self.cipher_id, self.block_hash)

    def _make_opener(self, header_bytes: bytes) -> _OpenSession:
        return _OpenSession(header_bytes, self._key.secrets, self._key.match)

    # -- lifecycle --
    def start(self) -> "GatewayServer":
        """Bind, listen and serve in background threads; returns at once. OSError if the
        address cannot be bound."""
        with self._lock:
            if self._native is not None:
                raise RuntimeError("the gateway is already started")
            if not is_loopback(self.listen_host):  # said once, before binding
                log.warning("listening on %s: the gateway has no authentication; anyone who can reach this "
                            "port can have data sealed or opened with its key (bind 127.0.0.1 or firewall it)",
                            self.listen_host)
            flush_ms = max(1, round(self.flush_after * 1000))
            native = _core._Gateway(
                self.listen_host, self.listen_port, self.dest_host or "", self.dest_port or 0, self.decrypt,
                self.block_size, flush_ms, 5 * flush_ms, self.workers, self.window, self.max_connections,
                self._connect_timeout_ms, self._make_sealer, self._make_opener, _log,
                0 if self.idle_timeout is None else max(1, round(self.idle_timeout * 1000)))
            native.start()
            self._native = native
            self._finalizer = weakref.finalize(self, _stop_native, native)
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
