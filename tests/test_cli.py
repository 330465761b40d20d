"""The qeltrix command line, run as users run it: one-line errors, distinct exit codes, no
traceback, nothing partial left under an output name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from qeltrix.inspect import data_offset, parse_container

from speccheck import spec_check

EXIT_USAGE, EXIT_WRONG_KEY, EXIT_DAMAGED, EXIT_IO, EXIT_EXISTS = 2, 3, 4, 5, 6
PASS = "correct horse battery"


def run(tmp_path, *args, env=None, input=None, module="qeltrix"):
    e = dict(os.environ)
    e.pop("QELTRIX_PASSPHRASE", None)
    e.update(env or {})
    p = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=tmp_path, env=e, input=b"" if input is None else input,
                       capture_output=True, timeout=120)
    assert b"Traceback" not in p.stderr, p.stderr.decode()
    return p


def _one_line_error(p, code):
    assert p.returncode == code, (p.returncode, p.stderr)
    lines = p.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qeltrix: "), lines


@pytest.fixture
def sample(tmp_path):
    data = os.urandom(300_000)
    (tmp_path / "in.bin").write_bytes(data)
    (tmp_path / "pass.txt").write_text(PASS + "\n")
    return data


def test_pack_unpack_seek_with_passphrase_file(tmp_path, sample):
    p = run(tmp_path, "pack", "in.bin", "c.qltx", "--passphrase-file", "pass.txt", "--block-size", "64")
    assert p.returncode == 0, p.stderr
    spec_check(tmp_path / "c.qltx", patched=True)
    p = run(tmp_path, "unpack", "c.qltx", "out.bin", "--passphrase-file", "pass.txt")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "out.bin").read_bytes() == sample
    p = run(tmp_path, "seek", "c.qltx", "--offset", "70000", "--length", "1000", "--passphrase-file", "pass.txt")
    assert p.returncode == 0 and p.stdout == sample[70000:71000]


def test_env_passphrase_and_seed_flags(tmp_path, sample):
    env = {"QELTRIX_PASSPHRASE": PASS}
    assert run(tmp_path, "pack", "in.bin", "c.qltx", "--cipher", "chacha", "--workers", "2",
               "--block-size", "16", env=env).returncode == 0
    info = json.loads(run(tmp_path, "info", "c.qltx", "--json").stdout)
    assert info["cipher"] == "ChaCha20-Poly1305" and info["block_size"] == 16 * 1024
    assert info["original_size"] == len(sample) and info["kdf"] == "argon2id"
    # the seed's --passphrase and its module name still work
    p = run(tmp_path, "unpack", "c.qltx", "out.bin", "--passphrase", PASS, "--no-verify", module="qeltrix_v6")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "out.bin").read_bytes() == sample


def test_key_file_pipes_and_stream(tmp_path, sample):
    assert run(tmp_path, "keygen", "k.key").returncode == 0
    assert len((tmp_path / "k.key").read_bytes()) == 32
    assert (os.stat(tmp_path / "k.key").st_mode & 0o777) == 0o600
    _one_line_error(run(tmp_path, "keygen", "k.key"), EXIT_EXISTS)
    p = run(tmp_path, "pack", "-", "-", "--key-file", "k.key", input=sample)
    assert p.returncode == 0, p.stderr
    blob = p.stdout
    spec_check(blob, patched=False)  # written to a pipe: header not patched
    p = run(tmp_path, "unpack", "-", "-", "--key-file", "k.key", input=blob)
    assert p.returncode == 0 and p.stdout == sample
    (tmp_path / "c.qltx").write_bytes(blob)
    p = run(tmp_path, "unpack", "c.qltx", "-", "--stream", "--key-file", "k.key")
    assert p.returncode == 0 and p.stdout == sample
    # a stream cut short: non-zero exit, after releasing only authenticated blocks
    p = run(tmp_path, "unpack", "-", "-", "--key-file", "k.key", input=blob[:-30])
    _one_line_error(p, EXIT_DAMAGED)
    assert sample.startswith(p.stdout)


def test_restores_the_stored_name_safely(tmp_path, sample):
    assert run(tmp_path, "pack", "in.bin", "c.qltx", "--passphrase-file", "pass.txt").returncode == 0
    os.rename(tmp_path / "in.bin", tmp_path / "orig.bin")
    assert run(tmp_path, "unpack", "c.qltx", "--passphrase-file", "pass.txt").returncode == 0
    assert (tmp_path / "in.bin").read_bytes() == sample
    _one_line_error(run(tmp_path, "unpack", "c.qltx", "--passphrase-file", "pass.txt"), EXIT_EXISTS)
    assert run(tmp_path, "unpack", "c.qltx", "--force", "--passphrase-file", "pass.txt").returncode == 0


def test_errors_have_distinct_codes_and_leave_nothing(tmp_path, sample):
    assert run(tmp_path, "pack", "in.bin", "c.qltx", "--passphrase-file", "pass.txt").returncode == 0
    before = sorted(os.listdir(tmp_path))
    _one_line_error(run(tmp_path, "unpack", "c.qltx", "out.bin", "--passphrase", "wrong"), EXIT_WRONG_KEY)
    blob = bytearray((tmp_path / "c.qltx").read_bytes())
    blob[len(blob) // 2] ^= 1
    (tmp_path / "bad.qltx").write_bytes(bytes(blob))
    before.append("bad.qltx")
    _one_line_error(run(tmp_path, "unpack", "bad.qltx", "out.bin", "--passphrase-file", "pass.txt"), EXIT_DAMAGED)
    _one_line_error(run(tmp_path, "unpack", "in.bin", "out.bin", "--passphrase-file", "pass.txt"), EXIT_DAMAGED)
    _one_line_error(run(tmp_path, "unpack", "missing.qltx", "out.bin", "--passphrase-file", "pass.txt"), EXIT_IO)
    _one_line_error(run(tmp_path, "pack", "in.bin", "c.qltx", "--passphrase-file", "pass.txt"), EXIT_EXISTS)
    _one_line_error(run(tmp_path, "pack", "in.bin", "d.qltx", "--block-size", "1", "--passphrase-file",
                        "pass.txt"), EXIT_USAGE)
    _one_line_error(run(tmp_path, "unpack", "c.qltx", "out.bin"), EXIT_USAGE)  # no key, no terminal
    assert run(tmp_path, "frobnicate").returncode == EXIT_USAGE
    assert sorted(os.listdir(tmp_path)) == sorted(before)  # no partial output, no temp file


def test_verify_and_inspect(tmp_path, sample):
    assert run(tmp_path, "pack", "in.bin", "c.qltx", "--passphrase-file", "pass.txt",
               "--block-size", "64").returncode == 0
    p = run(tmp_path, "verify", "c.qltx")
    assert p.returncode == 0 and p.stdout.startswith(b"OK")
    p = run(tmp_path, "verify", "c.qltx", "--json", "--passphrase-file", "pass.txt")
    assert p.returncode == 0 and json.loads(p.stdout)["keyed"] is True
    d = json.loads(run(tmp_path, "inspect", "c.qltx", "--json").stdout)
    assert d["footer"]["num_blocks"] == 5 and d["header"]["format"] == "6.1"
    blob = bytearray((tmp_path / "c.qltx").read_bytes())
    blob[data_offset(parse_container(bytes(blob))) + 300] ^= 1  # block 0
    (tmp_path / "c.qltx").write_bytes(bytes(blob))
    p = run(tmp_path, "verify", "c.qltx")
    assert p.returncode == EXIT_DAMAGED and b"block 0" in p.stderr
    assert run(tmp_path, "inspect", "in.bin").returncode == EXIT_DAMAGED


def test_demo(tmp_path):
    p = run(tmp_path, "demo", "--size", "1000000")
    assert p.returncode == 0, p.stderr
    assert b"all checks passed" in p.stdout


@pytest.mark.skipif(shutil.which("qeltrix") is None, reason="console script not installed")
def test_console_script(tmp_path):
    p = subprocess.run(["qeltrix", "--version"], capture_output=True, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.startswith(b"qeltrix 6.")


def test_a_command_builds_only_its_own_options_and_the_same_ones():
    """``qeltrix CMD`` builds only CMD's options (start-up time); they are exactly those of the
    whole command line, and every command stays listed."""
    import argparse

    from qeltrix import cli

    def commands(parser):
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    full = commands(cli.build_parser())
    assert tuple(full) == cli.COMMANDS
    for name in cli.COMMANDS:
        only = commands(cli.build_parser(name))
        assert tuple(only) == cli.COMMANDS

        def options(p):
            return sorted((tuple(a.option_strings), a.dest, repr(a.default), a.nargs) for a in p._actions)

        assert options(only[name]) == options(full[name]), name
        assert only[name].get_default("func") is full[name].get_default("func")
