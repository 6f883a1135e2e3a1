"""Inventory: every model version with stage, risk tier, owner, policy, latest verdict, requests and what needs
attention; each row links to its model card. Counters count what the filters show."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import links, session
from app.text import plain

cs = session.service()
user = session.require()

#: pixel widths that fit the wide layout beside the sidebar at 1400 px (the grid is 940 px there) with no
#: horizontal scrolling; a longer model name is cut with an ellipsis but its card link carries it whole.
WIDTHS = {"name": 145, "version": 55, "stage": 90, "risk_tier": 70, "owner": 65, "policy": 70, "verdict": 115,
          "pending_requests": 115, "attention": 130, "card": 70}
DASH = "—"


def _text(value: object) -> str:
    return DASH if value is None or value == "" else str(value)


def _verdict(row: dict[str, Any]) -> str:
    """``fail (2026-12-01)``; ``not evaluated`` without an evaluation."""
    if not row.get("verdict"):
        return "not evaluated"
    day = str(row.get("evaluated_at") or "")[:10]
    return f"{row['verdict']} ({day})" if day else str(row["verdict"])


def _reasons(row: dict[str, Any]) -> list[str]:
    """Why a version needs a look (pending requests have their own column): a failing gate verdict (and whether a
    waiver covers it), a suspension, active waivers, a revalidation flag."""
    items = []
    waivers = int(row.get("active_waivers") or 0)
    if row.get("stage") == "suspended":
        items.append("suspended")
    if row.get("verdict") == "fail":
        where = "in production, " if row.get("stage") == "production" else ""
        items.append(f"{where}failing" + ("" if waivers else ", no waiver"))
    if waivers:
        items.append(f"{waivers} waiver{'s' if waivers != 1 else ''}")
    if row.get("revalidation_required"):
        items.append("revalidate")
    return items


def needs_attention(row: dict[str, Any]) -> bool:
    """Counted under "Needing attention": a reason from :func:`_reasons`, or a pending request."""
    return bool(_reasons(row)) or int(row.get("pending_requests") or 0) > 0


def _attention(row: dict[str, Any]) -> str:
    """What needs a look besides pending requests, in words, and what to know of the artifact (``—`` when
    nothing)."""
    items = _reasons(row)
    if row.get("trusted_pickle"):
        items.append("trusted pickle")
    if row.get("external"):
        items.append("external")
    return ", ".join(items) or DASH


def shown(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The inventory as displayed: human values (dashes for nothing, dates without microseconds, words for flags),
    the raw fields the filters need, and each version's model card permalink."""
    frame = pd.DataFrame([{
        "name": r["name"], "version": str(r["version"]), "stage": _text(r.get("stage")),
        "risk_tier": _text(r.get("risk_tier")), "owner": _text(r.get("owner")), "policy": _text(r.get("policy")),
        "verdict": _verdict(r), "pending_requests": int(r.get("pending_requests") or 0),
        "attention": _attention(r), "card": links.model_url(r["name"], r["version"]),
        "_needs_attention": needs_attention(r),
    } for r in rows])
    return frame


st.title("Model inventory")
rows = cs.inventory(user)
if not rows:
    st.info("No models are registered yet. A data scientist registers one from the command line:")
    st.code("countersign model register MODEL.skops --as USER --name NAME --version 1 --trained-on DATASET@VERSION",
            language="bash")
    st.stop()
frame = shown(rows)

left, middle, right = st.columns([2, 2, 1])
search = left.text_input("Search", placeholder="e.g. a model name, owner or policy", key="inv_search")
stages = middle.multiselect("Stage", sorted(frame["stage"].unique()), key="inv_stages",
                            placeholder="All stages")
flagged_only = right.toggle("Needs attention", key="inv_flagged",
                            help="Failing verdict, suspension, pending request, active waiver or revalidation flag")
if search:
    needle = search.strip().lower()
    text = frame[["name", "version", "stage", "risk_tier", "owner", "policy", "verdict", "attention"]]
    frame = frame[text.apply(lambda r: any(needle in str(v).lower() for v in r.values), axis=1)]
if stages:
    frame = frame[frame["stage"].isin(stages)]
if flagged_only:
    frame = frame[frame["_needs_attention"]]

filtered = bool(search or stages or flagged_only)
metrics = st.columns(4)
metrics[0].metric("Model versions", len(frame))
metrics[1].metric("In production", int((frame["stage"] == "production").sum()))
metrics[2].metric("Pending requests", int(frame["pending_requests"].sum()))
metrics[3].metric("Needing attention", int(frame["_needs_attention"].sum()))
if filtered:
    st.caption(f"Counting the {len(frame)} of {len(rows)} model versions that match the filters.")

if frame.empty:
    st.info("No model version matches the filters.")
    st.stop()
st.dataframe(
    plain(frame.drop(columns=["_needs_attention"])), hide_index=True, width="stretch",
    column_order=list(WIDTHS),
    column_config={
        "name": st.column_config.TextColumn("Model", width=WIDTHS["name"]),
        "version": st.column_config.TextColumn("Version", width=WIDTHS["version"]),
        "stage": st.column_config.TextColumn("Stage", width=WIDTHS["stage"]),
        "risk_tier": st.column_config.TextColumn("Risk tier", width=WIDTHS["risk_tier"]),
        "owner": st.column_config.TextColumn("Owner", width=WIDTHS["owner"]),
        "policy": st.column_config.TextColumn("Policy", width=WIDTHS["policy"]),
        "verdict": st.column_config.TextColumn("Latest verdict", width=WIDTHS["verdict"],
                                               help="Gate verdict of the latest evaluation, and its date (UTC)"),
        "pending_requests": st.column_config.NumberColumn("Pending requests", width=WIDTHS["pending_requests"],
                                                          format="%d", help="Open promotion requests"),
        "attention": st.column_config.TextColumn("Attention", width=WIDTHS["attention"],
                                                 help="Why it needs attention (failing, suspended, active "
                                                      "waivers, revalidation flag), and a pickle trusted at "
                                                      "registration or an external model"),
        "card": st.column_config.LinkColumn("Card", width=WIDTHS["card"], display_text="Open card",
                                            help="The model card (a permalink; opens in a new tab)"),
    })
