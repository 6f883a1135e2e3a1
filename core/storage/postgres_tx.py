"""The repository methods on PostgreSQL: the DuckDB mixins' SQL, run through a small psycopg adapter.

The SQL of :mod:`core.storage.duckdb_tx` is written to mean the same on both engines (``ON CONFLICT``,
``array_agg … FILTER``, explicit ``GROUP BY``); what still differs is translated here, in one place:

* placeholders: DB-API ``?`` becomes psycopg's ``%s`` (a literal ``%`` becomes ``%%``); values are always bound
  by the driver, never formatted into the SQL;
* ``x IN (SELECT unnest(?))`` (DuckDB's list membership) becomes ``x = ANY(?)`` (a PostgreSQL array);
* DuckDB's ``register(name, arrow_table)`` (bulk inserts and merges) becomes a temporary table filled with
  ``COPY … FROM STDIN`` and dropped at ``unregister`` (or at commit);
* ``sql(...).to_arrow_table()`` (column-wise reads for verification) becomes a fetch turned into Arrow;
* dialect hooks: today's date and JSON text extraction (:class:`PgTx`).

Values cross as psycopg adapts them: ``bytes`` ⇄ ``BYTEA``, ``bool`` ⇄ ``BOOLEAN``, ``int`` ⇄ ``BIGINT``, text
columns ``TEXT COLLATE "C"`` (ordered by code point, as DuckDB orders ``VARCHAR``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pyarrow as pa

from core.errors import BadInput, first_line
from core.storage.duckdb_tx.catalog import CatalogTx
from core.storage.duckdb_tx.identities import IdentityTx
from core.storage.duckdb_tx.ledger import LedgerTx
from core.storage.duckdb_tx.lineage import LineageTx
from core.storage.duckdb_tx.policies import PolicyTx
from core.storage.duckdb_tx.releases import ReleaseTx
from core.storage.duckdb_tx.settings import SettingsTx
from core.storage.duckdb_tx.tables import COPY_BATCH, TableTx
from core.storage.duckdb_tx.webhooks import WebhookTx
from core.storage.migrations import POSTGRES
from core.storage.records import LedgerHead

__all__ = ["PgConnection", "PgTx", "translate"]

_LITERAL_OR_MARK = re.compile(r"'(?:[^']|'')*'|\?|%")
_LIST_MEMBERSHIP = re.compile(r"\bIN \(SELECT unnest\(\?\)\)")
_translated: dict[str, str] = {}


def translate(sql: str) -> str:
    """DuckDB-flavoured SQL with ``?`` placeholders → psycopg SQL with ``%s`` (string literals left untouched)."""
    done = _translated.get(sql)
    if done is None:
        text = _LIST_MEMBERSHIP.sub("= ANY(?)", sql)
        done = _LITERAL_OR_MARK.sub(
            lambda m: "%s" if m.group(0) == "?" else "%%" if m.group(0) == "%" else m.group(0), text)
        if len(_translated) < 4096:
            _translated[sql] = done
    return done


_UNREAD = object()
"""The ledger head of a transaction that has not read it under the lock yet."""

_ARROW_TO_PG = {pa.int64(): "BIGINT", pa.string(): 'TEXT COLLATE "C"', pa.bool_(): "BOOLEAN"}


class _Columns:
    """Fetched rows, column by column: what the mixins read from ``DuckDBPyConnection.sql(...).to_arrow_table()``
    (``column(name or index).to_pylist()``), without building Arrow arrays (whose first use imports pandas: ~0.4 s
    that a process would otherwise spend holding the ledger-append lock at its first checkpoint)."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._names = [c.name for c in cursor.description or ()]
        rows = cursor.fetchall()
        self._values = [list(v) for v in zip(*rows, strict=True)] if rows else [[] for _ in self._names]

    def column(self, key: int | str) -> _Column:
        return _Column(self._values[key if isinstance(key, int) else self._names.index(key)])


class _Column:
    def __init__(self, values: list[Any]) -> None:
        self._values = values

    def to_pylist(self) -> list[Any]:
        return self._values


class _Relation:
    """What ``DuckDBPyConnection.sql(...)`` returns, as far as the mixins use it."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def to_arrow_table(self) -> _Columns:
        return _Columns(self._cursor)


class PgConnection:
    """A psycopg connection inside one transaction, speaking the subset of DuckDB's Python API the mixins use."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._registered: list[str] = []

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        if not params:  # no parameters: psycopg leaves the text alone ('%' included)
            return self.conn.execute(sql)
        return self.conn.execute(translate(sql), list(params))

    def sql(self, sql: str, params: Sequence[Any] | None = None) -> _Relation:
        return _Relation(self.execute(sql, params))

    def register(self, name: str, table: pa.Table) -> None:
        """A temporary table ``name`` holding ``table``'s rows (dropped by :meth:`unregister` or at commit)."""
        if not re.fullmatch(r"_[a-z_]+", name):
            raise ValueError(f"not a temporary table name: {name}")
        columns = ", ".join(f"{field.name} {_ARROW_TO_PG[field.type]}" for field in table.schema)
        self.conn.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
        with self.conn.cursor().copy(f"COPY {name} FROM STDIN") as copy:
            for row in zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True):
                copy.write_row(row)
        self._registered.append(name)

    def unregister(self, name: str) -> None:
        if name in self._registered:
            self._registered.remove(name)
            self.conn.execute(f"DROP TABLE IF EXISTS {name}")


class PgTx(SettingsTx, TableTx, LedgerTx, IdentityTx, CatalogTx, LineageTx, PolicyTx, ReleaseTx, WebhookTx):
    """Repository methods bound to one PostgreSQL transaction (:class:`core.storage.contract.Transaction`).

    The ledger head is always read from the database: the store holds the ledger-append lock
    (:class:`core.storage.postgres_store.PostgresStore`) from the transaction's first statement, so the committed head
    read here is the one the append extends (no process cache: other machines append too). ``head``: the head the
    store read under that lock in the transaction's first round trip (``None``: an empty ledger); only this
    transaction can then extend it, so it stays the head until this transaction appends (its own appends are
    tracked) or bulk-inserts rows (then it is read again).
    """

    dialect = POSTGRES
    _today = "to_char(current_date, 'YYYY-MM-DD')"

    con: PgConnection  # type: ignore[assignment]  # the adapter speaks the DuckDB API subset the mixins use

    def __init__(self, con: PgConnection, head: LedgerHead | None | object = _UNREAD) -> None:
        super().__init__(con)  # type: ignore[arg-type]
        self._locked_head = head

    def ledger_head(self) -> LedgerHead | None:
        if self.pending_head is None and self._locked_head is not _UNREAD:
            return self._locked_head  # type: ignore[return-value]
        return super().ledger_head()

    @staticmethod
    def _json_text(column: str, key: str) -> str:
        return f"({column}::jsonb ->> '{key}')"

    def table_batches(self, table: str, size: int = COPY_BATCH) -> Iterator[list[tuple[Any, ...]]]:
        """Every row of ``table``, ``size`` rows at a time, through a server-side cursor (bounded memory)."""
        columns = ", ".join(self.table_columns(table))
        with self.con.conn.cursor(name=f"countersign_copy_{table}") as cursor:
            cursor.execute(f"SELECT {columns} FROM {table}")
            while rows := cursor.fetchmany(size):
                yield [tuple(r) for r in rows]

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` into ``table`` with ``COPY … FROM STDIN`` (values adapted by psycopg, never formatted)."""
        if not rows:
            return
        self._check_columns(table, columns)
        self._locked_head = _UNREAD
        try:
            with self.con.conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.DataError as exc:  # e.g. a NUL character that a DuckDB site holds: name where it is
            raise BadInput(f"table {table}: PostgreSQL refused a value ({first_line(exc)}); nothing was written"
                           ) from None
