"""Listing promotion requests and each person's inbox: what awaits their decision, and their own requests sent back
for changes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.identity.roles import Permission
from core.identity.users import Session
from core.storage.contract import Transaction as Tx

if TYPE_CHECKING:
    from core.api.context import Context

__all__ = ["OPEN_STATUSES", "InboxService"]

#: request states in which a request is still open (``changes_requested``: back with its requester, not decided)
OPEN_STATUSES = ("pending", "changes_requested")


class InboxService:
    """Requests as lists, and the inbox, over a :class:`~core.api.context.Context` (reads only)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def requests(self, session: Session, *, pending: bool = False, mine: bool = False) -> list[dict[str, Any]]:
        """Promotion requests (``pending``: the open ones — awaiting a decision, or changes from their requester),
        each with its decisions, the roles still to decide, and whether it awaits ``session``'s decision."""
        return self._ctx.act(session, Permission.READ, "requests",
                             lambda tx, _r: self._listing(tx, session, pending=pending, mine=mine))

    def _listing(self, tx: Tx, session: Session, *, pending: bool, mine: bool) -> list[dict[str, Any]]:
        """Requests as :meth:`requests` lists them, inside the caller's transaction."""
        held = set(tx.user_roles(session.name))
        out = []
        owners = tx.model_owners()
        listed = tx.list_open_requests() if pending else tx.list_requests()
        all_decisions = (tx.decisions_for_requests([r["id"] for r in listed]) if pending
                         else tx.decisions_by_request())
        for r in listed:
            key = (r["model_name"], r["model_version"])
            decisions = all_decisions.get(r["id"], [])
            required = json.loads(r["required_roles"])
            filled = {d["role"] for d in decisions if d["decision"] == "approve"}
            open_roles = [x for x in required if x not in filled]
            item = {**r, "required_roles": required, "waivers": json.loads(r["waivers"]), "decisions": decisions,
                    "open_roles": open_roles if r["status"] in OPEN_STATUSES else []}
            can_decide = (r["status"] == "pending" and session.name not in (r["requested_by"], owners.get(key, ""))
                          and not any(d["approver"] == session.name for d in decisions)
                          and bool(held & set(item["open_roles"])))
            item["awaiting_me"] = can_decide
            if mine and not (r["requested_by"] == session.name or can_decide):
                continue
            out.append(item)
        return out

    def inbox(self, session: Session) -> list[dict[str, Any]]:
        """What awaits ``session``: open requests they may decide and have not (``kind`` ``decide``), and their own
        requests sent back for changes (``kind`` ``answer``, with who asked, when and what). Oldest first; the
        navigation counts it."""

        def build(tx: Tx, _role: str) -> list[dict[str, Any]]:
            listed = self._listing(tx, session, pending=True, mine=True)
            sent_back = [r["id"] for r in listed if r["status"] == "changes_requested"
                         and r["requested_by"] == session.name]
            asks: dict[str, dict[str, Any]] = {}
            for note in tx.request_notes(sent_back):
                if note["kind"] == "changes_requested":
                    asks[note["request_id"]] = note
            items = []
            for r in listed:
                ref = f"{r['model_name']}@{r['model_version']}"
                base = {"request_id": r["id"], "model": ref, "from_stage": r["from_stage"],
                        "target_stage": r["target_stage"], "requested_by": r["requested_by"], "seq": r["seq"]}
                if r["awaiting_me"]:
                    items.append({**base, "kind": "decide", "since": r["requested_at"],
                                  "open_roles": r["open_roles"],
                                  "what": f"decide the promotion of {ref} to {r['target_stage']}"})
                elif r["id"] in asks:
                    ask = asks[r["id"]]
                    items.append({**base, "kind": "answer", "since": ask["noted_at"], "asked_by": ask["author"],
                                  "asked_role": ask["role"], "comment": ask["comment"],
                                  "what": f"answer {ask['author']}'s request for changes to the promotion of {ref} "
                                          f"to {r['target_stage']}"})
            return sorted(items, key=lambda i: i["seq"])

        return self._ctx.act(session, Permission.READ, "inbox", build)
