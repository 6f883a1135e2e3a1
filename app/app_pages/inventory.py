"""Inventory: every model version with stage, risk tier, owner, policy, latest verdict, requests, waivers, flags."""

import pandas as pd
import streamlit as st

from app import session
from app.text import plain

cs = session.service()
user = session.require()

st.title("Model inventory")
rows = cs.inventory(user)
frame = pd.DataFrame(rows)
if frame.empty:
    st.info("No models are registered yet. Data scientists register them with `countersign model register`.")
    st.stop()

left, middle, right = st.columns([2, 2, 1])
search = left.text_input("Search", placeholder="model name, owner, policy…", key="inv_search")
stages = middle.multiselect("Stage", sorted(frame["stage"].unique()), key="inv_stages")
flagged_only = right.toggle("Needs attention", key="inv_flagged",
                            help="Failing verdict, pending request, waiver or revalidation flag")
if search:
    needle = search.lower()
    frame = frame[frame.apply(lambda r: needle in " ".join(str(v).lower() for v in r.values), axis=1)]
if stages:
    frame = frame[frame["stage"].isin(stages)]
if flagged_only:
    frame = frame[(frame["verdict"] == "fail") | (frame["pending_requests"] > 0) | (frame["active_waivers"] > 0)
                  | frame["revalidation_required"]]

metrics = st.columns(4)
metrics[0].metric("Model versions", len(rows))
metrics[1].metric("In production", sum(r["stage"] == "production" for r in rows))
metrics[2].metric("Pending requests", sum(r["pending_requests"] for r in rows))
metrics[3].metric("Revalidation required", sum(bool(r["revalidation_required"]) for r in rows))

st.dataframe(
    plain(frame[["name", "version", "stage", "risk_tier", "owner", "policy", "verdict", "pending_requests",
           "active_waivers", "revalidation_required", "trusted_pickle", "latest_evaluation"]]),
    hide_index=True, width="stretch",
    column_config={"name": "Model", "version": "Version", "stage": "Stage", "risk_tier": "Risk tier", "owner": "Owner",
                   "policy": "Policy", "verdict": st.column_config.TextColumn("Latest verdict"),
                   "pending_requests": "Pending requests", "active_waivers": "Active waivers",
                   "revalidation_required": st.column_config.CheckboxColumn("Revalidation required"),
                   "trusted_pickle": st.column_config.CheckboxColumn("Pickle trusted"),
                   "latest_evaluation": "Latest evaluation"})
