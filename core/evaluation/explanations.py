"""Numbers that explain themselves: what each metric means, the rule a check holds it to, and the result, in words.

The model card page (and anything else that shows an evaluation to a person) reads an evaluation's stored checks
through this module, so a reviewer never has to read JSON or a policy's operators:

* :data:`METRICS`, :data:`RATES` and :data:`DRIFT_METHODS` define every metric a policy can name, in plain
  language, with its formula and the reference implementation it follows (scikit-learn, fairlearn, SciPy,
  Evidently's conventions);
* :func:`check_sentence` states one check as a sentence — "ROC AUC 0.9243 — must be at least 0.8000: passes" —
  with operators in words, numbers to 4 decimals (:func:`core.evidence.report.number`, the regulator report's rounding)
  and
  no ``None`` or Python list anywhere;
* :func:`fairness_bands` gives, per rate a fairness metric compares, each group's rate, the band the rule allows
  around the reference (the highest group) and which rate binds; :func:`drift_rows`, :func:`confusion_cells` and
  :func:`roc_points` turn the stored details into rows a chart or a table shows.

Formatting is shared with the regulator report (:func:`core.evidence.report.number`, :func:`core.evidence.report.when`,
:func:`core.evidence.report.human`, :func:`core.evidence.report.rule_words`): the app and the PDF say the same thing
the same way.
Nothing here imports Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.display.words import OPERATOR_WORDS, SEVERITY_WORDS, human, number, role_words, rule_words, when
from core.evaluation.metrics import NAMED, disparity, fairness_definition

__all__ = ["DRIFT_METHODS", "METRICS", "RATES", "Definition", "RateBand", "check_sentence", "check_value",
           "confusion_cells", "definition", "drift_distribution", "drift_rows", "fairness_bands", "fairness_summary",
           "human", "metric_label", "number", "operator_words", "role_words", "roc_points", "rule_text",
           "verdict_words", "when"]


@dataclass(frozen=True)
class Definition:
    """What a metric is: its name in words, its meaning, its formula, the reference it follows, and which way is
    better (``"higher"``, ``"lower"`` or ``""`` when neither)."""

    label: str
    meaning: str
    formula: str
    reference: str
    better: str = ""


#: Performance metrics (policy ``metric:``), by the id a policy uses.
METRICS: dict[str, Definition] = {
    "accuracy": Definition(
        "Accuracy", "The share of rows the model classifies correctly.",
        "(TP + TN) / all rows", "scikit-learn sklearn.metrics.accuracy_score", "higher"),
    "balanced_accuracy": Definition(
        "Balanced accuracy", "The average of the recall of each class, so that a rare class counts as much as a "
        "common one.", "(TP / (TP + FN) + TN / (TN + FP)) / 2 for two classes",
        "scikit-learn sklearn.metrics.balanced_accuracy_score", "higher"),
    "precision": Definition(
        "Precision", "Of the rows the model calls positive, the share that really are positive.",
        "TP / (TP + FP)", "scikit-learn sklearn.metrics.precision_score", "higher"),
    "recall": Definition(
        "Recall (true-positive rate)", "Of the rows that really are positive, the share the model finds.",
        "TP / (TP + FN)", "scikit-learn sklearn.metrics.recall_score", "higher"),
    "f1": Definition(
        "F1 score", "The harmonic mean of precision and recall: high only when both are high.",
        "2 TP / (2 TP + FP + FN)", "scikit-learn sklearn.metrics.f1_score", "higher"),
    "roc_auc": Definition(
        "ROC AUC", "The probability that the model scores a randomly chosen positive row above a randomly chosen "
        "negative one (0.5 is chance, 1 is perfect ranking): the area under the ROC curve.",
        "P(score of a positive > score of a negative) + ½ P(tie)", "scikit-learn sklearn.metrics.roc_auc_score",
        "higher"),
    "average_precision": Definition(
        "Average precision", "The precision averaged over every recall level the model's scores reach: the area "
        "under the precision-recall curve.", "Σ (Rₖ − Rₖ₋₁) Pₖ over descending score thresholds",
        "scikit-learn sklearn.metrics.average_precision_score", "higher"),
    "log_loss": Definition(
        "Log loss", "How far the predicted probabilities are from the true outcomes, punishing confident mistakes "
        "most (0 is perfect).", "mean of −[y ln p + (1 − y) ln(1 − p)]", "scikit-learn sklearn.metrics.log_loss",
        "lower"),
    "brier": Definition(
        "Brier score", "The mean squared difference between the predicted probability and the true outcome "
        "(0 is perfect).", "mean of (p − y)²", "scikit-learn sklearn.metrics.brier_score_loss", "lower"),
    "rmse": Definition(
        "Root mean squared error", "The typical size of a prediction error, in the target's unit; large errors "
        "weigh more.", "√(mean of (y − ŷ)²)", "scikit-learn sklearn.metrics.root_mean_squared_error", "lower"),
    "mae": Definition(
        "Mean absolute error", "The average size of a prediction error, in the target's unit.",
        "mean of |y − ŷ|", "scikit-learn sklearn.metrics.mean_absolute_error", "lower"),
    "r2": Definition(
        "R²", "The share of the target's variance the model explains (1 is perfect, 0 is no better than "
        "predicting the mean).", "1 − Σ (y − ŷ)² / Σ (y − ȳ)²", "scikit-learn sklearn.metrics.r2_score",
        "higher"),
    "model_card": Definition(
        "Documentation", "Whether the model card fills in every section the policy requires. The value is the "
        "number of required sections that are missing, so 0 means the card is complete.",
        "number of required sections that are empty or absent", "Mitchell et al., Model Cards for Model "
        "Reporting (2019); EU AI Act Annex IV", "lower"),
    "shap_top_features": Definition(
        "Protected features among the most important", "How many of the features the policy forbids (for "
        "example sex or race, or their proxies) are among the model's most important features, ranked by mean "
        "absolute SHAP value. 0 means none is.", "count of forbidden features in the top k by mean |SHAP value|",
        "SHAP (Lundberg and Lee, 2017), shap.Explainer", "lower"),
    "missing_rate": Definition(
        "Missing values", "The highest share of missing values in any checked column of the evaluation data.",
        "max over columns of missing rows / all rows", "Evidently's ColumnMissingValuesCount convention", "lower"),
    "schema_match": Definition(
        "Schema match", "How many columns of the training data are missing from the evaluation data or have "
        "another type. 0 means the schemas match.", "missing columns + columns of another type",
        "the training data's schema as recorded at registration (DuckDB column types)", "lower"),
}

#: Group rates a fairness metric compares (fairlearn's names): label, meaning, formula.
RATES: dict[str, tuple[str, str, str]] = {
    "selection_rate": ("selection rate", "the share of the group the model selects (predicts positive)",
                       "(TP + FP) / rows"),
    "accuracy": ("accuracy", "the share of the group classified correctly", "(TP + TN) / rows"),
    "balanced_accuracy": ("balanced accuracy", "the average recall of the classes in the group",
                          "(TPR + TNR) / 2"),
    "precision": ("precision", "of the group's rows predicted positive, the share that are positive",
                  "TP / (TP + FP)"),
    "recall": ("recall", "of the group's positive rows, the share the model finds", "TP / (TP + FN)"),
    "f1": ("F1 score", "the harmonic mean of the group's precision and recall", "2 TP / (2 TP + FP + FN)"),
    "true_positive_rate": ("true-positive rate", "of the group's positive rows, the share predicted positive",
                           "TP / (TP + FN)"),
    "false_positive_rate": ("false-positive rate", "of the group's negative rows, the share wrongly predicted "
                            "positive", "FP / (FP + TN)"),
    "true_negative_rate": ("true-negative rate", "of the group's negative rows, the share predicted negative",
                           "TN / (TN + FP)"),
    "false_negative_rate": ("false-negative rate", "of the group's positive rows, the share wrongly predicted "
                            "negative", "FN / (FN + TP)"),
}

_FAIRNESS_NAMES = {
    "demographic_parity": "Demographic parity", "equalized_odds": "Equalized odds",
    "equal_opportunity": "Equal opportunity",
}

#: Drift methods: label, what is compared, meaning, reference.
DRIFT_METHODS: dict[str, Definition] = {
    "psi": Definition("Population stability index", "How much the share of rows in each bin (or category) moved "
                      "between the reference and the current data; above 0.2 is usually read as a significant "
                      "shift.", "Σ (cur − ref) ln(cur / ref) over bins", "Evidently's PSI drift method", "lower"),
    "ks": Definition("Kolmogorov-Smirnov test", "Whether the two samples could come from the same distribution; "
                     "a small p-value means they differ.", "p-value of the two-sample KS statistic",
                     "SciPy scipy.stats.ks_2samp", "higher"),
    "wasserstein": Definition("Wasserstein distance", "How far the values moved, measured in the reference's "
                              "standard deviations.", "W₁(ref, cur) / std(ref)",
                              "SciPy scipy.stats.wasserstein_distance (normed as in Evidently)", "lower"),
    "jensenshannon": Definition("Jensen-Shannon distance", "How different the two distributions are (0 is "
                                "identical, 1 is disjoint).", "√(JS divergence) of the binned shares",
                                "SciPy scipy.spatial.distance.jensenshannon", "lower"),
    "chisquare": Definition("Chi-square test", "Whether the category shares could be the same in both data sets; "
                            "a small p-value means they differ.", "p-value of Pearson's χ² statistic",
                            "SciPy scipy.stats.chisquare", "higher"),
    "z": Definition("Z-test for proportions", "Whether the share of a binary column's value differs between the "
                    "data sets; a small p-value means it does.", "p-value of the two-proportion z statistic",
                    "Evidently's z-test drift method", "higher"),
    "auto": Definition("Automatic choice", "Each column is tested with the method Evidently would choose for its "
                       "type and size (a test for small samples, a distance for large ones).", "per column",
                       "Evidently's default drift detection", ""),
}

_DRIFT = Definition(
    "Share of drifted columns", "The share of the checked input columns whose distribution in the current data has "
    "moved away from the reference (training) data, each column judged by its own drift test.",
    "drifted columns / tested columns", "Evidently's DatasetDriftMetric (share of drifted columns)", "lower")


def _rate_label(rate: str) -> str:
    return RATES.get(rate, (rate.replace("_", " "), "", ""))[0]


def _fairness(metric: str) -> Definition | None:
    """The definition of a fairness metric (a named one, or ``<rate>_difference`` / ``<rate>_ratio``)."""
    rates, kind = fairness_definition(metric)
    if kind not in ("difference", "ratio") or not all(r in RATES for r in rates):
        return None
    base = metric.rpartition("_")[0]
    named = " and ".join(_rate_label(r) for r in rates)
    label = (f"{_FAIRNESS_NAMES[base]} {kind}" if base in _FAIRNESS_NAMES
             else f"{_rate_label(rates[0]).capitalize()} {kind}")
    per_rate = "; ".join(f"{_rate_label(r)}: {RATES[r][1]} ({RATES[r][2]})" for r in rates)
    if kind == "difference":
        meaning = (f"The gap between the groups' {named}: the highest group's rate minus the lowest's"
                   + (", taking the larger of the two gaps" if len(rates) > 1 else "")
                   + f". 0 means every group is treated alike. Per group, {per_rate}.")
        formula = ("max(" + ", ".join(f"max {_rate_label(r)} − min {_rate_label(r)}" for r in rates) + ")"
                   if len(rates) > 1 else f"max over groups − min over groups of the {named}")
        better = "lower"
    else:
        meaning = (f"The lowest group's {named} divided by the highest group's"
                   + (", taking the smaller of the two ratios" if len(rates) > 1 else "")
                   + f". 1 means every group is treated alike. Per group, {per_rate}.")
        formula = ("min(" + ", ".join(f"min {_rate_label(r)} / max {_rate_label(r)}" for r in rates) + ")"
                   if len(rates) > 1 else f"min over groups / max over groups of the {named}")
        better = "higher"
    function = f"fairlearn.metrics.{metric}" if metric in NAMED else (
        f"fairlearn MetricFrame({rates[0]}).{kind}(method='between_groups')")
    return Definition(label, meaning, formula, function, better)


def definition(metric: str | None) -> Definition:
    """The definition of a check's metric as stored in an evaluation (``roc_auc``, ``equalized_odds_difference``,
    ``drifted_share (psi)``, ``model_card``…); an unknown one is named in words with no definition claimed."""
    name = metric or ""
    if name in METRICS:
        return METRICS[name]
    if name.startswith(("drifted_share", "drift:")):
        return _DRIFT
    fairness = _fairness(name) if name.endswith(("_difference", "_ratio")) else None
    if fairness is not None:
        return fairness
    return Definition(name.replace("_", " ") or "—", "No definition is recorded for this metric.", "—", "—")


def metric_label(metric: str | None) -> str:
    """A metric's name in words (``roc_auc`` is "ROC AUC")."""
    return definition(metric).label


def _names(values: object) -> str:
    return human([str(v).replace("_", " ") for v in values or []]) if isinstance(values, list | tuple) else \
        human(values)


def rule_text(check: dict[str, Any]) -> str:
    """The rule a check holds its value to, as the end of "must …": "be at least 0.8000", "be at most 0.1500",
    "have every required section (intended use, limitations)", "rank none of sex, race among the top 5"."""
    operator, threshold = check.get("operator"), check.get("threshold")
    if operator == "requires":
        return f"leave none of the {len(threshold or [])} required sections missing ({_names(threshold)})"
    if operator == "must_not_include":
        top = (check.get("details") or {}).get("top_features")
        top_k = f"the {len(top)} most important features" if isinstance(top, list) and top else \
            "the most important features"
        return f"rank none of {_names(threshold)} among {top_k}"
    if operator is None:
        return "meet no numeric rule (reported, not judged)"
    return f"be {rule_words(operator, threshold)}"


def check_value(check: dict[str, Any]) -> str:
    """The measured value in words: 4 decimals, "undefined" rather than ``None``, and what a count means (the
    documentation check's "0" is "0 of 7 required sections missing")."""
    value, details, kind = check.get("value"), check.get("details") or {}, check.get("kind")
    if kind == "documentation":
        required = details.get("required") or []
        if not details.get("card_present", True):
            return "no model card"
        missing = details.get("missing") or []
        return (f"{len(missing)} of {len(required)} required sections missing"
                + (f" ({_names(missing)})" if missing else " (the card is complete)"))
    if kind == "explain" and isinstance(value, int):
        violations = details.get("violations") or []
        absent = details.get("not_model_inputs") or []
        return (f"{value} of the forbidden features rank among the most important"
                + (f" ({_names(violations)})" if violations else "")
                + (f"; not a model input, so never ranked: {_names(absent)}" if absent else ""))
    if kind == "drift":
        columns = details.get("columns") or {}
        drifted = sum(1 for c in columns.values() if c.get("drifted"))
        tested = sum(1 for c in columns.values() if c.get("drifted") is not None)
        shown = "undefined" if value is None else number(value)
        return f"{shown} ({drifted} of {tested} tested columns drifted)" if columns else shown
    if kind == "data_quality" and check.get("metric") == "schema_match" and isinstance(value, int):
        return f"{value} column(s) missing or of another type"
    return "undefined" if value is None else number(value)


def verdict_words(check: dict[str, Any]) -> str:
    """"passes", "fails" or "fails (warning only)": the result in words, never by colour alone."""
    if check.get("passed"):
        return "passes"
    severity = str(check.get("severity", "block"))
    return "fails" if severity == "block" else f"fails ({SEVERITY_WORDS.get(severity, severity)})"


def check_sentence(check: dict[str, Any]) -> str:
    """One check in a sentence: "ROC AUC 0.9243 — must be at least 0.8000: passes"; an undefined value says why."""
    label = metric_label(check.get("metric"))
    reason = (check.get("details") or {}).get("reason")
    value = check_value(check)
    numeric = check.get("kind") in ("metric", "fairness", "drift") or check.get("metric") == "missing_rate"
    text = f"{label} {value} — must {rule_text(check)}: {verdict_words(check)}" if numeric else \
        f"{label}: {value} — must {rule_text(check)}: {verdict_words(check)}"
    if check.get("value") is None and reason:
        text += f" ({reason})"
    return text


# ------------------------------------------------------------------------------------------- fairness
@dataclass
class RateBand:
    """One rate a fairness metric compares: each included group's rate, the between-groups disparity, the band the
    rule allows (``low``..``high``; ``None`` when the rule sets no per-group band), the groups outside it, and
    whether this rate binds (sets the metric's value)."""

    rate: str
    label: str
    kind: str
    groups: dict[str, float]
    disparity: float | None
    low: float | None
    high: float | None
    binding: bool
    outside: list[str] = field(default_factory=list)
    band_words: str = ""


def fairness_bands(check: dict[str, Any]) -> list[RateBand]:
    """Per rate of a fairness check (both the true- and false-positive rate for equalized odds): the included
    groups' rates and the band the rule allows around the reference, which is the highest group's rate.

    A difference rule "at most t" allows every group within t below the highest (band [max − t, max]); a ratio
    rule "at least t" allows every group down to t times the highest (band [t · max, max]). A group below the band
    breaks the rule. The binding rate is the one whose disparity is the metric's value (the larger gap, the
    smaller ratio)."""
    details = check.get("details") or {}
    groups = details.get("groups") or {}
    rates, kind = fairness_definition(str(check.get("metric") or ""))
    rates = tuple(details.get("rates") or rates)
    operator, threshold = check.get("operator"), check.get("threshold")
    bands: list[RateBand] = []
    for rate in rates:
        values = {str(g): float(v[rate]) for g, v in groups.items()
                  if v.get("included", True) and isinstance(v.get(rate), int | float)
                  and not isinstance(v.get(rate), bool)}
        spread = disparity(list(values.values()), kind) if len(values) >= 2 else None
        if spread is not None and spread != spread:  # NaN: 0/0 ratio
            spread = None
        low = high = None
        words = "This rule sets no per-group band."
        if values and isinstance(threshold, int | float) and not isinstance(threshold, bool):
            top = max(values.values())
            if kind == "difference" and operator in ("lte", "lt"):
                low, high = max(0.0, top - threshold), top  # no rate is below 0
                words = (f"allowed band {number(low)} to {number(high)}: within {number(threshold)} of the highest "
                         f"group's {_rate_label(rate)}")
            elif kind == "ratio" and operator in ("gte", "gt"):
                low, high = top * threshold, top
                words = (f"allowed band {number(low)} to {number(high)}: at least {number(threshold)} × the highest "
                         f"group's {_rate_label(rate)}")
        outside = sorted(g for g, v in values.items() if low is not None and (v < low - 1e-12))
        bands.append(RateBand(rate, _rate_label(rate), kind, values, spread, low, high, False, outside, words))
    defined = [b for b in bands if b.disparity is not None]
    if defined:
        chosen = (max if kind == "difference" else min)(defined, key=lambda b: b.disparity or 0.0)
        chosen.binding = True
    return bands


def fairness_summary(check: dict[str, Any], bands: list[RateBand]) -> str:
    """Which rate binds, in words: "the false-positive rate gap (0.1234) binds: it is the larger of the two"."""
    binding = next((b for b in bands if b.binding), None)
    if binding is None:
        return "No rate could be compared between groups."
    what = "gap" if binding.kind == "difference" else "ratio"
    if len(bands) == 1:
        return f"The {binding.label} {what} between groups is {number(binding.disparity)}."
    other = "larger" if binding.kind == "difference" else "smaller"
    parts = ", ".join(f"{b.label} {what} {number(b.disparity)}" for b in bands)
    return f"The {binding.label} {what} binds (it is the {other} of the {len(bands)}: {parts})."


# ------------------------------------------------------------------------------------------- drift
def _drift_rule(column: dict[str, Any]) -> str:
    compared = "p-value" if column.get("compared") == "p_value" else "statistic"
    operator = column.get("operator")
    if operator is None:
        return "—"
    return f"{compared} {rule_words(operator, column.get('threshold'))}"


def drift_rows(check: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per column of a drift check, in words and numbers: its type, test, the value compared, the rule,
    whether it drifted (yes, no, or "not tested" with the reason), and the missing share on each side."""
    rows = []
    for name, column in ((check.get("details") or {}).get("columns") or {}).items():
        method = column.get("method")
        compared = column.get("compared")
        value = column.get(compared) if compared else None
        drifted = column.get("drifted")
        ref, cur = column.get("reference") or {}, column.get("current") or {}
        rows.append({
            "feature": str(name),
            "type": column.get("type") or "—",
            "test": DRIFT_METHODS[method].label if method in DRIFT_METHODS else (method or "not tested"),
            "compared": "p-value" if compared == "p_value" else ("statistic" if compared else "—"),
            "value": value if isinstance(value, int | float) and not isinstance(value, bool) else None,
            "rule": _drift_rule(column),
            "drifted": "not tested" if drifted is None else ("yes" if drifted else "no"),
            "missing share (reference)": ref.get("missing_share"),
            "missing share (current)": cur.get("missing_share"),
            "note": column.get("reason") or "",
        })
    return rows


def drift_distribution(column: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A column's reference and current distributions, if the evaluation stored them: rows of ``bin`` (a bin's
    label or a category), ``data`` ("reference" or "current") and ``share``. The stored shape this reads is
    ``column["distribution"] = {"bins": [label, …], "reference": [share, …], "current": [share, …]}``; ``None``
    when it is absent (evaluations record the test's statistic, not the histogram)."""
    stored = column.get("distribution")
    if not isinstance(stored, dict):
        return None
    bins = stored.get("bins") or stored.get("categories")
    ref, cur = stored.get("reference"), stored.get("current")
    if not (isinstance(bins, list) and isinstance(ref, list) and isinstance(cur, list)
            and len(bins) == len(ref) == len(cur)):
        return None
    return [{"bin": str(b), "data": side, "share": float(s)}
            for side, shares in (("reference", ref), ("current", cur)) for b, s in zip(bins, shares, strict=True)]


# ------------------------------------------------------------------------------------------- confusion and ROC
def confusion_cells(details: dict[str, Any]) -> list[dict[str, Any]]:
    """The confusion matrix an evaluation stored for a check, as rows of ``actual``, ``predicted`` and ``rows``:
    the full matrix if stored, else the positive-versus-rest counts (true/false positives and negatives)."""
    matrix = details.get("confusion_matrix")
    if isinstance(matrix, list) and matrix:
        return [{"actual": human(c.get("label")), "predicted": human(c.get("prediction")), "rows": int(c["rows"])}
                for c in matrix if isinstance(c, dict) and "rows" in c]
    counts = details.get("confusion")
    if not isinstance(counts, dict):
        return []
    positive = human((details.get("data") or {}).get("positive_class") or "positive")
    rest = f"not {positive}"
    return [{"actual": positive, "predicted": positive, "rows": int(counts.get("tp", 0))},
            {"actual": positive, "predicted": rest, "rows": int(counts.get("fn", 0))},
            {"actual": rest, "predicted": positive, "rows": int(counts.get("fp", 0))},
            {"actual": rest, "predicted": rest, "rows": int(counts.get("tn", 0))}]


def roc_points(details: dict[str, Any]) -> list[dict[str, float | None]] | None:
    """The ROC curve an evaluation stored with a ROC AUC check, as rows of false- and true-positive rate (and the
    score threshold), or ``None`` when only the area was stored. The shape read is
    ``details["roc_curve"] = {"fpr": […], "tpr": […], "thresholds": […]}`` (scikit-learn's ``roc_curve``)."""
    curve = details.get("roc_curve")
    if not isinstance(curve, dict):
        return None
    fpr, tpr = curve.get("fpr"), curve.get("tpr")
    thresholds = curve.get("thresholds") or [None] * len(fpr or [])
    if not (isinstance(fpr, list) and isinstance(tpr, list) and len(fpr) == len(tpr) == len(thresholds) and fpr):
        return None
    points: list[dict[str, float | None]] = [
        {"false-positive rate": float(f), "true-positive rate": float(t), "threshold": None if s is None else float(s)}
        for f, t, s in zip(fpr, tpr, thresholds, strict=True)]
    return points


def operator_words(operator: str | None) -> str:
    """A policy operator in words (``gte`` is "at least")."""
    return OPERATOR_WORDS.get(operator or "", (operator or "—").replace("_", " "))
