"""The package map holds: offline primitives stay offline, core never reaches for the front end, packages say what
they export.

Each import is checked in a fresh interpreter, since this test process has long since imported everything.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"
HEAVY = ("duckdb", "pandas", "pyarrow", "streamlit", "sklearn")


def _imported_after(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=CORE.parent)
    return json.loads(out.stdout)


@pytest.mark.parametrize("module", [
    "core.tlog.merkle", "core.tlog.signed_note", "core.tlog.canonical", "core.tlog.ed25519", "core.tlog",
    "core.evidence.bundle_verify", "core.evidence.attest", "core.ledger.verify", "core.ledger.chain",
    "core.evidence.bundle_format", "core.evidence.bundle_keys", "core.evidence.bundle_dsse",
    "core.evidence.bundle_entry_set", "core.evidence.bundle_entries", "core.evidence.bundle_attestations",
    "core.evidence.standalone",
])
def test_offline_primitives_import_no_database_dataframe_or_front_end(module: str) -> None:
    assert _imported_after(f"import {module}") == []


def test_the_library_and_cli_import_without_the_front_end() -> None:
    assert "streamlit" not in _imported_after("import core.api, cli.main; core.api.Countersign")


def test_no_core_module_imports_streamlit() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(CORE.parent)}: {n}" for n in names if n.split(".")[0] == "streamlit"]
    assert offenders == []


@pytest.mark.parametrize("package", sorted(p.parent.name for p in CORE.glob("*/__init__.py")))
def test_each_package_exports_what_its_stub_lists(package: str) -> None:
    module = importlib.import_module(f"core.{package}")
    assert module.__doc__ and module.__all__, f"core.{package} needs a docstring and a curated __all__"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"core.{package}.{name}"
    # every module of the package is public (in __all__) or the source of public names (the worker is a script)
    stub = (CORE / package / "__init__.pyi").read_text(encoding="utf-8")
    for path in (CORE / package).glob("*.py"):
        if path.stem not in ("__init__", "worker"):
            assert path.stem in module.__all__ or f"from .{path.stem} import" in stub, f"core.{package}.{path.stem}"


#: Run in a fresh interpreter where the front end's packages cannot be imported (as after a plain
#: ``pip install countersign``, without the ``[app]`` extra).
_WITHOUT_FRONT_END = """
import importlib.abc, importlib.util, sys
class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("streamlit", "altair"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _Blocked())
_real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in ("streamlit", "altair") else \\
    _real_find_spec(name, *a)
from cli.main import main
sys.argv = ["countersign", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("args, code, words", [
    (["--help"], 0, "Usage"),
    (["policy", "check", "policies/default.yaml"], 0, "default"),
    (["app", "--db", "/nonexistent/x.duckdb"], 2, "pip install 'countersign[app]'"),
])
def test_the_cli_runs_without_the_front_end_extra(args: list[str], code: int, words: str) -> None:
    run = subprocess.run([sys.executable, "-c", _WITHOUT_FRONT_END, *args], capture_output=True, text=True,
                         cwd=CORE.parent, timeout=120)
    assert run.returncode == code, run.stderr
    assert words in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
