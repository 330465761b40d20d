"""Running from a source checkout, which has no built core (``python -m qeltrix ...`` in the
repository root puts the checkout first on ``sys.path``).

The checkout's Python is used with the core that ``pip install .`` installed, but only when that
core was built from exactly these C++ sources (CMake installs their hash beside it as
``_core_sources.sha256``; the same hash is computed here). Otherwise importing fails with one
line that says what to do, never with a core built from other sources.
"""

from __future__ import annotations

import hashlib
import os

HASH_FILE = "_core_sources.sha256"


def sources_hash(root: str) -> str:
    """The hash CMakeLists.txt computes: every cpp/**/*.cpp|hpp and CMakeLists.txt, sorted by
    path, as ``"<path> <sha256 hex>\\n"`` lines, hashed again."""
    paths = ["CMakeLists.txt"]
    for folder, _, files in os.walk(os.path.join(root, "cpp")):
        for name in files:
            if name.endswith((".cpp", ".hpp")):
                paths.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    listing = []
    for rel in sorted(paths):
        with open(os.path.join(root, rel), "rb") as f:
            listing.append(f"{rel} {hashlib.sha256(f.read()).hexdigest()}\n")
    return hashlib.sha256("".join(listing).encode()).hexdigest()


def use_installed_core(package_path: list, here: str) -> None:
    """Add the installed package's folder to ``package_path`` (the checkout's ``qeltrix.__path__``)
    so that ``qeltrix._core`` is found there; ImportError (one line) when it does not fit."""
    root = os.path.dirname(here)
    hint = ("run 'pip install .' in the checkout (or 'pip install -e .' to develop), "
            "or run from another folder")
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("qeltrix")
    except PackageNotFoundError:
        raise ImportError(f"qeltrix is running from its source tree ({root}), which has no built core, and "
                          f"no installed qeltrix was found: {hint}") from None
    installed = os.path.dirname(os.fspath(dist.locate_file(f"qeltrix/{HASH_FILE}")))
    try:
        with open(os.path.join(installed, HASH_FILE), encoding="ascii") as f:
            built_from = f.read().strip()
    except OSError:
        built_from = None
    if built_from != sources_hash(root):
        raise ImportError(f"qeltrix is running from its source tree ({root}), whose C++ sources differ from "
                          f"those of the installed core: {hint}")
    if os.path.realpath(installed) != os.path.realpath(here):
        package_path.append(installed)
