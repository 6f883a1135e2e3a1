"""Test helper: the engine's :class:`~core.evaluation.statistics.ScoreRanking` of given labels and scores, computed by
a real :class:`~core.evaluation.duckdb_source.DuckDBSource` over a Parquet file of them."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.evaluation.duckdb_source import DuckDBSource
from core.evaluation.statistics import DataFile, ScoreRanking


def ranking_of(labels: Any, scores: Any, max_points: int = 200,  # noqa: ANN401
               buckets: int | None = None) -> ScoreRanking:
    """Labels (1 is the positive class) and float scores, ranked in DuckDB (``buckets``: ranges of scores ranked
    apart, as on a Spark cluster; default: DuckDB's one window)."""
    (ranking,) = rankings_of(labels, scores, max_points, [buckets])
    return ranking


def rankings_of(labels: Any, scores: Any, max_points: int,  # noqa: ANN401
                buckets: Sequence[int | None]) -> list[ScoreRanking]:
    """:func:`ranking_of` for each number of ranges in ``buckets``, from one DuckDB source."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scored.parquet"
        pq.write_table(pa.table({"y": np.asarray(labels, dtype=np.int64),
                                 "s": np.asarray(scores, dtype=np.float64)}), path)
        source = DuckDBSource(DataFile(path, "parquet"))
        try:
            source.attach_columns(None, "s")
            return [source.score_ranking("y", 1.0, max_points=max_points, buckets=b) for b in buckets]
        finally:
            source.close()
