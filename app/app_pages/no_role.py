"""What a signed-in user sees instead of a page their roles do not open (the router renders it)."""

from __future__ import annotations

import streamlit as st

from app.text import literal
from core.display.words import role_words
from core.identity.users import Session

__all__ = ["render", "render_forbidden", "role_words"]


def render(user: Session) -> None:
    """Every role was revoked: nothing to read until one is granted."""
    st.title("No access")
    st.warning(f"{literal(user.name)} holds no role in Countersign any more, so there is nothing to show. "
               "Ask an administrator to grant you a role, then reload this page.")


def render_forbidden(user: Session, title: str, needed: list[str], held: list[str]) -> None:
    """A URL for a page that ``user``'s roles do not open: say whose page it is (the page itself never runs)."""
    st.title(title)
    st.warning(f"The {literal(title)} page is open to {literal(' or '.join(map(role_words, needed)))} only. You "
               f"are signed in as {literal(user.name)} ({literal(', '.join(map(role_words, held)))}).",
               icon=":material/block:")
    st.page_link("app_pages/inventory.py", label="Go to the inventory", icon=":material/inventory_2:")
