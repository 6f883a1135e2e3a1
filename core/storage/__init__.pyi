"""Public names of :mod:`core.storage` (read by lazy_loader and by type checkers)."""

from . import migrations as migrations
from .duckdb_store import DuckDBStore as DuckDBStore, NeedsUpgrade as NeedsUpgrade, Tx as Tx
from .records import LEDGER_COLUMNS as LEDGER_COLUMNS, LedgerRow as LedgerRow
