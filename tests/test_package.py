"""The package's import surface and its rooms: the public names, the layer order of modules, no
module reaching into another's private names, and local work never loading the HTTP stack."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import qeltrix

PKG = pathlib.Path(qeltrix.__file__).parent

# The layer order (README, "Layout"): a module imports only from layers below its own. Modules of
# one layer never import each other, so there is no circle and each room can be read alone.
LAYERS = [
    {"_core", "_spec", "errors", "_sourcetree"},  # the format core
    {"sources"},  # where bytes come from and go to
    {"crypto"},  # every KDF, AEAD and MAC call
    {"recipients"},  # age X25519 recipients
    {"keyring"},  # 6.1 key slots
    {"blocks", "pipeline", "fileinfo"},  # sealing/opening blocks; the parallel engine; file info
    {"blockcache"},
    {"reader", "writer"},
    {"fileobj", "inspect", "serverpages"},
    {"operations", "rekey", "server", "gateway", "mount", "qltxfs"},  # operations, servers, fsspec
    {"distributed"},  # the Dask pack (its key providers are qltxfs's)
    {"demo"},
    {"cli"},
    {"__main__", "__init__"},
]
RANK = {name: k for k, layer in enumerate(LAYERS) for name in layer}
# Inside qeltrix/sources/, every import points down too.
SOURCES_ORDER = {"base": 0, "local": 1, "remote": 2, "httpconn": 2, "httpsource": 3, "fsspecsource": 3, "__init__": 4}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "_spec":
            continue  # generated from the spec
        yield rel, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _imports(rel: pathlib.Path, tree: ast.Module):
    """(target top-level module, target leaf or None, imported names, line) for each relative
    import of a qeltrix module (also those inside functions)."""
    in_sources = rel.parts[0] == "sources"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("qeltrix")):
            if node.level:
                base = ["sources"] if in_sources and node.level == 1 else []
                parts = base + (node.module.split(".") if node.module else [])
            else:
                parts = node.module.split(".")[1:]
            names = [a.name for a in node.names]
            if not parts:  # from . import x, y
                for n in names:
                    yield n, None, [], node.lineno
            else:
                yield parts[0], parts[1] if len(parts) > 1 else None, names, node.lineno


def test_every_module_has_a_layer():
    missing = {rel.parts[0] if len(rel.parts) > 1 else rel.stem for rel, _ in _modules()} - set(RANK)
    assert not missing, f"modules without a layer in LAYERS: {sorted(missing)}"


def test_imports_follow_the_layer_order():
    wrong = []
    for rel, tree in _modules():
        me = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for target, leaf, _, line in _imports(rel, tree):
            if target not in RANK:
                continue  # a name from the package itself (__version__)
            if me == "sources" and target == "sources":
                mine = SOURCES_ORDER[rel.stem]
                if leaf is not None and SOURCES_ORDER[leaf] >= mine:
                    wrong.append(f"{rel}:{line} imports sources.{leaf} (not below it)")
                continue
            if me == "__init__" or RANK[target] < RANK[me]:
                continue
            wrong.append(f"{rel}:{line} imports {target} (layer {RANK[target]}, not below {me}'s {RANK[me]})")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_another_modules_private_names():
    wrong = []
    for rel, tree in _modules():
        for target, leaf, names, line in _imports(rel, tree):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private and target != "_core":
                wrong.append(f"{rel}:{line} imports {private} from {target}{'.' + leaf if leaf else ''}")
    assert not wrong, "\n".join(wrong)


def test_every_public_name_resolves_and_type_checkers_see_the_same():
    for name in qeltrix.__all__:
        assert getattr(qeltrix, name) is not None, name
    tree = ast.parse((PKG / "__init__.py").read_text(encoding="utf-8"))
    seen = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                seen.update(a.asname or a.name for a in imp.names)
    assert seen == set(qeltrix.__all__)
    assert qeltrix.open is qeltrix.fileobj.open_container


@pytest.mark.parametrize("code", [
    "import qeltrix as q; q.writer._pack_from_parts; q.reader.Container; q.sources.open_random_access; q.pack",
    "import qeltrix_v6 as q; q.pack; q.SeekServer; import qeltrix_v6.crypto, qeltrix_v6.gateway",
])
def test_submodules_are_attributes_of_the_lazy_package(code):
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_local_work_never_imports_the_http_stack(tmp_path):
    """Packing, unpacking, info, inspect and a SeekServer over a local file load neither urllib3
    nor the network sources: they cost start-up time and have nothing to do."""
    code = f"""
import os, sys
import qeltrix as q
src = os.path.join({str(tmp_path)!r}, "a.bin"); open(src, "wb").write(os.urandom(5000))
dst = src + ".qltx"; mk = q.random_master_key()
q.pack(src, dst, mk); q.unpack(dst, src + ".out", mk); q.info(dst); q.inspect_container(dst)
q.seek_extract(dst, 10, 10, mk); q.verify(dst, mk)
with q.open(dst, mk) as f: f.read()
with q.SeekServer(dst, mk, port=0): pass
bad = sorted(m for m in sys.modules if m.startswith(("urllib3", "http.client", "qeltrix.sources.httpsource",
                                                      "qeltrix.sources.fsspecsource", "qeltrix.sources.remote", "fsspec")))
assert not bad, bad
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _checkout_copy(dst: pathlib.Path) -> pathlib.Path:
    """The repository's sources (no built core) copied to ``dst``, as a fresh checkout has them."""
    import shutil

    root = pathlib.Path(__file__).resolve().parents[1]
    if not (root / "cpp").is_dir() or not (root / "CMakeLists.txt").is_file():
        pytest.skip("needs the repository checkout")
    ignore = shutil.ignore_patterns("_core.*.so", "_core.*.pyd", "__pycache__", "*_core_sources.sha256")
    for name in ("qeltrix", "qeltrix_v6", "cpp"):
        shutil.copytree(root / name, dst / name, ignore=ignore)
    shutil.copy(root / "CMakeLists.txt", dst / "CMakeLists.txt")
    return dst


def test_a_checkout_runs_with_the_core_built_from_its_sources(tmp_path):
    """From the root of a checkout (Python finds the source tree first), the installed core is
    used when it was built from the same C++ sources; the hash CMake installed beside it must
    equal the one qeltrix/_sourcetree.py computes (in CI, where both come from this checkout)."""
    import os

    from qeltrix import _core
    from qeltrix._sourcetree import HASH_FILE, sources_hash

    tree = _checkout_copy(tmp_path)
    hash_file = pathlib.Path(_core.__file__).with_name(HASH_FILE)
    installed = hash_file.read_text().strip() if hash_file.exists() or os.environ.get("CI") else None
    if installed != sources_hash(str(tree)):
        if os.environ.get("CI"):
            pytest.fail("the installed core's source hash differs from this checkout's (CMake and "
                        "_sourcetree.py compute it differently?)")
        pytest.skip("the installed core was built from other sources")
    r = subprocess.run([sys.executable, "-m", "qeltrix_v6", "keygen", "k.key"], cwd=tree,
                       capture_output=True, text=True)
    assert r.returncode == 0 and (tree / "k.key").stat().st_size == 32, r.stderr
    r = subprocess.run([sys.executable, "-c", "import qeltrix, qeltrix._core; print(qeltrix.__file__)"],
                       cwd=tree, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith(str(tree)), r


def test_a_checkout_with_other_cpp_sources_says_what_to_do(tmp_path):
    tree = _checkout_copy(tmp_path)
    with open(tree / "cpp" / "seek.cpp", "a") as f:
        f.write("// changed\n")
    r = subprocess.run([sys.executable, "-m", "qeltrix", "info", "x.qltx"], cwd=tree, capture_output=True,
                       text=True)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and "pip install" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
