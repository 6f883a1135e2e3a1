"""Policies: versions, checks with their regulatory references, diffs; compliance officers add policies and manage
waivers. Tabs and the policy text render lazily (only what is open runs)."""

import tempfile
from pathlib import Path

import streamlit as st

from app import session
from app.text import literal, plain, show_text
from core.errors import CountersignError
from core.text import visible

cs = session.service()
user = session.require()
is_compliance = "compliance_officer" in session.roles()

st.title("Policies")
KINDS = ("metric", "fairness", "drift", "explain", "documentation", "data_quality")
OPERATORS = ("gt", "gte", "lt", "lte", "eq", "between")


def policies_tab() -> None:
    policies = cs.policies(user)
    if not policies:
        st.info("No policies yet.")
    else:
        versions = [f"{p['name']}@{p['version']}" for p in policies]
        chosen = st.selectbox("Policy version", versions, index=len(versions) - 1, key="pol_choice")
        record = cs.policy(user, chosen)
        parsed = record["parsed"]
        st.caption(f"sha256 {literal(record['sha256'])} · added by {literal(record['added_by'])} at "
                   f"{literal(record['added_at'])}")
        if parsed.get("description"):
            show_text(parsed["description"])
        rows = []
        for check in parsed["checks"]:
            kind = next((k for k in KINDS if k in check), "?")
            rule = ", ".join(f"{op} {check[op]}" for op in OPERATORS if op in check)
            rows.append({"id": check["id"], "kind": kind, "what": check.get(kind), "rule": rule,
                         "severity": check.get("severity", "block"),
                         "references": "; ".join(check.get("references", []))})
        st.dataframe(plain(rows), hide_index=True, width="stretch")
        approvals = parsed.get("approvals") or {}
        st.write("Approvals: " + literal("; ".join(f"{stage}: {', '.join(v['roles'])}"
                                                   for stage, v in approvals.items() if v)))
        same = [v for v in versions if v.split("@")[0] == chosen.split("@")[0] and v != chosen]
        if same:
            other = st.selectbox("Diff against", same, key="pol_diff")
            st.code(visible(cs.policy_diff(user, other, chosen) or "(identical)", keep="\n\t"), language="diff")
        text = st.expander("Policy text", key="pol_text", on_change="rerun")
        if text.open:
            with text:
                st.code(visible(record["text"], keep="\n\t"), language="yaml")

    if is_compliance:
        st.subheader("Add a policy version")
        upload = st.file_uploader("Policy file (YAML)", type=["yaml", "yml"], key="pol_upload")
        if upload is not None and st.button("Add policy", key="pol_add"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / upload.name
                path.write_bytes(upload.getvalue())
                try:
                    added = cs.add_policy(user, path)
                    st.success(f"Added {literal(added['name'])}@{literal(added['version'])}")
                except CountersignError as exc:
                    st.error(literal(exc.message))


def waivers_tab() -> None:
    waivers = cs.waivers(user)
    if waivers:
        st.dataframe(plain(waivers), hide_index=True, width="stretch")
    else:
        st.caption("No waivers.")
    if not is_compliance:
        return
    with st.form("pol_waive_form"):
        st.markdown("**Grant a waiver**")
        models = [f"{r['name']}@{r['version']}" for r in cs.inventory(user)]
        model = st.selectbox("Model version", models, key="pol_w_model")
        check = st.text_input("Check id", key="pol_w_check")
        until = st.date_input("Until", key="pol_w_until")
        justification = st.text_area("Justification", key="pol_w_just")
        if st.form_submit_button("Grant waiver"):
            try:
                granted = cs.waive(user, model, check=check, until=until.isoformat(), justification=justification)
                st.success(f"Waiver {literal(granted['id'])} granted")
            except CountersignError as exc:
                st.error(literal(exc.message))
    active = [w for w in waivers if w["active"]]
    if active:
        with st.form("pol_revoke_form"):
            st.markdown("**Revoke a waiver**")
            waiver = st.selectbox("Waiver", [w["id"] for w in active], key="pol_r_id")
            reason = st.text_input("Reason", key="pol_r_reason")
            if st.form_submit_button("Revoke"):
                try:
                    cs.revoke_waiver(user, waiver, reason=reason)
                    st.success(f"Waiver {literal(waiver)} revoked")
                except CountersignError as exc:
                    st.error(literal(exc.message))


TABS = {"Policy versions": policies_tab, "Waivers": waivers_tab}
for container, render in zip(st.tabs(list(TABS), key="pol_tab", on_change="rerun"), TABS.values(), strict=True):
    if container.open:
        with container:
            render()
