"""The identities aggregate on DuckDB: users, roles, enrolments, credentials (sealed keys) and public keys."""

from __future__ import annotations

import json
from typing import Any

from core.storage.duckdb_tx.base import TxBase
from core.storage.records import PublicKey, UserSummary


class IdentityTx(TxBase):
    """Users, roles, enrolments, credentials and public keys (:class:`core.storage.contract.IdentityStore`)."""

    def user_exists(self, name: str) -> bool:
        return self._one("SELECT 1 FROM users WHERE name = ?", [name]) is not None

    def insert_user(self, name: str, created_at: str, created_seq: int) -> None:
        self.con.execute("INSERT INTO users VALUES (?, ?, ?)", [name, created_at, created_seq])

    def user_roles(self, name: str) -> list[str]:
        return [r[0] for r in self._all("SELECT role FROM user_roles WHERE name = ? ORDER BY role", [name])]

    def add_role(self, name: str, role: str) -> None:
        self.con.execute("INSERT INTO user_roles VALUES (?, ?)", [name, role])

    def remove_role(self, name: str, role: str) -> None:
        self.con.execute("DELETE FROM user_roles WHERE name = ? AND role = ?", [name, role])

    def put_enrolment(self, name: str, code_sha256: str, expires_at: str, issued_by: str, seq: int) -> None:
        self.con.execute("INSERT INTO enrolments VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                         "code_sha256 = excluded.code_sha256, expires_at = excluded.expires_at, "
                         "issued_by = excluded.issued_by, seq = excluded.seq",
                         [name, code_sha256, expires_at, issued_by, seq])

    def get_enrolment(self, name: str) -> dict[str, Any] | None:
        """The pending enrolment of ``name`` (shape: :class:`~core.storage.records.Enrolment`), or ``None``."""
        row = self._one("SELECT code_sha256, expires_at, issued_by, seq FROM enrolments WHERE name = ?", [name])
        return None if row is None else {"code_sha256": row[0], "expires_at": row[1], "issued_by": row[2],
                                         "seq": int(row[3])}

    def delete_enrolment(self, name: str) -> None:
        self.con.execute("DELETE FROM enrolments WHERE name = ?", [name])

    def identity_events(self, name: str) -> list[tuple[int, str, str, str]]:
        """``(seq, actor, action, payload)`` of the ledger's user-management entries about ``name``, oldest first."""
        return [(int(r[0]), r[1], r[2], r[3]) for r in self._all(
            "SELECT seq, actor, action, payload FROM ledger WHERE subject = ? AND action IN ('user.added', "
            "'user.role_granted', 'user.role_revoked', 'user.enrolled') ORDER BY seq", [f"user:{name}"])]

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

    def list_users(self) -> list[UserSummary]:
        rows = self._all(
            """SELECT u.name, u.created_at, c.key_id,
                      array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL)
               FROM users u
               LEFT JOIN credentials c ON c.owner = u.name
               LEFT JOIN user_roles r ON r.name = u.name
               GROUP BY u.name, u.created_at, c.key_id ORDER BY u.name"""
        )
        return [{"name": n, "created_at": t, "key_id": k, "roles": list(roles or ()), "enrolled": k is not None}
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
            "INSERT INTO credentials VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE SET "
            "kdf = excluded.kdf, salt = excluded.salt, verifier = excluded.verifier, nonce = excluded.nonce, "
            "ciphertext = excluded.ciphertext, public_key = excluded.public_key, key_id = excluded.key_id",
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

    def delete_credentials(self, owner: str) -> None:
        """Remove a user's sealed private key (their public keys stay, so their past signatures still verify)."""
        self.con.execute("DELETE FROM credentials WHERE owner = ?", [owner])

    def insert_public_key(self, key_id: str, owner: str, public_key: bytes, valid_from_seq: int) -> None:
        self.con.execute(
            "INSERT INTO public_keys VALUES (?, ?, ?, ?)", [key_id, owner, public_key, valid_from_seq]
        )

    def public_keys(self) -> list[PublicKey]:
        rows = self._all(
            "SELECT key_id, owner, public_key, valid_from_seq FROM public_keys ORDER BY valid_from_seq, key_id"
        )
        return [{"key_id": k, "owner": o, "public_key": bytes(p), "valid_from_seq": s} for k, o, p, s in rows]
