"""Public names of :mod:`core.storage` (read by lazy_loader and by type checkers)."""

from . import migrations as migrations
from .contract import (
    CatalogStore as CatalogStore,
    IdentityStore as IdentityStore,
    LedgerStore as LedgerStore,
    LineageStore as LineageStore,
    NeedsUpgrade as NeedsUpgrade,
    PolicyStore as PolicyStore,
    ReleaseStore as ReleaseStore,
    SettingsStore as SettingsStore,
    Store as Store,
    Transaction as Transaction,
    WebhookOutbox as WebhookOutbox,
)
from .duckdb_store import DuckDBStore as DuckDBStore, Tx as Tx
from .migrations import DIALECTS as DIALECTS, HEAD_VERSION as HEAD_VERSION, Migration as Migration
from .postgres_names import redact as redact, site_label as site_label
from .postgres_store import PostgresStore as PostgresStore
from .postgres_tx import PgTx as PgTx
from .records import (
    LEDGER_COLUMNS as LEDGER_COLUMNS,
    CheckpointSummary as CheckpointSummary,
    Credentials as Credentials,
    Deactivation as Deactivation,
    Enrolment as Enrolment,
    LedgerHead as LedgerHead,
    LedgerRow as LedgerRow,
    LineageEdge as LineageEdge,
    PickleTrust as PickleTrust,
    PublicKey as PublicKey,
    Record as Record,
    StoredCheckpoint as StoredCheckpoint,
    UserSummary as UserSummary,
)
from .site import Site as Site
