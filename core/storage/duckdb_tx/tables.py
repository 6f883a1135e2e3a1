"""Whole tables, for copying a site between stores (``countersign store copy``): names, batches of rows, bulk
inserts. Only the site's own tables (those the migrations created) are ever named."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from core.storage.duckdb_tx.base import TxBase

COPY_BATCH = 10_000
"""Rows per batch when a table is streamed (bounded memory whatever the table's size)."""


class TableTx(TxBase):
    """Table-level reads and writes (:class:`core.storage.contract.SettingsStore`'s copy methods)."""

    def table_names(self) -> list[str]:
        """The base tables of the site's schema, sorted by name."""
        rows = self._all("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                         "AND table_type = 'BASE TABLE' ORDER BY table_name")
        return [str(r[0]) for r in rows]

    def _known_table(self, table: str) -> str:
        if not re.fullmatch(r"[a-z_]+", table) or table not in self.table_names():
            raise ValueError(f"not a table of this site: {table!r}")
        return table

    def _check_columns(self, table: str, columns: Sequence[str]) -> None:
        """``ValueError`` unless ``table`` is one of the site's and has every one of ``columns``."""
        known = set(self.table_columns(table))
        if not set(columns) <= known:
            raise ValueError(f"{table} has no column(s) {sorted(set(columns) - known)}")

    def table_columns(self, table: str) -> list[str]:
        """The columns of ``table`` in their defined order."""
        rows = self._all("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                         "AND table_name = ? ORDER BY ordinal_position", [self._known_table(table)])
        return [str(r[0]) for r in rows]

    def table_batches(self, table: str, size: int = COPY_BATCH) -> Iterator[list[tuple[Any, ...]]]:
        """Every row of ``table`` (columns in :meth:`table_columns` order), ``size`` rows at a time."""
        columns = ", ".join(self.table_columns(table))
        cursor = self.con.execute(f"SELECT {columns} FROM {table}")
        while True:
            rows = cursor.fetchmany(size)
            if not rows:
                return
            yield [tuple(r) for r in rows]

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values in ``columns`` order) into ``table`` as they are (one Arrow batch)."""
        if not rows:
            return
        import pyarrow as pa

        self._check_columns(table, columns)
        values = list(zip(*rows, strict=True))
        batch = pa.table({c: pa.array(list(v)) for c, v in zip(columns, values, strict=True)})
        self.con.register("_copied", batch)
        try:
            self.con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM _copied")
        finally:
            self.con.unregister("_copied")
