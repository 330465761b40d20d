"""The ``qeltrix`` command line (also ``python -m qeltrix`` and ``python -m qeltrix_v6``).

Errors are one line on stderr, never a traceback, with distinct exit codes (see EXIT_*).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading

from .io import is_url

EXIT_OK = 0
EXIT_ERROR = 1  # unexpected
EXIT_USAGE = 2  # bad arguments (argparse uses 2 as well)
EXIT_WRONG_KEY = 3  # wrong key or passphrase
EXIT_DAMAGED = 4  # not a container, unsupported, damaged, tampered or truncated
EXIT_IO = 5  # file not found, permission, disk full; remote: unreachable after retries, HTTP error,
#             server ignores Range, object changed while read (RemoteError and subclasses)
EXIT_EXISTS = 6  # output exists and --force not given
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C)
EXIT_TERMINATED = 143  # SIGTERM (kill, timeout, systemd, container runtimes): cleaned up as for Ctrl-C

PASSPHRASE_ENV = "QELTRIX_PASSPHRASE"
CIPHER_CHOICES = {"aes": 1, "chacha": 2}


class UsageError(Exception):
    pass


# -- keys --------------------------------------------------------------------------------------

def _add_key_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("key (one of; default: $QELTRIX_PASSPHRASE, else a prompt on a terminal)")
    g.add_argument("--key-file", metavar="FILE", help="raw 32-byte key file (see 'qeltrix keygen')")
    g.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from the first line of FILE")
    g.add_argument("--passphrase", metavar="P",
                   help="passphrase on the command line (visible to other users: prefer the file, env or prompt)")


def _key_args(args, confirm: bool = False) -> dict:
    """{'master_key': ...} or {'passphrase': ...} from the options, env or a no-echo prompt."""
    from .crypto import load_key_file

    given = [o for o in ("key_file", "passphrase_file", "passphrase") if getattr(args, o, None) is not None]
    if len(given) > 1:
        raise UsageError("give only one of --key-file, --passphrase-file, --passphrase")
    if args.key_file is not None:
        try:
            return {"master_key": load_key_file(args.key_file)}
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.passphrase_file is not None:
        with open(args.passphrase_file, "rb") as f:
            line = f.readline().rstrip(b"\r\n")
        if not line:
            raise UsageError(f"{args.passphrase_file}: empty passphrase")
        return {"passphrase": line}
    if args.passphrase is not None:
        if not args.passphrase:
            raise UsageError("empty passphrase")
        return {"passphrase": args.passphrase}
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return {"passphrase": env}
    if sys.stdin.isatty() and sys.stderr.isatty():
        import getpass

        p = getpass.getpass("Passphrase: ")
        if confirm and getpass.getpass("Passphrase (again): ") != p:
            raise UsageError("the passphrases differ")
        if not p:
            raise UsageError("empty passphrase")
        return {"passphrase": p}
    raise UsageError(f"no key: give --key-file, --passphrase-file or ${PASSPHRASE_ENV}")


# -- progress ----------------------------------------------------------------------------------

class _Progress:
    """A tqdm bar on stderr for long work on a terminal; a no-op otherwise."""

    def __init__(self, total: int | None, desc: str, enabled: bool):
        self.bar = None
        if enabled and sys.stderr.isatty() and (total is None or total >= 8 << 20):
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                            file=sys.stderr, leave=False)

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _size_of(path: str) -> int | None:
    try:
        return os.path.getsize(path) if path != "-" and os.path.isfile(path) else None
    except OSError:
        return None


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


# -- commands ----------------------------------------------------------------------------------

def cmd_pack(args) -> int:
    from .writer import pack

    if args.output == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write a container to a terminal: redirect stdout or give a file")
    keys = _key_args(args, confirm=True)
    prog = _Progress(_size_of(args.input), "pack", not args.quiet)
    try:
        r = pack("-" if args.input == "-" else args.input, args.output, block_size=args.block_size * 1024,
                 cipher_id=CIPHER_CHOICES[args.cipher], workers=args.workers, permute=args.permute,
                 overwrite=args.force, progress=prog, **keys)
    finally:
        prog.close()
    if not args.quiet:
        _say(f"packed {r.bytes_in} bytes into {r.total_blocks} blocks ({r.bytes_out} bytes) "
             f"in {r.elapsed_s:.2f}s")
    return EXIT_OK


def cmd_unpack(args) -> int:
    from .container import unpack

    keys = _key_args(args)
    src = args.input
    if args.stream and src != "-":
        if is_url(src):
            raise UsageError("--stream reads a local file or -, not a URL")
        src = open(src, "rb")  # a file object read front to back, as a pipe would be
    prog = _Progress(_size_of(args.input), "unpack", not args.quiet)
    try:
        r = unpack(src, args.output, workers=args.workers, verify=not args.no_verify,
                   overwrite=args.force, progress=prog, **keys) if not args.stream else \
            _unpack_stream_only(src, args, keys, prog)
    finally:
        prog.close()
        if hasattr(src, "close") and src is not args.input:
            src.close()
    if not args.quiet:
        where = r.output or ("stdout" if args.output == "-" else "output")
        _say(f"unpacked {r.bytes_out} bytes from {r.total_blocks} blocks to {where} in {r.elapsed_s:.2f}s; "
             f"integrity {'OK' if r.integrity_ok else 'FAILED'}")
    return EXIT_OK


def _unpack_stream_only(src, args, keys, prog):
    import time

    from .container import _unpack_stream

    if src == "-":
        src = sys.stdin.buffer
    return _unpack_stream(_NonSeekable(src), args.output, keys.get("master_key"), keys.get("passphrase"),
                          args.workers, not args.no_verify, args.force, prog, time.perf_counter())


class _NonSeekable:
    """Hide seek() so a file is read front to back in one pass, as from a pipe."""

    def __init__(self, f):
        self._f = f

    def readinto(self, b):
        return self._f.readinto(b)

    def read(self, n=-1):
        return self._f.read(n)


def cmd_seek(args) -> int:
    from .container import seek_extract

    keys = _key_args(args)
    data = seek_extract(args.input, args.offset, args.length, verify=not args.no_verify,
                        workers=args.workers, **keys)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        from .io import open_output

        with open_output(args.output, overwrite=args.force) as out:
            out.write(data)
            out.commit()
        if not args.quiet:
            _say(f"wrote {len(data)} bytes to {args.output}")
    return EXIT_OK


def cmd_info(args) -> int:
    import json

    from .container import info

    d = info(args.input)
    if args.json:
        print(json.dumps(d, indent=2))
    else:
        for k, v in d.items():
            print(f"{k:16} {v}")
    return EXIT_OK


def cmd_inspect(args) -> int:
    import json

    from .inspect import describe, parse_container

    with parse_container(args.input) as parsed:
        d = describe(parsed)
    if args.json:
        print(json.dumps(d, indent=2))
    else:
        _print_tree(d)
    return EXIT_OK


def _print_tree(d, indent: int = 0) -> None:
    pad = "  " * indent
    for k, v in d.items():
        if isinstance(v, dict):
            print(f"{pad}{k}:")
            _print_tree(v, indent + 1)
        elif isinstance(v, list):
            print(f"{pad}{k}: [{len(v)}]")
            for i, item in enumerate(v):
                if isinstance(item, dict):
                    print(f"{pad}  - [{i}]")
                    _print_tree(item, indent + 2)
                else:
                    print(f"{pad}  - {item}")
        else:
            print(f"{pad}{k}: {v}")


def cmd_verify(args) -> int:
    import json

    from .container import verify

    keyed = any(getattr(args, o, None) for o in ("key_file", "passphrase_file", "passphrase")) or \
        bool(os.environ.get(PASSPHRASE_ENV))
    keys = _key_args(args) if keyed else {}
    r = verify(args.input, workers=args.workers, **keys)
    if args.json:
        print(json.dumps({"ok": r.ok, "keyed": r.keyed, "total_blocks": r.total_blocks,
                          "original_size": r.plaintext_size, "errors": r.errors}, indent=2))
    else:
        for e in r.errors:
            _say(f"qeltrix: {e}")
        what = "every MAC, tag and hash" if r.keyed else "structure and block hashes (no key: MACs not checked)"
        print(f"{'OK' if r.ok else 'DAMAGED'}: {r.total_blocks} blocks, {r.plaintext_size} bytes; checked {what}")
    return EXIT_OK if r.ok else EXIT_DAMAGED


# -- signals -----------------------------------------------------------------------------------
#
# Every command: SIGTERM is handled as SIGINT (Ctrl-C) is: an exception in the main thread, so the
# same cleanup runs (temporary output removed, a multipart upload aborted), then "terminated" and
# exit 143 (130 for SIGINT). A second signal during that cleanup exits at once.
# Servers (serve, gateway): the first signal stops them gracefully (in-flight work gets
# --stop-timeout seconds), exit 0; a second signal, or a stop that has not returned by then (a
# worker stuck, say, in a read from a stalled origin), exits at once with 130/143.


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as SIGINT raises KeyboardInterrupt."""


def _exit_now(signum: int, why: str) -> None:
    _say(f"qeltrix: {why}")
    try:
        sys.stderr.flush()
    finally:
        os._exit(128 + signum)


class _Signals:
    """SIGINT and SIGTERM handlers for one command. Until ``serving``, a signal raises (SIGINT:
    KeyboardInterrupt, SIGTERM: _Terminated) and a second one exits at once; once ``serving``,
    the first signal sets ``stop`` and a second one exits at once."""

    def __init__(self):
        self.stop = threading.Event()
        self.serving = False
        self.received: list[int] = []
        self._old: dict = {}

    def install(self) -> "_Signals":
        import signal

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        import signal

        for sig, h in self._old.items():
            signal.signal(sig, h)
        self._old.clear()

    def _handle(self, signum, frame) -> None:
        import signal

        self.received.append(signum)
        if len(self.received) > 1:
            _exit_now(signum, "second signal: exiting at once")
        if self.serving:
            self.stop.set()
            return
        raise _Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


_signals: _Signals | None = None  # the running command's (main() installs it)


@contextlib.contextmanager
def _serving():
    """The running command's signals, switched to "stop" mode while a server runs: yields the
    Event the first SIGINT/SIGTERM sets."""
    sig = _signals if _signals is not None else _Signals().install()
    sig.serving = True
    try:
        yield sig
    finally:
        sig.serving = False
        if sig is not _signals:
            sig.restore()


def _stop_bounded(stop, timeout: float, sig: _Signals) -> None:
    """Run ``stop()`` (a server's graceful stop, given ``timeout`` seconds for in-flight work)
    in a helper thread; if it has not returned 2 s after that (a worker stuck), or a second
    signal comes, exit at once."""
    import signal
    import time

    done = threading.Event()
    error: list = []

    def run():
        try:
            stop()
        except BaseException as e:  # reported below, from the main thread
            error.append(e)
        finally:
            done.set()

    threading.Thread(target=run, name="qeltrix-stop", daemon=True).start()
    deadline = time.monotonic() + timeout + 2.0
    while not done.wait(0.1):
        if time.monotonic() > deadline:
            _exit_now(sig.received[0] if sig.received else signal.SIGTERM,
                      f"workers still busy {timeout + 2.0:g}s after the stop: exiting at once")
    if error:
        raise error[0]


def _gateway_kdf_params(args, keys):
    """(KdfParams or None, whether to write them to --kdf-params): encrypting with a passphrase,
    an existing FILE is used and a missing one written; decrypting, FILE is required."""
    import os.path

    from .gateway import load_kdf_params

    path = args.kdf_params
    if "passphrase" not in keys:
        if path is not None:
            raise UsageError("--kdf-params goes with a passphrase, not --key-file")
        return None, False
    if args.decrypt:
        if path is None:
            raise UsageError("a decrypting gateway with a passphrase needs --kdf-params FILE: the file the "
                             "encrypting gateway wrote, or any container made with that passphrase and salt "
                             "(so that no client can make it run a KDF)")
        return load_kdf_params(path), False
    if path is not None and os.path.exists(path):
        return load_kdf_params(path), False
    return None, path is not None


def cmd_gateway(args) -> int:
    import logging

    from .gateway import GatewayServer, is_loopback

    if (args.dest_host is None) != (args.dest_port is None):
        raise UsageError("give --dest-host and --dest-port together (or neither, to reply on the same connection)")
    keys = _key_args(args, confirm=not args.decrypt)
    kdf_params, write_params = _gateway_kdf_params(args, keys)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="qeltrix: %(message)s")
    logging.getLogger("qeltrix.gateway").propagate = True
    gw = GatewayServer(listen_host=args.host, listen_port=args.port, cipher_id=CIPHER_CHOICES[args.cipher],
                       workers=args.workers, dest_host=args.dest_host, dest_port=args.dest_port,
                       block_size=args.block_size * 1024, flush_after=args.flush_after, decrypt=args.decrypt,
                       idle_timeout=args.idle_timeout or None, kdf_params=kdf_params, **keys)
    if write_params:
        from .gateway import save_kdf_params

        save_kdf_params(args.kdf_params, gw.kdf_params)
        _say(f"qeltrix gateway: wrote the KDF parameters to {args.kdf_params} (give it to the decrypting side)")
    if not is_loopback(args.host):
        _say(f"qeltrix: warning: listening on {args.host}: the gateway has no authentication; anyone who can "
             "reach this port can have data sealed or opened with its key (bind 127.0.0.1 or firewall it)")
    with _serving() as sig:
        try:
            gw.start()
            dest = f"{args.dest_host}:{args.dest_port}" if args.dest_host else "the same connection"
            _say(f"qeltrix gateway: listening on {args.host}:{gw.port} "
                 f"({'decrypt' if args.decrypt else 'encrypt'}, to {dest}); Ctrl-C to stop")
            sys.stderr.flush()
            while not sig.stop.wait(0.5):
                pass
            if not args.quiet:
                _say("qeltrix gateway: stopping")
        finally:
            st = gw.stats()
            _stop_bounded(lambda: gw.stop(timeout=args.stop_timeout), args.stop_timeout, sig)
    if not args.quiet and st:
        _say(f"qeltrix gateway: stopped; {st['completed']} connections completed, {st['failed']} failed, "
             f"{st['bytes_in']} bytes in, {st['bytes_out']} out")
    return EXIT_OK


def cmd_keygen(args) -> int:
    from .crypto import random_master_key

    if args.output == "-":
        raise UsageError("refusing to print a key: give a file name")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if args.force else os.O_EXCL)
    try:
        fd = os.open(args.output, flags, 0o600)
    except FileExistsError:
        raise FileExistsError(f"{args.output} exists (use --force to overwrite)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(random_master_key())
    if not args.quiet:
        _say(f"wrote a new 32-byte key to {args.output} (mode 600)")
    return EXIT_OK


def _token_arg(args) -> str | None:
    if args.token is not None and args.token_file is not None:
        raise UsageError("give only one of --token, --token-file")
    if args.token_file is not None:
        with open(args.token_file, "rb") as f:
            line = f.readline().rstrip(b"\r\n")
        try:
            token = line.decode("ascii")
        except UnicodeDecodeError:
            raise UsageError(f"{args.token_file}: the token must be ASCII") from None
        if not token:
            raise UsageError(f"{args.token_file}: empty token")
        return token
    if args.token is not None and not args.token:
        raise UsageError("empty token")
    return args.token


def cmd_serve(args) -> int:
    import logging

    from .server import SeekServer

    token = _token_arg(args)
    keys = _key_args(args)
    logger = logging.getLogger("qeltrix.server")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    logger.propagate = False
    try:
        srv = SeekServer(args.input, host=args.host, port=args.port, workers=args.workers, token=token,
                         stop_timeout=args.stop_timeout, **keys)
        with _serving() as sig:
            try:
                srv.start()
                if not args.quiet:
                    for p in srv.paths:
                        _say(f"serving {srv.url.rstrip('/')}{p}")
                sys.stderr.flush()
                while not sig.stop.wait(0.5):
                    pass
                if not args.quiet:
                    _say("qeltrix: stopping")
            finally:
                _stop_bounded(srv.stop, args.stop_timeout, sig)
    finally:
        logger.removeHandler(handler)
    return EXIT_OK


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args.dir, args.size, quiet=args.quiet)


# -- parser ------------------------------------------------------------------------------------

def _number(kind, ok, rule: str):
    """An argparse type: ``kind`` (int or float) for which ``ok(value)`` holds, else ``rule``."""

    def parse(s: str):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {s!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(rule)
        return v

    return parse


_positive = _number(int, lambda v: v >= 1, "must be at least 1")
_nonneg = _number(int, lambda v: v >= 0, "must not be negative")
_port = _number(int, lambda v: 0 <= v <= 65535, "must be 0..65535")
_seconds = _number(float, lambda v: 0.001 <= v <= 60, "must be between 0.001 and 60 seconds")
_idle_seconds = _number(float, lambda v: v == 0 or 0.01 <= v <= 86400,
                        "must be 0 (never) or between 0.01 and 86400 seconds")


def _add_stop_timeout(sp) -> None:
    sp.add_argument("--stop-timeout", type=_number(float, lambda v: 0 <= v <= 3600, "must be 0..3600 seconds"),
                    default=5.0, metavar="S",
                    help="on SIGINT/SIGTERM, give open connections S seconds to finish (default 5); a "
                         "second signal, or workers still busy 2 s later, exit at once (130/143)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="qeltrix", description="Encrypted, seekable streaming containers (V6).")
    p.add_argument("--version", action="version", version=f"qeltrix {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def common(sp, workers=True):
        sp.add_argument("-q", "--quiet", action="store_true", help="no summary or progress bar")
        if workers:
            sp.add_argument("--workers", type=_positive, default=4, help="parallel workers (default 4)")

    sp = sub.add_parser("pack", help="encrypt a file or stream into a container")
    sp.add_argument("input", help="file to pack, or - for stdin")
    sp.add_argument("output", help="container to write: path, writable fsspec URL (s3://...) or - for stdout")
    sp.add_argument("--cipher", choices=sorted(CIPHER_CHOICES), default="aes", help="payload cipher (default aes)")
    sp.add_argument("--block-size", type=_positive, default=1024, metavar="KB", help="block size in KiB (default 1024)")
    sp.add_argument("--permute", action="store_true", help="also permute each block's bytes with a keyed permutation before the AEAD (off by "
                         "default). It adds nothing to confidentiality or integrity: the AEAD gives both, and "
                         "the permutation key comes from the block key")
    sp.add_argument("-f", "--force", action="store_true", help="overwrite the output")
    common(sp)
    _add_key_options(sp)
    sp.set_defaults(func=cmd_pack)

    sp = sub.add_parser("unpack", help="decrypt a container")
    sp.add_argument("input", help="container: path, URL (http(s)://, s3://...) or - for stdin")
    sp.add_argument("output", nargs="?", help="output file or - for stdout (default: the stored name)")
    sp.add_argument("--no-verify", action="store_true", help="skip the plaintext hash check (tags are still checked)")
    sp.add_argument("--stream", action="store_true", help="read the input front to back in one pass, as a pipe")
    sp.add_argument("-f", "--force", action="store_true", help="overwrite the output")
    common(sp)
    _add_key_options(sp)
    sp.set_defaults(func=cmd_unpack)

    sp = sub.add_parser("seek", help="decrypt a byte range without unpacking the rest")
    sp.add_argument("input", help="container: path or URL")
    sp.add_argument("--offset", type=_nonneg, required=True, help="first plaintext byte")
    sp.add_argument("--length", type=_nonneg, required=True, help="number of bytes (clamped to the end)")
    sp.add_argument("--output", "-o", help="write to this file (default stdout)")
    sp.add_argument("--no-verify", action="store_true", help="skip the plaintext hash check")
    sp.add_argument("-f", "--force", action="store_true", help="overwrite the output")
    common(sp)
    _add_key_options(sp)
    sp.set_defaults(func=cmd_seek)

    sp = sub.add_parser("info", help="show a container's header and totals (no key needed)")
    sp.add_argument("input", help="container: path or URL")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("inspect", help="parse a container with the spec's parser (no key needed)")
    sp.add_argument("input", help="container: path or URL")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_inspect)

    sp = sub.add_parser("verify", help="check a container (without a key: storage damage; with: everything)")
    sp.add_argument("input", help="container: path or URL")
    sp.add_argument("--json", action="store_true")
    common(sp)
    _add_key_options(sp)
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("gateway", help="serve TCP: seal each connection into a V6 stream (or --decrypt one)",
                        description="Each accepted connection's bytes become a V6 stream as they arrive, sent "
                                    "back on the same connection (the client half-closes, then reads) or to "
                                    "--dest-host:--dest-port. --decrypt does the reverse; two gateways make an "
                                    "encrypted tunnel. No authentication: keep it on loopback or firewall it. "
                                    "Runs until SIGINT/SIGTERM.")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sp.add_argument("--port", type=_port, default=7620, help="port to listen on (default 7620; 0: a free port)")
    sp.add_argument("--dest-host", help="forward each stream to this host (default: reply on the same connection)")
    sp.add_argument("--dest-port", type=_port, help="... and port")
    sp.add_argument("--decrypt", action="store_true", help="read V6 streams, forward their plaintext")
    sp.add_argument("--cipher", choices=sorted(CIPHER_CHOICES), default="aes", help="payload cipher (default aes)")
    sp.add_argument("--block-size", type=_positive, default=1024, metavar="KB", help="block size in KiB (default 1024)")
    sp.add_argument("--flush-after", type=_seconds, default=0.2, metavar="S",
                    help="seal a partial block after S seconds without input (default 0.2)")
    sp.add_argument("--idle-timeout", type=_idle_seconds, default=300.0, metavar="S",
                    help="drop a source silent for S seconds, as an abort (default 300; 0: never)")
    sp.add_argument("--kdf-params", metavar="FILE",
                    help="with a passphrase: the KDF salt and cost. Encrypting: use FILE's, or write new ones "
                         "to FILE if it does not exist. Decrypting (required): FILE as the encrypting side "
                         "wrote it, or any container made with them; streams with other parameters are "
                         "refused, so no client can make the gateway run a KDF")
    _add_stop_timeout(sp)
    common(sp)
    _add_key_options(sp)
    sp.set_defaults(func=cmd_gateway)

    sp = sub.add_parser("serve", help="serve the plaintext of a container (or a folder of them) over HTTP "
                                      "with byte ranges, until SIGINT/SIGTERM")
    sp.add_argument("input", help="container, or a folder: each container under /<stored name>")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=_port, default=7621, help="port (default 7621; 0: any free port)")
    sp.add_argument("--token", metavar="T", help="require 'Authorization: Bearer T' (visible to other users: "
                                                  "prefer --token-file)")
    sp.add_argument("--token-file", metavar="FILE", help="read the bearer token from the first line of FILE")
    _add_stop_timeout(sp)
    common(sp)
    _add_key_options(sp)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("keygen", help="write a new random 32-byte key file")
    sp.add_argument("output")
    sp.add_argument("-f", "--force", action="store_true")
    common(sp, workers=False)
    sp.set_defaults(func=cmd_keygen)

    sp = sub.add_parser("demo", help="pack a generated sample, show info, seek, unpack and check")
    sp.add_argument("--dir", help="work folder (default: a temporary one, removed afterwards)")
    sp.add_argument("--size", type=_positive, default=8 << 20, help="sample size in bytes (default 8 MiB)")
    common(sp, workers=False)
    sp.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    global _signals

    parser = build_parser()
    args = parser.parse_args(argv)
    outer, _signals = _signals, _Signals().install()
    try:
        code = _run(args)
    finally:
        _signals.restore()
        _signals = outer
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED) and outer is None and \
            threading.current_thread() is threading.main_thread():
        # Cleanup has run (temporary output removed, upload aborted); threads still blocked in
        # a read (a stalled server) must not hold the exit: leave without joining them.
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    return code


def _run(args) -> int:
    from .errors import DamagedError, LimitError, NotAContainerError, UnsupportedVersionError, WrongKeyError

    try:
        return args.func(args)
    except UsageError as e:
        _say(f"qeltrix: {e}")
        return EXIT_USAGE
    except WrongKeyError as e:
        _say(f"qeltrix: {e}")
        return EXIT_WRONG_KEY
    except (DamagedError, NotAContainerError, UnsupportedVersionError, LimitError) as e:
        _say(f"qeltrix: {e}")
        return EXIT_DAMAGED
    except FileExistsError as e:
        _say(f"qeltrix: {e.args[0] if e.args else e}")
        return EXIT_EXISTS
    except BrokenPipeError:
        return EXIT_IO
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        _say(f"qeltrix: {where}{e.strerror or e}")
        return EXIT_IO
    except (ValueError, TypeError) as e:
        _say(f"qeltrix: {e}")
        return EXIT_USAGE
    except _Terminated:
        _say("qeltrix: terminated")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _say("qeltrix: interrupted")
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: still one line, but say so
        _say(f"qeltrix: internal error: {type(e).__name__}: {e}")
        return EXIT_ERROR
