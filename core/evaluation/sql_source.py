"""The evaluation's statistics as SQL, written once for every SQL engine (DuckDB, Spark SQL).

:class:`SqlSource` implements the statistics of :class:`~core.evaluation.statistics.StatisticsSource` as SQL
statements over three views — the data file as read (the ``data`` side), the evaluated rows (the data with the
predictions and scores attached as :data:`~core.evaluation.statistics.PREDICTION` and
:data:`~core.evaluation.statistics.SCORE`; the ``current`` side) and the reference file (the ``reference`` side) —
spelled through a :class:`~core.evaluation.sql_dialect.SqlDialect`. Only aggregates come back: per-group confusion
counts from one ``GROUP BY``, counts per distinct score (ROC AUC and average precision stay exact), sums for log
loss, Brier and regression errors, missing-value counts, category counts and counts per reference-quantile bin for
drift; the values of one numeric column only when a drift test needs them (KS, Wasserstein). An engine subclass
opens the views and runs the statements (:meth:`SqlSource._rows`, :meth:`SqlSource._arrays`,
:meth:`SqlSource._create_view`, :meth:`SqlSource._describe`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from core.evaluation import labels
from core.evaluation.sql_dialect import SqlDialect
from core.evaluation.statistics import (
    PREDICTION,
    SCORE,
    ConfusionCell,
    LossSum,
    MissingByColumn,
    NumberCounts,
    RegressionCell,
    ScoreRanking,
    Side,
    ValueCounts,
)

__all__ = ["SqlSource"]


class SqlSource:
    """The statistics of an evaluation as SQL; subclasses supply the engine (see the module's docstring)."""

    dialect: SqlDialect
    #: The views' names per side (an engine with shared sessions makes them unique per source).
    views: dict[Side, str]
    #: Ranges of distinct scores ranked apart (:meth:`score_ranking`); 0: one ordered window over all of them.
    ranking_buckets: int = 0

    def __init__(self) -> None:
        self._columns: dict[str, str] = {}
        self._ref_columns: dict[str, str] = {}
        self._types: dict[str, str] = {}
        self._markers = False
        self._ref_markers = True

    # ------------------------------------------------------------------------------------------- the engine
    def _rows(self, sql: str, limit: int | None = None) -> list[tuple[Any, ...]]:
        """The rows of a query (at most ``limit``)."""
        raise NotImplementedError

    def _arrays(self, sql: str) -> dict[str, np.ndarray]:
        """The columns of a query as NumPy arrays."""
        raise NotImplementedError

    def _create_view(self, view: str, select_sql: str) -> None:
        raise NotImplementedError

    def _describe(self, view: str) -> dict[str, str]:
        """A view's columns and their type names, spelled as the catalog records them (``BIGINT``, ``VARCHAR``…)."""
        raise NotImplementedError

    def _one(self, sql: str) -> tuple[Any, ...]:
        (row,) = self._rows(sql)  # an aggregate without GROUP BY: one row
        return tuple(row)

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

    def _q(self, column: str) -> str:
        """The reserved prediction and score columns are named bare (they are plain identifiers); others quoted."""
        return column if column in (PREDICTION, SCORE) else self.dialect.quote(column)

    def _literal(self, value: Any) -> str:  # noqa: ANN401
        if isinstance(value, float):
            return self.dialect.double(value)
        return self.dialect.string(str(value))

    def _type(self, column: str, side: Side) -> str:
        """The type a column's missing codes are read with: as the file declares it (the evaluated rows' own type
        only for the attached prediction and score)."""
        if side == "reference":
            return self._ref_columns[column]
        return self._columns[column] if column in self._columns else self._types[column]

    def _miss(self, column_sql: str, type_name: str, side: Side = "current") -> str:
        """:func:`labels.missing_code_sql` with pandas' markers only for CSV data."""
        markers = self._ref_markers if side == "reference" else self._markers
        return labels.missing_code_sql(column_sql, type_name, markers, self.dialect)

    def _is_number(self, column_sql: str) -> str:
        return labels.is_number_sql(column_sql, self.dialect)

    # ------------------------------------------------------------------------------------------- predictions
    def attach_columns(self, prediction: str | None, score: str | None) -> None:
        d = self.dialect
        pred = d.quote(prediction) if prediction else "NULL"
        score_sql = "CAST(NULL AS DOUBLE)"
        if score:
            score_sql = f"CAST({d.quote(score)} AS DOUBLE)"
            if labels.column_kind(self._columns[score]).kind != "numeric":
                q = d.quote(score)
                code = self._miss(q, self._columns[score], "data")
                score_sql = (f"(CASE WHEN {code} = 0 THEN {d.try_double(q)} WHEN {code} = 2 THEN "
                             f"{d.double(float('nan'))} WHEN {code} = 3 THEN {d.double(float('inf'))} END)")
        self._create_view(self.views["current"], f"SELECT *, {pred} AS {PREDICTION}, {score_sql} AS {SCORE} "
                                                 f"FROM {self.views['data']}")
        self._types = self._describe(self.views["current"])

    # ------------------------------------------------------------------------------------------- values
    def row_count(self, side: Side) -> int:
        return int(self._one(f"SELECT count(*) FROM {self.views[side]}")[0])

    def count_numbers(self, column: str) -> NumberCounts:
        q = self._q(column)
        code = self._miss(q, self._types[column])
        present, numbers = self._one(f"SELECT count(*) FILTER (WHERE {code} = 0), count(*) FILTER (WHERE {code} = 0 "
                                     f"AND {self._is_number(q)}) FROM {self.views['current']}")
        return NumberCounts(int(present), int(numbers))

    def non_numbers(self, column: str, side: Side, limit: int = 5) -> ValueCounts:
        q = self._q(column)
        view = self.views[side]
        where = f"{self._miss(q, self._type(column, side), side)} = 0 AND NOT {self._is_number(q)}"
        text = f"CAST({q} AS {self.dialect.text_type})"
        top = self._rows(f"SELECT {text} AS v, count(*) AS n FROM {view} WHERE {where} GROUP BY 1 "
                         f"ORDER BY 2 DESC, 1 LIMIT {int(limit)}")
        if not top:
            return ValueCounts((), 0)
        total = int(self._one(f"SELECT count(*) FROM {view} WHERE {where}")[0])
        return ValueCounts(tuple((v, int(n)) for v, n in top), total)

    def inexact_class_values(self, column: str) -> int:
        q = self._q(column)
        inexact = self.dialect.inexact_in_double(q, self._types[column])
        return int(self._one(f"SELECT count(*) FILTER (WHERE {q} IS NOT NULL AND {inexact}) "
                             f"FROM {self.views['current']}")[0])

    def top_values(self, column: str, limit: int = 5) -> ValueCounts:
        q = self._q(column)
        rows = self._rows(f"SELECT {q} AS v, count(*) AS n FROM {self.views['current']} WHERE {q} IS NOT NULL "
                          f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {int(limit)}")
        return ValueCounts(tuple((v, int(n)) for v, n in rows), 0)

    def _key(self, column: str, as_number: bool) -> str:
        """SQL for a column's class key (numbers-as-text read as numbers)."""
        q = self._q(column)
        if as_number:
            return self.dialect.try_double(q)
        return labels.class_key_sql(q, self._types[column], self.dialect)

    # ------------------------------------------------------------------------------------------- classification
    def confusion_table(self, label: str, groups: Sequence[str], *, prediction: bool, score: bool,
                        thresholds: Sequence[float], limit: int,
                        as_numbers: Collection[str] = ()) -> list[ConfusionCell]:
        d = self.dialect
        q = d.quote(label)
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
            gq = d.quote(g)
            gm = self._miss(gq, self._types[g])
            parts += [f"CASE WHEN {gm} = 0 THEN {gq} END", gm]
        keys = ", ".join(f"{p} AS k{i}" for i, p in enumerate(parts))
        counts = ", ".join(["count(*)"] + [f"count(*) FILTER (WHERE {clean} >= {d.double(t)})" for t in thresholds]
                           if score else ["count(*)"])
        fetched = self._rows(f"SELECT {keys}, {counts} FROM {self.views['current']} {d.group_by(len(parts))}",
                             limit=limit + 1)
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
        q = self.dialect.quote(label)
        is_pos = f"({self._key(label, label_as_number)} = {self._literal(positive)})"
        usable = f"{self._miss(q, self._types[label])} = 0 AND {self._miss(SCORE, 'DOUBLE')} = 0"
        return is_pos, usable

    def score_ranking(self, label: str, positive: Any, label_as_number: bool = False,  # noqa: ANN401
                      max_points: int = 200, buckets: int | None = None) -> ScoreRanking:
        """One scan: counts per distinct score (``GROUP BY``), running sums from the highest score down (ordered
        window sums), then the sums of :class:`~core.evaluation.statistics.ScoreRanking` and its kept curve points
        (``array_agg ... FILTER``); only those come back, whatever the number of distinct scores.

        With ``buckets`` > 0 (default: :attr:`ranking_buckets`) the distinct scores are split into that many ranges
        at their quantiles; each range's running sums are computed apart (in parallel) and offset by the totals of
        the ranges above it — the same integers as one window over all scores, exactly."""
        d = self.dialect
        buckets = self.ranking_buckets if buckets is None else int(buckets)
        is_pos, usable = self._scored(label, positive, label_as_number)
        kept = _kept_curve_point(d, "k", "n_scores", max_points)
        per_score = (f"per_score AS (SELECT {SCORE} AS s, count(*) FILTER (WHERE {is_pos}) AS pos, "
                     f"count(*) FILTER (WHERE NOT {is_pos}) AS neg FROM {self.views['current']} WHERE {usable} "
                     f"GROUP BY {SCORE})")
        if buckets > 0:
            # b = the number of cut points above s: b grows as s falls, and equal scores share a range
            fractions = [j / buckets for j in range(1, buckets)]
            top = "OVER (PARTITION BY b ORDER BY s DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
            above = "OVER (ORDER BY b ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
            ranked = (
                f"cuts AS (SELECT {d.quantiles('s', fractions)} AS q FROM per_score), "
                f"bucketed AS (SELECT s, pos, neg, {d.count_above('q', 's')} AS b FROM per_score CROSS JOIN cuts), "
                f"within AS (SELECT b, pos, neg, sum(pos) {top} AS tp, sum(neg) {top} AS fp, "
                f"row_number() OVER (PARTITION BY b ORDER BY s DESC) AS k FROM bucketed), "
                f"totals AS (SELECT b, sum(pos) AS bp, sum(neg) AS bn, count(*) AS bk FROM bucketed GROUP BY b), "
                f"offsets AS (SELECT b, coalesce(sum(bp) {above}, 0) AS tp0, coalesce(sum(bn) {above}, 0) AS fp0, "
                f"coalesce(sum(bk) {above}, 0) AS k0 FROM totals), "
                f"ranked AS (SELECT pos, neg, tp + tp0 AS tp, fp + fp0 AS fp, k + k0 AS k FROM within "
                f"JOIN offsets ON within.b = offsets.b), "
                f"scores AS (SELECT sum(bk) AS n_scores FROM totals) ")
        else:
            top = "OVER (ORDER BY s DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
            ranked = (f"ranked AS (SELECT pos, neg, sum(pos) {top} AS tp, sum(neg) {top} AS fp, "
                      f"row_number() OVER (ORDER BY s DESC) AS k FROM per_score), "
                      f"scores AS (SELECT count(*) AS n_scores FROM per_score) ")
        row = self._one(
            f"WITH {per_score}, {ranked}"
            f"SELECT count(*), sum(pos), sum(neg), sum(CAST(pos AS {d.wide_integer}) * (2 * fp - neg)), "
            f"sum(CAST(CAST(pos AS DOUBLE) * tp / (tp + fp) AS DECIMAL(38, 24))), "
            f"array_agg({d.int_list('k', 'tp', 'fp')}) FILTER (WHERE {kept}) "
            f"FROM ranked CROSS JOIN scores")
        n_scores, pos, neg = int(row[0]), int(row[1] or 0), int(row[2] or 0)
        if pos >= 10 ** 14:  # pragma: no cover - the DECIMAL(38, 24) terms hold up to 10**14 rows at one score
            raise ValueError(f"{pos} positive rows are beyond the exact average precision's range (10**14)")
        # Σ pos_k (2 fp_k − neg_k) was summed: twice the wins are 2·P·N minus it (N − fp_k negatives rank below)
        twice_wins = 2 * pos * neg - int(row[3] or 0)
        points = sorted((int(k), int(tp), int(fp)) for k, tp, fp in (row[5] or ()))
        return ScoreRanking(positives=pos, negatives=neg, distinct=n_scores, twice_wins=twice_wins,
                            precision_sum=float(row[4] or 0), curve=((0, 0, 0), *points))

    def scores_outside_unit(self, label: str, limit: int = 5) -> list[float]:
        _, usable = self._scored(label, 1.0, False)
        rows = self._rows(f"SELECT {SCORE} FROM {self.views['current']} WHERE {usable} AND ({SCORE} < 0 OR "
                          f"{SCORE} > 1) LIMIT {int(limit)}")
        return [v for (v,) in rows]

    def probability_loss(self, label: str, positive: Any, loss: Literal["log_loss", "brier"],  # noqa: ANN401
                         epsilon: float, label_as_number: bool = False) -> LossSum:
        d = self.dialect
        is_pos, usable = self._scored(label, positive, label_as_number)
        p = f"least(greatest({SCORE}, {d.double(epsilon)}), {d.double(1 - epsilon)})"
        expr = (f"-(CASE WHEN {is_pos} THEN ln({p}) ELSE ln(1 - {p}) END)" if loss == "log_loss"
                else d.square(f"{SCORE} - CASE WHEN {is_pos} THEN 1.0 ELSE 0.0 END"))
        n, total = self._one(f"SELECT count(*), sum({expr}) FROM {self.views['current']} WHERE {usable}")
        return LossSum(int(n), None if total is None else float(total))

    def regression_sums(self, label: str, target: str) -> list[RegressionCell]:
        d = self.dialect
        q = d.quote(label)
        ym = self._miss(q, self._types[label])
        tm = self._miss(target, self._types[target])
        y, yhat = d.try_double(q), d.try_double(target)
        view = self.views["current"]
        fetched = self._rows(
            f"SELECT {ym} AS ym, {tm} AS tm, count(*), sum({d.square(f'{y} - {yhat}')}), sum(abs({y} - {yhat})), "
            f"var_pop({y}), min({y}) FROM {view} {d.group_by(2)}")
        cells = []
        for r in fetched:
            variance = _float(r[5])
            if int(r[0]) == 0 and int(r[1]) == 0 and r[6] is not None and math.isfinite(float(r[6])):
                # the usable rows' variance as scikit-learn's r2 takes it — squared deviations from the mean, summed —
                # in passes: the mean as the smallest value plus the mean offset from it (small numbers, summed
                # without the large mean's rounding), then the deviations. A one-pass variance (var_pop), or a mean
                # summed from large values, loses digits when the mean is large against the spread.
                where = f"WHERE {ym} = 0 AND {tm} = 0"
                low = d.double(float(r[6]))
                (offset,) = self._one(f"SELECT avg({y} - {low}) FROM {view} {where}")
                mean = float(r[6]) + float(offset)
                (spread,) = self._one(f"SELECT sum({d.square(f'{y} - {d.double(mean)}')}) FROM {view} {where}")
                variance = None if spread is None else float(spread) / int(r[2])
            cells.append(RegressionCell(int(r[0]), int(r[1]), int(r[2]), _float(r[3]), _float(r[4]), variance))
        return cells

    # ------------------------------------------------------------------------------------------- columns
    def missing_codes(self, column: str, side: Side) -> dict[int, int]:
        code = self._miss(self._q(column), self._type(column, side), side)
        rows = self._rows(f"SELECT {code} AS m, count(*) FROM {self.views[side]} GROUP BY 1")
        return {int(c): int(n) for c, n in rows}

    def missing_code_counts(self, columns: Sequence[str], side: Side) -> dict[str, dict[int, int]]:
        if not columns:
            return {}
        codes = ", ".join(f"{self._miss(self._q(c), self._type(c, side), side)} AS m{i}"
                          for i, c in enumerate(columns))
        markers = self._ref_markers if side == "reference" else self._markers
        possible = [labels.possible_missing_codes(self._type(c, side), markers) for c in columns]
        # each code computed once per row (in the subquery), then counted per kind it can take (a sum: DuckDB's
        # count(*) FILTER is four times slower here); the present values are the rest of the rows
        parts = ", ".join(["count(*)"] + [f"sum(CAST(m{i} = {k} AS BIGINT))" for i, kinds in enumerate(possible)
                                          for k in kinds])
        values = iter(self._one(f"SELECT {parts} FROM (SELECT {codes} FROM {self.views[side]}) AS coded"))
        rows = int(next(values))
        found: dict[str, dict[int, int]] = {}
        for column, kinds in zip(columns, possible, strict=True):
            counts = {k: int(next(values) or 0) for k in kinds}
            found[column] = {k: n for k, n in {0: rows - sum(counts.values()), **counts}.items() if n}
        return found

    def missing_by_column(self, columns: Sequence[str]) -> MissingByColumn:
        parts = ", ".join(f"count(*) FILTER (WHERE {self._miss(self.dialect.quote(c), self._columns[c], 'data')} > 0)"
                          for c in columns)
        values = self._one(f"SELECT count(*), {parts} FROM {self.views['data']}") if columns else (0,)
        return MissingByColumn(int(values[0]), dict(zip(columns, (int(v) for v in values[1:]), strict=True)))

    def _present_doubles(self, column: str, side: Side, lenient: bool) -> str:
        q = self._q(column)
        code = self._miss(q, self._type(column, side), side)
        value = self.dialect.try_double(q) if lenient else f"CAST({q} AS DOUBLE)"
        # text read as numbers: a number beyond the double range ("1e400") is no finite value either
        finite = f" AND NOT {self.dialect.is_infinite(value)}" if lenient else ""
        return f"SELECT {value} AS v FROM {self.views[side]} WHERE {code} = 0{finite}"

    def numbers(self, column: str, side: Side, *, lenient: bool = False) -> np.ndarray:
        fetched = self._arrays(self._present_doubles(column, side, lenient))
        return np.asarray(fetched["v"], dtype=float)

    def value_counts(self, column: str, side: Side, *, lenient: bool = False,
                     limit: int) -> dict[float, int] | None:
        rows = self._rows(f"SELECT v, count(*) FROM ({self._present_doubles(column, side, lenient)}) AS present "
                          "GROUP BY v", limit=int(limit) + 1)
        if len(rows) > limit:
            return None
        counted: dict[float, int] = {}
        for value, n in rows:  # -0.0 and 0.0 are one value (an engine may group them apart)
            key = float(value) + 0.0
            counted[key] = counted.get(key, 0) + int(n)
        return counted

    def bin_counts(self, column: str, side: Side, cuts: Sequence[float], masses: Sequence[float], *,
                   lenient: bool = False) -> np.ndarray:
        (counts,) = self.bin_counts_many([(column, cuts, masses, lenient)], side)
        return counts

    def bin_counts_many(self, specs: Sequence[tuple[str, Sequence[float], Sequence[float], bool]],
                        side: Side) -> list[np.ndarray]:
        if not specs:
            return []
        d = self.dialect
        bins, parts = [], []
        for i, (column, cuts, masses, lenient) in enumerate(specs):
            q = self._q(column)
            code = self._miss(q, self._type(column, side), side)
            value = d.try_double(q) if lenient else f"CAST({q} AS DOUBLE)"
            terms = ([f"CAST({value} >= {d.double(c)} AS INTEGER)" for c in cuts]
                     + [f"CAST({value} > {d.double(m)} AS INTEGER)" for m in masses])
            finite = f" AND NOT {d.is_infinite(value)}" if lenient else ""  # as in numbers(): "1e400" is no value
            parts.append(f"CASE WHEN {code} = 0{finite} THEN {' + '.join(terms) or '0'} END AS b{i}")
            bins.append(len(cuts) + len(masses) + 1)
        # each value's bin computed once per row (in the subquery), then counted per bin: one scan for all columns
        sums = ", ".join(f"sum(CAST(b{i} = {k} AS BIGINT))" for i, n in enumerate(bins) for k in range(n))
        values = self._one(f"SELECT {sums} FROM (SELECT {', '.join(parts)} FROM {self.views[side]}) AS binned")
        found, at = [], 0
        for n in bins:
            found.append(np.array([int(v or 0) for v in values[at:at + n]], dtype=np.int64))
            at += n
        return found

    def categories(self, column: str, side: Side) -> dict[str, int]:
        q = self._q(column)
        code = self._miss(q, self._type(column, side), side)
        got = self._rows(f"SELECT CAST({q} AS {self.dialect.text_type}) AS v, count(*) AS n FROM {self.views[side]} "
                         f"WHERE {code} = 0 GROUP BY 1")
        return {str(k): int(v) for k, v in got}


def _kept_curve_point(d: SqlDialect, k: str, n: str, max_points: int) -> str:
    """SQL: the k-th of ``n`` thresholds (k = 1 … n; k = 0 is the point (0, 0)) is kept on a curve of at most
    ``max_points`` points: all when there are no more, else the k nearest to ``j · n / (max_points − 1)`` for
    j = 0 … max_points − 1 (halves rounded up) — exactly ``max_points`` points, both ends among them."""
    m = int(max_points) - 1
    nearest_j = d.int_div(f"2 * {k} * {m} + {n}", f"2 * {n}")
    return f"({n} + 1 <= {m + 1} OR {d.int_div(f'2 * {nearest_j} * {n} + {m}', str(2 * m))} = {k})"


def _float(value: Any) -> float | None:  # noqa: ANN401
    return None if value is None else float(value)
