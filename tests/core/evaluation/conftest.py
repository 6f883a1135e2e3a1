"""Fixtures of the evaluation tests."""

from __future__ import annotations

import pytest

from core.evaluation.engines import Engine
from tests.core.evaluation.spark_engine import spark_engine


@pytest.fixture(scope="module")
def spark() -> Engine:
    """The Spark engine on ``local[2]`` (this worker's JVM, started once and kept for the worker's life)."""
    return spark_engine()
