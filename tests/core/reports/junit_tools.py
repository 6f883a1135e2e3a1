"""Test helper: the JUnit XML schema CI servers hold reports to — Jenkins' xunit plugin's ``junit-10.xsd`` (MIT), the
copy pytest keeps to test its own reports, which ``scripts/bootstrap`` takes from pytest's source distribution on the
package index into ``.venv/share/junit-schema`` — applied with ``xmlschema``.

Without it the callers skip, naming the bootstrap — or fail under ``COUNTERSIGN_REQUIRE_REPORT_TOOLS=1`` (CI)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import xmlschema

__all__ = ["junit_schema_errors"]

SCHEMA = Path(os.environ.get("COUNTERSIGN_JUNIT_SCHEMA",
                             Path(sys.prefix) / "share" / "junit-schema" / "junit-10.xsd"))
REQUIRE_ENV = "COUNTERSIGN_REQUIRE_REPORT_TOOLS"


def junit_schema_errors(xml: bytes) -> list[str]:
    """Every way the JUnit XML document ``xml`` breaks ``junit-10.xsd`` (empty when it is valid)."""
    if not SCHEMA.exists():
        reason = f"{SCHEMA} is missing (scripts/bootstrap fetches it from pytest's source distribution)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires it", pytrace=False)
        pytest.skip(reason)
    schema = xmlschema.XMLSchema(str(SCHEMA))
    return [f"{error.path}: {error.reason}" for error in schema.iter_errors(xml.decode("utf-8"))]
