"""The Windows build of the native core, run under Wine: cpp/tests/win_driver.cpp built with
MinGW-w64 by tools/check_windows.sh (which .ci/run also runs on every vector and table). Here:
it passes on good inputs and fails, with exit status 1 and a line naming the input, on each kind of
corrupted vector or table line, so a passing run means something; usage errors are exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "check_windows.sh"
VECTORS = ROOT / "tests" / "vectors"
TABLES = ROOT / "tests" / "tables"
MINGW = "x86_64-w64-mingw32-g++-posix"


def _wine() -> str | None:
    for name in ("wine64", "/usr/lib/wine/wine64", "wine"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """(the built win_driver.exe, the environment with one Wine prefix for this module)."""
    missing = [what for what, ok in (("MinGW-w64", shutil.which(MINGW)), ("wine64", _wine())) if not ok]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} not installed (CI must install them: see .ci/run)")
        pytest.skip(f"{', '.join(missing)} not installed")
    built = os.environ.get("QELTRIX_WIN_DRIVER_DIR")  # .ci/run's build of this checkout
    if built and (Path(built) / "win_driver.exe").exists():
        out = Path(built)
    else:
        out = tmp_path_factory.mktemp("win")
        subprocess.run(["bash", str(SCRIPT), "build", str(out)], check=True, timeout=900)
    env = dict(os.environ, WINEPREFIX=str(tmp_path_factory.mktemp("wineprefix")), WINEDEBUG="-all")
    yield out / "win_driver.exe", env
    subprocess.run([str(Path(_wine()).parent / "wineserver"), "-k"], env=env, timeout=60, check=False)


def run(driver, cwd: Path, *files: str) -> subprocess.CompletedProcess:
    exe, env = driver
    return subprocess.run(["bash", str(SCRIPT), "run", str(exe), *files], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


GOOD = ["one_block.qltxv", "v61_sha256_sha256.qltxv", "v61_permuted.qltxv", "truncated.qltxv", "version_7.qltxv"]


def copy_inputs(tmp_path: Path) -> list[str]:
    for name in GOOD:
        shutil.copy(VECTORS / name, tmp_path / name)
    for table in TABLES.glob("*.txt"):
        shutil.copy(table, tmp_path / table.name)
    return GOOD + sorted(t.name for t in TABLES.glob("*.txt"))


def test_good_inputs_pass(driver, tmp_path):
    files = copy_inputs(tmp_path)
    r = run(driver, tmp_path, *files)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAIL" not in r.stdout
    assert f"{len(GOOD)} vectors, {len(files) - len(GOOD)} tables" in r.stdout and " 0 failed" in r.stdout


def _flip_block_byte(blob: bytes) -> bytes:  # a byte of block 0's sealed payload (416 + 28 + 12 + 164)
    head, _, body = blob.partition(b"\n\n")
    b = bytearray(body)
    b[416 + 28 + 12 + 164 + 3] ^= 1
    return head + b"\n\n" + bytes(b)


def _replace(old: bytes, new: bytes):
    def edit(data: bytes) -> bytes:
        assert data.count(old) >= 1, old
        return data.replace(old, new, 1)
    return edit


#: (file, how it is corrupted, what the FAIL line says)
CORRUPTIONS = {
    "block byte": ("one_block.qltxv", _flip_block_byte, "block does not match its index hash"),
    "wrong size": ("one_block.qltxv", _replace(b"size: 15\n", b"size: 16\n"), "differs from size: 16"),
    "failure relabelled": ("truncated.qltxv", _replace(b"expect: truncated", b"expect: success"),
                           "expected a clean walk, got truncated"),
    "wrong failure": ("version_7.qltxv", _replace(b"expect: unsupported version", b"expect: truncated"),
                      "expected truncated, got unsupported version"),
    "perm table": ("v61_permuted.qltxv", _replace(b"perm_table: 2433", b"perm_table: 3324"),
                   "permutation_table(perm_key) != perm_table"),
    "request table": ("http_requests.txt", _replace(b"reject 505 ", b"reject 400 "), "expected error 400, got 505"),
    "range table": ("http_ranges.txt", _replace(b"range 3000000 ranges 0-99 bytes=0-99",
                                                b"range 3000000 ranges 0-98 bytes=0-99"), "expected ranges 0-98"),
    "seek table": ("seek.txt", _replace(b"count 4097 4096 2", b"count 4097 4096 1"), "block_count 4097 4096 1"),
    "seek misuse": ("seek.txt", _replace(b"misuse count 0 4095", b"misuse count 0 4096"), "was accepted"),
    "sha256 table": ("sha256.txt", _replace(b"sha256 ba7816bf", b"sha256 ba7816be"),
                     "SHA-256 in lanes"),
    "permute table": ("permute.txt", _replace(b"permute 000102", b"permute 010102"), "permute with kernel"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_a_corrupted_input_fails(driver, tmp_path, case):
    name, corrupt, message = CORRUPTIONS[case]
    source = VECTORS / name if name.endswith(".qltxv") else TABLES / name
    original = source.read_bytes()
    (tmp_path / name).write_bytes(corrupt(original))
    assert corrupt(original) != original
    r = run(driver, tmp_path, name)
    assert r.returncode == 1, r.stdout + r.stderr
    fails = [line for line in r.stdout.splitlines() if line.startswith("FAIL ")]
    assert fails and all(line.startswith(f"FAIL {name}") for line in fails), r.stdout
    assert any(message in line for line in fails), r.stdout
    # the same file uncorrupted passes
    (tmp_path / name).write_bytes(original)
    assert run(driver, tmp_path, name).returncode == 0


def test_usage_errors(driver, tmp_path):
    assert run(driver, tmp_path).returncode == 2
    (tmp_path / "empty.txt").write_text("# nothing but a comment\n")
    r = run(driver, tmp_path, "empty.txt")
    assert r.returncode == 2 and "nothing to check" in r.stderr
    (tmp_path / "bad.txt").write_text("frobnicate 1 2\n")
    r = run(driver, tmp_path, "bad.txt")
    assert r.returncode == 2 and "unknown record frobnicate" in r.stderr
    r = run(driver, tmp_path, "missing.qltxv")
    assert r.returncode == 2 and "cannot open" in r.stderr
