"""Lineage: datasets → models → evaluations → releases, with digests on every node."""

import streamlit as st

from app import session
from core.errors import CountersignError
from core.lineage import to_dot

cs = session.service()
user = session.require()

st.title("Lineage")
options = [f"model:{r['name']}@{r['version']}" for r in cs.inventory(user)] + \
    [f"dataset:{d['ref']}" for d in cs.datasets(user)]
if not options:
    st.info("Nothing is registered yet.")
    st.stop()
left, right = st.columns([3, 1])
focus = left.selectbox("Focus on", options, key="lineage_focus")
direction = right.radio("Direction", ["both", "upstream", "downstream"], horizontal=True, key="lineage_dir")
try:
    graph = cs.lineage(user, focus, direction)
except CountersignError as exc:
    st.error(exc.message)
    st.stop()
st.graphviz_chart(to_dot(graph), width="stretch")
with st.expander("Nodes and digests"):
    st.dataframe([{"id": n["id"], "kind": n["kind"], "sha256": n["digest"]} for n in graph["nodes"]],
                 hide_index=True, width="stretch")
