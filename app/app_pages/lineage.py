"""Lineage: datasets → models → evaluations → releases, with digests on every node."""

import streamlit as st

from app import session
from core.errors import CountersignError
from core.lineage import to_dot

cs = session.service()
user = session.require()
MAX_DRAWN_NODES = 150

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
size = len(graph["nodes"])
draw = size <= MAX_DRAWN_NODES or st.toggle(
    f"Draw all {size} nodes anyway (slow in the browser)", key="lineage_draw_all")
if draw:
    # core.lineage.to_dot escapes the backslash of its own "\n" line breaks, so Graphviz would print a literal
    # "\n"; undo that here (a no-op once core emits real line breaks).
    st.graphviz_chart(to_dot(graph).replace("\\\\n", "\\n"), width="stretch")
else:
    st.info(f"This graph has {size} nodes, too many to draw legibly; they are listed below. Narrow it with the "
            "direction, or focus on a model or an evaluation.")
with st.expander("Nodes and digests", expanded=not draw):
    st.dataframe([{"id": n["id"], "kind": n["kind"], "sha256": n["digest"]} for n in graph["nodes"]],
                 hide_index=True, width="stretch")
