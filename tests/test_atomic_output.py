"""AtomicOutput, the output of every command that writes a file: the name shows either nothing
(or what stood there before) or the complete output, never a part. It writes a hidden temporary
file beside the name and renames it over the name on commit."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pytest

from qeltrix.sources import AtomicOutput


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_commit_puts_the_whole_output_under_the_name(tmp_path):
    path = tmp_path / "out.bin"
    with AtomicOutput(path) as out:
        out.write(b"hello ")
        out.write(b"world")
        assert not path.exists()  # nothing under the name while writing
        assert leftovers(tmp_path)  # (the temporary file beside it)
        out.commit()
    assert path.read_bytes() == b"hello world"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("existing", [False, True])
def test_a_failure_leaves_nothing_under_the_name(tmp_path, existing):
    path = tmp_path / "out.bin"
    if existing:
        path.write_bytes(b"before")
    with pytest.raises(RuntimeError, match="midway"):
        with AtomicOutput(path) as out:
            out.write(b"x" * 100_000)
            raise RuntimeError("midway")
    assert (path.read_bytes() == b"before") if existing else not path.exists()
    assert leftovers(tmp_path) == []


def test_abort_removes_the_temporary_file(tmp_path):
    path = tmp_path / "out.bin"
    out = AtomicOutput(path)
    out.write(b"partial")
    out.abort()
    out.abort()  # twice is harmless
    assert not path.exists() and leftovers(tmp_path) == []


def test_an_existing_output_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="out.bin exists"):
        AtomicOutput(path, overwrite=False)
    assert path.read_bytes() == b"keep me" and leftovers(tmp_path) == []
    with AtomicOutput(path, overwrite=True) as out:
        out.write(b"new")
        out.commit()
    assert path.read_bytes() == b"new"


def test_an_output_appearing_while_writing_is_not_overwritten(tmp_path):
    """overwrite=False holds at commit too: a file made under the name meanwhile is kept."""
    path = tmp_path / "out.bin"
    out = AtomicOutput(path, overwrite=False)
    out.write(b"ours")
    path.write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        out.commit()
    assert path.read_bytes() == b"theirs" and leftovers(tmp_path) == []


def test_retarget_commits_under_the_new_name(tmp_path):
    with AtomicOutput(tmp_path / "first.bin") as out:
        out.write(b"data")
        out.retarget(tmp_path / "stored-name.txt")
        out.commit()
    assert (tmp_path / "stored-name.txt").read_bytes() == b"data"
    assert not (tmp_path / "first.bin").exists() and leftovers(tmp_path) == []


def test_errors_name_the_output_never_the_temporary_file(tmp_path):
    missing = tmp_path / "no-such-folder" / "out.bin"
    with pytest.raises(OSError) as exc:
        AtomicOutput(missing, shown="the output")
    assert exc.value.errno == errno.ENOENT and exc.value.filename == "the output"
    assert ".part" not in str(exc.value)


CRASH = textwrap.dedent("""
    import os, sys
    from qeltrix.sources import AtomicOutput
    out = AtomicOutput(sys.argv[1])
    out.write(os.urandom(1 << 20))
    out.file.flush()
    os._exit(9)  # killed before commit: no cleanup runs
""")


@pytest.mark.parametrize("existing", [False, True])
def test_a_crash_before_commit_never_shows_a_part_under_the_name(tmp_path, existing):
    """What exists after a crash: the name as it was (nothing, or the old file); the partial
    output stays in a hidden temporary file beside it, ".<name>.<random>.part"."""
    path = tmp_path / "out.bin"
    if existing:
        path.write_bytes(b"before")
    r = subprocess.run([sys.executable, "-c", CRASH, str(path)], capture_output=True, timeout=120)
    assert r.returncode == 9, r.stderr
    assert (path.read_bytes() == b"before") if existing else not path.exists()
    (part,) = leftovers(tmp_path)
    assert part.startswith(".out.bin.") and (tmp_path / part).stat().st_size == 1 << 20


def test_leaving_the_block_without_commit_leaves_nothing(tmp_path):
    """A ``with`` block left normally but without ``commit()`` is an abort, not a stray .part."""
    dst = tmp_path / "out.bin"
    with AtomicOutput(dst) as out:
        out.write(b"partial")
    assert not dst.exists()
    assert list(tmp_path.iterdir()) == []
