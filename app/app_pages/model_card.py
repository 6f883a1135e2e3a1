"""Model card (Mitchell et al.'s sections) assembled from the records: details, use, factors, metrics and
fairness charts with the policy's thresholds, data and datasheets, SHAP importance, drift, waivers, stage history and
a diff against another version.

The sections sit in tabs that render lazily (only the open tab's queries and charts run), so a render stays fast
however many evaluations, charts and stage changes a model has."""

import json

import altair as alt
import pandas as pd
import streamlit as st

from app import session
from app.text import literal, plain, show_text
from core.documents import MODEL_CARD_SECTIONS

cs = session.service()
user = session.require()


def fairness_limit(check: dict, included: pd.DataFrame, rate: str) -> tuple[float, str] | None:
    """Where the policy's threshold falls on the per-group chart of ``rate``: for a difference (lte t), the lowest
    group's rate + t; for a ratio (gte t), the highest group's rate × t."""
    threshold = check.get("threshold")
    if included.empty or not isinstance(threshold, int | float):
        return None
    values = included[rate].dropna()
    if values.empty:
        return None
    if check["metric"].endswith("_difference") and check["operator"] in ("lte", "lt"):
        return float(values.min()) + threshold, f"lowest {rate} + {threshold} (no group may exceed it)"
    if check["metric"].endswith("_ratio") and check["operator"] in ("gte", "gt"):
        return float(values.max()) * threshold, f"highest {rate} × {threshold} (no group may fall below it)"
    return None

st.title("Model card")
inventory = cs.inventory(user)
if not inventory:
    st.info("No models are registered yet.")
    st.stop()
refs = [f"{r['name']}@{r['version']}" for r in inventory]
ref = st.selectbox("Model version", refs, key="card_ref")
model = cs.model(user, ref)
row = next(r for r in inventory if f"{r['name']}@{r['version']}" == ref)
card = model["card"] or {}

header = st.columns(4)
header[0].metric("Stage", literal(row["stage"]))
header[1].metric("Risk tier", literal(row["risk_tier"] or "—"))
header[2].metric("Latest verdict", literal(row["verdict"] or "none"))
header[3].metric("Governing policy", literal(row["policy"] or "none"))
if model["trusted_pickle"]:
    st.warning("This model's artifact is a pickle loaded on its registrant's explicit trust (recorded in the ledger).")
if row["revalidation_required"]:
    st.error("Revalidation required: monitoring or a new policy version flagged this version.")


def section(title: str, key: str) -> None:
    """One card section: the card's own text, shown literally (never as Markdown)."""
    st.subheader(title)
    value = card.get(key)
    if value is None:
        st.caption("Not documented.")
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
    st.caption(f"{literal(model['estimator'] or 'external model')} · {literal(model['framework'] or '')} · owner "
               f"{literal(model['owner'])} · "
               + (f"artifact sha256 {literal(model['artifact_digest'])}" if model["artifact_digest"]
                  else "no artifact (external model, known by its predictions)") + " · code "
               f"{literal(model['code_ref'] or '—')}")
    section("Intended use", "intended_use")
    section("Out-of-scope uses", "out_of_scope_uses")
    section("Factors", "factors")
    section("Ethical considerations", "ethical_considerations")
    section("Caveats and recommendations", "caveats_and_recommendations")
    section("Limitations", "limitations")


def rule(c: dict) -> str:
    return f"{c['operator'] or ''} {json.dumps(c['threshold']) if c['threshold'] is not None else ''}"


def metrics_tab() -> None:
    evaluations = cs.evaluations(user, ref)
    st.subheader("Metrics")
    if not evaluations:
        st.caption("No evaluation yet.")
        return
    labels = {e["id"]: f"{e['id']} · {e['policy_name']}@{e['policy_version']} · "
                       f"{'pass' if e['passed'] else 'fail'} · {e['evaluated_at']}" for e in evaluations}
    chosen = st.selectbox("Evaluation", list(labels), key="card_eval", format_func=labels.__getitem__)
    result = cs.evaluation(user, chosen)
    checks = pd.DataFrame([{"check": c["id"], "kind": c["kind"], "metric": c["metric"], "value": c["value"],
                            "rule": rule(c), "severity": c["severity"], "passed": c["passed"],
                            "references": "; ".join(c["references"])} for c in result["checks"]])
    st.dataframe(plain(checks), hide_index=True, width="stretch")
    perf = [c for c in result["checks"] if c["kind"] == "metric" and c["value"] is not None]
    if perf:
        data = pd.DataFrame([{"metric": c["metric"], "value": c["value"],
                              "threshold": c["threshold"] if isinstance(c["threshold"], int | float) else None}
                             for c in perf])
        bars = alt.Chart(data).mark_bar().encode(x=alt.X("metric:N", title=None), y=alt.Y("value:Q"))
        rules = alt.Chart(data.dropna()).mark_tick(color="red", thickness=3, size=40).encode(x="metric:N",
                                                                                          y="threshold:Q")
        st.altair_chart(bars + rules, width="stretch")

    st.subheader("Quantitative analyses")
    for check in [c for c in result["checks"] if c["kind"] == "fairness"]:
        details = check["details"]
        rates = details.get("rates", [])
        groups = plain([{"group": g, "count": v["count"], "included": v["included"],
                         **{r: v.get(r) for r in rates}} for g, v in details.get("groups", {}).items()])
        st.markdown(f"**{literal(check['id'])}** — {literal(check['metric'])} = {literal(check['value'])} "
                    f"({'pass' if check['passed'] else 'fail'}; rule {literal(check['operator'])} "
                    f"{literal(check['threshold'])})")
        if not groups.empty and rates:
            long = groups.melt(id_vars=["group", "count", "included"], value_vars=rates, var_name="rate")
            chart = alt.Chart(long).mark_bar().encode(x=alt.X("group:N"), y=alt.Y("value:Q"), color="rate:N",
                                                      xOffset="rate:N", tooltip=["group", "rate", "value", "count"])
            limit = fairness_limit(check, groups[groups["included"]], rates[0])
            if limit is not None:  # the policy's threshold, drawn where a group's rate would breach it
                value, label = limit
                limit_line = alt.Chart(pd.DataFrame({"limit": [value], "label": [label]})).mark_rule(
                    color="red", strokeDash=[6, 3], size=2).encode(y="limit:Q", tooltip=["label"])
                chart = chart + limit_line
                st.caption(f"Red line: {literal(label)}")
            st.altair_chart(chart, width="stretch")
            st.dataframe(groups, hide_index=True, width="stretch")
        if details.get("reason"):
            st.warning(literal(details["reason"]))
    for check in [c for c in result["checks"] if c["kind"] == "explain"]:
        importance = check["details"].get("importance") or {}
        if importance:
            st.markdown(f"**SHAP importance** ({literal(check['details'].get('explainer'))} explainer, "
                        f"{literal(check['details'].get('sample_size'))} rows)")
            data = pd.DataFrame({"feature": list(importance), "mean |SHAP|": list(importance.values())})
            st.altair_chart(alt.Chart(data).mark_bar().encode(x="mean |SHAP|:Q", y=alt.Y("feature:N", sort="-x")),
                            width="stretch")
    for check in [c for c in result["checks"] if c["kind"] == "drift"]:
        st.markdown(f"**Drift per feature** ({literal(check['id'])}; drifted share {literal(check['value'])})")
        st.dataframe(plain([{"feature": k, **v} for k, v in check["details"]["columns"].items()]),
                     hide_index=True, width="stretch")


def data_tab() -> None:
    st.subheader("Evaluation data")
    evaluated_on = sorted({e["dataset_ref"] for e in cs.evaluations(user, ref)})
    show_text(card.get("evaluation_data") or "—")
    if evaluated_on:
        st.caption(f"Evaluated on: {literal(', '.join(evaluated_on))}")
    st.subheader("Training data")
    show_text(card.get("training_data") or "—")
    for dataset_ref in model["trained_on"]:
        with st.expander(f"Datasheet of {literal(dataset_ref)}"):
            info = cs.dataset(user, dataset_ref)
            st.caption(f"sha256 {literal(info['digest'])} · {literal(info['rows'])} rows · {literal(info['format'])}")
            for key, value in (info["datasheet"] or {}).items():
                st.markdown(f"**{literal(str(key).replace('_', ' '))}**")
                show_text(value)


def governance_tab() -> None:
    st.subheader("Waivers")
    waivers = cs.waivers(user, ref)
    if waivers:
        st.dataframe(plain(waivers), hide_index=True, width="stretch")
    else:
        st.caption("None.")

    st.subheader("Stage history")
    history = cs.history(user, row["name"])
    timeline = [t for t in history["timeline"] if t["version"] == row["version"]]
    if timeline:
        st.dataframe(plain([{"seq": t["seq"], "when": t["ts"], "from": t["from_stage"], "to": t["to_stage"],
                             "by": t["actor"], "requested by": t.get("requested_by"),
                             "approvers": ", ".join(f"{a['name']} ({a['role']})" for a in t.get("approvers", [])),
                             "reason": t.get("reason")} for t in timeline]), hide_index=True, width="stretch")
    else:
        st.caption("Never promoted.")

    st.subheader("Compare with another version")
    others = [r for r in refs if r.split("@")[0] == row["name"] and r != ref]
    if not others:
        st.caption("This is the only version of the model.")
        return
    other_ref = st.selectbox("Other version", others, key="card_other")
    other = cs.model(user, other_ref)
    diff = []
    for key in MODEL_CARD_SECTIONS:
        a, b = card.get(key), (other["card"] or {}).get(key)
        if a != b:
            diff.append({"field": f"card.{key}", ref: a, other_ref: b})
    for key in sorted(set(model["hyperparameters"]) | set(other["hyperparameters"])):
        a, b = model["hyperparameters"].get(key), other["hyperparameters"].get(key)
        if a != b:
            diff.append({"field": f"hyperparameter.{key}", ref: a, other_ref: b})
    for key in ("estimator", "artifact_digest", "trained_on", "risk_tier"):
        if model[key] != other[key]:
            diff.append({"field": key, ref: model[key], other_ref: other[key]})
    if diff:
        st.dataframe(plain(pd.DataFrame(diff).astype(str)), hide_index=True, width="stretch")
    else:
        st.caption("No differences.")


TABS = {"Card": card_tab, "Metrics and fairness": metrics_tab, "Data": data_tab,
        "Waivers, history and diff": governance_tab}
for container, render in zip(st.tabs(list(TABS), key="card_tab", on_change="rerun"), TABS.values(), strict=True):
    if container.open:
        with container:
            render()
