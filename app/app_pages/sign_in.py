"""Sign in with a Countersign user name and password.

The router renders this form in place of whatever page the URL asks for while no one is signed in; after sign-in
the app reruns on the same URL, so the user lands on the page (and object) they asked for.
"""

from __future__ import annotations

import streamlit as st

from app import session
from app.text import literal, web_words


def render(asked: str | None = None) -> None:
    """The sign-in form; ``asked`` is the title of the page the URL names (shown so the user knows where they go)."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("Countersign")
        st.caption("Model governance with a signed, tamper-evident audit ledger.")
        notice = st.empty()  # why the user was signed out: gone as soon as they try again
        if (why := session.notice()) is not None:
            notice.info(why)
        if asked and (asked != "Inventory" or st.query_params.to_dict()):
            st.markdown(f"Sign in to open **{literal(asked)}**.")
        with st.form("sign_in_form"):
            username = st.text_input("Username", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            session.clear_notice()
            notice.empty()
            problem = session.sign_in(username, password)
            if problem:
                st.error(literal(web_words(problem)))
            else:
                st.rerun()
