#!/bin/sh
# Install the benchmark peers from the registries, then make the fixed inputs, keys and
# encrypted copies (tools/bench/prepare.py). Run as root on Debian, with the Python that has
# qeltrix installed:   sh tools/bench/setup.sh [--dir DIR] [--size-mib 1024]
set -eu
PY=${PYTHON:-python3}
if command -v apt-get >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q age gnupg rclone hyperfine wrk nginx-light strace stunnel4 openssl
fi
"$PY" -m pip install -q crypt4gh tink matplotlib 'moto[server]' s3fs
exec "$PY" "$(dirname "$0")/prepare.py" "$@"
