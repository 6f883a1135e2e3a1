"""Move a whole site between stores (``countersign store copy SOURCE DEST``): DuckDB → PostgreSQL and back.

What is copied: every table of the site (but ``schema_migrations``, DEST's own record of when its schema was made),
row for row and value for value (the ledger's rows byte-identical, so the
same Merkle root at the same size, and a checkpoint saved from SOURCE verifies against DEST), the service secret (so
the copied service key unseals at DEST) and the content-addressed artifact files (model files, checked by SHA-256).

All or nothing: DEST must be empty (no DuckDB file; no tables in the PostgreSQL database's schema) and the rows
are written in one DEST transaction that commits only after the copied ledger's Merkle root has been recomputed from
DEST and found equal to SOURCE's, and DEST's service secret has unlocked the copied service key; on any failure DEST
is left as it was (any secret or artifact file this copy created is removed). A DuckDB DEST is written to a hidden
file beside it and linked into place after the commit, so even a copy killed midway leaves no partial DEST. SOURCE
is only read, in one consistent snapshot (REPEATABLE READ on
PostgreSQL; the file held for the whole copy on DuckDB), and must be at this version's schema.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import config
from core.catalog.hashing import sha256_file
from core.errors import BadInput, CountersignError, StoreUnavailable
from core.ledger.chain import utc_now
from core.ledger.service_key import load_service_signer, read_secret, secret_file_for
from core.storage.contract import NeedsUpgrade, Store, Transaction
from core.storage.migrations import HEAD_VERSION, MIGRATIONS
from core.storage.postgres_store import PostgresStore
from core.storage.site import Site, make_dirs
from core.tlog import merkle

__all__ = ["copy_site"]

Progress = Callable[[str], None]


def _ledger_root(tx: Transaction) -> tuple[int, str]:
    leaves = [bytes.fromhex(h) for h in tx.ledger_leaf_hashes()]
    return len(leaves), merkle.root(leaves).hex()


def _empty(site: Site, store: Store) -> bool:
    if isinstance(store, PostgresStore):
        return store.is_empty()
    return site.database is not None and not site.database.exists()


def _copy_files(source: Site, dest: Site, created: list[Path]) -> int:
    """Copy SOURCE's artifact files missing at DEST (checked by their SHA-256 name); returns how many."""
    if not source.artifact_store.is_dir() or source.artifact_store.resolve() == dest.artifact_store.resolve():
        return 0
    count = 0
    for path in sorted(source.artifact_store.iterdir()):
        digest = path.name.split(".", 1)[0]
        if not path.is_file() or sha256_file(path) != digest:
            raise CountersignError(f"artifact {path} does not match its SHA-256 name; nothing was copied")
        target = dest.artifact_store / path.name
        if target.exists():
            if sha256_file(target) != digest:
                raise CountersignError(f"{target} exists at DEST with other content; nothing was copied")
            continue
        if not dest.artifact_store.exists():
            created.extend(make_dirs(dest.artifact_store))
        shutil.copyfile(path, target)
        created.append(target)
        count += 1
    return count


def _copy_secret(source: Site, dest: Site, created: list[Path]) -> str:
    """Make SOURCE's service secret readable at DEST; returns where DEST reads it from."""
    secret = read_secret(source)
    if os.environ.get("COUNTERSIGN_SERVICE_SECRET") or os.environ.get("COUNTERSIGN_SERVICE_SECRET_FILE"):
        return "the configured COUNTERSIGN_SERVICE_SECRET(_FILE), shared by SOURCE and DEST"
    target = secret_file_for(dest)
    if target.exists():
        if target.read_text(encoding="utf-8").strip() != secret:
            raise BadInput(f"DEST's service-secret file {target} exists with another secret; remove it or set "
                           "COUNTERSIGN_SERVICE_SECRET_FILE (nothing was copied)")
        return str(target)
    created.extend(make_dirs(target.parent))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    created.append(target)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    return str(target)


def _remove_stale_staging(dest: Path) -> None:
    """Remove the hidden staging files of earlier copies to ``dest`` whose process is gone (killed mid-copy)."""
    if not dest.parent.is_dir():
        return
    for staged in dest.parent.glob(f".{glob.escape(dest.name)}.copying-*"):
        pid = staged.name.rsplit("-", 1)[-1].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            _remove_database_files(staged.with_name(staged.name.removesuffix(".lock").removesuffix(".wal")))
        except PermissionError:  # another user's live process
            continue


def _remove_database_files(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal"), path.with_name(path.name + ".lock")):
        with contextlib.suppress(OSError):  # a read-only or vanished folder: the first error is the one to report
            leftover.unlink(missing_ok=True)


def copy_site(source: str | os.PathLike[str], dest: str | os.PathLike[str], *,
              progress: Progress | None = None) -> dict[str, Any]:
    """Copy the site at ``source`` to the empty ``dest`` (file paths or ``postgresql://`` URIs).

    Returns ``{"source", "dest", "tables": {name: rows}, "ledger_size", "root", "artifacts", "secret", "seconds"}``.
    Raises :class:`BadInput` (DEST not empty, SOURCE missing or at another schema version, same site twice) and
    :class:`CountersignError` when a check fails; DEST is then unchanged.
    """
    started = time.monotonic()
    say = progress or (lambda _line: None)
    src_site, dst_site = Site.for_uri(config.resolve_location(source)), Site.for_uri(config.resolve_location(dest))
    if src_site.key == dst_site.key:
        raise BadInput("SOURCE and DEST are the same database")
    timeout = config.lock_timeout()
    src_store = src_site.open_store(timeout, 2)
    # A DuckDB DEST is written as a hidden file beside it and linked into place once committed: a copy killed midway
    # leaves no half-made DEST behind.
    staging = (None if dst_site.database is None else
               dst_site.database.with_name(f".{dst_site.database.name}.copying-{os.getpid()}"))
    if dst_site.database is not None:
        _remove_stale_staging(dst_site.database)
    dst_store = (dst_site.open_store(timeout, 2) if staging is None else
                 Site.for_database(staging).open_store(timeout, 2))
    if src_site.database is not None and not src_site.database.exists():
        raise BadInput(f"no Countersign database at {src_site.name}")
    if not _empty(dst_site, dst_store):
        raise BadInput(f"DEST {dst_site.name} is not empty; 'store copy' only writes into an empty database "
                       "(nothing was copied)")
    try:
        with src_store.reader():
            pass
    except NeedsUpgrade as exc:
        if exc.version == 0:
            raise BadInput(f"no Countersign site in SOURCE {src_site.name} (nothing was copied)") from None
        raise BadInput(f"SOURCE {src_site.name} is at schema version {exc.version}, this Countersign writes "
                       f"{HEAD_VERSION}: open SOURCE once with this version (e.g. 'countersign verify') to upgrade it, "
                       "then copy (nothing was copied)") from None
    created: list[Path] = []
    tables: dict[str, int] = {}
    try:
        with src_store.held(), src_store.reader() as src:
            if src.schema_version() != HEAD_VERSION:
                raise BadInput(f"SOURCE {src_site.name} is at schema version {src.schema_version()}, this Countersign "
                               f"writes {HEAD_VERSION}: open SOURCE once with this version (e.g. 'countersign verify') "
                               "to upgrade it, then copy")
            size, root = _ledger_root(src)
            secret_from = _copy_secret(src_site, dst_site, created)
            artifacts = _copy_files(src_site, dst_site, created)
            with dst_store.transaction(create=True) as dst:
                now = utc_now()
                for migration in MIGRATIONS:  # DEST's schema (same tables, columns and keys), applied now
                    dst.apply_migration(migration, now)
                known = set(dst.table_names())
                for table in src.table_names():
                    if table not in known:
                        raise CountersignError(f"SOURCE has a table {table!r} this version does not know; nothing "
                                               "was copied")
                    if table == "schema_migrations":  # DEST's own record of when its schema was made
                        continue
                    columns = src.table_columns(table)
                    count = 0
                    for batch in src.table_batches(table):
                        dst.insert_rows(table, columns, batch)
                        count += len(batch)
                    tables[table] = count
                    if count:
                        say(f"{table}: {count} rows")
                dst_size, dst_root = _ledger_root(dst)
                if (dst_size, dst_root) != (size, root):
                    raise CountersignError(f"the copied ledger's Merkle root differs (SOURCE {size} entries, root "
                                           f"{root}; DEST {dst_size}, {dst_root}); nothing was copied")
                try:  # DEST must be able to sign: its secret unlocks the copied service key
                    load_service_signer(dst, dst_site)
                except StoreUnavailable as exc:
                    raise BadInput(f"DEST would be a site that cannot sign: {exc.message}. Run the copy with the "
                                   "secret SOURCE uses (e.g. without COUNTERSIGN_SERVICE_SECRET, so that SOURCE's "
                                   "secret file is copied); nothing was copied") from None
        if staging is not None and dst_site.database is not None:
            try:
                os.link(staging, dst_site.database)  # fails if DEST appeared meanwhile: never overwritten
            except FileExistsError:
                raise BadInput(f"DEST {dst_site.name} appeared while copying; nothing was copied") from None
            _remove_database_files(staging)
    except BaseException:
        if staging is not None:
            _remove_database_files(staging)
        for path in reversed(created):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
        raise
    return {"source": src_site.name, "dest": dst_site.name, "tables": tables, "ledger_size": size, "root": root,
            "artifacts": artifacts, "secret": secret_from, "seconds": round(time.monotonic() - started, 2)}
