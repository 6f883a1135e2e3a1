"""Sign-in state for a Streamlit session: who is signed in, and when the session expires."""

from __future__ import annotations

import os
import time

import streamlit as st

from core.errors import CountersignError
from core.identity import Session
from core.service import Countersign

SESSION_TTL_S = float(os.environ.get("COUNTERSIGN_SESSION_TTL", "1800"))


@st.cache_resource
def service() -> Countersign:
    """One service object per server process (it opens the database per operation)."""
    return Countersign()


def current() -> Session | None:
    """The signed-in session, or ``None`` (also when it has expired from inactivity)."""
    session = st.session_state.get("auth_session")
    last = st.session_state.get("auth_last_seen", 0.0)
    if session is None:
        return None
    if time.time() - last > SESSION_TTL_S:
        sign_out(expired=True)
        return None
    st.session_state["auth_last_seen"] = time.time()
    return session


def roles() -> tuple[str, ...]:
    """The signed-in user's roles as the database has them now (a revoked role disappears at once)."""
    user = current()
    if user is None:
        return ()
    try:
        listed = service().users(user)
    except CountersignError:
        return ()
    return tuple(next((u["roles"] for u in listed if u["name"] == user.name), ()))


def require() -> Session:
    """The signed-in session, or stop the page (the router only shows pages to signed-in users)."""
    user = current()
    if user is None:
        st.stop()
    return user


def sign_in(name: str, password: str) -> str | None:
    """Authenticate through core; return an error message or ``None``."""
    try:
        session = service().login(name.strip(), password)
    except CountersignError as exc:
        return exc.message
    st.session_state["auth_session"] = session
    st.session_state["auth_last_seen"] = time.time()
    st.session_state.pop("auth_expired", None)
    return None


def sign_out(expired: bool = False) -> None:
    st.session_state.pop("auth_session", None)
    st.session_state.pop("auth_last_seen", None)
    if expired:
        st.session_state["auth_expired"] = True
