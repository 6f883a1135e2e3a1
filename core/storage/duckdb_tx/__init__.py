"""The DuckDB transaction's repository methods, one module per aggregate of the storage contract.

Each module holds one mixin over :class:`~core.storage.duckdb_tx.base.TxBase` (the open connection):
:mod:`.settings`, :mod:`.ledger`, :mod:`.identities`, :mod:`.catalog`, :mod:`.lineage`, :mod:`.policies`,
:mod:`.releases` and :mod:`.webhooks`. :class:`core.storage.duckdb_store.Tx` composes them; it is what the store
hands to domain code, and it satisfies :class:`core.storage.contract.Transaction`.
"""
