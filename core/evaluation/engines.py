"""Which engine computes an evaluation's statistics: DuckDB on this machine (the default) or Apache Spark.

Both run the same SQL (:mod:`core.evaluation.sql_source`) and give the same numbers (to 1e-12 relative: only the
order in which sums are added differs). See ``docs/engines.md`` for when to use which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import BadInput
from core.evaluation.statistics import DataFile, StatisticsSource

__all__ = ["ENGINES", "MASTER_ENV", "Engine"]

ENGINES = ("duckdb", "spark")
#: The Spark master URL used when ``--spark-master`` is not given (else ``local[*]``).
MASTER_ENV = "COUNTERSIGN_SPARK_MASTER"


@dataclass(frozen=True)
class Engine:
    """An engine choice: ``name`` (``duckdb`` or ``spark``) and, for Spark, the master URL."""

    name: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str | None = None

    @classmethod
    def of(cls, name: str | None, spark_master: str | None = None) -> Engine:
        """The engine named (default ``duckdb``); Spark's master from ``spark_master``, else
        ``$COUNTERSIGN_SPARK_MASTER``, else ``local[*]``. Raises :class:`BadInput` for an unknown engine, or a master
        given to DuckDB."""
        chosen = (name or "duckdb").strip().lower()
        if chosen not in ENGINES:
            raise BadInput(f"unknown engine {name!r}: choose duckdb or spark")
        if chosen == "duckdb":
            if spark_master is not None:
                raise BadInput("--spark-master is for --engine spark")
            return cls("duckdb")
        from core.evaluation.spark_source import DEFAULT_MASTER, check_master

        given = spark_master if spark_master is not None else os.environ.get(MASTER_ENV)
        master = (DEFAULT_MASTER if given is None else given).strip()
        if not master or any(ord(ch) < 32 for ch in master):
            raise BadInput("the Spark master URL is empty or holds control characters")
        return cls("spark", check_master(master))

    def open(self, data: DataFile) -> StatisticsSource:
        """A statistics source on ``data`` in this engine."""
        if self.name == "spark":
            from core.evaluation.spark_source import DEFAULT_MASTER, SparkSource

            return SparkSource(data, self.spark_master or DEFAULT_MASTER)
        from core.evaluation.duckdb_source import DuckDBSource

        return DuckDBSource(data)


def described(source: StatisticsSource) -> dict[str, Any] | None:
    """The engine record of a source (name, version, master, approximations), if it gives one."""
    found = getattr(source, "engine", None)
    return dict(found) if isinstance(found, dict) else None
