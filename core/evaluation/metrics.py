"""Performance and group-fairness metrics from sufficient statistics.

Classification metrics follow scikit-learn's definitions (a zero denominator gives 0, as with
``zero_division=0``); fairness metrics follow fairlearn's (``MetricFrame.difference(method="between_groups")`` is
max minus min over groups, ``ratio`` is min over max; ``equalized_odds_*`` take the worse of the true- and
false-positive-rate disparities; ``equal_opportunity_*`` is the true-positive-rate disparity). All of them are
computed from per-group confusion counts, which DuckDB produces in one ``GROUP BY`` pass over any number of rows.

A value whose denominator is zero on the data given (recall without actual positives, a false-positive rate without
actual negatives, ROC AUC on one class, R² on a constant target, anything on no rows) is **undefined**: scikit-learn
returns a conventional number with a warning (``zero_division``, ``force_finite``); Countersign raises
:class:`Undefined` with the reason and the check fails — a conventional 0 or 1 never passes a check.

Multiclass metrics follow scikit-learn over the union of label and prediction classes: accuracy is exact match,
balanced accuracy the mean recall over the classes present in the labels, and precision, recall and F1 take
scikit-learn's ``average`` (``micro`` pools the counts; ``macro`` is the unweighted mean over classes; ``weighted``
weighs each class by its number of true rows, so classes without true rows do not count).

Score metrics are exact, computed from per-distinct-score counts summed in the engine
(:class:`~core.evaluation.statistics.ScoreRanking`; ties are handled as scikit-learn does):

* ROC AUC — the Mann-Whitney statistic: P(score of a positive > score of a negative) + ½ P(tie);
* average precision — ``Σ (R_k − R_{k−1}) P_k`` over descending distinct thresholds (scikit-learn's definition);
* log loss — mean of ``−[y ln p + (1−y) ln(1−p)]`` with ``p`` clipped to ``[ε, 1−ε]``, ``ε`` = float64 machine epsilon;
* Brier score — mean of ``(p − y)²``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.evaluation.statistics import ScoreRanking

EPS = 2.220446049250313e-16


@dataclass(frozen=True)
class Counts:
    """Confusion counts of one group (or of everything)."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn


class Undefined(ValueError):  # noqa: N818 - a value, not a failure of the program
    """A metric whose value is undefined on the data given; the message is the reason the check fails."""


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


#: Each confusion rate's denominator and what its being zero means.
_DENOMINATORS: dict[str, tuple[Any, str]] = {
    "selection_rate": (lambda c: c.n, "no rows"),
    "accuracy": (lambda c: c.n, "no rows"),
    "balanced_accuracy": (lambda c: c.n, "no rows"),
    "precision": (lambda c: c.tp + c.fp, "no predicted positives"),
    "recall": (lambda c: c.tp + c.fn, "no actual positives"),
    "true_positive_rate": (lambda c: c.tp + c.fn, "no actual positives"),
    "false_negative_rate": (lambda c: c.tp + c.fn, "no actual positives"),
    "false_positive_rate": (lambda c: c.fp + c.tn, "no actual negatives"),
    "true_negative_rate": (lambda c: c.fp + c.tn, "no actual negatives"),
    "f1": (lambda c: 2 * c.tp + c.fp + c.fn, "no actual and no predicted positives"),
}


def undefined_reason(c: Counts, rate: str) -> str | None:
    """Why ``rate`` is undefined on these counts (its denominator is zero), or ``None`` when it is defined."""
    denominator, why = _DENOMINATORS[rate]
    return None if denominator(c) else f"{rate} is undefined: {why}"


def defined_rate(c: Counts, rate: str) -> float:
    """One confusion rate, or :class:`Undefined` when its denominator is zero."""
    reason = undefined_reason(c, rate)
    if reason:
        raise Undefined(reason)
    return rates(c)[rate]


def binary_counts(matrix: dict[tuple[Any, Any], int], positive: Any) -> Counts:  # noqa: ANN401
    """Positive-versus-rest confusion counts from a ``{(label, prediction): rows}`` matrix."""
    tp = fp = tn = fn = 0
    for (y, p), n in matrix.items():
        if y == positive:
            tp, fn = (tp + n, fn) if p == positive else (tp, fn + n)
        else:
            fp, tn = (fp + n, tn) if p == positive else (fp, tn + n)
    return Counts(tp, fp, tn, fn)


def multiclass_metric(name: str, matrix: dict[tuple[Any, Any], int], average: str | None = None) -> float:
    """accuracy, balanced_accuracy, or precision/recall/f1 with ``average`` in micro, macro, weighted.

    ``matrix`` maps ``(label, prediction)`` to a row count; the classes are every label and prediction in it
    (scikit-learn's ``unique_labels``). Raises :class:`Undefined` on no rows, or when a class that counts in the
    average has a zero denominator (scikit-learn would count it as 0 with a warning).
    """
    total = sum(matrix.values())
    if not total:
        raise Undefined(f"{name} is undefined: no rows")
    classes = sorted({y for y, _ in matrix} | {p for _, p in matrix}, key=lambda v: (str(type(v)), v))
    diagonal = {c: matrix.get((c, c), 0) for c in classes}
    true_sum = {c: sum(n for (y, _), n in matrix.items() if y == c) for c in classes}
    pred_sum = {c: sum(n for (_, p), n in matrix.items() if p == c) for c in classes}
    if name == "accuracy" or (name in ("precision", "recall", "f1") and average == "micro"):
        return sum(diagonal.values()) / total
    if name == "balanced_accuracy":
        present = [c for c in classes if true_sum[c]]
        return sum(diagonal[c] / true_sum[c] for c in present) / len(present)
    if average not in ("macro", "weighted"):
        raise ValueError(f"{name} needs average micro, macro or weighted on multiclass data")
    per_class: dict[Any, float | None] = {}
    for c in classes:
        denominator = {"precision": pred_sum[c], "recall": true_sum[c], "f1": pred_sum[c] + true_sum[c]}[name]
        per_class[c] = (2 if name == "f1" else 1) * diagonal[c] / denominator if denominator else None
    weights = {c: (1 if average == "macro" else true_sum[c]) for c in classes}
    undefined = [c for c in classes if per_class[c] is None and weights[c]]
    if undefined:
        why = "no predicted rows" if name == "precision" else "no true rows"
        raise Undefined(f"{name} ({average}) is undefined: class(es) {', '.join(repr(c) for c in undefined)} have "
                        f"{why}")
    return sum(weights[c] * (per_class[c] or 0.0) for c in classes) / sum(weights.values())


def rates(c: Counts) -> dict[str, float]:
    """Every confusion-derived rate of one group, by fairlearn / scikit-learn name."""
    tpr, tnr = _div(c.tp, c.tp + c.fn), _div(c.tn, c.tn + c.fp)
    positives_present, negatives_present = (c.tp + c.fn) > 0, (c.tn + c.fp) > 0
    present = [r for r, ok in ((tpr, positives_present), (tnr, negatives_present)) if ok]
    return {
        "selection_rate": _div(c.tp + c.fp, c.n),
        "accuracy": _div(c.tp + c.tn, c.n),
        "balanced_accuracy": sum(present) / len(present) if present else 0.0,
        "precision": _div(c.tp, c.tp + c.fp),
        "recall": tpr,
        "f1": _div(2 * c.tp, 2 * c.tp + c.fp + c.fn),
        "true_positive_rate": tpr,
        "false_positive_rate": _div(c.fp, c.fp + c.tn),
        "true_negative_rate": tnr,
        "false_negative_rate": _div(c.fn, c.fn + c.tp),
    }


#: fairness metric -> the group rates whose disparity it measures, and how (difference or ratio).
NAMED: dict[str, tuple[tuple[str, ...], str]] = {
    "demographic_parity_difference": (("selection_rate",), "difference"),
    "demographic_parity_ratio": (("selection_rate",), "ratio"),
    "equalized_odds_difference": (("true_positive_rate", "false_positive_rate"), "difference"),
    "equalized_odds_ratio": (("true_positive_rate", "false_positive_rate"), "ratio"),
    "equal_opportunity_difference": (("true_positive_rate",), "difference"),
    "equal_opportunity_ratio": (("true_positive_rate",), "ratio"),
    "false_positive_rate_difference": (("false_positive_rate",), "difference"),
    "false_negative_rate_difference": (("false_negative_rate",), "difference"),
}


def fairness_definition(name: str) -> tuple[tuple[str, ...], str]:
    if name in NAMED:
        return NAMED[name]
    rate, _, kind = name.rpartition("_")
    return (rate,), kind


def disparity(values: list[float], kind: str) -> float:
    """fairlearn's between-groups aggregation of one rate: max − min, or min / max."""
    hi, lo = max(values), min(values)
    if kind == "difference":
        return hi - lo
    return lo / hi if hi else math.nan


def fairness_value(name: str, group_rates: dict[str, dict[str, float]]) -> float:
    """The fairness metric over the given groups (equalized odds: worst of its two rates)."""
    metrics, kind = fairness_definition(name)
    parts = [disparity([r[m] for r in group_rates.values()], kind) for m in metrics]
    return max(parts) if kind == "difference" else min(parts)


#: Most points of a stored ROC curve (the curve through every distinct score is thinned to this many).
MAX_ROC_POINTS = 200


def roc_auc(ranking: ScoreRanking) -> float:
    """ROC AUC = twice the wins / (2·P·N), exact in integers until the one division (NaN without both classes)."""
    if not (ranking.positives and ranking.negatives):
        return math.nan
    return ranking.twice_wins / (2 * ranking.positives * ranking.negatives)


def average_precision(ranking: ScoreRanking) -> float:
    """Average precision = Σ_k (R_k − R_{k−1}) · precision_k = Σ_k pos_k · precision_k / P (NaN without positives)."""
    return ranking.precision_sum / ranking.positives if ranking.positives else math.nan


def roc_curve(ranking: ScoreRanking) -> dict[str, Any]:
    """The ROC curve as scikit-learn's ``roc_curve(drop_intermediate=False)``: the point (0, 0), then one point per
    distinct score taken as the threshold from the highest down — ``fpr``, ``tpr`` of predicting positive when score
    ≥ threshold — thinned to the points the ranking kept (``points_of`` says how many there were). Returns
    ``{"fpr": [...], "tpr": [...], "points_of": n}`` (rates rounded to 6 decimals)."""
    p, n = ranking.positives, ranking.negatives
    return {"fpr": [round(fp / n, 6) if n else 0.0 for _, _, fp in ranking.curve],
            "tpr": [round(tp / p, 6) if p else 0.0 for _, tp, _ in ranking.curve],
            "points_of": ranking.distinct + 1}


def finite(value: Any) -> Any:  # noqa: ANN401
    """JSON-safe: NaN and infinities become ``None``."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value
