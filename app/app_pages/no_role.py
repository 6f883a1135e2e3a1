"""Shown to a signed-in user who holds no role (every role was revoked): nothing to read until one is granted."""

import streamlit as st

from app import session
from app.text import literal

user = session.require()
st.title("No access")
st.warning(f"{literal(user.name)} holds no role in Countersign any more, so there is nothing to show. "
           "Ask an administrator to grant you a role, then reload this page.")
