"""Approvals: my queue; each request shows the gate, every check, and the candidate beside production. Decisions
need a comment, are confirmed in a dialog, and are signed with the signed-in user's own key."""

import streamlit as st

from app import session
from app.text import literal, plain
from core.errors import CountersignError

cs = session.service()
user = session.require()
roles = set(session.roles())
can_decide = bool(roles & {"ml_lead", "compliance_officer"})
can_request = bool(roles & {"data_scientist", "ml_lead"})
PAGE_SIZE = 5  # requests shown with their full gate evidence per render

st.title("Approvals")


def close_dialog() -> None:
    """Forget the open dialog (also when the user dismisses it with X, Esc or a click outside)."""
    st.session_state.pop("appr_dialog", None)
    st.session_state.pop("appr_comment", None)


@st.dialog("Confirm decision", on_dismiss=close_dialog)
def confirm(request_id: str, decision: str) -> None:
    try:
        request = cs.request_detail(user, request_id)
        what = f"{request['model_name']}@{request['model_version']} → {request['target_stage']}"
    except CountersignError as exc:
        request, what = None, exc.message
    st.write(f"{decision.capitalize()} request **{literal(request_id)}** ({literal(what)})? Your key signs this "
             "decision.")
    comment = st.text_area("Comment (required)", key="appr_comment",
                           placeholder="What did you review, and why this decision?")
    ok, cancel = st.columns(2)
    cancelled = cancel.button("Cancel", key="appr_cancel")
    # A blank comment can never be confirmed: the button stays disabled, and a forged click is ignored as well.
    if ok.button(f"Confirm {decision}", type="primary", key="appr_confirm", disabled=not comment.strip()) \
            and comment.strip():
        try:
            act = cs.approve if decision == "approve" else cs.reject
            outcome = act(user, request_id, comment=comment)
            flash = (f"{decision.capitalize()}d as {literal(outcome['role'])}: request {literal(request_id)} is "
                     f"{literal(outcome['status'])}")
            if outcome["status"] == "approved" and request is not None:
                flash += f"; {literal(outcome['model'])} is now in {literal(request['target_stage'])}"
            elif outcome.get("remaining_roles"):
                flash += f"; still needs {literal(', '.join(outcome['remaining_roles']))}"
            st.session_state["appr_flash"] = flash
        except CountersignError as exc:
            st.session_state["appr_flash_error"] = literal(exc.message)
        close_dialog()
        st.rerun()
    if cancelled:
        close_dialog()
        st.rerun()


if flash := st.session_state.pop("appr_flash", None):
    st.success(flash)
if flash_error := st.session_state.pop("appr_flash_error", None):
    st.error(flash_error)

requests = cs.requests(user, pending=True)
mine = [r for r in requests if r["awaiting_me"]]
st.subheader(f"Awaiting my decision ({len(mine)})" if can_decide else "Open requests")
shown = mine if can_decide else requests
if not shown:
    st.caption("Nothing waiting." if can_decide else "No open requests.")
elif len(shown) > PAGE_SIZE:
    # A long queue: one compact table of all of it, and the full evidence for one page of requests at a time.
    st.dataframe(plain([{"request": r["id"], "model": f"{r['model_name']}@{r['model_version']}",
                         "to": r["target_stage"], "requested by": r["requested_by"],
                         "requested at": r["requested_at"], "needs": ", ".join(r["open_roles"])}
                        for r in shown]), hide_index=True, width="stretch")
    pages = -(-len(shown) // PAGE_SIZE)
    page = int(st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1,
                               key="appr_page"))
    start = (min(page, pages) - 1) * PAGE_SIZE
    st.caption(f"Requests {start + 1}–{min(start + PAGE_SIZE, len(shown))} of {len(shown)}")
    shown = shown[start:start + PAGE_SIZE]
for request in shown:
    ref = f"{request['model_name']}@{request['model_version']}"
    with st.container(border=True):
        st.markdown(f"### {literal(ref)} → {literal(request['target_stage'])}")
        st.caption(f"Request {literal(request['id'])} by {literal(request['requested_by'])} at "
                   f"{literal(request['requested_at'])}: {literal(request['reason'])}")
        detail = cs.request_detail(user, request["id"])
        done = [f"{d['approver']} ({d['role']})" for d in detail["decisions"] if d["decision"] == "approve"]
        st.write(f"Needs: {literal(', '.join(detail['required_roles']))} · approved so far: "
                 f"{literal(', '.join(done) or 'nobody')} · "
                 f"policy {literal(detail['policy_name'])}@{literal(detail['policy_version'])}")
        if detail["waivers"]:
            st.warning("Waivers used: " + ", ".join(f"{literal(w['check'])} (until {literal(w['until'])})"
                                                   for w in detail["waivers"]))
        candidate = detail["evaluation"] or {"checks": []}
        current = (detail["current_production"] or {}).get("evaluation") or {"checks": []}
        other = {c["id"]: c for c in current["checks"]}
        rows = [{"check": c["id"], "metric": c["metric"], "candidate": c["value"],
                 "candidate passed": c["passed"], "rule": f"{c['operator'] or ''} {c['threshold'] or ''}",
                 "production": other.get(c["id"], {}).get("value"), "severity": c["severity"]}
                for c in candidate["checks"]]
        label = f"Gate evidence: evaluation {literal(detail['evaluation_id'])}"
        if detail["current_production"]:
            label += f" beside production v{literal(detail['current_production']['version'])}"
        st.markdown(f"**{label}**")
        st.dataframe(plain(rows), hide_index=True, width="stretch")
        if can_decide and request["awaiting_me"]:
            a, b = st.columns(2)
            if a.button("Approve", key=f"appr_approve_{request['id']}", type="primary"):
                st.session_state["appr_dialog"] = (request["id"], "approve")
            if b.button("Reject", key=f"appr_reject_{request['id']}"):
                st.session_state["appr_dialog"] = (request["id"], "reject")

if dialog := st.session_state.get("appr_dialog"):
    confirm(*dialog)

if can_request:
    st.subheader("Request a promotion")
    with st.form("appr_request_form"):
        models = [f"{r['name']}@{r['version']}" for r in cs.inventory(user)]
        model = st.selectbox("Model version", models, key="appr_req_model")
        target = st.radio("To", ["staging", "production"], horizontal=True, key="appr_req_target")
        reason = st.text_input("Reason", key="appr_req_reason")
        if st.form_submit_button("Request promotion"):
            try:
                opened = cs.promote(user, model, to=target, reason=reason)
                st.success(f"Request {literal(opened['request_id'])} opened; awaiting "
                           f"{literal(', '.join(opened['required_roles']))}")
            except CountersignError as exc:
                st.error(literal(exc.message))
