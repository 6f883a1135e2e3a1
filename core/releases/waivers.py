"""Waivers: a compliance officer's time-limited, justified exception for one failed block check of one policy version.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

from core.catalog.datasets import parse_ref
from core.catalog.registry import model_node
from core.errors import BadInput, NotFound
from core.identity.roles import Permission
from core.identity.users import Session
from core.inputs.limits import require_note
from core.ledger.chain import Event
from core.policy.rules import parse_policy
from core.releases import clock
from core.storage.contract import Transaction as Tx

if TYPE_CHECKING:
    from core.api.context import Context

__all__ = ["WaiverService"]


class WaiverService:
    """Granting, revoking and listing waivers, over a :class:`~core.api.context.Context`."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def waive(self, session: Session, model_ref: str, *, check: str, until: str, justification: str) -> dict[str, Any]:
        ref = parse_ref(model_ref, "model reference")
        try:
            until_date = date.fromisoformat(until)
        except ValueError:
            raise BadInput(f"the waiver's end date {until!r} is not a date (expected YYYY-MM-DD)") from None
        if until_date <= clock.now().date():
            raise BadInput(f"the waiver's end date {until} is not in the future: a waiver must end after today")
        require_note(justification, "a justification is required: say why the failed check may be waived",
                     "the justification")

        def grant(tx: Tx, role: str) -> dict[str, Any]:
            if tx.get_model(ref.name, ref.version) is None:
                raise NotFound(f"no model {ref}")
            assignment = tx.governing_policy(ref.name)
            if assignment is None:
                raise BadInput(f"model {ref.name} has no governing policy to waive a check of")
            record = tx.get_policy(assignment["policy_name"])
            if record is None:
                raise NotFound(f"model {ref.name} is governed by policy {assignment['policy_name']!r}, which does not "
                               "exist")
            policy = parse_policy(record["text"], assignment["policy_name"])
            if check not in {c.id for c in policy.checks}:
                raise BadInput(f"policy {policy.ref} has no check {check!r} (checks: "
                               f"{', '.join(c.id for c in policy.checks)})")
            if policy.max_waiver_days is not None and (until_date - clock.now().date()).days > policy.max_waiver_days:
                raise BadInput(f"policy {policy.ref} caps waivers at {policy.max_waiver_days} days")
            waiver_id = f"wv-{uuid.uuid4().hex[:10]}"
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "waiver.granted", model_node(ref), {"id": waiver_id, "model": str(ref), "check": check,
                                                    "until": until_date.isoformat(), "justification": justification,
                                                    "policy": policy.ref}))
            tx.insert_waiver({"id": waiver_id, "model_name": ref.name, "model_version": ref.version, "check_id": check,
                              "until": until_date.isoformat(), "justification": justification,
                              "granted_by": session.name, "granted_at": row.ts, "seq": row.seq,
                              "policy": policy.ref})
            return {"id": waiver_id, "model": str(ref), "check": check, "until": until_date.isoformat(),
                    "seq": row.seq}

        return self._ctx.act(session, Permission.WAIVE, model_node(ref), grant)

    def revoke_waiver(self, session: Session, waiver_id: str, *, reason: str) -> dict[str, Any]:
        def revoke(tx: Tx, role: str) -> dict[str, Any]:
            waiver = tx.get_waiver(waiver_id)
            if waiver is None:
                raise NotFound(f"no waiver {waiver_id}")
            if waiver["revoked_at"]:
                raise BadInput(f"waiver {waiver_id} was already revoked")
            ref = f"{waiver['model_name']}@{waiver['model_version']}"
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "waiver.revoked", f"model:{ref}", {"id": waiver_id, "model": ref, "check": waiver["check_id"],
                                                   "reason": reason}))
            tx.revoke_waiver(waiver_id, session.name, row.ts)
            return {"id": waiver_id, "revoked": True, "seq": row.seq}

        return self._ctx.act(session, Permission.WAIVE, f"waiver:{waiver_id}", revoke)

    def waivers(self, session: Session, model_ref: str | None = None) -> list[dict[str, Any]]:
        name = version = None
        if model_ref:
            name, _, version = model_ref.partition("@")
        today = clock.now().date().isoformat()

        def listing(tx: Tx, _role: str) -> list[dict[str, Any]]:
            return [{**w, "active": w["revoked_at"] is None and w["until"] >= today}
                    for w in tx.waivers_for(name or None, version or None)]

        return self._ctx.act(session, Permission.READ, "waivers", listing)
