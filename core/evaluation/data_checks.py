"""Checks on the data and the model's documentation: distribution drift against reference data, missing rates and
the training schema, the model card's required sections, and the features an explanation ranks highest."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from core.catalog.documents import present
from core.errors import BadInput
from core.evaluation import drift as driftlib, labels, metrics as m
from core.evaluation.checks import check_result, compare, op_fields
from core.evaluation.result import CheckResult
from core.evaluation.statistics import PREDICTION, SCORE, Side, StatisticsSource
from core.policy.rules import (
    DEFAULT_DRIFT_THRESHOLDS,
    P_VALUE_METHODS,
    DataQualityCheck,
    DocumentationCheck,
    DriftCheck,
    ExplainCheck,
)

if TYPE_CHECKING:
    from core.evaluation.engine import Evaluator

__all__ = ["data_quality_check", "documentation_check", "drift_check", "explain_check"]

#: Columns of a drift check measured at a time: one is read while the statistics of the other are computed.
DRIFT_WORKERS = 2


class _Serialized:
    """A statistics source whose methods run one at a time (sources are not thread-safe)."""

    def __init__(self, source: StatisticsSource) -> None:
        self._source, self._lock = source, threading.Lock()

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the source's own attribute
        found = getattr(self._source, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            with self._lock:
                return found(*args, **kwargs)

        return call


#: For categorical columns, the analogue of a numeric-only drift test (recorded per column in the result).
_CATEGORICAL_STANDIN = {"ks": "chisquare", "wasserstein": "jensenshannon"}


def drift_columns(ev: Evaluator, check: DriftCheck | DataQualityCheck, need_reference: bool = True) -> list[str]:
    """The columns a drift or data-quality check reads: those named (all present), else every input column."""
    if check.columns != "all":
        pools = [ev.columns] + ([ev.ref_columns] if need_reference else [])
        for pool, where in zip(pools, ("evaluation data", "reference data"), strict=False):
            missing = [c for c in check.columns if c not in pool]
            if missing:
                raise BadInput(f"check {check.id}: column(s) {', '.join(missing)} not in the {where}")
        return list(check.columns)
    excluded = {ev.inputs.label, ev.inputs.prediction_column, ev.inputs.score_column, PREDICTION, SCORE}
    base = ev.inputs.feature_names or list(ev.columns)
    return [c for c in base if c in ev.columns and c not in excluded and (not need_reference or c in
                                                                          ev.ref_columns)]


def column_data(ev: Evaluator, check: DriftCheck, name: str,
                missing: dict[Side, dict[str, dict[int, int]]] | None = None,
                source: StatisticsSource | None = None) -> tuple[driftlib.ColumnData, dict[str, Any]]:
    """One column's usable values in reference and current data, and its missing counts on each side.

    Missing or non-finite values (NULL, NaN, ±inf, empty text) are excluded from the distribution and counted
    (``missing``: the rows per missing code of each column and side, when already counted).
    A column read as numbers on one side and as text on the other is refused, unless every present text value
    is a number (e.g. a column that is blank on one side is read as text by the CSV reader).
    """
    source = source or ev.source
    types = {"reference": ev.ref_columns[name], "current": ev.columns[name]}
    kinds = {side: labels.column_kind(t).kind for side, t in types.items()}
    sides: tuple[Side, Side] = ("reference", "current")
    if kinds["reference"] == kinds["current"] == "other" and types["reference"] != types["current"]:
        raise BadInput(f"check {check.id}: column {name!r} is {types['reference']} in the reference data but "
                       f"{types['current']} in the current data; drift needs one type on both sides")
    if len(set(kinds.values())) > 1:
        if set(kinds.values()) != {"numeric", "text"}:
            raise BadInput(f"check {check.id}: column {name!r} is {types['reference']} in the reference data but "
                           f"{types['current']} in the current data; drift needs one type on both sides")
        text_side = next(side for side in sides if kinds[side] == "text")
        bad = source.non_numbers(name, text_side, limit=5)
        if bad.top:
            other = "reference" if text_side == "current" else "current"
            raise BadInput(f"check {check.id}: column {name!r} is numeric ({types[other]}) in the {other} data "
                           f"but text in the {text_side} data: {bad.total} value(s) are not numbers "
                           f"({labels.describe_counts(dict(bad.top), limit=5)}); fix the data, or leave the column "
                           "out of the check's columns. Text is never compared with numbers as categories")
    numeric = "text" not in kinds.values() and "other" not in kinds.values() and not any(
        t.split("(")[0] == "BOOLEAN" for t in types.values())
    numeric = numeric or (set(kinds.values()) == {"numeric", "text"})
    stats: dict[str, Any] = {}
    present: dict[str, int] = {}
    for side in sides:
        counts = missing[side][name] if missing else source.missing_codes(name, side)
        total = sum(counts.values())
        kinds_missing = {labels.MISSING_KINDS[c]: n for c, n in sorted(counts.items()) if c}
        present[side] = counts.get(0, 0)
        stats[side] = {"rows": total, "missing": kinds_missing,
                       "missing_share": (sum(kinds_missing.values()) / total) if total else None}
    if not numeric:
        data = driftlib.ColumnData(name, False, ref_counts=source.categories(name, "reference"),
                                   cur_counts=source.categories(name, "current"))
        return data, stats
    lenient = {side: kinds[side] != "numeric" for side in sides}

    def current_bins(cuts: Any, masses: Any) -> Any:  # noqa: ANN401 - NumPy arrays
        return source.bin_counts(name, "current", cuts.tolist(), masses.tolist(), lenient=lenient["current"])

    reference = source.numbers(name, "reference", lenient=lenient["reference"])
    data = driftlib.ColumnData(name, True, reference, None, current_bins=current_bins,
                               current_rows=present["current"])
    if driftlib.needs_current_values(data, check.drift, check.bins):
        # PSI and Jensen-Shannon on reference-quantile bins need only the counts per bin, counted where the data
        # lives; chi-square, the z-test and few-valued columns their counts per distinct value, counted there too
        # (up to MAX_COUNTED_VALUES of them); KS and Wasserstein the values themselves
        counted = (source.value_counts(name, "current", lenient=lenient["current"],
                                       limit=driftlib.MAX_COUNTED_VALUES)
                   if driftlib.value_counts_suffice(data, check.drift) else None)
        if counted is not None:
            data = replace(data, cur_value_counts=counted)
        else:
            current = source.numbers(name, "current", lenient=lenient["current"])
            data = driftlib.ColumnData(name, True, reference, current)
    return data, stats


def _counted_per_bin(data: driftlib.ColumnData) -> bool:
    """Whether a column's current values stay where the data lives and are counted per reference bin."""
    return bool(data.numeric and data.current is None and data.reference.size and data.cur_size)


def _binned_together(source: StatisticsSource, check: DriftCheck,
                     read: list[tuple[driftlib.ColumnData, dict[str, Any], bool]]) -> list[driftlib.ColumnData]:
    """The columns whose current values stay where the data lives, counted per reference-quantile bin in one scan
    for all of them (instead of one scan each); each column's ``current_bins`` then returns its counts."""
    waiting = [k for k, (data, _stats, _lenient) in enumerate(read) if _counted_per_bin(data)]
    columns = [data for data, _stats, _lenient in read]
    if not waiting:
        return columns
    cuts = {k: driftlib.reference_cuts(read[k][0].reference, check.bins) for k in waiting}
    counted = source.bin_counts_many([(read[k][0].name, cuts[k][0].tolist(), cuts[k][1].tolist(), read[k][2])
                                      for k in waiting], "current")
    for k, counts in zip(waiting, counted, strict=True):
        data, (edges, masses) = read[k][0], cuts[k]
        fallback = data.current_bins

        def known(c: Any, m: Any, _e: Any = edges, _m: Any = masses, _n: Any = counts,  # noqa: ANN401
                  _f: Any = fallback) -> Any:  # noqa: ANN401
            same = np.array_equal(c, _e) and np.array_equal(m, _m)
            return _n if same else _f(c, m)

        columns[k] = replace(data, current_bins=known)
    return columns


def _read_column(ev: Evaluator, check: DriftCheck, name: str, missing: dict[Side, dict[str, dict[int, int]]],
                 source: StatisticsSource) -> tuple[driftlib.ColumnData, dict[str, Any], bool]:
    """:func:`column_data`, and whether the current values are read leniently (text holding numbers)."""
    data, stats = column_data(ev, check, name, missing, source)
    return data, stats, labels.column_kind(ev.columns[name]).kind != "numeric"


def _column_entry(ev: Evaluator, check: DriftCheck, data: driftlib.ColumnData,
                  stats: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """One column's drift result, and whether it is untestable (no rows or no present values on a side)."""
    ref_share, cur_share = stats["reference"]["missing_share"], stats["current"]["missing_share"]
    entry: dict[str, Any] = {"reference": stats["reference"], "current": stats["current"],
                             "type": "numeric" if data.numeric else "categorical"}
    if ref_share is None or cur_share is None:
        side = "reference" if ref_share is None else "current"
        entry.update({"method": None, "drifted": None, "reason": f"the {side} data has no rows"})
        return entry, True
    change = cur_share - ref_share
    missing_drift = abs(change) > check.max_missing_share_change
    entry["missing_share_change"] = change
    entry["missing_drifted"] = missing_drift
    ref_n = data.ref_size
    cur_n = data.cur_size
    if ref_n == 0 or cur_n == 0:
        empty = [side for side, n in (("reference", ref_n), ("current", cur_n)) if n == 0]
        why = " and ".join(f"the {side} data" for side in empty)
        entry.update({"method": None, "reason": f"no present values in {why}: every value is missing or "
                                                "non-finite"})
        if missing_drift:
            entry["drifted"] = True
            entry["reason"] += (f"; the missing share changed from {ref_share:.4f} to {cur_share:.4f}, "
                                f"more than {check.max_missing_share_change}")
            return entry, False
        entry["drifted"] = None
        return entry, True
    ops: dict[str, Any]
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
    op, threshold_field = op_fields(ops)
    entry.update({"method": method, **{k: m.finite(v) for k, v in stat.items()},
                  "compared": "p_value" if "p_value" in stat else "statistic",
                  "operator": op, "threshold": threshold_field, "distribution_drifted": not ok,
                  "drifted": (not ok) or missing_drift,
                  "distribution": driftlib.distribution(data, check.bins)})
    if missing_drift:
        entry["reason"] = (f"the missing share changed from {ref_share:.4f} to {cur_share:.4f}, more than "
                           f"{check.max_missing_share_change}")
    return entry, False


def drift_check(ev: Evaluator, check: DriftCheck) -> CheckResult:
    if not ev.ref_columns:
        raise BadInput(f"check {check.id}: drift needs reference data (the model's training data, or --reference)")
    columns = drift_columns(ev, check)
    per_column: dict[str, Any] = {}
    untestable: list[str] = []
    sides: tuple[Side, Side] = ("reference", "current")
    missing = {side: ev.source.missing_code_counts(columns, side) for side in sides}  # one scan per side
    source = _Serialized(ev.source)

    def read_and_measure(name: str) -> tuple[tuple[driftlib.ColumnData, dict[str, Any], bool],
                                               tuple[dict[str, Any], bool] | None]:
        read = _read_column(ev, check, name, missing, source)
        # a column whose current values stay where the data lives waits for the shared bin count; the others are
        # measured now, while the other worker reads the next column
        return read, None if _counted_per_bin(read[0]) else _column_entry(ev, check, read[0], read[1])

    with ThreadPoolExecutor(max_workers=DRIFT_WORKERS, thread_name_prefix="drift") as pool:
        # the data is read one statement at a time (the source is not thread-safe); sorting and the statistics
        # (NumPy and scipy, which release the GIL) of one column run while the next one is read
        first = list(pool.map(read_and_measure, columns))
        read = [r for r, _entry in first]
        measured = _binned_together(source, check, read)
        done = list(pool.map(lambda k: first[k][1] or _column_entry(ev, check, measured[k], read[k][1]),
                             range(len(columns))))
    for name, (entry, untestable_column) in zip(columns, done, strict=True):
        per_column[name] = entry
        if untestable_column:
            untestable.append(name)
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
    result = check_result(check, f"drift:{check.drift}", share, {"lte": check.max_drifted_share}, details,
                          force_fail=bool(untestable) or not columns)
    result["metric"] = f"drifted_share ({check.drift})"
    return result


def explain_check(ev: Evaluator, check: ExplainCheck) -> CheckResult:
    model = ev.inputs.model
    if model is None:
        return check_result(check, "shap_top_features", None, {},
                            {"reason": "an external model has no artifact to explain"}, force_fail=True)
    if ev.importance is None or ev.importance.get("requested_sample_size", 0) < check.sample_size:
        from core.evaluation.explain import ExplanationError, importance

        features = ev.inputs.feature_names or [c for c in ev.columns if c != ev.inputs.label]
        n = min(ev.rows, max(check.sample_size, 200) * 2)
        frame = ev.source.sample(features, n, seed=7)
        positive = (labels.display(ev.score_positive) if ev.score_positive is not None
                    else ev.declared_positive)
        try:
            ev.importance = importance(model, frame, check.sample_size, feature_names=ev.inputs.feature_names
                                       or None, positive_class=positive)
        except ExplanationError as exc:
            return check_result(check, "shap_top_features", None, {}, {"reason": f"cannot explain: {exc}"},
                                force_fail=True)
        except Exception as exc:  # noqa: BLE001 - report, do not crash, when a model cannot be explained
            return check_result(check, "shap_top_features", None, {}, {"reason": f"SHAP failed: {exc}"},
                                force_fail=True)
    ranked = list(ev.importance["importance"])
    top = ranked[: check.top_k]
    violations = [f for f in check.must_not_include if f in top]
    details = {"top_features": top, "must_not_include": check.must_not_include, "violations": violations,
               "not_model_inputs": [f for f in check.must_not_include if f not in ranked], **ev.importance}
    result = check_result(check, "shap_top_features", len(violations), {"eq": 0}, details)
    result["operator"], result["threshold"] = "must_not_include", check.must_not_include
    return result


def documentation_check(ev: Evaluator, check: DocumentationCheck) -> CheckResult:
    card = ev.inputs.card or {}
    missing = [s for s in check.required if not present(card.get(s))]
    details = {"required": check.required, "missing": missing, "card_present": bool(card)}
    result = check_result(check, "model_card", len(missing), {"eq": 0}, details)
    result["operator"], result["threshold"] = "requires", check.required
    return result


def data_quality_check(ev: Evaluator, check: DataQualityCheck) -> CheckResult:
    if check.data_quality == "missing_rate":
        columns = drift_columns(ev, check, need_reference=False)
        counted = ev.source.missing_by_column(columns) if columns else None
        total = (counted.rows if counted else 0) or 1
        rates = {c: counted.missing[c] / total for c in columns} if counted else {}
        ops = check.operators()
        failing = sorted(c for c, r in rates.items() if not compare(r, ops))
        worst = max(rates.values()) if rates else 0.0
        details = {"missing_rate": rates, "failing_columns": failing}
        return check_result(check, "missing_rate", worst, ops, details, force_fail=bool(failing))
    expected = {c["name"]: c["type"] for c in (ev.inputs.training_schema or [])}
    missing = sorted(c for c in expected if c not in ev.columns)
    mismatched = sorted(c for c in expected if c in ev.columns and ev.columns[c] != expected[c])
    details = {"missing_columns": missing, "type_mismatches": {c: {"expected": expected[c],
                                                                   "actual": ev.columns[c]} for c in mismatched}}
    return check_result(check, "schema_match", len(missing) + len(mismatched), {"eq": 0}, details)
