"""Permalinks: every page and every object the app shows has a URL that survives reload, bookmarking and sign-in.

The scheme (paths are relative to the app's base URL; ``<…>`` values are URL-encoded by :func:`url`)::

    /                                   the landing page: opens /inventory
    /inventory                          Inventory
    /model_card?model=<name>@<version>  one model version's card
    /model_card?model=<ref>&evaluation=<id>   …opened on one evaluation
    /lineage?node=model:<name>@<version>      the lineage graph around a model version
    /lineage?node=dataset:<ref>               …or around a dataset
    /approvals?request=<request id>     one promotion request
    /policies?policy=<name>             one policy (its latest version)
    /policies?policy=<name>@<version>   …one of its earlier versions
    /audit_log?seq=<n>                  one ledger entry
    /reports?model=<name>@<version>     the reports page for one model version
    /users                              user administration

A page's path is its file name without ``.py`` (the router registers every page under it, signed in or not). A
URL never carries a session or a secret: it is safe to paste into a ticket. Opening one signed out shows the
sign-in form and, after sign-in, exactly that URL; opening a page one's roles do not allow says so.

How pages read their parameters
-------------------------------
The router (``app/main.py``) calls :func:`seed_widgets` before it runs a page: for the parameters listed in
:data:`WIDGET_KEYS`, the value from the URL becomes the page's widget value in ``st.session_state`` — once per new
value, so the user's own later choice in the widget is not overridden. So ``/model_card?model=credit-scorer@2``
opens the card's "Model version" select box (key ``card_ref``) on ``credit-scorer@2`` without any code in the
model card page. Other parameters (``request``, ``seq``, ``policy``) a page reads itself with :func:`fresh`
(once per new value) or :func:`param`. A page that changes its object (a select box) keeps the URL in step with
:func:`keep` (``links.keep("model", ref)``), and says so when the URL names an object that does not exist
(:func:`unknown`: "There is no model version …; showing … instead."), never silently showing another one.

Sign-in forgets which URL values were seen (:func:`forget_seen`): widgets are not rendered while the sign-in form
shows, so Streamlit drops their values; after sign-in the URL's values select their objects again.

Links to build
--------------
* ``st.page_link(links.PAGE_FILES["model_card"], label=…, query_params=links.model_params(name, version))``, or
  ``st.switch_page(…, query_params=…)``: same tab, no new session;
* a table column: ``st.column_config.LinkColumn`` over :func:`model_url` etc. (relative URLs; the grid opens them
  in a new tab, where the session cookie signs the user in again).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"

#: url path -> page file (the router's registration; relative to app/ for st.page_link and st.switch_page)
PAGE_FILES: dict[str, str] = {
    "inventory": "app_pages/inventory.py",
    "model_card": "app_pages/model_card.py",
    "lineage": "app_pages/lineage.py",
    "approvals": "app_pages/approvals.py",
    "policies": "app_pages/policies.py",
    "audit_log": "app_pages/audit_log.py",
    "reports": "app_pages/reports.py",
    "users": "app_pages/users.py",
}

#: url path -> {query parameter: session_state key of the page's widget that the parameter selects}
WIDGET_KEYS: dict[str, dict[str, str]] = {
    "model_card": {"model": "card_ref", "evaluation": "card_eval"},
    "lineage": {"node": "lineage_focus"},
    "reports": {"model": "rep_model"},
}

#: object kind -> (url path, query parameter)
KINDS: dict[str, tuple[str, str]] = {
    "model": ("model_card", "model"),
    "evaluation": ("model_card", "evaluation"),
    "lineage": ("lineage", "node"),
    "request": ("approvals", "request"),
    "policy": ("policies", "policy"),
    "ledger": ("audit_log", "seq"),
}

_SEEDED = "links_seeded"


def url_path_of(page_file: str) -> str:
    """The URL path a page file is registered under (its file name without ``.py``)."""
    return Path(page_file).stem


def url(page: str, params: Mapping[str, object] | None = None) -> str:
    """A relative permalink: ``page`` (a url path from :data:`PAGE_FILES`) with encoded query parameters."""
    if page not in PAGE_FILES:
        raise ValueError(f"no page {page!r}")
    query = urlencode({k: str(v) for k, v in (params or {}).items() if v is not None}, safe="@:")
    path = f"./{page}"
    return f"{path}?{query}" if query else path


def page_url(kind: str, ident: object, **extra: object) -> str:
    """The permalink of one object: ``kind`` is one of :data:`KINDS` (model, evaluation, lineage, request, policy,
    ledger); ``ident`` its id (``name@version`` for a model, a ``model:``/``dataset:`` node for lineage, the seq
    for a ledger entry)."""
    if kind not in KINDS:
        raise ValueError(f"no link kind {kind!r}; use one of {', '.join(KINDS)}")
    page, name = KINDS[kind]
    return url(page, {name: ident, **extra})


def model_params(name: str, version: object) -> dict[str, str]:
    """Query parameters selecting one model version (for ``st.page_link``/``st.switch_page``)."""
    return {"model": f"{name}@{version}"}


def model_url(name: str, version: object) -> str:
    """Permalink of a model version's card."""
    return url("model_card", model_params(name, version))


def evaluation_url(evaluation_id: str, model_ref: str | None = None) -> str:
    """Permalink of one evaluation (on its model's card)."""
    return url("model_card", {"model": model_ref, "evaluation": evaluation_id})


def request_url(request_id: str) -> str:
    """Permalink of a promotion request."""
    return page_url("request", request_id)


def ledger_url(seq: int) -> str:
    """Permalink of one ledger entry."""
    return page_url("ledger", int(seq))


def lineage_url(node: str) -> str:
    """Permalink of the lineage graph around ``node`` (``model:name@version`` or ``dataset:ref``)."""
    return page_url("lineage", node)


def param(name: str) -> str | None:
    """The current URL's query parameter ``name`` (its last value), or ``None``."""
    value = st.query_params.get(name)
    return value or None


def seed_widgets(page: str) -> None:
    """Put the URL's object parameters into the page's widget keys (see :data:`WIDGET_KEYS`), once per new value:
    a reload or a pasted permalink selects its object; the user's later choice in the widget is kept."""
    seeded: dict[str, str] = st.session_state.setdefault(_SEEDED, {})
    for name, key in WIDGET_KEYS.get(page, {}).items():
        value = param(name)
        marker = f"{page}:{name}"
        if value is None:
            seeded.pop(marker, None)
            continue
        if seeded.get(marker) != value:
            st.session_state[key] = value
            seeded[marker] = value


def fresh(name: str, page: str) -> str | None:
    """The URL's parameter ``name`` if it is new since this page last saw it (a permalink, a reload, a sign-in),
    else ``None``: a page applies it once, and the user's later choices stand."""
    seen: dict[str, str] = st.session_state.setdefault(_SEEDED, {})
    value = param(name)
    marker = f"{page}:{name}"
    if value is None:
        seen.pop(marker, None)
        return None
    if seen.get(marker) == value:
        return None
    seen[marker] = value
    return value


def keep(name: str, value: str | None, page: str | None = None) -> None:
    """Write the page's current object into the URL (so a reload or a bookmark keeps it); ``None`` removes it.
    With ``page``, the value counts as seen (:func:`fresh` does not apply it again)."""
    if value is None:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value
    if page is not None and value is not None:
        st.session_state.setdefault(_SEEDED, {})[f"{page}:{name}"] = value


def forget_seen() -> None:
    """Forget every URL value seen (called while the sign-in form shows): after sign-in, the URL applies again."""
    st.session_state.pop(_SEEDED, None)


def unknown(what: str, asked: str, instead: str | None) -> None:
    """Say that the URL names an object that does not exist (the value shown literally, escaped)."""
    from app.text import literal

    if instead is None:
        st.warning(f"There is no {what} {literal(asked)}.", icon=":material/search_off:")
    else:
        st.warning(f"There is no {what} {literal(asked)}; showing {literal(instead)} instead.",
                   icon=":material/search_off:")
