"""The ``qeltrix`` command line (also ``python -m qeltrix`` and ``python -m qeltrix_v6``).

Errors are one line on stderr, never a traceback, with distinct exit codes (see EXIT_*).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading

from .sources import is_url

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
IDENTITY_ENV = "QELTRIX_IDENTITY"
NEW_PASSPHRASE_ENV = "QELTRIX_NEW_PASSPHRASE"
#: --cipher's choices: the names of the core's cipher ids (looked up when a command runs).
CIPHER_CHOICES = {"aes": "CIPHER_AES256_GCM", "chacha": "CIPHER_CHACHA20_POLY1305"}


def _cipher_id(choice: str) -> int:
    from . import _core

    return getattr(_core, CIPHER_CHOICES[choice])


class UsageError(Exception):
    pass


# -- keys --------------------------------------------------------------------------------------

def _add_key_options(p: argparse.ArgumentParser, *, writer: bool = False, reader: bool = True) -> None:
    g = p.add_argument_group("key (one of; default: $QELTRIX_PASSPHRASE, else a prompt on a terminal)")
    g.add_argument("--key-file", metavar="FILE", help="raw 32-byte key file (see 'qeltrix keygen')")
    g.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from the first line of FILE")
    g.add_argument("--passphrase", metavar="P",
                   help="passphrase on the command line (visible to other users: prefer the file, env or prompt)")
    if writer:
        g.add_argument("-r", "--recipient", action="append", default=[], metavar="AGE1...",
                       help="an age X25519 recipient who can open the container (repeatable; with or "
                            "instead of a key or passphrase)")
        g.add_argument("-R", "--recipients-file", action="append", default=[], metavar="FILE",
                       help="a file of age recipients, one per line (repeatable)")
    if reader:
        g.add_argument("-i", "--identity", action="append", default=[], metavar="FILE",
                       help=f"an age identity file (as age-keygen writes it; repeatable; also ${IDENTITY_ENV})")


def _identities(args) -> list:
    files = list(getattr(args, "identity", None) or [])
    env = os.environ.get(IDENTITY_ENV)
    if env and not files:
        files = [f for f in env.split(os.pathsep) if f]
    if not files:
        return []
    from .recipients import load_identities

    out = []
    for f in files:
        out.extend(load_identities(f))
    return out


def _recipients(args) -> list:
    if not getattr(args, "recipient", None) and not getattr(args, "recipients_file", None):
        return []
    from .recipients import load_recipients, parse_recipient_arg

    out = [parse_recipient_arg(r) for r in args.recipient]
    for f in args.recipients_file:
        out.extend(load_recipients(f))
    return out


def _key_args(args, confirm: bool = False, *, writer: bool = False) -> dict:
    """The keys the options give: {'master_key'|'passphrase': ..., 'identities': [...]} for
    readers, {'master_key'|'passphrase': ..., 'recipients': [...]} for writers. A key or
    passphrase comes from its option, the environment or a no-echo prompt; with identities or
    recipients it is optional (no prompt)."""
    out: dict = {}
    if writer:
        recips = _recipients(args)
        if recips:
            out["recipients"] = recips
    else:
        ids = _identities(args)
        if ids:
            out["identities"] = ids
    key = _secret_args(args, confirm, optional=bool(out))
    out.update(key)
    return out


def _secret_args(args, confirm: bool, optional: bool) -> dict:
    """{'master_key': ...} or {'passphrase': ...} from the options, env or a no-echo prompt
    ({} when ``optional`` and none was given)."""
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
        try:  # text, so that its Unicode normalisation applies as to a typed one
            return {"passphrase": line.decode("utf-8")}
        except UnicodeDecodeError:
            return {"passphrase": line}
    if args.passphrase is not None:
        if not args.passphrase:
            raise UsageError("empty passphrase")
        return {"passphrase": args.passphrase}
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return {"passphrase": env}
    if optional:
        return {}
    if sys.stdin.isatty() and sys.stderr.isatty():
        import getpass

        p = getpass.getpass("Passphrase: ")
        if confirm and getpass.getpass("Passphrase (again): ") != p:
            raise UsageError("the passphrases differ")
        if not p:
            raise UsageError("empty passphrase")
        return {"passphrase": p}
    raise UsageError(f"no key: give --key-file, --passphrase-file, -i/--identity or ${PASSPHRASE_ENV}")


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
    if args.scheduler or args.dask_local:  # sealed by Dask workers (qeltrix.distributed)
        if args.scheduler and args.dask_local:
            raise UsageError("give --scheduler or --dask-local, not both")
        from .distributed import pack_command

        return pack_command(args)
    keys = _key_args(args, confirm=True, writer=True)
    if args.keyring_slots is not None:
        keys["keyring_slots"] = args.keyring_slots
    prog = _Progress(_size_of(args.input), "pack", not args.quiet)
    try:
        r = pack("-" if args.input == "-" else args.input, args.output, block_size=args.block_size * 1024,
                 cipher_id=_cipher_id(args.cipher), workers=args.workers, permute=args.permute,
                 overwrite=args.force, progress=prog, block_hash=args.block_hash, **keys)
    finally:
        prog.close()
    if not args.quiet:
        _say(f"packed {r.bytes_in} bytes into {r.total_blocks} blocks ({r.bytes_out} bytes) "
             f"in {r.elapsed_s:.2f}s")
    return EXIT_OK


def cmd_unpack(args) -> int:
    from .operations import unpack

    keys = _key_args(args)
    src = args.input
    if args.stream and is_url(src):
        raise UsageError("--stream reads a local file or -, not a URL")
    prog = _Progress(_size_of(args.input), "unpack", not args.quiet)
    try:
        r = unpack(src, args.output, workers=args.workers, verify=not args.no_verify,
                   overwrite=args.force, progress=prog, stream=args.stream, **keys)
    finally:
        prog.close()
    if not args.quiet:
        where = r.output or ("stdout" if args.output == "-" else "output")
        _say(f"unpacked {r.bytes_out} bytes from {r.total_blocks} blocks to {where} in {r.elapsed_s:.2f}s; "
             f"integrity {'OK' if r.integrity_ok else 'FAILED'}")
    return EXIT_OK


def cmd_seek(args) -> int:
    from .operations import seek_extract

    keys = _key_args(args)
    data = seek_extract(args.input, args.offset, args.length, verify=not args.no_verify,
                        workers=args.workers, **keys)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        from .sources import open_output

        with open_output(args.output, overwrite=args.force) as out:
            out.write(data)
            out.commit()
        if not args.quiet:
            _say(f"wrote {len(data)} bytes to {args.output}")
    return EXIT_OK


def cmd_info(args) -> int:
    import json

    from .operations import info

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

    from .operations import verify

    keyed = any(getattr(args, o, None) for o in ("key_file", "passphrase_file", "passphrase", "identity")) or \
        bool(os.environ.get(PASSPHRASE_ENV)) or bool(os.environ.get(IDENTITY_ENV))
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

    from .gateway import GatewayServer

    if (args.dest_host is None) != (args.dest_port is None):
        raise UsageError("give --dest-host and --dest-port together (or neither, to reply on the same connection)")
    keys = _key_args(args, confirm=not args.decrypt, writer=not args.decrypt)
    kdf_params, write_params = _gateway_kdf_params(args, keys)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="qeltrix: %(message)s")
    logging.getLogger("qeltrix.gateway").propagate = True
    gw = GatewayServer(listen_host=args.host, listen_port=args.port, cipher_id=_cipher_id(args.cipher),
                       workers=args.workers, dest_host=args.dest_host, dest_port=args.dest_port,
                       block_size=args.block_size * 1024, flush_after=args.flush_after, decrypt=args.decrypt,
                       idle_timeout=args.idle_timeout or None, max_connections=args.max_connections,
                       window=args.window, connect_timeout=args.connect_timeout, kdf_params=kdf_params,
                       block_hash=args.block_hash, **keys)
    if write_params:
        from .gateway import save_kdf_params

        save_kdf_params(args.kdf_params, gw.kdf_params)
        _say(f"qeltrix gateway: wrote the KDF parameters to {args.kdf_params} (give it to the decrypting side)")
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


def _new_passphrase(args) -> str | bytes:
    """The passphrase to add: --new-passphrase-file, $QELTRIX_NEW_PASSPHRASE or a prompt (twice)."""
    if args.new_passphrase_file is not None:
        with open(args.new_passphrase_file, "rb") as f:
            line = f.readline().rstrip(b"\r\n")
        if not line:
            raise UsageError(f"{args.new_passphrase_file}: empty passphrase")
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            return line
    env = os.environ.get(NEW_PASSPHRASE_ENV)
    if env:
        return env
    if sys.stdin.isatty() and sys.stderr.isatty():
        import getpass

        p = getpass.getpass("New passphrase: ")
        if getpass.getpass("New passphrase (again): ") != p:
            raise UsageError("the passphrases differ")
        if not p:
            raise UsageError("empty passphrase")
        return p
    raise UsageError(f"no new passphrase: give --new-passphrase-file or ${NEW_PASSPHRASE_ENV}")


def cmd_rekey(args) -> int:
    from .crypto import load_key_file
    from .recipients import load_recipients, parse_recipient_arg
    from .rekey import rekey, rotate

    keys = _key_args(args)
    add = [parse_recipient_arg(r) for r in args.add_recipient]
    for f in args.add_recipients_file:
        add.extend(load_recipients(f))
    new_pass = _new_passphrase(args) if (args.add_passphrase or args.change_passphrase) else None
    try:
        add_key = load_key_file(args.add_key_file) if args.add_key_file else None
        remove_key = load_key_file(args.remove_key_file) if args.remove_key_file else None
    except ValueError as e:
        raise UsageError(str(e)) from None
    remove_pass = None
    if args.remove_passphrase or args.change_passphrase:
        remove_pass = keys.get("passphrase")
        if remove_pass is None:
            raise UsageError("--remove-passphrase and --change-passphrase remove the passphrase that opens the "
                             "container: give it with --passphrase-file or $QELTRIX_PASSPHRASE")
    if args.rotate:
        if args.remove_recipient or remove_pass is not None or remove_key is not None or args.remove_slot:
            raise UsageError("--rotate makes a new keyring from the --add-* options alone: nothing to remove")
        if is_url(args.input):
            raise UsageError("--rotate works on a local file")
        r = rotate(args.input, keys.get("master_key"), passphrase=keys.get("passphrase"),
                   identities=keys.get("identities"), new_master_key=add_key, new_passphrase=new_pass,
                   new_recipients=add, keyring_slots=args.keyring_slots, workers=args.workers)
        if not args.quiet:
            _say(f"re-encrypted {r.bytes_in} bytes under a new file key ({r.total_blocks} blocks)")
        return EXIT_OK
    r = rekey(args.input, keys.get("master_key"), passphrase=keys.get("passphrase"),
              identities=keys.get("identities"), add_recipients=add, add_passphrase=new_pass,
              add_master_key=add_key, remove_recipients=args.remove_recipient, remove_passphrase=remove_pass,
              remove_master_key=remove_key, remove_slots=args.remove_slot)
    if not args.quiet:
        _say(f"keyring rewritten: {r.added} slot(s) added, {r.removed} removed, {r.slots} in use "
             f"(generation {r.generation}, {r.bytes_written} bytes written)")
    return EXIT_OK


def cmd_keys(args) -> int:
    import json

    from .recipients import parse_recipient_arg
    from .rekey import keys as list_keys

    any_key = any(getattr(args, o, None) for o in ("key_file", "passphrase_file", "passphrase", "identity")) or \
        bool(os.environ.get(PASSPHRASE_ENV)) or bool(os.environ.get(IDENTITY_ENV))
    keys = _key_args(args) if any_key else {}
    rep = list_keys(args.input, keys.get("master_key"), passphrase=keys.get("passphrase"),
                    identities=keys.get("identities"), recipients=[parse_recipient_arg(r) for r in args.recipient])
    if args.json:
        print(json.dumps({"format": rep.format, "capacity": rep.capacity, "free": rep.free,
                          "generation": rep.generation, "opened": rep.opened,
                          "slots": [s._asdict() for s in rep.slots]}, indent=2))
        return EXIT_OK
    print(f"format {rep.format}: {len(rep.slots)} of {rep.capacity} key slots in use, {rep.free} free"
          + (f" (generation {rep.generation})" if rep.format != "6.0" else ""))
    for s in rep.slots:
        print(f"  slot {s.slot:3}  {s.kind:9} {s.recipient or ''}".rstrip())
    if not rep.opened and rep.format != "6.0":
        print("(give a key, passphrase or identity to check which slot is whose)")
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
    except OSError as e:
        from .sources import output_error

        raise output_error(e, args.output) from None
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
        srv = SeekServer(
            args.input, host=args.host, port=args.port, workers=args.workers, token=token,
            index=not args.no_index, max_connections=args.max_connections, header_timeout=args.header_timeout,
            idle_timeout=args.idle_timeout, send_timeout=args.send_timeout, stop_timeout=args.stop_timeout,
            cache_bytes=args.cache_mb << 20, readahead_blocks=args.readahead_blocks, max_ranges=args.max_ranges,
            **keys)
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


def cmd_mount(args) -> int:
    import logging

    from .mount import mount

    if args.passphrase is not None:
        raise UsageError("a mount runs for long and --passphrase stays visible in the process list: "
                         "give --passphrase-file, $" + PASSPHRASE_ENV + " or type it at the prompt")
    keys = _key_args(args)
    logger = logging.getLogger("qeltrix.mount")
    if args.log_file:
        handler = logging.FileHandler(args.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("qeltrix mount: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    logger.propagate = False
    shown = args.source
    if is_url(shown):
        from .sources import display_url

        shown = display_url(shown)  # no credentials or signature in messages
    ready_w = None
    if args.daemon:
        r, ready_w = os.pipe()
        pid = os.fork()
        if pid:  # the parent: wait until the child has mounted (or failed), then return
            os.close(ready_w)
            with os.fdopen(r, "rb") as f:
                ok = f.read(1)
            if ok:
                if not args.quiet:
                    _say(f"qeltrix: mounted {shown} at {args.mountpoint} (pid {pid}); "
                         f"'qeltrix umount {args.mountpoint}' to unmount")
                return EXIT_OK
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else EXIT_ERROR
        os.close(r)
        os.setsid()

    def ready():
        if ready_w is not None:  # detach from the terminal and let the parent go
            null = os.open(os.devnull, os.O_RDWR)
            sys.stderr.flush()
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.close(null)
            os.write(ready_w, b"1")
            os.close(ready_w)
        elif not args.quiet:
            _say(f"qeltrix: mounted {shown} at {args.mountpoint}; Ctrl-C or "
                 f"'qeltrix umount {args.mountpoint}' to unmount")
            sys.stderr.flush()

    import signal

    # libfuse ends its loop on SIGINT/SIGTERM/SIGHUP and unmounts, but installs its handlers only
    # over the default ones: give them back (this command's handlers would wait for the main
    # thread, which is inside libfuse until the mount ends).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    try:
        mount(args.source, args.mountpoint, read_only=args.read_only, allow_other=args.allow_other,
              on_ready=ready, cache_bytes=args.cache_mib << 20, workers=args.workers,
              block_size=args.block_size * 1024, cipher_id=_cipher_id(args.cipher), timeout=args.timeout,
              **keys)
    finally:
        logger.removeHandler(handler)
    return EXIT_OK


def cmd_umount(args) -> int:
    from .mount import unmount

    unmount(args.mountpoint, lazy=args.lazy)
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
_timeout = _number(float, lambda v: 0.01 <= v <= 86400, "must be between 0.01 and 86400 seconds")


def _add_stop_timeout(sp) -> None:
    sp.add_argument("--stop-timeout", type=_number(float, lambda v: 0 <= v <= 3600, "must be 0..3600 seconds"),
                    default=5.0, metavar="S",
                    help="on SIGINT/SIGTERM, give open connections S seconds to finish (default 5); a "
                         "second signal, or workers still busy 2 s later, exit at once (130/143)")


class _Unused:
    """Stands in for the parser of a command not being run: its options are not built (start-up
    time: a command builds only its own options; every command is still listed in the help)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


COMMANDS = ("pack", "unpack", "seek", "info", "inspect", "verify", "gateway", "serve", "rekey", "keys", "mount",
            "umount", "keygen", "demo")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (``only``: a command's name) with only that command's options."""
    from . import __version__

    p = argparse.ArgumentParser(prog="qeltrix", description="Encrypted, seekable streaming containers (V6).")
    p.add_argument("--version", action="version", version=f"qeltrix {__version__}")
    commands = p.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    class _Sub:
        def add_parser(self, name, **kwargs):
            parser = commands.add_parser(name, **kwargs)
            return parser if only in (None, name) else _Unused()

    sub = _Sub()

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
    sp.add_argument("--keyring-slots", type=_positive, default=None, metavar="N",
                    help="room for N key slots, so recipients can be added later in place (default 16)")
    sp.add_argument("--block-hash", choices=("sha256", "blake3"), default="sha256",
                    help="hash of each block's plaintext (default sha256; blake3 is faster)")
    sp.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                    help="seal with the workers of this Dask scheduler (pip install 'qeltrix[dask]'; "
                         "see docs/distributed.md): input a path or URL, output a shared path or s3://")
    sp.add_argument("--dask-local", type=_positive, metavar="N",
                    help="seal with N local Dask worker processes")
    common(sp)
    _add_key_options(sp, writer=True, reader=False)
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
    sp.add_argument("--block-hash", choices=("sha256", "blake3"), default="sha256",
                    help="hash of each block's plaintext in the containers it seals (default sha256; blake3 "
                         "is faster)")
    sp.add_argument("--flush-after", type=_seconds, default=0.2, metavar="S",
                    help="seal a partial block after S seconds without input (default 0.2)")
    sp.add_argument("--idle-timeout", type=_idle_seconds, default=300.0, metavar="S",
                    help="drop a source silent for S seconds, as an abort (default 300; 0: never)")
    sp.add_argument("--max-connections", type=_positive, default=64, metavar="N",
                    help="connections served at once; more wait to be accepted (default 64)")
    sp.add_argument("--window", type=_positive, metavar="BLOCKS",
                    help="blocks in flight per connection: a slow destination slows its source (default 2 x workers)")
    sp.add_argument("--connect-timeout", type=_timeout, default=10.0, metavar="S",
                    help="give up connecting to the destination after S seconds (default 10)")
    sp.add_argument("--kdf-params", metavar="FILE",
                    help="with a passphrase: the KDF salt and cost. Encrypting: use FILE's, or write new ones "
                         "to FILE if it does not exist. Decrypting (required): FILE as the encrypting side "
                         "wrote it, or any container made with them; streams with other parameters are "
                         "refused, so no client can make the gateway run a KDF")
    _add_stop_timeout(sp)
    common(sp)
    _add_key_options(sp, writer=True)
    sp.set_defaults(func=cmd_gateway)

    sp = sub.add_parser("serve", help="serve the plaintext of a container (or a folder of them) over HTTP "
                                      "with byte ranges, until SIGINT/SIGTERM")
    sp.add_argument("input", help="container, or a folder: each container under /<stored name>")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=_port, default=7621, help="port (default 7621; 0: any free port)")
    sp.add_argument("--token", metavar="T", help="require 'Authorization: Bearer T' (visible to other users: "
                                                  "prefer --token-file)")
    sp.add_argument("--token-file", metavar="FILE", help="read the bearer token from the first line of FILE")
    sp.add_argument("--no-index", action="store_true",
                    help="a folder does not list itself at / (its containers are still served by name)")
    sp.add_argument("--max-connections", type=_positive, default=256, metavar="N",
                    help="connections open at once; above, 503 and close (default 256)")
    sp.add_argument("--header-timeout", type=_timeout, default=10.0, metavar="S",
                    help="a request's head must arrive within S seconds (default 10)")
    sp.add_argument("--idle-timeout", type=_timeout, default=15.0, metavar="S",
                    help="close a keep-alive connection idle for S seconds (default 15)")
    sp.add_argument("--send-timeout", type=_timeout, default=30.0, metavar="S",
                    help="close a connection whose client reads nothing for S seconds (default 30)")
    sp.add_argument("--cache-mb", type=_positive, default=32, metavar="MB",
                    help="decrypted blocks kept for all clients, in MiB (default 32)")
    sp.add_argument("--readahead-blocks", type=_nonneg, default=8, metavar="N",
                    help="blocks decrypted ahead of a streaming response (default 8; 0: off)")
    sp.add_argument("--max-ranges", type=_nonneg, default=16, metavar="N",
                    help="ranges one request may ask for (default 16; 0: no cap)")
    _add_stop_timeout(sp)
    common(sp)
    _add_key_options(sp)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("rekey", help="change who can open a container: rewrites only its keyring, in place",
                        description="Adds or removes key slots of a 6.1 container without touching its blocks "
                                    "(crash-safe: two keyring copies). Removing a slot does not revoke anybody "
                                    "who already held the file key: --rotate re-encrypts everything under a new "
                                    "one, for exactly the recipients given with the --add-* options.")
    sp.add_argument("input", help="container: a local file")
    sp.add_argument("--add-recipient", action="append", default=[], metavar="AGE1...", help="repeatable")
    sp.add_argument("--add-recipients-file", action="append", default=[], metavar="FILE", help="repeatable")
    sp.add_argument("--remove-recipient", action="append", default=[], metavar="AGE1...", help="repeatable")
    sp.add_argument("--add-passphrase", action="store_true",
                    help=f"add a passphrase (from --new-passphrase-file, ${NEW_PASSPHRASE_ENV} or a prompt)")
    sp.add_argument("--remove-passphrase", action="store_true", help="remove the passphrase that opened it")
    sp.add_argument("--change-passphrase", action="store_true", help="add the new passphrase, remove the old one")
    sp.add_argument("--new-passphrase-file", metavar="FILE", help="the passphrase to add (first line)")
    sp.add_argument("--add-key-file", metavar="FILE", help="add a raw 32-byte key")
    sp.add_argument("--remove-key-file", metavar="FILE", help="remove the slot this raw key opens")
    sp.add_argument("--remove-slot", action="append", type=_nonneg, default=[], metavar="N",
                    help="remove slot N, as 'qeltrix keys' numbers them (repeatable)")
    sp.add_argument("--rotate", action="store_true", help="re-encrypt under a new file key (real revocation)")
    sp.add_argument("--keyring-slots", type=_positive, default=None, metavar="N", help="with --rotate")
    common(sp)
    _add_key_options(sp)
    sp.set_defaults(func=cmd_rekey)

    sp = sub.add_parser("keys", help="list a container's key slots (types without a key; whose, with one)")
    sp.add_argument("input", help="container: path or URL")
    sp.add_argument("-r", "--recipient", action="append", default=[], metavar="AGE1...",
                    help="name this recipient's slot, if it has one (needs a key to check)")
    sp.add_argument("--json", action="store_true")
    _add_key_options(sp)
    sp.set_defaults(func=cmd_keys)

    sp = sub.add_parser("mount", help="show the plaintext of containers as read-only files (FUSE), until unmounted",
                        description="SOURCE: a container, a folder of containers, an http(s) URL (of a container, or of "
                                    "a folder listing when it ends in /) or an fsspec URL (s3://bucket/prefix/). Each "
                                    "container shows under its stored name. New files written front to back into a "
                                    "folder are packed into new containers when closed; nothing else can change. "
                                    "Needs 'qeltrix[mount]' and libfuse 3 (Debian: fuse3).")
    sp.add_argument("source", help="container, folder or URL")
    sp.add_argument("mountpoint", help="an existing folder")
    sp.add_argument("--read-only", action="store_true", help="no new files")
    sp.add_argument("--daemon", action="store_true", help="run in the background once mounted")
    sp.add_argument("--log-file", metavar="FILE", help="log here, not on stderr (a daemon's stderr is closed)")
    sp.add_argument("--allow-other", action="store_true",
                    help="let other users read the mount (needs user_allow_other in /etc/fuse.conf unless root)")
    sp.add_argument("--cache-mib", type=_positive, default=64, metavar="MIB",
                    help="decrypted blocks kept, all files together (default 64)")
    sp.add_argument("--timeout", type=_number(float, lambda v: 0.1 <= v <= 3600, "must be 0.1..3600 seconds"),
                    default=10.0, metavar="S", help="http(s): wait at most S seconds for data, then retry twice, "
                                                    "then EIO (default 10)")
    sp.add_argument("--cipher", choices=sorted(CIPHER_CHOICES), default="aes", help="cipher of new files (default aes)")
    sp.add_argument("--block-size", type=_positive, default=1024, metavar="KB",
                    help="block size of new files in KiB (default 1024)")
    common(sp)
    _add_key_options(sp)
    sp.set_defaults(func=cmd_mount)

    sp = sub.add_parser("umount", help="unmount a 'qeltrix mount' (fusermount3 -u)")
    sp.add_argument("mountpoint")
    sp.add_argument("-z", "--lazy", action="store_true", help="detach now, even while files are open")
    sp.set_defaults(func=cmd_umount)

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

    args_list = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(args_list[0] if args_list[:1] and args_list[0] in COMMANDS else None)
    args = parser.parse_args(args_list)
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
