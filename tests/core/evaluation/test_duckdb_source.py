"""The DuckDB statistics source on small real CSV and Parquet files: every statistic checked against a count made in
Python over the same rows; and the seam itself (the engine runs on any source; no SQL outside this source)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.evaluation.duckdb_source import DuckDBSource
from core.evaluation.engine import EvalInputs, Evaluator
from core.evaluation.statistics import PREDICTION, SCORE, DataFile, StatisticsSource
from core.policy.rules import parse_policy

EVALUATION = Path(__file__).resolve().parents[3] / "core" / "evaluation"

CSV = """y,p,s,g,x,flag,text_score
1,1,0.9,a,1.5,yes,0.9
0,0,0.2,b,2.5,no,0.2
1,0,0.4,a,NA,yes,nan
0,1,0.7,,3.5,no,0.7
1,1,0.9,b,inf,yes,inf
,1,0.6,a,4.5,no,
1,1,1.5,b,5.5,yes,1.5
0,0,0.1,a,6.5,no,0.1
"""


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(CSV)
    return path


@pytest.fixture
def source(csv_path: Path) -> DuckDBSource:
    src = DuckDBSource(DataFile(csv_path, "csv"))
    src.attach_columns("p", "s")
    return src


def test_schema_reads_yes_no_as_text_and_attaches_prediction_and_score(source: DuckDBSource) -> None:
    assert list(source.columns) == ["y", "p", "s", "g", "x", "flag", "text_score"]
    assert source.columns["flag"] == "VARCHAR"  # yes/no: pandas keeps the text (DuckDB's sniffer says BOOLEAN)
    assert source.columns["x"] == "VARCHAR"  # "NA" and "inf" in a numeric column
    assert list(source.evaluated_columns)[-2:] == [PREDICTION, SCORE]
    assert source.evaluated_columns[SCORE] == "DOUBLE"
    assert source.reference_columns == {}
    assert source.row_count("current") == source.row_count("data") == 8


def test_missing_codes_count_markers_only_in_csv(source: DuckDBSource, tmp_path: Path) -> None:
    # x: 'NA' is pandas' missing-value marker (5), 'inf' is infinite (3); g: one empty value is NULL in DuckDB's CSV
    assert source.missing_codes("x", "data") == {0: 6, 5: 1, 3: 1}
    assert source.missing_codes("g", "current") == {0: 7, 1: 1}
    parquet = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": ["1.5", "NA", "inf", None]}), parquet)
    plain = DuckDBSource(DataFile(parquet, "parquet"))
    plain.attach_columns(None, None)
    assert plain.missing_codes("x", "data") == {0: 2, 3: 1, 1: 1}  # Parquet text 'NA' is text, not a marker
    missing = source.missing_by_column(["x", "g", "y"])
    assert (missing.rows, dict(missing.missing)) == (8, {"x": 2, "g": 1, "y": 1})


def test_confusion_table_counts_every_combination_once(source: DuckDBSource) -> None:
    cells = source.confusion_table("y", ["g"], prediction=True, score=True, thresholds=[0.5, 0.8], limit=100)
    assert sum(c.rows for c in cells) == 8
    rows = [line.split(",") for line in CSV.strip().splitlines()[1:]]
    for c in cells:
        matching = [r for r in rows if (float(r[0]) if r[0] else None) == c.label
                    and float(r[1]) == c.prediction and (r[3] or None) == c.groups[0]
                    and (not 0 <= float(r[2]) <= 1) == c.score_outside]
        assert c.rows == len(matching), c
        scores = [float(r[2]) for r in matching]
        assert c.at_least == {0.5: sum(s >= 0.5 for s in scores), 0.8: sum(s >= 0.8 for s in scores)}
        assert c.label_missing == (1 if c.label is None else 0)
        assert c.groups_missing == ((1,) if c.groups[0] is None else (0,))
    assert len(source.confusion_table("y", ["g", "s"], prediction=True, score=True, thresholds=[], limit=3)) == 4


def test_confusion_table_without_prediction_or_score(source: DuckDBSource) -> None:
    (cell, *_rest) = source.confusion_table("y", [], prediction=False, score=False, thresholds=[], limit=10)
    assert (cell.prediction, cell.prediction_missing, cell.score_missing, cell.score_outside) == (None, 1, 1, False)
    assert cell.at_least == {}


def test_score_statistics_match_python(source: DuckDBSource) -> None:
    usable = [(float(r[0]), float(r[2])) for r in (line.split(",") for line in CSV.strip().splitlines()[1:]) if r[0]]
    ranking = source.score_ranking("y", 1.0, max_points=3)
    distinct = sorted({s for _, s in usable}, reverse=True)
    pos = [sum(1 for y, s in usable if s == d and y == 1) for d in distinct]
    neg = [sum(1 for y, s in usable if s == d and y == 0) for d in distinct]
    tp, fp = np.cumsum(pos).tolist(), np.cumsum(neg).tolist()
    assert (ranking.positives, ranking.negatives, ranking.distinct) == (sum(pos), sum(neg), len(distinct))
    assert ranking.twice_wins == sum(p * (2 * (sum(neg) - f) + n) for p, n, f in zip(pos, neg, fp, strict=True))
    assert ranking.precision_sum == pytest.approx(sum(p * t / (t + f) for p, t, f in zip(pos, tp, fp, strict=True)),
                                                  rel=1e-15)
    assert len(distinct) + 1 > 3  # thinned: (0, 0), the middle threshold and the last
    middle = (len(distinct) + 1) // 2  # round(D / 2), halves up
    assert ranking.curve == ((0, 0, 0), (middle, tp[middle - 1], fp[middle - 1]), (len(distinct), tp[-1], fp[-1]))
    assert source.scores_outside_unit("y") == [1.5]
    eps = 1e-15
    loss = source.probability_loss("y", 1.0, "log_loss", eps)
    clipped = [(y, min(max(s, eps), 1 - eps)) for y, s in usable]
    want = sum(-math.log(p) if y == 1 else -math.log(1 - p) for y, p in clipped)
    assert loss.rows == len(usable) and loss.total == pytest.approx(want, rel=1e-12)
    brier = source.probability_loss("y", 1.0, "brier", eps)
    assert brier.total == pytest.approx(sum((s - y) ** 2 for y, s in usable), rel=1e-12)


def test_regression_sums_match_numpy(source: DuckDBSource) -> None:
    cells = {(c.label_missing, c.target_missing): c for c in source.regression_sums("y", SCORE)}
    assert sorted(cells) == [(0, 0), (1, 0)]
    present = cells[(0, 0)]
    pairs = [(float(r[0]), float(r[2])) for r in (line.split(",") for line in CSV.strip().splitlines()[1:]) if r[0]]
    y, s = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    assert present.rows == len(pairs)
    assert present.squared_error == pytest.approx(float(((y - s) ** 2).sum()), rel=1e-12)
    assert present.absolute_error == pytest.approx(float(np.abs(y - s).sum()), rel=1e-12)
    assert present.label_variance == pytest.approx(float(y.var()), rel=1e-12)


def test_values_for_drift_and_refusals(source: DuckDBSource) -> None:
    assert source.numbers("s", "current").tolist() == [0.9, 0.2, 0.4, 0.7, 0.9, 0.6, 1.5, 0.1]
    assert source.numbers("x", "data", lenient=True).tolist() == [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]
    assert source.categories("g", "current") == {"a": 4, "b": 3}
    assert source.non_numbers("flag", "data").top == (("no", 4), ("yes", 4))
    assert source.non_numbers("flag", "data", limit=1).total == 8
    assert source.non_numbers("text_score", "data").top == ()  # nan and inf are missing, not "not numbers"
    assert source.count_numbers("x").present == 6 and source.count_numbers("x").numbers == 6
    top = source.top_values("g")
    assert (top.top, top.total) == ((("a", 4), ("b", 3)), 0)
    assert source.inexact_class_values("y") == 0


def test_text_scores_are_read_as_numbers(csv_path: Path) -> None:
    src = DuckDBSource(DataFile(csv_path, "csv"))
    src.attach_columns(None, "text_score")
    assert src.numbers(SCORE, "current").tolist() == [0.9, 0.2, 0.7, 1.5, 0.1]
    assert src.missing_codes(SCORE, "current") == {0: 5, 1: 1, 2: 1, 3: 1}  # empty text, nan, inf


def test_wide_integers_are_inexact_class_keys(tmp_path: Path) -> None:
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"y": pa.array([2**53 + 1, 2**53 + 2, 1, None], type=pa.int64())}), path)
    src = DuckDBSource(DataFile(path, "parquet"))
    src.attach_columns(None, None)
    assert src.inexact_class_values("y") == 1  # 2**53 + 2 is a double; 2**53 + 1 is not


def test_reference_and_sample(source: DuckDBSource, tmp_path: Path) -> None:
    ref = tmp_path / "ref.csv"
    ref.write_text("x,g\n1,a\n2,NA\n")
    source.attach_reference(DataFile(ref, "csv"))
    assert dict(source.reference_columns) == {"x": "BIGINT", "g": "VARCHAR"}
    assert source.row_count("reference") == 2
    assert source.missing_codes("g", "reference") == {0: 1, 5: 1}
    first = source.sample(["y", "g"], 4, seed=7)
    assert list(first.columns) == ["y", "g"] and len(first) == 4
    assert first.equals(source.sample(["y", "g"], 4, seed=7))  # repeatable


def test_model_outputs_are_attached_batch_by_batch(csv_path: Path) -> None:
    src = DuckDBSource(DataFile(csv_path, "csv"))
    seen: list[int] = []

    def predict(frame: Any) -> tuple[Any, Any]:  # noqa: ANN401
        seen.append(len(frame))
        return (frame["s"] > 0.5).astype(int).to_numpy(), frame["s"].to_numpy()

    src.attach_model_outputs(predict)
    assert seen == [8]
    assert src.numbers(SCORE, "current").tolist() == [0.9, 0.2, 0.4, 0.7, 0.9, 0.6, 1.5, 0.1]
    assert src.categories(PREDICTION, "current") == {"1": 5, "0": 3}
    src.close()


# ------------------------------------------------------------------------------------------- the seam


def _timeless(value: Any) -> Any:  # noqa: ANN401
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k != "seconds"}
    return [_timeless(v) for v in value] if isinstance(value, list) else value


class _Recording:
    """A source that forwards to DuckDB and records which statistics the engine asked for."""

    def __init__(self, data: DataFile) -> None:
        self.inner: StatisticsSource = DuckDBSource(data)
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        self.calls.append(name)
        return getattr(self.inner, name)


def test_the_engine_reads_data_only_through_its_source(csv_path: Path) -> None:
    policy = parse_policy("""
policy: p
version: 1
checks:
  - {id: acc, metric: accuracy, gte: 0.1, missing: drop}
  - {id: auc, metric: roc_auc, gte: 0.1, missing: drop}
  - {id: dp, fairness: demographic_parity_difference, sensitive_feature: g, lte: 1, min_group_size: 1, missing: drop}
""", "p.yaml")
    inputs = EvalInputs(policy=policy, data_path=csv_path, data_format="csv", label="y", prediction_column="p",
                        score_column="s")
    made: list[_Recording] = []

    def factory(data: DataFile) -> StatisticsSource:
        made.append(_Recording(data))
        return made[-1]  # type: ignore[return-value]

    recorded = Evaluator(inputs, source=factory).run()
    plain = Evaluator(inputs).run()
    assert _timeless(recorded) == _timeless(plain)
    assert {"confusion_table", "score_ranking", "close"} <= set(made[0].calls)


def test_no_sql_outside_the_sql_sources() -> None:
    sql = re.compile(r"\b(SELECT|GROUP BY|CREATE VIEW|DESCRIBE)\b")
    for module in ("engine", "checks", "classification", "performance", "data_checks", "statistics", "result"):
        text = (EVALUATION / f"{module}.py").read_text()
        assert not sql.search(text), f"core/evaluation/{module}.py holds SQL"
        assert "import duckdb" not in text, f"core/evaluation/{module}.py imports DuckDB"


@pytest.mark.parametrize("module", ["engine", "checks", "classification", "performance", "data_checks",
                                    "statistics", "result", "duckdb_source", "sql_source", "sql_dialect"])
def test_modules_stay_small(module: str) -> None:
    assert len((EVALUATION / f"{module}.py").read_text().splitlines()) <= 500


def test_missing_code_counts_of_several_columns_equal_one_column_at_a_time(source: DuckDBSource) -> None:
    columns = ["y", "s", "g", "x", "flag", "text_score"]
    together = source.missing_code_counts(columns, "data")
    assert together == {c: source.missing_codes(c, "data") for c in columns}
    assert together["x"] == {0: 6, 3: 1, 5: 1} and source.missing_code_counts([], "data") == {}


def test_bin_counts_compare_boundaries_as_exact_doubles(tmp_path: Path) -> None:
    """Counts per reference-quantile bin made in SQL equal NumPy's, values equal to a boundary included (a cut
    whose shortest text has 17 digits, a point mass, -0.0 against 0.0)."""
    from core.evaluation import drift

    rng = np.random.default_rng(5)
    edge = 0.1 + 0.2  # 0.30000000000000004
    values = np.concatenate([rng.normal(size=500), [edge] * 7, [np.nextafter(edge, 0)] * 3, [0.0] * 40, [-0.0] * 9])
    path = tmp_path / "v.parquet"
    pq.write_table(pa.table({"v": values, "t": [repr(float(v)) for v in values]}), path)
    src = DuckDBSource(DataFile(path, "parquet"))
    cases = [(np.array([edge]), np.array([])), (np.array([-1.0, 0.0, edge]), np.array([0.0])),
             (np.array([]), np.array([])), drift.reference_cuts(values, 10)]
    for cuts, masses in cases:
        expected = np.bincount(drift.bin_index(cuts, masses, values), minlength=cuts.size + masses.size + 1)
        assert src.bin_counts("v", "data", cuts.tolist(), masses.tolist()).tolist() == expected.tolist()
        assert src.bin_counts("t", "data", cuts.tolist(), masses.tolist(), lenient=True).tolist() == \
            expected.tolist()
