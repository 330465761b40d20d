"""Shared fixtures. Every container a test makes is checked against the spec's parser
(``spec_check``), field by field against what the writer reported."""

from __future__ import annotations

import os

# Test-only, documented in qeltrix/crypto.py and the README: new passphrase containers use a tiny
# Argon2id cost so hundreds can be made quickly. Readers still accept and check them as usual.
os.environ["QELTRIX_INSECURE_TEST_KDF"] = "1"

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from qeltrix import random_master_key  # noqa: E402

# No timing assertions, hypothesis's included: an example may take any time on a loaded machine
# (the default deadline of 200 ms would fail a test that is merely slow, and only sometimes).
# Built on the profile in force: with CI set, hypothesis's own "ci" profile (derandomized, no
# example database), which .ci/run always sets.
settings.register_profile("qeltrix", deadline=None,
                          suppress_health_check={*settings.default.suppress_health_check, HealthCheck.too_slow})
settings.load_profile("qeltrix")

from speccheck import spec_check  # noqa: E402,F401


@pytest.fixture(scope="session", autouse=True)
def run_outside_the_source_tree(tmp_path_factory):
    """Work from a temporary folder, so that a ``python -m qeltrix`` child imports the installed
    package (with its native core), never the bare ``qeltrix/`` folder of the checkout, as on CI."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture
def mk() -> bytes:
    return random_master_key()


@pytest.fixture(autouse=True)
def every_container_is_spec_checked(monkeypatch, tmp_path_factory):
    """Every container that pack() or StreamPacker writes in a test is copied aside as it is
    written and, after the test, parsed with the spec's generated parser and checked against
    what the writer reported (block count, offsets, sizes, index entries, hashes)."""
    import tempfile

    from qeltrix import writer

    real = writer._write_all
    made = []

    def tee(sealer, src, write, *args, **kwargs):
        copy = tempfile.NamedTemporaryFile(dir=tmp_path_factory.getbasetemp(), suffix=".qltx", delete=False)

        def both(b):
            copy.write(b)
            return write(b)

        sealer.record_entries = True  # the writer keeps only one index page unless asked
        try:
            real(sealer, src, both, *args, **kwargs)
        finally:
            copy.close()
        made.append((copy.name, sealer.result(0.0, False)))

    monkeypatch.setattr(writer, "_write_all", tee)
    yield
    try:
        for path, result in made:
            spec_check(path, result)
    finally:
        for path, _ in made:
            os.unlink(path)
