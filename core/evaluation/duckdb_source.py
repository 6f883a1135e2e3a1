"""The DuckDB statistics source: every SQL statement of an evaluation.

An in-memory DuckDB scans the registered file(s) and produces sufficient statistics — per-group confusion counts in
one ``GROUP BY``, counts per distinct score for ROC AUC and average precision, sums for log loss, Brier and regression
errors, category counts for drift — and numeric drift statistics read one column at a time as NumPy arrays. Models
with artifacts score the data in pandas batches of :data:`SCORING_BATCH` rows. Large data never goes through pandas
whole.

Views: ``cur_file`` (the data file as read; the ``data`` side), ``ev`` (the evaluated rows: ``cur_file`` with the
predictions and scores attached as :data:`~core.evaluation.statistics.PREDICTION` and
:data:`~core.evaluation.statistics.SCORE`; the ``current`` side) and ``ref_file`` (the ``reference`` side).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import numpy as np

from core.catalog.datasets import _quote, _scan
from core.evaluation import labels
from core.evaluation.statistics import (
    PREDICTION,
    SCORE,
    ConfusionCell,
    DataFile,
    LossSum,
    MissingByColumn,
    ModelOutputs,
    NumberCounts,
    RegressionCell,
    ScoreCounts,
    Side,
    ValueCounts,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MEMORY_LIMIT", "SCORING_BATCH", "DuckDBSource"]

SCORING_BATCH = 50_000
MEMORY_LIMIT = "1GB"
_VIEWS: dict[str, str] = {"current": "ev", "data": "cur_file", "reference": "ref_file"}


def _sql_literal(value: Any) -> str:  # noqa: ANN401
    if isinstance(value, float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _double(value: float) -> str:
    """A float as an exact SQL DOUBLE: its shortest round-trip text, parsed (correctly rounded) as DOUBLE."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def _column_sql(column: str) -> str:
    """The reserved prediction and score columns are named bare (they are plain identifiers); others quoted."""
    return column if column in (PREDICTION, SCORE) else _quote(column)


class DuckDBSource:
    """A :class:`~core.evaluation.statistics.StatisticsSource` over an in-memory DuckDB."""

    def __init__(self, data: DataFile) -> None:
        self.con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": 2,
                                          "autoinstall_known_extensions": "false",
                                          # Parquet min/max statistics leave NaN out; without this DuckDB folds
                                          # isnan() to false on such files (duckdb/duckdb#25521)
                                          "parquet_can_have_nan": True})
        self._columns = self._open("cur_file", data)
        self._markers = data.format == "csv"
        self._ref_markers = True
        self._ref_columns: dict[str, str] = {}
        self._types: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------- schema
    @property
    def columns(self) -> Mapping[str, str]:
        return self._columns

    @property
    def reference_columns(self) -> Mapping[str, str]:
        return self._ref_columns

    @property
    def evaluated_columns(self) -> Mapping[str, str]:
        return self._types

    def _open(self, view: str, data: DataFile) -> dict[str, str]:
        """A view of a data file, and its column types. In a CSV file, a column the reader types BOOLEAN but that is
        spelled other than true/false (yes/no, Y/N, t/f — pandas keeps those as text) is read as the text itself."""
        scan = _scan(data.path, data.format, data.dialect)
        self.con.execute(f"CREATE VIEW {view} AS SELECT * FROM {scan}")
        columns = self._describe(view)
        booleans = [c for c, t in columns.items() if t.upper() == "BOOLEAN"]
        if data.format != "csv" or not booleans:
            return columns
        raw = scan[:-1] + ", all_varchar = true)"
        spellings = ", ".join(f"list(DISTINCT lower(trim({_quote(c)})))" for c in booleans)
        found = self._one(f"SELECT {spellings} FROM {raw}")
        text = [c for c, seen in zip(booleans, found, strict=True)
                if {v for v in (seen or []) if v} - {"true", "false"}]
        if text:
            types = ", ".join(f"{_sql_literal(c)}: 'VARCHAR'" for c in text)
            self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {scan[:-1]}, types = {{{types}}})")
            columns = self._describe(view)
        return columns

    def _describe(self, view: str) -> dict[str, str]:
        return {str(r[0]): str(r[1]) for r in self.con.execute(f"DESCRIBE {view}").fetchall()}

    def _one(self, sql: str) -> tuple[Any, ...]:
        (row,) = self.con.execute(sql).fetchall()  # an aggregate without GROUP BY: one row (fetched to the end)
        return tuple(row)

    def attach_reference(self, reference: DataFile) -> None:
        self._ref_columns = self._open("ref_file", reference)
        self._ref_markers = reference.format == "csv"

    def _type(self, column: str, side: Side) -> str:
        """The type a column's missing codes are read with: as the file declares it (the evaluated rows' own type
        only for the attached prediction and score)."""
        if side == "reference":
            return self._ref_columns[column]
        return self._columns[column] if column in self._columns else self._types[column]

    def _miss(self, column_sql: str, duckdb_type: str, side: Side = "current") -> str:
        """:func:`labels.missing_code_sql` with pandas' markers only for CSV data."""
        markers = self._ref_markers if side == "reference" else self._markers
        return labels.missing_code_sql(column_sql, duckdb_type, markers)

    # ------------------------------------------------------------------------------------------- predictions
    def attach_columns(self, prediction: str | None, score: str | None) -> None:
        pred = _quote(prediction) if prediction else "NULL"
        score_sql = "NULL"
        if score:
            score_sql = f"CAST({_quote(score)} AS DOUBLE)"
            if labels.column_kind(self._columns[score]).kind != "numeric":
                q = _quote(score)
                code = self._miss(q, self._columns[score], "data")
                score_sql = (f"(CASE WHEN {code} = 0 THEN TRY_CAST({q} AS DOUBLE) WHEN {code} = 2 THEN 'nan'::DOUBLE "
                             f"WHEN {code} = 3 THEN 'inf'::DOUBLE END)")
        self.con.execute(f"CREATE VIEW ev AS SELECT *, {pred} AS {PREDICTION}, {score_sql} AS {SCORE} FROM cur_file")
        self._types = self._describe("ev")

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

    # ------------------------------------------------------------------------------------------- values
    def row_count(self, side: Side) -> int:
        return int(self._one(f"SELECT count(*) FROM {_VIEWS[side]}")[0])

    def count_numbers(self, column: str) -> NumberCounts:
        q = _column_sql(column)
        code = self._miss(q, self._types[column])
        present, numbers = self._one(f"SELECT count(*) FILTER (WHERE {code} = 0), count(*) FILTER (WHERE {code} = 0 "
                                     f"AND {labels.is_number_sql(q)}) FROM ev")
        return NumberCounts(int(present), int(numbers))

    def non_numbers(self, column: str, side: Side, limit: int = 5) -> ValueCounts:
        q = _column_sql(column)
        view = _VIEWS[side]
        where = f"{self._miss(q, self._type(column, side), side)} = 0 AND NOT {labels.is_number_sql(q)}"
        top = self.con.execute(f"SELECT CAST({q} AS VARCHAR), count(*) FROM {view} WHERE {where} GROUP BY 1 "
                               f"ORDER BY 2 DESC, 1 LIMIT {int(limit)}").fetchall()
        if not top:
            return ValueCounts((), 0)
        total = int(self._one(f"SELECT count(*) FROM {view} WHERE {where}")[0])
        return ValueCounts(tuple((v, int(n)) for v, n in top), total)

    def inexact_class_values(self, column: str) -> int:
        q = _column_sql(column)
        return int(self._one(f"SELECT count(*) FILTER (WHERE {q} IS NOT NULL AND TRY_CAST(CAST({q} AS DOUBLE) AS "
                             f"{self._types[column]}) IS DISTINCT FROM {q}) FROM ev")[0])

    def top_values(self, column: str, limit: int = 5) -> ValueCounts:
        q = _column_sql(column)
        rows = self.con.execute(f"SELECT {q}, count(*) FROM ev WHERE {q} IS NOT NULL GROUP BY 1 "
                                f"ORDER BY 2 DESC, 1 LIMIT {int(limit)}").fetchall()
        return ValueCounts(tuple((v, int(n)) for v, n in rows), 0)

    def _key(self, column: str, as_number: bool) -> str:
        """SQL for a column's class key (numbers-as-text read as numbers)."""
        q = _column_sql(column)
        if as_number:
            return f"TRY_CAST({q} AS DOUBLE)"
        return labels.class_key_sql(q, self._types[column])

    # ------------------------------------------------------------------------------------------- classification
    def confusion_table(self, label: str, groups: Sequence[str], *, prediction: bool, score: bool,
                        thresholds: Sequence[float], limit: int,
                        as_numbers: Collection[str] = ()) -> list[ConfusionCell]:
        q = _quote(label)
        ym = self._miss(q, self._types[label])
        parts = [f"CASE WHEN {ym} = 0 THEN {self._key(label, label in as_numbers)} END", ym]
        if prediction:
            pm = self._miss(PREDICTION, self._types[PREDICTION])
            parts += [f"CASE WHEN {pm} = 0 THEN {self._key(PREDICTION, PREDICTION in as_numbers)} END", pm]
        else:
            parts += ["NULL", "1"]
        clean = ""
        if score:
            sm = self._miss(SCORE, "DOUBLE")
            clean = f"(CASE WHEN {sm} = 0 THEN {SCORE} END)"
            parts += [sm, f"coalesce({clean} < 0 OR {clean} > 1, false)"]
        else:
            parts += ["1", "false"]
        for g in groups:
            gq = _quote(g)
            gm = self._miss(gq, self._types[g])
            parts += [f"CASE WHEN {gm} = 0 THEN {gq} END", gm]
        keys = ", ".join(parts)
        counts = ", ".join(["count(*)"] + [f"count(*) FILTER (WHERE {clean} >= {t!r})" for t in thresholds]
                           if score else ["count(*)"])
        cursor = self.con.execute(f"SELECT {keys}, {counts} FROM ev GROUP BY ALL")
        fetched = cursor.fetchmany(limit + 1)
        k = len(groups)
        cells = []
        for r in fetched:
            grouped = r[6:6 + 2 * k]
            cells.append(ConfusionCell(
                label=r[0], label_missing=int(r[1]), prediction=r[2], prediction_missing=int(r[3]),
                score_missing=int(r[4]), score_outside=bool(r[5]), groups=tuple(grouped[0::2]),
                groups_missing=tuple(int(v) for v in grouped[1::2]), rows=int(r[6 + 2 * k]),
                at_least={t: int(v) for t, v in zip(thresholds if score else (), r[7 + 2 * k:], strict=True)}))
        return cells

    def _scored(self, label: str, positive: Any, label_as_number: bool) -> tuple[str, str]:  # noqa: ANN401
        """SQL: the row is of the positive class; the label and score are present."""
        q = _quote(label)
        is_pos = f"({self._key(label, label_as_number)} = {_sql_literal(positive)})"
        usable = f"{self._miss(q, self._types[label])} = 0 AND {self._miss(SCORE, 'DOUBLE')} = 0"
        return is_pos, usable

    def score_counts(self, label: str, positive: Any, label_as_number: bool = False) -> ScoreCounts:  # noqa: ANN401
        is_pos, usable = self._scored(label, positive, label_as_number)
        counts = self.con.execute(
            f"SELECT count(*) FILTER (WHERE {is_pos}) AS pos, count(*) FILTER (WHERE NOT {is_pos}) AS neg "
            f"FROM ev WHERE {usable} GROUP BY {SCORE} ORDER BY {SCORE}").fetchnumpy()
        return ScoreCounts(counts["pos"], counts["neg"])

    def scores_outside_unit(self, label: str, limit: int = 5) -> list[float]:
        _, usable = self._scored(label, 1.0, False)
        rows = self.con.execute(f"SELECT {SCORE} FROM ev WHERE {usable} AND ({SCORE} < 0 OR {SCORE} > 1) "
                                f"LIMIT {int(limit)}").fetchall()
        return [v for (v,) in rows]

    def probability_loss(self, label: str, positive: Any, loss: Literal["log_loss", "brier"],  # noqa: ANN401
                         epsilon: float, label_as_number: bool = False) -> LossSum:
        is_pos, usable = self._scored(label, positive, label_as_number)
        p = f"least(greatest({SCORE}, {epsilon!r}), {1 - epsilon!r})"
        expr = (f"-(CASE WHEN {is_pos} THEN ln({p}) ELSE ln(1 - {p}) END)" if loss == "log_loss"
                else f"({SCORE} - CASE WHEN {is_pos} THEN 1.0 ELSE 0.0 END) ^ 2")
        n, total = self._one(f"SELECT count(*), sum({expr}) FROM ev WHERE {usable}")
        return LossSum(int(n), total)

    def regression_sums(self, label: str, target: str) -> list[RegressionCell]:
        q = _quote(label)
        ym = self._miss(q, self._types[label])
        tm = self._miss(target, self._types[target])
        y, yhat = f"TRY_CAST({q} AS DOUBLE)", f"TRY_CAST({target} AS DOUBLE)"
        fetched = self.con.execute(
            f"SELECT {ym} AS ym, {tm} AS tm, count(*), sum(({y} - {yhat}) ^ 2), sum(abs({y} - {yhat})), "
            f"var_pop({y}) FROM ev GROUP BY ALL").fetchall()
        return [RegressionCell(int(r[0]), int(r[1]), int(r[2]), r[3], r[4], r[5]) for r in fetched]

    # ------------------------------------------------------------------------------------------- columns
    def missing_codes(self, column: str, side: Side) -> dict[int, int]:
        code = self._miss(_column_sql(column), self._type(column, side), side)
        rows = self.con.execute(f"SELECT {code}, count(*) FROM {_VIEWS[side]} GROUP BY 1").fetchall()
        return {int(c): int(n) for c, n in rows}

    def missing_by_column(self, columns: Sequence[str]) -> MissingByColumn:
        parts = ", ".join(f"count(*) FILTER (WHERE {self._miss(_quote(c), self._columns[c], 'data')} > 0)"
                          for c in columns)
        values = self._one(f"SELECT count(*), {parts} FROM cur_file") if columns else (0,)
        return MissingByColumn(int(values[0]), dict(zip(columns, (int(v) for v in values[1:]), strict=True)))

    def numbers(self, column: str, side: Side, *, lenient: bool = False) -> np.ndarray:
        q = _column_sql(column)
        code = self._miss(q, self._type(column, side), side)
        value = f"TRY_CAST({q} AS DOUBLE)" if lenient else f"CAST({q} AS DOUBLE)"
        fetched = self.con.execute(f"SELECT {value} AS v FROM {_VIEWS[side]} WHERE {code} = 0").fetchnumpy()
        return np.asarray(fetched["v"], dtype=float)

    def missing_code_counts(self, columns: Sequence[str], side: Side) -> dict[str, dict[int, int]]:
        if not columns:
            return {}
        codes = ", ".join(f"{self._miss(_column_sql(c), self._type(c, side), side)} AS m{i}"
                          for i, c in enumerate(columns))
        kinds = (0, *labels.MISSING_KINDS)
        # each code computed once per row (in the subquery), then counted per kind (a sum: count(*) FILTER is
        # four times slower here)
        parts = ", ".join(f"sum(CAST(m{i} = {k} AS BIGINT))" for i in range(len(columns)) for k in kinds)
        values = self._one(f"SELECT {parts} FROM (SELECT {codes} FROM {_VIEWS[side]})")
        found: dict[str, dict[int, int]] = {}
        for i, column in enumerate(columns):
            counts = values[i * len(kinds):(i + 1) * len(kinds)]
            found[column] = {k: int(n) for k, n in zip(kinds, counts, strict=True) if n}  # None: no rows
        return found

    def bin_counts(self, column: str, side: Side, cuts: Sequence[float], masses: Sequence[float], *,
                   lenient: bool = False) -> np.ndarray:
        q = _column_sql(column)
        code = self._miss(q, self._type(column, side), side)
        value = f"TRY_CAST({q} AS DOUBLE)" if lenient else f"CAST({q} AS DOUBLE)"
        terms = ([f"CAST(v >= {_double(c)} AS INTEGER)" for c in cuts]
                 + [f"CAST(v > {_double(m)} AS INTEGER)" for m in masses])
        index = " + ".join(terms) or "0"
        rows = self.con.execute(f"SELECT {index} AS b, count(*) FROM (SELECT {value} AS v FROM {_VIEWS[side]} "
                                f"WHERE {code} = 0) GROUP BY b").fetchall()
        counts = np.zeros(len(cuts) + len(masses) + 1, dtype=np.int64)
        for b, n in rows:
            counts[int(b)] = int(n)
        return counts

    def categories(self, column: str, side: Side) -> dict[str, int]:
        q = _column_sql(column)
        code = self._miss(q, self._type(column, side), side)
        got = self.con.execute(f"SELECT CAST({q} AS VARCHAR), count(*) FROM {_VIEWS[side]} WHERE {code} = 0 "
                               f"GROUP BY 1").fetchall()
        return {str(k): int(v) for k, v in got}

    def sample(self, columns: Sequence[str], rows: int, seed: int) -> pd.DataFrame:
        cols = ", ".join(_quote(f) for f in columns)
        frame: pd.DataFrame = self.con.execute(
            f"SELECT {cols} FROM cur_file USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed)})").fetchdf()
        return frame

    def close(self) -> None:
        self.con.close()
