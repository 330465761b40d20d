"""One container sealed by many Dask workers, straight into object storage or a shared file.

    from distributed import Client
    qeltrix.distributed.pack("s3://in/big.bin", "s3://out/big.bin.qltx", client=Client(addr),
                             key="env:QELTRIX_KEY")

The source (any fsspec URL or path; its size known) is split into ranges of whole blocks. Each
Dask task reads its range, seals its blocks (their indices, offsets and the final flag follow
from the block size) and writes them: as one part of an S3 multipart upload, or with positional
writes into a preallocated temporary file beside a local (or shared) destination. 6.1 index
pages go right after their last block: the task holding a page's last block writes the page,
from the entry hashes the earlier tasks of that page returned (a Dask dependency). The driver
checks every page against its own Sealer, writes footer and trailer (the last part), then
completes the upload or renames the file. Any failure — a task error, a worker lost mid-task
(tasks write, so a re-run is refused rather than allowed to write twice) — aborts the upload or
removes the temporary file: nothing is left under the destination's name.

Keys never travel: tasks carry a key *provider* (:class:`qeltrix.qltxfs.KeyProvider`) and the
container's header and keyring (public bytes, written to the container anyway); each worker
resolves the provider and opens the keyring itself. What a task returns is entry hashes and
part ETags.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

try:
    import fsspec
    import distributed  # noqa: F401 - checked here, used where a client is needed
except ImportError as e:  # pragma: no cover - the extra is not installed
    raise ImportError(f"qeltrix.distributed needs Dask: pip install 'qeltrix[dask]' ({e})") from None

# What this module takes from the rest of qeltrix, in one place.
from . import _core
from .blocks import OVERHEAD, seal_blocks
from .crypto import CIPHER_AES256_GCM, hash_many
from .pipeline import group_size
from .qltxfs import KeyProvider
from .reader import Layout, open_layout
from .sources import display_url
from .fileinfo import check_plain_name
from .writer import DEFAULT_BLOCK_SIZE, PackResult, Sealer

__all__ = ["pack", "plan_tasks", "MIN_PART", "MAX_PARTS", "TASK_BYTES"]

#: S3's smallest part (all but the last), its largest and its most parts per upload.
MIN_PART = 5 << 20
MAX_PART = 5 << 30
MAX_PARTS = 10_000
#: Plaintext per task unless told (``task_bytes``): large enough that a task's fixed costs
#: (scheduling, a request) vanish, small enough to spread 1 GiB over a few workers.
TASK_BYTES = 64 << 20


# -- layout arithmetic (pure) ---------------------------------------------------------------------

class _Layout(NamedTuple):
    size: int          # plaintext bytes
    block_size: int
    data_offset: int   # block 0
    page_entries: int  # E

    @property
    def num_blocks(self) -> int:
        return _core.block_count(self.size, self.block_size)

    def plain_size(self, i: int) -> int:
        return min(self.block_size, self.size - i * self.block_size)

    def page_bytes(self, entries: int) -> int:
        return _core.PAGE_HEAD_SIZE + _core.FOOTER_ENTRY_SIZE * entries

    def block_offset(self, i: int) -> int:
        """Where block ``i`` starts: every block before it full, every page before it full."""
        return self.data_offset + i * (self.block_size + OVERHEAD) + (i // self.page_entries) * \
            self.page_bytes(self.page_entries)

    def closes_page(self, i: int) -> bool:
        return (i + 1) % self.page_entries == 0 or i == self.num_blocks - 1

    def range_end(self, last: int) -> int:
        """The offset after block ``last - 1`` and the page it may close."""
        i = last - 1
        end = self.block_offset(i) + self.plain_size(i) + OVERHEAD
        if self.closes_page(i):
            end += self.page_bytes(i - (i // self.page_entries) * self.page_entries + 1)
        return end

    def part_start(self, first: int) -> int:
        return 0 if first == 0 else self.block_offset(first)


def plan_tasks(size: int, block_size: int, data_offset: int, page_entries: int, *, task_bytes: int = TASK_BYTES,
               min_part: int = 0, max_parts: int = MAX_PARTS - 1, max_part: int = MAX_PART) -> list[tuple[int, int]]:
    """The block ranges ``[first, last)`` of the tasks: about ``task_bytes`` of plaintext each,
    cut at page ends (so a task closes at most the pages it ends), each written range at least
    ``min_part`` bytes (S3's part minimum; the footer is the last part), at most ``max_parts``
    tasks and ``max_part`` bytes each."""
    lay = _Layout(size, block_size, data_offset, page_entries)
    nb = lay.num_blocks
    if nb == 0:
        return []
    E = page_entries
    pages = -(-nb // E)
    per = max(1, task_bytes // block_size)
    budget = max_parts // pages  # tasks a page may have
    if per < E and budget >= 2:  # k tasks per page and a small one that ends it
        k = min(-(-E // per), budget - 1)
        per = -(-E // k)
        cuts = {p + m * per for p in range(0, nb, E) for m in range(k)}
        # The task that ends a page waits for the others of that page (it writes the page from
        # their entry hashes): keep it small — one block, or one S3 part's minimum — so that the
        # wait is short and the page's tasks run side by side.
        tail = max(1, -(-min_part // (block_size + OVERHEAD)))
        cuts |= {min(p + E, nb) - tail for p in range(0, nb, E) if min(p + E, nb) - tail > p}
    else:  # whole pages per task
        per = E * max(per // E, 1, -(-pages // max_parts))
        cuts = set(range(0, nb, per))
    if min(per, nb) * (block_size + OVERHEAD) > max_part:
        raise ValueError("a task would exceed the largest part: use a smaller task_bytes")
    cuts = sorted({c for c in cuts if c < nb} | {nb})
    out: list[tuple[int, int]] = []
    for a, b in zip(cuts, cuts[1:]):
        if out and lay.range_end(out[-1][1]) - lay.part_start(out[-1][0]) < min_part:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    if len(out) > 1 and lay.range_end(out[-1][1]) - lay.part_start(out[-1][0]) < min_part:
        out.pop()  # the last part is too small: the one before it takes its blocks
        out[-1] = (out[-1][0], nb)
    if len(out) > max_parts:
        raise ValueError(f"{len(out)} parts: more than {max_parts}; use a larger task_bytes")
    return out


# -- what a task is given and returns (no secret in either) ---------------------------------------

class _Dest(NamedTuple):
    kind: str            # "s3" or "file"
    fs: object           # the s3 filesystem (picklable: its options, no session)
    path: str            # bucket/key, or the temporary file's path
    upload_id: str | None = None


class _Task(NamedTuple):
    number: int          # 0-based; S3 part number - 1
    first: int
    last: int
    layout: _Layout
    header: bytes        # header and keyring: public, the first bytes of the container
    provider: KeyProvider
    src_fs: object
    src_path: str
    dest: _Dest
    permuted: bool
    claim: str           # a Dask Event name: a task runs once or fails


class _Result(NamedTuple):
    number: int
    digests: list        # entry hash of each block
    pages: list          # (page number, index hash of the page bytes written)
    etag: str | None


# -- on the worker ----------------------------------------------------------------------------------

_KEYS: OrderedDict = OrderedDict()
_KEYS_LOCK = threading.Lock()


def _worker_keys(header: bytes, provider: KeyProvider):
    """FileKeys for a container, from its header and keyring and the provider, resolved here
    (cached: one keyring opening, one passphrase KDF, per container and worker)."""
    h = _core.decode_header61(header)
    token = (bytes(h.header_mac), tuple(sorted(provider.spec().items())))
    with _KEYS_LOCK:
        hit = _KEYS.get(token)
    if hit is not None:
        return hit
    layout = Layout(_core.VERSION_6_1, h, header[:_core.HEADER61_SIZE], header[_core.HEADER61_SIZE:h.data_offset],
                    h.data_offset)
    keys = open_layout(layout, provider.secrets())
    hit = (keys, hash_many(h.index_hash))
    with _KEYS_LOCK:
        _KEYS[token] = hit
        while len(_KEYS) > 4:
            _KEYS.popitem(last=False)
    return hit


def _claim(name: str) -> None:
    from distributed import Event

    ev = Event(name)
    if ev.is_set():
        raise RuntimeError("a pack task ran twice (its worker was lost mid-task?): the pack is aborted, "
                           "as a second run would write other bytes over the first")
    ev.set()


_LOCAL = threading.local()


def _buffer(name: str, size: int) -> memoryview:
    """A buffer of ``size`` bytes reused by this worker thread's tasks (fresh 64 MiB buffers cost
    as much in page faults as sealing them)."""
    buf = getattr(_LOCAL, name, None)
    if buf is None or len(buf) < size:
        buf = bytearray(size)
        setattr(_LOCAL, name, buf)
    return memoryview(buf)[:size]


class _Sink:
    """Where a task's bytes go: positional writes as they are sealed (a file), or the part's
    buffer, uploaded at the end (S3)."""

    def __init__(self, t: _Task, base: int, size: int):
        self.t, self.base = t, base
        self.fd = None
        if t.dest.kind == "s3":
            self.view = _buffer("part", size)
        else:
            self.fd = os.open(t.dest.path, os.O_WRONLY)

    def put(self, offset: int, data) -> None:
        if self.fd is None:
            self.view[offset - self.base:offset - self.base + len(data)] = data
            return
        view, done = memoryview(data), 0
        while done < len(view):
            done += os.pwrite(self.fd, view[done:], offset + done)

    def finish(self) -> str | None:
        d = self.t.dest
        if d.kind == "s3":
            bucket, key, _ = d.fs.split_path(d.path)
            r = d.fs.call_s3("upload_part", Bucket=bucket, Key=key, UploadId=d.upload_id,
                             PartNumber=self.t.number + 1, Body=bytes(self.view))
            return r["ETag"]
        return None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _read_into(f, view: memoryview, where: str) -> None:
    done = 0
    while done < len(view):
        k = f.readinto(view[done:])
        if not k:
            raise OSError(f"{where}: the source ended early (it changed?)")
        done += k


def _seal_task(t: _Task, *earlier: _Result) -> _Result:
    """Read blocks [first, last) of the source, seal them (and the pages they close), write them."""
    _claim(t.claim)
    keys, index_hash = _worker_keys(t.header, t.provider)
    lay = t.layout
    bs = lay.block_size
    nb = lay.num_blocks
    lanes = group_size(bs)
    base = lay.part_start(t.first)
    sink = _Sink(t, base, lay.range_end(t.last) - base)
    digests: list = []
    try:
        if t.first == 0:
            sink.put(0, t.header)
        src = _buffer("src", lanes * bs)
        outs = [_buffer("out0", lanes * (bs + OVERHEAD)), _buffer("out1", lanes * (bs + OVERHEAD))]

        def write_runs(out, ids, sizes):
            """Runs of blocks that lie side by side (a page may sit between two), written."""
            start, lo, o = lay.block_offset(ids[0]), 0, 0
            for k, (i, n) in enumerate(zip(ids, sizes)):
                o += n + OVERHEAD
                nxt = lay.block_offset(i + 1) if i + 1 < nb else None
                if k == len(sizes) - 1 or nxt != lay.block_offset(i) + n + OVERHEAD:
                    sink.put(start, out[lo:o])
                    start, lo = nxt, o

        # One group is written (a thread: pwrite releases the GIL) while the next is sealed.
        with t.src_fs.open(t.src_path, "rb") as f, ThreadPoolExecutor(1) as writer:
            f.seek(t.first * bs)
            pending = None
            for gi, g in enumerate(range(t.first, t.last, lanes)):
                out = outs[gi % 2]
                ids = range(g, min(g + lanes, t.last))
                sizes = [lay.plain_size(i) for i in ids]
                _read_into(f, src[:sum(sizes)], t.src_path)
                group, p, o = [], 0, 0
                for i, n in zip(ids, sizes):
                    group.append((i, i * bs, src[p:p + n], i == nb - 1, out[o:o + n + OVERHEAD]))
                    p += n
                    o += n + OVERHEAD
                digests.extend(seal_blocks(keys, group, t.permuted, os.urandom, index_hash))
                if pending is not None:
                    pending.result()  # the other buffer is free again
                pending = writer.submit(write_runs, out, ids, sizes)
            if pending is not None:
                pending.result()
        # The earlier tasks of the first page this one closes end where it starts.
        pos = t.first - sum(len(r.digests) for r in earlier)
        known = {}
        for d in [d for r in earlier for d in r.digests] + digests:
            known[pos] = d
            pos += 1
        pages = []
        E = lay.page_entries
        for i in range(t.first, t.last):
            if not lay.closes_page(i):
                continue
            p0 = i - i % E
            entries = [(j * bs, lay.block_offset(j), lay.plain_size(j), lay.plain_size(j) + OVERHEAD, known[j])
                       for j in range(p0, i + 1)]
            page = _core.encode_page(p0, entries)
            sink.put(lay.block_offset(i) + lay.plain_size(i) + OVERHEAD, page)
            pages.append((i // E, index_hash([page])[0]))
        etag = sink.finish()
    finally:
        sink.close()
    return _Result(t.number, digests, pages, etag)


# -- the driver ---------------------------------------------------------------------------------------

def _source(src, storage_options):
    if isinstance(src, os.PathLike) or (isinstance(src, str) and "://" not in src and "::" not in src):
        fs, path = fsspec.filesystem("file"), os.path.abspath(os.fspath(src))
    else:
        fs, path = fsspec.core.url_to_fs(src, **(storage_options or {}))
    info = fs.info(path)
    if info.get("type") == "directory":
        raise IsADirectoryError(f"{src}: is a directory")
    return fs, path, int(info["size"]), info


def _is_local(dst) -> bool:
    return isinstance(dst, os.PathLike) or (isinstance(dst, str) and ("://" not in dst or dst.startswith("file://")))


def pack(src, dst, *, client=None, key=None, passphrase=None, identity=None, recipients=(),
         block_size: int = DEFAULT_BLOCK_SIZE, cipher_id: int = CIPHER_AES256_GCM, permute: bool = False,
         task_bytes: int = TASK_BYTES, overwrite: bool = True, name: str | None = None, mtime: int | None = None,
         storage_options: dict | None = None, dst_storage_options: dict | None = None, on_task=None,
         _reverse: bool = False) -> PackResult:
    """Pack ``src`` into ``dst`` with the workers of Dask ``client`` (default: the current one).

    ``src``: a path or fsspec URL whose size is known. ``dst``: a local (or shared) path —
    written with positional writes into a temporary file, renamed when complete — or an
    ``s3://`` URL, written as a multipart upload. Keys: providers (``key="env:VAR"`` or
    ``"file:/path"``, ``passphrase=``, ``identity=``, ``"name:NAME"``; see
    :class:`qeltrix.qltxfs.KeyProvider`) that the driver and every worker resolve themselves;
    ``recipients`` (``age1...``) are added to the keyring. ``on_task(number)`` is called as each
    task completes. Returns the :class:`~qeltrix.writer.PackResult`.
    """
    t0 = time.perf_counter()
    if client is None:
        from distributed import get_client

        try:
            client = get_client()
        except ValueError:
            raise ValueError("no Dask client: pass client=, or start one (distributed.Client)") from None
    provider = key if isinstance(key, KeyProvider) else KeyProvider(key, passphrase, identity)
    keys = provider.resolve()
    extra = list(recipients or ()) + [i.recipient for i in keys.get("identities", ())]
    sealer = Sealer(keys.get("master_key"), passphrase=keys.get("passphrase"), recipients=extra,
                    block_size=block_size, cipher_id=cipher_id, permute=permute)
    del keys
    src_fs, src_path, size, src_info = _source(src, storage_options)
    if name is None:
        try:
            name = check_plain_name(os.path.basename(src_path)) or None
        except ValueError:
            name = None
    if mtime is None:
        mtime = int(src_fs.modified(src_path).timestamp()) if _has_mtime(src_fs, src_path) else int(time.time())
    lay = _Layout(size, block_size, sealer.data_offset, sealer.page_entries)
    local = _is_local(dst)
    tasks_plan = plan_tasks(size, block_size, sealer.data_offset, sealer.page_entries, task_bytes=task_bytes,
                            min_part=0 if local else MIN_PART)
    out = _LocalOut(dst, overwrite) if local else _S3Out(dst, overwrite, dst_storage_options)
    try:
        if len(tasks_plan) <= 1:  # nothing to share out: seal here, in one pass
            _pack_here(sealer, src_fs, src_path, size, out, name, mtime)
        else:
            out.start(lay, sealer, name)
            tag = uuid.uuid4().hex
            tasks = [_Task(j, a, b, lay, sealer.header_bytes, provider, src_fs, src_path, out.dest, permute,
                           f"qeltrix-pack-{tag}-{j}") for j, (a, b) in enumerate(tasks_plan)]
            results = _run(client, tasks, on_task, _reverse)
            _assemble(sealer, lay, tasks, results, out)
            out.finish(sealer.finish(name, mtime), [r.etag for r in results])
    except BaseException:
        out.abort()
        raise
    return sealer.result(time.perf_counter() - t0, False)


def _has_mtime(fs, path) -> bool:
    try:
        fs.modified(path)
        return True
    except (NotImplementedError, OSError, AttributeError, TypeError, ValueError):
        return False


def _deps(tasks: list[_Task], j: int) -> list[int]:
    """The earlier tasks holding blocks of the first page task ``j`` closes (whose entry hashes
    its page needs)."""
    t = tasks[j]
    E = t.layout.page_entries
    closes = [i for i in range(t.first, t.last) if t.layout.closes_page(i)]
    if not closes:
        return []
    p0 = closes[0] - closes[0] % E
    return [k for k in range(j) if tasks[k].last > p0]


def _run(client, tasks: list[_Task], on_task, reverse: bool) -> list[_Result]:
    from distributed import Event, as_completed

    futures = []
    n = len(tasks)
    try:
        for j, t in enumerate(tasks):
            deps = [futures[k] for k in _deps(tasks, j)]
            futures.append(client.submit(_seal_task, t, *deps, key=f"{t.claim}-seal", pure=False, retries=0,
                                         priority=(j if reverse else n - j)))
        results: list = [None] * n
        for fut in as_completed(futures):
            r = fut.result()  # raises the task's error (or KilledWorker / CancelledError)
            results[r.number] = r
            if on_task is not None:
                on_task(r.number)
        return results
    finally:
        for f in futures:
            f.cancel()
        for t in tasks:
            try:
                Event(t.claim, client=client).clear()
            except Exception:  # noqa: BLE001 - a scheduler gone away: nothing to clean up there
                pass


def _assemble(sealer: Sealer, lay: _Layout, tasks, results, out) -> None:
    """Record every block in order in the driver's Sealer (which builds the pages and top table
    as a one-process pack would) and check the layout and each page against what tasks wrote."""
    written = {}
    for r in results:
        written.update(dict(r.pages))
    E = lay.page_entries
    for t, r in zip(tasks, results):
        if len(r.digests) != t.last - t.first:
            raise RuntimeError(f"task {t.number} returned {len(r.digests)} entries for {t.last - t.first} blocks")
        for k, digest in enumerate(r.digests):
            i = t.first + k
            if sealer.offset != lay.block_offset(i):
                raise RuntimeError(f"block {i}: planned at {lay.block_offset(i)}, the sealer has {sealer.offset}")
            n = lay.plain_size(i)
            page = sealer.record(n, n + OVERHEAD, digest, i == lay.num_blocks - 1)
            if page and sealer.index_hash([page])[0] != written.get(i // E):
                raise RuntimeError(f"index page {i // E} differs from the one written")


def _pack_here(sealer: Sealer, fs, path: str, size: int, out, name, mtime) -> None:
    out.begin_stream()
    bs = sealer.block_size
    with fs.open(path, "rb") as f:
        def chunks():
            done = 0
            while done < size:
                b = f.read(min(bs, size - done))
                if not b:
                    raise OSError(f"{path}: the source ended early (changed?)")
                done += len(b)
                yield b, done >= size, None

        out.write(sealer.header_bytes)
        for piece in sealer.seal(chunks()):
            out.write(piece)
    out.write(sealer.finish(name, mtime))
    out.commit_stream()


class _LocalOut:
    """A temporary file beside ``dst``, preallocated; tasks write into it by position; renamed
    over ``dst`` when complete, removed on failure."""

    def __init__(self, dst, overwrite: bool):
        self.dst = os.path.abspath(_file_path(dst))
        self.overwrite = overwrite
        if not overwrite and os.path.lexists(self.dst):
            raise FileExistsError(f"{dst} exists (use --force to overwrite)")
        d, base = os.path.split(self.dst)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=d)
        self.fd = fd
        self.dest = _Dest("file", None, self.tmp)
        self._pos = 0

    def start(self, lay: _Layout, sealer: Sealer, name) -> None:
        info = _core.MIN_INFO_SIZE + (len(name.encode()) if name else 0)
        pages = -(-lay.num_blocks // lay.page_entries)
        total = lay.range_end(lay.num_blocks) + _core.FOOTER_HEAD_SIZE + _core.TOP_ENTRY_SIZE * pages + info + \
            _core.TRAILER_SIZE
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(self.fd, 0, total)
            except OSError:
                os.ftruncate(self.fd, total)
        else:  # pragma: no cover
            os.ftruncate(self.fd, total)

    def finish(self, tail: bytes, _etags) -> None:
        end = os.fstat(self.fd).st_size
        os.pwrite(self.fd, tail, end - len(tail))
        self._close_and_rename()

    def _close_and_rename(self) -> None:
        os.close(self.fd)  # not fsynced: as a one-process pack (AtomicOutput's default)
        self.fd = -1
        if not self.overwrite and os.path.lexists(self.dst):
            raise FileExistsError(f"{self.dst} exists (use --force to overwrite)")
        os.replace(self.tmp, self.dst)
        self.tmp = None

    # one-pass fallback
    def begin_stream(self) -> None:
        pass

    def write(self, data) -> None:
        view, done = memoryview(data), 0
        while done < len(view):
            done += os.write(self.fd, view[done:])

    def commit_stream(self) -> None:
        self._close_and_rename()

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = None


def _file_path(dst) -> str:
    if isinstance(dst, str) and dst.startswith("file://"):
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        return url2pathname(urlsplit(dst).path)
    return os.fspath(dst)


class _S3Out:
    """A multipart upload: tasks upload parts 1..n, the driver the footer as part n+1 and
    completes; aborted on any failure (no object appears)."""

    def __init__(self, dst: str, overwrite: bool, storage_options):
        self.fs, self.path = fsspec.core.url_to_fs(dst, **(storage_options or {}))
        self.name = display_url(dst)
        if not hasattr(self.fs, "call_s3"):
            raise ValueError(f"{self.name}: a parallel pack writes to s3:// (multipart) or to a local or "
                             "shared path")
        if not overwrite and self.fs.exists(self.path):
            raise FileExistsError(f"{self.name} exists (use --force to overwrite)")
        self.bucket, self.key, _ = self.fs.split_path(self.path)
        self.upload_id = None
        self.dest = None
        self._buf = None

    def start(self, lay, sealer, name) -> None:
        r = self.fs.call_s3("create_multipart_upload", Bucket=self.bucket, Key=self.key)
        self.upload_id = r["UploadId"]
        self.dest = _Dest("s3", self.fs, self.path, self.upload_id)

    def finish(self, tail: bytes, etags) -> None:
        n = len(etags) + 1
        r = self.fs.call_s3("upload_part", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                            PartNumber=n, Body=tail)
        parts = [{"PartNumber": j + 1, "ETag": e} for j, e in enumerate(etags)] + [{"PartNumber": n, "ETag": r["ETag"]}]
        self.fs.call_s3("complete_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                        MultipartUpload={"Parts": parts})
        self.upload_id = None
        self.fs.invalidate_cache(self.path)

    def begin_stream(self) -> None:
        self._buf = bytearray()

    def write(self, data) -> None:
        self._buf += data

    def commit_stream(self) -> None:  # under two parts' worth: one request
        self.fs.pipe_file(self.path, bytes(self._buf))
        self.fs.invalidate_cache(self.path)

    def abort(self) -> None:
        if self.upload_id is not None:
            try:
                self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            except Exception:  # noqa: BLE001 - the error that stopped the pack is the one to report
                pass
            self.upload_id = None


# -- the command line ---------------------------------------------------------------------------------

def pack_command(args) -> int:
    """``qeltrix pack ... --scheduler ADDR | --dask-local N``: keys as providers workers can
    resolve (a key file, a passphrase file, $QELTRIX_PASSPHRASE, identity files)."""
    import sys

    if args.input == "-" or args.output == "-":
        raise ValueError("--scheduler/--dask-local pack a file or URL of known size into a path or s3:// URL, "
                         "not a pipe")
    if args.passphrase is not None:
        raise ValueError("with --scheduler/--dask-local give --key-file, --passphrase-file or $QELTRIX_PASSPHRASE "
                         "(workers read the key themselves; it never travels)")
    provider = {}
    if args.key_file:
        provider["key"] = "file:" + os.path.abspath(args.key_file)
    if args.passphrase_file:
        provider["passphrase"] = "file:" + os.path.abspath(args.passphrase_file)
    elif os.environ.get("QELTRIX_PASSPHRASE") and not args.key_file:
        provider["passphrase"] = "env:QELTRIX_PASSPHRASE"
    if not provider:
        raise ValueError("with --scheduler/--dask-local give --key-file, --passphrase-file or $QELTRIX_PASSPHRASE")
    recipients = list(getattr(args, "recipient", None) or [])
    for f in getattr(args, "recipients_file", None) or []:
        from .recipients import load_recipients

        recipients.extend(load_recipients(f))
    from distributed import Client, LocalCluster

    cipher = {"aes": 1, "chacha": 2}[args.cipher]
    if args.dask_local:
        cluster = LocalCluster(n_workers=args.dask_local, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        client = Client(cluster)
    else:
        cluster, client = None, Client(args.scheduler)
    try:
        r = pack(args.input, args.output, client=client, recipients=recipients, block_size=args.block_size * 1024,
                 cipher_id=cipher, permute=args.permute, overwrite=args.force, **provider)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if not args.quiet:
        print(f"qeltrix: packed {r.bytes_in} bytes into {r.total_blocks} blocks ({r.bytes_out} bytes) "
              f"in {r.elapsed_s:.2f}s", file=sys.stderr)
    return 0
