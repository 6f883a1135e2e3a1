"""Persistence layer. All SQL in Countersign lives in this package.

Domain modules call the repository methods of a transaction object (:class:`core.storage.duckdb_store.Tx`); a
server database can be added later as another implementation of the same methods without touching domain code.
"""

from core.storage.duckdb_store import DuckDBStore, Tx

__all__ = ["DuckDBStore", "Tx"]
