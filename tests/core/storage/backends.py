"""The storage backends the contract suite runs against, and what its tests and worker processes share.

A backend is accepted when ``tests/core/storage/test_contract.py`` passes against it. Each :class:`Backend` in
:data:`BACKENDS` says how to get a fresh, empty database for one test (``create``, given the test's directory and a
way to ask for pytest fixtures: PostgreSQL asks for ``pg_uri``, a new database on the session's real server) and
``open`` opens a store on a location (also in the worker processes of the append race, which receive the backend's
name and the location on their command line). The suite applies the migrations itself, through
the contract (:meth:`~core.storage.contract.SettingsStore.apply_migration`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.ledger.chain import Event, Ledger, Signer
from core.storage.contract import Store, Transaction
from core.storage.migrations import MIGRATIONS
from core.storage.records import LedgerRow


@dataclass(frozen=True)
class Backend:
    create: Callable[[Path, Callable[[str], Any]], str]
    """A fresh empty database for one test: given its (empty) directory and a fixture lookup
    (``request.getfixturevalue``); returns its location."""
    open: Callable[[str], Store]
    """A store on a location made by ``create`` (nothing opened until the first transaction)."""


def _duckdb_open(location: str) -> Store:
    from core.storage.duckdb_store import DuckDBStore

    return DuckDBStore(location, lock_timeout=120.0)


def _postgres_open(location: str) -> Store:
    from core.storage.postgres_store import PostgresStore

    return PostgresStore(location, pool_size=4, connect_timeout=120.0)


BACKENDS: dict[str, Backend] = {
    "duckdb": Backend(create=lambda directory, _fixture: str(directory / "contract.duckdb"), open=_duckdb_open),
    "postgresql": Backend(create=lambda _directory, fixture: str(fixture("pg_uri")), open=_postgres_open),
}


def open_store(backend: str, location: str) -> Store:
    return BACKENDS[backend].open(location)


def migrate(store: Store, applied_at: str = "2026-01-01T00:00:00.000000Z") -> None:
    """Create the database and bring it to the head schema, through the contract."""
    with store.transaction(create=True) as tx:
        for migration in MIGRATIONS:
            tx.apply_migration(migration, applied_at)


_LEDGER = Ledger(None, 1_000_000)  # no checkpoints: the suite writes its own


def new_signer(key_id: str = "contract-key") -> Signer:
    return Signer(key_id, Ed25519PrivateKey.generate())


def append(tx: Transaction, signer: Signer, *events: tuple[str, str, dict[str, Any]], actor: str = "ann",
           role: str | None = "admin") -> list[LedgerRow]:
    """Append ``(action, subject, payload)`` events as the domain does: :class:`core.ledger.chain.Ledger` reads the
    head and inserts the chained, signed rows in ``tx``."""
    return _LEDGER.append_many(tx, signer=signer, actor=actor, role=role,  # type: ignore[arg-type]
                               events=[Event(a, s, p) for a, s, p in events])


@contextmanager
def written(store: Store) -> Iterator[Transaction]:
    """A write transaction (a shorter name for the tests)."""
    with store.transaction() as tx:
        yield tx


def chain_tuples(store: Store) -> list[tuple[Any, ...]]:
    """``(seq, prev_hash, leaf_hash, actor, action, subject, signature, entry)`` of every ledger row, read through the
    contract (the shape :func:`tests.core.ledger.test_concurrency.assert_gapless_chain` checks)."""
    with store.reader() as tx:
        columns = tx.ledger_columns()
    names = ("seq", "prev_hash", "leaf_hash", "actor", "action", "subject", "signature", "entry")
    return list(zip(*(columns[n] for n in names), strict=True))
