"""Users: administrators add users and grant or revoke roles."""

import streamlit as st

from app import session
from app.text import literal, plain
from core.errors import CountersignError
from core.roles import ALL_ROLES

cs = session.service()
user = session.require()

st.title("Users")
st.dataframe(plain(cs.users(user)), hide_index=True, width="stretch")
with st.form("users_add"):
    st.markdown("**Add a user**")
    name = st.text_input("Name", key="users_name")
    roles = st.multiselect("Roles", ALL_ROLES, key="users_roles")
    st.caption("You do not choose a password: the new user gets a one-time enrolment code and chooses their own "
               "with 'countersign user enroll'.")
    if st.form_submit_button("Add user"):
        try:
            added = cs.add_user(user, name, roles)
            st.success(f"Added {literal(added['name'])}. Give them this one-time enrolment code over a separate "
                       f"channel (it works once, until {literal(added['enrolment_expires_at'])}):")
            st.code(added["enrolment_code"], language=None)
        except CountersignError as exc:
            st.error(literal(exc.message))
with st.form("users_grant"):
    st.markdown("**Grant or revoke a role**")
    target = st.selectbox("User", [u["name"] for u in cs.users(user)], key="users_target")
    role = st.selectbox("Role", ALL_ROLES, key="users_role")
    grant, revoke = st.columns(2)
    if grant.form_submit_button("Grant"):
        try:
            cs.grant(user, target, role)
            st.success(f"Granted {literal(role)} to {literal(target)}")
        except CountersignError as exc:
            st.error(literal(exc.message))
    if revoke.form_submit_button("Revoke"):
        try:
            cs.revoke(user, target, role)
            st.success(f"Revoked {literal(role)} from {literal(target)}")
        except CountersignError as exc:
            st.error(literal(exc.message))
