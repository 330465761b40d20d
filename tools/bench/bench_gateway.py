"""Throughput of the GatewayServer on loopback.

    python tools/bench/bench_gateway.py reflect --size-mib 1024      # client -> gateway -> same client
    python tools/bench/bench_gateway.py tunnel --size-mib 1024       # client -> encrypt gw -> decrypt gw -> sink
    python tools/bench/bench_gateway.py stunnel --size-mib 1024      # client -> stunnel -> stunnel -> sink (peer)

The stunnel peer: two Debian stunnel4 instances (a client-mode one encrypting, a server-mode one
decrypting; TLS 1.3 with TLS_AES_256_GCM_SHA384 only, a throwaway P-256 certificate) forwarding
over loopback, the same client and sink as the tunnel's.

Random (incompressible) data: one random MiB sent over and over; the tunnels' sink compares every
byte it gets with what was sent (a memcmp per MiB; until issue 15 the client and sink each hashed
the stream with SHA-256, which took about 40% of the CPU of a 2-core machine from the path measured)
and the run fails unless all match. Reflect's sink only counts the container's bytes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import qeltrix as qltx

HOST = "127.0.0.1"


CHUNK = 1 << 20
#: What the client sends: this random MiB over and over (the sink checks every byte against it).
PATTERN = os.urandom(CHUNK)


def _drain(sock: socket.socket, result: dict, check: bool = True) -> None:
    """Reads to EOF; with ``check``, every byte must be PATTERN's at its offset (compared a
    whole MiB at a time, in place: the sink costs a memcmp, not a hash, so that on a shared
    2-core machine the harness does not take the CPU of the path it measures)."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    n = fill = 0
    ok = True
    while True:
        k = sock.recv_into(view[fill:])
        if not k:
            break
        n += k
        fill += k
        if fill == CHUNK:
            ok = ok and (not check or buf == PATTERN)
            fill = 0
    if check and fill:
        ok = ok and buf[:fill] == PATTERN[:fill]
    result["n"], result["ok"] = n, ok


def _send(sock: socket.socket, total: int) -> None:
    sent = 0
    while sent < total:
        piece = PATTERN if total - sent >= CHUNK else PATTERN[:total - sent]
        sock.sendall(piece)
        sent += len(piece)
    sock.shutdown(socket.SHUT_WR)


def reflect(mk: bytes, total: int, block_size: int, workers: int, block_hash: str = "sha256") -> float:
    kw = {"block_hash": block_hash} if block_hash != "sha256" else {}  # (a gateway before the option)
    with qltx.GatewayServer(mk, listen_port=0, block_size=block_size, workers=workers, **kw) as gw:
        with socket.create_connection((HOST, gw.port)) as s:
            res: dict = {}
            t = threading.Thread(target=_drain, args=(s, res, False))  # the container: counted
            t0 = time.perf_counter()
            t.start()
            _send(s, total)
            t.join()
            dt = time.perf_counter() - t0
    overhead = res["n"] - total
    print(f"reflect: {total / 2**20:.0f} MiB in {dt:.2f} s = {total / dt / 1e6:.0f} MB/s "
          f"(container {res['n']} bytes, +{overhead})")
    return dt


def tunnel(mk: bytes, total: int, block_size: int, workers: int, block_hash: str = "sha256") -> float:
    sink = socket.create_server((HOST, 0))
    res: dict = {}

    def serve():
        c, _ = sink.accept()
        with c:
            _drain(c, res)

    t = threading.Thread(target=serve, daemon=True)  # a failed start leaves it in accept()
    t.start()
    kw = {"block_hash": block_hash} if block_hash != "sha256" else {}  # (a gateway before the option)
    try:
        with qltx.GatewayServer(mk, listen_port=0, dest_host=HOST, dest_port=sink.getsockname()[1], decrypt=True,
                                block_size=block_size, workers=workers) as dec, \
                qltx.GatewayServer(mk, listen_port=0, dest_host=HOST, dest_port=dec.port, block_size=block_size,
                                   workers=workers, **kw) as enc:
            with socket.create_connection((HOST, enc.port)) as s:
                t0 = time.perf_counter()
                _send(s, total)
                t.join()
                dt = time.perf_counter() - t0
    finally:
        sink.close()
    assert res["n"] == total and res["ok"], "the tunnel changed the bytes"
    print(f"tunnel: {total / 2**20:.0f} MiB in {dt:.2f} s = {total / dt / 1e6:.0f} MB/s (bytes match)")
    return dt


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (from /proc/net/tcp: a probe connection to
    the client-mode stunnel would open a TLS connection through to the sink)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(p[1] == want and p[3] == "0A" for p in (line.split() for line in f.readlines()[1:]))


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stunnel exited: {proc.stderr.read().decode(errors='replace')[-500:]}")
        if _listening(port):
            return
        time.sleep(0.02)
    raise RuntimeError("stunnel did not start listening")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


STUNNEL_TLS = "sslVersionMin = TLSv1.3\nciphersuites = TLS_AES_256_GCM_SHA384\n"


def stunnel(total: int) -> float:
    """The peer: client -> stunnel (client mode) -> TLS 1.3 -> stunnel (server mode) -> sink."""
    exe = shutil.which("stunnel4") or shutil.which("stunnel")
    if exe is None:
        raise SystemExit("stunnel4 is not installed (sh tools/bench/setup.sh)")
    work = tempfile.mkdtemp(prefix="qeltrix-stunnel-")
    sink = socket.create_server((HOST, 0))
    res: dict = {}
    procs: list[subprocess.Popen] = []

    def serve():
        c, _ = sink.accept()
        with c:
            _drain(c, res)

    t = threading.Thread(target=serve, daemon=True)
    try:
        key, crt = os.path.join(work, "key.pem"), os.path.join(work, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", key, "-out", crt],
                       check=True, capture_output=True)
        p_srv, p_cli = _free_port(), _free_port()
        confs = {
            "srv": f"foreground = yes\npid =\n[srv]\naccept = {HOST}:{p_srv}\nconnect = {HOST}:{sink.getsockname()[1]}\n"
                   f"cert = {crt}\nkey = {key}\n{STUNNEL_TLS}",
            "cli": f"foreground = yes\npid =\n[cli]\nclient = yes\naccept = {HOST}:{p_cli}\nconnect = {HOST}:{p_srv}\n"
                   f"{STUNNEL_TLS}",
        }
        for name, port in (("srv", p_srv), ("cli", p_cli)):
            path = os.path.join(work, name + ".conf")
            with open(path, "w") as f:
                f.write(confs[name])
            procs.append(subprocess.Popen([exe, path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE))
            _wait_port(port, procs[-1])
        t.start()
        with socket.create_connection((HOST, p_cli)) as s:
            t0 = time.perf_counter()
            _send(s, total)
            t.join()
            dt = time.perf_counter() - t0
    finally:
        for p in procs:
            p.terminate()
            p.wait()
            if p.stderr:
                p.stderr.close()
        sink.close()
        shutil.rmtree(work, ignore_errors=True)
    assert res["n"] == total and res["ok"], "stunnel changed the bytes"
    print(f"stunnel: {total / 2**20:.0f} MiB in {dt:.2f} s = {total / dt / 1e6:.0f} MB/s (bytes match)")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["reflect", "tunnel", "stunnel"])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--block-kib", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--block-hash", choices=["sha256", "blake3"], default="sha256",
                    help="the encrypting gateway's plaintext hash (GatewayServer(block_hash=...))")
    ap.add_argument("--seconds-only", action="store_true", help="print only the seconds (for bench_net.py)")
    a = ap.parse_args()
    if a.mode == "stunnel":
        dt = stunnel(a.size_mib << 20)
    else:
        fn = reflect if a.mode == "reflect" else tunnel
        dt = fn(qltx.random_master_key(), a.size_mib << 20, a.block_kib << 10, a.workers, a.block_hash)
    if a.seconds_only:
        print(f"{dt:.6f}")


if __name__ == "__main__":
    main()
