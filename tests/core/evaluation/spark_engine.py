"""Test helper: the real Spark engine for the Spark tests (``local[2]``, skipped without Java 17 and PySpark unless
``COUNTERSIGN_REQUIRE_SPARK=1``, which CI sets), and the comparison of two engines' results."""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import subprocess
from typing import Any

import pytest

from core.evaluation.engines import Engine

__all__ = ["MASTER", "REL", "REQUIRE_ENV", "differences", "spark_engine"]

REQUIRE_ENV = "COUNTERSIGN_REQUIRE_SPARK"
MASTER = "local[2]"
REL = 1e-12


def _java_major() -> int:
    java = shutil.which("java")
    if java is None:
        return 0
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    for token in out.split('"')[1:2]:
        return int(token.split(".")[0]) if token.split(".")[0].isdigit() else 0
    return 0


def spark_engine() -> Engine:
    """The Spark engine on ``local[2]``, or the test skipped — failed under ``COUNTERSIGN_REQUIRE_SPARK=1`` — when
    PySpark or Java 17 is missing."""
    missing = None
    if importlib.util.find_spec("pyspark") is None:
        missing = "PySpark is not installed (pip install -e '.[spark]')"
    elif _java_major() < 17:
        missing = "no Java 17 or newer on the PATH (scripts/bootstrap installs openjdk-17-jre-headless)"
    if missing:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{missing}, and {REQUIRE_ENV}=1 requires the Spark tests to run", pytrace=False)
        pytest.skip(f"{missing} (set {REQUIRE_ENV}=1 to make this a failure)")
    return Engine.of("spark", MASTER)


def differences(duck: Any, spark: Any, path: str = "") -> list[str]:  # noqa: ANN401
    """Where two results differ: keys, lengths, values (floats beyond 1e-12 relative); run times and the engine's
    own record excepted."""
    if isinstance(duck, dict) and isinstance(spark, dict):
        found = []
        for key in sorted(set(duck) | set(spark)):
            if key in ("seconds", "engine"):
                continue
            if key not in duck or key not in spark:
                found.append(f"{path}/{key}: only in {'duckdb' if key in duck else 'spark'}")
            else:
                found += differences(duck[key], spark[key], f"{path}/{key}")
        return found
    if isinstance(duck, list) and isinstance(spark, list):
        if len(duck) != len(spark):
            return [f"{path}: {len(duck)} items in duckdb, {len(spark)} in spark"]
        return [d for i, (a, b) in enumerate(zip(duck, spark, strict=True)) for d in differences(a, b, f"{path}[{i}]")]
    if isinstance(duck, float) and isinstance(spark, float):
        same = duck == spark or (math.isnan(duck) and math.isnan(spark)) or math.isclose(duck, spark, rel_tol=REL)
        return [] if same else [f"{path}: duckdb {duck!r}, spark {spark!r}"]
    return [] if (duck == spark and type(duck) is type(spark)) else [f"{path}: duckdb {duck!r}, spark {spark!r}"]


