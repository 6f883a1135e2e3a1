"""One Countersign site: where its database is, and the files that belong to it but never live inside it.

Today the database path doubles as the site's identity: the service secret is ``<database>.service-secret`` and the
artifact store ``<database>.artifacts/`` (copies of registered model files, named by SHA-256). :class:`Site` names
those locations once, so that code receives a site instead of deriving paths from a database file — the step a
database that is not a file (PostgreSQL) needs. :meth:`Site.for_database` reproduces today's locations exactly.

The service secret's *source* keeps its precedence (:mod:`core.ledger.service_key`): ``COUNTERSIGN_SERVICE_SECRET``,
then ``COUNTERSIGN_SERVICE_SECRET_FILE``, then :attr:`Site.service_secret_file` (the file ``countersign init``
creates, mode 0600, when neither variable is set).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.storage.contract import Store

__all__ = ["Site"]

#: Backends :meth:`Site.open_store` can open.
BACKENDS = ("duckdb",)


@dataclass(frozen=True)
class Site:
    """The locations of one site. Build it with :meth:`for_database`; fields are plain paths, never opened here."""

    database: Path
    """The DuckDB database file."""
    service_secret_file: Path
    """Where the service secret is kept when no environment variable supplies it."""
    artifact_store: Path
    """The content-addressed artifact store: ``<sha256>.<format>`` files."""
    origin: str | None = None
    """The transparency-log origin (``countersign.local/…``) when known: chosen at ``init`` and kept in the
    database's settings, which stay its record of truth."""
    backend: str = "duckdb"
    """The store backend (:attr:`core.storage.contract.Store.backend`)."""

    @classmethod
    def for_database(cls, path: str | os.PathLike[str], *, origin: str | None = None) -> Site:
        """The site of a DuckDB file, its other files beside it: ``<path>.service-secret``, ``<path>.artifacts``.

        ``path`` is taken as given (not resolved), as every caller has done so far.
        """
        database = Path(path)
        return cls(
            database=database,
            service_secret_file=database.with_name(database.name + ".service-secret"),
            artifact_store=database.with_name(database.name + ".artifacts"),
            origin=origin,
        )

    @property
    def uri(self) -> str:
        """The database as a URI (``duckdb:///absolute/path.duckdb``), for messages and a store chosen by URI."""
        return f"{self.backend}://{self.database.absolute().as_posix()}"

    def artifact_path(self, digest: str, fmt: str) -> Path:
        """Where the artifact with SHA-256 ``digest`` and format ``fmt`` (``skops``, ``pickle`` …) is stored."""
        return self.artifact_store / f"{digest}.{fmt}"

    def open_store(self, lock_timeout: float = 60.0) -> Store:
        """The store of this site's backend (nothing is opened until its first transaction)."""
        if self.backend == "duckdb":
            from core.storage.duckdb_store import DuckDBStore

            return DuckDBStore(self.database, lock_timeout)
        raise ValueError(f"unknown storage backend {self.backend!r} (known: {', '.join(BACKENDS)})")
