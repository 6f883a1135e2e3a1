"""The DuckDB statistics source: the evaluation's SQL (:mod:`core.evaluation.sql_source`) on an in-memory DuckDB.

DuckDB scans the registered file(s) out of core under a memory limit (:data:`MEMORY_LIMIT`) and produces the
sufficient statistics; numeric drift statistics that need a column's values read that one column as a NumPy array.
Models with artifacts score the data in pandas batches of :data:`SCORING_BATCH` rows. Large data never goes through
pandas whole.

Views: ``cur_file`` (the data file as read; the ``data`` side), ``ev`` (the evaluated rows: ``cur_file`` with the
predictions and scores attached as :data:`~core.evaluation.statistics.PREDICTION` and
:data:`~core.evaluation.statistics.SCORE`; the ``current`` side) and ``ref_file`` (the ``reference`` side).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from core.catalog.datasets import _scan
from core.errors import BadInput
from core.evaluation.sql_dialect import DUCKDB
from core.evaluation.sql_source import SqlSource
from core.evaluation.statistics import PREDICTION, SCORE, DataFile, ModelOutputs, Side

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MEMORY_LIMIT", "SCORING_BATCH", "DuckDBSource", "engine_version"]

SCORING_BATCH = 50_000
MEMORY_LIMIT = "1GB"


def engine_version() -> str:
    return str(duckdb.__version__)


class DuckDBSource(SqlSource):
    """A :class:`~core.evaluation.statistics.StatisticsSource` over an in-memory DuckDB."""

    dialect = DUCKDB
    views: dict[Side, str] = {"current": "ev", "data": "cur_file", "reference": "ref_file"}  # noqa: RUF012

    def __init__(self, data: DataFile) -> None:
        super().__init__()
        self.con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": 2,
                                          "autoinstall_known_extensions": "false",
                                          # Parquet min/max statistics leave NaN out; without this DuckDB folds
                                          # isnan() to false on such files (duckdb/duckdb#25521)
                                          "parquet_can_have_nan": True})
        self._columns = self._open("cur_file", data)
        self._markers = data.format == "csv"

    @property
    def engine(self) -> dict[str, Any]:
        """What the result records of the engine: name, version and approximations (none)."""
        return {"name": "duckdb", "version": engine_version(), "approximations": []}

    # ------------------------------------------------------------------------------------------- the engine
    def _rows(self, sql: str, limit: int | None = None) -> list[tuple[Any, ...]]:
        cursor = self.con.execute(sql)
        return cursor.fetchall() if limit is None else cursor.fetchmany(limit)

    def _arrays(self, sql: str) -> dict[str, np.ndarray]:
        fetched: dict[str, np.ndarray] = self.con.execute(sql).fetchnumpy()
        return fetched

    def _create_view(self, view: str, select_sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS {select_sql}")

    def _describe(self, view: str) -> dict[str, str]:
        return {str(r[0]): str(r[1]) for r in self.con.execute(f"DESCRIBE {view}").fetchall()}

    # ------------------------------------------------------------------------------------------- files
    def _open(self, view: str, data: DataFile) -> dict[str, str]:
        """A view of a data file, and its column types. In a CSV file, a column the reader types BOOLEAN but that is
        spelled other than true/false (yes/no, Y/N, t/f — pandas keeps those as text) is read as the text itself."""
        if data.format == "spark-table":
            raise BadInput(f"{data.path} is a Spark table: only the Spark engine reads it (--engine spark)")
        scan = _scan(data.path, data.format, data.dialect)
        self.con.execute(f"CREATE VIEW {view} AS SELECT * FROM {scan}")
        columns = self._describe(view)
        booleans = [c for c, t in columns.items() if t.upper() == "BOOLEAN"]
        if data.format != "csv" or not booleans:
            return columns
        raw = scan[:-1] + ", all_varchar = true)"
        spellings = ", ".join(f"list(DISTINCT lower(trim({self.dialect.quote(c)})))" for c in booleans)
        found = self._one(f"SELECT {spellings} FROM {raw}")
        text = [c for c, seen in zip(booleans, found, strict=True)
                if {v for v in (seen or []) if v} - {"true", "false"}]
        if text:
            types = ", ".join(f"{self.dialect.string(c)}: 'VARCHAR'" for c in text)
            self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {scan[:-1]}, types = {{{types}}})")
            columns = self._describe(view)
        return columns

    def attach_reference(self, reference: DataFile) -> None:
        self._ref_columns = self._open("ref_file", reference)
        self._ref_markers = reference.format == "csv"

    def attach_model_outputs(self, predict: Callable[[pd.DataFrame], ModelOutputs]) -> None:
        import pyarrow as pa

        reader = self.con.sql("SELECT * FROM cur_file").to_arrow_reader(SCORING_BATCH)
        batches = []
        for batch in reader:
            frame = batch.to_pandas()
            pred, score = predict(frame)
            arrays = {c: batch.column(c) for c in batch.schema.names}
            arrays[PREDICTION] = pa.array(pred)
            arrays[SCORE] = pa.array(score if score is not None else [None] * len(frame), type=pa.float64())
            batches.append(pa.table(arrays))
        table = pa.concat_tables(batches) if batches else pa.table({})
        self.con.register("scored", table)
        self.con.execute("CREATE VIEW ev AS SELECT * FROM scored")
        self._types = self._describe("ev")

    def sample(self, columns: Sequence[str], rows: int, seed: int) -> pd.DataFrame:
        cols = ", ".join(self.dialect.quote(f) for f in columns)
        frame: pd.DataFrame = self.con.execute(
            f"SELECT {cols} FROM cur_file USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed)})").fetchdf()
        return frame

    def close(self) -> None:
        self.con.close()
