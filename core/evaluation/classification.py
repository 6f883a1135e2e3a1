"""The label domain of classification checks: which rows a check may use, the classes, the positive class and the
confusion matrix, from the counts of :meth:`core.evaluation.engine.Evaluator.table` — and the refusals scikit-learn
would make (missing values, continuous targets, a mix of label types, an undeclared positive class)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.evaluation import labels
from core.evaluation.checks import Failed
from core.evaluation.statistics import PREDICTION
from core.policy.rules import MetricCheck

if TYPE_CHECKING:
    from core.evaluation.engine import Evaluator

__all__ = ["REST", "classes_of", "confusion", "discrete", "keys_of", "kinds_agree", "positive", "usable"]

#: The prediction class "anything but the positive class" when a score threshold decides.
REST = "<not the positive class>"


def classes_of(counts: dict[Any, int]) -> dict[str, int]:
    """Class counts for the stored result (JSON keys), most frequent first."""
    return {str(k): n for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def keys_of(matrix: dict[tuple[Any, Any], int]) -> dict[Any, int]:
    """Rows per class of a confusion matrix (labels and predictions together, the rest class left out)."""
    out: dict[Any, int] = {}
    for (y, p), n in matrix.items():
        out[y] = out.get(y, 0) + n
        if p is not REST:
            out[p] = out.get(p, 0) + n
    return out


def discrete(check: Any, classes: dict[Any, int], what: str) -> None:  # noqa: ANN401
    """Refuse non-integer numbers as class labels: scikit-learn calls such a target 'continuous'."""
    odd = {k: n for k, n in classes.items() if isinstance(k, float) and not k.is_integer()}
    if odd:
        raise BadInput(f"check {check.id}: {what} holds numbers that are not whole "
                       f"({labels.describe_counts(odd)}): a continuous target has no classes (scikit-learn refuses "
                       "it for classification metrics); use rmse, mae or r2, or map the values to class codes")


def usable(ev: Evaluator, check: Any, rows: list[dict[str, Any]], needs: tuple[str, ...],  # noqa: ANN401
           groups: list[str] | tuple[str, ...] = ()) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows a check can use, and what was excluded; missing values are refused unless ``missing: drop``."""
    names = ev.column_names()
    excluded: dict[str, dict[str, int]] = {}
    kept = []
    total = 0
    for r in rows:
        total += r["n"]
        bad = [(names[role], r[code]) for role, code in (("label", "ym"), ("prediction", "pm"), ("score", "sm"))
               if role in needs and r[code]]
        bad += [(f"sensitive feature {g!r}", code) for g, code in zip(groups, r.get("gm", ()), strict=True)
                if code]
        if not bad:
            kept.append(r)
            continue
        for column, code in bad:
            kinds = excluded.setdefault(column, {})
            kinds[labels.MISSING_KINDS[code]] = kinds.get(labels.MISSING_KINDS[code], 0) + r["n"]
    dropped = sum(r["n"] for r in rows) - sum(r["n"] for r in kept)
    if excluded and getattr(check, "missing", "refuse") == "refuse":
        listed = "; ".join(f"{column} has " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
                           for column, kinds in excluded.items())
        raise BadInput(f"check {check.id}: {listed} (of {total} rows); scikit-learn refuses missing and "
                       f"non-finite input. Fix the data, or set 'missing: drop' on the check to exclude those "
                       f"rows and count them in the result")
    info = {"rows": total, "used": total - dropped, "dropped": dropped,
            "dropped_because": {c: dict(sorted(k.items())) for c, k in excluded.items()}}
    if total and not info["used"] and isinstance(check, MetricCheck):
        raise Failed(f"no rows left to measure: all {total} were dropped for missing or non-finite values",
                     {"data": info})
    return kept, info


def kinds_agree(ev: Evaluator, check: Any) -> None:  # noqa: ANN401
    """Refuse labels and predictions of different kinds (text vs numbers), as scikit-learn does."""
    if not ev.has_prediction:
        return
    a, b = ev.kind(ev.inputs.label), ev.kind(PREDICTION)
    if a != b or a == "other":
        names = ev.column_names()
        y = ev.sample_values(ev.inputs.label)
        p = ev.sample_values(PREDICTION)
        hint = (" (dates, lists and structures are not class labels)" if "other" in (a, b) else "")
        raise BadInput(f"check {check.id}: {names['label']} holds {a} values ({y}) but {names['prediction']} "
                       f"hold {b} values ({p}){hint}; scikit-learn refuses a mix of label input types")


def positive(ev: Evaluator, check: Any, classes: dict[Any, int], where: str,  # noqa: ANN401
             seen: str | None = None) -> labels.PositiveClass:
    """The positive class among ``classes`` (declared, or scikit-learn's 1), else the refusal."""
    numeric = all(isinstance(c, int | float) for c in classes) if classes else (
        ev.kind(ev.inputs.label) == "numeric")
    try:
        return labels.resolve_positive(ev.declared_positive, classes, numeric, what=f"check {check.id}",
                                       where=where, seen=seen)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def confusion(ev: Evaluator, check: Any, rows: list[dict[str, Any]],  # noqa: ANN401
              decision: tuple[str, float | None], need_positive: bool
              ) -> tuple[dict[tuple[Any, Any], int], labels.PositiveClass | None, dict[str, Any]]:
    """The ``{(label, prediction): rows}`` matrix of usable rows, the positive class if needed, and a summary."""
    mode, t = decision
    names = ev.column_names()
    label_classes: dict[Any, int] = {}
    for r in rows:
        label_classes[r["y"]] = label_classes.get(r["y"], 0) + r["n"]
    info: dict[str, Any] = {"label_classes": classes_of(label_classes)}
    discrete(check, label_classes, names["label"])
    pos: labels.PositiveClass | None
    if mode == "prediction":
        kinds_agree(ev, check)
        pred_classes: dict[Any, int] = {}
        for r in rows:
            pred_classes[r["p"]] = pred_classes.get(r["p"], 0) + r["n"]
        discrete(check, pred_classes, names["prediction"])
        info["prediction_classes"] = classes_of(pred_classes)
        union = labels.union_counts(label_classes.items(), pred_classes.items())
        seen = (f"{names['label']}: {labels.describe_counts(label_classes)}; {names['prediction']}: "
                f"{labels.describe_counts(pred_classes)}")
        pos = (positive(ev, check, union, f"{names['label']} and {names['prediction']}", seen)
               if need_positive else None)
        matrix: dict[tuple[Any, Any], int] = {}
        for r in rows:
            matrix[(r["y"], r["p"])] = matrix.get((r["y"], r["p"]), 0) + r["n"]
        info["decision"] = "the model's predictions" if not ev.inputs.prediction_column else (
            f"the predictions in column {ev.inputs.prediction_column!r}")
    else:
        pos = positive(ev, check, label_classes, names["label"],
                       f"{names['label']}: {labels.describe_counts(label_classes)}")
        matrix = {}
        for r in rows:
            hit = r["ge"][t]
            for p, n in ((pos.key, hit), (REST, r["n"] - hit)):
                if n:
                    matrix[(r["y"], p)] = matrix.get((r["y"], p), 0) + n
        info["decision"] = f"score >= {t}"
    classes = {y for y, _ in matrix} | {p for _, p in matrix if p is not REST}
    info["task"] = "binary" if len(classes | ({pos.key} if pos else set())) <= 2 else "multiclass"
    if pos is not None:
        info["positive_class"] = pos.shown
        info["positive_class_declared"] = pos.declared
        if info["task"] == "multiclass" or mode == "threshold":
            info["one_vs_rest"] = info["task"] == "multiclass"
    return matrix, pos, info
