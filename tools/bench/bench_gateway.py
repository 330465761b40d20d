"""Throughput of the GatewayServer on loopback.

    python tools/bench/bench_gateway.py reflect --size-mib 1024      # client -> gateway -> same client
    python tools/bench/bench_gateway.py tunnel --size-mib 1024       # client -> encrypt gw -> decrypt gw -> sink

Random (incompressible) data; the sink hashes what it gets and the run fails unless it matches.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import threading
import time

import qeltrix as qltx

HOST = "127.0.0.1"


def _drain(sock: socket.socket, result: dict) -> None:
    h, n = hashlib.sha256(), 0
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while True:
        k = sock.recv_into(buf)
        if not k:
            break
        h.update(view[:k])
        n += k
    result["n"], result["sha256"] = n, h.hexdigest()


def _send(sock: socket.socket, total: int) -> str:
    chunk = os.urandom(1 << 20)
    h, sent = hashlib.sha256(), 0
    while sent < total:
        piece = chunk[:min(len(chunk), total - sent)]
        sock.sendall(piece)
        h.update(piece)
        sent += len(piece)
    sock.shutdown(socket.SHUT_WR)
    return h.hexdigest()


def reflect(mk: bytes, total: int, block_size: int, workers: int) -> float:
    with qltx.GatewayServer(mk, listen_port=0, block_size=block_size, workers=workers) as gw:
        with socket.create_connection((HOST, gw.port)) as s:
            res: dict = {}
            t = threading.Thread(target=_drain, args=(s, res))
            t0 = time.perf_counter()
            t.start()
            _send(s, total)
            t.join()
            dt = time.perf_counter() - t0
    overhead = res["n"] - total
    print(f"reflect: {total / 2**20:.0f} MiB in {dt:.2f} s = {total / dt / 1e6:.0f} MB/s "
          f"(container {res['n']} bytes, +{overhead})")
    return dt


def tunnel(mk: bytes, total: int, block_size: int, workers: int) -> float:
    sink = socket.create_server((HOST, 0))
    res: dict = {}

    def serve():
        c, _ = sink.accept()
        with c:
            _drain(c, res)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with qltx.GatewayServer(mk, listen_port=0, dest_host=HOST, dest_port=sink.getsockname()[1], decrypt=True,
                                block_size=block_size, workers=workers) as dec, \
                qltx.GatewayServer(mk, listen_port=0, dest_host=HOST, dest_port=dec.port, block_size=block_size,
                                   workers=workers) as enc:
            with socket.create_connection((HOST, enc.port)) as s:
                t0 = time.perf_counter()
                digest = _send(s, total)
                t.join()
                dt = time.perf_counter() - t0
    finally:
        sink.close()
    assert res["n"] == total and res["sha256"] == digest, "the tunnel changed the bytes"
    print(f"tunnel: {total / 2**20:.0f} MiB in {dt:.2f} s = {total / dt / 1e6:.0f} MB/s (sha256 matches)")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["reflect", "tunnel"])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--block-kib", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=4)
    a = ap.parse_args()
    fn = reflect if a.mode == "reflect" else tunnel
    fn(qltx.random_master_key(), a.size_mib << 20, a.block_kib << 10, a.workers)


if __name__ == "__main__":
    main()
