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
