"""The package's import surface."""


def test_submodules_are_attributes_of_the_lazy_package():
    import subprocess
    import sys

    code = "import qeltrix as q; q.writer._pack_from_parts; q.reader.Container; q.io.open_random_access; q.pack"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
