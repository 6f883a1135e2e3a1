"""Persistence: every table and the SQL that reads and writes it (the evaluation engine's scans of the data being
evaluated live behind :mod:`core.evaluation.statistics`, in :mod:`core.evaluation.duckdb_source`; dataset profiling in
:mod:`core.catalog.datasets`).

Domain modules call the repository methods of a transaction object and exchange driver-independent records
(:mod:`core.storage.records`). What a store must provide is the storage contract (:mod:`core.storage.contract`):
one ``Protocol`` per aggregate (ledger, identities, catalog, lineage, policies, releases, webhooks outbox), combined
in :class:`~core.storage.contract.Transaction`, and :class:`~core.storage.contract.Store`, which opens transactions and
serialises ledger appends. DuckDB is the first implementation: :class:`~core.storage.duckdb_store.DuckDBStore` (the
file, its locks and transactions) and :class:`~core.storage.duckdb_store.Tx`, composed of one mixin per aggregate
(:mod:`core.storage.duckdb_tx`). PostgreSQL is the second: :class:`~core.storage.postgres_store.PostgresStore` (a
psycopg 3 pool, the ledger-append advisory lock) and :class:`~core.storage.postgres_tx.PgTx` (the same mixins through
a small adapter). Migrations (:mod:`core.storage.migrations`) are written per SQL dialect, and
:class:`~core.storage.site.Site` names a site's locations (database, service secret file, artifact store).

Names are imported on first use (lazy_loader), so the records, the contract and the site import no database driver;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
