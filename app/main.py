"""Entrypoint: routes to the pages the signed-in user's roles allow (``st.navigation``). Layout only."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import session
from app.text import literal
from core.errors import CountersignError

PAGES = Path(__file__).resolve().parent / "app_pages"

#: page file, title, icon, roles that see it (None: everyone signed in)
NAVIGATION = [
    ("inventory.py", "Inventory", ":material/inventory_2:", None),
    ("model_card.py", "Model card", ":material/description:", None),
    ("lineage.py", "Lineage", ":material/account_tree:", None),
    ("approvals.py", "Approvals", ":material/approval:", {"data_scientist", "ml_lead", "compliance_officer"}),
    ("policies.py", "Policies", ":material/policy:", None),
    ("audit_log.py", "Audit log", ":material/receipt_long:", None),
    ("reports.py", "Reports", ":material/summarize:", {"auditor", "compliance_officer"}),
    ("users.py", "Users", ":material/group:", {"admin"}),
]

st.set_page_config(page_title="Countersign", page_icon=":material/verified:", layout="wide")


def route() -> None:
    user = session.current()
    roles = set(session.roles()) if user is not None else set()
    if user is None:
        pages = [st.Page(PAGES / "sign_in.py", title="Sign in", icon=":material/login:", default=True)]
    else:
        with st.sidebar:
            st.markdown(f"**{literal(user.name)}**  \n{literal(', '.join(sorted(roles)) or 'no role')}")
            if st.button("Sign out", icon=":material/logout:", key="nav_sign_out"):
                session.sign_out()
                st.rerun()
        pages = [st.Page(PAGES / file, title=title, icon=icon, default=(file == "inventory.py"))
                 for file, title, icon, allowed in NAVIGATION if roles and (allowed is None or roles & allowed)]
        if not pages:
            pages = [st.Page(PAGES / "no_role.py", title="No access", icon=":material/block:", default=True)]
    st.navigation(pages).run()


# One database connection for the whole render (each core call would otherwise open the file anew; the lock is
# released as soon as the render ends, so the CLI can work on the same file in between). A refusal or error from
# core that a page did not handle itself (say, a role revoked mid-render) is shown, never a traceback.
try:
    with session.service().store.held():
        route()
except CountersignError as exc:
    st.error(literal(exc.message))
