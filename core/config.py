"""Where the database lives, how long to wait for it, and where the service secret comes from.

Resolution order for the database path: the explicit ``--db`` argument, else the ``COUNTERSIGN_DB`` environment
variable, else the documented default ``$XDG_DATA_HOME/countersign/countersign.duckdb`` (``XDG_DATA_HOME``
defaults to ``~/.local/share``).

The database may also be a PostgreSQL server: ``--db``/``COUNTERSIGN_DB`` set to a libpq URI
``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`` (the password may instead come from ``PGPASSWORD`` or
``~/.pgpass``, as libpq reads them); :func:`resolve_location` keeps such a URI as text.

The lock wait (seconds another process may hold the DuckDB file, or to get a PostgreSQL connection, before an
operation gives up) comes from ``COUNTERSIGN_LOCK_TIMEOUT`` (default 60); the most PostgreSQL connections one process
keeps open from ``COUNTERSIGN_PG_POOL_SIZE`` (default 4).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

DEFAULT_LOCK_TIMEOUT_S = 60.0


def default_db_path() -> Path:
    """The documented default database location (XDG data directory)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "countersign" / "countersign.duckdb"


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--db`` beats ``COUNTERSIGN_DB`` beats :func:`default_db_path`."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("COUNTERSIGN_DB")
    if env:
        return Path(env).expanduser()
    return default_db_path()


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
"""A URI scheme at the start of a database location (``postgresql:``, ``duckdb:`` …)."""


def resolve_location(explicit: str | os.PathLike[str] | None = None) -> str | Path:
    """Like :func:`resolve_db_path`, but a ``postgresql://`` (or ``postgres://``) URI stays a string."""
    from core.storage.site import is_server_uri

    chosen = explicit or os.environ.get("COUNTERSIGN_DB")
    if isinstance(chosen, str) and (scheme := _SCHEME.match(chosen.strip())):
        # A URI: its scheme in any case, spaces around it (a copied line, an env file) dropped. An unknown scheme is
        # refused without echoing the text (it may hold a password): DuckDB would read "NAME:" as an extension.
        name, rest = scheme.group(1).lower(), chosen.strip()[scheme.end():]
        if name in ("postgresql", "postgres") and rest.startswith("//"):
            return f"{name}:{rest}"
        if name == "duckdb" and rest.startswith("//"):
            return Path(rest.removeprefix("//")).expanduser()
        from core.errors import BadInput

        raise BadInput(f"unknown database scheme {name!r}: the database is postgresql://USER[:PASSWORD]@HOST[:PORT]/"
                       "DATABASE (or postgres://…), duckdb:///PATH, or a DuckDB file path (which may not start "
                       "with 'NAME:')")
    if isinstance(chosen, str) and ("://" in chosen or ("@" in chosen and ("//" in chosen or ":" in chosen))):
        # Not a URI this reads, yet shaped like one with credentials ("postgresql//user:pw@host/db", a look-alike
        # letter in the scheme): as a file path it would be printed and made into folders, password and all.
        from core.errors import BadInput

        raise BadInput("the database location looks like a server URI but is not one (it is not shown: it may hold "
                       "a password); write postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or a DuckDB file path "
                       "without '@'")
    if chosen and is_server_uri(chosen):
        return str(chosen)
    if isinstance(chosen, str) and re.search(r"(^|\s)(host|hostaddr|dbname|user|password|port)\s*=", chosen):
        from core.errors import BadInput

        raise BadInput("key=value connection strings are not accepted (and are never echoed); write the database "
                       "as a URI: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    return resolve_db_path(explicit)


def env_number(name: str, default: float, *, minimum: float, maximum: float, integer: bool = False) -> float:
    """A numeric setting from the environment variable ``name`` (``default`` when unset or empty), refused with
    :class:`core.errors.BadInput` naming the variable and its range when it is not a finite number in
    ``[minimum, maximum]`` (or not a whole number, with ``integer``)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and minimum <= value <= maximum):
        from core.errors import BadInput

        raise BadInput(f"{name} must be {kind} from {minimum:g} to {maximum:g}, got {raw[:40]!r}")
    return value


def pool_size() -> int:
    """The most PostgreSQL connections one process keeps open (``COUNTERSIGN_PG_POOL_SIZE``, default 4)."""
    raw = os.environ.get("COUNTERSIGN_PG_POOL_SIZE")
    if not raw:
        return 4
    if not re.fullmatch(r"[0-9]+", raw.strip()) or not 1 <= int(raw) <= 1000:
        from core.errors import BadInput

        raise BadInput(f"COUNTERSIGN_PG_POOL_SIZE must be a whole number from 1 to 1000, got {raw!r}")
    return int(raw)


def lock_timeout() -> float:
    """Seconds to wait for another process's lock on the database file (``COUNTERSIGN_LOCK_TIMEOUT``)."""
    raw = os.environ.get("COUNTERSIGN_LOCK_TIMEOUT")
    if not raw:
        return DEFAULT_LOCK_TIMEOUT_S
    try:
        value = float(raw)
        if not math.isfinite(value) or value < 0:
            raise ValueError(raw)
    except ValueError:
        from core.errors import BadInput

        raise BadInput(f"COUNTERSIGN_LOCK_TIMEOUT must be a number of seconds, 0 or more, got {raw!r}") from None
    return value
