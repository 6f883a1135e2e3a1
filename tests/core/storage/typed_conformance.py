"""Checked by mypy, never run: the DuckDB implementation satisfies every protocol of the storage contract.

A renamed method, a changed parameter or return type in :class:`core.storage.duckdb_store.Tx` (or in the contract)
makes one of these assignments a type error. ``test_contract.py`` runs mypy on this file; add it to mypy's ``files``
in ``pyproject.toml`` to have CI check it as well. A second backend adds the same assignments for its classes.
"""

from __future__ import annotations

from core.storage.contract import (
    CatalogStore,
    IdentityStore,
    LedgerStore,
    LineageStore,
    PolicyStore,
    ReleaseStore,
    SettingsStore,
    Store,
    Transaction,
    WebhookOutbox,
)
from core.storage.duckdb_store import DuckDBStore, Tx


def duckdb_transaction_conforms(tx: Tx) -> None:
    settings: SettingsStore = tx
    ledger: LedgerStore = tx
    identities: IdentityStore = tx
    catalog: CatalogStore = tx
    lineage: LineageStore = tx
    policies: PolicyStore = tx
    releases: ReleaseStore = tx
    webhooks: WebhookOutbox = tx
    whole: Transaction = tx
    del settings, ledger, identities, catalog, lineage, policies, releases, webhooks, whole


def duckdb_store_conforms(store: DuckDBStore) -> None:
    conforming: Store = store
    del conforming
