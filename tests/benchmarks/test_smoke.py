"""Every benchmark runs end to end at a tiny size, so none of them can rot. Numbers live in docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_"))


def test_benchmarks_exist() -> None:
    assert {"ledger_append", "ledger_verify"} <= set(BENCHMARKS)


@pytest.fixture(scope="module")
def app_site_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One --workdir for app_render and store_backends: the app site at the smoke size is built once (by the first to
    run) and reused by the other, as the benchmarks document ("one --workdir serves both")."""
    return tmp_path_factory.mktemp("app-site")


def _workdir(name: str, tmp_path: Path, app_site_workdir: Path) -> Path:
    return app_site_workdir if name in ("app_render", "store_backends") else tmp_path


@pytest.mark.parametrize("name", [b for b in BENCHMARKS if b != "store_backends"])  # its own test below
def test_benchmark_smoke_run(name: str, tmp_path: Path, app_site_workdir: Path) -> None:
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--smoke", "--workdir",
                             str(_workdir(name, tmp_path, app_site_workdir))],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    body = json.loads(result.stdout)
    assert body["benchmark"] == name and body["machine"]["cores"] >= 1
    if name == "engines":  # a child that failed still exits 0: its parts must have run, and agree
        (size,) = body["sizes"]
        assert size["duckdb"]["status"] == "ok" and size["drift_auto_duckdb"]["status"] == "ok", size
        assert size["drift_auto_raw_limit"]["values_equal"] is True, size["drift_auto_raw_limit"]
        if os.environ.get("COUNTERSIGN_REQUIRE_SPARK") == "1":
            assert size["spark"]["status"] == "ok" and size["equal_results"]["ok"] is True, size


def test_store_backends_smoke_measures_both_backends(tmp_path: Path, app_site_workdir: Path) -> None:
    """benchmarks.store_backends end to end at a tiny size (every part: it is not in test_benchmark_smoke_run, so
    its PostgreSQL server and part (a) run once): both backends measured for each client count, every client's
    governed write succeeded, both ledgers verify afterwards (no entry lost or forked under concurrency)."""
    assert "store_backends" in BENCHMARKS
    result = subprocess.run([sys.executable, "-m", "benchmarks.store_backends", "--smoke",
                             "--clients", "1,3", "--seconds", "1",
                             "--workdir", str(_workdir("store_backends", tmp_path, app_site_workdir))],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    body = json.loads(result.stdout)
    assert body["benchmark"] == "store_backends" and body["machine"]["cores"] >= 1
    if "skipped" in body:
        if os.environ.get("COUNTERSIGN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"store_backends skipped: {body['skipped']}")
        pytest.skip(body["skipped"])
    runs = body["concurrent_governed_writes"]
    for backend in ("duckdb", "postgresql"):
        assert [r["clients"] for r in runs[backend]] == [1, 3]
        assert all(r["actions"] > 0 and not r["errors"] for r in runs[backend]), runs[backend]
        assert runs[f"{backend}_ledger_verified"]["ok"]
    assert runs["pg_write_anatomy"]["statements_per_action"] > 1
