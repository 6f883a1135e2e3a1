"""The evaluation engine: one policy applied to one model on one dataset, with every number kept as evidence.

The engine holds the semantics — which rows a check may use, the label domain (classes, the positive class, the
decision), operators and thresholds, pass or fail, and every refusal — and reads data only through a statistics
source (:class:`core.evaluation.statistics.StatisticsSource`; :class:`core.evaluation.duckdb_source.DuckDBSource`
by default), which produces sufficient statistics without pandas holding the data whole. Only models with artifacts
are scored in pandas, in batches. The checks live in :mod:`core.evaluation.performance` (metrics, fairness) and
:mod:`core.evaluation.data_checks` (drift, data quality, documentation, explanations).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.catalog.datasets import CsvDialect
from core.errors import BadInput
from core.evaluation import data_checks, labels, performance
from core.evaluation.checks import compare
from core.evaluation.engines import Engine, described
from core.evaluation.result import CheckResult, EvaluationResult
from core.evaluation.statistics import PREDICTION, SCORE, DataFile, ModelOutputs, StatisticsSource
from core.policy.rules import (
    DataQualityCheck,
    DocumentationCheck,
    DriftCheck,
    ExplainCheck,
    FairnessCheck,
    MetricCheck,
    Policy,
)

__all__ = ["MAX_TABLE_ROWS", "EvalInputs", "Evaluator", "compare"]

#: Most (label, prediction, group) combinations a classification scan may return before it is refused.
MAX_TABLE_ROWS = 100_000


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
    engine: Engine = field(default_factory=Engine)


class Evaluator:
    """Runs a policy's checks; construct, then call :meth:`run`.

    ``source``: how to open a statistics source on the evaluation data (``inputs.engine`` unless given).
    """

    def __init__(self, inputs: EvalInputs,
                 source: Callable[[DataFile], StatisticsSource] | None = None) -> None:
        self.inputs = inputs
        self.policy = inputs.policy
        self.source = (source or inputs.engine.open)(DataFile(inputs.data_path, inputs.data_format,
                                                              inputs.data_dialect))
        self.columns: dict[str, str] = dict(self.source.columns)
        reserved = [c for c in self.columns if c.lower() in (PREDICTION.lower(), SCORE.lower())]
        if reserved:
            raise BadInput(f"the evaluation data has a column named {reserved[0]!r}, a name Countersign reserves for "
                           "the predictions and scores it evaluates; rename the column")
        self.ref_columns: dict[str, str] = {}
        if inputs.reference_path is not None:
            self.source.attach_reference(DataFile(inputs.reference_path, inputs.reference_format or "csv",
                                                  inputs.reference_dialect))
            self.ref_columns = dict(self.source.reference_columns)
        if inputs.label not in self.columns:
            raise BadInput(f"label column {inputs.label!r} is not in the evaluation data (columns: "
                           f"{', '.join(self.columns)})")
        self.declared_positive = (inputs.positive_label if inputs.positive_label is not None
                                  else self.policy.positive_label)
        self.score_unavailable: str | None = None
        self.score_positive: Any = None
        self.has_prediction = self.has_score = False
        self._tables: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self._exactness_checked = False
        self._prepare_predictions()
        self.types: dict[str, str] = dict(self.source.evaluated_columns)
        self.rows = self.source.row_count("current")
        if self.rows == 0:
            raise BadInput("the evaluation data has no rows: nothing can be measured")
        # In a CSV file, a text label or prediction column whose every present value is a number (numbers with a few
        # blanks or markers, which the CSV reader types as text) is read as numbers, as pandas would. (Parquet columns
        # have declared types: text stays text.)
        self.numeric_text: set[str] = set()
        csv_columns = (self.inputs.label, self.inputs.prediction_column) if inputs.data_format == "csv" else ()
        for column in csv_columns:
            column = PREDICTION if column is not None and column == self.inputs.prediction_column else column
            if column is not None and labels.column_kind(self.types[column]).kind == "text":
                counts = self.source.count_numbers(column)
                if counts.present and counts.present == counts.numbers:
                    self.numeric_text.add(column)
        self.importance: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------------- predictions
    def _prepare_predictions(self) -> None:
        i = self.inputs
        for column in (i.prediction_column, i.score_column):
            if column is not None and column not in self.columns:
                raise BadInput(f"column {column!r} is not in the evaluation data")
        if i.prediction_column or i.score_column:
            if i.score_column and labels.column_kind(self.columns[i.score_column]).kind != "numeric":
                bad = self.source.non_numbers(i.score_column, "data", limit=5)
                if bad.top:
                    raise BadInput(f"score column {i.score_column!r} is {self.columns[i.score_column]}, and not every "
                                   f"value is a number ({labels.describe_counts(dict(bad.top), limit=5)}); scores "
                                   "must be numbers")
            self.source.attach_columns(i.prediction_column, i.score_column)
            self.has_prediction, self.has_score = bool(i.prediction_column), bool(i.score_column)
            return
        if i.model is None:
            raise BadInput("an external model is evaluated from its predictions: pass --prediction-column and/or "
                           "--score-column")
        self._score_with_model()

    def _score_with_model(self) -> None:
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

        def predict(frame: Any) -> ModelOutputs:  # noqa: ANN401 - a pandas frame
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
            return pred, score

        self.source.attach_model_outputs(predict)
        self.has_prediction, self.has_score = True, positive_index is not None

    # ------------------------------------------------------------------------------------------- the label domain
    def threshold(self, threshold: float | None) -> float | None:
        """The decision threshold in force: the check's, else the policy's, else none (use the predictions)."""
        return threshold if threshold is not None else self.policy.decision_threshold

    def decision(self, threshold: float | None) -> tuple[str, float | None]:
        """``("threshold", t)`` when scores decide the predicted class, else ``("prediction", None)``."""
        t = self.threshold(threshold)
        if self.has_score and (t is not None or not self.has_prediction):
            return "threshold", float(0.5 if t is None else t)
        if t is not None:
            raise BadInput(f"decision_threshold {t} says 'score >= {t} predicts the positive class', but there are no "
                           "scores: " + (self.score_unavailable or "pass --score-column, or remove decision_threshold "
                                                                   "to use the predictions"))
        if not self.has_prediction:
            raise BadInput(self.score_unavailable or "no prediction or score is available for this check")
        return "prediction", None

    def kind(self, column: str) -> str:
        """``numeric`` (numbers, booleans, numbers typed as text), ``text`` or ``other``."""
        if column in self.numeric_text:
            return "numeric"
        kind = labels.column_kind(self.types[column]).kind
        return "numeric" if kind == "boolean" else kind

    def column_names(self) -> dict[str, str]:
        i = self.inputs
        return {"label": f"label column {i.label!r}",
                "prediction": (f"prediction column {i.prediction_column!r}" if i.prediction_column
                               else "the model's predictions"),
                "score": f"score column {i.score_column!r}" if i.score_column else "the model's scores"}

    def _thresholds_in_use(self) -> list[float]:
        found = set()
        for check in self.policy.checks:
            if isinstance(check, MetricCheck | FairnessCheck) and self.has_score:
                t = self.threshold(getattr(check, "decision_threshold", None))
                if t is not None or not self.has_prediction:
                    found.add(float(0.5 if t is None else t))
        return sorted(found)

    def table(self, groups: list[str]) -> list[dict[str, Any]]:
        """One scan: rows per (label class, prediction class, missing codes, groups), with score counts.

        Each row has ``y``/``p`` (class keys, ``None`` when missing), ``ym``/``pm``/``sm`` (missing codes of label,
        prediction and score), ``sout`` (scores outside [0, 1]), ``g`` (group values), ``gm`` (their missing codes),
        ``n`` and ``ge`` (rows whose score is at least each threshold of :meth:`_thresholds_in_use`).
        """
        key = tuple(groups)
        if key in self._tables:
            return self._tables[key]
        self._exact_classes()
        names = self.column_names()
        for column, what in ((self.inputs.label, names["label"]), (PREDICTION if self.has_prediction else None,
                                                                   names["prediction"]),
                             *((g, f"sensitive feature {g!r}") for g in groups)):
            if column is not None and labels.column_kind(self.types[column]).kind == "other" and (
                    column in (self.inputs.label, PREDICTION) or any(t in self.types[column].upper()
                                                                     for t in ("[]", "STRUCT", "MAP", "UNION",
                                                                               "LIST"))):
                raise BadInput(f"{what} is {self.types[column]}: dates, lists and structures are not class labels "
                               "(scikit-learn refuses them as an 'unknown' target); map them to class codes")
        cells = self.source.confusion_table(self.inputs.label, groups, prediction=self.has_prediction,
                                            score=self.has_score, thresholds=self._thresholds_in_use(),
                                            limit=MAX_TABLE_ROWS, as_numbers=frozenset(self.numeric_text))
        if len(cells) > MAX_TABLE_ROWS:
            raise BadInput(f"{self.column_names()['label']} and the predictions take more than {MAX_TABLE_ROWS:,} "
                           "distinct combinations: classification checks need class labels (is this a regression "
                           "target? use rmse, mae or r2)")
        rows = [{"y": labels.display(c.label), "ym": c.label_missing, "p": labels.display(c.prediction),
                 "pm": c.prediction_missing, "sm": c.score_missing, "sout": c.score_outside, "g": c.groups,
                 "gm": c.groups_missing, "n": c.rows, "ge": dict(c.at_least)} for c in cells]
        self._tables[key] = rows
        return rows

    def _exact_classes(self) -> None:
        """Refuse label or prediction values that a class key (a 64-bit float) could not tell apart exactly: integers
        beyond 2**53 and decimals with more digits than a double holds would otherwise compare as equal."""
        if self._exactness_checked:
            return
        self._exactness_checked = True
        names = self.column_names()
        for column, role in ((self.inputs.label, "label"), (PREDICTION if self.has_prediction else None,
                                                            "prediction")):
            if column is None:
                continue
            base = self.types[column].split("(")[0].upper()
            if base not in ("BIGINT", "HUGEINT", "UBIGINT", "UHUGEINT", "DECIMAL"):
                continue
            inexact = self.source.inexact_class_values(column)
            if inexact:
                raise BadInput(f"{names[role]} has {inexact} value(s) ({self.sample_values(column)}) that cannot be "
                               "compared exactly as class labels (integers beyond 2**53 or decimals with more than 15 "
                               "significant digits); map them to shorter codes")

    def sample_values(self, column: str) -> str:
        """The most frequent values of a column of the evaluated rows, in words."""
        top = self.source.top_values(column, limit=5)
        return labels.describe_counts({labels.display(v): int(n) for v, n in top.top}, limit=5)

    # ------------------------------------------------------------------------------------------- the run
    def evaluate(self) -> EvaluationResult:
        """Run every check of the policy, in order."""
        started = time.perf_counter()
        handlers: dict[type, Callable[[Evaluator, Any], CheckResult]] = {
            MetricCheck: performance.metric_check, FairnessCheck: performance.fairness_check,
            DriftCheck: data_checks.drift_check, ExplainCheck: data_checks.explain_check,
            DocumentationCheck: data_checks.documentation_check, DataQualityCheck: data_checks.data_quality_check}
        checks: list[CheckResult] = []
        for check in self.policy.checks:
            t0 = time.perf_counter()
            result = handlers[type(check)](self, check)
            result["seconds"] = round(time.perf_counter() - t0, 4)
            checks.append(result)
        for c in checks:
            if c["kind"] == "drift":
                c["details"]["reference_rows"] = self.source.row_count("reference")
        engine = described(self.source)
        self.source.close()
        return EvaluationResult.of(self.rows, checks, round(time.perf_counter() - started, 3), engine)

    def run(self) -> dict[str, Any]:
        """:meth:`evaluate`, as the plain dict that is stored and hashed."""
        return self.evaluate().to_dict()
