#!/usr/bin/env python3
"""Make the benchmark's fixed inputs, keys and encrypted copies (idempotent; run by setup.sh and
run_all.py).

    python tools/bench/prepare.py [--dir /tmp/qeltrix-bench] [--size-mib 1024]

Data files are a fixed pseudo-random stream (AES-256-CTR keystream under a constant key), so
every run and every machine benchmarks the same bytes. Keys and configs stay inside --dir: a
GNUPGHOME of its own, an rclone config file of its own (a `crypt` remote over a local folder).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys

MiB = 1 << 20
DEFAULT_DIR = os.path.join(os.environ.get("TMPDIR", "/tmp"), "qeltrix-bench")
PASSPHRASE = "bench-passphrase"  # gpg and the rclone crypt remote (a benchmark, not a secret)
GPG = ["gpg", "--batch", "--yes", "--quiet", "--pinentry-mode", "loopback", "--passphrase", PASSPHRASE,
       "--no-symkey-cache"]


def data_path(d: str, size_mib: int) -> str:
    return os.path.join(d, f"data-{size_mib}.bin")


def make_data(path: str, size_mib: int) -> None:
    """The fixed benchmark input: AES-256-CTR keystream of a constant key (fast and reproducible)."""
    if os.path.exists(path) and os.path.getsize(path) == size_mib * MiB:
        return
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = hashlib.sha256(b"qeltrix benchmark data").digest()
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    zeros = bytes(8 * MiB)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        left = size_mib * MiB
        while left:
            n = min(left, len(zeros))
            f.write(enc.update(zeros[:n]))
            left -= n
    os.replace(tmp, path)


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def tool_env(d: str) -> dict:
    env = dict(os.environ, GNUPGHOME=os.path.join(d, "gnupg"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed: compiled modules cached
    return env


def qeltrix_cmd() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "qeltrix")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "qeltrix"]


def make_keys(d: str) -> dict:
    """Keys and configs for every peer; returns their paths."""
    k = {
        "qeltrix_key": os.path.join(d, "qeltrix.key"),
        "age_key": os.path.join(d, "age.key"),
        "age_pub": os.path.join(d, "age.pub"),
        "c4gh_sec": os.path.join(d, "c4gh.sec"),
        "c4gh_pub": os.path.join(d, "c4gh.pub"),
        "tink_keyset": os.path.join(d, "tink_keyset.json"),
        "rclone_conf": os.path.join(d, "rclone.conf"),
        "rclone_store": os.path.join(d, "rclone-store"),
        "gnupghome": os.path.join(d, "gnupg"),
    }
    if not os.path.exists(k["qeltrix_key"]):
        _run(qeltrix_cmd() + ["keygen", k["qeltrix_key"], "-q"])
    if shutil.which("age-keygen") and not os.path.exists(k["age_pub"]):
        _run(["age-keygen", "-o", k["age_key"]], capture_output=True)
        pub = _run(["age-keygen", "-y", k["age_key"]], capture_output=True, text=True).stdout.strip()
        with open(k["age_pub"], "w") as f:
            f.write(pub + "\n")
    c4 = shutil.which("crypt4gh-keygen") or os.path.join(os.path.dirname(sys.executable), "crypt4gh-keygen")
    if os.path.exists(c4) and not os.path.exists(k["c4gh_pub"]):
        _run([c4, "--sk", k["c4gh_sec"], "--pk", k["c4gh_pub"], "--nocrypt", "-f"], capture_output=True)
    if not os.path.exists(k["tink_keyset"]):
        try:
            import tink
            from tink import cleartext_keyset_handle, streaming_aead
        except ImportError:
            pass
        else:
            streaming_aead.register()
            h = tink.new_keyset_handle(streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB)
            with open(k["tink_keyset"], "w") as f:
                cleartext_keyset_handle.write(tink.JsonKeysetWriter(f), h)
    os.makedirs(k["gnupghome"], mode=0o700, exist_ok=True)
    if shutil.which("rclone") and not os.path.exists(k["rclone_conf"]):
        os.makedirs(k["rclone_store"], exist_ok=True)
        pw = _run(["rclone", "obscure", PASSPHRASE], capture_output=True, text=True).stdout.strip()
        with open(k["rclone_conf"], "w") as f:
            f.write(f"[pcrypt]\ntype = crypt\nremote = {k['rclone_store']}\npassword = {pw}\n")
    return k


def encrypted_inputs(d: str, size_mib: int, keys: dict, only=None) -> dict:
    """Each tool's encryption of the fixed input, made once (decrypt benchmarks read them);
    ``only``: the names to make (default: all)."""
    src = data_path(d, size_mib)
    env = tool_env(d)
    out = {}

    def make(name, path, cmd, stdin=None, stdout=None):
        if only is not None and name not in only:
            return
        out[name] = path
        if os.path.exists(path):
            return
        tmp = path + ".part"
        if stdout is not None:
            with open(src if stdin else os.devnull, "rb") as fi, open(tmp, "wb") as fo:
                _run(cmd, stdin=fi, stdout=fo, env=env)
        else:
            _run([c.replace("@OUT@", tmp) for c in cmd], env=env, stdout=subprocess.DEVNULL)
        os.replace(tmp, path)

    base = os.path.join(d, f"data-{size_mib}")
    q = qeltrix_cmd()
    make("qeltrix_aes", base + ".qltx", q + ["pack", src, "@OUT@", "--key-file", keys["qeltrix_key"], "-q", "-f"])
    make("qeltrix_chacha", base + ".chacha.qltx",
         q + ["pack", src, "@OUT@", "--cipher", "chacha", "--key-file", keys["qeltrix_key"], "-q", "-f"])
    if os.path.exists(keys["age_pub"]):
        with open(keys["age_pub"]) as f:
            pub = f.read().strip()
        make("age", base + ".age", ["age", "-r", pub, "-o", "@OUT@", src])
    if shutil.which("gpg"):
        make("gpg", base + ".gpg", GPG + ["--symmetric", "--cipher-algo", "AES256", "--compress-algo", "none",
                                          "-o", "@OUT@", src])
    c4 = os.path.join(os.path.dirname(sys.executable), "crypt4gh")
    if os.path.exists(keys["c4gh_pub"]) and os.path.exists(c4):
        make("crypt4gh", base + ".c4gh", [c4, "encrypt", "--recipient_pk", keys["c4gh_pub"]], stdin=True, stdout=True)
    if os.path.exists(keys["tink_keyset"]):
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_tink.py")
        make("tink", base + ".tink", [sys.executable, here, "enc", keys["tink_keyset"], src, "@OUT@"])
    if os.path.exists(keys["rclone_conf"]) and (only is None or "rclone" in only):
        name = f"data-{size_mib}.bin"
        listing = _run(["rclone", "--config", keys["rclone_conf"], "lsf", "pcrypt:"], capture_output=True,
                       text=True, env=env).stdout.split()
        if name not in listing:
            _run(["rclone", "--config", keys["rclone_conf"], "copyto", src, f"pcrypt:{name}"], env=env)
        out["rclone"] = f"pcrypt:{name}"
    return out


def prepare(d: str, size_mib: int, extra_sizes=()) -> tuple[dict, dict]:
    os.makedirs(d, exist_ok=True)
    for s in {size_mib, *extra_sizes}:
        make_data(data_path(d, s), s)
    keys = make_keys(d)
    return keys, encrypted_inputs(d, size_mib, keys)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=DEFAULT_DIR)
    ap.add_argument("--size-mib", type=int, default=1024)
    args = ap.parse_args()
    keys, enc = prepare(args.dir, args.size_mib)
    for k, v in {**keys, **enc}.items():
        print(f"{k:16} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
