"""Sign-in state for a Streamlit session: who is signed in, when the session expires, and how it survives reload.

A reload (F5), a bookmarked URL or a link opened in a new tab starts a new Streamlit session, which knows nothing
of the old one. So at sign-in the user's :class:`core.identity.users.Session` (which holds their unsealed signing key)
is
put in this process's :class:`core.identity.web_sessions.WebSessions` store, and the browser gets only an opaque,
signed,
expiring token in the ``countersign_session`` cookie; a new Streamlit session reads the cookie
(``st.context.cookies``, sent with the websocket handshake) and resumes. Nothing else is kept in the browser: no
password, no key, nothing in local storage, and never a token in a URL.

Why a cookie written by script: an ``HttpOnly`` cookie needs a ``Set-Cookie`` response header, and the server that
``streamlit run`` starts offers an app no HTTP handler to send one (``st.context.cookies`` only reads). ``st.html``
with ``unsafe_allow_javascript=True`` runs its script in the app's own document (not a sandboxed iframe, as
``components.v1.html`` would, whose ``document.cookie`` belongs to another origin), so it can set a first-party
cookie: ``Path=/; SameSite=Strict`` (plus ``Secure`` over HTTPS), expiring with the token. The script only ever
carries a token this process made (checked against the token's pattern before it is embedded). Script can read
such a cookie, which ``HttpOnly`` would prevent; the app never renders user text as HTML (:mod:`app.text`), and a
stolen token is worth only the rest of its idle window on this server process. Moving to ``HttpOnly`` needs an HTTP
route: run the app as ``st.App`` (Streamlit's Starlette server) with a route that sets the cookie.

Idle timeout: ``COUNTERSIGN_SESSION_TTL`` seconds (default 1800) without a render signs the user out; absolute
lifetime of a token: ``COUNTERSIGN_SESSION_MAX_AGE`` seconds (default 12 h). Sign-out removes the session from the
store at once, so the old cookie is refused even if a copy of it survives; a server restart signs everyone out.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import replace
from datetime import UTC, datetime

import streamlit as st

from core.api.countersign import Countersign
from core.errors import CountersignError
from core.identity.users import Session
from core.identity.web_sessions import COOKIE_NAME, TOKEN_RE, WebSessions, derive_key
from core.ledger.service_key import read_secret

SESSION_TTL_S = float(os.environ.get("COUNTERSIGN_SESSION_TTL", "1800"))
SESSION_MAX_AGE_S = float(os.environ.get("COUNTERSIGN_SESSION_MAX_AGE", str(12 * 3600)))

#: session_state keys (the AppTest fixtures set ``auth_session`` and ``auth_last_seen`` directly)
_SESSION, _LAST_SEEN, _EXPIRED = "auth_session", "auth_last_seen", "auth_expired"
#: Why the user was signed out, for the sign-in form (``auth_expired`` holds one of these keys):
NOTICES = {
    "expired": "Your session expired. Please sign in again.",
    "invalid": "Your sign-in could not be resumed: the session cookie this browser sent is not valid (altered, or "
               "from another server). Please sign in.",
    "ended": "Your session ended: you signed out in another tab, or the server restarted. Please sign in again.",
    "deactivated": "Your account was deactivated by an administrator, so you were signed out. Ask an "
                   "administrator if you think this is a mistake.",
}
_TOKEN, _COOKIE_SEEN, _CLEAR_COOKIE = "auth_token", "auth_cookie_seen", "auth_clear_cookie"


@st.cache_resource
def service() -> Countersign:
    """One service object per server process (it opens the database per operation)."""
    return Countersign()


@st.cache_resource
def _ended() -> dict[str, dict[str, str]]:
    """This process's memory of why sessions ended: ``{"tokens": {token id: user}, "deactivated": {user: ""},
    "signed_out": {token id: ""}}`` (the store only says a token is no longer good, not why)."""
    return {"tokens": {}, "deactivated": {}, "signed_out": {}}


@st.cache_resource
def web_sessions() -> WebSessions[Session]:
    """This process's store of signed-in sessions. Its token MAC key is derived from the service secret; where the
    secret is unavailable, from random bytes (the store lives in this process's memory either way)."""
    try:
        key = derive_key(read_secret(service().site))
    except CountersignError:
        key = secrets.token_bytes(32)
    return WebSessions(key, idle_s=SESSION_TTL_S, max_age_s=SESSION_MAX_AGE_S)


def _cookie() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # noqa: BLE001 - no browser context (bare script, AppTest): no cookie
        return None
    return value if isinstance(value, str) else None


def _resume(now: float) -> Session | None:
    """The session the browser's cookie names, once per Streamlit session (the cookie the websocket was opened
    with does not change afterwards, so after a sign-out it must not sign the user back in)."""
    token = _cookie()
    if not token or st.session_state.get(_COOKIE_SEEN) == token:
        return None
    st.session_state[_COOKIE_SEEN] = token
    resumed = web_sessions().resume(token, now=now)
    if resumed is None:
        st.session_state[_EXPIRED] = refusal(token, now)  # a cookie we no longer honour: say why, and delete it
        st.session_state[_CLEAR_COOKIE] = True
        return None
    st.session_state[_SESSION] = resumed
    st.session_state[_TOKEN] = token
    st.session_state.pop(_EXPIRED, None)
    return resumed


def refusal(token: str | None, now: float, name: str | None = None) -> str:
    """Why ``token`` is no longer honoured (a key of :data:`NOTICES`): not a token this server made (malformed or
    its signature wrong), its user deactivated here, past its lifetime or idle for too long, or unknown here."""
    match = TOKEN_RE.match(token) if isinstance(token, str) else None
    if match is None:
        return "invalid"
    expiry = int(match.group(2))
    if expiry > now and web_sessions().expires_in(token, now=now) == 0:
        return "invalid"  # an unexpired token whose MAC does not match: altered or forged
    name = name or _ended()["tokens"].get(match.group(1))
    if name is not None and name in _ended()["deactivated"]:
        return "deactivated"
    if match.group(1) in _ended()["signed_out"]:
        return "ended"  # signed out in another tab
    if expiry <= now or name is not None:
        return "expired"
    return "ended"  # not issued by this server process (it restarted)


def notice() -> str | None:
    """The sign-in form's notice: why the user was signed out, or ``None``."""
    reason = st.session_state.get(_EXPIRED)
    if reason is None or reason is False:
        return None
    return NOTICES.get(reason if isinstance(reason, str) else "expired", NOTICES["expired"])


def clear_notice() -> None:
    """Forget the sign-out notice (it is stale once the user tries to sign in again)."""
    st.session_state.pop(_EXPIRED, None)


def current() -> Session | None:
    """The signed-in session, or ``None`` (also when it has expired from inactivity)."""
    now = time.time()
    session = st.session_state.get(_SESSION)
    if session is None:
        session = _resume(now)
        if session is None:
            return None
    elif now - st.session_state.get(_LAST_SEEN, 0.0) > SESSION_TTL_S:
        sign_out(expired=True)
        return None
    else:
        token = st.session_state.get(_TOKEN)
        if token is not None and not web_sessions().touch(token, now=now):
            # revoked elsewhere (say, the user was deactivated) or past its lifetime
            sign_out(expired=refusal(token, now, session.name))
            return None
    st.session_state[_LAST_SEEN] = now
    return session


def _roles_of(user: Session) -> tuple[str, ...]:
    try:
        listed = service().users(user)
    except CountersignError:
        return ()
    return tuple(next((u["roles"] for u in listed if u["name"] == user.name), ()))


def roles() -> tuple[str, ...]:
    """The signed-in user's roles as the database has them now (a revoked role disappears at once)."""
    user = current()
    return () if user is None else _roles_of(user)


def as_now(user: Session) -> Session:
    """``user`` holding the roles the database gives them now (:func:`roles`), not those they signed in with: the
    session to ask :meth:`core.identity.users.Session.can`, since core checks every action against these same
    roles. Ask permissions, never role names (:mod:`app.access`)."""
    return replace(user, roles=_roles_of(user))


def require() -> Session:
    """The signed-in session, or stop the page (the router only runs pages for signed-in users)."""
    user = current()
    if user is None:
        st.stop()
    return user


def acting() -> Session:
    """The signed-in session with its roles as of now (:func:`as_now`), for a page that asks what the user may do
    (``user.can(Permission.APPROVE)``); stops the page when nobody is signed in, like :func:`require`."""
    return as_now(require())


def sign_in(name: str, password: str) -> str | None:
    """Authenticate through core and start a session that survives reload; return an error message or ``None``."""
    if not name.strip() or not password:
        return "Enter your user name and password."
    try:
        session = service().login(name.strip(), password)
    except CountersignError as exc:
        return exc.message
    st.session_state[_SESSION] = session
    st.session_state[_LAST_SEEN] = time.time()
    token = web_sessions().issue(session)
    st.session_state[_TOKEN] = token
    match = TOKEN_RE.match(token)
    if match is not None:
        issued = _ended()["tokens"]
        issued[match.group(1)] = session.name
        while len(issued) > 100_000:  # bounded, like the store: the oldest go first
            issued.pop(next(iter(issued)))
    _ended()["deactivated"].pop(session.name, None)
    st.session_state.pop(_EXPIRED, None)
    st.session_state.pop(_CLEAR_COOKIE, None)
    return None


def sign_out(expired: bool | str = False) -> None:
    """End the session here and in the store (so the cookie is refused from now on) and delete the cookie;
    ``expired`` is why (a key of :data:`NOTICES`, or ``True`` for an idle timeout), shown by the sign-in form."""
    token = st.session_state.pop(_TOKEN, None)
    if token is not None:
        web_sessions().revoke(token)
        match = TOKEN_RE.match(token)
        if match is not None and not expired:
            signed_out = _ended()["signed_out"]
            signed_out[match.group(1)] = ""
            while len(signed_out) > 100_000:
                signed_out.pop(next(iter(signed_out)))
    st.session_state.pop(_SESSION, None)
    st.session_state.pop(_LAST_SEEN, None)
    st.session_state[_CLEAR_COOKIE] = True
    if expired:
        st.session_state[_EXPIRED] = "expired" if expired is True else expired


def end_sessions_of(name: str) -> int:
    """Sign ``name`` out everywhere (for deactivation or a password reset by an administrator); how many. Their
    open sessions then say the account was deactivated."""
    _ended()["deactivated"][name] = ""
    return web_sessions().revoke_where(lambda s: s.name == name)


def cookie_script() -> str | None:
    """The script that stores this session's token in the browser, or deletes a stale one; ``None`` if neither is
    needed. Its text is constant for a token, so rendering it on every run runs it once."""
    token = st.session_state.get(_TOKEN)
    if token is not None and st.session_state.get(_SESSION) is not None:
        match = TOKEN_RE.match(token)
        if match is None:  # never embed anything but a token this process made
            return None
        expires = datetime.fromtimestamp(int(match.group(2)), UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
        value = f"{COOKIE_NAME}={token}; Expires={expires}"
    elif st.session_state.get(_CLEAR_COOKIE):
        value = f"{COOKIE_NAME}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    else:
        return None
    return ("<script>document.cookie = " + repr(value)
            + " + '; Path=/; SameSite=Strict' + (location.protocol === 'https:' ? '; Secure' : '');</script>")


def render_cookie_script() -> None:
    """Render :func:`cookie_script` (no visible output)."""
    script = cookie_script()
    if script is not None:
        st.html(script, unsafe_allow_javascript=True)
