"""Entrypoint: routes every URL to its page (``st.navigation``), signed in or not. Layout only.

Every page is registered under a stable path (its file name: ``/inventory``, ``/model_card``, ``/audit_log``…;
see :mod:`app.links` for the object parameters), whoever is signed in, and ``/`` opens ``/inventory``; so a reload
or a bookmarked URL always finds its page. Signed out, any URL shows the sign-in form in place of its page, and once
signed in the same URL (page and query parameters) renders. The sidebar lists the pages the user may open, as core
answers it (:mod:`app.access`: a permission per page, asked of the session); a URL for another page says whose page it
is instead of running it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import links, session, warmup
from app.access import NAVIGATION, allowed, manages_users, roles_for
from app.app_pages import no_role, sign_in
from app.text import error_text, literal
from core.display.words import role_words
from core.errors import CountersignError
from core.identity.users import Session

PAGES = Path(__file__).resolve().parent / "app_pages"
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"

# A local favicon: a ":material/…:" page icon makes the browser fetch its SVG from fonts.gstatic.com (the app
# must make no request beyond its own server). An emoji is drawn locally too, if the file is missing.
st.set_page_config(page_title="Countersign", page_icon=FAVICON if FAVICON.exists() else "✅", layout="wide")


#: What the light theme (app/.streamlit/config.toml) cannot set, at WCAG 2.1 AA contrast:
#: * code highlighting: Streamlit's fixed token palette (cyan 2.7:1, greens, teal, orange and grey all below 4.5:1
#:   on the code background) gives way to darker shades of the same hues, each at least 4.6:1 on #ecebea;
#: * code blocks wrap long lines instead of scrolling sideways: a scrolling block with nothing focusable in it
#:   cannot be scrolled from the keyboard (WCAG 2.1.1; axe "scrollable-region-focusable"). Streamlit sets the
#:   code element's white-space inline, hence the one "!important".
#: Selectors use Streamlit's stable test ids and Prism's token classes under ".stApp", one class more specific
#: than Streamlit's own rules, so the order of style sheets does not matter.
STYLE = """<style>
.stApp pre .token.comment, .stApp pre .token.prolog, .stApp pre .token.doctype, .stApp pre .token.cdata,
.stApp pre .token.punctuation, .stApp pre .token.unchanged.line { color: #595c66; }
.stApp pre .token.attr-name, .stApp pre .token.property, .stApp pre .token.variable { color: #00658a; }
.stApp pre .token.boolean, .stApp pre .token.constant, .stApp pre .token.symbol,
.stApp pre .token.inserted.line, .stApp pre .token.inserted.prefix { color: #0a7a32; }
.stApp pre .token.number, .stApp pre .token.regex { color: #0d7668; }
.stApp pre .token.string, .stApp pre .token.char, .stApp pre .token.attr-value { color: #16752f; }
.stApp pre .token.operator, .stApp pre .token.entity, .stApp pre .token.decorator,
.stApp pre .token.atrule { color: #a84800; }
.stApp pre .token.url { color: #6d3fc0; }
.stApp pre .token.keyword, .stApp pre .token.tag, .stApp pre .token.function, .stApp pre .token.class-name,
.stApp pre .token.selector { color: #0b61b0; }
.stApp pre .token.important, .stApp pre .token.deleted.line, .stApp pre .token.deleted.prefix { color: #c3161b; }
.stApp [data-testid="stCode"] pre code { white-space: pre-wrap !important; overflow-wrap: anywhere; }
</style>"""


def style() -> None:
    """Add :data:`STYLE` after the page's own elements (a style-only Markdown block: nothing shown). Not
    ``st.html``: the cookie script is the app's one HTML element, and the session tests count on that."""
    st.markdown(STYLE, unsafe_allow_html=True)


def inbox_items(user: Session) -> list[dict]:
    """What awaits ``user``: requests they may decide, and their own requests sent back for changes
    (:meth:`core.releases.promotions.ReleaseService.inbox`)."""
    if not user.roles:
        return []
    try:
        return list(session.service().inbox(user))
    except CountersignError:
        return []


def inbox_words(items: list[dict]) -> str:
    """The inbox in words, each kind on its own: "1 request awaits your decision; 1 request for changes awaits
    your answer"."""
    deciding = sum(1 for i in items if i.get("kind") == "decide")
    answering = len(items) - deciding
    parts = []
    if deciding:
        parts.append(f"{deciding} request{'s' if deciding != 1 else ''} await{'s' if deciding == 1 else ''} your "
                     "decision")
    if answering:
        parts.append(f"{answering} request{'s' if answering != 1 else ''} for changes await"
                     f"{'s' if answering == 1 else ''} your answer")
    return "; ".join(parts)


def home() -> None:
    """``/``: the landing page is the inventory, at its own path (so ``/inventory`` is the one URL of it)."""
    st.switch_page(links.PAGE_FILES["inventory"])


def route() -> None:
    signed_in = session.current()
    user = session.as_now(signed_in) if signed_in is not None else None  # its roles as of now: asked, not named
    roles = user.roles if user is not None else ()
    inbox = inbox_items(user) if user is not None else []
    waiting = len(inbox)
    pages: dict[str, st.Page] = {}
    for file, title, icon, _needed in NAVIGATION:
        if file == "approvals.py" and waiting:
            title = f"{title} ({waiting})"
        if file == "users.py" and roles and not manages_users(user):
            title = "Your account"
        pages[file] = st.Page(PAGES / file, title=title, icon=icon, url_path=links.url_path_of(file),
                              visibility="visible" if allowed(file, user) else "hidden")
    landing = st.Page(home, title="Inventory", icon=":material/inventory_2:", default=True, visibility="hidden")
    page = st.navigation([landing, *pages.values()])
    if user is None:
        links.forget_seen()  # the page's widgets are not rendered now: after sign-in, the URL selects again
        session.render_cookie_script()
        sign_in.render(page.title)
        return
    with st.sidebar:
        st.markdown(f"**{literal(user.name)}**  \n"
                    f"{literal(', '.join(role_words(r) for r in sorted(roles)) or 'no role')}")
        if waiting:
            st.caption(inbox_words(inbox))
        if st.button("Sign out", icon=":material/logout:", key="nav_sign_out"):
            session.sign_out()
            st.rerun()
        session.render_cookie_script()
    if page is landing:
        page.run()
        return
    file = next(f for f, p in pages.items() if p is page)
    if not roles:
        no_role.render(user)
    elif not allowed(file, user):
        title = next(t for f, t, _i, _n in NAVIGATION if f == file)
        no_role.render_forbidden(user, title, roles_for(file), sorted(roles))
    else:
        links.seed_widgets(links.url_path_of(file))
        page.run()


# One database connection for the whole render (each core call would otherwise open the file anew; the lock is
# released as soon as the render ends, so the CLI can work on the same file in between). A refusal or error from
# core that a page did not handle itself (say, a role revoked mid-render) is shown, never a traceback. The style
# comes last, whatever the page did.
try:
    with session.service().store.held():
        route()
except CountersignError as exc:
    st.error(error_text(exc))
finally:
    style()  # also after st.stop() in a page
    warmup.start()  # once per server: the chart library loads after the first page is shown, while the user reads
