"""Every benchmark runs end to end at a tiny size, so none of them can rot. Numbers live in docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_"))


def test_benchmarks_exist() -> None:
    assert {"ledger_append", "ledger_verify"} <= set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_smoke_run(name: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--smoke", "--workdir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    body = json.loads(result.stdout)
    assert body["benchmark"] == name and body["machine"]["cores"] >= 1
