"""The sections of the regulator report, as render blocks (see :mod:`core.evidence.render`): the executive summary,
evaluations with their ROC curves and confusion matrices, fairness with the binding limit lines, drift with per-feature
plots, explanations and risk management. Plain functions of the gathered facts; numbers, rules and results in words.
"""

from __future__ import annotations

from typing import Any

from core.display.words import (
    DECISION_WORDS,
    OPERATOR_WORDS,
    SEVERITY_WORDS,
    STAGE_WORDS,
    human,
    number,
    role_words,
    rule_words,
    when,
)
from core.evaluation.explanations import check_value, confusion_cells, metric_label, roc_points, rule_text
from core.evaluation.metrics import disparity, fairness_definition
from core.evidence.render import bar_chart, roc_chart

__all__ = ["check_value_words", "column_rule", "curve_blocks", "drift_charts", "drift_section",
           "evaluations_section", "explanations_section", "fairness_section", "latest_evaluations", "rate_limit",
           "result_words", "risk_section", "rule_sentence", "sentence", "summary_section", "verdict_sentence",
           "waived_checks"]


def sentence(text: object) -> str:
    """User text ending a sentence: one full stop, not two."""
    shown = human(text).rstrip()
    return shown if shown.endswith((".", "!", "?")) else shown + "."


def verdict_sentence(verdict: str | None) -> str:
    return {"pass": "pass", "fail": "FAIL"}.get(verdict or "", verdict or "not evaluated")


def check_value_words(check: dict[str, Any]) -> str:
    """A check's measured value in words (the documentation check names what is missing)."""
    if check["kind"] == "documentation":
        details = check.get("details") or {}
        if not details.get("card_present", True):
            return "no model card"
        missing = details.get("missing") or []
        if missing:
            return "missing: " + human([str(m).replace("_", " ") for m in missing])
        return f"all {len(details.get('required') or [])} required sections present"
    return check_value(check)  # the model card's wording: forbidden features ranked, columns drifted, "undefined"


def rule_sentence(check: dict[str, Any]) -> str:
    """A check's rule in words: "at least 0.8000" for a number, else what it must do ("must rank none of sex, race
    among the 5 most important features") — never an operator id or a Python list."""
    if check.get("operator") in OPERATOR_WORDS:
        return rule_words(check["operator"], check["threshold"])
    return f"must {rule_text(check)}"


def result_words(check: dict[str, Any], waiver: dict[str, Any] | None) -> str:
    if check["passed"]:
        return "pass"
    if waiver is not None:
        return f"FAIL, waived ({waiver['id']} until {waiver['until']})"
    return "FAIL"


def waived_checks(facts: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(version, check id) -> its active waiver."""
    return {(w["model_version"], w["check_id"]): w for w in facts["waivers"] if w.get("active", not w["revoked_at"])}


def latest_evaluations(facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Version -> its latest evaluation in the period: under the policy that governs it when there is one (the gate
    judges that policy), else under any policy (the summary then says which)."""
    governing = {r["version"]: r.get("policy") for r in facts["inventory"]}
    latest: dict[str, dict[str, Any]] = {}
    for e in sorted(facts["evaluations"], key=lambda e: e["evaluated_at"]):
        version = e["model"]["ref"].rpartition("@")[2]
        held = e["policy"]["name"] == governing.get(version)
        if version not in latest or held or latest[version]["policy"]["name"] != governing.get(version):
            latest[version] = e
    return latest


def summary_section(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The executive summary: one table, then each version in plain sentences."""
    name = facts["name"]
    latest, waived = latest_evaluations(facts), waived_checks(facts)
    rows, text = [], []
    for r in facts["inventory"]:
        version = r["version"]
        ev = latest.get(version)
        failing = [c for c in ev["checks"] if not c["passed"]] if ev else []
        pending = [q for q in facts["requests"] if q["model_version"] == version and q["status"] == "pending"]
        suspensions = [t for t in facts["timeline"] if t["version"] == version and t["to_stage"] == "suspended"]
        changes = [t for t in facts["timeline"] if t["version"] == version and t["to_stage"] != "suspended"]
        rows.append([version, r["stage"], verdict_sentence(r["verdict"]),
                     human([c["id"] for c in failing if (version, c["id"]) not in waived]),
                     human([c["id"] for c in failing if (version, c["id"]) in waived]),
                     human([f"{q['id']} to {q['target_stage']}" for q in pending]),
                     human([f"{when(t['ts'])}" for t in suspensions])])
        stage = STAGE_WORDS.get(r["stage"], f"is in {r['stage']}")
        lines = [f"{name}@{version} {stage}; risk tier {r['risk_tier']}, owned by {r['owner']}, held to "
                 f"policy {r['policy']}."]
        if ev is None:
            lines.append("It has no evaluation in the period" + (
                f" (its latest, {r['latest_evaluation']}, is outside it: {verdict_sentence(r['verdict'])})."
                if r.get("latest_evaluation") else "."))
        else:
            lines.append(f"Its latest evaluation, {ev['id']} on {when(ev['evaluated_at'])} by {ev['evaluated_by']} "
                         f"on {ev['data']['ref']} under policy {ev['policy']['name']}@{ev['policy']['version']}, "
                         f"gives the verdict {verdict_sentence(ev['verdict'])}."
                         + (f" That policy does not govern it ({r['policy']} does, with no evaluation in the period): "
                            "the gate judges the governing policy." if r.get("policy") and
                            ev["policy"]["name"] != r["policy"] else ""))
            if not failing:
                lines.append(f"All {len(ev['checks'])} checks pass.")
            for c in failing:
                waiver = waived.get((version, c["id"]))
                lines.append(f"Check {c['id']} fails: {metric_label(c['metric'])} is {check_value_words(c)}, the rule "
                             f"is {rule_sentence(c)} "
                             f"({SEVERITY_WORDS.get(c['severity'], c['severity'])})"
                             + (f"; waived by {waiver['granted_by']} until {waiver['until']} ({waiver['id']}): "
                                f"{sentence(waiver['justification'])[:-1]}" if waiver else "; not waived") + ".")
        for q in pending:
            decided = "; ".join(f"{DECISION_WORDS.get(d['decision'], d['decision'])} by {d['approver']} "
                                f"({role_words(d['role'])})" for d in q["decisions"]) or "no decision yet"
            still = human([role_words(x) for x in q.get("open_roles") or []])
            lines.append(f"Request {q['id']} to move it from {q['from_stage']} to {q['target_stage']}, by "
                         f"{q['requested_by']} on {when(q['requested_at'])}, is pending: {decided}; still to "
                         f"decide: {still}.")
        for t in sorted(suspensions + changes, key=lambda t: t["seq"]):
            if t["to_stage"] == "suspended":
                lines.append(f"Suspended on {when(t['ts'])} by {t['actor']}: {sentence(t.get('reason'))}")
            elif not t.get("approvers"):
                lines.append(f"Moved from {t['from_stage']} to {t['to_stage']} on {when(t['ts'])} by {t['actor']}: "
                             f"{sentence(t.get('reason'))}")
            else:
                who = " and ".join(f"{a['name']} ({role_words(a['role'])})" for a in t["approvers"])
                lines.append(f"Moved from {t['from_stage']} to {t['to_stage']} on {when(t['ts'])}, approved by "
                             f"{who}.")
        text.append((version, lines))
    blocks: list[tuple[Any, ...]] = [
        ("h2", "Executive summary"),
        ("p", f"{len(facts['inventory'])} version(s) of {name}; {len(facts['evaluations'])} evaluation(s), "
              f"{len(facts['requests'])} promotion request(s) and {len(facts['timeline'])} stage change(s) in the "
              "period. Details follow in the sections named in the regulatory index."),
        ("table", ["Version", "Stage", "Latest verdict", "Failing checks", "Waived checks", "Pending requests",
                   "Suspended"], rows)]
    for version, lines in text:
        blocks += [("h3", f"Version {version}"), ("p", " ".join(lines))]
    return blocks


def evaluations_section(facts: dict[str, Any], waived: dict[tuple[str, str], dict[str, Any]]) -> list[tuple[Any, ...]]:
    b: list[tuple[Any, ...]] = [("h2", "Evaluations")]
    if not facts["evaluations"]:
        b.append(("p", "No evaluation in the period."))
    for result in facts["evaluations"]:
        policy, version = result["policy"], result["model"]["ref"].rpartition("@")[2]
        b.append(("h3", f"{result['id']} — {result['model']['ref']} — {verdict_sentence(result['verdict'])}"))
        b.append(("p", f"{result.get('purpose', 'evaluation').capitalize()} by {result['evaluated_by']} at "
                       f"{when(result['evaluated_at'])} on {result['data']['ref']} (SHA-256 "
                       f"{result['data']['sha256']}, {result['data']['rows']:,} rows) under policy "
                       f"{policy['name']}@{policy['version']} (SHA-256 {policy['sha256']}; its text is under Risk "
                       f"management). Result SHA-256 {result['result_sha256']}."))
        b.append(("table", ["Check", "Kind", "Metric", "Value", "Rule", "Severity", "Result", "References"],
                  [[c["id"], c["kind"], metric_label(c["metric"]), check_value_words(c), rule_sentence(c),
                    SEVERITY_WORDS.get(c["severity"], c["severity"]), result_words(c, waived.get((version, c["id"]))),
                    human(c["references"])] for c in result["checks"]]))
        b += curve_blocks(result)
    return b


def curve_blocks(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The ROC curve and the confusion matrix an evaluation stored, as the model card shows them."""
    b: list[tuple[Any, ...]] = []
    ref = result["model"]["ref"]
    for c in result["checks"]:
        details = c.get("details") or {}
        points = roc_points(details)
        if points and c.get("metric") == "roc_auc":
            chart = roc_chart([p["false-positive rate"] for p in points], [p["true-positive rate"] for p in points],
                              f"{ref}: ROC curve")
            b.append(("image", chart, f"{ref} ({result['id']}): ROC curve from {len(points)} points; ROC AUC "
                                      f"{check_value(c)}, rule {rule_sentence(c)}. The dotted diagonal is a model "
                                      "without skill."))
    cells = next((cells for c in result["checks"] if (cells := confusion_cells(c.get("details") or {}))), [])
    if cells:
        b.append(("table", ["Actual class", "Predicted class", "Rows"],
                  [[cell["actual"], cell["predicted"], f"{cell['rows']:,}"] for cell in cells]))
    return b


def rate_limit(rates: list[float], kind: str, operator: str | None,
               threshold: object) -> tuple[float, str] | None:
    """The lowest group rate a fairness rule allows, given the groups' rates, and how it is reached.

    A difference rule "at most t" lets no group fall more than t below the highest rate; a ratio rule "at least t"
    lets none fall below t times the highest. Other rules have no such per-group line (``None``)."""
    if not rates or not isinstance(threshold, int | float) or isinstance(threshold, bool):
        return None
    top = max(rates)
    if kind == "difference" and operator in ("lte", "lt"):
        if top - threshold <= 0:  # no rate is below 0: the rule allows every rate, there is no line to draw
            return None
        return top - threshold, f"highest rate {number(top)} − {number(threshold)}"
    if kind == "ratio" and operator in ("gte", "gt"):
        return top * threshold, f"highest rate {number(top)} × {number(threshold)}"
    return None


def fairness_section(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per fairness check: every rate the metric compares (both for equalized odds), per group, charted with the
    lowest rate the rule allows, and which rate binds (sets the metric's value)."""
    b: list[tuple[Any, ...]] = [("h2", "Fairness")]
    found = False
    for result in facts["evaluations"]:
        for c in result["checks"]:
            d = c.get("details") or {}
            if c["kind"] != "fairness" or not d.get("groups"):
                continue
            found = True
            rates, kind = fairness_definition(c["metric"])
            rates = tuple(d.get("rates") or rates)
            groups = d["groups"]
            included = {g: v for g, v in groups.items() if v.get("included", True)}
            parts = {r: disparity(vals, kind) for r in rates
                     if (vals := [v[r] for v in included.values() if isinstance(v.get(r), int | float)])}
            binding = (max if kind == "difference" else min)(parts, key=lambda r: parts[r]) if parts else None
            b.append(("h3", f"{c['id']} — {result['model']['ref']} ({result['id']})"))
            rule = rule_words(c["operator"], c["threshold"])
            named = " and ".join(r.replace("_", " ") for r in rates)
            if len(rates) == 1:
                measure = (f"the gap between the highest and the lowest group's {named}" if kind == "difference"
                           else f"the lowest group's {named} divided by the highest group's")
            else:
                measure = (f"the larger of the gaps between the highest and the lowest group in {named}"
                           if kind == "difference" else f"the smaller of the lowest-to-highest ratios in {named}")
            b.append(("p", f"{metric_label(c['metric'])} is {check_value_words(c)}; the rule is {rule}: "
                           f"{'pass' if c['passed'] else 'FAIL'}. It is {measure}"
                           + (f"; the binding rate is the {binding.replace('_', ' ')} ({number(parts[binding])})"
                              if binding and len(rates) > 1 else "")
                           + (f". Groups left out (too few rows): {human(sorted(set(groups) - set(included)))}"
                              if len(included) < len(groups) else "") + "."))
            b.append(("table", ["Group", "Rows", "Included", *[r.replace("_", " ") for r in rates]],
                      [[g, v["count"], human(v.get("included", True)), *[number(v.get(r)) for r in rates]]
                       for g, v in groups.items()]))
            for r in rates:
                values = [float(v[r]) for v in included.values() if isinstance(v.get(r), int | float)]
                limit = rate_limit(values, kind, c["operator"], c["threshold"])
                label = f"lowest allowed {number(limit[0])}" if limit else None
                chart = bar_chart([g for g, v in included.items() if isinstance(v.get(r), int | float)], values,
                                  f"{c['id']}: {r.replace('_', ' ')} by group", threshold=limit[0] if limit else None,
                                  xlabel=r.replace("_", " "), threshold_label=label)
                part = f"{'gap' if kind == 'difference' else 'ratio'} {number(parts[r])}" if r in parts else \
                    "undefined"
                caption = (f"{c['id']} ({result['model']['ref']}): {r.replace('_', ' ')} per group, {part}"
                           + (" — the binding rate, which sets the metric" if r == binding and len(rates) > 1 else "")
                           + (f". Dashed red line: the lowest rate the rule allows, {number(limit[0])} "
                              f"({limit[1]}); a bar left of it breaks the rule." if limit else
                              (". No limit line: every rate is allowed, since the highest rate minus the limit is "
                               "below 0" if kind == "difference" and values and c["operator"] in ("lte", "lt")
                               else ". This rule sets no per-group limit line."))
                           + f" {metric_label(c['metric'])} {check_value_words(c)}, rule {rule_sentence(c)}.")
                b.append(("image", chart, caption))
    if not found:
        b.append(("p", "No fairness check in the period."))
    return b


def drift_section(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    b: list[tuple[Any, ...]] = [("h2", "Drift and monitoring")]
    found = False
    for result in facts["evaluations"]:
        for c in result["checks"]:
            if c["kind"] != "drift":
                continue
            found = True
            columns = (c.get("details") or {}).get("columns") or {}
            b.append(("h3", f"{c['id']} — {result['model']['ref']} ({result['id']})"))
            b.append(("p", f"Reference {(result.get('reference') or {}).get('ref') or '—'} against current "
                           f"{result['data']['ref']}: {check_value_words(c)}; the rule on the share of drifted "
                           f"columns is {rule_words(c['operator'], c['threshold'])}: "
                           f"{'pass' if c['passed'] else 'FAIL'}."))
            b.append(("table", ["Column", "Method", "Statistic", "p-value", "Rule", "Drifted"],
                      [[k, human(v.get("method")), number(v.get("statistic")), number(v.get("p_value")),
                        column_rule(v),
                        human(v.get("drifted"))]
                       for k, v in columns.items()]))
            b += drift_charts(c, result, columns)
    if not found:
        b.append(("p", "No drift check in the period."))
    return b


def drift_charts(check: dict[str, Any], result: dict[str, Any],
                 columns: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    """One chart per rule the columns share (what is compared, operator, threshold): each column's value with the
    rule's line."""
    rules: dict[tuple[str, str, float], list[tuple[str, float]]] = {}
    for name, column in columns.items():
        compared, op, threshold = column.get("compared"), column.get("operator"), column.get("threshold")
        value = column.get(compared) if isinstance(compared, str) else None
        if isinstance(value, int | float) and isinstance(threshold, int | float) and op in OPERATOR_WORDS:
            rules.setdefault((compared, op, float(threshold)), []).append((name, float(value)))
    b: list[tuple[Any, ...]] = []
    for (compared, op, threshold), values in rules.items():
        what = compared.replace("_", "-")
        rule = rule_words(op, threshold)
        chart = bar_chart([n for n, _ in values], [v for _, v in values],
                          f"{check['id']}: {what} per column", threshold=threshold, xlabel=what,
                          threshold_label=f"{rule}")
        b.append(("image", chart, f"{check['id']} ({result['model']['ref']}): {what} per column. Dashed red line: "
                                  f"the rule, {what} {rule}; a column on the wrong side of it has drifted."))
    return b


def column_rule(column: dict[str, Any]) -> str:
    """A drift column's rule in words: "p-value at least 0.0500" (what is compared, then the rule)."""
    compared = str(column.get("compared") or "").replace("_", "-")
    return f"{compared} {rule_words(column.get('operator'), column.get('threshold'))}".strip()


def explanations_section(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    b: list[tuple[Any, ...]] = [("h2", "Explanations")]
    found = False
    for result in facts["evaluations"]:
        for c in result["checks"]:
            d = c.get("details") or {}
            if c["kind"] != "explain" or not d.get("importance"):
                continue
            found = True
            imp = d["importance"]
            b.append(("image", bar_chart(list(imp)[:15], [float(v or 0) for v in list(imp.values())[:15]],
                                         f"{c['id']}: mean |SHAP| ({d.get('explainer')})"),
                      f"{c['id']} ({result['model']['ref']}): mean absolute SHAP value per input column, "
                      f"{d.get('sample_size')} rows, {d.get('explainer')} explainer (no threshold: importance is "
                      "reported, not judged)."))
            b.append(("table", ["Column", "Mean |SHAP|"], [[k, number(v)] for k, v in imp.items()]))
    if not found:
        b.append(("p", "No explanation in the period."))
    return b


def risk_section(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Risk tier and owner of each version, and the text of every policy the evaluations applied."""
    b: list[tuple[Any, ...]] = [("h2", "Risk management"), ("table", ["Version", "Risk tier", "Owner", "Policy"], [
        [r["version"], r["risk_tier"], r["owner"], r["policy"]] for r in facts["inventory"]])]
    seen = set()
    for result in facts["evaluations"]:
        policy = result["policy"]
        if policy["sha256"] in seen:
            continue
        seen.add(policy["sha256"])
        b += [("h3", f"Policy {policy['name']}@{policy['version']}"),
              ("p", f"SHA-256 {policy['sha256']}; applied by "
                    f"{human([e['id'] for e in facts['evaluations'] if e['policy']['sha256'] == policy['sha256']])}."),
              ("pre", policy.get("text", ""))]
    return b
