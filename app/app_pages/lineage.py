"""Lineage: datasets → models → evaluations → releases, with digests on every node."""

import streamlit as st

from app import session
from app.text import literal, plain
from core.errors import CountersignError
from core.lineage import to_dot
from core.text import visible

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
    st.error(literal(exc.message))
    st.stop()
size = len(graph["nodes"])
draw = size <= MAX_DRAWN_NODES or st.toggle(
    f"Draw all {size} nodes anyway (slow in the browser)", key="lineage_draw_all")
if draw:
    # Node labels are names from people and OpenLineage producers: control and bidi characters are drawn as
    # visible escapes; to_dot quotes every label (a backslash typed in a name stays a backslash).
    shown = {**graph, "nodes": [{**n, "label": visible(n["label"])} for n in graph["nodes"]]}
    st.graphviz_chart(to_dot(shown), width="stretch")
else:
    st.info(f"This graph has {size} nodes, too many to draw legibly; they are listed below. Narrow it with the "
            "direction, or focus on a model or an evaluation.")
with st.expander("Nodes and digests", expanded=not draw):
    st.dataframe(plain([{"id": n["id"], "kind": n["kind"], "sha256": n["digest"]} for n in graph["nodes"]]),
                 hide_index=True, width="stretch")
if graph.get("columns"):
    with st.expander(f"Column lineage ({len(graph['columns'])} links)"):
        st.dataframe(plain([{"dataset": c["dataset"], "field": c["field"] or "(whole dataset)",
                             "from dataset": c["from_dataset"], "from field": c["from_field"],
                             "transformation": c["transformation"]} for c in graph["columns"]]),
                     hide_index=True, width="stretch")
