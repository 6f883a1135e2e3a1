"""Test helper: SARIF 2.1.0's own tools — the OASIS SARIF 2.1.0 JSON schema and Microsoft's SARIF multitool
(``validate``: the schema plus the SARIF and GitHub code-scanning ingestion rules), both from the npm package
``@microsoft/sarif-multitool-linux`` that ``scripts/bootstrap`` fetches into ``.venv/share/sarif-multitool``.

Without them the callers skip, naming the bootstrap — or fail under ``COUNTERSIGN_REQUIRE_REPORT_TOOLS=1`` (CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

__all__ = ["multitool_findings", "schema_errors"]

FOLDER = Path(os.environ.get("COUNTERSIGN_SARIF_TOOLS", Path(sys.prefix) / "share" / "sarif-multitool"))
REQUIRE_ENV = "COUNTERSIGN_REQUIRE_REPORT_TOOLS"


def _tool(name: str) -> Path:
    path = FOLDER / name
    if not path.exists():
        reason = f"{path} is missing (scripts/bootstrap fetches @microsoft/sarif-multitool-linux)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires it", pytrace=False)
        pytest.skip(reason)
    return path


def schema_errors(log: dict[str, Any]) -> list[str]:
    """Every way ``log`` breaks the SARIF 2.1.0 JSON schema (empty when it is valid)."""
    schema = json.loads(_tool("sarif-2.1.0.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]


def multitool_findings(path: Path, tmp_path: Path) -> list[dict[str, str]]:
    """What ``Sarif.Multitool validate`` reports about the SARIF file ``path`` — the schema, SARIF's own rules and
    GitHub's ingestion rules (``--rule-kind Sarif;Gh``), at every level: ``{"rule", "level", "message"}`` each."""
    out = tmp_path / f"{path.name}.validation.sarif"
    done = subprocess.run([str(_tool("Sarif.Multitool")), "validate", str(path), "--rule-kind", "Sarif;Gh",
                           "--level", "Error;Warning;Note", "--output", str(out), "--log", "ForceOverwrite"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DOTNET_CLI_TELEMETRY_OPTOUT": "1",
                               "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"})  # no ICU needed
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    runs = json.loads(out.read_text(encoding="utf-8-sig"))["runs"]
    return [{"rule": r.get("ruleId", ""), "level": r.get("level", "warning"),
             "message": (r.get("message") or {}).get("text") or json.dumps(r.get("message"))}
            for run in runs for r in run.get("results") or []]
