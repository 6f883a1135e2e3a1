"""DuckDB implementation of the store: one embedded file shared by several processes.

DuckDB lets only one process hold a database file open at a time (a second one gets ``Could not set lock on
file``). Countersign therefore never keeps the file open between operations: every operation connects, works in
one transaction and disconnects. A connect that meets another process's lock is retried with jittered backoff until
the configured wait (``COUNTERSIGN_LOCK_TIMEOUT``) runs out, and only then fails with :class:`StoreUnavailable`.
Inside one process, write transactions are serialised by a lock so that threads (Streamlit sessions) never race
for the ledger head.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from core.errors import BadInput, SchemaTooNew, StoreUnavailable
from core.storage.migrations import HEAD_VERSION, MIGRATIONS, Migration
from core.storage.records import LEDGER_COLUMNS, LedgerRow

_DUCKDB_CONFIG = {
    # Never reach for the network: built-in extensions only (json is built in).
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
}

_process_write_locks: dict[str, threading.RLock] = {}
_process_write_locks_guard = threading.Lock()


class _Instance:
    """What this process knows about one database file while it holds it open.

    DuckDB keeps a file locked against other processes for as long as any connection to it is open in this process,
    so while ``open_connections > 0`` nobody else can append: the ledger head committed by this process stays the
    head, and appends need not query it again (a query costs ~1-5 ms, as much as the commit itself).
    """

    def __init__(self) -> None:
        self.open_connections = 0
        self.head: tuple[int, str, str] | None = None


_instances: dict[str, _Instance] = {}


def _instance(path: Path) -> _Instance:
    key = str(path.resolve())
    with _process_write_locks_guard:
        state = _instances.get(key)
        if state is None:
            state = _instances[key] = _Instance()
        return state


def _write_lock(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _process_write_locks_guard:
        lock = _process_write_locks.get(key)
        if lock is None:
            lock = _process_write_locks[key] = threading.RLock()
        return lock


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


class Tx:
    """Repository methods bound to one open DuckDB connection inside one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection, instance: _Instance | None = None) -> None:
        self.con = con
        self._instance = instance
        self.pending_head: tuple[int, str, str] | None = None

    # -- generic -----------------------------------------------------------------------------------------------
    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.con.execute(sql, list(params)).fetchall()
        return rows[0] if rows else None

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    # -- schema and settings -----------------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self._one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        )
        if not exists or not exists[0]:
            return 0
        row = self._one("SELECT max(version) FROM schema_migrations")
        return int(row[0]) if row and row[0] is not None else 0

    def apply_migration(self, migration: Migration, applied_at: str) -> None:
        for statement in migration.statements:
            self.con.execute(statement)
        self.con.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            [migration.version, migration.description, applied_at],
        )

    def get_setting(self, key: str) -> str | None:
        row = self._one("SELECT value FROM settings WHERE key = ?", [key])
        return None if row is None else str(row[0])

    def put_setting(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [key, value])

    # -- users, roles, credentials -----------------------------------------------------------------------------
    def user_exists(self, name: str) -> bool:
        return self._one("SELECT 1 FROM users WHERE name = ?", [name]) is not None

    def insert_user(self, name: str, created_at: str, created_seq: int) -> None:
        self.con.execute("INSERT INTO users VALUES (?, ?, ?)", [name, created_at, created_seq])

    def user_roles(self, name: str) -> list[str]:
        return [r[0] for r in self._all("SELECT role FROM user_roles WHERE name = ? ORDER BY role", [name])]

    def add_role(self, name: str, role: str) -> None:
        self.con.execute("INSERT INTO user_roles VALUES (?, ?)", [name, role])

    def put_enrolment(self, name: str, code_sha256: str, expires_at: str, issued_by: str, seq: int) -> None:
        self.con.execute("INSERT OR REPLACE INTO enrolments VALUES (?, ?, ?, ?, ?)",
                         [name, code_sha256, expires_at, issued_by, seq])

    def get_enrolment(self, name: str) -> dict[str, Any] | None:
        row = self._one("SELECT code_sha256, expires_at, issued_by, seq FROM enrolments WHERE name = ?", [name])
        return None if row is None else {"code_sha256": row[0], "expires_at": row[1], "issued_by": row[2],
                                         "seq": int(row[3])}

    def delete_enrolment(self, name: str) -> None:
        self.con.execute("DELETE FROM enrolments WHERE name = ?", [name])

    def pickle_trusts(self, artifact_sha256: str) -> list[dict[str, Any]]:
        """Who vouched for running this exact pickle/joblib file (``model.pickle_trusted`` entries), oldest first."""
        rows = self._all("SELECT seq, ts, actor FROM ledger WHERE action = 'model.pickle_trusted' AND "
                         "json_extract_string(payload, '$.artifact_sha256') = ? ORDER BY seq", [artifact_sha256])
        return [{"seq": int(r[0]), "ts": r[1], "name": r[2]} for r in rows]

    def identity_events(self, name: str) -> list[tuple[int, str, str, str]]:
        """``(seq, actor, action, payload)`` of the ledger's user-management entries about ``name``, oldest first."""
        return [(int(r[0]), r[1], r[2], r[3]) for r in self._all(
            "SELECT seq, actor, action, payload FROM ledger WHERE subject = ? AND action IN ('user.added', "
            "'user.role_granted', 'user.role_revoked', 'user.enrolled') ORDER BY seq", [f"user:{name}"])]

    def remove_role(self, name: str, role: str) -> None:
        self.con.execute("DELETE FROM user_roles WHERE name = ? AND role = ?", [name, role])

    def list_users(self) -> list[dict[str, Any]]:
        rows = self._all(
            """SELECT u.name, u.created_at, c.key_id,
                      coalesce(list(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), [])
               FROM users u
               LEFT JOIN credentials c ON c.owner = u.name
               LEFT JOIN user_roles r ON r.name = u.name
               GROUP BY u.name, u.created_at, c.key_id ORDER BY u.name"""
        )
        return [{"name": n, "created_at": t, "key_id": k, "roles": list(roles), "enrolled": k is not None}
                for n, t, k, roles in rows]

    def get_credentials(self, owner: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT kdf, salt, verifier, nonce, ciphertext, public_key, key_id FROM credentials WHERE owner = ?",
            [owner],
        )
        if row is None:
            return None
        keys = ("kdf", "salt", "verifier", "nonce", "ciphertext", "public_key", "key_id")
        return dict(zip(keys, row, strict=True))

    def put_credentials(self, owner: str, cred: dict[str, Any]) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO credentials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                owner,
                cred["kdf"],
                cred["salt"],
                cred["verifier"],
                cred["nonce"],
                cred["ciphertext"],
                cred["public_key"],
                cred["key_id"],
            ],
        )

    def insert_public_key(self, key_id: str, owner: str, public_key: bytes, valid_from_seq: int) -> None:
        self.con.execute(
            "INSERT INTO public_keys VALUES (?, ?, ?, ?)", [key_id, owner, public_key, valid_from_seq]
        )

    def public_keys(self) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT key_id, owner, public_key, valid_from_seq FROM public_keys ORDER BY valid_from_seq, key_id"
        )
        return [{"key_id": k, "owner": o, "public_key": bytes(p), "valid_from_seq": s} for k, o, p, s in rows]

    # -- ledger ------------------------------------------------------------------------------------------------
    def ledger_head(self) -> tuple[int, str, str] | None:
        """``(seq, leaf_hash, ts)`` of the newest entry, or ``None`` for an empty ledger."""
        if self.pending_head is not None:
            return self.pending_head
        if self._instance is not None and self._instance.head is not None:
            return self._instance.head
        row = self._one("SELECT seq, leaf_hash, ts FROM ledger ORDER BY seq DESC LIMIT 1")
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def insert_ledger_values(self, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ledger rows given as value sequences in ``LEDGER_COLUMNS`` order."""
        last = rows[-1]
        self.pending_head = (int(last[0]), str(last[8]), str(last[1]))
        if len(rows) == 1:
            self.con.execute("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(rows[0]))
            return
        import pyarrow as pa

        columns = list(zip(*rows, strict=True))
        table = pa.table(  # typed arrays: no per-value type inference (3x faster than inferring)
            [pa.array(values, type=pa.int64() if name == "seq" else pa.string())
             for name, values in zip(LEDGER_COLUMNS, columns, strict=True)],
            names=list(LEDGER_COLUMNS))
        self.con.register("_ledger_batch", table)
        try:
            self.con.execute("INSERT INTO ledger SELECT * FROM _ledger_batch")
        finally:
            self.con.unregister("_ledger_batch")

    def ledger_size(self) -> int:
        row = self._one("SELECT count(*) FROM ledger")
        return int(row[0]) if row else 0

    def ledger_search(
        self,
        *,
        limit: int,
        offset: int = 0,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        until: str | None = None,
        newest_first: bool = True,
    ) -> list[LedgerRow]:
        """Ledger rows for the audit log, newest first (``newest_first=False``: oldest first). ``actor`` matches the
        whole name, ignoring case; ``action``
        matches whole dotted segments (``promotion`` finds ``promotion`` and ``promotion.*``, not ``promotions``),
        ignoring case; ``subject`` matches exactly. A trailing ``*`` on any of them matches a plain text prefix.
        ``since``/``until`` are ledger timestamps (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), both inclusive."""
        where: list[str] = []
        params: list[Any] = []

        def prefix(column: str, value: str, fold: bool) -> None:
            escaped = value.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            where.append(f"{'lower(' + column + ')' if fold else column} LIKE ? ESCAPE '\\'")
            params.append((escaped.lower() if fold else escaped) + "%")

        if actor is not None:
            if actor.endswith("*"):
                prefix("actor", actor[:-1], True)
            else:
                where.append("lower(actor) = ?")
                params.append(actor.lower())
        if action is not None:
            if action.endswith("*"):
                prefix("action", action[:-1], True)
            else:
                escaped = action.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
                where.append("(lower(action) = ? OR lower(action) LIKE ? ESCAPE '\\')")
                params.extend([action.lower(), escaped.rstrip(".") + ".%"])
        if subject is not None:
            if subject.endswith("*"):
                prefix("subject", subject[:-1], False)
            else:
                where.append("subject = ?")
                params.append(subject)
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        if until is not None:
            where.append("ts <= ?")
            params.append(until)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._all(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger {clause} ORDER BY seq {'DESC' if newest_first else 'ASC'} "
            "LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        return [LedgerRow(*r) for r in rows]

    def ledger_entry(self, seq: int) -> LedgerRow | None:
        """The ledger row at ``seq``, or ``None``."""
        row = self._one(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE seq = ?", [int(seq)])
        return None if row is None else LedgerRow(*row)

    def user_deactivations(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        """``{user: {"seq", "ts", "by", "reason"}}`` for every deactivated user (or only ``name``), from their
        ``user.deactivated`` ledger entries (deactivation is final: the latest entry per user counts)."""
        sql = "SELECT subject, seq, ts, actor, payload FROM ledger WHERE action = 'user.deactivated'"
        params: list[Any] = []
        if name is not None:
            sql += " AND subject = ?"
            params.append(f"user:{name}")
        found: dict[str, dict[str, Any]] = {}
        for subject, seq, ts, actor, payload in self._all(sql + " ORDER BY seq", params):
            found[subject.removeprefix("user:")] = {"seq": int(seq), "ts": ts, "by": actor,
                                                    "reason": json.loads(payload).get("reason")}
        return found

    def delete_credentials(self, owner: str) -> None:
        """Remove a user's sealed private key (their public keys stay, so their past signatures still verify)."""
        self.con.execute("DELETE FROM credentials WHERE owner = ?", [owner])

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

    def ledger_entries(self, seqs: Sequence[int]) -> list[LedgerRow]:
        if not seqs:
            return []
        rows = self._all(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE seq IN (SELECT unnest(?)) ORDER BY seq",
            [list(seqs)],
        )
        return [LedgerRow(*r) for r in rows]

    def ledger_leaf_hashes(self, start: int = 0, end: int | None = None) -> list[str]:
        sql = "SELECT leaf_hash FROM ledger WHERE seq >= ?"
        params: list[Any] = [start]
        if end is not None:
            sql += " AND seq < ?"
            params.append(end)
        return self.con.sql(sql + " ORDER BY seq", params=params).to_arrow_table().column(0).to_pylist()

    def ledger_max_seq(self) -> int | None:
        row = self._one("SELECT max(seq) FROM ledger")
        return None if row is None or row[0] is None else int(row[0])

    def ledger_chunk(self, after_seq: int | None, upto_seq: int) -> dict[str, list[Any]]:
        """Rows with ``after_seq < seq <= upto_seq`` in seq order, column by column.

        A bounded range, not ``ORDER BY seq LIMIT n`` (which sorts everything after ``after_seq`` to keep n rows:
        3-5x slower per chunk on a large ledger).
        """
        where = "seq <= ?" if after_seq is None else "seq > ? AND seq <= ?"
        params = [upto_seq] if after_seq is None else [after_seq, upto_seq]
        table = self.con.sql(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE {where} ORDER BY seq", params=params,
        ).to_arrow_table()
        return {c: table.column(c).to_pylist() for c in LEDGER_COLUMNS}

    def ledger_next_seq(self, after_seq: int, upto_seq: int) -> int | None:
        """The smallest ``seq`` in ``(after_seq, upto_seq]``, if any (to step over a gap)."""
        row = self._one("SELECT min(seq) FROM ledger WHERE seq > ? AND seq <= ?", [after_seq, upto_seq])
        return None if row is None or row[0] is None else int(row[0])

    def ledger_columns(self) -> dict[str, list[Any]]:
        """Every ledger column, in seq order, as Python lists (for full verification)."""
        table = self.con.sql(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger ORDER BY seq").to_arrow_table()
        return {c: table.column(c).to_pylist() for c in LEDGER_COLUMNS}

    # -- datasets, models, documents ---------------------------------------------------------------------------
    def get_dataset(self, name: str, version: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM datasets WHERE name = ? AND version = ?", [name, version])
        return rows[0] if rows else None

    def insert_dataset(self, record: dict[str, Any]) -> None:
        self._insert("datasets", record)

    def list_datasets(self) -> list[dict[str, Any]]:
        return self._records(
            "SELECT name, version, digest, format, row_count, size_bytes, registered_by, registered_at "
            "FROM datasets ORDER BY name, version"
        )

    def get_model(self, name: str, version: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM models WHERE name = ? AND version = ?", [name, version])
        return rows[0] if rows else None

    def insert_model(self, record: dict[str, Any]) -> None:
        self._insert("models", record)

    def list_models(self) -> list[dict[str, Any]]:
        return self._records(
            "SELECT name, version, external, artifact_digest, estimator, risk_tier, owner, trusted_pickle, "
            "registered_at FROM models ORDER BY name, version"
        )

    def latest_document(self, kind: str, subject: str) -> dict[str, Any] | None:
        rows = self._records(
            "SELECT * FROM documents WHERE kind = ? AND subject = ? ORDER BY revision DESC LIMIT 1", [kind, subject]
        )
        return rows[0] if rows else None

    def document_history(self, kind: str, subject: str) -> list[dict[str, Any]]:
        return self._records(
            "SELECT * FROM documents WHERE kind = ? AND subject = ? ORDER BY revision", [kind, subject]
        )

    def insert_document(self, record: dict[str, Any]) -> None:
        self._insert("documents", record)

    # -- policies and evaluations -----------------------------------------------------------------------------
    def get_policy(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        if version is None:
            rows = self._records("SELECT * FROM policies WHERE name = ? ORDER BY version DESC LIMIT 1", [name])
        else:
            rows = self._records("SELECT * FROM policies WHERE name = ? AND version = ?", [name, version])
        return rows[0] if rows else None

    def insert_policy(self, record: dict[str, Any]) -> None:
        self._insert("policies", record)

    def list_policies(self) -> list[dict[str, Any]]:
        return self._records(
            "SELECT name, version, sha256, description, added_by, added_at, seq FROM policies ORDER BY name, version"
        )

    def insert_evaluation(self, record: dict[str, Any]) -> None:
        self._insert("evaluations", record)

    def get_evaluation(self, evaluation_id: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM evaluations WHERE id = ?", [evaluation_id])
        return rows[0] if rows else None

    def list_evaluations(self, model_name: str | None = None, model_version: str | None = None,
                         limit: int = 100) -> list[dict[str, Any]]:
        where, params = [], []
        if model_name is not None:
            where.append("model_name = ?")
            params.append(model_name)
        if model_version is not None:
            where.append("model_version = ?")
            params.append(model_version)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._records(
            "SELECT id, model_name, model_version, artifact_digest, dataset_ref, policy_name, policy_version, "
            f"policy_sha256, passed, result_sha256, evaluated_by, evaluated_at, seq FROM evaluations {clause} "
            "ORDER BY seq DESC LIMIT ?", [*params, limit])

    # -- releases ----------------------------------------------------------------------------------------------
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
        where, params = [], []
        if model_name:
            where.append("model_name = ?")
            params.append(model_name)
        if model_version:
            where.append("model_version = ?")
            params.append(model_version)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._records(f"SELECT * FROM waivers {clause} ORDER BY seq", params)

    def enqueue_webhook(self, record: dict[str, Any]) -> None:
        self._insert("webhook_outbox", record)

    def undelivered_webhooks(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._records("SELECT * FROM webhook_outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT ?", [limit])

    def mark_webhook(self, webhook_id: str, delivered_at: str | None, error: str | None) -> None:
        self.con.execute("UPDATE webhook_outbox SET attempts = attempts + 1, delivered_at = ?, last_error = ? "
                         "WHERE id = ?", [delivered_at, error, webhook_id])

    def ledger_for_subject_prefix(self, prefix: str, actions: Sequence[str]) -> list[LedgerRow]:
        rows = self._all(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE subject LIKE ? ESCAPE '\\' "
            "AND action IN (SELECT unnest(?)) ORDER BY seq",
            [prefix.replace("%", r"\%").replace("_", r"\_") + "%", list(actions)])
        return [LedgerRow(*r) for r in rows]

    def inventory_rows(self) -> list[dict[str, Any]]:
        """One row per model version with its stage, governance and latest evidence."""
        return self._records("""
            WITH latest_eval AS (
                SELECT model_name, model_version, id, passed, evaluated_at,
                       row_number() OVER (PARTITION BY model_name, model_version ORDER BY seq DESC) AS rn
                FROM evaluations WHERE purpose = 'evaluation'),
            pending AS (
                SELECT model_name, model_version, count(*) AS n FROM promotion_requests
                WHERE status IN ('pending', 'changes_requested') GROUP BY ALL),
            active_waivers AS (
                SELECT model_name, model_version, count(*) AS n FROM waivers
                WHERE revoked_at IS NULL AND until >= strftime(current_date, '%Y-%m-%d') GROUP BY ALL)
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

    def insert_attestation(self, record: dict[str, Any]) -> None:
        self._insert("attestations", record)

    def attestations_for(self, model_name: str, model_version: str | None = None) -> list[dict[str, Any]]:
        if model_version is None:
            return self._records("SELECT * FROM attestations WHERE model_name = ? ORDER BY seq", [model_name])
        return self._records("SELECT * FROM attestations WHERE model_name = ? AND model_version = ? ORDER BY seq",
                             [model_name, model_version])

    def ledger_rows_for(self, subjects: Sequence[str], actions: Sequence[str], upto: int) -> list[LedgerRow]:
        """Rows about any of ``subjects`` or with any of ``actions``, below ``upto`` (exclusive), in seq order."""
        rows = self._all(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE seq < ? AND (subject IN (SELECT unnest(?)) OR "
            "action IN (SELECT unnest(?))) ORDER BY seq", [upto, list(subjects), list(actions)])
        return [LedgerRow(*r) for r in rows]

    # -- lineage -----------------------------------------------------------------------------------------------
    def upsert_lineage_node(self, node: dict[str, Any]) -> bool:
        """Insert a node unless one with that id exists; return whether it was inserted."""
        if self._one("SELECT 1 FROM lineage_nodes WHERE id = ?", [node["id"]]) is not None:
            return False
        self._insert("lineage_nodes", node)
        return True

    def insert_lineage_edge(self, src: str, dst: str, kind: str, seq: int) -> bool:
        if self._one("SELECT 1 FROM lineage_edges WHERE src = ? AND dst = ? AND kind = ?", [src, dst, kind]):
            return False
        self.con.execute("INSERT INTO lineage_edges VALUES (?, ?, ?, ?)", [src, dst, kind, seq])
        return True

    def insert_lineage_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Bulk-insert rows the caller knows are new into ``lineage_nodes``, ``lineage_edges`` or ``lineage_columns``
        (one Arrow batch: thousands of rows in milliseconds, where a statement per row costs about a millisecond
        each); a row already there is skipped. Returns how many rows were given."""
        if table not in ("lineage_nodes", "lineage_edges", "lineage_columns"):
            raise ValueError(f"not a lineage table: {table}")
        if not rows:
            return 0
        import pyarrow as pa

        values = list(zip(*rows, strict=True))
        batch = pa.table([pa.array(v, type=pa.int64() if name == "seq" else pa.string())
                          for name, v in zip(columns, values, strict=True)], names=list(columns))
        self.con.register("_lineage_batch", batch)
        try:
            self.con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM _lineage_batch "
                             "ON CONFLICT DO NOTHING")
        finally:
            self.con.unregister("_lineage_batch")
        return len(rows)

    def update_lineage_node(self, node: dict[str, Any]) -> None:
        """Replace a node's label, digest and attributes (what later OpenLineage events add); id, kind and seq stay."""
        self.con.execute("UPDATE lineage_nodes SET label = ?, digest = ?, attributes = ? WHERE id = ?",
                         [node["label"], node["digest"], node["attributes"], node["id"]])

    def repoint_lineage_nodes(self, pairs: Sequence[Sequence[str]]) -> None:
        """Merge each node ``old`` into ``new`` (``[old, new]`` pairs, ``new`` never itself merged): edges, aliases
        and column links move to ``new``; the ``old`` nodes are deleted. One statement per table, whatever the count."""
        if not pairs:
            return
        import pyarrow as pa

        mapping = pa.table({"old": pa.array([p[0] for p in pairs], pa.string()),
                            "new": pa.array([p[1] for p in pairs], pa.string())})
        self.con.register("_merged", mapping)
        try:
            touched = "src IN (SELECT old FROM _merged) OR dst IN (SELECT old FROM _merged)"
            moved = ("coalesce((SELECT new FROM _merged WHERE old = t.src), t.src) AS src, "
                     "coalesce((SELECT new FROM _merged WHERE old = t.dst), t.dst) AS dst")
            for table, columns in (("lineage_edges", "src, dst, kind, seq"),
                                   ("lineage_columns", "dst, dst_field, src, src_field, transformation, seq")):
                rest = ", ".join(c for c in columns.split(", ") if c not in ("src", "dst"))
                self.con.execute(f"CREATE TEMP TABLE _moved AS SELECT {moved}, {rest} FROM {table} t WHERE {touched}")
                self.con.execute(f"DELETE FROM {table} WHERE {touched}")
                self.con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _moved ON CONFLICT DO NOTHING")
                self.con.execute("DROP TABLE _moved")
            self.con.execute("UPDATE lineage_aliases SET node_id = m.new FROM _merged m WHERE node_id = m.old")
            self.con.execute("DELETE FROM lineage_nodes WHERE id IN (SELECT old FROM _merged)")
        finally:
            self.con.unregister("_merged")

    def lineage_aliases(self, ids: Sequence[str]) -> dict[str, str]:
        """``alias → node id`` for those of ``ids`` that are aliases (OpenLineage ``symlinks`` identifiers)."""
        if not ids:
            return {}
        rows = self._all("SELECT alias, node_id FROM lineage_aliases WHERE alias IN (SELECT unnest(?))", [list(ids)])
        return {str(a): str(n) for a, n in rows}

    def put_lineage_aliases(self, pairs: Sequence[Sequence[str]], seq: int) -> None:
        """Record ``[alias, node id]`` pairs (an alias seen again points to its newest node), in one statement."""
        if not pairs:
            return
        import pyarrow as pa

        batch = pa.table({"alias": pa.array([p[0] for p in pairs], pa.string()),
                          "node_id": pa.array([p[1] for p in pairs], pa.string()),
                          "seq": pa.array([seq] * len(pairs), pa.int64())})
        self.con.register("_aliases", batch)
        try:
            self.con.execute("INSERT INTO lineage_aliases SELECT * FROM _aliases ON CONFLICT (alias) DO UPDATE SET "
                             "node_id = excluded.node_id")
        finally:
            self.con.unregister("_aliases")

    def lineage_columns_touching(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Column links into or out of any of ``ids`` (``""`` stored for an absent field reads back as ``None``)."""
        if not ids:
            return []
        rows = self._records("SELECT * FROM lineage_columns WHERE dst IN (SELECT unnest(?)) OR src IN "
                             "(SELECT unnest(?)) ORDER BY seq, dst, dst_field, src, src_field", [list(ids), list(ids)])
        return [{k: (None if v == "" and k != "seq" else v) for k, v in r.items()} for r in rows]

    def lineage_id_renames(self) -> list[tuple[str, str]]:
        """``(old id, new id)`` of the OpenLineage node ids migration 9 re-keyed by (namespace, name)."""
        return [(str(a), str(b)) for a, b in self._all("SELECT old_id, new_id FROM lineage_id_renames ORDER BY old_id")]

    def lineage_nodes(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        return self._records("SELECT * FROM lineage_nodes WHERE id IN (SELECT unnest(?)) ORDER BY id", [list(ids)])

    def lineage_edges_touching(self, ids: Sequence[str], direction: str) -> list[dict[str, Any]]:
        column = "dst" if direction == "upstream" else "src"
        return self._records(
            f"SELECT src, dst, kind, seq FROM lineage_edges WHERE {column} IN (SELECT unnest(?)) ORDER BY seq",
            [list(ids)],
        )

    def _records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _insert(self, table: str, record: dict[str, Any]) -> None:
        columns = list(record)
        self.con.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            [record[c] for c in columns],
        )

    # -- checkpoints -------------------------------------------------------------------------------------------
    def insert_checkpoint(self, size: int, root: str, note: str, frontier: list[str], created_at: str) -> None:
        self.con.execute(
            "INSERT OR IGNORE INTO checkpoints VALUES (?, ?, ?, ?, ?)",
            [size, root, note, json.dumps(frontier), created_at],
        )

    def latest_checkpoint(self) -> dict[str, Any] | None:
        row = self._one("SELECT size, root, note, frontier, created_at FROM checkpoints ORDER BY size DESC LIMIT 1")
        if row is None:
            return None
        return {"size": row[0], "root": row[1], "note": row[2], "frontier": json.loads(row[3]), "created_at": row[4]}

    def checkpoints(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT size, root, note, created_at FROM checkpoints ORDER BY size")
        return [{"size": s, "root": r, "note": n, "created_at": t} for s, r, n, t in rows]


class DuckDBStore:
    """One DuckDB database file, opened per operation with bounded waiting for other processes."""

    def __init__(self, path: str | Path, lock_timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._version_ok = False
        self._held = threading.local()

    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep one connection open for every operation of this thread inside the block.

        For batches in one process (bulk scripts, benchmarks, one page render): it saves the ~20-50 ms a DuckDB
        open costs per operation, at the price of holding the file lock for the whole block, so keep it short.
        """
        if getattr(self._held, "con", None) is not None:
            yield
            return
        with self._open() as con:
            self._held.con = con
            try:
                yield
            finally:
                self._held.con = None

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = getattr(self._held, "con", None)
        if con is not None:
            yield con
            return
        with self._open() as con:
            yield con

    @contextmanager
    def _open(self) -> Iterator[duckdb.DuckDBPyConnection]:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.005
        while True:
            try:
                con = duckdb.connect(str(self.path), config=dict(_DUCKDB_CONFIG))
                break
            except duckdb.IOException as exc:
                if not _is_lock_conflict(exc):
                    raise StoreUnavailable(f"cannot open database {self.path}: {exc}") from None
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(
                        f"database {self.path} is held by another process and was not released within "
                        f"{self.lock_timeout:g} s (COUNTERSIGN_LOCK_TIMEOUT); nothing was written. Details: {exc}"
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 1.6, 0.1)
            except duckdb.Error as exc:
                raise StoreUnavailable(f"cannot open database {self.path}: {exc}") from None
        state = _instance(self.path)
        with _process_write_locks_guard:
            state.open_connections += 1
        try:
            yield con
        finally:
            with _process_write_locks_guard:
                state.open_connections -= 1
                if state.open_connections <= 0:
                    state.open_connections, state.head = 0, None
                con.close()

    @contextmanager
    def transaction(self, *, create: bool = False) -> Iterator[Tx]:
        """A read-write transaction; committed when the block exits normally, rolled back otherwise.

        Inside an open transaction of the same thread (possible under :meth:`held`), it joins that transaction.
        """
        if not create and not self.path.exists():
            raise BadInput(f"no Countersign database at {self.path}; create one with 'countersign init'")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        outer = getattr(self._held, "tx", None)
        if outer is not None:
            yield outer
            return
        with _write_lock(self.path), self._connect() as con:
            con.begin()
            instance = _instance(self.path)
            tx = Tx(con, instance)
            self._held.tx = tx
            try:
                if not create:
                    self._check_version(tx)
                yield tx
            except BaseException:
                con.rollback()
                raise
            else:
                con.commit()
                if tx.pending_head is not None:
                    instance.head = tx.pending_head
            finally:
                self._held.tx = None

    @contextmanager
    def reader(self) -> Iterator[Tx]:
        """A read-only view (still one short connection; nothing is written)."""
        if not self.path.exists():
            raise BadInput(f"no Countersign database at {self.path}; create one with 'countersign init'")
        outer = getattr(self._held, "tx", None)
        if outer is not None:
            yield outer
            return
        with self._connect() as con:
            con.begin()
            tx = Tx(con)
            self._held.tx = tx
            try:
                self._check_version(tx)
                yield tx
            finally:
                self._held.tx = None
                con.rollback()

    def _check_version(self, tx: Tx) -> None:
        if self._version_ok:
            return
        version = tx.schema_version()
        if version > HEAD_VERSION:
            raise SchemaTooNew(
                f"database {self.path} has schema version {version}, but this Countersign understands only up to "
                f"version {HEAD_VERSION}; upgrade Countersign to open it (nothing was changed)"
            )
        if version < HEAD_VERSION:
            raise _NeedsUpgrade(version)
        self._version_ok = True

    def upgrade(self, on_upgrade: Callable[[Tx, int, int, list[Migration]], None], now: Callable[[], str]) -> bool:
        """Apply pending migrations in one transaction; ``on_upgrade`` records the ledger event in it.

        Returns whether anything was applied.
        """
        with _write_lock(self.path), self._connect() as con:
            con.begin()
            tx = Tx(con)
            try:
                version = tx.schema_version()
                if version > HEAD_VERSION:
                    self._check_version(tx)
                pending = [m for m in MIGRATIONS if m.version > version]
                if not pending:
                    con.rollback()
                    return False
                for migration in pending:
                    tx.apply_migration(migration, now())
                on_upgrade(tx, version, HEAD_VERSION, pending)
            except BaseException:
                con.rollback()
                raise
            con.commit()
            return True


class _NeedsUpgrade(Exception):
    """Internal signal: the schema is older than this code; :mod:`core.api.countersign` upgrades and retries."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


NeedsUpgrade = _NeedsUpgrade
