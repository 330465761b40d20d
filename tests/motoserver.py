"""moto's standalone S3 server on 127.0.0.1 as a subprocess, with fsspec configured to reach it.
Used by tests/test_remote_fsspec.py and tests/test_serve_remote.py."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

import pytest

MiB = 1 << 20
BUCKET = "qeltrix-bucket"
#: The environment a child process (the CLI) needs to reach the server through fsspec.
CHILD_ENV = {"FSSPEC_S3_KEY": "testing", "FSSPEC_S3_SECRET": "testing", "AWS_DEFAULT_REGION": "us-east-1",
             "AWS_EC2_METADATA_DISABLED": "true"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_s3(workdir):
    """Starts the server, points fsspec's s3 config at it, creates ``BUCKET``; yields the
    endpoint URL. Skips when s3fs or moto is missing."""
    fsspec = pytest.importorskip("fsspec")
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    port = _free_port()
    log = open(os.path.join(workdir, "moto.log"), "wb")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start: see {workdir}/moto.log")
                time.sleep(0.1)
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing",
                   "default_block_size": 5 * MiB, "skip_instance_cache": True}
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(fsspec.config.conf, "s3", options)
            mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
            mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
            fs = fsspec.filesystem("s3")
            fs.call_s3("create_bucket", Bucket=BUCKET)
            yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
