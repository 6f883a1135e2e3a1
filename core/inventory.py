"""Read models for the front end: the model inventory and the full picture of one promotion request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from core.errors import NotFound
from core.identity import Session
from core.roles import Permission
from core.storage.duckdb_store import Tx


class InventoryAPI:
    """Inventory and request detail (mixed into :class:`core.service.Countersign`)."""

    _act: Callable[..., Any]

    def inventory(self, session: Session) -> list[dict[str, Any]]:
        """Every model version with stage, risk tier, owner, policy, latest verdict, requests, waivers and flags."""
        return self._act(session, Permission.READ, "inventory", lambda tx, _r: tx.inventory_rows())

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

        return self._act(session, Permission.READ, f"request:{request_id}", detail)
