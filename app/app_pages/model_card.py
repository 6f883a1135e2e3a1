"""Model card (Mitchell et al.'s sections) assembled from the records: details, use, factors; the evaluation's
numbers explained (each metric with its definition and the rule it is held to, pass and fail in words and colour);
performance with its confusion matrix (and ROC curve, where stored); fairness per group with the band each rule
allows, per rate; drift per feature against its limit; SHAP importance; data and datasheets; waivers, stage history
and a diff against another version.

The version comes from the URL (``/model_card?model=name@version``, and ``&evaluation=<id>`` to open one
evaluation): the router seeds the select boxes from it, and the page keeps the URL in step with the user's choice,
so the address bar is always this card's permalink.

Every chart has a text alternative beside it (a sentence naming what it shows and a table of the same numbers).
Numbers are rounded to 4 decimals, times are UTC to the second, operators and booleans are words
(:mod:`core.evaluation.explanations`, shared with the regulator report).

The sections sit in tabs that render lazily (only the open tab's queries and charts run), so a render stays fast
however many evaluations, charts and stage changes a model has."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from app import charts, hints, session
from app.text import literal, plain, show_text
from core.catalog.documents import MODEL_CARD_SECTIONS
from core.display.text import visible
from core.errors import CountersignError
from core.evaluation import explanations as ex

cs = session.service()
user = session.require()

TAB_CARD, TAB_METRICS, TAB_DATA, TAB_GOVERNANCE = ("Card", "Metrics and fairness", "Data",
                                                   "Waivers, history and diff")
#: Metrics drawn together on one 0..1 chart (the others are listed in words only).
UNIT_METRICS = {"accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "average_precision",
                "brier", "r2"}


def badge(passed: bool, text: str | None = None) -> str:
    """Markdown for a pass/fail badge: the result in words, in a colour (never the colour alone)."""
    words = text or ("passes" if passed else "fails")
    return f":green-badge[{literal(words)}]" if passed else f":red-badge[{literal(words)}]"


def verdict(value: str | None) -> str:
    """An evaluation's verdict in words."""
    return {"pass": "passes", "fail": "fails"}.get(value or "", "not evaluated")


def show_chart(chart: alt.Chart | alt.LayerChart, description: str, table: pd.DataFrame | None = None) -> None:
    """A chart with its text alternative: the sentence saying what it shows, then (if given) the same numbers as
    a table."""
    st.altair_chart(chart, width="stretch")
    st.markdown(f"*Chart description:* {literal(description)}")
    if table is not None:
        st.dataframe(plain(table), hide_index=True, width="stretch")


st.title("Model card")
inventory = cs.inventory(user)
if not inventory:
    st.info("No models are registered yet. Register one with the CLI: `countersign model register ARTIFACT --name "
            "NAME --version VERSION --trained-on DATASET_REF`.")
    st.stop()
refs = [f"{r['name']}@{r['version']}" for r in inventory]
asked = st.session_state.get("card_ref")
if asked is not None and asked not in refs:  # a permalink to a version that does not exist (or not any more)
    st.warning(f"There is no model version {literal(asked)}; showing {literal(refs[0])} instead.")
    del st.session_state["card_ref"]
asked_eval = st.query_params.get("evaluation")
if asked_eval and st.session_state.get("card_eval_opened") != asked_eval:
    # A permalink to one evaluation opens it on the metrics tab, once (then the user's choices stand); without a
    # model in the URL, the evaluation's own model version is shown.
    st.session_state["card_eval_opened"] = asked_eval
    st.session_state["card_tab"] = TAB_METRICS
    if "model" not in st.query_params:
        try:
            owner = cs.evaluation(user, asked_eval)["model"]["ref"]
        except CountersignError:
            owner = None
        if owner in refs:
            st.session_state["card_ref"] = owner
ref = st.selectbox("Model version", refs, key="card_ref")
if st.query_params.get("model") != ref:  # keep the address bar this card's permalink
    if "model" in st.query_params and "evaluation" in st.query_params:
        del st.query_params["evaluation"]  # an evaluation of the version shown before
    st.query_params["model"] = ref
model = cs.model(user, ref)
row = next(r for r in inventory if f"{r['name']}@{r['version']}" == ref)
card = model["card"] or {}

header = st.columns(4)
header[0].metric("Stage", literal(row["stage"]))
header[1].metric("Risk tier", literal(row["risk_tier"] or "—"))
header[2].metric("Latest verdict", verdict(row["verdict"]))
header[3].metric("Governing policy", literal(row["policy"] or "none"))
if model["trusted_pickle"]:
    st.warning("This model's artifact is a pickle loaded on its registrant's explicit trust (recorded in the ledger).")
if row["revalidation_required"]:
    st.error("Revalidation required: monitoring or a new policy version flagged this version.")
if row["stage"] == "suspended":
    suspension = next((t for t in reversed(cs.history(user, row["name"])["timeline"])
                       if t["version"] == row["version"] and t["to_stage"] == "suspended"), None)
    if suspension is not None:
        st.error(f"Suspended on {ex.when(suspension['ts'])} by {literal(suspension['actor'])}: "
                 f"{literal(suspension.get('reason') or 'no reason recorded')}")


def section(title: str, key: str) -> None:
    """One card section: the card's own text, shown literally (never as Markdown)."""
    st.subheader(title)
    value = card.get(key)
    if value is None:
        st.markdown("Not documented.")
    elif isinstance(value, dict):
        for k, v in value.items():
            st.markdown(f"**{literal(str(k).replace('_', ' '))}**")
            show_text(v)
    elif isinstance(value, list):
        for v in value:
            show_text(f"• {v}")
    else:
        show_text(value)


def card_tab() -> None:
    section("Model details", "model_details")
    st.markdown(f"{literal(model['estimator'] or 'external model')} · {literal(model['framework'] or '—')} · owner "
                f"{literal(model['owner'])} · "
                + (f"artifact SHA-256 {literal(model['artifact_digest'])}" if model["artifact_digest"]
                   else "no artifact (external model, known by its predictions)") + " · code "
                f"{literal(model['code_ref'] or '—')} · registered {ex.when(model['registered_at'])}")
    for u in model["upstream"]:
        if u["kind"] == "imported_as":
            st.caption(f"Imported from {literal(u['label'])} ({literal(u['node'])}); see the Lineage page.")
    section("Intended use", "intended_use")
    section("Out-of-scope uses", "out_of_scope_uses")
    section("Factors", "factors")
    section("Ethical considerations", "ethical_considerations")
    section("Caveats and recommendations", "caveats_and_recommendations")
    section("Limitations", "limitations")


# ------------------------------------------------------------------------------------------- metrics tab
def check_line(check: dict[str, Any], waiver: dict[str, Any] | None) -> None:
    """One check as a sentence: its id, what it measures, the value, the rule in words and the result (badge)."""
    waived = "" if check["passed"] or waiver is None else (
        f" — waived until {literal(waiver['until'])} by {literal(waiver['granted_by'])} ({literal(waiver['id'])})")
    severity = "" if check["severity"] == "block" else " (warning only: does not block promotion)"
    st.markdown(f"{badge(bool(check['passed']))} **{literal(check['id'])}**{literal(severity)}: "
                f"{literal(ex.check_sentence(check))}{waived}")


def definitions(checks: list[dict[str, Any]]) -> None:
    """What each check's metric means, in full sentences: definition, formula, which way is better, the
    implementation it follows, and the regulations the policy cites for the check."""
    for c in checks:
        d = ex.definition(c["metric"])
        st.markdown(f"**{literal(c['id'])} — {literal(d.label)}.** {literal(d.meaning)}")
        st.markdown(literal(f"Formula: {d.formula}. "
                            + (f"{d.better.capitalize()} is better. " if d.better else "")
                            + f"Follows: {d.reference}. Regulatory references: {ex.human(c['references'])}."))


def performance(checks: list[dict[str, Any]], result: dict[str, Any]) -> None:
    """Performance metrics against their limits, the confusion matrix and the ROC curve (where stored)."""
    metric_checks = [c for c in checks if c["kind"] == "metric"]
    if not metric_checks:
        return
    st.subheader("Performance")
    unit = [c for c in metric_checks if c["metric"] in UNIT_METRICS and isinstance(c["value"], int | float)]
    if unit:
        rows = [{"metric": f"{c['id']}: {ex.metric_label(c['metric'])}", "value": float(c["value"]),
                 "threshold": c["threshold"] if isinstance(c["threshold"], int | float) else None,
                 "rule": ex.rule_text(c), "result": "passes" if c["passed"] else "fails"} for c in unit]
        description = (f"Bar chart of {len(rows)} performance metric(s) of {ref} on {result['data']['ref']}, each "
                       "with its limit as a tick: " + "; ".join(
                           f"{r['metric']} {ex.number(r['value'])}, must {r['rule']}: {r['result']}" for r in rows)
                       + ".")
        table = pd.DataFrame([{"metric": r["metric"], "value": ex.number(r["value"]), "rule": f"must {r['rule']}",
                               "result": r["result"]} for r in rows])
        show_chart(charts.metrics_chart(rows, description), description, table)
    shown_confusion = False
    for c in metric_checks:
        details = c.get("details") or {}
        cells = ex.confusion_cells(details)
        if cells and not shown_confusion:
            shown_confusion = True
            total = sum(x["rows"] for x in cells)
            decision = details.get("decision") or (details.get("data") or {}).get("decision") or "the predictions"
            description = (f"Confusion matrix of {ref} on {result['data']['ref']} ({total:,} rows, decided by "
                           f"{decision}): " + "; ".join(
                               f"actual {x['actual']}, predicted {x['predicted']}: {x['rows']:,} rows" for x in cells)
                           + ".")
            show_chart(charts.confusion_chart(cells, f"Confusion matrix ({c['id']})", description), description)
        if c["metric"] == "roc_auc":
            points = ex.roc_points(details)
            if points:
                description = (f"ROC curve of {ref}: {len(points)} points; the area under it is "
                               f"{ex.check_value(c)}. The dashed diagonal is a model that guesses.")
                show_chart(charts.roc_chart(points, f"ROC curve ({c['id']})", description), description)
            elif isinstance(c["value"], int | float):
                positives = details.get("positives")
                st.markdown(literal(
                    f"ROC curve: this evaluation stored the area under the curve ({ex.check_value(c)}, from "
                    f"{details.get('n', 0):,} rows"
                    + (f" of which {positives:,} positive" if isinstance(positives, int) else "")
                    + "), not the curve's points, so the curve cannot be drawn for it."))


def fairness(checks: list[dict[str, Any]], result: dict[str, Any]) -> None:
    """Per fairness check: the sentence, which rate binds, per rate a chart of the groups with the band the rule
    allows, and a table of every group's rates."""
    fairness_checks = [c for c in checks if c["kind"] == "fairness"]
    if not fairness_checks:
        st.markdown("This policy has no fairness check.")
    for c in fairness_checks:
        details = c.get("details") or {}
        features = ex.human(details.get("sensitive_features") or [])
        st.markdown(f"{badge(bool(c['passed']))} **{literal(c['id'])}** (groups by {literal(features)}): "
                    f"{literal(ex.check_sentence(c))}")
        bands = ex.fairness_bands(c)
        st.markdown(literal(ex.fairness_summary(c, bands)))
        for band in bands:
            if len(band.groups) < 1:
                continue
            binding = " — the binding rate" if band.binding and len(bands) > 1 else ""
            title = f"{c['id']}: {band.label} by group{binding}"
            description = (f"Bar chart of the {band.label} of each {features} group: " + "; ".join(
                f"{g} {ex.number(v)}" for g, v in band.groups.items()) + ". "
                + (f"Shaded: the {band.band_words}; the dashed line is the lowest rate allowed. "
                   if band.low is not None else "The rule sets no per-group band. ")
                + (f"Below the band: {ex.human(band.outside)}." if band.outside else
                   ("Every group is inside the band." if band.low is not None else "")))
            st.altair_chart(charts.fairness_chart(band, title, description), width="stretch")
            st.markdown(f"*Chart description:* {literal(description)}")
        groups = details.get("groups") or {}
        if groups:
            rates = [b.rate for b in bands]
            st.dataframe(plain([{"group": g, "rows": f"{v.get('count', 0):,}",
                                 "included": "yes" if v.get("included", True) else
                                 f"no (fewer than {details.get('min_group_size')} rows)",
                                 **{ex.RATES.get(r, (r,))[0]: ex.number(v.get(r)) for r in rates}}
                                for g, v in groups.items()]), hide_index=True, width="stretch")
        if details.get("reason"):
            st.warning(literal(details["reason"]))


def explanations(checks: list[dict[str, Any]]) -> None:
    for c in [c for c in checks if c["kind"] == "explain"]:
        details = c.get("details") or {}
        st.markdown(f"{badge(bool(c['passed']))} **{literal(c['id'])}**: {literal(ex.check_sentence(c))}")
        importance = details.get("importance") or {}
        if importance:
            ranked = dict(sorted(importance.items(), key=lambda kv: -float(kv[1] or 0)))
            title = f"SHAP importance ({details.get('explainer') or 'unknown'} explainer, " \
                    f"{ex.human(details.get('sample_size'))} rows)"
            description = (f"Bar chart of the mean absolute SHAP value of each input feature of {ref}, largest "
                           "first: " + "; ".join(f"{k} {ex.number(v)}" for k, v in ranked.items())
                           + ". Importance is reported, not judged; the rule is about which features rank highest.")
            show_chart(charts.importance_chart(ranked, title, description), description)
        elif details.get("reason"):
            st.warning(literal(details["reason"]))


def drift(checks: list[dict[str, Any]], result: dict[str, Any]) -> None:
    """Per drift check: the sentence, per feature the test's value against its limit (one chart for p-values, one
    for distances), the reference and current distributions where stored, and a table of every feature."""
    for c in [c for c in checks if c["kind"] == "drift"]:
        st.subheader("Drift")
        details = c.get("details") or {}
        reference = (result.get("reference") or {}).get("ref") or "the reference data"
        st.markdown(f"{badge(bool(c['passed']))} **{literal(c['id'])}** — reference {literal(reference)} against "
                    f"current {literal(result['data']['ref'])}: {literal(ex.check_sentence(c))}")
        rows = ex.drift_rows(c)
        for compared, meaning in (("p-value", "a feature drifts when its p-value is below the limit"),
                                  ("statistic", "a feature drifts when its distance is above the limit")):
            subset = [dict(r, threshold=(details.get("columns") or {})[r["feature"]].get("threshold"))
                      for r in rows if r["compared"] == compared and r["value"] is not None]
            for r in subset:
                r["threshold"] = r["threshold"] if isinstance(r["threshold"], int | float) else None
            if not subset:
                continue
            title = f"{c['id']}: drift {compared} per feature (tick: limit)"
            description = (f"Chart of the drift {compared} of {len(subset)} feature(s), {meaning}: " + "; ".join(
                f"{r['feature']} {ex.number(r['value'])} ({r['test']}, {r['rule']}): "
                f"{'drifted' if r['drifted'] == 'yes' else 'stable'}" for r in subset) + ".")
            st.altair_chart(charts.drift_chart(subset, compared, title, description), width="stretch")
            st.markdown(f"*Chart description:* {literal(description)}")
        drawn = 0
        for name, column in (details.get("columns") or {}).items():
            shares = ex.drift_distribution(column)
            if shares:
                drawn += 1
                description = (f"Bar chart of the share of rows per bin of {name} in the reference and the current "
                               "data: " + "; ".join(f"{s['bin']} {s['data']} {ex.number(s['share'])}"
                                                    for s in shares) + ".")
                st.altair_chart(charts.distribution_chart(shares, f"{name}: reference and current distribution",
                                                          description), width="stretch")
                st.markdown(f"*Chart description:* {literal(description)}")
        if not drawn and rows:
            st.markdown("Reference and current distributions: this evaluation stored each feature's drift test and "
                        "missing share (in the table below), not the features' histograms, so the distributions "
                        "cannot be drawn for it.")
        if rows:
            st.dataframe(plain([{**r, "value": ex.number(r["value"]),
                                 "missing share (reference)": ex.number(r["missing share (reference)"]),
                                 "missing share (current)": ex.number(r["missing share (current)"]),
                                 "note": r["note"] or "—"} for r in rows]), hide_index=True, width="stretch")


def other_checks(checks: list[dict[str, Any]]) -> None:
    """Documentation and data-quality checks: the sentence (what a "0" means is in it) and their details."""
    for c in [c for c in checks if c["kind"] in ("documentation", "data_quality")]:
        st.markdown(f"{badge(bool(c['passed']))} **{literal(c['id'])}**: {literal(ex.check_sentence(c))}")
        rates = (c.get("details") or {}).get("missing_rate")
        if isinstance(rates, dict) and rates:
            st.dataframe(plain([{"column": k, "missing share": ex.number(v)} for k, v in rates.items()]),
                         hide_index=True, width="stretch")


def metrics_tab() -> None:
    evaluations = cs.evaluations(user, ref)
    st.subheader("Metrics")
    if not evaluations:
        acting = session.as_now(user)  # may they evaluate? asked of their roles as of now
        command = hints.evaluate_command(acting, model=ref, policy=row.get("policy"))
        st.markdown("No evaluation yet. " + ("Run one with the command line:" if hints.may_evaluate(acting) else
                                             f"{literal(hints.who_evaluates()).capitalize()} runs one with the "
                                             "command line:"))
        st.code(visible(command), language="bash")
        return
    labels = {e["id"]: f"{ex.when(e['evaluated_at'])} · {e['id']} · policy {e['policy_name']}@{e['policy_version']}"
                       f" · on {e['dataset_ref']} · {'passes' if e['passed'] else 'fails'}" for e in evaluations}
    if st.session_state.get("card_eval") not in labels:  # a permalink to another version's evaluation, or none
        asked = st.query_params.get("evaluation")
        if asked and asked not in labels:
            st.warning(f"There is no evaluation {literal(asked)} of {literal(ref)}; showing its latest evaluation "
                       "instead.", icon=":material/search_off:")
        st.session_state.pop("card_eval", None)
    chosen = st.selectbox("Evaluation", list(labels), key="card_eval", format_func=labels.__getitem__)
    if st.query_params.get("evaluation") not in (None, chosen) or (
            st.query_params.get("evaluation") is None and chosen != evaluations[0]["id"]):
        st.query_params["evaluation"] = chosen  # the address bar names the evaluation shown
    result = cs.evaluation(user, chosen)
    checks = result["checks"]
    failed = result.get("failed_block_checks") or []
    warned = result.get("failed_warn_checks") or []
    st.markdown(f"{badge(bool(result['passed']), 'passes' if result['passed'] else 'fails')} Evaluation "
                f"{literal(result['id'])} by {literal(result['evaluated_by'])} on {ex.when(result['evaluated_at'])}, "
                f"on {literal(result['data']['ref'])} ({result['data']['rows']:,} rows), under policy "
                f"{literal(result['policy']['name'])}@{literal(result['policy']['version'])}: "
                + literal(f"{len(checks) - len(failed) - len(warned)} of {len(checks)} checks pass"
                          + (f"; blocking failures: {ex.human(failed)}" if failed else "")
                          + (f"; warnings: {ex.human(warned)}" if warned else "") + "."))
    if result["data"]["ref"] in (model.get("trained_on") or []):
        st.warning(f"These numbers come from the model's own training data ({literal(result['data']['ref'])}): "
                   "a model scores better on the rows it learned from, so they overstate how well it will do on "
                   "new data. Evaluate it on held-out data before relying on them.")
    if not result.get("result_intact", True):
        st.error("This evaluation's stored result does not match its recorded SHA-256: it was altered after it was "
                 "recorded.")
    waivers = {w["check_id"]: w for w in cs.waivers(user, ref) if w.get("active")}
    for c in checks:
        check_line(c, waivers.get(c["id"]))
    with st.expander("What these numbers mean: definitions, formulas and references"):
        definitions(checks)

    performance(checks, result)
    st.subheader("Quantitative analyses")
    fairness(checks, result)
    explanations(checks)
    drift(checks, result)
    other_checks(checks)


def data_tab() -> None:
    st.subheader("Evaluation data")
    evaluated_on = sorted({e["dataset_ref"] for e in cs.evaluations(user, ref)})
    show_text(card.get("evaluation_data") or "—")
    if evaluated_on:
        st.markdown(f"Evaluated on: {literal(', '.join(evaluated_on))}")
        own = [d for d in evaluated_on if d in (model.get("trained_on") or [])]
        if own:
            st.warning(f"Evaluated on its own training data ({literal(', '.join(own))}): those numbers overstate "
                       "how well the model does on new data.")
    st.subheader("Training data")
    show_text(card.get("training_data") or "—")
    for u in model["upstream"]:
        if u["kind"] == "trained_on":
            st.caption(f"Trained on {literal(u['label'])}, known by reference only ({literal(u['node'])}): "
                       "Countersign holds no copy of its content to check.")
    for dataset_ref in model["trained_on"]:
        with st.expander(f"Datasheet of {literal(dataset_ref)}"):
            info = cs.dataset(user, dataset_ref)
            st.markdown(f"SHA-256 {literal(info['digest'])} · {literal(format(info['rows'], ','))} rows · "
                        f"{literal(info['format'])}")
            for key, value in (info["datasheet"] or {}).items():
                st.markdown(f"**{literal(str(key).replace('_', ' '))}**")
                show_text(ex.human(value) if isinstance(value, list | dict) else value)


def governance_tab() -> None:
    st.subheader("Waivers")
    waivers = cs.waivers(user, ref)
    if waivers:
        st.dataframe(plain([{"waiver": w["id"], "check": w["check_id"], "until": w["until"],
                             "status": "active" if w.get("active") else (
                                 f"revoked {ex.when(w['revoked_at'])} by {w['revoked_by']}" if w.get("revoked_at")
                                 else "expired"),
                             "granted by": w["granted_by"], "granted": ex.when(w["granted_at"]),
                             "justification": w["justification"] or "—"} for w in waivers]),
                     hide_index=True, width="stretch")
    else:
        st.markdown("No waiver for this version.")

    st.subheader("Stage history")
    history = cs.history(user, row["name"])
    timeline = [t for t in history["timeline"] if t["version"] == row["version"]]
    if timeline:
        st.dataframe(plain([{"seq": t["seq"], "when": ex.when(t["ts"]), "from": t["from_stage"] or "—",
                             "to": t["to_stage"], "by": t["actor"], "requested by": t.get("requested_by") or "—",
                             "approvers": ", ".join(f"{a['name']} ({ex.role_words(a['role'])})"
                                                    for a in t.get("approvers", [])) or "—",
                             "reason": t.get("reason") or "—"} for t in timeline]), hide_index=True, width="stretch")
    else:
        st.markdown("Never promoted.")

    st.subheader("Compare with another version")
    others = [r for r in refs if r.split("@")[0] == row["name"] and r != ref]
    if not others:
        st.markdown("This is the only version of the model.")
        return
    other_ref = st.selectbox("Other version", others, key="card_other")
    other = cs.model(user, other_ref)
    diff = []
    for key in MODEL_CARD_SECTIONS:
        a, b = card.get(key), (other["card"] or {}).get(key)
        if a != b:
            diff.append({"field": f"card: {key.replace('_', ' ')}", ref: ex.human(a), other_ref: ex.human(b)})
    for key in sorted(set(model["hyperparameters"]) | set(other["hyperparameters"])):
        a, b = model["hyperparameters"].get(key), other["hyperparameters"].get(key)
        if a != b:
            diff.append({"field": f"hyperparameter: {key}", ref: ex.human(a), other_ref: ex.human(b)})
    for key in ("estimator", "artifact_digest", "trained_on", "risk_tier"):
        if model[key] != other[key]:
            diff.append({"field": key.replace("_", " "), ref: ex.human(model[key]), other_ref: ex.human(other[key])})
    if diff:
        st.dataframe(plain(pd.DataFrame(diff)), hide_index=True, width="stretch")
    else:
        st.markdown("No differences.")


TABS = {TAB_CARD: card_tab, TAB_METRICS: metrics_tab, TAB_DATA: data_tab, TAB_GOVERNANCE: governance_tab}
for container, render in zip(st.tabs(list(TABS), key="card_tab", on_change="rerun"), TABS.values(), strict=True):
    if container.open:
        with container:
            render()
