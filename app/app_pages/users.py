"""Users: administrators add users, grant and revoke roles and deactivate accounts; anyone signed in changes their
own password. After every action the page reruns, so the table shows the change at once (each action is a ledger
entry written in the same transaction as the change, by core)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import access, session
from app.text import error_text, literal, plain
from core.display.words import role_words, when
from core.errors import CountersignError
from core.identity.roles import ALL_ROLES

cs = session.service()
user = session.require()
can_manage_users = access.manages_users(session.as_now(user))  # Permission.USER_MANAGE, asked of the session as of now
FLASH = "users_flash"  # (kind, message, code or None): shown once, after the rerun that follows an action




def status(u: dict[str, Any]) -> str:
    """Active, waiting to enrol, or deactivated (when, by whom, why)."""
    gone = u.get("deactivated")
    if gone:
        return f"deactivated {when(gone['ts'])} by {gone['by']}: {gone.get('reason') or 'no reason given'}"
    return "active" if u["enrolled"] else "waiting to enrol"


def done(message: str, code: str | None = None) -> None:
    """Remember a success message for after the rerun, and rerun so every table shows the change."""
    st.session_state[FLASH] = ("success", message, code)
    st.rerun()


def failed(exc: CountersignError) -> None:
    st.error(error_text(exc))


st.title("Users" if can_manage_users else "Your account")
flash = st.session_state.pop(FLASH, None)
if flash is not None:
    kind, message, code = flash
    st.success(message)
    if code:
        st.code(code, language=None)

if can_manage_users:
    users = cs.users(user)
    st.dataframe(plain([{
        "Name": u["name"], "Roles": ", ".join(map(role_words, u["roles"])) or "none",
        "Status": status(u), "Key id": u["key_id"] or "—", "Created (UTC)": when(u["created_at"]),
    } for u in users]), hide_index=True, width="stretch", key="users_table")
    active = [u["name"] for u in users if u["active"]]

    with st.form("users_add"):
        st.markdown("**Add a user**")
        name = st.text_input("Name", key="users_name", placeholder="lower-case letters, digits, . _ -")
        roles = st.multiselect("Roles", ALL_ROLES, key="users_roles", format_func=role_words)
        st.markdown("You do not choose a password: the new user gets a one-time enrolment code and chooses their "
                    "own with the command `countersign user enroll NAME`.")
        if st.form_submit_button("Add user"):
            try:
                added = cs.add_user(user, name.strip(), roles)
            except CountersignError as exc:
                failed(exc)
            else:
                done(f"Added {literal(added['name'])}. Give them this one-time enrolment code over a separate "
                     f"channel (it works once, until {literal(when(added['enrolment_expires_at']))}); they run "
                     f"countersign user enroll {literal(added['name'])}:", added["enrolment_code"])

    with st.form("users_grant"):
        st.markdown("**Grant or revoke a role**")
        target = st.selectbox("User", active, key="users_target")
        role = st.selectbox("Role", ALL_ROLES, key="users_role", format_func=role_words)
        grant, revoke = st.columns(2)
        granted = grant.form_submit_button("Grant")
        revoked = revoke.form_submit_button("Revoke")
        if (granted or revoked) and target is not None:
            try:
                if granted:
                    result = cs.grant(user, target, role)
                else:
                    result = cs.revoke(user, target, role)
            except CountersignError as exc:
                failed(exc)
            else:
                verb = f"Granted {role_words(role)} to" if granted else f"Revoked {role_words(role)} from"
                holds = ", ".join(map(role_words, result["roles"])) or "no role"
                done(f"{verb} {literal(target)}; {literal(target)} now holds {literal(holds)}.")

    with st.form("users_deactivate"):
        st.markdown("**Deactivate an account**")
        st.markdown("For good: the person can no longer sign in, loses every role (approvals they gave on open "
                    "requests no longer count) and their signing key is destroyed; the signatures they made stay "
                    "valid. Deactivated accounts stay listed.")
        others = [n for n in active if n != user.name]
        gone = st.selectbox("User", others, key="users_deactivate_target", index=None, placeholder="choose a user")
        reason = st.text_input("Reason", key="users_deactivate_reason", placeholder="why (recorded in the ledger)")
        if st.form_submit_button("Deactivate"):
            if gone is None:
                st.error("Choose the user to deactivate.")
            else:
                try:
                    result = cs.deactivate_user(user, gone, reason)
                except CountersignError as exc:
                    failed(exc)
                else:
                    ended = session.end_sessions_of(gone)
                    done(f"Deactivated {literal(gone)} (ledger entry {result['seq']}); roles removed: "
                         f"{literal(', '.join(map(role_words, result['roles_removed'])) or 'none')}"
                         + (f"; signed out of {ended} open session{'s' if ended != 1 else ''}." if ended else "."))

st.subheader("Change your password")
with st.form("users_password", clear_on_submit=True):
    st.markdown(f"Signed in as **{literal(user.name)}**. Your signing key stays the same; only the password that "
                "unlocks it changes (a ledger entry records that it changed, never the password).")
    current = st.text_input("Current password", type="password", key="users_pw_current")
    new = st.text_input("New password", type="password", key="users_pw_new")
    repeat = st.text_input("Repeat the new password", type="password", key="users_pw_repeat")
    if st.form_submit_button("Change password"):
        if not current or not new:
            st.error("Enter your current password and a new one.")
        elif new != repeat:
            st.error("The two new passwords differ.")
        else:
            try:
                cs.login(user.name, current)
            except CountersignError:
                st.error("Your current password is not right; nothing was changed.")
            else:
                try:
                    cs.change_password(user, new)
                except CountersignError as exc:
                    failed(exc)
                else:
                    done("Your password was changed. Use the new one from your next sign-in on (here and with the "
                         "command line).")
