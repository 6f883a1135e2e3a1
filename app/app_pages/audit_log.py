"""The audit ledger, paginated in SQL: filters as a person types them, one entry opened whole (its permalink is
``/audit_log?seq=N``), and a "Verify ledger" action.

Filters (see :meth:`core.api.countersign.Countersign.log`): *Actor* is a whole user name in any case; *Action* matches
whole
dotted segments (``promotion`` finds ``promotion.requested``, ``promotion.approved``…); a trailing ``*`` on either, or
on *Subject*, matches a plain prefix. *Since*/*Until* take ISO 8601 dates or times in UTC; a date as *Until* includes
that whole day. A value that is not a date is refused with a message, never read as "no entries match".
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from app import links, session
from app.text import error_text, literal, plain
from core.display.words import role_words, when
from core.errors import CountersignError
from core.ledger import SERVICE_ACTIONS
from core.ledger.service_key import SERVICE_OWNER

cs = session.service()
user = session.require()
PAGE_SIZE = 50
ENTRY_KEY = "audit_seq_input"  # the entry number box: the entry opened (kept in step with the URL's ?seq=)



def words(value: Any) -> str:  # noqa: ANN401 - any JSON value
    """A payload value in words: yes/no, lists joined by commas, nested objects as compact JSON, no ``None``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, list):
        return ", ".join(words(v) for v in value) or "none"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def summary(payload: dict[str, Any], limit: int = 160) -> str:
    """A one-line summary of a payload for the table (the whole entry opens below)."""
    text = "; ".join(f"{k}: {words(v)}" for k, v in payload.items()
                     if k not in ("public_key", "possession", "service_public_key", "service_verifier_key"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def by_service(entry: dict[str, Any]) -> bool:
    """Whether the service key signed the entry: the service's own entries (actor ``@service``) and what it records
    on someone's behalf (``auth.failed``, ``access.denied``: :data:`core.ledger.chain.SERVICE_ACTIONS`)."""
    return entry["actor"] == SERVICE_OWNER or entry["action"] in SERVICE_ACTIONS


def role_text(entry: dict[str, Any]) -> str:
    """The acting role in words; "service" for the service's own entries; a dash for a user's entry made in no
    role (enrolling, changing one's password: signed with their own key)."""
    if entry["role"]:
        return role_words(entry["role"])
    return "service" if entry["actor"] == SERVICE_OWNER else "—"


def signer_text(entry: dict[str, Any]) -> str:
    """Who signed the entry, in words."""
    if entry["actor"] == SERVICE_OWNER:
        return "the service key (the service's own entry)"
    if by_service(entry):
        return f"the service key, recording it about {entry['actor']} (who did not sign it)"
    return f"{entry['actor']}'s own key"


def acting_role_text(entry: dict[str, Any]) -> str:
    if entry["role"]:
        return role_words(entry["role"])
    if entry["actor"] == SERVICE_OWNER:
        return "none (the service itself)"
    if by_service(entry):
        return "none (recorded by the service)"
    return f"none (an action on {entry['actor']}'s own account, which needs no role)"


def last_page(**filters: Any) -> tuple[int, int]:  # noqa: ANN401 - the log's filters
    """How many entries match the filters and how many pages they fill (probing the page size at a time, then
    halving: a few one-row queries, asked only when a page past the end was requested)."""
    def exists(offset: int) -> bool:
        return bool(cs.log(user, limit=1, offset=offset, **filters))

    if not exists(0):
        return 0, 0
    low, high = 0, 1  # exists(low) is true; find a high that does not
    while exists(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if exists(middle) else (low, middle)
    total = low + 1
    return total, -(-total // PAGE_SIZE)


def go_to_page(number: int) -> None:
    st.session_state["audit_page"] = number


def close_entry() -> None:
    """Close the entry view (a button callback: it may change the entry box's value)."""
    st.session_state[ENTRY_KEY] = ""


# An entry named in the URL (a permalink, a reload) opens once per new value.
url_seq = links.fresh("seq", "audit_log")
if url_seq is not None:
    st.session_state[ENTRY_KEY] = url_seq

st.title("Audit log")
st.caption("Every governance action, newest first. Actor: a whole user name, any case. Action: a family such as "
           "promotion (finds promotion.requested, promotion.approved…) or a whole action. A trailing * matches any "
           "prefix. Since and until: a date (2026-11-01) or a time (2026-11-01T14:30) in UTC; a date as until "
           "includes the whole day.")
cols = st.columns([2, 2, 2, 2, 2, 1])
actor = cols[0].text_input("Actor", key="audit_actor", placeholder="any user")
action = cols[1].text_input("Action", key="audit_action", placeholder="any action")
subject = cols[2].text_input("Subject", key="audit_subject", placeholder="any subject")
since = cols[3].text_input("Since (UTC)", key="audit_since", placeholder="YYYY-MM-DD")
until = cols[4].text_input("Until (UTC)", key="audit_until", placeholder="YYYY-MM-DD[Thh:mm]")
page = cols[5].number_input("Page", min_value=1, value=1, step=1, key="audit_page")

rows: list[dict[str, Any]] = []
failed = False
try:
    rows = cs.log(user, limit=PAGE_SIZE, offset=(int(page) - 1) * PAGE_SIZE, actor=actor or None,
                  action=action or None, subject=subject or None, since=since or None, until=until or None)
except CountersignError as exc:
    failed = True
    st.error(error_text(exc))
if rows:
    frame = pd.DataFrame([{
        "entry": r["seq"], "time (UTC)": when(r["ts"]), "actor": r["actor"],
        "role": role_text(r), "action": r["action"], "subject": r["subject"],
        "details": summary(r["payload"]), "link": links.ledger_url(r["seq"]),
    } for r in rows])
    table = st.dataframe(
        plain(frame), hide_index=True, width="stretch", key="audit_table", on_select="rerun",
        selection_mode="single-row",
        column_config={"entry": st.column_config.NumberColumn("entry", format="%d", width="small"),
                       "details": st.column_config.TextColumn("details", width="large"),
                       "link": st.column_config.LinkColumn("link", display_text="open", width="small")})
    st.caption(f"Page {int(page)}: entries {rows[-1]['seq']}–{rows[0]['seq']} shown ({len(rows)}). Select a row "
               "to read its entry whole.")
    picked = table.selection.rows if table is not None else []
    if picked:
        chosen = str(rows[picked[0]]["seq"])
        if st.session_state.get("audit_picked") != chosen:  # a new selection opens its entry
            st.session_state["audit_picked"] = chosen
            st.session_state[ENTRY_KEY] = chosen
elif not failed and page > 1:
    filters = {"actor": actor or None, "action": action or None, "subject": subject or None, "since": since or None,
               "until": until or None}
    total, pages = last_page(**filters)
    if pages:
        matching = "these filters match" if any(filters.values()) else "the ledger has"
        st.info(f"Page {int(page):,} is past the end: {matching} {total:,} entr{'y' if total == 1 else 'ies'}, "
                f"{pages:,} page{'s' if pages != 1 else ''} of {PAGE_SIZE}.")
        st.button(f"Go to the last page ({pages:,})", key="audit_last_page", on_click=go_to_page, args=(pages,))
    else:
        st.info("No entries match these filters." if any(filters.values()) else "The ledger is empty.")
elif not failed:
    st.info("No entries match these filters." if any((actor, action, subject, since, until))
            else "The ledger is empty.")

# ------------------------------------------------------------------------------------------- one entry, whole
st.subheader("One entry")
number = st.text_input("Entry number", key=ENTRY_KEY, placeholder="a number, e.g. 0 for the first entry")
if not number.strip():
    if "seq" in st.query_params:
        del st.query_params["seq"]
else:
    try:
        entry = cs.log_entry(user, number.strip())
    except CountersignError as exc:
        st.error(error_text(exc))
    else:
        links.keep("seq", str(entry["seq"]), "audit_log")  # the address bar is this entry's permalink
        st.markdown(f"**Entry {entry['seq']}: {literal(entry['action'])}** on {literal(entry['subject'])}")
        st.dataframe(plain(pd.DataFrame([
            {"Field": "Time", "Value": when(entry["ts"]) + f" (recorded as {entry['ts']})"},
            {"Field": "Actor", "Value": entry["actor"]},
            {"Field": "Acting role", "Value": acting_role_text(entry)},
            {"Field": "Signed by", "Value": signer_text(entry)},
            {"Field": "Signing key id", "Value": entry["key_id"]},
            {"Field": "Signature (Ed25519, base64)", "Value": entry["signature"]},
            {"Field": "Leaf hash (RFC 6962)", "Value": entry["leaf_hash"]},
            {"Field": "Previous entry's leaf hash", "Value": entry["prev_hash"]},
            {"Field": "Permalink", "Value": links.ledger_url(entry["seq"])},
        ])), hide_index=True, width="stretch", key="audit_entry_fields",
            column_config={"Value": st.column_config.TextColumn("Value", width="large")})
        st.markdown("**Payload** (exactly as signed)")
        st.code(json.dumps(entry["payload"], indent=2, sort_keys=True, ensure_ascii=False), language="json")
        st.page_link(links.PAGE_FILES["audit_log"], label=f"Permalink to entry {entry['seq']}",
                     query_params={"seq": str(entry["seq"])})
        st.button("Close entry", key="audit_close", on_click=close_entry)

# ------------------------------------------------------------------------------------------- integrity
st.subheader("Integrity")
if st.button("Verify ledger", type="primary", key="audit_verify"):
    with st.spinner("Recomputing every hash, signature and checkpoint..."):
        report = cs.verify()
    st.session_state["audit_report"] = report.to_dict()
report = st.session_state.get("audit_report")
if report:
    if report["ok"]:
        st.success(f"Ledger intact: {report['size']} entries, {report['checkpoints_verified']} signed checkpoints "
                   f"verified. Root {literal(report['root'])}")
    else:
        st.error(f"Ledger verification FAILED: {literal(report['first_problem'])}")
checkpoint = cs.latest_checkpoint()
if checkpoint:
    st.markdown(f"Latest signed checkpoint (tree size {checkpoint['size']})")
    st.code(checkpoint["note"], language=None)
    st.download_button("Download checkpoint", checkpoint["note"], file_name=f"checkpoint-{checkpoint['size']}.txt",
                       key="audit_download")
