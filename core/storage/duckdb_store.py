"""DuckDB implementation of the store: one embedded file shared by several processes.

DuckDB lets only one process hold a database file open at a time (a second one gets ``Could not set lock on
file``). Countersign therefore never keeps the file open between operations: every operation connects, works in
one transaction and disconnects. A connect that meets another process's lock is retried with jittered backoff until
the configured wait (``COUNTERSIGN_LOCK_TIMEOUT``) runs out, and only then fails with :class:`StoreUnavailable`.
Inside one process, write transactions are serialised by a lock so that threads (Streamlit sessions) never race
for the ledger head.

DuckDB's own file lock is not enough on its own: a committed transaction of one process was seen to vanish when
another process appended at the same moment (about one run in three of 6 processes × 25 appends, DuckDB 2.0.1,
under load) — the second process had opened the file before the first had finished closing it. So every process
also holds ``flock(LOCK_EX)`` on a sidecar file ``<database>.lock`` from before it opens the database until after
its last connection is closed (one lock per process, shared by its threads; a ``flock`` belongs to the open file
description, so no unrelated ``close()`` in the process can drop it, unlike the ``fcntl`` record lock DuckDB uses).
The wait for it follows the same deadline and backoff as the wait for DuckDB's lock. Where the lock file cannot be
created (a read-only directory), only DuckDB's lock applies.

Together, the file locks (across processes) and the per-process write lock (across threads) are how this store keeps
the ledger-append serialisation the storage contract requires (:class:`core.storage.contract.LedgerStore`): a write
transaction holds both from before its first read until commit or rollback, so the head it reads is the head it
extends. The repository methods themselves live in :mod:`core.storage.duckdb_tx`, one mixin per aggregate.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from core.errors import BadInput, SchemaTooNew, SiteExists, StoreUnavailable, first_line
from core.storage.contract import NeedsUpgrade
from core.storage.duckdb_tx.base import _Instance
from core.storage.duckdb_tx.catalog import CatalogTx
from core.storage.duckdb_tx.identities import IdentityTx
from core.storage.duckdb_tx.ledger import LedgerTx
from core.storage.duckdb_tx.lineage import LineageTx
from core.storage.duckdb_tx.policies import PolicyTx
from core.storage.duckdb_tx.releases import ReleaseTx
from core.storage.duckdb_tx.settings import SettingsTx
from core.storage.duckdb_tx.tables import TableTx
from core.storage.duckdb_tx.webhooks import WebhookTx
from core.storage.migrations import HEAD_VERSION, MIGRATIONS, Migration

_DUCKDB_CONFIG = {
    # Never reach for the network: built-in extensions only (json is built in).
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
}

_process_write_locks: dict[str, threading.RLock] = {}
_process_write_locks_guard = threading.Lock()
_instances: dict[str, _Instance] = {}


def _instance(path: Path) -> _Instance:
    key = str(path.resolve())
    with _process_write_locks_guard:
        state = _instances.get(key)
        if state is None:
            state = _instances[key] = _Instance()
        return state


def _write_lock(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _process_write_locks_guard:
        lock = _process_write_locks.get(key)
        if lock is None:
            lock = _process_write_locks[key] = threading.RLock()
        return lock


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


class Tx(SettingsTx, TableTx, LedgerTx, IdentityTx, CatalogTx, LineageTx, PolicyTx, ReleaseTx, WebhookTx):
    """Repository methods bound to one open DuckDB connection inside one transaction.

    One mixin per aggregate (:mod:`core.storage.duckdb_tx`); together they implement
    :class:`core.storage.contract.Transaction` (checked by mypy in ``tests/core/storage/typed_conformance.py`` and
    at run time by the contract suite).
    """


class DuckDBStore:
    """One DuckDB database file, opened per operation with bounded waiting for other processes."""

    backend = "duckdb"
    """The backend's name (:class:`core.storage.contract.Store`); its transactions speak the same SQL dialect."""

    def __init__(self, path: str | Path, lock_timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._version_ok = False
        self._held = threading.local()

    def exists(self) -> bool:
        return self.path.exists()

    def check_creatable(self) -> None:
        """Refuse (:class:`SiteExists`) a database file that exists already."""
        if self.path.exists():
            raise SiteExists(f"a database already exists at {self.path}; 'countersign init' never touches one")

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep one connection open for every operation of this thread inside the block.

        For batches in one process (bulk scripts, benchmarks, one page render): it saves the ~20-50 ms a DuckDB
        open costs per operation, at the price of holding the file lock for the whole block, so keep it short.
        """
        if getattr(self._held, "con", None) is not None:
            yield
            return
        with self._open() as con:
            self._held.con = con
            try:
                yield
            finally:
                self._held.con = None

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = getattr(self._held, "con", None)
        if con is not None:
            yield con
            return
        with self._open() as con:
            yield con

    def _lock_file(self, state: _Instance, deadline: float) -> None:
        """Take this process's ``flock`` on ``<database>.lock`` unless it holds it already (call under
        ``state.guard``), waiting until ``deadline``.

        The wait blocks in the kernel (in a helper thread, so that it can time out) rather than polling: a polling
        waiter that sleeps loses every race to the process that just released the lock and is back for its next
        operation, so one busy process could starve the others until their timeout."""
        if state.lock_fd is not None:
            return
        try:
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return  # read-only directory: DuckDB's lock alone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            state.lock_fd = fd
            return
        except BlockingIOError:
            pass
        outcome: dict[str, bool] = {}
        settled = threading.Lock()
        got = threading.Event()

        def wait() -> None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                return
            with settled:
                if outcome.get("abandoned"):
                    os.close(fd)  # too late: the caller gave up; let the lock go at once
                    return
                outcome["held"] = True
            got.set()

        threading.Thread(target=wait, name="countersign-file-lock", daemon=True).start()
        got.wait(max(0.0, deadline - time.monotonic()))
        with settled:
            if outcome.get("held"):
                state.lock_fd = fd
                return
            outcome["abandoned"] = True
        raise StoreUnavailable(
            f"database {self.path} is held by another process and was not released within "
            f"{self.lock_timeout:g} s (COUNTERSIGN_LOCK_TIMEOUT); nothing was written")

    @staticmethod
    def _unlock_file(state: _Instance) -> None:
        if state.lock_fd is not None:
            os.close(state.lock_fd)  # releases the flock
            state.lock_fd = None

    @contextmanager
    def _open(self) -> Iterator[duckdb.DuckDBPyConnection]:
        deadline = time.monotonic() + self.lock_timeout
        state = _instance(self.path)
        with state.guard:
            self._lock_file(state, deadline)
            state.open_connections += 1
        try:
            with self._connect_duckdb(deadline) as con:
                yield con
        except (duckdb.InterruptException, RuntimeError) as exc:
            # Ctrl-C while DuckDB ran a query or a commit: DuckDB cancels it and raises its own error in place of
            # Python's (InterruptException, or a RuntimeError "Query interrupted" from a commit or a metadata
            # query); it is the user's interrupt (the transaction was rolled back), so it leaves as one.
            if isinstance(exc, duckdb.InterruptException) or str(exc).startswith("Query interrupted"):
                raise KeyboardInterrupt from None
            raise
        except (duckdb.IOException, duckdb.TransactionException, duckdb.OutOfMemoryException) as exc:
            # The file could not be written (a full or read-only disk, out of memory): DuckDB rolled back.
            raise StoreUnavailable(f"database {self.path}: {first_line(exc)}; the operation was rolled back"
                                   ) from None
        finally:
            with state.guard:
                state.open_connections -= 1
                if state.open_connections <= 0:
                    state.open_connections, state.head = 0, None
                    self._unlock_file(state)

    @contextmanager
    def _connect_duckdb(self, deadline: float) -> Iterator[duckdb.DuckDBPyConnection]:
        delay = 0.005
        while True:
            try:
                con = duckdb.connect(str(self.path), config=dict(_DUCKDB_CONFIG))
                break
            except duckdb.IOException as exc:
                if not _is_lock_conflict(exc):
                    raise StoreUnavailable(f"cannot open database {self.path}: {first_line(exc)}") from None
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(
                        f"database {self.path} is held by another process and was not released within "
                        f"{self.lock_timeout:g} s (COUNTERSIGN_LOCK_TIMEOUT); nothing was written. Details: {exc}"
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 1.6, 0.1)
            except duckdb.Error as exc:
                raise StoreUnavailable(f"cannot open database {self.path}: {first_line(exc)}") from None
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self, *, create: bool = False) -> Iterator[Tx]:
        """A read-write transaction; committed when the block exits normally, rolled back otherwise.

        Inside an open transaction of the same thread (possible under :meth:`held`), it joins that transaction.
        """
        if not create and not self.path.exists():
            raise BadInput(f"no Countersign database at {self.path}; create one with 'countersign init'")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        outer = getattr(self._held, "tx", None)
        if outer is not None:
            yield outer
            return
        with _write_lock(self.path), self._connect() as con:
            con.begin()
            instance = _instance(self.path)
            tx = Tx(con, instance)
            self._held.tx = tx
            try:
                if not create:
                    self._check_version(tx)
                elif tx.schema_version() > 0:  # another process created it since the caller looked
                    raise SiteExists(f"a database already exists at {self.path}; 'countersign init' never touches one")
                yield tx
            except BaseException:
                con.rollback()
                raise
            else:
                con.commit()
                if tx.pending_head is not None:
                    instance.head = tx.pending_head
            finally:
                self._held.tx = None

    @contextmanager
    def reader(self) -> Iterator[Tx]:
        """A read-only view (still one short connection; nothing is written)."""
        if not self.path.exists():
            raise BadInput(f"no Countersign database at {self.path}; create one with 'countersign init'")
        outer = getattr(self._held, "tx", None)
        if outer is not None:
            yield outer
            return
        with self._connect() as con:
            con.begin()
            tx = Tx(con)
            self._held.tx = tx
            try:
                self._check_version(tx)
                yield tx
            finally:
                self._held.tx = None
                con.rollback()

    def _check_version(self, tx: Tx) -> None:
        if self._version_ok:
            return
        version = tx.schema_version()
        if version > HEAD_VERSION:
            raise SchemaTooNew(
                f"database {self.path} has schema version {version}, but this Countersign understands only up to "
                f"version {HEAD_VERSION}; upgrade Countersign to open it (nothing was changed)"
            )
        if version < HEAD_VERSION:
            raise NeedsUpgrade(version)
        self._version_ok = True

    def upgrade(self, on_upgrade: Callable[[Tx, int, int, list[Migration]], None], now: Callable[[], str]) -> bool:
        """Apply pending migrations in one transaction; ``on_upgrade`` records the ledger event in it.

        Returns whether anything was applied.
        """
        with _write_lock(self.path), self._connect() as con:
            con.begin()
            tx = Tx(con)
            try:
                version = tx.schema_version()
                if version > HEAD_VERSION:
                    self._check_version(tx)
                pending = [m for m in MIGRATIONS if m.version > version]
                if not pending:
                    con.rollback()
                    return False
                for migration in pending:
                    tx.apply_migration(migration, now())
                on_upgrade(tx, version, HEAD_VERSION, pending)
            except BaseException:
                con.rollback()
                raise
            con.commit()
            return True
