"""The releases aggregate on DuckDB: governing policies, stages, promotion requests, decisions, review threads,
waivers, and the inventory read model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.storage.duckdb_tx.base import TxBase


class ReleaseTx(TxBase):
    """Stages, requests, decisions, notes and waivers (:class:`core.storage.contract.ReleaseStore`)."""

    def governing_policy(self, model_name: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM policy_assignments WHERE model_name = ?", [model_name])
        return rows[0] if rows else None

    def assign_policy(self, record: dict[str, Any]) -> None:
        self.con.execute("DELETE FROM policy_assignments WHERE model_name = ?", [record["model_name"]])
        self._insert("policy_assignments", record)

    def models_governed_by(self, policy_name: str) -> list[str]:
        return [r[0] for r in self._all("SELECT model_name FROM policy_assignments WHERE policy_name = ?",
                                        [policy_name])]

    def stage_of(self, model_name: str, model_version: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM model_stages WHERE model_name = ? AND model_version = ?",
                             [model_name, model_version])
        return rows[0] if rows else None

    def versions_in_stage(self, model_name: str, stage: str) -> list[dict[str, Any]]:
        return self._records("SELECT * FROM model_stages WHERE model_name = ? AND stage = ? ORDER BY model_version",
                             [model_name, stage])

    def set_stage(self, record: dict[str, Any]) -> None:
        self.con.execute("DELETE FROM model_stages WHERE model_name = ? AND model_version = ?",
                         [record["model_name"], record["model_version"]])
        self._insert("model_stages", record)

    def flag_revalidation(self, model_name: str, model_version: str, reason: str) -> None:
        self.con.execute("UPDATE model_stages SET revalidation_required = true, revalidation_reason = ? "
                         "WHERE model_name = ? AND model_version = ?", [reason, model_name, model_version])

    def all_stages(self) -> list[dict[str, Any]]:
        return self._records("SELECT * FROM model_stages ORDER BY model_name, model_version")

    def stage_rows(self, model_name: str | None = None) -> list[dict[str, Any]]:
        """Every model version (or those of ``model_name``) with its stage (``registered`` when never moved), since
        when, and the seq of the entry that set it."""
        sql = """SELECT m.name, m.version, coalesce(s.stage, 'registered') AS stage, s.since, s.seq,
                        coalesce(s.revalidation_required, false) AS revalidation_required, s.revalidation_reason
                 FROM models m LEFT JOIN model_stages s ON s.model_name = m.name AND s.model_version = m.version"""
        params: list[Any] = []
        if model_name is not None:
            sql += " WHERE m.name = ?"
            params.append(model_name)
        return self._records(sql + " ORDER BY m.name, m.version", params)

    def latest_gate_evaluation(self, model_name: str, model_version: str) -> dict[str, Any] | None:
        rows = self._records(
            "SELECT * FROM evaluations WHERE model_name = ? AND model_version = ? AND purpose = 'evaluation' "
            "ORDER BY seq DESC LIMIT 1", [model_name, model_version])
        return rows[0] if rows else None

    def insert_request(self, record: dict[str, Any]) -> None:
        self._insert("promotion_requests", record)

    def get_request(self, request_id: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM promotion_requests WHERE id = ?", [request_id])
        return rows[0] if rows else None

    def close_request(self, request_id: str, status: str, closed_at: str) -> None:
        self.con.execute("UPDATE promotion_requests SET status = ?, closed_at = ? WHERE id = ?",
                         [status, closed_at, request_id])

    def list_requests(self, pending_only: bool = False) -> list[dict[str, Any]]:
        where = "WHERE status = 'pending'" if pending_only else ""
        return self._records(f"SELECT * FROM promotion_requests {where} ORDER BY seq DESC")

    def pending_request_for(self, model_name: str, model_version: str, target: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM promotion_requests WHERE model_name = ? AND model_version = ? AND "
                             "target_stage = ? AND status = 'pending'", [model_name, model_version, target])
        return rows[0] if rows else None

    def decisions(self, request_id: str) -> list[dict[str, Any]]:
        return self._records("SELECT * FROM decisions WHERE request_id = ? ORDER BY seq", [request_id])

    def decisions_by_request(self, pending_only: bool = False) -> dict[str, list[dict[str, Any]]]:
        """Every decision on the (pending) requests, grouped by request id, each list in seq order (one query)."""
        where = "WHERE r.status = 'pending'" if pending_only else ""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for d in self._records(f"SELECT d.* FROM decisions d JOIN promotion_requests r ON r.id = d.request_id "
                               f"{where} ORDER BY d.seq"):
            grouped.setdefault(d["request_id"], []).append(d)
        return grouped

    def model_owners(self) -> dict[tuple[str, str], str]:
        """``(name, version) -> owner`` of every registered model (one query)."""
        rows = self.con.execute("SELECT name, version, owner FROM models").fetchall()
        return {(name, version): owner or "" for name, version, owner in rows}

    def insert_decision(self, record: dict[str, Any]) -> None:
        self._insert("decisions", record)

    # review threads (migration 11): comments, change requests and answers; requests open for review or for changes
    def insert_request_note(self, record: dict[str, Any]) -> None:
        self._insert("request_notes", record)

    def request_notes(self, request_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The thread notes of the given requests, oldest first."""
        return self._records("SELECT * FROM request_notes WHERE request_id IN (SELECT unnest(?)) ORDER BY seq",
                             [list(request_ids)])

    def set_request_status(self, request_id: str, status: str) -> None:
        """Move an open request between ``pending`` and ``changes_requested`` (it stays open: no ``closed_at``)."""
        self.con.execute("UPDATE promotion_requests SET status = ? WHERE id = ?", [status, request_id])

    def open_request_for(self, model_name: str, model_version: str, target: str) -> dict[str, Any] | None:
        """The request of this version to ``target`` that is still open (pending, or awaiting changes)."""
        rows = self._records("SELECT * FROM promotion_requests WHERE model_name = ? AND model_version = ? AND "
                             "target_stage = ? AND status IN ('pending', 'changes_requested')",
                             [model_name, model_version, target])
        return rows[0] if rows else None

    def list_open_requests(self) -> list[dict[str, Any]]:
        """Requests still open: pending a decision, or awaiting changes from their requester (newest first)."""
        return self._records("SELECT * FROM promotion_requests WHERE status IN ('pending', 'changes_requested') "
                             "ORDER BY seq DESC")

    def decisions_for_requests(self, request_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every decision on the given requests, grouped by request id, each list in seq order (one query)."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for d in self._records("SELECT * FROM decisions WHERE request_id IN (SELECT unnest(?)) ORDER BY seq",
                               [list(request_ids)]):
            grouped.setdefault(d["request_id"], []).append(d)
        return grouped

    def request_superseding(self, request_id: str) -> dict[str, Any] | None:
        """The request that replaced ``request_id`` when its requester answered with new evidence, if any."""
        rows = self._records("SELECT * FROM promotion_requests WHERE supersedes = ?", [request_id])
        return rows[0] if rows else None

    def insert_waiver(self, record: dict[str, Any]) -> None:
        self._insert("waivers", record)

    def get_waiver(self, waiver_id: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM waivers WHERE id = ?", [waiver_id])
        return rows[0] if rows else None

    def revoke_waiver(self, waiver_id: str, by: str, at: str) -> None:
        self.con.execute("UPDATE waivers SET revoked_by = ?, revoked_at = ? WHERE id = ?", [by, at, waiver_id])

    def waivers_for(self, model_name: str | None = None, model_version: str | None = None) -> list[dict[str, Any]]:
        clause, params = self._where(model_name=model_name or None, model_version=model_version or None)
        return self._records(f"SELECT * FROM waivers {clause} ORDER BY seq", params)

    def inventory_rows(self) -> list[dict[str, Any]]:
        """One row per model version with its stage, governance and latest evidence."""
        return self._records(f"""
            WITH latest_eval AS (
                SELECT model_name, model_version, id, passed, evaluated_at,
                       row_number() OVER (PARTITION BY model_name, model_version ORDER BY seq DESC) AS rn
                FROM evaluations WHERE purpose = 'evaluation'),
            pending AS (
                SELECT model_name, model_version, count(*) AS n FROM promotion_requests
                WHERE status IN ('pending', 'changes_requested') GROUP BY model_name, model_version),
            active_waivers AS (
                SELECT model_name, model_version, count(*) AS n FROM waivers
                WHERE revoked_at IS NULL AND until >= {self._today} GROUP BY model_name, model_version)
            SELECT m.name, m.version, coalesce(s.stage, 'registered') AS stage, m.risk_tier, m.owner,
                   a.policy_name AS policy, e.id AS latest_evaluation,
                   CASE WHEN e.passed IS NULL THEN NULL WHEN e.passed THEN 'pass' ELSE 'fail' END AS verdict,
                   e.evaluated_at, coalesce(p.n, 0) AS pending_requests, coalesce(w.n, 0) AS active_waivers,
                   coalesce(s.revalidation_required, false) AS revalidation_required, m.external,
                   m.trusted_pickle, m.estimator, m.registered_at
            FROM models m
            LEFT JOIN model_stages s ON s.model_name = m.name AND s.model_version = m.version
            LEFT JOIN policy_assignments a ON a.model_name = m.name
            LEFT JOIN latest_eval e ON e.model_name = m.name AND e.model_version = m.version AND e.rn = 1
            LEFT JOIN pending p ON p.model_name = m.name AND p.model_version = m.version
            LEFT JOIN active_waivers w ON w.model_name = m.name AND w.model_version = m.version
            ORDER BY m.name, m.version""")
