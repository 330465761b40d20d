"""The README's deployment, as tests and benchmarks run it: a self-signed certificate, the
README's nginx configuration block (ports and certificate paths replaced), and ``qeltrix serve``
processes whose access log is collected line by line. Used by tests/test_deploy_nginx.py and
tools/bench/bench_deploy.py."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import subprocess
import sys
import threading
import time
from base64 import b64encode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_nginx_conf() -> str:
    """The ```nginx block of the README's "Deploying" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```nginx\n", 1)[1].split("```", 1)[0]


def make_cert(d: Path) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key, its SPKI sha256 in
    base64, for Chromium's --ignore-certificate-errors-spki-list)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cp, kp = d / "cert.pem", d / "key.pem"
    cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cp, kp, b64encode(hashlib.sha256(spki).digest()).decode()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instance:
    """One ``qeltrix serve`` process; its stderr (the access log) collected line by line."""

    def __init__(self, folder: Path, key_file: Path, extra=(), quiet: bool = False):
        """``quiet``: ``-q`` (no access log) on a port found here, ready once /-/health answers."""
        env = dict(os.environ)
        env.pop("QELTRIX_PASSPHRASE", None)
        port = _free_port() if quiet else 0
        self.proc = subprocess.Popen([sys.executable, "-m", "qeltrix", "serve", str(folder), "--port", str(port),
                                      "--key-file", str(key_file), *(["-q"] if quiet else []), *extra],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env)
        self.lines: list[str] = []
        self._cv = threading.Condition()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        if quiet:
            self.port = port
            self._wait_health()
        else:
            m = self.wait_line(r"serving http://127\.0\.0\.1:(\d+)/")
            self.port = int(m.group(1))

    def _wait_health(self, timeout: float = 30.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"qeltrix serve did not start: {self.lines[-20:]}")
            time.sleep(0.05)

    def _read(self):
        for raw in self.proc.stderr:
            with self._cv:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self.lines.append("<exit>")
            self._cv.notify_all()

    def wait_line(self, pattern: str, start: int = 0, timeout: float = 30.0) -> re.Match:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for line in self.lines[start:]:
                    m = rx.search(line)
                    if m:
                        return m
                if "<exit>" in self.lines or time.monotonic() > deadline:
                    raise AssertionError(f"no line matching {pattern!r}: {self.lines[-20:]}")
                self._cv.wait(0.2)

    def access(self, path: str) -> list[tuple[int, str]]:
        """(status, range) of the access lines for ``path``."""
        rx = re.compile(r'"(?:GET|HEAD) (\S+) HTTP/1\.[01]" (\d{3}) \d+ range="([^"]*)"')
        with self._cv:
            return [(int(m.group(2)), m.group(3)) for line in self.lines if (m := rx.search(line))
                    and m.group(1) == path]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._t.join(timeout=5)
        self.proc.stderr.close()


def conf_for(port: int, upstreams: list[int], cert: Path, key: Path) -> str:
    conf = readme_nginx_conf()
    conf = conf.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    conf = conf.replace("server 127.0.0.1:7621;", f"server 127.0.0.1:{upstreams[0]};")
    conf = conf.replace("server 127.0.0.1:7622;", f"server 127.0.0.1:{upstreams[1]};")
    conf = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", conf)
    conf = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", conf)
    assert str(port) in conf and str(upstreams[1]) in conf and str(cert) in conf and str(key) in conf
    return conf
