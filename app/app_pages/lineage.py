"""Lineage: datasets → models → evaluations → releases, with digests on every node.

The graph is drawn by Graphviz, which a screen reader cannot read: a sentence under it says what it shows (focus,
direction, how many nodes of each kind and how many links), and "The graph in words" lists every link as
"from → to (kind)", the same information as the drawing's arrows, with the nodes and digests in the table below.

``/lineage?node=model:name@version`` (or ``dataset:ref``, or any node the graph knows) focuses on that node; the
address bar follows the "Focus on" box, and a node that does not exist is named in a warning, never silently
replaced.
"""

from collections import Counter
from typing import Any

import streamlit as st

from app import links, session
from app.text import error_text, literal, plain
from core.catalog.lineage import to_dot
from core.display.text import visible
from core.errors import CountersignError

cs = session.service()
user = session.require()
MAX_DRAWN_NODES = 150
DIRECTIONS = {"both": "upstream and downstream", "upstream": "upstream (what it came from)",
              "downstream": "downstream (what came from it)"}


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe(graph: dict[str, Any], focus: str, direction: str, drawn: bool) -> str:
    """The graph in one sentence (plain text): focus, direction, nodes by kind, links, and how it is drawn."""
    kinds = Counter(n["kind"] for n in graph["nodes"])
    nodes = ", ".join(_count(c, k) for k, c in sorted(kinds.items()))
    text = (f"Lineage of {visible(focus)}, {DIRECTIONS.get(direction, direction)}: "
            f"{_count(len(graph['nodes']), 'node')} ({nodes}) and {_count(len(graph['edges']), 'link')}.")
    if drawn:
        text += (" Each node is drawn with its kind, name and the start of its SHA-256 digest, the node in focus in "
                 "bold, each link as an arrow named by its kind.")
    return text + " Every link is listed under \"The graph in words\"."


def links_in_words(graph: dict[str, Any]) -> list[str]:
    """Each link as plain text, ``from → to (kind)``, in the graph's order."""
    return [f"{visible(e['from'])} → {visible(e['to'])} ({visible(str(e['kind']).replace('_', ' '))})"
            for e in graph["edges"]]


st.title("Lineage")
options = [f"model:{r['name']}@{r['version']}" for r in cs.inventory(user)] + \
    [f"dataset:{d['ref']}" for d in cs.datasets(user)]
if not options:
    st.info("Nothing is registered yet.")
    st.stop()
asked = st.session_state.get("lineage_focus")
if asked is not None and asked not in options:
    try:  # another node of the graph (an evaluation, a job or dataset from OpenLineage): focus on it as asked
        cs.lineage(user, asked, "both", depth=1)
        options.append(asked)
    except CountersignError:
        links.unknown("lineage node", asked, options[0])
        del st.session_state["lineage_focus"]
left, right = st.columns([3, 1])
focus = left.selectbox("Focus on", options, key="lineage_focus", format_func=visible)
links.keep("node", focus, "lineage")
direction = right.radio("Direction", ["both", "upstream", "downstream"], horizontal=True, key="lineage_dir")
try:
    graph = cs.lineage(user, focus, direction)
except CountersignError as exc:
    st.error(error_text(exc))
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
# The drawing's text alternative: a screen reader hears an unlabelled graphic otherwise.
st.markdown(f"Graph description: {literal(describe(graph, focus, direction, draw))}")
with st.expander(f"The graph in words ({len(graph['edges'])} link{'' if len(graph['edges']) == 1 else 's'})"):
    words = links_in_words(graph)
    if words:
        st.markdown("\n".join(f"- {literal(w)}" for w in words))
    else:
        st.markdown("No links: the node in focus stands alone.")
with st.expander("Nodes and digests", expanded=not draw):
    st.dataframe(plain([{"id": n["id"], "kind": n["kind"], "sha256": n["digest"]} for n in graph["nodes"]]),
                 hide_index=True, width="stretch")
if graph.get("columns"):
    with st.expander(f"Column lineage ({len(graph['columns'])} links)"):
        st.dataframe(plain([{"dataset": c["dataset"], "field": c["field"] or "(whole dataset)",
                             "from dataset": c["from_dataset"], "from field": c["from_field"],
                             "transformation": c["transformation"]} for c in graph["columns"]]),
                     hide_index=True, width="stretch")
