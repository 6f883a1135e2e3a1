"""Approvals: my inbox, then each open request with what a reviewer needs to decide it — the stage path, the
version's suspension (who, when, why), the evidence and its age, whether it still holds, a side-by-side comparison
with the version in production (checks, artifact digest, card text), who has approved and who must still decide,
and the thread. Reviewers approve, reject or request changes in one dialog (comment and decision submitted
together, signed with their own key); requesters answer change requests; anyone on the request comments. Whoever
may suspend (compliance officers, ML leads) suspends production versions; whoever may suspend or request promotions
asks for a suspended one back. Every action reruns the page, so each table shows the state after it.
``/approvals?request=<id>`` opens one request (see :mod:`app.links`).

Which actions show is asked of core, never decided from role names: ``user.can(Permission…)`` on the session with
the user's roles as of now (:func:`app.session.acting`), the same table core checks each action against.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import hints, links, session
from app.text import error_text, literal, plain, show_text, web_words
from core.display.words import role_words, when
from core.errors import CountersignError
from core.identity.roles import Permission
from core.releases.separation import reinstatement_permission, thread_permission

cs = session.service()
user = session.acting()
can_decide = user.can(Permission.APPROVE)
can_request = user.can(Permission.PROMOTE_REQUEST)
can_suspend = user.can(Permission.SUSPEND)
#: core's own rule for asking a suspended version back (:func:`core.releases.separation.reinstatement_permission`)
can_reinstate = user.can(reinstatement_permission(user.roles))
PAGE_SIZE = 3  # requests shown with their full evidence per render (each is a page of context: < 2 s at 20)
#: decision -> (verb for the button and the dialog, core method name, words for the flash)
DECISIONS = {"approve": ("Approve", "approve", "Approved"), "reject": ("Reject", "reject", "Rejected"),
             "request_changes": ("Request changes", "request_changes", "Sent back for changes")}
STATUS_BADGE = {"pending": ("awaiting decisions", "blue"), "changes_requested": ("changes requested", "orange")}

st.title("Approvals")


def flash(message: str, error: bool = False) -> None:
    """Show ``message`` (already Markdown-safe) after the rerun an action makes."""
    st.session_state["appr_flash_error" if error else "appr_flash"] = message


def close_dialog() -> None:
    """Forget the open dialog (also when the user dismisses it with X, Esc or a click outside)."""
    st.session_state.pop("appr_dialog", None)
    st.session_state.pop("appr_comment", None)


@st.dialog("Confirm decision", on_dismiss=close_dialog)
def confirm(request_id: str, decision: str) -> None:
    """One form: the comment and the decision are submitted together, so one click on "Confirm …" decides."""
    verb, method, done = DECISIONS[decision]
    try:
        request = cs.request_detail(user, request_id)
        what = f"{request['model_name']}@{request['model_version']} → {request['target_stage']}"
    except CountersignError as exc:
        request, what = None, web_words(exc.message)
    st.write(f"{verb} request **{literal(request_id)}** ({literal(what)})? Your key signs this "
             f"{'decision' if decision != 'request_changes' else 'request'}.")
    if decision == "request_changes":
        st.caption("The request goes back to its requester, who answers; then it returns to review. Approvals "
                   "already given stand only if the evidence is unchanged.")
    with st.form("appr_dialog_form", border=False):
        comment = st.text_area("Comment (required)", key="appr_comment", required=True,
                               placeholder="For example: evaluation and card reviewed; pilot scope confirmed."
                               if decision != "request_changes" else "For example: add the monitoring plan to the "
                               "card.")
        submitted = st.form_submit_button(f"Confirm {verb.lower()}", type="primary", key="appr_confirm")
    if st.button("Cancel", key="appr_cancel"):
        close_dialog()
        st.rerun()
    if not submitted:
        return
    if not (comment or "").strip():
        st.error("Write a comment first: every decision is explained.")
        return
    try:
        outcome = getattr(cs, method)(user, request_id, comment=comment)
        message = f"{done} as {literal(role_words(outcome['role']))}: request {literal(request_id)} is " \
                  f"{literal(outcome['status'].replace('_', ' '))}"
        if outcome["status"] == "approved" and request is not None:
            message += f"; {literal(outcome['model'])} is now in {literal(request['target_stage'])}"
        elif outcome.get("remaining_roles"):
            message += f"; still needs {literal(', '.join(role_words(r) for r in outcome['remaining_roles']))}"
        elif outcome["status"] == "changes_requested":
            message += f"; {literal(outcome['requested_by'])} is asked to answer"
        flash(message)
    except CountersignError as exc:
        flash(error_text(exc), error=True)
    close_dialog()
    st.rerun()


def comparison_table(review: dict[str, Any]) -> pd.DataFrame:
    """Every check side by side with production, in words: what it measures, the rule, the candidate's value and
    result, production's, and the change. Five columns of text that wrap (see :func:`show_comparison`), so the
    card fits a 1400 px screen without scrolling sideways."""
    production = review["production"]
    rows = []
    for c in review["comparison"]["checks"]:
        severity = "" if c.get("severity", "block") == "block" else "; warning only"
        row = {"Check": f"{c['check']} ({c['metric']}, {c['kind'].replace('_', ' ')}{severity})",
               "Rule": c["rule"], "Candidate": f"{c['candidate']}: {c['candidate_verdict']}"}
        if production:
            verdict = c["production_verdict"]
            row |= {f"Production v{production['version']}": c["production"] if verdict in (None, "", "—")
                    else f"{c['production']}: {verdict}",
                    "Change": "—" if c["change"] is None else f"{c['change']:+.4f}"}
        rows.append(row)
    return plain(rows)


def show_comparison(review: dict[str, Any]) -> None:
    """The comparison as a static table whose cells wrap (a data grid cuts long rules and scrolls sideways); every
    cell and heading is text from the records, shown literally (:func:`app.text.literal`)."""
    frame = comparison_table(review)
    shown = frame.map(literal).rename(columns=literal)
    production = review["production"]
    st.table(shown, hide_index=True, border="horizontal",
             alt="The gate's checks: the candidate's value and result" + (
                 f" beside production v{production['version']}'s, and the change" if production else ""))


def show_thread(review: dict[str, Any]) -> None:
    """The conversation: the request, comments, change requests, answers and decisions, oldest first."""
    for entry in review["thread"]:
        who = f"{entry['author']} ({entry['role_words']})" if entry["role_words"] else entry["author"]
        where = "" if entry["request_id"] == review["request"]["id"] else f" on {entry['request_id']}"
        st.markdown(f"**{literal(who)}** {literal(entry['kind_words'])}{literal(where)} · "
                    f"{literal(entry['at_words'])}")
        show_text(entry["comment"])


def show_request(request: dict[str, Any]) -> None:
    """One request with its review context and the actions open to me."""
    rid = request["id"]
    review = cs.review(user, rid)
    ref = review["model"]
    name, _, version = ref.partition("@")
    with st.container(border=True):
        st.markdown(f"### {literal(ref)} → {literal(request['target_stage'])}")
        label, colour = STATUS_BADGE.get(review["status"], (review["status_words"], "gray"))
        st.badge(label, color=colour)
        st.markdown(f"Request {literal(rid)} by {literal(request['requested_by'])} on "
                    f"{literal(when(request['requested_at']))}: {literal(request['reason'])}")
        a, b, c = st.columns(3)
        a.page_link(links.PAGE_FILES["model_card"], label=f"Model card of {literal(ref)}",
                    query_params=links.model_params(name, version), icon=":material/description:")
        b.page_link(links.PAGE_FILES["model_card"], label=f"Evaluation {literal(review['evidence']['evaluation_id'])}",
                    query_params={"model": ref, "evaluation": review["evidence"]["evaluation_id"]},
                    icon=":material/fact_check:")
        c.page_link(links.PAGE_FILES["approvals"], label="Permalink to this request",
                    query_params={"request": rid}, icon=":material/link:")
        path = " → ".join(review["stage_path"])
        st.markdown(f"**Stage path:** {literal(path)} (now: {literal(review['stage_now'])})")
        if review["suspension"]:
            sus = review["suspension"]
            who = f"{sus['by']} ({role_words(sus['role'])})" if sus["role"] else str(sus["by"])
            st.warning(f"**Suspended** by {literal(who)} on {literal(sus['at_words'])}: "
                       f"{literal(sus['reason'] or 'no reason recorded')}", icon=":material/block:")
        if review["supersedes"]:
            st.info(f"Replaces request {literal(review['supersedes'])}, answered with new evidence; approvals "
                    "given on the old evidence do not count here.")
        ev = review["evidence"]
        verdict = {True: "passes the gate", False: "fails the gate (see waivers)", None: "has no result"}[ev["passed"]]
        st.markdown(f"**Evidence:** evaluation {literal(ev['evaluation_id'])} on {literal(ev['dataset'] or '—')} "
                    f"by {literal(ev['evaluated_by'] or '—')}, evaluated {literal(ev['evaluated_words'])} "
                    f"(**{literal(ev['age_words'])}**); it {literal(verdict)}.")
        if ev["stale"]:
            st.error("The evidence no longer holds; approving will close this request:  \n"
                     + "  \n".join(f"- {literal(reason)}" for reason in ev["stale"]))
        approvals = review["approvals"]
        done = ", ".join(f"{a['approver']} ({role_words(a['role'])})" for a in approvals["standing"]) or "nobody"
        st.markdown(f"**Approved so far:** {literal(done)} · **Still to decide:** "
                    f"{literal(approvals['still_needed_words'])}")
        if approvals["lapsed"]:
            st.caption("Approvals that no longer count (the approver lost the role): "
                       + literal(", ".join(f"{a['approver']} ({role_words(a['role'])})" for a in approvals["lapsed"])))
        if review["request"]["waivers"]:
            st.warning("Waivers used: " + ", ".join(f"{literal(w['check'])} (until {literal(w['until'])}, "
                                                    f"{literal(w['id'])})" for w in review["request"]["waivers"]))
        production = review["production"]
        title = f"Gate evidence beside production v{production['version']}" if production else \
            "Gate evidence (nothing of this model is in production yet)"
        st.markdown(f"**{literal(title)}**")
        show_comparison(review)
        if production:
            art, card = review["comparison"]["artifact"], review["comparison"]["card"]
            art_words = "the same artifact as production" if art["same"] else \
                f"artifact {art['candidate'] or 'none (external model)'}; production: {art['production'] or 'none'}"
            card_words = "the same card text as production" if card["same"] else \
                f"card revision {card['candidate_revision']} differs from production's " \
                f"(revision {card['production_revision']})"
            st.markdown(f"**What changed since production v{literal(production['version'])}:** "
                        f"{literal(art_words)}; {literal(card_words)}. Production was evaluated "
                        f"{literal(when(production['evaluated_at']))}.")
            if card["diff"]:
                with st.expander("Card text: production → candidate"):
                    st.code("\n".join(card["diff"]), language="diff")
        thread = review["thread"]
        with st.expander(f"Thread ({len(thread)})", expanded=len(thread) > 1):
            show_thread(review)
        actions(request, review)


def may_write_in_thread(request: dict[str, Any]) -> bool:
    """Whether I may answer or comment on ``request``: the permission core's ``comment`` and ``answer`` check
    (:func:`core.releases.separation.thread_permission`), asked of my session."""
    return user.can(thread_permission(request, user.name, user.roles))


def actions(request: dict[str, Any], review: dict[str, Any]) -> None:
    """The buttons and forms open to me on this request."""
    rid = request["id"]
    mine = request["requested_by"] == user.name
    writes = may_write_in_thread(request)
    if can_decide and request.get("awaiting_me"):
        a, b, c = st.columns(3)
        if a.button("Approve", key=f"appr_approve_{rid}", type="primary"):
            st.session_state["appr_dialog"] = (rid, "approve")
        if b.button("Request changes", key=f"appr_changes_{rid}"):
            st.session_state["appr_dialog"] = (rid, "request_changes")
        if c.button("Reject", key=f"appr_reject_{rid}"):
            st.session_state["appr_dialog"] = (rid, "reject")
    if mine and writes and review["status"] == "changes_requested":
        with st.form(f"appr_answer_{rid}"):
            answer = st.text_area("Your answer (required)", key=f"appr_answer_text_{rid}", required=True,
                                  placeholder="What you changed, or why nothing needs to change.")
            try:
                evidence = cs.evaluation(user, review["evidence"]["evaluation_id"])
            except CountersignError:
                evidence = None
            command = hints.evaluate_command(user, model=review["model"], evaluation=evidence)
            st.caption(f"If you changed the card or the evidence, evaluate again first ({literal(command)}); the "
                       "request then continues on the new evidence.")
            if st.form_submit_button("Answer and return to review", type="primary"):
                if not (answer or "").strip():
                    st.error("Write an answer first.")
                    return
                try:
                    out = cs.answer(user, rid, comment=answer)
                    text = f"Request {literal(rid)} is back in review"
                    if out.get("supersedes"):
                        text = (f"The evidence changed, so request {literal(out['request_id'])} replaces "
                                f"{literal(rid)} and is in review; earlier approvals must be given again")
                    flash(text)
                except CountersignError as exc:
                    flash(error_text(exc), error=True)
                st.rerun()
    if writes:
        with st.form(f"appr_note_{rid}", clear_on_submit=True):
            note = st.text_area("Add a comment to the thread", key=f"appr_note_text_{rid}",
                                placeholder="A question or remark; it decides nothing.")
            if st.form_submit_button("Comment"):
                if not (note or "").strip():
                    st.error("Write a comment first.")
                    return
                try:
                    cs.comment(user, rid, comment=note)
                    flash(f"Comment added to request {literal(rid)}")
                except CountersignError as exc:
                    flash(error_text(exc), error=True)
                st.rerun()


def inbox_section() -> None:
    """What awaits me, with links to each request (decisions are listed in full above: only counted here)."""
    items = cs.inbox(user)
    st.subheader(f"My inbox ({len(items)})")
    if not items:
        st.caption("Nothing awaits you.")
        return
    deciding = sum(1 for i in items if i["kind"] == "decide")
    if deciding:
        st.markdown(f"{deciding} request{'s' if deciding != 1 else ''} await{'s' if deciding == 1 else ''} your "
                    "decision: listed above, under *Awaiting my decision*.")
    for item in (i for i in items if i["kind"] != "decide"):
        if item["kind"] == "decide":
            text = f"Decide: {item['model']} → {item['target_stage']} (requested by {item['requested_by']})"
        else:
            text = f"Answer {item['asked_by']}'s request for changes on {item['model']} → {item['target_stage']}"
        st.page_link(links.PAGE_FILES["approvals"], label=literal(text), query_params={"request": item["request_id"]},
                     icon=":material/inbox:")


def open_requests_table(rows: list[dict[str, Any]]) -> None:
    st.dataframe(plain([{"Request": links.request_url(r["id"]), "Model": f"{r['model_name']}@{r['model_version']}",
                         "To": r["target_stage"], "Status": STATUS_BADGE.get(r["status"], (r["status"],))[0],
                         "Requested by": r["requested_by"], "Requested": when(r["requested_at"]),
                         "Still to decide": ", ".join(role_words(x) for x in r["open_roles"]) or "—"}
                        for r in rows]),
                 hide_index=True, width="stretch",
                 column_config={"Request": st.column_config.LinkColumn("Request", display_text=r"request=(.*)$")})


def governance_section() -> None:
    """Suspend a production version (:attr:`Permission.SUSPEND`); ask for a suspended one back (through the gate,
    decided by others; :data:`can_reinstate`). Each form shows only to whoever core lets use it."""
    stages = cs.stages(user)
    st.subheader("Suspend or reinstate" if can_suspend and can_reinstate else
                 "Suspend a version" if can_suspend else "Reinstate a suspended version")
    left, right = st.columns(2) if can_suspend and can_reinstate else (st.container(),) * 2
    if can_suspend:
        suspend_form([f"{s['model_name']}@{s['model_version']}" for s in stages if s["stage"] == "production"], left)
    if can_reinstate:
        reinstate_form([f"{s['model_name']}@{s['model_version']}" for s in stages if s["stage"] == "suspended"],
                       right)


def suspend_form(production: list[str], where: Any) -> None:  # noqa: ANN401 - a Streamlit container
    with where, st.form("appr_suspend_form"):
        ref = st.selectbox("Production version to suspend", production or ["—"], key="appr_suspend_ref",
                           disabled=not production)
        reason = st.text_input("Reason for suspending (required)", key="appr_suspend_reason")
        if st.form_submit_button("Suspend", disabled=not production):
            if not reason.strip():
                st.error("Give a reason: the suspension and its reason are shown to everyone who reviews it.")
            else:
                try:
                    cs.suspend(user, ref, reason=reason)
                    flash(f"{literal(ref)} is suspended")
                    st.rerun()
                except CountersignError as exc:
                    st.error(error_text(exc))


def reinstate_form(suspended: list[str], where: Any) -> None:  # noqa: ANN401 - a Streamlit container
    with where, st.form("appr_reinstate_form"):
        ref = st.selectbox("Suspended version to reinstate", suspended or ["—"], key="appr_reinstate_ref",
                           disabled=not suspended)
        reason = st.text_input("Why it may return (required)", key="appr_reinstate_reason")
        command = hints.evaluate_command(user, model=suspended[0] if len(suspended) == 1 else None,
                                         evaluation=hints.last_evaluation(cs, user, suspended[0])
                                         if len(suspended) == 1 else None)
        st.caption("Reinstatement is a promotion request to production: it needs an evaluation made since the "
                   f"suspension ({literal(hints.evaluate_hint(user) + command)}) and the full approvals.")
        if st.form_submit_button("Request reinstatement", disabled=not suspended):
            if not reason.strip():
                st.error("Give a reason: the approvers read it.")
            else:
                try:
                    opened = cs.reinstate(user, ref, reason=reason)
                    flash(f"Request {literal(opened['request_id'])} to reinstate {literal(ref)} is open")
                    st.rerun()
                except CountersignError as exc:
                    st.error(error_text(exc))


def request_section() -> None:
    st.subheader("Request a promotion")
    with st.form("appr_request_form"):
        models = [f"{r['name']}@{r['version']}" for r in cs.inventory(user)]
        model = st.selectbox("Model version", models, key="appr_req_model")
        target = st.radio("To", ["staging", "production"], horizontal=True, key="appr_req_target")
        reason = st.text_input("Reason", key="appr_req_reason")
        st.caption("Registering and evaluating stay in the command line: countersign model register …, then "
                   f"{literal(hints.evaluate_hint(user) + hints.evaluate_command(user))}")
        if st.form_submit_button("Request promotion"):
            try:
                opened = cs.promote(user, model, to=target, reason=reason)
                flash(f"Request {literal(opened['request_id'])} opened; awaiting "
                      f"{literal(', '.join(role_words(r) for r in opened['required_roles']))}")
                st.rerun()
            except CountersignError as exc:
                st.error(error_text(exc))


if message := st.session_state.pop("appr_flash", None):
    st.success(message)
if message := st.session_state.pop("appr_flash_error", None):
    st.error(message)

focus = links.param("request")
everything = cs.requests(user, pending=True)
if focus:
    st.page_link(links.PAGE_FILES["approvals"], label="All requests", icon=":material/arrow_back:")
    match = next((r for r in everything if r["id"] == focus), None)
    if match is None:
        try:
            closed = cs.review(user, focus)
            st.info(f"Request {literal(focus)} is {literal(closed['status_words'])}"
                    + (f"; see request {literal(closed['superseded_by'])}" if closed["superseded_by"] else "")
                    + ".")
            match = next((r for r in cs.requests(user) if r["id"] == focus), None)
        except CountersignError as exc:
            st.error(error_text(exc))
    if match is not None:
        show_request(match)
else:
    awaiting = [r for r in everything if r["awaiting_me"]]
    sent_back = [r for r in everything if r["requested_by"] == user.name and r["status"] == "changes_requested"]
    if can_decide:
        st.subheader(f"Awaiting my decision ({len(awaiting)})")
        shown = awaiting
        if not shown:
            st.caption("Nothing waiting for your decision.")
        elif len(shown) > PAGE_SIZE:
            # A long queue: one compact table of all of it, and the full evidence for one page at a time.
            open_requests_table(shown)
            pages = -(-len(shown) // PAGE_SIZE)
            page = int(st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1,
                                       key="appr_page"))
            start = (min(page, pages) - 1) * PAGE_SIZE
            st.caption(f"Requests {start + 1}–{min(start + PAGE_SIZE, len(shown))} of {len(shown)}")
            shown = shown[start:start + PAGE_SIZE]
        for request in shown:
            show_request(request)
    if sent_back:
        st.subheader(f"Sent back to me for changes ({len(sent_back)})")
        for request in sent_back:
            show_request(request)
    inbox_section()
    others = [r for r in everything if r not in awaiting and r not in sent_back]
    st.subheader(f"Open requests ({len(everything)})")
    if not everything:
        st.caption("No open requests.")
    elif others:
        st.caption("Every open request; each link opens one with its evidence and thread.")
        open_requests_table(everything)

if dialog := st.session_state.get("appr_dialog"):
    confirm(*dialog)

if can_suspend or can_reinstate:
    governance_section()
if can_request:
    request_section()
