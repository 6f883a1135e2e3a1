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

from core.catalog.datasets import CsvDialect, _quote, _scan
from core.catalog.documents import present
from core.errors import BadInput
from core.evaluation import drift as driftlib, labels, metrics as m
from core.policy.rules import (
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
#: Most (label, prediction, group) combinations a classification scan may return before it is refused.
MAX_TABLE_ROWS = 100_000
#: The prediction class "anything but the positive class" when a score threshold decides.
_REST = "<not the positive class>"


class _Failed(Exception):  # noqa: N818 - control flow: the check fails with a reason
    def __init__(self, reason: str, details: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason, self.details = reason, details


def _classes(counts: dict[Any, int]) -> dict[str, int]:
    """Class counts for the stored result (JSON keys), most frequent first."""
    return {str(k): n for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _keys(matrix: dict[tuple[Any, Any], int]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for (y, p), n in matrix.items():
        out[y] = out.get(y, 0) + n
        if p is not _REST:
            out[p] = out.get(p, 0) + n
    return out


def _sql_literal(value: Any) -> str:  # noqa: ANN401
    if isinstance(value, float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


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
                                          "autoinstall_known_extensions": "false",
                                          # Parquet min/max statistics leave NaN out; without this DuckDB folds
                                          # isnan() to false on such files (duckdb/duckdb#25521)
                                          "parquet_can_have_nan": True})
        self.columns = self._open("cur_file", inputs.data_path, inputs.data_format, inputs.data_dialect)
        self._markers = inputs.data_format == "csv"
        self._ref_markers = (inputs.reference_format or "csv") == "csv"
        reserved = [c for c in self.columns if c.lower() in (PRED.lower(), SCORE.lower())]
        if reserved:
            raise BadInput(f"the evaluation data has a column named {reserved[0]!r}, a name Countersign reserves for "
                           "the predictions and scores it evaluates; rename the column")
        self.ref_columns: dict[str, str] = {}
        if inputs.reference_path is not None:
            self.ref_columns = self._open("ref_file", inputs.reference_path, inputs.reference_format or "csv",
                                          inputs.reference_dialect)
        if inputs.label not in self.columns:
            raise BadInput(f"label column {inputs.label!r} is not in the evaluation data (columns: "
                           f"{', '.join(self.columns)})")
        self.declared_positive = (inputs.positive_label if inputs.positive_label is not None
                                  else self.policy.positive_label)
        self.score_unavailable: str | None = None
        self.score_positive: Any = None
        self._tables: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self._prepare_predictions()
        self._types = {r[0]: r[1] for r in self.con.execute("DESCRIBE ev").fetchall()}
        self.rows = int(self.con.execute("SELECT count(*) FROM ev").fetchall()[0][0])
        if self.rows == 0:
            raise BadInput("the evaluation data has no rows: nothing can be measured")
        # In a CSV file, a text label or prediction column whose every present value is a number (numbers with a few
        # blanks or markers, which the CSV reader types as text) is read as numbers, as pandas would. (Parquet columns
        # have declared types: text stays text.)
        self._numeric_text: set[str] = set()
        csv_columns = (self.inputs.label, self.inputs.prediction_column) if inputs.data_format == "csv" else ()
        for column in csv_columns:
            column = PRED if column is not None and column == self.inputs.prediction_column else column
            if column is not None and labels.column_kind(self._types[column]).kind == "text":
                q = column if column == PRED else _quote(column)
                code = self._miss(q, self._types[column])
                present, numbers = self.con.execute(
                    f"SELECT count(*) FILTER (WHERE {code} = 0), count(*) FILTER (WHERE {code} = 0 AND "
                    f"{labels.is_number_sql(q)}) FROM ev").fetchall()[0]
                if present and present == numbers:
                    self._numeric_text.add(column)
        self._importance: dict[str, Any] | None = None

    def _open(self, view: str, path: Path, fmt: str, dialect: CsvDialect | None) -> dict[str, str]:
        """A view of a data file, and its column types. In a CSV file, a column the reader types BOOLEAN but that is
        spelled other than true/false (yes/no, Y/N, t/f — pandas keeps those as text) is read as the text itself."""
        scan = _scan(path, fmt, dialect)
        self.con.execute(f"CREATE VIEW {view} AS SELECT * FROM {scan}")
        columns = {r[0]: r[1] for r in self.con.execute(f"DESCRIBE {view}").fetchall()}
        booleans = [c for c, t in columns.items() if t.upper() == "BOOLEAN"]
        if fmt != "csv" or not booleans:
            return columns
        raw = scan[:-1] + ", all_varchar = true)"
        spellings = ", ".join(f"list(DISTINCT lower(trim({_quote(c)})))" for c in booleans)
        found = self.con.execute(f"SELECT {spellings} FROM {raw}").fetchall()[0]
        text = [c for c, seen in zip(booleans, found, strict=True)
                if {v for v in (seen or []) if v} - {"true", "false"}]
        if text:
            types = ", ".join(f"{_sql_literal(c)}: 'VARCHAR'" for c in text)
            self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {scan[:-1]}, types = {{{types}}})")
            columns = {r[0]: r[1] for r in self.con.execute(f"DESCRIBE {view}").fetchall()}
        return columns

    def _miss(self, column_sql: str, duckdb_type: str, reference: bool = False) -> str:
        """:func:`labels.missing_code_sql` with pandas' markers only for CSV data."""
        return labels.missing_code_sql(column_sql, duckdb_type, self._ref_markers if reference else self._markers)

    # ------------------------------------------------------------------------------------------- predictions
    def _prepare_predictions(self) -> None:
        i = self.inputs
        for column in (i.prediction_column, i.score_column):
            if column is not None and column not in self.columns:
                raise BadInput(f"column {column!r} is not in the evaluation data")
        if i.prediction_column or i.score_column:
            pred = _quote(i.prediction_column) if i.prediction_column else "NULL"
            score = "NULL"
            if i.score_column:
                score = f"CAST({_quote(i.score_column)} AS DOUBLE)"
                if labels.column_kind(self.columns[i.score_column]).kind != "numeric":
                    score = self._text_scores(i.score_column)
            self.con.execute(f"CREATE VIEW ev AS SELECT *, {pred} AS {PRED}, {score} AS {SCORE} FROM cur_file")
            self.has_prediction, self.has_score = bool(i.prediction_column), bool(i.score_column)
            return
        if i.model is None:
            raise BadInput("an external model is evaluated from its predictions: pass --prediction-column and/or "
                           "--score-column")
        self._score_with_model()

    def _text_scores(self, column: str) -> str:
        """SQL reading a score column typed as text: refused unless every present value is a number."""
        q = _quote(column)
        code = self._miss(q, self.columns[column])
        bad = self.con.execute(f"SELECT CAST({q} AS VARCHAR), count(*) FROM cur_file WHERE {code} = 0 AND "
                               f"NOT {labels.is_number_sql(q)} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5").fetchall()
        if bad:
            raise BadInput(f"score column {column!r} is {self.columns[column]}, and not every value is a number "
                           f"({labels.describe_counts(dict(bad), limit=5)}); scores must be numbers")
        return f"(CASE WHEN {code} = 0 THEN TRY_CAST({q} AS DOUBLE) WHEN {code} = 2 THEN 'nan'::DOUBLE " \
               f"WHEN {code} = 3 THEN 'inf'::DOUBLE END)"

    def _score_with_model(self) -> None:
        import pyarrow as pa

        model, features = self.inputs.model, self.inputs.feature_names
        if not features:
            raise BadInput("the model has no input column names (it was fitted on arrays, without feature_names_in_): "
                           "register it again with --feature NAME for each input, in training order — columns are "
                           "never guessed (the label could end up among the inputs)")
        missing = [f for f in features if f not in self.columns]
        if missing:
            raise BadInput(f"the evaluation data lacks the model's input column(s): {', '.join(missing)}")
        has_proba = hasattr(model, "predict_proba")
        classes = [labels.display(c.item() if hasattr(c, "item") else c) for c in getattr(model, "classes_", [])]
        positive_index = None
        if has_proba and classes:
            numeric = all(isinstance(c, int | float) for c in classes)
            keyed = {(float(c) if numeric else str(c)): 1 for c in classes}
            if len(classes) > 2 and self.declared_positive is None:
                self.score_unavailable = (f"the model has {len(classes)} classes ({classes}): its scores serve binary "
                                          "checks only with a declared positive_label (one-vs-rest)")
            try:
                positive = labels.resolve_positive(self.declared_positive, keyed, numeric, what="the model's scores",
                                                   where=f"the model (classes_ {classes})")
                positive_index = list(keyed).index(positive.key)
                self.score_positive = positive.key
            except ValueError as exc:
                self.score_unavailable = self.score_unavailable or str(exc)
        elif has_proba:
            self.score_unavailable = "the model has predict_proba but no classes_: its scores cannot be attributed"
        reader = self.con.sql("SELECT * FROM cur_file").to_arrow_reader(SCORING_BATCH)
        batches = []
        for batch in reader:
            frame = batch.to_pandas()
            x = frame[features] if features else frame
            try:
                if positive_index is not None:
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
        self.has_prediction, self.has_score = True, positive_index is not None

    # ------------------------------------------------------------------------------------------- the label domain
    def _threshold(self, threshold: float | None) -> float | None:
        """The decision threshold in force: the check's, else the policy's, else none (use the predictions)."""
        return threshold if threshold is not None else self.policy.decision_threshold

    def _decision(self, threshold: float | None) -> tuple[str, float | None]:
        """``("threshold", t)`` when scores decide the predicted class, else ``("prediction", None)``."""
        t = self._threshold(threshold)
        if self.has_score and (t is not None or not self.has_prediction):
            return "threshold", float(0.5 if t is None else t)
        if t is not None:
            raise BadInput(f"decision_threshold {t} says 'score >= {t} predicts the positive class', but there are no "
                           "scores: " + (self.score_unavailable or "pass --score-column, or remove decision_threshold "
                                                                   "to use the predictions"))
        if not self.has_prediction:
            raise BadInput(self.score_unavailable or "no prediction or score is available for this check")
        return "prediction", None

    def _kind(self, column: str) -> str:
        """``numeric`` (numbers, booleans, numbers typed as text), ``text`` or ``other``."""
        if column in self._numeric_text:
            return "numeric"
        kind = labels.column_kind(self._types[column]).kind
        return "numeric" if kind == "boolean" else kind

    def _key(self, column_sql: str, column: str) -> str:
        """SQL for a column's class key (numbers-as-text read as numbers)."""
        if column in self._numeric_text:
            return f"TRY_CAST({column_sql} AS DOUBLE)"
        return labels.class_key_sql(column_sql, self._types[column])

    def _column_names(self) -> dict[str, str]:
        i = self.inputs
        return {"label": f"label column {i.label!r}",
                "prediction": (f"prediction column {i.prediction_column!r}" if i.prediction_column
                               else "the model's predictions"),
                "score": f"score column {i.score_column!r}" if i.score_column else "the model's scores"}

    def _thresholds_in_use(self) -> list[float]:
        found = set()
        for check in self.policy.checks:
            if isinstance(check, MetricCheck | FairnessCheck) and self.has_score:
                t = self._threshold(getattr(check, "decision_threshold", None))
                if t is not None or not self.has_prediction:
                    found.add(float(0.5 if t is None else t))
        return sorted(found)

    def _table(self, groups: list[str]) -> list[dict[str, Any]]:
        """One scan: rows per (label class, prediction class, missing codes, groups), with score counts.

        Each row has ``y``/``p`` (class keys, ``None`` when missing), ``ym``/``pm``/``sm`` (missing codes of label,
        prediction and score), ``sout`` (scores outside [0, 1]), ``g`` (group values), ``gm`` (their missing codes),
        ``n`` and ``ge`` (rows whose score is at least each threshold of :meth:`_thresholds_in_use`).
        """
        key = tuple(groups)
        if key in self._tables:
            return self._tables[key]
        self._exact_classes()
        names = self._column_names()
        for column, what in ((self.inputs.label, names["label"]), (PRED if self.has_prediction else None,
                                                                    names["prediction"]),
                             *((g, f"sensitive feature {g!r}") for g in groups)):
            if column is not None and labels.column_kind(self._types[column]).kind == "other" and (
                    column in (self.inputs.label, PRED) or any(t in self._types[column].upper()
                                                               for t in ("[]", "STRUCT", "MAP", "UNION", "LIST"))):
                raise BadInput(f"{what} is {self._types[column]}: dates, lists and structures are not class labels "
                               "(scikit-learn refuses them as an 'unknown' target); map them to class codes")
        label = _quote(self.inputs.label)
        ltype = self._types[self.inputs.label]
        ym = self._miss(label, ltype)
        parts = [f"CASE WHEN {ym} = 0 THEN {self._key(label, self.inputs.label)} END", ym]
        if self.has_prediction:
            pm = self._miss(PRED, self._types[PRED])
            parts += [f"CASE WHEN {pm} = 0 THEN {self._key(PRED, PRED)} END", pm]
        else:
            parts += ["NULL", "1"]
        thresholds = self._thresholds_in_use()
        if self.has_score:
            sm = self._miss(SCORE, "DOUBLE")
            clean = f"(CASE WHEN {sm} = 0 THEN {SCORE} END)"
            parts += [sm, f"coalesce({clean} < 0 OR {clean} > 1, false)"]
        else:
            parts += ["1", "false"]
        for g in groups:
            q = _quote(g)
            gm = self._miss(q, self._types[g])
            parts += [f"CASE WHEN {gm} = 0 THEN {q} END", gm]
        keys = ", ".join(parts)
        counts = ", ".join(["count(*)"] + [f"count(*) FILTER (WHERE {clean} >= {t!r})" for t in thresholds]
                           if self.has_score else ["count(*)"])
        cursor = self.con.execute(f"SELECT {keys}, {counts} FROM ev GROUP BY ALL")
        fetched = cursor.fetchmany(MAX_TABLE_ROWS + 1)
        if len(fetched) > MAX_TABLE_ROWS:
            raise BadInput(f"{self._column_names()['label']} and the predictions take more than {MAX_TABLE_ROWS:,} "
                           "distinct combinations: classification checks need class labels (is this a regression "
                           "target? use rmse, mae or r2)")
        rows = []
        k = len(groups)
        for r in fetched:
            g = r[6:6 + 2 * k]
            rows.append({"y": labels.display(r[0]), "ym": int(r[1]), "p": labels.display(r[2]), "pm": int(r[3]),
                         "sm": int(r[4]), "sout": bool(r[5]), "g": tuple(g[0::2]), "gm": tuple(int(v) for v in g[1::2]),
                         "n": int(r[6 + 2 * k]), "ge": {t: int(v) for t, v in zip(thresholds, r[7 + 2 * k:],
                                                                                    strict=True)}})
        self._tables[key] = rows
        return rows

    def _exact_classes(self) -> None:
        """Refuse label or prediction values that a class key (a 64-bit float) could not tell apart exactly: integers
        beyond 2**53 and decimals with more digits than a double holds would otherwise compare as equal."""
        if getattr(self, "_exactness_checked", False):
            return
        self._exactness_checked = True
        names = self._column_names()
        for column, role in ((self.inputs.label, "label"), (PRED if self.has_prediction else None, "prediction")):
            if column is None:
                continue
            base = self._types[column].split("(")[0].upper()
            if base not in ("BIGINT", "HUGEINT", "UBIGINT", "UHUGEINT", "DECIMAL"):
                continue
            q = column if column == PRED else _quote(column)
            inexact = int(self.con.execute(
                f"SELECT count(*) FILTER (WHERE {q} IS NOT NULL AND TRY_CAST(CAST({q} AS DOUBLE) AS "
                f"{self._types[column]}) IS DISTINCT FROM {q}) FROM ev").fetchall()[0][0])
            if inexact:
                raise BadInput(f"{names[role]} has {inexact} value(s) ({self._sample_values(q)}) that cannot be "
                               "compared exactly as class labels (integers beyond 2**53 or decimals with more than 15 "
                               "significant digits); map them to shorter codes")

    def _discrete(self, check: Any, classes: dict[Any, int], what: str) -> None:  # noqa: ANN401
        """Refuse non-integer numbers as class labels: scikit-learn calls such a target 'continuous'."""
        odd = {k: n for k, n in classes.items() if isinstance(k, float) and not k.is_integer()}
        if odd:
            raise BadInput(f"check {check.id}: {what} holds numbers that are not whole "
                           f"({labels.describe_counts(odd)}): a continuous target has no classes (scikit-learn refuses "
                           "it for classification metrics); use rmse, mae or r2, or map the values to class codes")

    def _usable(self, check: Any, rows: list[dict[str, Any]], needs: tuple[str, ...],  # noqa: ANN401
                groups: list[str] = ()) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The rows a check can use, and what was excluded; missing values are refused unless ``missing: drop``."""
        names = self._column_names()
        excluded: dict[str, dict[str, int]] = {}
        usable = []
        total = 0
        for r in rows:
            total += r["n"]
            bad = [(names[role], r[code]) for role, code in (("label", "ym"), ("prediction", "pm"), ("score", "sm"))
                   if role in needs and r[code]]
            bad += [(f"sensitive feature {g!r}", code) for g, code in zip(groups, r.get("gm", ()), strict=True)
                    if code]
            if not bad:
                usable.append(r)
                continue
            for column, code in bad:
                kinds = excluded.setdefault(column, {})
                kinds[labels.MISSING_KINDS[code]] = kinds.get(labels.MISSING_KINDS[code], 0) + r["n"]
        dropped = sum(r["n"] for r in rows) - sum(r["n"] for r in usable)
        if excluded and getattr(check, "missing", "refuse") == "refuse":
            listed = "; ".join(f"{column} has " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
                               for column, kinds in excluded.items())
            raise BadInput(f"check {check.id}: {listed} (of {total} rows); scikit-learn refuses missing and "
                           f"non-finite input. Fix the data, or set 'missing: drop' on the check to exclude those "
                           f"rows and count them in the result")
        info = {"rows": total, "used": total - dropped, "dropped": dropped,
                "dropped_because": {c: dict(sorted(k.items())) for c, k in excluded.items()}}
        if total and not info["used"] and isinstance(check, MetricCheck):
            raise _Failed(f"no rows left to measure: all {total} were dropped for missing or non-finite values",
                          {"data": info})
        return usable, info

    def _kinds_agree(self, check: Any) -> None:  # noqa: ANN401
        """Refuse labels and predictions of different kinds (text vs numbers), as scikit-learn does."""
        if not self.has_prediction:
            return
        a, b = self._kind(self.inputs.label), self._kind(PRED)
        if a != b or a == "other":
            names = self._column_names()
            y = self._sample_values(_quote(self.inputs.label))
            p = self._sample_values(PRED)
            hint = (" (dates, lists and structures are not class labels)" if "other" in (a, b) else "")
            raise BadInput(f"check {check.id}: {names['label']} holds {a} values ({y}) but {names['prediction']} "
                           f"hold {b} values ({p}){hint}; scikit-learn refuses a mix of label input types")

    def _sample_values(self, column_sql: str) -> str:
        rows = self.con.execute(f"SELECT {column_sql}, count(*) FROM ev WHERE {column_sql} IS NOT NULL GROUP BY 1 "
                                f"ORDER BY 2 DESC, 1 LIMIT 5").fetchall()
        return labels.describe_counts({labels.display(v): int(n) for v, n in rows}, limit=5)

    def _positive(self, check: Any, classes: dict[Any, int], where: str,  # noqa: ANN401
                  seen: str | None = None) -> labels.PositiveClass:
        numeric = all(isinstance(c, int | float) for c in classes) if classes else (
            self._kind(self.inputs.label) == "numeric")
        try:
            return labels.resolve_positive(self.declared_positive, classes, numeric, what=f"check {check.id}",
                                           where=where, seen=seen)
        except ValueError as exc:
            raise BadInput(str(exc)) from None

    def _confusion(self, check: Any, rows: list[dict[str, Any]], decision: tuple[str, float | None],  # noqa: ANN401
                   need_positive: bool) -> tuple[dict[tuple[Any, Any], int], labels.PositiveClass | None,
                                                 dict[str, Any]]:
        """The ``{(label, prediction): rows}`` matrix of usable rows, the positive class if needed, and a summary."""
        mode, t = decision
        names = self._column_names()
        label_classes: dict[Any, int] = {}
        for r in rows:
            label_classes[r["y"]] = label_classes.get(r["y"], 0) + r["n"]
        info: dict[str, Any] = {"label_classes": _classes(label_classes)}
        self._discrete(check, label_classes, names["label"])
        if mode == "prediction":
            self._kinds_agree(check)
            pred_classes: dict[Any, int] = {}
            for r in rows:
                pred_classes[r["p"]] = pred_classes.get(r["p"], 0) + r["n"]
            self._discrete(check, pred_classes, names["prediction"])
            info["prediction_classes"] = _classes(pred_classes)
            union = labels.union_counts(label_classes.items(), pred_classes.items())
            seen = (f"{names['label']}: {labels.describe_counts(label_classes)}; {names['prediction']}: "
                    f"{labels.describe_counts(pred_classes)}")
            positive = (self._positive(check, union, f"{names['label']} and {names['prediction']}", seen)
                        if need_positive else None)
            matrix: dict[tuple[Any, Any], int] = {}
            for r in rows:
                matrix[(r["y"], r["p"])] = matrix.get((r["y"], r["p"]), 0) + r["n"]
            info["decision"] = "the model's predictions" if not self.inputs.prediction_column else (
                f"the predictions in column {self.inputs.prediction_column!r}")
        else:
            positive = self._positive(check, label_classes, names["label"],
                                      f"{names['label']}: {labels.describe_counts(label_classes)}")
            matrix = {}
            for r in rows:
                hit = r["ge"][t]
                for p, n in ((positive.key, hit), (_REST, r["n"] - hit)):
                    if n:
                        matrix[(r["y"], p)] = matrix.get((r["y"], p), 0) + n
            info["decision"] = f"score >= {t}"
        classes = {y for y, _ in matrix} | {p for _, p in matrix if p is not _REST}
        info["task"] = "binary" if len(classes | ({positive.key} if positive else set())) <= 2 else "multiclass"
        if positive is not None:
            info["positive_class"] = positive.shown
            info["positive_class_declared"] = positive.declared
            if info["task"] == "multiclass" or mode == "threshold":
                info["one_vs_rest"] = info["task"] == "multiclass"
        return matrix, positive, info

    # ------------------------------------------------------------------------------------------- checks
    def _metric(self, check: MetricCheck) -> dict[str, Any]:
        name = check.metric
        try:
            if name in ("rmse", "mae", "r2"):
                value, details = self._regression(check)
            elif name in ("roc_auc", "average_precision", "log_loss", "brier"):
                value, details = self._score_metric(check)
            else:
                value, details = self._confusion_metric(check)
        except _Failed as failed:
            failed.details["reason"] = failed.reason
            return self._result(check, name, None, check.operators(), failed.details, force_fail=True)
        return self._result(check, name, value, check.operators(), details)

    def _confusion_metric(self, check: MetricCheck) -> tuple[float, dict[str, Any]]:
        name = check.metric
        decision = self._decision(check.decision_threshold)
        needs = ("label", "prediction" if decision[0] == "prediction" else "score")
        rows, data = self._usable(check, self._table([]), needs)
        binary_named = name in ("precision", "recall", "f1") and check.average in (None, "binary")
        matrix, positive, info = self._confusion(check, rows, decision, need_positive=binary_named)
        data.update(info)
        details: dict[str, Any] = {"data": data, "decision": info["decision"]}
        try:
            if positive is not None:
                counts = m.binary_counts(matrix, positive.key)
                details["confusion"] = {"tp": counts.tp, "fp": counts.fp, "tn": counts.tn, "fn": counts.fn}
                details["n"] = counts.n
                if name in ("accuracy", "balanced_accuracy") and data["task"] == "multiclass":
                    data["one_vs_rest"] = True
                value = m.defined_rate(counts, name)
            else:
                if name in ("precision", "recall", "f1"):
                    data["average"] = check.average
                details["n"] = sum(matrix.values())
                if data["task"] == "binary":
                    try:
                        counts = m.binary_counts(matrix, self._positive(check, _keys(matrix), "").key)
                        details["confusion"] = {"tp": counts.tp, "fp": counts.fp, "tn": counts.tn, "fn": counts.fn}
                    except BadInput:
                        pass  # class-symmetric metric on labels without a positive class: the matrix says it all
                value = m.multiclass_metric(name, matrix, check.average)
            details["confusion_matrix"] = [{"label": y, "prediction": p, "rows": n} for (y, p), n in
                                           sorted(matrix.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))]
        except m.Undefined as exc:
            raise _Failed(str(exc), details) from None
        return value, details

    def _score_metric(self, check: MetricCheck) -> tuple[float, dict[str, Any]]:
        name = check.metric
        if not self.has_score:
            raise BadInput(self.score_unavailable or f"check {check.id}: {name} needs scores: pass --score-column (or "
                           "evaluate a model with predict_proba)")
        rows, data = self._usable(check, self._table([]), ("label", "score"))
        label_classes: dict[Any, int] = {}
        for r in rows:
            label_classes[r["y"]] = label_classes.get(r["y"], 0) + r["n"]
        names = self._column_names()
        self._discrete(check, label_classes, names["label"])
        positive = self._positive(check, label_classes, names["label"],
                                  f"{names['label']}: {labels.describe_counts(label_classes)}")
        data.update({"label_classes": _classes(label_classes), "positive_class": positive.shown,
                     "positive_class_declared": positive.declared,
                     "task": "binary" if len(label_classes | {positive.key: 0}) <= 2 else "multiclass"})
        if data["task"] == "multiclass":
            data["one_vs_rest"] = True
        if self.score_positive is not None and self.score_positive != positive.key:
            raise BadInput(f"check {check.id}: the model's scores are for class {labels.display(self.score_positive)!r}"
                           f" but the positive class is {positive.shown!r}")
        details: dict[str, Any] = {"data": data}
        label = _quote(self.inputs.label)
        ltype = self._types[self.inputs.label]
        is_pos = f"({self._key(label, self.inputs.label)} = {_sql_literal(positive.key)})"
        usable = (f"{self._miss(label, ltype)} = 0 AND "
                  f"{self._miss(SCORE, 'DOUBLE')} = 0")
        if name in ("roc_auc", "average_precision"):
            counts = self.con.execute(
                f"SELECT count(*) FILTER (WHERE {is_pos}) AS pos, count(*) FILTER (WHERE NOT {is_pos}) AS neg "
                f"FROM ev WHERE {usable} GROUP BY {SCORE} ORDER BY {SCORE}").fetchnumpy()
            positives, total = int(counts["pos"].sum()), int(counts["pos"].sum() + counts["neg"].sum())
            details.update({"n": total, "positives": positives})
            if not positives or (name == "roc_auc" and positives == total):
                why = "no actual positives" if not positives else "no actual negatives"
                raise _Failed(f"{name} is undefined: {why} (scikit-learn refuses one class in y_true)", details)
            if name == "roc_auc":
                details["roc_curve"] = m.roc_curve_points(counts["pos"], counts["neg"])
            return m.score_metrics_sorted(counts["pos"], counts["neg"])[name], details
        outside = sum(r["n"] for r in rows if r["sout"])
        if outside:
            sample = self.con.execute(f"SELECT {SCORE} FROM ev WHERE {usable} AND ({SCORE} < 0 OR {SCORE} > 1) "
                                      f"LIMIT 5").fetchall()
            raise BadInput(f"check {check.id}: {name} needs probabilities, but {names['score']} has {outside} "
                           f"value(s) outside [0, 1] (e.g. {', '.join(repr(v) for (v,) in sample)})")
        p = f"least(greatest({SCORE}, {m.EPS!r}), {1 - m.EPS!r})"
        expr = (f"-(CASE WHEN {is_pos} THEN ln({p}) ELSE ln(1 - {p}) END)" if name == "log_loss"
                else f"({SCORE} - CASE WHEN {is_pos} THEN 1.0 ELSE 0.0 END) ^ 2")
        n, total = self.con.execute(f"SELECT count(*), sum({expr}) FROM ev WHERE {usable}").fetchall()[0]
        details["n"] = int(n)
        if not n:
            raise _Failed(f"{name} is undefined: no rows", details)
        return total / n, details

    def _regression(self, check: MetricCheck) -> tuple[float, dict[str, Any]]:
        name = check.metric
        names = self._column_names()
        use_score = self.has_score and not self.has_prediction
        if not (self.has_prediction or self.has_score):
            raise BadInput(self.score_unavailable or "no prediction or score is available for this check")
        target = SCORE if use_score else PRED
        role = "score" if use_score else "prediction"
        for column, sql, what in ((self.inputs.label, _quote(self.inputs.label), names["label"]),
                                  (target, target, names[role])):
            if self._kind(column) != "numeric":
                raise BadInput(f"check {check.id}: {name} needs numbers, but {what} is {self._types[column]} "
                               f"({self._sample_values(sql)})")
        label = _quote(self.inputs.label)
        ym = self._miss(label, self._types[self.inputs.label])
        tm = self._miss(target, self._types[target])
        y, yhat = f"TRY_CAST({label} AS DOUBLE)", f"TRY_CAST({target} AS DOUBLE)"
        fetched = self.con.execute(
            f"SELECT {ym} AS ym, {tm} AS tm, count(*), sum(({y} - {yhat}) ^ 2), sum(abs({y} - {yhat})), "
            f"var_pop({y}) FROM ev GROUP BY ALL").fetchall()
        table = [{"ym": int(r[0]), "pm" if role == "prediction" else "sm": int(r[1]), "n": int(r[2]),
                  "stats": r[3:]} for r in fetched]
        for r in table:
            r.setdefault("pm", 0)
            r.setdefault("sm", 0)
        rows, data = self._usable(check, table, ("label", role))
        details: dict[str, Any] = {"data": data}
        n = sum(r["n"] for r in rows)
        details["n"] = n
        if not n:
            raise _Failed(f"{name} is undefined: no rows", details)
        ((sse, sae, var),) = [r["stats"] for r in rows]
        if name == "rmse":
            return math.sqrt(sse / n), details
        if name == "mae":
            return sae / n, details
        sst = var * n
        if not sst:
            conventional = 1.0 if not sse else 0.0
            raise _Failed(f"r2 is undefined: the target is constant (scikit-learn's force_finite convention would "
                          f"report {conventional})", details)
        return 1 - sse / sst, details

    def _fairness(self, check: FairnessCheck) -> dict[str, Any]:
        features = check.features
        missing = [f for f in features if f not in self.columns]
        if missing:
            raise BadInput(f"check {check.id}: sensitive feature(s) {', '.join(missing)} not in the evaluation data")
        rates_needed, _ = m.fairness_definition(check.fairness)
        decision = self._decision(None)
        needs = ("label", "prediction" if decision[0] == "prediction" else "score")
        rows, data = self._usable(check, self._table(features), needs, features)
        class_symmetric = set(rates_needed) <= {"accuracy", "balanced_accuracy"} and decision[0] == "prediction"
        matrix, positive, info = self._confusion(check, rows, decision, need_positive=not class_symmetric)
        data.update(info)
        per_group: dict[tuple[Any, ...], dict[tuple[Any, Any], int]] = {}
        for r in rows:
            p = r["p"]
            if decision[0] == "threshold":
                hits = r["ge"][decision[1]]
                cells = ((positive.key, hits), (_REST, r["n"] - hits)) if positive else ()
            else:
                cells = ((p, r["n"]),)
            group = per_group.setdefault(r["g"], {})
            for pred, n in cells:
                if n:
                    group[(r["y"], pred)] = group.get((r["y"], pred), 0) + n
        groups: dict[str, dict[str, Any]] = {}
        included: dict[str, dict[str, float]] = {}
        undefined: list[str] = []
        ordered = sorted(per_group, key=lambda k: tuple(str(v) for v in k))
        names = {key: ", ".join(str(labels.display(v)) for v in key) for key in ordered}
        if len(set(names.values())) < len(names):  # values that contain ", ": quote each part, unambiguously
            names = {key: ", ".join(repr(labels.display(v)) for v in key) for key in ordered}
        for key in ordered:
            cells = per_group[key]
            label = names[key]
            n = sum(cells.values())
            ok = n >= check.min_group_size
            entry: dict[str, Any] = {"count": n, "included": ok}
            if positive is not None:
                counts = m.binary_counts(cells, positive.key)
                rates = m.rates(counts)
                entry.update({r: rates[r] for r in rates})
                entry["confusion"] = {"tp": counts.tp, "fp": counts.fp, "tn": counts.tn, "fn": counts.fn}
                reasons = [m.undefined_reason(counts, r) for r in rates_needed]
            else:
                rates = {r: m.multiclass_metric(r, cells) for r in rates_needed}
                entry.update(rates)
                reasons = []
            reasons = [r for r in reasons if r]
            if reasons:
                entry["undefined"] = reasons
            groups[label] = entry
            if ok:
                included[label] = rates
                undefined += [f"group {label!r}: {r}" for r in reasons]
        details: dict[str, Any] = {"sensitive_features": features, "min_group_size": check.min_group_size,
                                   "rates": list(rates_needed), "groups": groups, "data": data,
                                   "excluded_groups": sorted(g for g, v in groups.items() if not v["included"])}
        if len(included) < 2:
            details["reason"] = (f"insufficient data: {len(included)} group(s) with at least "
                                 f"{check.min_group_size} rows; at least two are needed")
            return self._result(check, check.fairness, None, check.operators(), details, force_fail=True)
        if undefined:
            details["reason"] = "a group rate is undefined (fairlearn would count it as 0): " + "; ".join(undefined)
            return self._result(check, check.fairness, None, check.operators(), details, force_fail=True)
        value = m.fairness_value(check.fairness, included)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            details["reason"] = (f"{check.fairness} is undefined: the largest group {' and '.join(rates_needed)} is 0, "
                                 "so the ratio is 0/0")
            return self._result(check, check.fairness, None, check.operators(), details, force_fail=True)
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

    def _column(self, check: DriftCheck, name: str) -> tuple[driftlib.ColumnData, dict[str, Any]]:
        """One column's usable values in reference and current data, and its missing counts on each side.

        Missing or non-finite values (NULL, NaN, ±inf, empty text) are excluded from the distribution and counted.
        A column read as numbers on one side and as text on the other is refused, unless every present text value
        is a number (e.g. a column that is blank on one side is read as text by the CSV reader).
        """
        q = _quote(name)
        types = {"reference": self.ref_columns[name], "current": self.columns[name]}
        kinds = {side: labels.column_kind(t).kind for side, t in types.items()}
        views = {"reference": "ref_file", "current": "ev"}
        if kinds["reference"] == kinds["current"] == "other" and types["reference"] != types["current"]:
            raise BadInput(f"check {check.id}: column {name!r} is {types['reference']} in the reference data but "
                           f"{types['current']} in the current data; drift needs one type on both sides")
        if len(set(kinds.values())) > 1:
            if set(kinds.values()) != {"numeric", "text"}:
                raise BadInput(f"check {check.id}: column {name!r} is {types['reference']} in the reference data but "
                               f"{types['current']} in the current data; drift needs one type on both sides")
            text_side = next(side for side, k in kinds.items() if k == "text")
            code = self._miss(q, "VARCHAR", reference=text_side == "reference")
            bad = self.con.execute(
                f"SELECT {q}, count(*) FROM {views[text_side]} WHERE {code} = 0 AND NOT {labels.is_number_sql(q)} "
                f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5").fetchall()
            if bad:
                total = self.con.execute(
                    f"SELECT count(*) FROM {views[text_side]} WHERE {code} = 0 AND NOT {labels.is_number_sql(q)}"
                ).fetchall()[0][0]
                other = "reference" if text_side == "current" else "current"
                raise BadInput(f"check {check.id}: column {name!r} is numeric ({types[other]}) in the {other} data "
                               f"but text in the {text_side} data: {total} value(s) are not numbers "
                               f"({labels.describe_counts(dict(bad), limit=5)}); fix the data, or leave the column "
                               "out of the check's columns. Text is never compared with numbers as categories")
        numeric = "text" not in kinds.values() and "other" not in kinds.values() and not any(
            t.split("(")[0] == "BOOLEAN" for t in types.values())
        numeric = numeric or (set(kinds.values()) == {"numeric", "text"})
        stats: dict[str, Any] = {}
        arrays: dict[str, Any] = {}
        for side, view in views.items():
            column_type = types[side]
            code = self._miss(q, column_type, reference=side == "reference")
            rows = self.con.execute(f"SELECT {code}, count(*) FROM {view} GROUP BY 1").fetchall()
            counts = {int(c): int(n) for c, n in rows}
            total = sum(counts.values())
            missing = {labels.MISSING_KINDS[c]: n for c, n in sorted(counts.items()) if c}
            stats[side] = {"rows": total, "missing": missing,
                           "missing_share": (sum(missing.values()) / total) if total else None}
            if numeric:
                value = f"CAST({q} AS DOUBLE)" if kinds[side] == "numeric" else f"TRY_CAST({q} AS DOUBLE)"
                fetched = self.con.execute(f"SELECT {value} AS v FROM {view} WHERE {code} = 0").fetchnumpy()
                arrays[side] = np.asarray(fetched["v"], dtype=float)
            else:
                got = self.con.execute(f"SELECT CAST({q} AS VARCHAR), count(*) FROM {view} WHERE {code} = 0 "
                                       f"GROUP BY 1").fetchall()
                arrays[side] = {str(k): int(v) for k, v in got}
        if numeric:
            data = driftlib.ColumnData(name, True, arrays["reference"], arrays["current"])
        else:
            data = driftlib.ColumnData(name, False, ref_counts=arrays["reference"], cur_counts=arrays["current"])
        return data, stats

    def _drift(self, check: DriftCheck) -> dict[str, Any]:
        if not self.ref_columns:
            raise BadInput(f"check {check.id}: drift needs reference data (the model's training data, or --reference)")
        columns = self._drift_columns(check)
        per_column: dict[str, Any] = {}
        untestable: list[str] = []
        for name in columns:
            data, stats = self._column(check, name)
            ref_share, cur_share = stats["reference"]["missing_share"], stats["current"]["missing_share"]
            entry: dict[str, Any] = {"reference": stats["reference"], "current": stats["current"],
                                     "type": "numeric" if data.numeric else "categorical"}
            if ref_share is None or cur_share is None:
                side = "reference" if ref_share is None else "current"
                entry.update({"method": None, "drifted": None, "reason": f"the {side} data has no rows"})
                untestable.append(name)
                per_column[name] = entry
                continue
            change = cur_share - ref_share
            missing_drift = abs(change) > check.max_missing_share_change
            entry["missing_share_change"] = change
            entry["missing_drifted"] = missing_drift
            ref_n = data.ref_size
            cur_n = int(data.current.size) if data.numeric else sum(data.cur_counts.values())
            if ref_n == 0 or cur_n == 0:
                empty = [side for side, n in (("reference", ref_n), ("current", cur_n)) if n == 0]
                why = " and ".join(f"the {side} data" for side in empty)
                entry.update({"method": None, "reason": f"no present values in {why}: every value is missing or "
                                                        "non-finite"})
                if missing_drift:
                    entry["drifted"] = True
                    entry["reason"] += (f"; the missing share changed from {ref_share:.4f} to {cur_share:.4f}, "
                                        f"more than {check.max_missing_share_change}")
                else:
                    entry["drifted"] = None
                    untestable.append(name)
                per_column[name] = entry
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
            entry.update({"method": method, **{k: m.finite(v) for k, v in stat.items()},
                          "compared": "p_value" if "p_value" in stat else "statistic",
                          "operator": op, "threshold": threshold, "distribution_drifted": not ok,
                          "drifted": (not ok) or missing_drift,
                          "distribution": driftlib.distribution(data, check.bins)})
            if missing_drift:
                entry["reason"] = (f"the missing share changed from {ref_share:.4f} to {cur_share:.4f}, more than "
                                   f"{check.max_missing_share_change}")
            per_column[name] = entry
        tested = [c for c in per_column.values() if c["drifted"] is not None]
        share = sum(bool(c["drifted"]) for c in tested) / len(tested) if tested else None
        details: dict[str, Any] = {
            "columns": per_column, "drifted_columns": sorted(k for k, v in per_column.items() if v["drifted"]),
            "untestable_columns": sorted(untestable), "max_drifted_share": check.max_drifted_share,
            "max_missing_share_change": check.max_missing_share_change, "reference_rows": None}
        if not columns:
            details["reason"] = "no columns to compare"
        elif untestable:
            details["reason"] = (f"drift cannot be measured for {', '.join(sorted(untestable))}: no present values "
                                 "on either side (or no rows); leave such columns out of the check")
        result = self._result(check, f"drift:{check.drift}", share, {"lte": check.max_drifted_share}, details,
                              force_fail=bool(untestable) or not columns)
        result["metric"] = f"drifted_share ({check.drift})"
        return result

    def _explain(self, check: ExplainCheck) -> dict[str, Any]:
        model = self.inputs.model
        if model is None:
            details = {"reason": "an external model has no artifact to explain"}
            return self._result(check, "shap_top_features", None, {}, details, force_fail=True)
        if self._importance is None or self._importance.get("requested_sample_size", 0) < check.sample_size:
            from core.evaluation.explain import ExplanationError, importance

            features = self.inputs.feature_names or [c for c in self.columns if c != self.inputs.label]
            cols = ", ".join(_quote(f) for f in features)
            n = min(self.rows, max(check.sample_size, 200) * 2)
            frame = self.con.execute(f"SELECT {cols} FROM cur_file USING SAMPLE reservoir({n} ROWS) REPEATABLE (7)"
                                     ).fetchdf()
            positive = (labels.display(self.score_positive) if self.score_positive is not None
                        else self.declared_positive)
            try:
                self._importance = importance(model, frame, check.sample_size, feature_names=self.inputs.feature_names
                                              or None, positive_class=positive)
            except ExplanationError as exc:
                return self._result(check, "shap_top_features", None, {}, {"reason": f"cannot explain: {exc}"},
                                    force_fail=True)
            except Exception as exc:  # noqa: BLE001 - report, do not crash, when a model cannot be explained
                return self._result(check, "shap_top_features", None, {}, {"reason": f"SHAP failed: {exc}"},
                                    force_fail=True)
        ranked = list(self._importance["importance"])
        top = ranked[: check.top_k]
        violations = [f for f in check.must_not_include if f in top]
        details = {"top_features": top, "must_not_include": check.must_not_include, "violations": violations,
                   "not_model_inputs": [f for f in check.must_not_include if f not in ranked], **self._importance}
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
            parts = ", ".join(f"count(*) FILTER (WHERE {self._miss(_quote(c), self.columns[c])} > 0)"
                              for c in columns)
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
