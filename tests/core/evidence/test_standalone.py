"""``verify.py`` is the offline verifier's modules inlined into one file (:mod:`core.evidence.standalone`).

Running it on real bundles is tested in test_report.py and test_bundle_forgery.py; these tests hold the inlining
itself: every module of the verifier is inlined, in an order where each uses only names defined above it, no name is
defined twice, and the file imports nothing but the standard library and ``cryptography``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.evidence import standalone
from core.evidence.standalone import VERIFIER_MODULES, inlined, module_source, standalone_verifier

EVIDENCE = Path(standalone.__file__).resolve().parent


def _top_level_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_module_of_the_verifier_is_inlined() -> None:
    modules = {f"core.evidence.{p.stem}" for p in EVIDENCE.glob("bundle_*.py")}
    assert modules <= set(VERIFIER_MODULES)


def test_each_module_imports_only_modules_inlined_before_it() -> None:
    for position, name in enumerate(VERIFIER_MODULES):
        tree = ast.parse(module_source(name))
        imported = {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module
                    and node.module.split(".")[0] == "core"}
        assert imported <= set(VERIFIER_MODULES[:position]), name


def test_no_name_is_defined_by_two_inlined_modules() -> None:
    seen: dict[str, str] = {}
    for name in VERIFIER_MODULES:
        for defined in _top_level_names(module_source(name)) - {"__all__"}:
            assert defined not in seen, f"{defined} is defined in {seen[defined]} and {name}"
            seen[defined] = name


def test_verify_py_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(standalone_verifier())
    top = set()
    for node in tree.body:  # module level: what the file needs to start
        if isinstance(node, ast.Import):
            top.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            top.add((node.module or "").split(".")[0])
    assert top - set(sys.stdlib_module_names) == {"cryptography"}
    assert isinstance(tree.body[0], ast.Expr) and "Offline verification" in ast.get_docstring(tree)
    assert tree.body[-1].test.comparators[0].value == "__main__"  # type: ignore[attr-defined]


def test_verify_py_starts_alone(tmp_path: Path) -> None:
    """Isolated (no project on the path), without arguments: the usage line, not an ImportError."""
    script = tmp_path / "verify.py"
    script.write_text(standalone_verifier(), encoding="utf-8")
    run = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, cwd=tmp_path,
                         timeout=60)
    assert run.returncode == 2 and run.stderr.startswith("usage: python verify.py BUNDLE_DIR"), run.stderr


def test_building_verify_py_loads_no_database_or_dataframe() -> None:
    code = ("import json, sys\nfrom core.evidence.standalone import standalone_verifier\nstandalone_verifier()\n"
            "print(json.dumps([m for m in ('duckdb', 'pandas', 'pyarrow', 'sklearn') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=EVIDENCE.parents[1])
    assert json.loads(out.stdout) == []


def test_an_import_outside_an_inline_block_is_refused() -> None:
    source = '"""Doc."""\n\nfrom __future__ import annotations\n\nfrom core.tlog.merkle import leaf_hash\n'
    with pytest.raises(RuntimeError, match=re.escape("from core.tlog.merkle import leaf_hash")):
        inlined("core.evidence.example", source)
    marked = source.replace("from core", "# --- inline: x ---\nfrom core").replace("leaf_hash\n",
                                                                                   "leaf_hash\n# --- end inline ---\n")
    assert "leaf_hash" not in inlined("core.evidence.example", marked)
