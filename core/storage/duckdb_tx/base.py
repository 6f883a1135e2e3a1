"""What every DuckDB repository mixin stands on: the open connection of one transaction and small query helpers."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import duckdb

from core.storage.records import LedgerHead


class _Instance:
    """What this process knows about one database file while it holds it open.

    DuckDB keeps a file locked against other processes for as long as any connection to it is open in this process,
    so while ``open_connections > 0`` nobody else can append: the ledger head committed by this process stays the
    head, and appends need not query it again (a query costs ~1-5 ms, as much as the commit itself).
    """

    def __init__(self) -> None:
        self.open_connections = 0
        self.head: LedgerHead | None = None
        self.guard = threading.Lock()
        """Guards ``open_connections`` and ``lock_fd`` (threads of this process open and close connections)."""
        self.lock_fd: int | None = None
        """This process's open descriptor of the sidecar lock file while it holds the database open."""


class TxBase:
    """One open DuckDB connection inside one transaction (the store begins, commits or rolls it back)."""

    dialect = "duckdb"
    """The SQL dialect of this transaction (the key of :class:`core.storage.migrations.Migration` statements)."""
    _today = "strftime(current_date, '%Y-%m-%d')"
    """Today's date as ``YYYY-MM-DD`` text, in this dialect."""

    @staticmethod
    def _json_text(column: str, key: str) -> str:
        """SQL for the text value of the top-level ``key`` of the JSON text in ``column``, in this dialect."""
        return f"json_extract_string({column}, '$.{key}')"

    def __init__(self, con: duckdb.DuckDBPyConnection, instance: _Instance | None = None) -> None:
        self.con = con
        self._instance = instance
        self.pending_head: LedgerHead | None = None

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.con.execute(sql, list(params)).fetchall()
        return rows[0] if rows else None

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    @staticmethod
    def _where(**equal: Any) -> tuple[str, list[Any]]:
        """``WHERE column = ? AND …`` for the columns whose value is not ``None`` (``""`` when none is), and its
        parameters."""
        given = {column: value for column, value in equal.items() if value is not None}
        clause = f"WHERE {' AND '.join(f'{column} = ?' for column in given)}" if given else ""
        return clause, list(given.values())

    def _records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _insert(self, table: str, record: dict[str, Any]) -> None:
        columns = list(record)
        self.con.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            [record[c] for c in columns],
        )
