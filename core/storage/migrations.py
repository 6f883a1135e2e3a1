"""Versioned schema migrations, each written once per SQL dialect.

Each migration is applied in the same transaction as the ledger event that records it (``schema.upgraded``).
A database whose version is higher than :data:`HEAD_VERSION` was written by a newer Countersign and is refused.

A :class:`Migration` names its statements per dialect (``_dialects((...), POSTGRES: (...))``); a store applies those
of its own dialect (:meth:`Migration.statements_for`). The PostgreSQL statements are the DuckDB ones rewritten by
:func:`postgres_statements`, a fixed, reviewed set of type and function renames (``BLOB`` → ``BYTEA``, ``VARCHAR`` →
``TEXT COLLATE "C"`` so that text sorts by code point as in DuckDB, ``json_extract_string`` → ``->>``) producing the
same tables, columns and keys; the contract suite (``tests/core/storage/test_contract.py``) runs against both. A
migration once released never changes (the statements of both dialects are pinned by digest in
``tests/core/storage/test_migrations.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DUCKDB = "duckdb"
POSTGRES = "postgresql"
DIALECTS: tuple[str, ...] = (DUCKDB, POSTGRES)
"""The SQL dialects every migration is written in."""

_POSTGRES_RENAMES: tuple[tuple[str, str], ...] = (
    (r"\bBLOB\b", "BYTEA"),
    (r"\bVARCHAR\b", 'TEXT COLLATE "C"'),
    (r"\bDOUBLE\b", "DOUBLE PRECISION"),
    (r"json_extract_string\(([\w.]+), '\$\.(\w+)'\)", r"(\1::jsonb ->> '\2')"),
    (r"\) WHERE new_id IS NOT NULL", ") AS renamed WHERE new_id IS NOT NULL"),  # PostgreSQL < 16 names subqueries
)


def postgres_statements(duckdb_statements: tuple[str, ...]) -> tuple[str, ...]:
    """The PostgreSQL form of DuckDB migration statements (same tables, columns, keys and meaning)."""
    out = []
    for statement in duckdb_statements:
        for pattern, replacement in _POSTGRES_RENAMES:
            statement = re.sub(pattern, replacement, statement)
        out.append(statement)
    return tuple(out)


def _dialects(duckdb_statements: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {DUCKDB: duckdb_statements, POSTGRES: postgres_statements(duckdb_statements)}


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: Mapping[str, tuple[str, ...]] = field(repr=False)
    """The migration's statements keyed by dialect (:data:`DIALECTS`), applied in order in one transaction."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sql", dict(self.sql))  # a copy: the caller's mapping cannot change it later

    def statements_for(self, dialect: str) -> tuple[str, ...]:
        """The statements of ``dialect``; ``LookupError`` if this migration is not written in it."""
        try:
            return self.sql[dialect]
        except KeyError:
            raise LookupError(f"migration {self.version} has no {dialect} statements (written for: "
                              f"{', '.join(self.sql)})") from None

    @property
    def statements(self) -> tuple[str, ...]:
        """The DuckDB statements (the first dialect; what callers written before dialects read)."""
        return self.statements_for(DUCKDB)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "identities, keys, settings and the append-only ledger",
        _dialects((
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
        )),
    ),
    Migration(
        2,
        "indexes for filtering the audit log by actor and action",
        _dialects((
            "CREATE INDEX ledger_actor_idx ON ledger (actor)",
            "CREATE INDEX ledger_action_idx ON ledger (action)",
        )),
    ),
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        3,
        "lineage registry: datasets, models, documents (datasheets, model cards) and the lineage graph",
        _dialects((
            """CREATE TABLE datasets (
                   name VARCHAR NOT NULL,
                   version VARCHAR NOT NULL,
                   digest VARCHAR NOT NULL,
                   format VARCHAR NOT NULL,
                   path VARCHAR NOT NULL,
                   source_uri VARCHAR NOT NULL,
                   size_bytes BIGINT NOT NULL,
                   row_count BIGINT NOT NULL,
                   schema VARCHAR NOT NULL,
                   profile VARCHAR NOT NULL,
                   files VARCHAR NOT NULL,
                   registered_by VARCHAR NOT NULL,
                   registered_at VARCHAR NOT NULL,
                   registered_seq BIGINT NOT NULL,
                   PRIMARY KEY (name, version))""",
            """CREATE TABLE models (
                   name VARCHAR NOT NULL,
                   version VARCHAR NOT NULL,
                   external BOOLEAN NOT NULL,
                   artifact_digest VARCHAR,
                   artifact_format VARCHAR,
                   artifact_file VARCHAR,
                   trusted_pickle BOOLEAN NOT NULL,
                   framework VARCHAR,
                   estimator VARCHAR,
                   hyperparameters VARCHAR NOT NULL,
                   features VARCHAR NOT NULL,
                   trained_on VARCHAR NOT NULL,
                   code_ref VARCHAR,
                   risk_tier VARCHAR,
                   owner VARCHAR NOT NULL,
                   registered_at VARCHAR NOT NULL,
                   registered_seq BIGINT NOT NULL,
                   PRIMARY KEY (name, version))""",
            """CREATE TABLE documents (
                   kind VARCHAR NOT NULL,
                   subject VARCHAR NOT NULL,
                   revision INTEGER NOT NULL,
                   content VARCHAR NOT NULL,
                   digest VARCHAR NOT NULL,
                   author VARCHAR NOT NULL,
                   created_at VARCHAR NOT NULL,
                   seq BIGINT NOT NULL,
                   PRIMARY KEY (kind, subject, revision))""",
            """CREATE TABLE lineage_nodes (
                   id VARCHAR PRIMARY KEY,
                   kind VARCHAR NOT NULL,
                   label VARCHAR NOT NULL,
                   digest VARCHAR,
                   attributes VARCHAR NOT NULL,
                   seq BIGINT NOT NULL)""",
            """CREATE TABLE lineage_edges (
                   src VARCHAR NOT NULL,
                   dst VARCHAR NOT NULL,
                   kind VARCHAR NOT NULL,
                   seq BIGINT NOT NULL,
                   PRIMARY KEY (src, dst, kind))""",
        )),
    ),
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        4,
        "policies and evaluations",
        _dialects((
            """CREATE TABLE policies (
                   name VARCHAR NOT NULL,
                   version INTEGER NOT NULL,
                   sha256 VARCHAR NOT NULL,
                   text VARCHAR NOT NULL,
                   description VARCHAR,
                   added_by VARCHAR NOT NULL,
                   added_at VARCHAR NOT NULL,
                   seq BIGINT NOT NULL,
                   PRIMARY KEY (name, version))""",
            """CREATE TABLE evaluations (
                   id VARCHAR PRIMARY KEY,
                   model_name VARCHAR NOT NULL,
                   model_version VARCHAR NOT NULL,
                   artifact_digest VARCHAR,
                   dataset_ref VARCHAR NOT NULL,
                   dataset_digest VARCHAR NOT NULL,
                   reference_ref VARCHAR,
                   reference_digest VARCHAR,
                   policy_name VARCHAR NOT NULL,
                   policy_version INTEGER NOT NULL,
                   policy_sha256 VARCHAR NOT NULL,
                   policy_registered BOOLEAN NOT NULL,
                   passed BOOLEAN NOT NULL,
                   result VARCHAR NOT NULL,
                   result_sha256 VARCHAR NOT NULL,
                   evaluated_by VARCHAR NOT NULL,
                   evaluated_at VARCHAR NOT NULL,
                   seq BIGINT NOT NULL)""",
        )),
    ),
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        5,
        "releases: governing policies, stages, promotion requests, approvals, waivers, revalidation, webhook outbox",
        _dialects((
            "ALTER TABLE evaluations ADD COLUMN purpose VARCHAR DEFAULT 'evaluation'",
            """CREATE TABLE policy_assignments (
                   model_name VARCHAR PRIMARY KEY,
                   policy_name VARCHAR NOT NULL,
                   assigned_by VARCHAR NOT NULL,
                   assigned_at VARCHAR NOT NULL,
                   seq BIGINT NOT NULL)""",
            """CREATE TABLE model_stages (
                   model_name VARCHAR NOT NULL,
                   model_version VARCHAR NOT NULL,
                   stage VARCHAR NOT NULL,
                   since VARCHAR NOT NULL,
                   request_id VARCHAR,
                   evaluation_id VARCHAR,
                   policy_name VARCHAR,
                   policy_version INTEGER,
                   revalidation_required BOOLEAN NOT NULL DEFAULT false,
                   revalidation_reason VARCHAR,
                   seq BIGINT NOT NULL,
                   PRIMARY KEY (model_name, model_version))""",
            """CREATE TABLE promotion_requests (
                   id VARCHAR PRIMARY KEY,
                   model_name VARCHAR NOT NULL,
                   model_version VARCHAR NOT NULL,
                   from_stage VARCHAR NOT NULL,
                   target_stage VARCHAR NOT NULL,
                   reason VARCHAR NOT NULL,
                   requested_by VARCHAR NOT NULL,
                   requested_at VARCHAR NOT NULL,
                   evaluation_id VARCHAR NOT NULL,
                   policy_name VARCHAR NOT NULL,
                   policy_version INTEGER NOT NULL,
                   required_roles VARCHAR NOT NULL,
                   waivers VARCHAR NOT NULL,
                   status VARCHAR NOT NULL,
                   closed_at VARCHAR,
                   seq BIGINT NOT NULL)""",
            """CREATE TABLE decisions (
                   request_id VARCHAR NOT NULL,
                   approver VARCHAR NOT NULL,
                   role VARCHAR NOT NULL,
                   decision VARCHAR NOT NULL,
                   comment VARCHAR NOT NULL,
                   decided_at VARCHAR NOT NULL,
                   seq BIGINT NOT NULL,
                   PRIMARY KEY (request_id, approver))""",
            """CREATE TABLE waivers (
                   id VARCHAR PRIMARY KEY,
                   model_name VARCHAR NOT NULL,
                   model_version VARCHAR NOT NULL,
                   check_id VARCHAR NOT NULL,
                   until VARCHAR NOT NULL,
                   justification VARCHAR NOT NULL,
                   granted_by VARCHAR NOT NULL,
                   granted_at VARCHAR NOT NULL,
                   revoked_by VARCHAR,
                   revoked_at VARCHAR,
                   seq BIGINT NOT NULL)""",
            """CREATE TABLE webhook_outbox (
                   id VARCHAR PRIMARY KEY,
                   event VARCHAR NOT NULL,
                   body VARCHAR NOT NULL,
                   created_at VARCHAR NOT NULL,
                   attempts INTEGER NOT NULL DEFAULT 0,
                   delivered_at VARCHAR,
                   last_error VARCHAR,
                   seq BIGINT NOT NULL)""",
        )),
    ),
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        6,
        "attestations: DSSE envelopes of evaluations and promotion decisions",
        _dialects((
            """CREATE TABLE attestations (
                   id VARCHAR PRIMARY KEY,
                   kind VARCHAR NOT NULL,
                   model_name VARCHAR NOT NULL,
                   model_version VARCHAR NOT NULL,
                   envelope VARCHAR NOT NULL,
                   signer VARCHAR NOT NULL,
                   seq BIGINT NOT NULL)""",
        )),
    ),
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        7,
        "datasets: the CSV dialect given at registration (delimiter, header, column names)",
        _dialects(("ALTER TABLE datasets ADD COLUMN read_options VARCHAR",)),
    ),
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        8,
        "enrolments: one-time codes with which new users set their own password (an admin never knows it)",
        _dialects(("""CREATE TABLE enrolments (
                   name VARCHAR PRIMARY KEY,
                   code_sha256 VARCHAR NOT NULL,
                   expires_at VARCHAR NOT NULL,
                   issued_by VARCHAR NOT NULL,
                   seq BIGINT NOT NULL)""",)),
    ),
)

def _rekey(prefix: str, kind: str) -> str:
    return (f"""INSERT INTO lineage_id_renames
                SELECT id, new_id FROM (
                    SELECT id, '{prefix}:' || replace(replace(json_extract_string(attributes, '$.namespace'), '%',
                           '%25'), '/', '%2F') || '/' || json_extract_string(attributes, '$.name') AS new_id
                    FROM lineage_nodes WHERE kind = '{kind}') WHERE new_id IS NOT NULL AND new_id <> id""")


MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        9,
        "lineage: OpenLineage datasets and jobs keyed by (namespace, name) — namespace percent-encoded in node "
        "ids, old ids re-keyed; aliases (symlinks) and column-level lineage",
        _dialects((
            """CREATE TABLE lineage_id_renames (old_id VARCHAR PRIMARY KEY, new_id VARCHAR NOT NULL)""",
            _rekey("ol-dataset", "ol-dataset"),
            _rekey("job", "job"),
            """CREATE TEMP TABLE _renamed_edges AS
                   SELECT coalesce(a.new_id, e.src) AS src, coalesce(b.new_id, e.dst) AS dst, e.kind, e.seq
                   FROM lineage_edges e LEFT JOIN lineage_id_renames a ON a.old_id = e.src
                   LEFT JOIN lineage_id_renames b ON b.old_id = e.dst
                   WHERE a.new_id IS NOT NULL OR b.new_id IS NOT NULL""",
            """DELETE FROM lineage_edges WHERE src IN (SELECT old_id FROM lineage_id_renames)
                   OR dst IN (SELECT old_id FROM lineage_id_renames)""",
            "INSERT INTO lineage_edges SELECT * FROM _renamed_edges ON CONFLICT DO NOTHING",
            "DROP TABLE _renamed_edges",
            """CREATE TEMP TABLE _renamed_nodes AS
                   SELECT r.new_id AS id, n.kind, n.label, n.digest, n.attributes, n.seq
                   FROM lineage_nodes n JOIN lineage_id_renames r ON r.old_id = n.id""",
            "DELETE FROM lineage_nodes WHERE id IN (SELECT old_id FROM lineage_id_renames)",
            "INSERT INTO lineage_nodes SELECT * FROM _renamed_nodes",
            "DROP TABLE _renamed_nodes",
            """CREATE TABLE lineage_aliases (
                   alias VARCHAR PRIMARY KEY,
                   node_id VARCHAR NOT NULL,
                   seq BIGINT NOT NULL)""",
            """CREATE TABLE lineage_columns (
                   dst VARCHAR NOT NULL,
                   dst_field VARCHAR NOT NULL,
                   src VARCHAR NOT NULL,
                   src_field VARCHAR NOT NULL,
                   transformation VARCHAR NOT NULL,
                   seq BIGINT NOT NULL,
                   PRIMARY KEY (dst, dst_field, src, src_field, transformation))""",
        )),
    ),
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        10,
        "waivers: the policy version each was granted under (a waiver holds for that check of that version only)",
        _dialects((
            "ALTER TABLE waivers ADD COLUMN policy VARCHAR",
            """UPDATE waivers SET policy = json_extract_string(l.payload, '$.policy')
                   FROM ledger l WHERE l.seq = waivers.seq AND l.action = 'waiver.granted'""",
        )),
    ),
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        11,
        "review threads: comments, change requests and answers on promotion requests (each a ledger entry); a "
        "request answered with new evidence names the request it supersedes",
        _dialects((
            """CREATE TABLE request_notes (
                   seq BIGINT PRIMARY KEY,
                   request_id VARCHAR NOT NULL,
                   author VARCHAR NOT NULL,
                   role VARCHAR,
                   kind VARCHAR NOT NULL,
                   comment VARCHAR NOT NULL,
                   noted_at VARCHAR NOT NULL)""",
            "ALTER TABLE promotion_requests ADD COLUMN supersedes VARCHAR",
        )),
    ),
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        12,
        "PostgreSQL: countersign_lock_ledger(key, wait), which takes the ledger-append lock and returns the head in "
        "the same round trip (nothing changes on DuckDB, where one process holds the file)",
        {
            DUCKDB: (),
            POSTGRES: (
                # VOLATILE: the head query takes a fresh snapshot after the lock is granted (READ COMMITTED), so it
                # sees the entry of the writer that held the lock before.
                """CREATE FUNCTION countersign_lock_ledger(lock_key BIGINT, wait TEXT)
                   RETURNS TABLE (seq BIGINT, leaf_hash TEXT, ts TEXT)
                   LANGUAGE plpgsql VOLATILE AS $$
                   #variable_conflict use_column
                   BEGIN
                       PERFORM set_config('lock_timeout', wait, true);
                       PERFORM pg_advisory_xact_lock(lock_key);
                       RETURN QUERY SELECT l.seq, l.leaf_hash::TEXT, l.ts::TEXT FROM ledger AS l
                                    ORDER BY l.seq DESC LIMIT 1;
                   END $$""",
            ),
        },
    ),
)

HEAD_VERSION: int = MIGRATIONS[-1].version
