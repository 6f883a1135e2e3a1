"""Read models for the front end: the model inventory and the full picture of one promotion request."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.errors import NotFound
from core.identity.roles import Permission
from core.identity.users import Session
from core.storage.contract import Transaction as Tx

if TYPE_CHECKING:
    from core.api.context import Context



class InventoryService:
    """Inventory and request detail, over a :class:`~core.api.context.Context`."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def inventory(self, session: Session) -> list[dict[str, Any]]:
        """Every model version with stage, risk tier, owner, policy, latest verdict, requests, waivers and flags."""
        return self._ctx.act(session, Permission.READ, "inventory", lambda tx, _r: tx.inventory_rows())

    def version_stages(self, session: Session, model_name: str | None = None) -> dict[str, dict[str, Any]]:
        """``{"name@version": {"stage", "since", "seq", ...}}`` for every model version (or those of ``model_name``):
        its stage (``registered`` when it never moved) and, for a suspended version, ``suspended_by`` and the
        ``reason`` from the ledger entry that suspended it; ``revalidation_required`` (and why) when monitoring
        flagged it."""

        def collect(tx: Tx, _role: str) -> dict[str, dict[str, Any]]:
            rows = tx.stage_rows(model_name)
            suspended = [int(r["seq"]) for r in rows if r["stage"] == "suspended" and r["seq"] is not None]
            why = {e.seq: json.loads(e.payload) for e in tx.ledger_entries(suspended)}
            found: dict[str, dict[str, Any]] = {}
            for r in rows:
                entry: dict[str, Any] = {"stage": r["stage"], "since": r["since"], "seq": r["seq"],
                                         "revalidation_required": bool(r["revalidation_required"])}
                if r["revalidation_required"]:
                    entry["revalidation_reason"] = r["revalidation_reason"]
                if r["stage"] == "suspended":
                    payload = why.get(int(r["seq"])) if r["seq"] is not None else None
                    entry["reason"] = (payload or {}).get("reason")
                    entry["suspended_by"] = (payload or {}).get("suspended_by")
                found[f"{r['name']}@{r['version']}"] = entry
            return found

        return self._ctx.act(session, Permission.READ, "inventory", collect)

    def request_detail(self, session: Session, request_id: str) -> dict[str, Any]:
        """A promotion request with its gate evidence, decisions, and the current production version beside it."""

        def detail(tx: Tx, _role: str) -> dict[str, Any]:
            request = tx.get_request(request_id)
            if request is None:
                raise NotFound(f"no promotion request {request_id}")
            evaluation = tx.get_evaluation(request["evaluation_id"])
            production = tx.versions_in_stage(request["model_name"], "production")
            current = None
            if production and production[0]["model_version"] != request["model_version"]:
                latest = tx.latest_gate_evaluation(request["model_name"], production[0]["model_version"])
                current = {"version": production[0]["model_version"],
                           "evaluation": json.loads(latest["result"]) if latest else None}
            return {
                **request,
                "required_roles": json.loads(request["required_roles"]),
                "waivers": json.loads(request["waivers"]),
                "decisions": tx.decisions(request_id),
                "evaluation": json.loads(evaluation["result"]) if evaluation else None,
                "current_production": current,
            }

        return self._ctx.act(session, Permission.READ, f"request:{request_id}", detail)
