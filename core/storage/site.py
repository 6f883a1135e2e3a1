"""One Countersign site: where its database is, and the files that belong to it but never live inside it.

Today the database path doubles as the site's identity: the service secret is ``<database>.service-secret`` and the
artifact store ``<database>.artifacts/`` (copies of registered model files, named by SHA-256). :class:`Site` names
those locations once, so that code receives a site instead of deriving paths from a database file — the step a
database that is not a file (PostgreSQL) needs. :meth:`Site.for_database` reproduces today's locations exactly.

A PostgreSQL site (:meth:`Site.for_uri` with a ``postgresql://`` URI) has no file to put things beside: its service
secret comes from ``COUNTERSIGN_SERVICE_SECRET`` (a secrets manager) or ``COUNTERSIGN_SERVICE_SECRET_FILE``, and its
artifact store is the directory ``COUNTERSIGN_ARTIFACT_STORE`` — for several app servers, one volume they all mount
(content-addressed files: writing the same artifact twice is harmless). Without those variables a PostgreSQL site
keeps both under ``$XDG_DATA_HOME/countersign/sites/<host>_<port>_<database>/`` on the machine that uses it, which
suits one machine only (docs/architecture.md, "A server deployment").

The service secret's *source* keeps its precedence (:mod:`core.ledger.service_key`): ``COUNTERSIGN_SERVICE_SECRET``,
then ``COUNTERSIGN_SERVICE_SECRET_FILE``, then :attr:`Site.service_secret_file` (the file ``countersign init``
creates, mode 0600, when neither variable is set).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.storage.contract import Store

__all__ = ["Site", "make_dirs", "remove_made"]

#: Backends :meth:`Site.open_store` can open.
BACKENDS = ("duckdb", "postgresql")

_SERVER_SCHEMES = ("postgresql://", "postgres://")


def is_server_uri(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a PostgreSQL database (``postgresql://`` or ``postgres://``), not a file."""
    return isinstance(location, str) and location.startswith(_SERVER_SCHEMES)


@dataclass(frozen=True)
class Site:
    """The locations of one site. Build it with :meth:`for_database`; fields are plain paths, never opened here."""

    database: Path | None
    """The DuckDB database file (``None`` for a server backend: see :attr:`dsn`)."""
    service_secret_file: Path
    """Where the service secret is kept when no environment variable supplies it."""
    artifact_store: Path
    """The content-addressed artifact store: ``<sha256>.<format>`` files."""
    origin: str | None = None
    """The transparency-log origin (``countersign.local/…``) when known: chosen at ``init`` and kept in the
    database's settings, which stay its record of truth."""
    backend: str = "duckdb"
    """The store backend (:attr:`core.storage.contract.Store.backend`)."""
    dsn: str | None = None
    """A server backend's connection URI (libpq syntax; may hold a password: never print it, see :attr:`name`)."""
    name: str = ""
    """The site's database for messages: the file path, or the URI without its password."""

    @classmethod
    def for_uri(cls, location: str | os.PathLike[str], *, origin: str | None = None) -> Site:
        """The site at ``location``: a ``postgresql://`` URI, a ``duckdb:///path`` URI, or a DuckDB file path."""
        if is_server_uri(location):
            from core.storage.postgres_names import redact, site_label

            uri = str(location)
            base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
            sites = base / "countersign" / "sites"
            local = sites / site_label(uri)
            legacy = sites / site_label(uri, as_written=True)  # a site made before hosts were normalised
            if not local.exists() and legacy != local and legacy.exists():
                local = legacy
            artifacts = os.environ.get("COUNTERSIGN_ARTIFACT_STORE")
            return cls(database=None, service_secret_file=local / "service-secret",
                       artifact_store=Path(artifacts).expanduser() if artifacts else local / "artifacts",
                       origin=origin, backend="postgresql", dsn=uri, name=redact(uri))
        text = os.fspath(location)
        if text.startswith("duckdb://"):
            text = re.sub(r"^duckdb://", "", text)
        return cls.for_database(Path(text).expanduser(), origin=origin)

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
            name=str(database),
        )

    @property
    def uri(self) -> str:
        """The database as a URI (``duckdb:///absolute/path.duckdb``; a server's without its password)."""
        if self.database is None:
            return self.name
        return f"{self.backend}://{self.database.absolute().as_posix()}"

    @property
    def key(self) -> str:
        """A stable identity of the site's database in this process (resolved file path or redacted URI)."""
        return self.name if self.database is None else str(self.database.resolve())

    def artifact_path(self, digest: str, fmt: str) -> Path:
        """Where the artifact with SHA-256 ``digest`` and format ``fmt`` (``skops``, ``pickle`` …) is stored."""
        return self.artifact_store / f"{digest}.{fmt}"

    def open_store(self, lock_timeout: float = 60.0, pool_size: int = 4) -> Store:
        """The store of this site's backend (nothing is opened until its first transaction).

        ``lock_timeout``: seconds to wait for the DuckDB file or for a PostgreSQL connection; ``pool_size``: the most
        connections a PostgreSQL store keeps open from this process."""
        if self.backend == "duckdb" and self.database is not None:
            from core.storage.duckdb_store import DuckDBStore

            return DuckDBStore(self.database, lock_timeout)
        if self.backend == "postgresql" and self.dsn is not None:
            from core.storage.postgres_store import PostgresStore

            return PostgresStore(self.dsn, pool_size=pool_size, connect_timeout=lock_timeout)
        raise ValueError(f"unknown storage backend {self.backend!r} (known: {', '.join(BACKENDS)})")


def make_dirs(path: Path) -> list[Path]:
    """Create the directory ``path`` and its missing parents; returns those this call created, outermost first (so
    that an operation that fails afterwards can remove exactly them, innermost first, and leave no empty folders)."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    made: list[Path] = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:  # made by someone else meanwhile: theirs
            continue
        except OSError:  # read-only, full, not permitted: take back what this call made, then say why
            for done in reversed(made):
                with contextlib.suppress(OSError):
                    done.rmdir()
            raise
        made.append(folder)
    return made


def remove_made(made: list[Path]) -> None:
    """Undo an operation that failed: remove the files and (emptied) folders it made — listed outermost first, as
    :func:`make_dirs` returns them — innermost first; an error here never hides the one being handled."""
    for path in reversed(made):
        with contextlib.suppress(OSError):
            path.rmdir() if path.is_dir() else path.unlink()
