"""Entrypoint: routes to the pages the signed-in user's roles allow (``st.navigation``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import session

PAGES = Path(__file__).parent / "app_pages"

st.set_page_config(page_title="Countersign", page_icon=":material/verified:", layout="wide")

user = session.current()
if user is None:
    pages = [st.Page(PAGES / "sign_in.py", title="Sign in", icon=":material/login:", default=True)]
else:
    with st.sidebar:
        st.markdown(f"**{user.name}**  \n{', '.join(user.roles)}")
        if st.button("Sign out", icon=":material/logout:"):
            session.sign_out()
            st.rerun()
    pages = [st.Page(PAGES / "audit_log.py", title="Audit log", icon=":material/receipt_long:", default=True)]

st.navigation(pages).run()
