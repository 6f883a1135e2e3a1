"""Policies: versions, checks with their regulatory references, diffs; compliance officers add policies and manage
waivers. Tabs and the policy text render lazily (only what is open runs)."""

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import streamlit as st

from app import hints, links, session
from app.text import error_text, literal, plain, show_text
from core.display.text import visible
from core.display.words import human, role_words, rule_words, when
from core.errors import CountersignError
from core.identity.roles import Permission
from core.inputs.limits import MAX_DAYS

cs = session.service()
user = session.acting()  # its roles as of now: the page asks core's questions (Session.can), never role names
can_manage_policies = user.can(Permission.POLICY_MANAGE)
can_waive = user.can(Permission.WAIVE)

st.title("Policies")
KINDS = ("metric", "fairness", "drift", "explain", "documentation", "data_quality")
OPERATORS = ("gt", "gte", "lt", "lte", "eq", "between")
FLASH = "pol_flash"  # a success message shown once, after the rerun that follows an action
WAIVER_DAYS = 30  # the waiver form's default length


def done(message: str) -> None:
    """Remember a success message for after the rerun, and rerun so every table and list shows the change."""
    st.session_state[FLASH] = message
    st.rerun()


def failed(exc: CountersignError) -> None:
    st.error(error_text(exc))


def what_words(value: Any) -> str:  # noqa: ANN401 - a policy value
    """What a check looks at, in words (lists joined, never Python's brackets)."""
    return human([str(v) for v in value]) if isinstance(value, list | tuple) else \
        ("—" if value is None else str(value))


def rule_of(check: dict[str, Any]) -> str:
    """A check's rule in words (``gte 0.8`` is "at least 0.8000")."""
    parts = [rule_words(op, check[op]) for op in OPERATORS if op in check]
    if "required" in check:
        parts.append("required sections: " + human([str(v).replace("_", " ") for v in check["required"]]))
    if "must_not_include" in check:
        parts.append(f"none of {human(list(check['must_not_include']))} among the top {check.get('top_k', 5)} "
                     "features")
    if "max_drifted_share" in check:
        parts.append(f"at most {check['max_drifted_share']:.0%} of columns drifted")
    return "; ".join(parts) or "reported, not judged"


flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(flash)
# /policies?policy=NAME opens that policy's latest version, ?policy=NAME@VERSION that version (once per new value).
wanted = links.fresh("policy", "policies")
if wanted is not None:
    st.session_state.pop("pol_choice", None)
    st.session_state["pol_wanted"] = wanted


def policies_tab() -> None:
    policies = cs.policies(user)
    if not policies:
        st.info("No policies yet.")
    else:
        versions = [f"{p['name']}@{p['version']}" for p in policies]
        wanted_name = st.session_state.pop("pol_wanted", None)
        of_wanted = [v for v in versions if v == wanted_name] or \
            [v for v in versions if v.rsplit("@", 1)[0] == wanted_name]
        if of_wanted:
            st.session_state["pol_choice"] = of_wanted[-1]
        elif wanted_name is not None:
            links.unknown("policy", wanted_name, versions[-1])
        chosen = st.selectbox("Policy version", versions, index=len(versions) - 1, key="pol_choice")
        name = chosen.rsplit("@", 1)[0]
        latest = [v for v in versions if v.rsplit("@", 1)[0] == name][-1]
        links.keep("policy", name if chosen == latest else chosen, "policies")  # an earlier version by its number
        record = cs.policy(user, chosen)
        parsed = record["parsed"]
        st.markdown(f"Added by {literal(record['added_by'])} on {literal(when(record['added_at']))} · sha256 "
                    f"`{record['sha256']}`")
        if parsed.get("description"):
            show_text(parsed["description"])
        rows = []
        for check in parsed["checks"]:
            kind = next((k for k in KINDS if k in check), "?")
            rows.append({"Check": check["id"], "Kind": kind.replace("_", " "),
                         "What": what_words(check.get(kind)).replace("_", " "), "Rule": rule_of(check),
                         "Severity": "blocks promotion" if check.get("severity", "block") == "block"
                         else "warning only",
                         "References": "; ".join(check.get("references", [])) or "—"})
        st.dataframe(plain(rows), hide_index=True, width="stretch")
        approvals = parsed.get("approvals") or {}
        st.markdown("Approvals: " + literal("; ".join(
            f"{stage}: {human([role_words(r) for r in v['roles']])}" for stage, v in approvals.items() if v)
            or "none required"))
        st.markdown("Evaluate a model against this policy with the command line (evaluations run where the data "
                    "is; --label names the column of true outcomes)"
                    + (":" if hints.may_evaluate(user) else f"; {literal(hints.who_evaluates())} runs it:"))
        st.code(visible(hints.evaluate_command(user, policy=chosen)), language="bash")
        same = [v for v in versions if v.split("@")[0] == chosen.split("@")[0] and v != chosen]
        if same:
            other = st.selectbox("Diff against", same, key="pol_diff")
            st.code(visible(cs.policy_diff(user, other, chosen) or "(identical)", keep="\n\t"), language="diff")
        text = st.expander("Policy text", key="pol_text", on_change="rerun")
        if text.open:
            with text:
                st.code(visible(record["text"], keep="\n\t"), language="yaml")

    if can_manage_policies:
        st.subheader("Add a policy version")
        upload = st.file_uploader("Policy file (YAML)", type=["yaml", "yml"], key="pol_upload")
        if upload is not None and st.button("Add policy", key="pol_add"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / upload.name
                path.write_bytes(upload.getvalue())
                try:
                    added = cs.add_policy(user, path)
                except CountersignError as exc:
                    failed(exc)
                else:
                    st.session_state["pol_wanted"] = added["name"]
                    done(f"Added {literal(added['name'])}@{literal(added['version'])}" if added.get("created", True)
                         else f"{literal(added['name'])}@{literal(added['version'])} was already stored (same text)")


def waiver_cap(policy: dict[str, Any] | None, today: date) -> tuple[str, date]:
    """The longest waiver the governing policy allows, in words, and its last possible day: the policy's
    ``max_waiver_days`` counted from today, as core checks it (:meth:`core.releases.promotions.ReleaseService.waive`
    refuses an end more than that many days after today); without a cap, the longest any date may be."""
    days = (policy or {}).get("parsed", {}).get("max_waiver_days") if policy else None
    if policy is None:
        return "Choose a model version: its governing policy may cap a waiver's length.", today + timedelta(MAX_DAYS)
    ref = f"{policy['parsed'].get('policy', '')}@{policy['parsed'].get('version', '')}"
    if days is None:
        return f"Policy {ref} sets no cap on a waiver's length.", today + timedelta(days=MAX_DAYS)
    latest = today + timedelta(days=int(days))
    return (f"Policy {ref} caps waivers at {int(days)} days: the last possible day is {latest.isoformat()}.",
            latest)


def waivers_tab() -> None:
    waivers = cs.waivers(user)
    if waivers:
        st.dataframe(plain([{
            "waiver": w["id"], "model": f"{w['model_name']}@{w['model_version']}", "check": w["check_id"],
            "until": w["until"], "status": ("active" if w["active"] else
                                            f"revoked {when(w['revoked_at'])} by {w.get('revoked_by') or '—'}"
                                            if w.get("revoked_at") else "expired"),
            "granted by": w["granted_by"], "granted (UTC)": when(w["granted_at"]),
            "policy": w.get("policy") or "—", "justification": w["justification"],
        } for w in reversed(waivers)]), hide_index=True, width="stretch", key="pol_waivers_table")
    else:
        st.info("No waivers.")
    if not can_waive:
        return
    st.markdown("**Grant a waiver**")
    st.markdown("A waiver lets a promotion pass one failed check of one model version under the policy version in "
                "force now. It must end after today (the policy may cap its length), and it is recorded, with its "
                "justification, in the ledger.")
    today = datetime.now(UTC).date()
    tomorrow = today + timedelta(days=1)
    if st.session_state.pop("pol_w_reset", False):  # after a grant: an empty form (set before the widgets render)
        st.session_state["pol_w_model"] = None
        st.session_state["pol_w_check"] = None
        st.session_state["pol_w_just"] = ""
        st.session_state["pol_w_until"] = today + timedelta(days=WAIVER_DAYS)
    inventory = cs.inventory(user)
    models = [f"{r['name']}@{r['version']}" for r in inventory]
    governing = {f"{r['name']}@{r['version']}": r.get("policy") for r in inventory}
    model = st.selectbox("Model version", models, key="pol_w_model", index=None, placeholder="choose a model version")
    checks: list[str] = []
    policy: dict[str, Any] | None = None
    if model is not None and governing.get(model):
        try:
            policy = cs.policy(user, governing[model])
            checks = [c["id"] for c in policy["parsed"]["checks"]]
        except CountersignError:
            checks = []
    if model is not None and not governing.get(model):
        st.warning(f"{literal(model)} has no governing policy, so there is no check to waive.")
    check = st.selectbox("Check", checks, key="pol_w_check", index=None,
                         placeholder="choose a check of its governing policy" if checks else "choose a model first")
    cap, latest = waiver_cap(policy, today)
    default = min(today + timedelta(days=WAIVER_DAYS), latest)
    held = st.session_state.get("pol_w_until")
    if held is None:
        st.session_state["pol_w_until"] = default  # the widget's value lives in the session state only
    elif not tomorrow <= held <= latest:  # another model's policy allowed more (or a day passed)
        st.session_state["pol_w_until"] = min(max(held, tomorrow), latest)
    until = st.date_input("Until (last day the waiver holds)", min_value=tomorrow, max_value=latest,
                          key="pol_w_until", format="YYYY-MM-DD")
    st.caption(f"{literal(cap)} Granting now sets its last day to **{until.isoformat()}** ({(until - today).days} "
               "days from today); a date the field marks in red lies outside these bounds and is not taken.")
    justification = st.text_area("Justification", key="pol_w_just",
                                 placeholder="why this failed check may be waived, and what mitigates it")
    if st.button("Grant waiver", key="pol_w_grant"):
        if model is None or check is None:
            st.error("Choose the model version and the check to waive.")
        else:
            try:
                granted = cs.waive(user, model, check=check, until=until.isoformat(), justification=justification)
            except CountersignError as exc:
                failed(exc)
            else:
                st.session_state["pol_w_reset"] = True
                done(f"Waiver {literal(granted['id'])} granted: {literal(check)} on {literal(model)} until "
                     f"{literal(granted['until'])}")
    active = [w for w in waivers if w["active"]]
    if active:
        with st.form("pol_revoke_form"):
            st.markdown("**Revoke a waiver**")
            labels = {w["id"]: f"{w['id']}: {w['check_id']} on {w['model_name']}@{w['model_version']} until "
                               f"{w['until']}" for w in active}
            waiver = st.selectbox("Waiver", list(labels), key="pol_r_id", format_func=labels.__getitem__)
            reason = st.text_input("Reason", key="pol_r_reason", placeholder="why the waiver ends now")
            if st.form_submit_button("Revoke"):
                if not reason.strip():
                    st.error("A reason is required: say why the waiver ends now. Nothing was changed.")
                else:
                    try:
                        cs.revoke_waiver(user, waiver, reason=reason)
                    except CountersignError as exc:
                        failed(exc)
                    else:
                        done(f"Waiver {literal(waiver)} revoked")


TABS = {"Policy versions": policies_tab, "Waivers": waivers_tab}
for container, render in zip(st.tabs(list(TABS), key="pol_tab", on_change="rerun"), TABS.values(), strict=True):
    if container.open:
        with container:
            render()
