"""Public names of :mod:`core.storage` (read by lazy_loader and by type checkers)."""

from .duckdb_store import DuckDBStore as DuckDBStore
from .duckdb_store import NeedsUpgrade as NeedsUpgrade
from .duckdb_store import Tx as Tx
from .records import LEDGER_COLUMNS as LEDGER_COLUMNS
from .records import LedgerRow as LedgerRow
