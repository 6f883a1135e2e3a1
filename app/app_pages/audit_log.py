"""The audit ledger, paginated in SQL, with a "Verify ledger" action."""

import json

import pandas as pd
import streamlit as st

from app import session
from app.text import literal, plain
from core.errors import CountersignError

cs = session.service()
user = session.require()
PAGE_SIZE = 50

st.title("Audit log")
cols = st.columns(6)
actor = cols[0].text_input("Actor", key="audit_actor") or None
action = cols[1].text_input("Action (prefix*)", key="audit_action") or None
subject = cols[2].text_input("Subject (prefix*)", key="audit_subject") or None
since = cols[3].text_input("Since (UTC)", key="audit_since", placeholder="2026-11-01") or None
until = cols[4].text_input("Until (UTC)", key="audit_until", placeholder="2026-12-31T23:59") or None
page = cols[5].number_input("Page", min_value=1, value=1, step=1, key="audit_page")

try:
    rows = cs.log(user, limit=PAGE_SIZE, offset=(int(page) - 1) * PAGE_SIZE, actor=actor, action=action,
                  subject=subject, since=since, until=until)
except CountersignError as exc:
    st.error(literal(exc.message))
    rows = []
if rows:
    frame = pd.DataFrame(rows)[["seq", "ts", "actor", "role", "action", "subject", "payload", "key_id"]]
    frame["payload"] = frame["payload"].map(lambda p: json.dumps(p, sort_keys=True))
    st.dataframe(plain(frame), hide_index=True, width="stretch")
else:
    st.info("No entries match.")

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
    st.caption(f"Latest signed checkpoint (tree size {checkpoint['size']})")
    st.code(checkpoint["note"], language=None)
    st.download_button("Download checkpoint", checkpoint["note"], file_name=f"checkpoint-{checkpoint['size']}.txt",
                       key="audit_download")
