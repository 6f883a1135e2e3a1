"""The evaluation engine: one policy applied to one model on one dataset, with every number kept as evidence.

Large data never goes through pandas whole. An in-memory DuckDB scans the registered file(s) and produces
sufficient statistics — per-group confusion counts in one ``GROUP BY``, counts per distinct score for ROC AUC and
average precision, sums for log loss, Brier and regression errors, category counts for drift — and numeric drift
statistics read one column at a time as NumPy arrays. Only models with artifacts are scored in pandas, in batches.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from core import drift as driftlib
from core import metrics as m
from core.datasets import NUMERIC, CsvDialect, _quote, _scan
from core.documents import present
from core.errors import BadInput
from core.policy import (
    CLASSIFICATION_METRICS,
    DEFAULT_DRIFT_THRESHOLDS,
    P_VALUE_METHODS,
    DataQualityCheck,
    DocumentationCheck,
    DriftCheck,
    ExplainCheck,
    FairnessCheck,
    MetricCheck,
    Policy,
    kind_of,
)

PRED, SCORE = "__cs_prediction", "__cs_score"
#: For categorical columns, the analogue of a numeric-only drift test (recorded per column in the result).
_CATEGORICAL_STANDIN = {"ks": "chisquare", "wasserstein": "jensenshannon"}
SCORING_BATCH = 50_000
MEMORY_LIMIT = "1GB"


@dataclass
class EvalInputs:
    """Everything an evaluation reads, resolved and digest-checked by the caller."""

    policy: Policy
    data_path: Path
    data_format: str
    label: str
    reference_path: Path | None = None
    reference_format: str | None = None
    data_dialect: CsvDialect | None = None
    reference_dialect: CsvDialect | None = None
    model: Any = None
    feature_names: list[str] = field(default_factory=list)
    card: dict[str, Any] | None = None
    training_schema: list[dict[str, str]] | None = None
    prediction_column: str | None = None
    score_column: str | None = None
    positive_label: Any = None


def _literal(value: Any) -> str:  # noqa: ANN401
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compare(value: float | None, ops: dict[str, Any]) -> bool:
    """Whether ``value`` satisfies every operator (Evidently's vocabulary)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    for op, threshold in ops.items():
        ok = {"gt": lambda t: value > t, "gte": lambda t: value >= t, "lt": lambda t: value < t,
              "lte": lambda t: value <= t, "eq": lambda t: math.isclose(value, t, rel_tol=1e-12, abs_tol=1e-12),
              "between": lambda t: t[0] <= value <= t[1]}[op](threshold)
        if not ok:
            return False
    return True


def _op_fields(ops: dict[str, Any]) -> tuple[str | None, Any]:
    if not ops:
        return None, None
    if len(ops) == 1:
        (op, threshold), = ops.items()
        return op, list(threshold) if isinstance(threshold, tuple) else threshold
    return "all", {k: (list(v) if isinstance(v, tuple) else v) for k, v in ops.items()}


class Evaluator:
    """Runs a policy's checks; construct, then call :meth:`run`."""

    def __init__(self, inputs: EvalInputs) -> None:
        self.inputs = inputs
        self.policy = inputs.policy
        self.con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": 2,
                                          "autoinstall_known_extensions": "false"})
        scan = _scan(inputs.data_path, inputs.data_format, inputs.data_dialect)
        self.con.execute(f"CREATE VIEW cur_file AS SELECT * FROM {scan}")
        self.columns = {r[0]: r[1] for r in self.con.execute("DESCRIBE cur_file").fetchall()}
        self.ref_columns: dict[str, str] = {}
        if inputs.reference_path is not None:
            scan = _scan(inputs.reference_path, inputs.reference_format or "csv", inputs.reference_dialect)
            self.con.execute(f"CREATE VIEW ref_file AS SELECT * FROM {scan}")
            self.ref_columns = {r[0]: r[1] for r in self.con.execute("DESCRIBE ref_file").fetchall()}
        if inputs.label not in self.columns:
            raise BadInput(f"label column {inputs.label!r} is not in the evaluation data (columns: "
                           f"{', '.join(self.columns)})")
        self.positive = _literal(self.policy.positive_label if inputs.positive_label is None
                                 else inputs.positive_label)
        self._prepare_predictions()
        self._types = {r[0]: r[1] for r in self.con.execute("DESCRIBE ev").fetchall()}
        self.rows = int(self.con.execute("SELECT count(*) FROM ev").fetchall()[0][0])
        self._importance: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------------- predictions
    def _prepare_predictions(self) -> None:
        i = self.inputs
        for column in (i.prediction_column, i.score_column):
            if column is not None and column not in self.columns:
                raise BadInput(f"column {column!r} is not in the evaluation data")
        if i.prediction_column or i.score_column:
            pred = _quote(i.prediction_column) if i.prediction_column else "NULL"
            score = f"CAST({_quote(i.score_column)} AS DOUBLE)" if i.score_column else "NULL"
            self.con.execute(f"CREATE VIEW ev AS SELECT *, {pred} AS {PRED}, {score} AS {SCORE} FROM cur_file")
            self.has_prediction, self.has_score = bool(i.prediction_column), bool(i.score_column)
            return
        if i.model is None:
            raise BadInput("an external model is evaluated from its predictions: pass --prediction-column and/or "
                           "--score-column")
        self._score_with_model()

    def _score_with_model(self) -> None:
        import pyarrow as pa

        model, features = self.inputs.model, self.inputs.feature_names
        missing = [f for f in features if f not in self.columns]
        if missing:
            raise BadInput(f"the evaluation data lacks the model's input column(s): {', '.join(missing)}")
        has_proba = hasattr(model, "predict_proba")
        classes = list(getattr(model, "classes_", []))
        positive_index = next((k for k, c in enumerate(classes) if _literal(c) == self.positive), len(classes) - 1)
        reader = self.con.sql("SELECT * FROM cur_file").to_arrow_reader(SCORING_BATCH)
        batches = []
        for batch in reader:
            frame = batch.to_pandas()
            x = frame[features] if features else frame
            try:
                if has_proba:
                    score = model.predict_proba(x)[:, positive_index]
                    pred = model.predict(x)
                else:
                    pred = model.predict(x)
                    score = None
            except Exception as exc:  # noqa: BLE001 - the model rejecting the data is the user's input problem
                raise BadInput(f"the model could not score the evaluation data: {exc}") from None
            arrays = {c: batch.column(c) for c in batch.schema.names}
            arrays[PRED] = pa.array(pred)
            arrays[SCORE] = pa.array(score if score is not None else [None] * len(frame), type=pa.float64())
            batches.append(pa.table(arrays))
        table = pa.concat_tables(batches) if batches else pa.table({})
        self.con.register("scored", table)
        self.con.execute("CREATE VIEW ev AS SELECT * FROM scored")
        self.has_prediction, self.has_score = True, has_proba

    def _threshold(self, threshold: float | None) -> float | None:
        """The decision threshold in force: the check's, else the policy's, else none (use the predictions)."""
        return threshold if threshold is not None else self.policy.decision_threshold

    def _positive_expr(self, threshold: float | None) -> str:
        """SQL for 'predicted positive': the score at the threshold in force, or the prediction itself."""
        t = self._threshold(threshold)
        if self.has_score and (t is not None or not self.has_prediction):
            return f"({SCORE} >= {float(0.5 if t is None else t)!r})"
        if not self.has_prediction:
            raise BadInput("no prediction or score is available for this check")
        return self._equals_positive(PRED)

    def _actual_expr(self) -> str:
        return self._equals_positive(_quote(self.inputs.label), self.inputs.label)

    def _equals_positive(self, column_sql: str, column: str | None = None) -> str:
        """``column = positive label``, numerically for numeric columns (so 1, 1.0 and '1' agree)."""
        kind = self._types.get(column or PRED, "VARCHAR").split("(")[0]
        try:
            number = float(self.positive)
        except ValueError:
            number = None
        if kind in NUMERIC and number is not None:
            return f"(CAST({column_sql} AS DOUBLE) = {number!r})"
        if kind == "BOOLEAN":
            truthy = self.positive.lower() in ("1", "true", "yes")
            return f"({column_sql} = {'true' if truthy else 'false'})"
        return f"(CAST({column_sql} AS VARCHAR) = '{self.positive.replace(chr(39), chr(39) * 2)}')"

    def _counts(self, group_by: list[str], threshold: float | None) -> list[tuple[tuple[Any, ...], m.Counts]]:
        y, p = self._actual_expr(), self._positive_expr(threshold)
        keys = ", ".join(_quote(g) for g in group_by)
        select = f"{keys}, " if keys else ""
        sql = (f"SELECT {select}count(*) FILTER (WHERE {y} AND {p}), count(*) FILTER (WHERE NOT {y} AND {p}), "
               f"count(*) FILTER (WHERE NOT {y} AND NOT {p}), count(*) FILTER (WHERE {y} AND NOT {p}) FROM ev "
               f"WHERE {_quote(self.inputs.label)} IS NOT NULL" + (f" GROUP BY {keys} ORDER BY {keys}" if keys else ""))
        out = []
        for row in self.con.execute(sql).fetchall():
            k = len(group_by)
            out.append((tuple(row[:k]), m.Counts(*[int(v) for v in row[k:]])))
        return out

    # ------------------------------------------------------------------------------------------- checks
    def _metric(self, check: MetricCheck) -> dict[str, Any]:
        name = check.metric
        label = _quote(self.inputs.label)
        details: dict[str, Any] = {}
        if name in ("rmse", "mae", "r2"):
            target = SCORE if self.has_score and not self.has_prediction else PRED
            y, yhat = f"CAST({label} AS DOUBLE)", f"CAST({target} AS DOUBLE)"
            n, sse, sae, mean_y, sst = self.con.execute(
                f"SELECT count(*), sum(({y} - {yhat}) ^ 2), sum(abs({y} - {yhat})), avg({y}), "
                f"sum(({y} - (SELECT avg({y}) FROM ev)) ^ 2) FROM ev WHERE {label} IS NOT NULL").fetchall()[0]
            value = {"rmse": math.sqrt(sse / n) if n else math.nan, "mae": sae / n if n else math.nan,
                     "r2": 1 - sse / sst if sst else math.nan}[name]
            details = {"n": int(n)}
        elif name in ("roc_auc", "average_precision", "log_loss", "brier"):
            if not self.has_score:
                raise BadInput(f"{name} needs scores: pass --score-column (or evaluate a model with predict_proba)")
            y = self._actual_expr()
            if name in ("roc_auc", "average_precision"):
                counts = self.con.execute(
                    f"SELECT count(*) FILTER (WHERE {y}) AS pos, count(*) FILTER (WHERE NOT {y}) AS neg FROM ev "
                    f"WHERE {SCORE} IS NOT NULL AND {label} IS NOT NULL GROUP BY {SCORE} ORDER BY {SCORE}"
                ).fetchnumpy()
                value = m.score_metrics_sorted(counts["pos"], counts["neg"])[name]
                details = {"n": int(counts["pos"].sum() + counts["neg"].sum()), "positives": int(counts["pos"].sum())}
            else:
                p = f"least(greatest({SCORE}, {m.EPS!r}), {1 - m.EPS!r})"
                expr = (f"-(CASE WHEN {y} THEN ln({p}) ELSE ln(1 - {p}) END)" if name == "log_loss"
                        else f"({SCORE} - CASE WHEN {y} THEN 1.0 ELSE 0.0 END) ^ 2")
                n, total = self.con.execute(
                    f"SELECT count(*), sum({expr}) FROM ev WHERE {SCORE} IS NOT NULL AND {label} IS NOT NULL"
                ).fetchall()[0]
                value = total / n if n else math.nan
                details = {"n": int(n)}
        else:
            ((_, counts),) = self._counts([], check.decision_threshold)
            value = m.rates(counts)[name]
            details = {"n": counts.n, "confusion": {"tp": counts.tp, "fp": counts.fp, "tn": counts.tn,
                                                    "fn": counts.fn}}
        if name in CLASSIFICATION_METRICS and name not in ("roc_auc", "average_precision", "log_loss", "brier"):
            t = self._threshold(check.decision_threshold)
            details["decision"] = (f"score >= {t}" if self.has_score and (t is not None or not self.has_prediction)
                                   else "the model's predictions")
        return self._result(check, name, value, check.operators(), details)

    def _fairness(self, check: FairnessCheck) -> dict[str, Any]:
        features = check.features
        missing = [f for f in features if f not in self.columns]
        if missing:
            raise BadInput(f"check {check.id}: sensitive feature(s) {', '.join(missing)} not in the evaluation data")
        rates_needed, _ = m.fairness_definition(check.fairness)
        groups: dict[str, dict[str, Any]] = {}
        included: dict[str, dict[str, float]] = {}
        for key, counts in self._counts(features, None):
            label = ", ".join("<missing>" if v is None else str(v) for v in key)
            rates = m.rates(counts)
            ok = counts.n >= check.min_group_size
            groups[label] = {"count": counts.n, "included": ok, **{r: rates[r] for r in rates},
                             "confusion": {"tp": counts.tp, "fp": counts.fp, "tn": counts.tn, "fn": counts.fn}}
            if ok:
                included[label] = rates
        details: dict[str, Any] = {"sensitive_features": features, "min_group_size": check.min_group_size,
                                   "rates": list(rates_needed), "groups": groups,
                                   "excluded_groups": sorted(g for g, v in groups.items() if not v["included"])}
        if len(included) < 2:
            details["reason"] = (f"insufficient data: {len(included)} group(s) with at least "
                                 f"{check.min_group_size} rows; at least two are needed")
            return self._result(check, check.fairness, None, check.operators(), details, force_fail=True)
        value = m.fairness_value(check.fairness, included)
        return self._result(check, check.fairness, value, check.operators(), details)

    def _drift_columns(self, check: DriftCheck | DataQualityCheck, need_reference: bool = True) -> list[str]:
        if check.columns != "all":
            pools = [self.columns] + ([self.ref_columns] if need_reference else [])
            for pool, where in zip(pools, ("evaluation data", "reference data"), strict=False):
                missing = [c for c in check.columns if c not in pool]
                if missing:
                    raise BadInput(f"check {check.id}: column(s) {', '.join(missing)} not in the {where}")
            return list(check.columns)
        excluded = {self.inputs.label, self.inputs.prediction_column, self.inputs.score_column, PRED, SCORE}
        base = self.inputs.feature_names or list(self.columns)
        return [c for c in base if c in self.columns and c not in excluded and (not need_reference or c in
                                                                                self.ref_columns)]

    def _column(self, name: str) -> driftlib.ColumnData:
        q = _quote(name)
        numeric = (self.columns[name].split("(")[0] in NUMERIC and
                   self.ref_columns.get(name, "").split("(")[0] in NUMERIC)
        if numeric:
            ref = self.con.execute(f"SELECT CAST({q} AS DOUBLE) AS v FROM ref_file WHERE {q} IS NOT NULL").fetchnumpy()
            cur = self.con.execute(f"SELECT CAST({q} AS DOUBLE) AS v FROM ev WHERE {q} IS NOT NULL").fetchnumpy()
            return driftlib.ColumnData(name, True, np.asarray(ref["v"], dtype=float), np.asarray(cur["v"], dtype=float))
        counts = []
        for source in ("ref_file", "ev"):
            rows = self.con.execute(f"SELECT CAST({q} AS VARCHAR), count(*) FROM {source} WHERE {q} IS NOT NULL "
                                    f"GROUP BY 1").fetchall()
            counts.append({str(k): int(v) for k, v in rows})
        return driftlib.ColumnData(name, False, ref_counts=counts[0], cur_counts=counts[1])

    def _drift(self, check: DriftCheck) -> dict[str, Any]:
        if not self.ref_columns:
            raise BadInput(f"check {check.id}: drift needs reference data (the model's training data, or --reference)")
        columns = self._drift_columns(check)
        per_column: dict[str, Any] = {}
        for name in columns:
            data = self._column(name)
            if data.ref_size == 0 or (data.current.size if data.numeric else sum(data.cur_counts.values())) == 0:
                per_column[name] = {"method": None, "drifted": False, "reason": "no non-null values"}
                continue
            if check.drift == "auto":
                method, threshold = driftlib.resolve_auto(data)
                ops = {"gte": threshold} if method in (*P_VALUE_METHODS, "z") else {"lt": threshold}
            else:
                method = check.drift
                if not data.numeric and method in _CATEGORICAL_STANDIN:
                    method = _CATEGORICAL_STANDIN[method]  # ks/wasserstein need numbers: use the categorical analogue
                default = DEFAULT_DRIFT_THRESHOLDS.get(method, 0.05)
                fallback = {"gte": default} if method in P_VALUE_METHODS else {"lte": default}
                ops = check.operators() if (check.operators() and method == check.drift) else fallback
            stat = driftlib.statistic(data, method, check.bins)
            compared = stat["p_value"] if method in (*P_VALUE_METHODS, "z") else stat["statistic"]
            ok = compare(compared, ops)
            op, threshold = _op_fields(ops)
            per_column[name] = {"method": method, **{k: m.finite(v) for k, v in stat.items()},
                                "compared": "p_value" if "p_value" in stat else "statistic",
                                "operator": op, "threshold": threshold, "drifted": not ok,
                                "type": "numeric" if data.numeric else "categorical"}
        tested = [c for c in per_column.values() if c["method"] is not None]
        share = sum(c["drifted"] for c in tested) / len(tested) if tested else 0.0
        details = {"columns": per_column, "drifted_columns": sorted(k for k, v in per_column.items() if v["drifted"]),
                   "max_drifted_share": check.max_drifted_share, "reference_rows": None}
        result = self._result(check, f"drift:{check.drift}", share, {"lte": check.max_drifted_share}, details)
        result["metric"] = f"drifted_share ({check.drift})"
        return result

    def _explain(self, check: ExplainCheck) -> dict[str, Any]:
        model = self.inputs.model
        if model is None:
            details = {"reason": "an external model has no artifact to explain"}
            return self._result(check, "shap_top_features", None, {}, details, force_fail=True)
        if self._importance is None or self._importance["sample_size"] < min(check.sample_size, self.rows):
            from core.explain import importance

            features = self.inputs.feature_names or [c for c in self.columns if c != self.inputs.label]
            cols = ", ".join(_quote(f) for f in features)
            n = min(self.rows, max(check.sample_size, 200) * 2)
            frame = self.con.execute(f"SELECT {cols} FROM cur_file USING SAMPLE reservoir({n} ROWS) REPEATABLE (7)"
                                     ).fetchdf()
            try:
                self._importance = importance(model, frame, check.sample_size)
            except Exception as exc:  # noqa: BLE001 - report, do not crash, when a model cannot be explained
                return self._result(check, "shap_top_features", None, {}, {"reason": f"SHAP failed: {exc}"},
                                    force_fail=True)
        ranked = list(self._importance["importance"])
        top = ranked[: check.top_k]
        violations = [f for f in check.must_not_include if f in top]
        details = {"top_features": top, "must_not_include": check.must_not_include, "violations": violations,
                   **self._importance}
        result = self._result(check, "shap_top_features", len(violations), {"eq": 0}, details)
        result["operator"], result["threshold"] = "must_not_include", check.must_not_include
        return result

    def _documentation(self, check: DocumentationCheck) -> dict[str, Any]:
        card = self.inputs.card or {}
        missing = [s for s in check.required if not present(card.get(s))]
        details = {"required": check.required, "missing": missing, "card_present": bool(card)}
        result = self._result(check, "model_card", len(missing), {"eq": 0}, details)
        result["operator"], result["threshold"] = "requires", check.required
        return result

    def _data_quality(self, check: DataQualityCheck) -> dict[str, Any]:
        if check.data_quality == "missing_rate":
            columns = self._drift_columns(check, need_reference=False)
            parts = ", ".join(f"count(*) - count({_quote(c)})" for c in columns)
            values = self.con.execute(f"SELECT count(*), {parts} FROM cur_file").fetchall()[0] if columns else [0]
            total = values[0] or 1
            rates = {c: int(v) / total for c, v in zip(columns, values[1:], strict=True)}
            ops = check.operators()
            failing = sorted(c for c, r in rates.items() if not compare(r, ops))
            worst = max(rates.values()) if rates else 0.0
            details = {"missing_rate": rates, "failing_columns": failing}
            result = self._result(check, "missing_rate", worst, ops, details, force_fail=bool(failing))
            return result
        expected = {c["name"]: c["type"] for c in (self.inputs.training_schema or [])}
        missing = sorted(c for c in expected if c not in self.columns)
        mismatched = sorted(c for c in expected if c in self.columns and self.columns[c] != expected[c])
        details = {"missing_columns": missing, "type_mismatches": {c: {"expected": expected[c],
                                                                       "actual": self.columns[c]} for c in mismatched}}
        result = self._result(check, "schema_match", len(missing) + len(mismatched), {"eq": 0}, details)
        return result

    def _result(self, check: Any, metric: str, value: Any, ops: dict[str, Any],  # noqa: ANN401
                details: dict[str, Any], force_fail: bool = False) -> dict[str, Any]:
        op, threshold = _op_fields(ops)
        passed = (not force_fail) and compare(value, ops) if ops else not force_fail
        return {"id": check.id, "kind": kind_of(check), "metric": metric, "value": m.finite(value),
                "operator": op, "threshold": threshold, "severity": check.severity, "passed": bool(passed),
                "details": details, "references": list(check.references)}

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        handlers = {MetricCheck: self._metric, FairnessCheck: self._fairness, DriftCheck: self._drift,
                    ExplainCheck: self._explain, DocumentationCheck: self._documentation,
                    DataQualityCheck: self._data_quality}
        checks = []
        for check in self.policy.checks:
            t0 = time.perf_counter()
            result = handlers[type(check)](check)
            result["seconds"] = round(time.perf_counter() - t0, 4)
            checks.append(result)
        for c in checks:
            if c["kind"] == "drift":
                c["details"]["reference_rows"] = int(self.con.execute("SELECT count(*) FROM ref_file").fetchall()[0][0])
        blocking = [c["id"] for c in checks if c["severity"] == "block" and not c["passed"]]
        warnings = [c["id"] for c in checks if c["severity"] == "warn" and not c["passed"]]
        self.con.close()
        return {"rows": self.rows, "checks": checks, "passed": not blocking, "failed_block_checks": blocking,
                "failed_warn_checks": warnings, "seconds": round(time.perf_counter() - started, 3)}
