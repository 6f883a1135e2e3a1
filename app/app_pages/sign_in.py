"""Sign in with a Countersign user name and password."""

import streamlit as st

from app import session
from app.text import literal

_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title("Countersign")
    st.caption("Model governance with a signed, tamper-evident audit ledger.")
    if st.session_state.get("auth_expired"):
        st.info("Your session expired. Please sign in again.")
    with st.form("sign_in_form"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        problem = session.sign_in(username, password)
        if problem:
            st.error(literal(problem))
        else:
            st.rerun()
