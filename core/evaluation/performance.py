"""Performance and fairness checks: a metric against its thresholds, and a fairness disparity between groups.

Every number comes from sufficient statistics (:mod:`core.evaluation.metrics`): confusion counts per group from one
scan, counts per distinct score, loss and error sums. A value that is undefined on the data fails the check with the
reason (:class:`core.evaluation.checks.Failed`); data that cannot be measured as asked is refused (``BadInput``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.evaluation import labels, metrics as m
from core.evaluation.checks import Failed, check_result
from core.evaluation.classification import REST, classes_of, confusion, discrete, keys_of, positive, usable
from core.evaluation.result import CheckResult
from core.evaluation.statistics import PREDICTION, SCORE
from core.policy.rules import FairnessCheck, MetricCheck

if TYPE_CHECKING:
    from core.evaluation.engine import Evaluator

__all__ = ["fairness_check", "metric_check"]


def metric_check(ev: Evaluator, check: MetricCheck) -> CheckResult:
    name = check.metric
    try:
        if name in ("rmse", "mae", "r2"):
            value, details = _regression(ev, check)
        elif name in ("roc_auc", "average_precision", "log_loss", "brier"):
            value, details = _score_metric(ev, check)
        else:
            value, details = _confusion_metric(ev, check)
    except Failed as failed:
        failed.details["reason"] = failed.reason
        return check_result(check, name, None, check.operators(), failed.details, force_fail=True)
    return check_result(check, name, value, check.operators(), details)


def _confusion(counts: m.Counts) -> dict[str, int]:
    return {"tp": counts.tp, "fp": counts.fp, "tn": counts.tn, "fn": counts.fn}


def _confusion_metric(ev: Evaluator, check: MetricCheck) -> tuple[float, dict[str, Any]]:
    name = check.metric
    decision = ev.decision(check.decision_threshold)
    needs = ("label", "prediction" if decision[0] == "prediction" else "score")
    rows, data = usable(ev, check, ev.table([]), needs)
    binary_named = name in ("precision", "recall", "f1") and check.average in (None, "binary")
    matrix, pos, info = confusion(ev, check, rows, decision, need_positive=binary_named)
    data.update(info)
    details: dict[str, Any] = {"data": data, "decision": info["decision"]}
    try:
        if pos is not None:
            counts = m.binary_counts(matrix, pos.key)
            details["confusion"] = _confusion(counts)
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
                    counts = m.binary_counts(matrix, positive(ev, check, keys_of(matrix), "").key)
                    details["confusion"] = _confusion(counts)
                except BadInput:
                    pass  # class-symmetric metric on labels without a positive class: the matrix says it all
            value = m.multiclass_metric(name, matrix, check.average)
        details["confusion_matrix"] = [{"label": y, "prediction": p, "rows": n} for (y, p), n in
                                       sorted(matrix.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))]
    except m.Undefined as exc:
        raise Failed(str(exc), details) from None
    return value, details


def _score_metric(ev: Evaluator, check: MetricCheck) -> tuple[float, dict[str, Any]]:
    name = check.metric
    if not ev.has_score:
        raise BadInput(ev.score_unavailable or f"check {check.id}: {name} needs scores: pass --score-column (or "
                       "evaluate a model with predict_proba)")
    rows, data = usable(ev, check, ev.table([]), ("label", "score"))
    label_classes: dict[Any, int] = {}
    for r in rows:
        label_classes[r["y"]] = label_classes.get(r["y"], 0) + r["n"]
    names = ev.column_names()
    discrete(check, label_classes, names["label"])
    pos = positive(ev, check, label_classes, names["label"],
                   f"{names['label']}: {labels.describe_counts(label_classes)}")
    data.update({"label_classes": classes_of(label_classes), "positive_class": pos.shown,
                 "positive_class_declared": pos.declared,
                 "task": "binary" if len(label_classes | {pos.key: 0}) <= 2 else "multiclass"})
    if data["task"] == "multiclass":
        data["one_vs_rest"] = True
    if ev.score_positive is not None and ev.score_positive != pos.key:
        raise BadInput(f"check {check.id}: the model's scores are for class {labels.display(ev.score_positive)!r}"
                       f" but the positive class is {pos.shown!r}")
    details: dict[str, Any] = {"data": data}
    label = ev.inputs.label
    as_number = label in ev.numeric_text
    if name in ("roc_auc", "average_precision"):
        ranking = ev.source.score_ranking(label, pos.key, label_as_number=as_number, max_points=m.MAX_ROC_POINTS)
        positives, total = ranking.positives, ranking.positives + ranking.negatives
        details.update({"n": total, "positives": positives})
        if not positives or (name == "roc_auc" and positives == total):
            why = "no actual positives" if not positives else "no actual negatives"
            raise Failed(f"{name} is undefined: {why} (scikit-learn refuses one class in y_true)", details)
        if name == "roc_auc":
            details["roc_curve"] = m.roc_curve(ranking)
            return m.roc_auc(ranking), details
        return m.average_precision(ranking), details
    outside = sum(r["n"] for r in rows if r["sout"])
    if outside:
        sample = ev.source.scores_outside_unit(label, limit=5)
        raise BadInput(f"check {check.id}: {name} needs probabilities, but {names['score']} has {outside} "
                       f"value(s) outside [0, 1] (e.g. {', '.join(repr(v) for v in sample)})")
    loss = ev.source.probability_loss(label, pos.key, "log_loss" if name == "log_loss" else "brier", m.EPS,
                                      label_as_number=as_number)
    details["n"] = loss.rows
    if not loss.rows:
        raise Failed(f"{name} is undefined: no rows", details)
    assert loss.total is not None  # a sum over at least one row
    return loss.total / loss.rows, details


def _regression(ev: Evaluator, check: MetricCheck) -> tuple[float, dict[str, Any]]:
    name = check.metric
    names = ev.column_names()
    use_score = ev.has_score and not ev.has_prediction
    if not (ev.has_prediction or ev.has_score):
        raise BadInput(ev.score_unavailable or "no prediction or score is available for this check")
    target = SCORE if use_score else PREDICTION
    role = "score" if use_score else "prediction"
    for column, what in ((ev.inputs.label, names["label"]), (target, names[role])):
        if ev.kind(column) != "numeric":
            raise BadInput(f"check {check.id}: {name} needs numbers, but {what} is {ev.types[column]} "
                           f"({ev.sample_values(column)})")
    table: list[dict[str, Any]] = [
        {"ym": c.label_missing, "pm" if role == "prediction" else "sm": c.target_missing, "n": c.rows,
         "stats": (c.squared_error, c.absolute_error, c.label_variance)}
        for c in ev.source.regression_sums(ev.inputs.label, target)]
    for r in table:
        r.setdefault("pm", 0)
        r.setdefault("sm", 0)
    rows, data = usable(ev, check, table, ("label", role))
    details: dict[str, Any] = {"data": data}
    n = sum(r["n"] for r in rows)
    details["n"] = n
    if not n:
        raise Failed(f"{name} is undefined: no rows", details)
    ((sse, sae, var),) = [r["stats"] for r in rows]
    if name == "rmse":
        return math.sqrt(sse / n), details
    if name == "mae":
        return sae / n, details
    sst = var * n
    if not sst:
        conventional = 1.0 if not sse else 0.0
        raise Failed(f"r2 is undefined: the target is constant (scikit-learn's force_finite convention would "
                     f"report {conventional})", details)
    return 1 - sse / sst, details


def fairness_check(ev: Evaluator, check: FairnessCheck) -> CheckResult:
    features = check.features
    missing = [f for f in features if f not in ev.columns]
    if missing:
        raise BadInput(f"check {check.id}: sensitive feature(s) {', '.join(missing)} not in the evaluation data")
    rates_needed, _ = m.fairness_definition(check.fairness)
    decision = ev.decision(None)
    needs = ("label", "prediction" if decision[0] == "prediction" else "score")
    rows, data = usable(ev, check, ev.table(features), needs, features)
    class_symmetric = set(rates_needed) <= {"accuracy", "balanced_accuracy"} and decision[0] == "prediction"
    matrix, pos, info = confusion(ev, check, rows, decision, need_positive=not class_symmetric)
    data.update(info)
    per_group: dict[tuple[Any, ...], dict[tuple[Any, Any], int]] = {}
    for r in rows:
        p = r["p"]
        cells: tuple[tuple[Any, int], ...]
        if decision[0] == "threshold":
            hits = r["ge"][decision[1]]
            cells = ((pos.key, hits), (REST, r["n"] - hits)) if pos else ()
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
        group_cells = per_group[key]
        label = names[key]
        n = sum(group_cells.values())
        ok = n >= check.min_group_size
        entry: dict[str, Any] = {"count": n, "included": ok}
        reasons: list[str | None]
        if pos is not None:
            counts = m.binary_counts(group_cells, pos.key)
            rates = m.rates(counts)
            entry.update({r: rates[r] for r in rates})
            entry["confusion"] = _confusion(counts)
            reasons = [m.undefined_reason(counts, r) for r in rates_needed]
        else:
            rates = {r: m.multiclass_metric(r, group_cells) for r in rates_needed}
            entry.update(rates)
            reasons = []
        stated = [r for r in reasons if r]
        if stated:
            entry["undefined"] = stated
        groups[label] = entry
        if ok:
            included[label] = rates
            undefined += [f"group {label!r}: {r}" for r in stated]
    details: dict[str, Any] = {"sensitive_features": features, "min_group_size": check.min_group_size,
                               "rates": list(rates_needed), "groups": groups, "data": data,
                               "excluded_groups": sorted(g for g, v in groups.items() if not v["included"])}
    if len(included) < 2:
        details["reason"] = (f"insufficient data: {len(included)} group(s) with at least "
                             f"{check.min_group_size} rows; at least two are needed")
        return check_result(check, check.fairness, None, check.operators(), details, force_fail=True)
    if undefined:
        details["reason"] = "a group rate is undefined (fairlearn would count it as 0): " + "; ".join(undefined)
        return check_result(check, check.fairness, None, check.operators(), details, force_fail=True)
    value = m.fairness_value(check.fairness, included)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        details["reason"] = (f"{check.fairness} is undefined: the largest group {' and '.join(rates_needed)} is 0, "
                             "so the ratio is 0/0")
        return check_result(check, check.fairness, None, check.operators(), details, force_fail=True)
    return check_result(check, check.fairness, value, check.operators(), details)
