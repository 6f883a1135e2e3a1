"""The production history of a model: which version held which stage, when, on whose request and approval, under
which evidence — rebuilt from ``model.stage_changed`` ledger entries alone, so it cannot disagree with the ledger.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.identity.roles import Permission
from core.identity.users import Session
from core.ledger.chain import decode_row
from core.releases import clock
from core.storage.contract import Transaction as Tx

if TYPE_CHECKING:
    from core.api.context import Context

__all__ = ["HistoryService"]


class HistoryService:
    """A model's stage timeline, at any moment, over a :class:`~core.api.context.Context`."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def history(self, session: Session, model_name: str, at: str | None = None) -> dict[str, Any]:
        """Which version held which stage, when, on whose request and approval, under which evidence.

        Reconstructed from ``model.stage_changed`` ledger entries only, so it cannot disagree with the ledger.
        """
        moment = None
        if at:
            try:
                moment = clock.parse_ts(at if ("T" in at or " " in at) else f"{at}T23:59:59.999999+00:00")
            except ValueError:
                raise BadInput(f"{at!r} is not a date or time (expected ISO 8601, e.g. 2026-05-01 or "
                               "2026-05-01T09:00:00Z)") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)

        def build(tx: Tx, _role: str) -> dict[str, Any]:
            rows = tx.ledger_for_subject_prefix(f"model:{model_name}@", ["model.stage_changed"])
            events = [decode_row(r) for r in rows if json.loads(r.payload).get("name") == model_name]
            timeline = [{"seq": e["seq"], "ts": e["ts"], "actor": e["actor"], "role": e["role"],
                         **{k: v for k, v in e["payload"].items() if k not in ("name",)}} for e in events]
            if moment is not None:
                timeline = [t for t in timeline if clock.parse_ts(t["ts"]) <= moment]
            state: dict[str, dict[str, Any]] = {}
            for t in timeline:
                state[t["version"]] = t
            current = {v: {"stage": t["to_stage"], "since": t["ts"], "seq": t["seq"],
                           "requested_by": t.get("requested_by"), "approvers": t.get("approvers", []),
                           "evaluation_id": t.get("evaluation_id"), "policy": t.get("policy"),
                           "reason": t.get("reason")}
                       for v, t in sorted(state.items())}
            production = [v for v, s in current.items() if s["stage"] == "production"]
            return {"model": model_name, "at": moment.isoformat() if moment else None,
                    "production": production[0] if production else None, "versions": current,
                    "timeline": timeline}

        return self._ctx.act(session, Permission.READ, f"model:{model_name}", build)
