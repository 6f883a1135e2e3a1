"""PostgreSQL implementation of the store: one database on a server, shared by many processes and machines.

Connections come from a :class:`psycopg_pool.ConnectionPool` (checked before use, so a restarted server costs one
failed operation, not a broken pool). Every operation runs in one transaction:

* **write** transactions start with ``pg_advisory_xact_lock(…)`` — the ledger-append lock of the storage
  contract (:class:`core.storage.contract.LedgerStore`) — sent with ``BEGIN`` in one round trip and, on a current
  schema, followed in the same round trip by the read of the ledger head (the server function
  ``countersign_lock_ledger``: the head query takes its snapshot after the lock is granted). It is taken before the
  transaction's first read and released
  by PostgreSQL itself at commit or rollback (also when the client dies: the server ends its session and rolls
  back), so the ledger head a writer reads is the committed head, and no two writers ever extend the same head —
  whichever machine they run on. State changes and their ledger entry commit together or not at all.
* **read** transactions run ``REPEATABLE READ, READ ONLY``: one consistent snapshot for a page or a verification,
  taking no lock.

A server that cannot be reached, or that goes away mid-operation, raises :class:`core.errors.StoreUnavailable` (exit
code 4) naming the server without its password; what happened to a transaction whose connection broke while it was
committing cannot be known from the client, and the message says so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from core.errors import BadInput, SchemaTooNew, SiteExists, StoreUnavailable, first_line
from core.storage.contract import NeedsUpgrade
from core.storage.migrations import HEAD_VERSION, MIGRATIONS, Migration
from core.storage.postgres_names import redact
from core.storage.postgres_tx import PgConnection, PgTx
from core.storage.records import LedgerHead

__all__ = ["LEDGER_LOCK_KEY", "PostgresStore"]

CONNECT_WAIT_S = 10.0
"""The longest an operation waits for a connection to the server (a server restart takes seconds; a server that is
down or refuses the credentials fails the operation with exit code 4 after this wait, naming the cause)."""

PG_MAX_LOCK_TIMEOUT_MS = 2_147_483_647
"""PostgreSQL's largest ``lock_timeout`` (about 24.8 days): a longer ``COUNTERSIGN_LOCK_TIMEOUT`` waits this long."""

LEDGER_LOCK_KEY = 0x436F756E74657273  # "Countersign" → a fixed 64-bit advisory-lock key ("Counters" in ASCII)
"""The advisory-lock key that serialises ledger appends on one database."""

# The pool logs each failed (re)connection attempt as a warning; the store turns failures into one clear error, so
# without a logging configuration of the host application those warnings must not reach the terminal.
logging.getLogger("psycopg").addHandler(logging.NullHandler())  # psycopg.pool's too

_pools: dict[tuple[str, int], ConnectionPool] = {}
_pools_guard = threading.Lock()


def _abandon(conn: psycopg.Connection[Any], exc: BaseException) -> None:
    """End a failed transaction without hiding why it failed: roll back, or — when the connection is mid-command
    (Ctrl-C arrived while a statement ran) or broken — close it, and the server rolls the transaction back."""
    if conn.closed:
        return
    if isinstance(exc, KeyboardInterrupt) or conn.info.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
        conn.close()
        return
    try:
        conn.rollback()
    except psycopg.Error:
        conn.close()


def _pool(uri: str, size: int) -> ConnectionPool:
    key = (uri, size)
    with _pools_guard:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            # One direct connection first: a server that is down or refuses the credentials fails this operation at
            # once, naming why (a pool would keep retrying in the background until the wait ran out).
            psycopg.connect(uri, connect_timeout=int(CONNECT_WAIT_S)).close()
            pool = _pools[key] = ConnectionPool(
                uri, min_size=1, max_size=size, open=False, check=ConnectionPool.check_connection,
                kwargs={"autocommit": True}, name=f"countersign-{len(_pools)}", reconnect_timeout=30.0)
            pool.open(wait=False)
        return pool


class PostgresStore:
    """One PostgreSQL database reached by a libpq URI (password also from ``PGPASSWORD`` or ``~/.pgpass``)."""

    backend = "postgresql"

    def __init__(self, uri: str, *, pool_size: int = 4, connect_timeout: float = 30.0) -> None:
        """``connect_timeout``: seconds a write waits for the ledger-append lock held by another transaction
        (``COUNTERSIGN_LOCK_TIMEOUT``; 0: the lock is tried once); a connection is waited for
        :data:`CONNECT_WAIT_S`."""
        authority = uri.split("://", 1)[-1].split("/", 1)[0]
        if authority.count("@") > 1:
            raise BadInput("not a valid PostgreSQL URI: more than one '@' before the host (percent-encode an '@' in "
                           "the password as %40); expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        try:
            parts = psycopg.conninfo.conninfo_to_dict(uri)
        except psycopg.ProgrammingError:  # its text may quote the password: not shown
            raise BadInput("not a valid PostgreSQL URI (check the percent-encoding of special characters, e.g. % as "
                           "%25 in a password); expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE") from None
        if "@" in str(parts.get("dbname") or ""):  # "postgresql:///user:pw@host/db": credentials read as a name
            raise BadInput("not a valid PostgreSQL URI: the database name holds '@' (is the host missing after "
                           "'//'?); expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        self.uri = uri
        self.name = redact(uri)
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self._version_ok = False
        self._held = threading.local()

    # -- connections ------------------------------------------------------------------------------------------
    def _unavailable(self, exc: BaseException, committing: bool = False) -> StoreUnavailable:
        detail = first_line(exc)
        outcome = ("the connection broke while committing, so whether the operation was recorded is unknown: "
                   "check the audit log before retrying" if committing else "nothing was written")
        return StoreUnavailable(f"cannot reach the PostgreSQL database {self.name}: {detail}; {outcome}")

    def _reason(self, timeout: PoolTimeout) -> BaseException:
        """Why no pooled connection came: one direct attempt names the cause (refused, bad password …)."""
        try:
            psycopg.connect(self.uri, connect_timeout=5).close()
        except psycopg.Error as exc:
            return exc
        return timeout

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        held = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        try:
            pool = _pool(self.uri, self.pool_size)
            conn_cm = pool.connection(timeout=CONNECT_WAIT_S)  # not the lock wait: 0 there means "try the lock once"
            conn = conn_cm.__enter__()
        except PoolTimeout as exc:
            raise self._unavailable(self._reason(exc)) from None
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from None
        try:
            yield conn
        except BaseException as exc:
            conn_cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            conn_cm.__exit__(None, None, None)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep one pooled connection for this thread inside the block (each transaction still commits alone)."""
        if getattr(self._held, "conn", None) is not None:
            yield
            return
        with self._connection() as conn:
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = None

    def exists(self) -> bool:
        """Whether the database holds a Countersign site (its ``schema_migrations`` table)."""
        with self._run(write=False, check_version=False) as tx:
            return tx.schema_version() > 0

    def is_empty(self) -> bool:
        """Whether the database's schema has no table at all (what ``store copy`` writes into)."""
        with self._run(write=False, check_version=False) as tx:
            return not tx.table_names()

    def check_creatable(self) -> None:
        """Refuse (:class:`SiteExists`, :class:`BadInput`) a database whose schema holds a site or other tables."""
        with self._run(write=False, check_version=False) as tx:
            if tx.schema_version() > 0:
                raise SiteExists(f"a Countersign site already exists in {self.name}; 'countersign init' never "
                                 "touches one")
            tables = tx.table_names()
        if tables:
            shown = ", ".join(tables[:5]) + (" …" if len(tables) > 5 else "")
            raise BadInput(f"{self.name} holds tables that are not Countersign's ({shown}); use an empty database, "
                           "or another schema through the URI's options (search_path)")

    def _begin(self, conn: psycopg.Connection[Any], write: bool) -> PgTx:
        """Begin the transaction in one round trip; a write also takes the ledger-append lock (and, on a current
        schema, reads the head under it in the same round trip: ``countersign_lock_ledger``, migration 12).

        Connections are in autocommit mode and the transaction is begun here in SQL, so that ``BEGIN`` travels with
        the statement after it (a driver-issued ``BEGIN`` is a round trip of its own). Only constants of this module
        and an integer are formatted into these statements.
        """
        if not write:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return PgTx(PgConnection(conn))
        wait = f"'{min(max(1, round(self.connect_timeout * 1000)), PG_MAX_LOCK_TIMEOUT_MS)}ms'"
        try:
            if self._version_ok:
                cursor = conn.execute(f"BEGIN; SELECT * FROM countersign_lock_ledger({LEDGER_LOCK_KEY}, {wait})")
                cursor.nextset()
                row = cursor.fetchone()
                return PgTx(PgConnection(conn), head=None if row is None else LedgerHead(int(row[0]), row[1], row[2]))
            conn.execute(f"BEGIN; SET LOCAL lock_timeout = {wait}; SELECT pg_advisory_xact_lock({LEDGER_LOCK_KEY})")
            return PgTx(PgConnection(conn))
        except psycopg.errors.LockNotAvailable:
            raise StoreUnavailable(
                f"the ledger of {self.name} is held by another transaction that was not finished within "
                f"{self.connect_timeout:g} s (COUNTERSIGN_LOCK_TIMEOUT); nothing was written") from None

    @contextmanager
    def _run(self, *, write: bool, check_version: bool = True) -> Iterator[PgTx]:
        outer = getattr(self._held, "tx", None)
        if outer is not None:
            yield outer
            return
        committing = False
        try:
            with self._connection() as conn:
                conn.rollback()  # a clean start, whatever the pooled connection did last (no round trip when idle)
                try:
                    tx = self._begin(conn, write)
                    self._held.tx = tx
                    try:
                        if check_version:
                            self._check_version(tx)
                        yield tx
                    finally:
                        self._held.tx = None
                except BaseException as exc:
                    _abandon(conn, exc)
                    raise
                if write:
                    committing = True
                    conn.commit()
                else:
                    conn.rollback()
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc, committing) from None
        except psycopg.DataError as exc:  # e.g. a NUL character, which PostgreSQL text cannot hold
            raise BadInput(f"PostgreSQL refused a value: {first_line(exc)}; nothing was written") from None
        except psycopg.DatabaseError as exc:  # privileges, a schema that is not there, tables in the way …
            raise StoreUnavailable(f"the PostgreSQL database {self.name} refused the operation: {first_line(exc)}; "
                                   "nothing was written") from None

    @contextmanager
    def transaction(self, *, create: bool = False) -> Iterator[PgTx]:
        """A read-write transaction holding the ledger-append lock; committed when the block exits normally."""
        if create:
            with self._run(write=True, check_version=False) as tx:
                if tx.schema_version() > 0:
                    raise SiteExists(f"a Countersign site already exists in {self.name}; 'countersign init' never "
                                     "touches one")
                yield tx
            return
        with self._run(write=True) as tx:
            yield tx

    @contextmanager
    def reader(self) -> Iterator[PgTx]:
        """A read-only snapshot (no lock; nothing is written)."""
        with self._run(write=False) as tx:
            yield tx

    def _check_version(self, tx: PgTx) -> None:
        if self._version_ok:
            return
        version = tx.schema_version()
        if version == 0:
            raise BadInput(f"no Countersign site in the PostgreSQL database {self.name}; create one with "
                           "'countersign init'")
        if version > HEAD_VERSION:
            raise SchemaTooNew(
                f"database {self.name} has schema version {version}, but this Countersign understands only up to "
                f"version {HEAD_VERSION}; upgrade Countersign to open it (nothing was changed)")
        if version < HEAD_VERSION:
            raise NeedsUpgrade(version)
        self._version_ok = True

    def upgrade(self, on_upgrade: Callable[[PgTx, int, int, list[Migration]], None], now: Callable[[], str]) -> bool:
        """Apply pending migrations and record them (``on_upgrade``) in one locked transaction."""
        with self._run(write=True, check_version=False) as tx:
            version = tx.schema_version()
            if version > HEAD_VERSION:
                self._check_version(tx)
            pending = [m for m in MIGRATIONS if m.version > version]
            if not pending:
                return False
            for migration in pending:
                tx.apply_migration(migration, now())
            on_upgrade(tx, version, HEAD_VERSION, pending)
            return True
