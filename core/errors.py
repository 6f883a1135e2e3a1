"""Error types that carry the CLI exit code they map to.

Exit codes, everywhere (CLI and scripts):

* 0 — ok
* 1 — a check failed (ledger verification failed; later: a policy failed)
* 2 — bad usage or bad input; nothing was written
* 3 — not authenticated or not permitted; nothing but the refusal event was written
* 4 — the database could not be used (busy beyond the lock timeout, or unreadable); nothing was written
* 70 — an unexpected failure (a bug; the CLI prints its traceback)
* 130 — interrupted (Ctrl-C)
"""

from __future__ import annotations


class CountersignError(Exception):
    """Base class: a user-facing error with a clear message and an exit code."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(CountersignError):
    """The request itself is wrong (unknown user, malformed value, existing database...)."""

    exit_code = 2


class SiteExists(BadInput):
    """``init`` (or ``store copy``) met a database that already holds a Countersign site: it is left untouched."""


class NotFound(BadInput):
    """A referenced object does not exist."""


class NotAuthenticated(CountersignError):
    """Unknown user or wrong password."""

    exit_code = 3


class PermissionDenied(CountersignError):
    """The authenticated user lacks the role an action needs."""

    exit_code = 3

    def __init__(self, message: str, needed_roles: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.needed_roles = needed_roles


class CheckFailed(CountersignError):
    """A verification or policy check failed."""

    exit_code = 1


class StoreUnavailable(CountersignError):
    """The database is locked by another process beyond the wait limit, or cannot be opened."""

    exit_code = 4


class SchemaTooNew(StoreUnavailable):
    """The database was written by a newer Countersign than this one."""


class SeparationOfDuties(PermissionDenied):
    """The user holds a suitable role but a separation-of-duties rule forbids this action (recorded as a refusal)."""


def first_line(exc: BaseException) -> str:
    """The first line of an engine's or driver's error (their messages go on with hints, candidates and context), or
    the exception's type name when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
