"""The storage contract: what the domain needs from a store and from one of its transactions.

Domain code (ledger, identity, catalog, policy, releases, evidence) calls repository methods on a transaction object.
This module names those methods per aggregate as :class:`typing.Protocol` classes, so that a second backend
(PostgreSQL) knows exactly what to implement and domain code can be typed against the contract instead of the DuckDB
classes:

========================  ==================================================================================
:class:`SettingsStore`    schema version, migrations, site settings (origin, checkpoint interval …)
:class:`LedgerStore`      the hash-chained ledger: head, appends, range reads, searches, signed checkpoints
:class:`IdentityStore`    users, roles, enrolment codes, credentials (sealed keys), public keys
:class:`CatalogStore`     datasets, models, documents (datasheets, model cards)
:class:`LineageStore`     the lineage graph: nodes, edges, aliases, column links
:class:`PolicyStore`      policies, evaluations and their attestations (DSSE envelopes)
:class:`ReleaseStore`     governing policies, stages, promotion requests, decisions, review notes, waivers
:class:`WebhookOutbox`    webhooks enqueued in the transaction of the change, delivered after commit
:class:`Transaction`      all of the above, in one transaction
:class:`Store`            opens transactions: :meth:`Store.transaction` (read-write), :meth:`Store.reader`
========================  ==================================================================================

The method names are those of :class:`core.storage.duckdb_store.Tx`, the first implementation (which satisfies every
protocol: checked by mypy in ``tests/core/storage/typed_conformance.py``). Records cross the boundary as
:mod:`core.storage.records`: :class:`~core.storage.records.LedgerRow` and :class:`~core.storage.records.LedgerHead`
for the ledger, small ``TypedDict`` shapes for identities and checkpoints, and ``dict`` rows (:data:`Record`, column
name → value, JSON columns as text) for the domain tables, whose columns are those of
:mod:`core.storage.migrations`. Every write happens inside the transaction it is called on and becomes visible to
others only when the store commits it; nothing is written when the transaction rolls back.

**Ledger-append serialisation** is part of the contract (see :class:`LedgerStore` and :meth:`Store.transaction`): a
write transaction that appends reads the current head with :meth:`LedgerStore.ledger_head` and no two transactions
ever append on the same head, across threads and processes. A second backend is accepted when the contract suite
(``tests/core/storage/test_contract.py``) passes against it, including its two-process append race.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from core.storage.migrations import Migration
from core.storage.records import LedgerHead, LedgerRow, PublicKey, Record, UserSummary

__all__ = [
    "CatalogStore", "IdentityStore", "LedgerStore", "LineageStore", "NeedsUpgrade", "PolicyStore", "ReleaseStore",
    "SettingsStore", "Store", "Transaction", "WebhookOutbox",
]


class NeedsUpgrade(Exception):
    """Raised by a store when the schema is older than this code; :class:`core.api.context.Context` upgrades and
    retries (``version``: the database's schema version)."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


@runtime_checkable
class SettingsStore(Protocol):
    """Schema version, migrations and the site's settings (``origin``, ``checkpoint_interval``, ``created_at``)."""

    @property
    def dialect(self) -> str:
        """The SQL dialect of this transaction: the key of its statements in each
        :class:`~core.storage.migrations.Migration` (``"duckdb"``)."""

    def schema_version(self) -> int:
        """The highest applied migration, 0 for an empty database."""

    def apply_migration(self, migration: Migration, applied_at: str) -> None:
        """Run ``migration``'s statements of this :attr:`dialect` and record it in ``schema_migrations``."""

    def get_setting(self, key: str) -> str | None: ...

    def put_setting(self, key: str, value: str) -> None:
        """Set (or replace) a setting."""

    def table_names(self) -> list[str]:
        """The base tables of the site's schema, sorted (for copying a whole site between stores)."""

    def table_columns(self, table: str) -> list[str]:
        """The columns of one of :meth:`table_names`, in their defined order."""

    def table_batches(self, table: str, size: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
        """Every row of ``table`` (values in :meth:`table_columns` order), at most ``size`` rows per batch."""

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows into ``table`` exactly as given (values in ``columns`` order)."""


@runtime_checkable
class LedgerStore(Protocol):
    """The append-only, hash-chained ledger and its signed checkpoints.

    Rows are :class:`~core.storage.records.LedgerRow` (the values of ``LEDGER_COLUMNS``); ``seq`` runs from 0 without
    gaps and each row's ``prev_hash`` is the ``leaf_hash`` of the row before (:mod:`core.ledger.chain` computes them).

    **Append serialisation.** An append is ``ledger_head()`` then ``insert_ledger_values(rows)`` continuing from that
    head, in one write transaction. The store guarantees that the head a write transaction reads is the committed
    head, and that no other transaction appends until this one commits or rolls back: no two transactions ever
    append on the same head (which would fork the chain or collide on ``seq``). DuckDB provides this through its
    single-writer file lock plus a per-process write lock (:class:`core.storage.duckdb_store.DuckDBStore`); a
    PostgreSQL backend must take it explicitly at the start of every write transaction (``pg_advisory_xact_lock``
    on a ledger key, or ``SELECT … FOR UPDATE`` on a one-row head table), since its row locks alone do not stop two
    transactions from reading the same ``max(seq)``. Within the transaction, ``ledger_head`` reflects the rows it has
    inserted itself.
    """

    def ledger_head(self) -> LedgerHead | None:
        """``(seq, leaf_hash, ts)`` of the newest entry (including this transaction's own), or ``None`` when empty."""

    def insert_ledger_values(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows given as value sequences in ``LEDGER_COLUMNS`` order, continuing from :meth:`ledger_head`."""

    def ledger_size(self) -> int: ...

    def ledger_max_seq(self) -> int | None: ...

    def ledger_entry(self, seq: int) -> LedgerRow | None: ...

    def ledger_entries(self, seqs: Sequence[int]) -> list[LedgerRow]:
        """The rows at ``seqs`` that exist, in seq order."""

    def ledger_search(self, *, limit: int, offset: int = 0, actor: str | None = None, action: str | None = None,
                      subject: str | None = None, since: str | None = None, until: str | None = None,
                      newest_first: bool = True) -> list[LedgerRow]:
        """Rows for the audit log, newest first (``newest_first=False``: oldest first). ``actor`` matches the whole
        name ignoring case; ``action`` whole dotted segments ignoring case (``promotion`` finds ``promotion`` and
        ``promotion.*``, not ``promotions``); ``subject`` exactly. A trailing ``*`` on any of them matches a plain text
        prefix. ``since``/``until`` are ledger timestamps, both inclusive."""

    def ledger_leaf_hashes(self, start: int = 0, end: int | None = None) -> list[str]:
        """Leaf hashes of ``start <= seq < end`` in seq order."""

    def ledger_chunk(self, after_seq: int | None, upto_seq: int) -> dict[str, list[Any]]:
        """Rows with ``after_seq < seq <= upto_seq`` in seq order, column by column (``LEDGER_COLUMNS`` keys)."""

    def ledger_next_seq(self, after_seq: int, upto_seq: int) -> int | None:
        """The smallest ``seq`` in ``(after_seq, upto_seq]``, if any (to step over a gap)."""

    def ledger_columns(self) -> dict[str, list[Any]]:
        """Every ledger column, in seq order (for full verification)."""

    def ledger_for_subject_prefix(self, prefix: str, actions: Sequence[str]) -> list[LedgerRow]:
        """Rows whose subject starts with ``prefix`` (literally: no wildcards) and whose action is one of
        ``actions``, in seq order."""

    def ledger_rows_for(self, subjects: Sequence[str], actions: Sequence[str], upto: int) -> list[LedgerRow]:
        """Rows about any of ``subjects`` or with any of ``actions``, below ``upto`` (exclusive), in seq order."""

    def insert_checkpoint(self, size: int, root: str, note: str, frontier: list[str], created_at: str) -> None:
        """Store a signed checkpoint at tree size ``size`` (a second one at the same size is ignored)."""

    def latest_checkpoint(self) -> dict[str, Any] | None:
        """The newest checkpoint, shaped as :class:`~core.storage.records.StoredCheckpoint` (with its frontier)."""

    def checkpoints(self) -> list[dict[str, Any]]:
        """Every checkpoint by size, shaped as :class:`~core.storage.records.CheckpointSummary`."""


@runtime_checkable
class IdentityStore(Protocol):
    """Users, their roles, enrolment codes, sealed credentials and public keys.

    Deactivations and role history are read from the ledger (the record of truth). Web sign-in sessions are not
    stored: :mod:`core.identity.web_sessions` keeps them in the serving process, under a key derived from the
    service secret (:class:`core.storage.site.Site`).
    """

    def user_exists(self, name: str) -> bool: ...

    def insert_user(self, name: str, created_at: str, created_seq: int) -> None: ...

    def user_roles(self, name: str) -> list[str]:
        """The roles ``name`` holds, sorted."""

    def add_role(self, name: str, role: str) -> None: ...

    def remove_role(self, name: str, role: str) -> None: ...

    def list_users(self) -> list[UserSummary]:
        """Every user by name, with key id (``None`` until enrolled) and sorted roles."""

    def put_enrolment(self, name: str, code_sha256: str, expires_at: str, issued_by: str, seq: int) -> None:
        """Set (or replace) the pending enrolment code of ``name``."""

    def get_enrolment(self, name: str) -> dict[str, Any] | None:
        """The pending enrolment of ``name``, shaped as :class:`~core.storage.records.Enrolment`."""

    def delete_enrolment(self, name: str) -> None: ...

    def identity_events(self, name: str) -> list[tuple[int, str, str, str]]:
        """``(seq, actor, action, payload)`` of the ledger's ``user.added``, ``user.role_granted``,
        ``user.role_revoked`` and ``user.enrolled`` entries about ``name``, oldest first."""

    def user_deactivations(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        """``{user: Deactivation}`` (:class:`~core.storage.records.Deactivation`) for every deactivated user (or
        only ``name``), from the latest ``user.deactivated`` ledger entry of each."""

    def get_credentials(self, owner: str) -> dict[str, Any] | None:
        """The sealed key of ``owner``, shaped as :class:`~core.storage.records.Credentials`."""

    def put_credentials(self, owner: str, cred: dict[str, Any]) -> None:
        """Set (or replace) the sealed key of ``owner`` (keys of :class:`~core.storage.records.Credentials`)."""

    def delete_credentials(self, owner: str) -> None:
        """Remove a user's sealed private key (their public keys stay, so their past signatures still verify)."""

    def insert_public_key(self, key_id: str, owner: str, public_key: bytes, valid_from_seq: int) -> None: ...

    def public_keys(self) -> list[PublicKey]:
        """Every public key ever registered, by ``valid_from_seq`` then ``key_id``."""


@runtime_checkable
class CatalogStore(Protocol):
    """Datasets and models (``(name, version)`` keys), documents (``(kind, subject, revision)``), pickle trusts."""

    def get_dataset(self, name: str, version: str) -> Record | None: ...

    def insert_dataset(self, record: Record) -> None: ...

    def list_datasets(self) -> list[Record]:
        """Summary columns of every dataset version, by name and version."""

    def get_model(self, name: str, version: str) -> Record | None: ...

    def insert_model(self, record: Record) -> None: ...

    def list_models(self) -> list[Record]:
        """Summary columns of every model version, by name and version."""

    def pickle_trusts(self, artifact_sha256: str) -> list[dict[str, Any]]:
        """Who vouched for running this exact pickle/joblib file (``model.pickle_trusted`` ledger entries), oldest
        first, shaped as :class:`~core.storage.records.PickleTrust`."""

    def latest_document(self, kind: str, subject: str) -> Record | None: ...

    def document_history(self, kind: str, subject: str) -> list[Record]:
        """Every revision, oldest first."""

    def insert_document(self, record: Record) -> None: ...


@runtime_checkable
class LineageStore(Protocol):
    """The lineage graph: nodes (``id``, ``kind``, ``label``, ``digest``, JSON ``attributes``, ``seq``), edges
    ``(src, dst, kind)``, aliases (OpenLineage symlinks) and column-level links."""

    def upsert_lineage_node(self, node: Record) -> bool:
        """Insert a node unless one with that id exists; return whether it was inserted."""

    def insert_lineage_edge(self, src: str, dst: str, kind: str, seq: int) -> bool:
        """Insert an edge unless it exists; return whether it was inserted."""

    def insert_lineage_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Bulk-insert rows into ``lineage_nodes``, ``lineage_edges`` or ``lineage_columns`` (any other table:
        ``ValueError``), skipping rows whose key exists. Returns how many rows were given."""

    def update_lineage_node(self, node: Record) -> None:
        """Replace a node's label, digest and attributes; id, kind and seq stay."""

    def repoint_lineage_nodes(self, pairs: Sequence[Sequence[str]]) -> None:
        """Merge each node ``old`` into ``new`` (``[old, new]`` pairs, ``new`` never itself merged): edges, aliases
        and column links move to ``new`` (duplicates dropped); the ``old`` nodes are deleted."""

    def lineage_aliases(self, ids: Sequence[str]) -> dict[str, str]:
        """``alias → node id`` for those of ``ids`` that are aliases."""

    def put_lineage_aliases(self, pairs: Sequence[Sequence[str]], seq: int) -> None:
        """Record ``[alias, node id]`` pairs (an alias seen again points to its newest node)."""

    def lineage_columns_touching(self, ids: Sequence[str]) -> list[Record]:
        """Column links into or out of any of ``ids`` (an absent field, stored as ``""``, reads back as ``None``)."""

    def lineage_id_renames(self) -> list[tuple[str, str]]:
        """``(old id, new id)`` of the OpenLineage node ids migration 9 re-keyed, by old id."""

    def lineage_nodes(self, ids: Sequence[str]) -> list[Record]:
        """The nodes among ``ids``, by id."""

    def lineage_edges_touching(self, ids: Sequence[str], direction: str) -> list[Record]:
        """Edges (:class:`~core.storage.records.LineageEdge`) into ``ids`` (``direction="upstream"``) or out of them
        (any other direction), in seq order."""


@runtime_checkable
class PolicyStore(Protocol):
    """Policies (``(name, version)``, the YAML text kept verbatim), evaluations and attestations."""

    def get_policy(self, name: str, version: int | None = None) -> Record | None:
        """Version ``version`` of the policy, or its newest version."""

    def insert_policy(self, record: Record) -> None: ...

    def list_policies(self) -> list[Record]:
        """Summary columns (no text) of every policy version, by name and version."""

    def insert_evaluation(self, record: Record) -> None: ...

    def get_evaluation(self, evaluation_id: str) -> Record | None: ...

    def list_evaluations(self, model_name: str | None = None, model_version: str | None = None,
                         limit: int = 100) -> list[Record]:
        """Summary columns (no result document) of the newest ``limit`` evaluations, newest first."""

    def insert_attestation(self, record: Record) -> None: ...

    def attestations_for(self, model_name: str, model_version: str | None = None) -> list[Record]:
        """Attestations of a model (or one version), in seq order."""


@runtime_checkable
class ReleaseStore(Protocol):
    """Which policy governs each model, the stage of each version, promotion requests with their decisions and
    review notes, waivers, and the inventory read model."""

    def governing_policy(self, model_name: str) -> Record | None: ...

    def assign_policy(self, record: Record) -> None:
        """Set (or replace) the policy governing ``record["model_name"]``."""

    def models_governed_by(self, policy_name: str) -> list[str]: ...

    def stage_of(self, model_name: str, model_version: str) -> Record | None:
        """The version's ``model_stages`` row, ``None`` while it was never moved (``registered``)."""

    def versions_in_stage(self, model_name: str, stage: str) -> list[Record]: ...

    def set_stage(self, record: Record) -> None:
        """Set (or replace) the stage row of ``(record["model_name"], record["model_version"])``."""

    def flag_revalidation(self, model_name: str, model_version: str, reason: str) -> None: ...

    def all_stages(self) -> list[Record]: ...

    def stage_rows(self, model_name: str | None = None) -> list[Record]:
        """Every model version (or those of ``model_name``) with its stage (``registered`` when never moved), since
        when, the seq that set it and its revalidation flag."""

    def latest_gate_evaluation(self, model_name: str, model_version: str) -> Record | None:
        """The newest evaluation of the version with purpose ``evaluation`` (what the gate reads)."""

    def insert_request(self, record: Record) -> None: ...

    def get_request(self, request_id: str) -> Record | None: ...

    def close_request(self, request_id: str, status: str, closed_at: str) -> None: ...

    def set_request_status(self, request_id: str, status: str) -> None:
        """Move an open request between ``pending`` and ``changes_requested`` (it stays open: no ``closed_at``)."""

    def list_requests(self, pending_only: bool = False) -> list[Record]:
        """Requests (only ``pending`` ones), newest first."""

    def list_open_requests(self) -> list[Record]:
        """Requests still open (``pending`` or ``changes_requested``), newest first."""

    def pending_request_for(self, model_name: str, model_version: str, target: str) -> Record | None: ...

    def open_request_for(self, model_name: str, model_version: str, target: str) -> Record | None:
        """The request of this version to ``target`` that is still open."""

    def request_superseding(self, request_id: str) -> Record | None:
        """The request that replaced ``request_id`` when its requester answered with new evidence, if any."""

    def insert_decision(self, record: Record) -> None: ...

    def decisions(self, request_id: str) -> list[Record]:
        """Decisions on one request, in seq order."""

    def decisions_by_request(self, pending_only: bool = False) -> dict[str, list[Record]]:
        """Every decision on the (pending) requests, grouped by request id, each list in seq order."""

    def decisions_for_requests(self, request_ids: Sequence[str]) -> dict[str, list[Record]]:
        """Every decision on the given requests, grouped by request id, each list in seq order."""

    def insert_request_note(self, record: Record) -> None: ...

    def request_notes(self, request_ids: Sequence[str]) -> list[Record]:
        """The review-thread notes of the given requests, oldest first."""

    def model_owners(self) -> dict[tuple[str, str], str]:
        """``(name, version) -> owner`` of every registered model (``""`` when none)."""

    def insert_waiver(self, record: Record) -> None: ...

    def get_waiver(self, waiver_id: str) -> Record | None: ...

    def revoke_waiver(self, waiver_id: str, by: str, at: str) -> None: ...

    def waivers_for(self, model_name: str | None = None, model_version: str | None = None) -> list[Record]:
        """Waivers (revoked ones included) of a model or version, or all, in seq order."""

    def inventory_rows(self) -> list[Record]:
        """One row per model version with its stage, governing policy, latest verdict, open requests and active
        waivers."""


@runtime_checkable
class WebhookOutbox(Protocol):
    """Webhooks enqueued in the transaction of the change they announce (so none is sent for a rolled-back change)
    and delivered after commit."""

    def enqueue_webhook(self, record: Record) -> None: ...

    def undelivered_webhooks(self, limit: int = 100) -> list[Record]:
        """Up to ``limit`` webhooks not yet delivered, oldest first."""

    def mark_webhook(self, webhook_id: str, delivered_at: str | None, error: str | None) -> None:
        """Record one delivery attempt (``attempts`` + 1) and its outcome."""


@runtime_checkable
class Transaction(SettingsStore, LedgerStore, IdentityStore, CatalogStore, LineageStore, PolicyStore, ReleaseStore,
                  WebhookOutbox, Protocol):
    """One store transaction: every aggregate's methods, all reading and writing the same snapshot."""


@runtime_checkable
class Store(Protocol):
    """One site's database: opens transactions on it.

    Every domain operation runs in one transaction: its reads, its writes, its ledger append and its webhooks commit
    together or not at all.
    """

    @property
    def backend(self) -> str:
        """The backend's name (``"duckdb"``), also the SQL dialect of its transactions."""

    def exists(self) -> bool:
        """Whether the database exists (``countersign init`` creates it)."""

    def check_creatable(self) -> None:
        """Raise :class:`core.errors.SiteExists` if a site is there already (or :class:`core.errors.BadInput` if the
        database holds anything else); ``init`` calls it before it provisions anything."""

    def transaction(self, *, create: bool = False) -> AbstractContextManager[Transaction]:
        """A read-write transaction, committed when the block exits normally and rolled back otherwise.

        ``create=True`` (only for ``countersign init``) creates the database; otherwise a missing database is
        :class:`~core.errors.BadInput`, and a schema newer than this code :class:`~core.errors.SchemaTooNew`.
        **Serialisation:** write transactions of one database run one at a time, across threads and processes,
        from before the first read until commit or rollback (see :class:`LedgerStore`); a writer that cannot start
        within the configured wait fails with :class:`~core.errors.StoreUnavailable` having written nothing. Inside
        an open transaction of the same thread, it joins that transaction.
        """

    def reader(self) -> AbstractContextManager[Transaction]:
        """A read-only transaction: nothing it does is committed, and it takes no append lock."""

    def held(self) -> AbstractContextManager[None]:
        """Keep one connection for every operation of this thread inside the block (batches, one page render)."""

    def upgrade(self, on_upgrade: Callable[[Transaction, int, int, list[Migration]], None],
                now: Callable[[], str]) -> bool:
        """Apply pending migrations in one write transaction; ``on_upgrade(tx, old, new, applied)`` records the
        ledger event in it. Returns whether anything was applied."""
