"""Where the database lives, how long to wait for it, and where the service secret comes from.

Resolution order for the database path: the explicit ``--db`` argument, else the ``COUNTERSIGN_DB`` environment
variable, else the documented default ``$XDG_DATA_HOME/countersign/countersign.duckdb`` (``XDG_DATA_HOME``
defaults to ``~/.local/share``).

The lock wait (seconds another process may hold the DuckDB file before an operation gives up) comes from
``COUNTERSIGN_LOCK_TIMEOUT`` (default 60).
"""

from __future__ import annotations

import os
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


def lock_timeout() -> float:
    """Seconds to wait for another process's lock on the database file (``COUNTERSIGN_LOCK_TIMEOUT``)."""
    raw = os.environ.get("COUNTERSIGN_LOCK_TIMEOUT")
    if not raw:
        return DEFAULT_LOCK_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        from core.errors import BadInput

        raise BadInput(f"COUNTERSIGN_LOCK_TIMEOUT must be a number of seconds, got {raw!r}") from None
    return max(0.0, value)
