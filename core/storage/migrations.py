"""Versioned schema migrations for the DuckDB store.

Each migration is applied in the same transaction as the ledger event that records it (``schema.upgraded``).
A database whose version is higher than :data:`HEAD_VERSION` was written by a newer Countersign and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "identities, keys, settings and the append-only ledger",
        (
            """CREATE TABLE schema_migrations (
                   version INTEGER PRIMARY KEY,
                   description VARCHAR NOT NULL,
                   applied_at VARCHAR NOT NULL)""",
            """CREATE TABLE settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)""",
            """CREATE TABLE users (
                   name VARCHAR PRIMARY KEY,
                   created_at VARCHAR NOT NULL,
                   created_seq BIGINT NOT NULL)""",
            """CREATE TABLE user_roles (
                   name VARCHAR NOT NULL,
                   role VARCHAR NOT NULL,
                   PRIMARY KEY (name, role))""",
            """CREATE TABLE credentials (
                   owner VARCHAR PRIMARY KEY,
                   kdf VARCHAR NOT NULL,
                   salt BLOB NOT NULL,
                   verifier BLOB NOT NULL,
                   nonce BLOB NOT NULL,
                   ciphertext BLOB NOT NULL,
                   public_key BLOB NOT NULL,
                   key_id VARCHAR NOT NULL)""",
            """CREATE TABLE public_keys (
                   key_id VARCHAR PRIMARY KEY,
                   owner VARCHAR NOT NULL,
                   public_key BLOB NOT NULL,
                   valid_from_seq BIGINT NOT NULL)""",
            """CREATE TABLE ledger (
                   seq BIGINT PRIMARY KEY,
                   ts VARCHAR NOT NULL,
                   actor VARCHAR NOT NULL,
                   role VARCHAR,
                   action VARCHAR NOT NULL,
                   subject VARCHAR NOT NULL,
                   payload VARCHAR NOT NULL,
                   prev_hash VARCHAR NOT NULL,
                   leaf_hash VARCHAR NOT NULL,
                   key_id VARCHAR NOT NULL,
                   signature VARCHAR NOT NULL,
                   entry VARCHAR NOT NULL)""",
            """CREATE TABLE checkpoints (
                   size BIGINT PRIMARY KEY,
                   root VARCHAR NOT NULL,
                   note VARCHAR NOT NULL,
                   frontier VARCHAR NOT NULL,
                   created_at VARCHAR NOT NULL)""",
        ),
    ),
    Migration(
        2,
        "indexes for filtering the audit log by actor and action",
        (
            "CREATE INDEX ledger_actor_idx ON ledger (actor)",
            "CREATE INDEX ledger_action_idx ON ledger (action)",
        ),
    ),
)

HEAD_VERSION: int = MIGRATIONS[-1].version
