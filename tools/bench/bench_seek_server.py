"""Whole-file GET throughput: SeekServer (decrypting a container) vs nginx (the plaintext file),
both on loopback, measured with curl to /dev/null, in the same run.

    python tools/bench/bench_seek_server.py [--mib 256] [--runs 3] [--workers 4] [--block-kib 1024]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time

import qeltrix as qltx


def curl_mbps(url: str) -> float:
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{speed_download} %{size_download}", url],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]) / 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(d: str, www: str):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        return None, None
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""{user}worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{ default_type application/octet-stream; access_log off; sendfile on;
  client_body_temp_path {d}/t1; proxy_temp_path {d}/t2; fastcgi_temp_path {d}/t3;
  uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;
  server {{ listen 127.0.0.1:{port}; root {www}; }} }}
""")
    p = subprocess.Popen([nginx, "-p", d, "-c", conf])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    p.kill()
    return None, None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--block-kib", type=int, default=1024)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="qeltrix-bench-")
    try:
        www = os.path.join(d, "www")
        os.mkdir(www)
        src = os.path.join(www, "file.bin")
        with open(src, "wb") as f:
            for _ in range(a.mib):
                f.write(os.urandom(1 << 20))
        mk = qltx.random_master_key()
        box = os.path.join(d, "file.qltx")
        qltx.pack(src, box, mk, block_size=a.block_kib * 1024)
        proc, nport = start_nginx(d, www)
        try:
            with qltx.SeekServer(box, mk, port=0, workers=a.workers) as srv:
                for i in range(a.runs):
                    ours = curl_mbps(srv.url)
                    ng = curl_mbps(f"http://127.0.0.1:{nport}/file.bin") if proc else float("nan")
                    print(f"run {i + 1}: SeekServer {ours:8.1f} MB/s   nginx {ng:8.1f} MB/s   ({a.mib} MiB, "
                          f"block {a.block_kib} KiB, workers {a.workers})")
        finally:
            if proc:
                proc.terminate()
                proc.wait()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
