"""Local sources and outputs: files, buffers, file objects, pipes, and atomic outputs.

Random access (seek, SeekServer, ``qeltrix.open``) needs a seekable source; unpack falls back to
a one-pass :class:`SequentialReader` for pipes. Outputs to a path are atomic
(:class:`AtomicOutput`): nothing partial ever stands under the output's name.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
import threading

from ..errors import TruncatedError
from .base import RandomAccess

__all__ = ["FileAccess", "BufferAccess", "FileObjAccess", "open_local", "SequentialReader", "output_error",
           "AtomicOutput", "PassThrough", "open_local_output", "PIPE_BYTES", "widen_pipe"]


_preadv = getattr(os, "preadv", None)


class FileAccess(RandomAccess):
    positional = True

    def __init__(self, path, fd: int | None = None, owned: bool = True):
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0)) if fd is None else fd
        self._owned = owned
        self.size = os.fstat(self._fd).st_size
        self.name = os.fspath(path) if path is not None else None
        st = os.fstat(self._fd)
        self.mtime = st.st_mtime

    def pread(self, offset, n):
        chunks, got = [], 0
        while got < n:
            b = os.pread(self._fd, n - got, offset + got)
            if not b:
                break
            chunks.append(b)
            got += len(b)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def read_into(self, offset, view):
        if _preadv is None:
            return RandomAccess.read_into(self, offset, view)
        n = len(view)
        if offset < 0 or offset + n > self.size:
            raise TruncatedError(f"read of {n} bytes at {offset} runs past the end ({self.size} bytes)")
        got = 0
        while got < n:
            k = _preadv(self._fd, [view[got:]], offset + got)
            if not k:
                raise TruncatedError(f"short read at offset {offset}: the file changed or is truncated")
            got += k
        return view

    def close(self):
        if self._owned and self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class BufferAccess(RandomAccess):
    positional = True

    def __init__(self, data):
        self._view = memoryview(data).cast("B")
        self.size = len(self._view)

    def pread(self, offset, n):
        return self._view[offset:offset + n]

    def read_into(self, offset, view):
        return self.read_exact(offset, len(view))


class FileObjAccess(RandomAccess):
    def __init__(self, f):
        self._f = f
        self._lock = threading.Lock()
        self.size = f.seek(0, io.SEEK_END)
        self.name = getattr(f, "name", None) if isinstance(getattr(f, "name", None), str) else None

    def pread(self, offset, n):
        with self._lock:
            self._f.seek(offset)
            return _read_full(self._f, n)


def _read_full(f, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = f.read(n - got)
        if not b:
            break
        chunks.append(b)
        got += len(b)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _is_seekable_file(f) -> bool:
    try:
        return f.seekable()
    except (AttributeError, ValueError, OSError):
        return False


def _is_regular_file(path) -> bool:
    """``pathlib.Path(path).is_file()`` without importing pathlib (same errors ignored)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            raise
        return False


def open_local(src) -> RandomAccess | None:
    """A RandomAccess over a local ``src`` (path, bytes-like, file object), or None when it is
    not seekable (a pipe, ``"-"``)."""
    if isinstance(src, RandomAccess):
        return src
    if isinstance(src, (bytes, bytearray, memoryview)):
        return BufferAccess(src)
    if isinstance(src, (str, os.PathLike)):
        if os.fspath(src) == "-":
            return None
        if not _is_regular_file(src):  # a named pipe or device: read it as a stream
            if not os.path.exists(src):
                raise FileNotFoundError(f"{os.fspath(src)}: no such file")
            return None
        return FileAccess(src)
    if hasattr(src, "read"):
        return FileObjAccess(src) if _is_seekable_file(src) else None
    raise TypeError(f"cannot read a container from {type(src).__name__}")


#: The capacity a pipe we read or write is given where the system allows it (Linux F_SETPIPE_SZ,
#: up to /proc/sys/fs/pipe-max-size, 1 MiB by default): a 1 MiB block then crosses in one read
#: instead of sixteen 64 KiB ones, each of which wakes the process at the other end.
PIPE_BYTES = 1 << 20


def widen_pipe(f) -> None:
    """Grow the pipe behind file object ``f`` (or descriptor) to PIPE_BYTES. Anything else (a
    file, a terminal, a system without F_SETPIPE_SZ, a lower limit) is left as it is."""
    try:
        fd = f if isinstance(f, int) else f.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        import fcntl

        get_sz, set_sz = getattr(fcntl, "F_GETPIPE_SZ", None), getattr(fcntl, "F_SETPIPE_SZ", None)
        if get_sz is None or set_sz is None or fcntl.fcntl(fd, get_sz) >= PIPE_BYTES:
            return
        fcntl.fcntl(fd, set_sz, PIPE_BYTES)
    except (AttributeError, ImportError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        pass


def _unbuffered(f):
    """A BufferedReader that cannot seek (stdin, a pipe, a socket) as (its raw stream, itself):
    read the raw stream, with no buffer and no lock, after the bytes the reader had read ahead
    (taken at the first read). Anything else: (f, None). Why: a reading thread may be left
    blocked in a read of a pipe (``pipeline.ordered_map_pull``), and a BufferedReader's lock held
    there is a fatal error at interpreter shutdown."""
    if isinstance(f, io.BufferedReader) and not _is_seekable_file(f):
        try:
            return f.raw, f
        except ValueError:  # detached: let the reads say so
            pass
    return f, None


class SequentialReader:
    """Reads a source front to back: ``read_exact(n)`` or ``readinto(buf)`` until EOF. ``"-"``
    is standard input; it and any other BufferedReader that cannot seek are read through their
    raw stream (see ``_unbuffered``)."""

    def __init__(self, src):
        self._owned = None
        self.name = None
        self._ahead = b""  # bytes already read from the source, to be read first
        self._buffered = None  # a BufferedReader whose read-ahead bytes are taken at the first read
        if isinstance(src, (bytes, bytearray, memoryview)):
            self._f = io.BytesIO(src)
        elif isinstance(src, (str, os.PathLike)):
            if os.fspath(src) == "-":
                self._f, self._buffered = _unbuffered(sys.stdin.buffer)
            else:
                self._f = self._owned = open(src, "rb", buffering=0)
                self.name = os.fspath(src)
            widen_pipe(self._f)
        elif hasattr(src, "readinto") or hasattr(src, "read"):
            self._f, self._buffered = _unbuffered(src)
        elif callable(src):
            self._f = _CallableReader(src)
        else:
            raise TypeError(f"cannot read from {type(src).__name__}")
        self.offset = 0

    def _take_ahead(self, n: int) -> bytes:
        if self._buffered is not None:
            # what it holds, or (nothing held) one read of the descriptor: either way ours, first
            self._ahead, self._buffered = self._buffered.read1(), None
        head, self._ahead = self._ahead[:n], self._ahead[n:]
        return head

    def readinto(self, buf) -> int:
        """Fill ``buf`` completely unless EOF comes first; return the bytes read."""
        view = memoryview(buf).cast("B")
        got, n = 0, len(view)
        if self._ahead or self._buffered is not None:
            head = self._take_ahead(n)
            got = len(head)
            view[:got] = head
        readinto = getattr(self._f, "readinto", None)
        while got < n:
            if readinto is not None:
                k = readinto(view[got:])
            else:
                b = self._f.read(n - got)
                k = len(b) if b else 0
                view[got:got + k] = b
            if not k:
                break
            got += k
        self.offset += got
        return got

    def read_exact(self, n: int, what: str = "data") -> bytes:
        if self._ahead or self._buffered is not None:
            head = self._take_ahead(n)
            self.offset += len(head)
            data = head if len(head) == n else head + self._read(n - len(head))
        else:
            data = self._read(n)
        if len(data) != n:
            raise TruncatedError(f"the stream ends inside the {what} (offset {self.offset})")
        return data

    def _read(self, n: int) -> bytes:
        if getattr(self._f, "read", None) is not None:
            # read(n) fills a new bytes object straight from the source: no zeroed buffer and no
            # copy of it, as readinto would need
            data = _read_full(self._f, n)
            if not isinstance(data, bytes):  # a file-like object's own buffer type
                data = bytes(data)
            self.offset += len(data)
        else:
            buf = bytearray(n)
            data = bytes(buf[:self.readinto(buf)])
        return data

    def at_eof(self) -> bool:
        return self.readinto(bytearray(1)) == 0

    def close(self):
        if self._owned is not None:
            self._owned.close()


class _CallableReader:
    def __init__(self, fn):
        self.read = fn


def output_error(e: OSError, shown: str, path: str | None = None, remote: bool = False) -> OSError:
    """``e`` (about an output's temporary file, its folder or the rename) said about the output
    the user named: an OSError of the same class and errno whose filename is ``shown`` and whose
    message is the reason in words the user can act on. ``remote``: ``shown`` is a URL."""
    code = e.errno
    if code is None:  # fsspec backends raise the class without an errno
        code = {FileNotFoundError: errno.ENOENT, PermissionError: errno.EACCES,
                IsADirectoryError: errno.EISDIR}.get(type(e))
    if remote:
        folder = shown.rsplit("/", 1)[0] if shown.count("/") > 2 else shown
    else:
        folder = os.path.dirname(path if path is not None else shown) or "."
    reasons = {
        errno.ENOENT: (f"bucket or folder {folder} does not exist" if remote else
                       f"directory {folder} does not exist"),
        errno.ENOTDIR: f"{folder} is not a directory",
        errno.EACCES: f"permission denied (cannot write in {folder})",
        errno.EPERM: f"permission denied (cannot write in {folder})",
        errno.ENOSPC: "disk full",
        getattr(errno, "EDQUOT", -1): "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EFBIG: "file too large (file size limit)",
        errno.EISDIR: "is a directory",
        errno.ENAMETOOLONG: "file name too long",
    }
    if remote and code in (errno.EACCES, errno.EPERM):
        reasons[code] = "permission denied"
    reason = reasons.get(code, e.strerror or str(e))
    try:
        err = type(e)(code, reason) if code is not None else OSError(errno.EIO, reason)
    except TypeError:  # a subclass with another signature
        err = OSError(code if code is not None else errno.EIO, reason)
    err.filename = shown
    return err


class AtomicOutput:
    """Write to a temporary file beside ``path``; rename over ``path`` only on ``commit``.

    On failure (``abort`` or leaving the ``with`` block by an exception) the temporary file is
    removed, so nothing partial ever stands under the output's name. Errors (folder missing,
    permission denied, disk full) name ``shown`` (default: ``path`` as given), never the
    temporary file.
    """

    def __init__(self, path, overwrite: bool = True, durable: bool = False, shown: str | None = None):
        self.path = os.fspath(path)
        self.shown = shown if shown is not None else self.path
        if not overwrite and os.path.lexists(self.path):
            raise FileExistsError(f"{self.shown} exists (use --force to overwrite)")
        self._overwrite = overwrite
        self._durable = durable
        import tempfile  # here: only outputs to a path need it

        d = os.path.dirname(os.path.abspath(self.path))
        self.tmp = None
        try:
            fd, self.tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".", suffix=".part", dir=d)
        except OSError as e:
            raise output_error(e, self.shown, self.path) from None
        self.file = os.fdopen(fd, "w+b")

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as e:
            raise output_error(e, self.shown, self.path) from None

    def seekable(self) -> bool:
        return True

    def retarget(self, path, shown: str | None = None, overwrite: bool | None = None) -> None:
        """Give the output its final name late (unpack restoring the stored name), and whether
        it may replace a file of that name (checked again on ``commit``)."""
        self.path = os.fspath(path)
        self.shown = shown if shown is not None else self.path
        if overwrite is not None:
            self._overwrite = overwrite

    def commit(self) -> None:
        try:
            self.file.flush()
            if self._durable:
                os.fsync(self.file.fileno())
            self.file.close()
        except OSError as e:
            raise output_error(e, self.shown, self.path) from None
        if not self._overwrite and os.path.lexists(self.path):
            self.abort()
            raise FileExistsError(f"{self.shown} exists (use --force to overwrite)")
        try:
            os.replace(self.tmp, self.path)
        except OSError as e:
            raise output_error(e, self.shown, self.path) from None
        self.tmp = None

    def abort(self) -> None:
        if self.tmp is not None:
            try:
                self.file.close()
            except OSError:
                pass  # buffered bytes of an output being dropped (the disk is full, say)
            finally:
                try:
                    os.unlink(self.tmp)
                except FileNotFoundError:
                    pass
                self.tmp = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or self.tmp is not None:  # failed, or left without commit()
            self.abort()


class PassThrough:
    """An output the caller owns (file object or stdout): no temporary file, no rename."""

    def __init__(self, f):
        self.file = f
        self.path = None

    def write(self, data) -> int:
        return self.file.write(data)

    def commit(self) -> None:
        flush = getattr(self.file, "flush", None)
        if flush:
            flush()

    def abort(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class OwnedPassThrough(PassThrough):
    """A device or FIFO we opened by its path: errors name that path."""

    def __init__(self, f, shown: str):
        super().__init__(f)
        self.shown = shown

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as e:
            raise output_error(e, self.shown) from None

    def commit(self) -> None:
        try:
            self.file.close()
        except OSError as e:
            raise output_error(e, self.shown) from None

    def abort(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass

    def __exit__(self, exc_type, *exc):
        if not self.file.closed:
            self.file.close()


def open_local_output(dst, overwrite: bool = True):
    """An output for a local ``dst``: a path (atomic), ``"-"`` (stdout), a device or FIFO, a
    writable binary file object or a callable."""
    if isinstance(dst, (str, os.PathLike)):
        if os.fspath(dst) == "-":
            widen_pipe(sys.stdout.buffer)
            return PassThrough(sys.stdout.buffer)
        if os.path.isdir(dst):
            raise IsADirectoryError(errno.EISDIR, "is a directory (give a file name)", os.fspath(dst))
        if os.path.exists(dst) and not os.path.isfile(dst):
            # A device or FIFO (/dev/null, a named pipe): write straight to it; never rename over it.
            f = open(dst, "wb")
            widen_pipe(f)
            return OwnedPassThrough(f, os.fspath(dst))
        return AtomicOutput(dst, overwrite=overwrite)
    if hasattr(dst, "write"):
        return PassThrough(dst)
    if callable(dst):
        return PassThrough(_CallableWriter(dst))
    raise TypeError(f"cannot write a container to {type(dst).__name__}")


class _CallableWriter:
    """A plain callable sink; it gets bytes (it may keep them), never views of reused buffers."""

    def __init__(self, fn):
        self._fn = fn

    def write(self, data):
        return self._fn(bytes(data))
