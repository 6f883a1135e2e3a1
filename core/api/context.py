"""The plumbing every feature service receives: one site's store, its settings and ledger, and authorised
transactions.

:meth:`Context.act` is the one door for a governed operation: it opens a store transaction (a read for
:attr:`~core.identity.roles.Permission.READ`, else a write holding the ledger-append lock), authorises the acting
:class:`~core.identity.users.Session` against the one permission table (:mod:`core.identity.roles`) *inside* it, and
runs the operation, which appends its ledger entry in that same transaction. A refusal rolls everything back and
records only an ``access.denied`` entry, signed by the service key. Feature services (registry, lineage, governance,
releases, reports …) receive a ``Context`` and the other services they call, explicitly (see
:class:`core.api.countersign.Countersign`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from core import config
from core.display.words import role_words
from core.errors import PermissionDenied, SeparationOfDuties, StoreUnavailable
from core.identity.roles import PERMISSIONS, Permission, acting_role
from core.identity.users import Session
from core.ledger.chain import Event, Ledger, utc_now
from core.ledger.checkpoints import write_checkpoint
from core.ledger.service_key import SERVICE_OWNER, load_service_signer
from core.storage.contract import NeedsUpgrade, Store, Transaction as Tx
from core.storage.migrations import HEAD_VERSION, Migration
from core.storage.site import Site
from core.tlog.canonical import canonical_bytes

__all__ = ["DEFAULT_CHECKPOINT_INTERVAL", "PERMISSION_WORDS", "Context", "permission_words", "roles_in_words"]

T = TypeVar("T")

DEFAULT_CHECKPOINT_INTERVAL = 1000


class _Refused(Exception):
    def __init__(self, permission: Permission, needed: tuple[str, ...], held: list[str], subject: str) -> None:
        super().__init__(permission)
        self.permission, self.needed, self.held, self.subject = permission, needed, held, subject


class Context:
    """One Countersign site's database, opened per operation (safe to share a file among processes).

    ``db`` is a DuckDB file path or a ``postgresql://`` URI (:func:`core.config.resolve_location`). ``site`` names the
    site's locations (database, service secret, artifact store: :class:`core.storage.site.Site`); ``path`` is its
    database file (``None`` on a server); ``store`` the storage backend (:meth:`core.storage.site.Site.open_store`).
    """

    def __init__(self, db: str | os.PathLike[str] | None = None, *, lock_timeout: float | None = None) -> None:
        self.site = Site.for_uri(config.resolve_location(db))
        self.path: Path | None = self.site.database
        self.store: Store = self.site.open_store(config.lock_timeout() if lock_timeout is None else lock_timeout,
                                                 config.pool_size() if self.site.database is None else 4)
        self._settings: dict[str, str] | None = None
        self._ledger: Ledger | None = None

    def write(self, fn: Callable[[Tx], T]) -> T:
        try:
            with self.store.transaction() as tx:
                return fn(tx)
        except NeedsUpgrade:
            self.upgrade()
            with self.store.transaction() as tx:
                return fn(tx)

    def read(self, fn: Callable[[Tx], T]) -> T:
        try:
            with self.store.reader() as tx:
                return fn(tx)
        except NeedsUpgrade:
            self.upgrade()
            with self.store.reader() as tx:
                return fn(tx)

    def settings(self) -> dict[str, str]:
        if self._settings is None:
            self._settings = self.read(
                lambda tx: {k: tx.get_setting(k) or "" for k in ("origin", "checkpoint_interval", "created_at")}
            )
        return self._settings

    @property
    def origin(self) -> str:
        return self.settings()["origin"]

    def ledger(self) -> Ledger:
        if self._ledger is None:
            interval = int(self.settings().get("checkpoint_interval") or DEFAULT_CHECKPOINT_INTERVAL)
            self._ledger = Ledger(self.checkpoint_in, interval)
        return self._ledger

    def checkpoint_in(self, tx: Tx) -> dict[str, Any]:
        return write_checkpoint(tx, self.site, tx.get_setting("origin") or "")

    def authorize(self, tx: Tx, session: Session, permission: Permission, subject: str) -> str:
        held = tx.user_roles(session.name)
        role = acting_role(held, permission)
        if role is None:
            raise _Refused(permission, PERMISSIONS[permission], held, subject)
        return role

    def service_event(self, actor: str, event: Event) -> None:
        def record(tx: Tx) -> None:
            signer = load_service_signer(tx, self.site)
            self.ledger().append(tx, signer=signer, actor=actor, role=None, event=event)

        self.write(record)

    def act(
        self, session: Session, permission: Permission, subject: str, fn: Callable[[Tx, str], T]
    ) -> T:
        """Run ``fn(tx, acting_role)`` if ``session`` holds a role for ``permission``; record refusals."""
        run = self.read if permission is Permission.READ else self.write  # reads take no write lock
        try:
            return run(lambda tx: fn(tx, self.authorize(tx, session, permission, subject)))
        except SeparationOfDuties as refused:
            self.service_event(session.name, Event("access.denied", subject, {
                "permission": str(permission), "rule": refused.message}))
            raise
        except _Refused as refused:
            needed = " or ".join(refused.needed)
            self.service_event(
                session.name,
                Event(
                    "access.denied",
                    subject,
                    {
                        "permission": str(refused.permission),
                        "needed_roles": list(refused.needed),
                        "held_roles": refused.held,
                    },
                ),
            )
            raise PermissionDenied(
                f"{session.name} may not {permission_words(refused.permission)} ({subject}): the role {needed} is "
                f"needed ({roles_in_words(refused.needed)}); "
                f"{session.name} holds {', '.join(refused.held) or 'no role'}",
                refused.needed,
            ) from None

    def upgrade(self) -> bool:
        """Apply pending schema migrations, recorded as one ``schema.upgraded`` ledger event."""

        def record(tx: Tx, old: int, new: int, applied: list[Migration]) -> None:
            signer = load_service_signer(tx, self.site)
            origin = tx.get_setting("origin") or ""
            interval = int(tx.get_setting("checkpoint_interval") or DEFAULT_CHECKPOINT_INTERVAL)
            Ledger(lambda t: write_checkpoint(t, self.site, origin), interval).append(
                tx,
                signer=signer,
                actor=SERVICE_OWNER,
                role=None,
                event=Event(
                    "schema.upgraded",
                    f"schema:{new}",
                    {
                        "from_version": old,
                        "to_version": new,
                        "migrations": [{"version": m.version, "description": m.description} for m in applied],
                        **_lineage_renames(tx, applied),
                    },
                ),
            )

        try:
            return self.store.upgrade(record, utc_now)
        except StoreUnavailable as exc:  # e.g. a database user that may read but not change the schema
            raise StoreUnavailable(
                f"this site's schema must first be upgraded to version {HEAD_VERSION} (done automatically by the "
                f"first command of this Countersign version, with a database user that may change the schema), and "
                f"that failed: {exc.message}") from None


#: what each permission lets one do, in words (for refusals: never an internal id)
PERMISSION_WORDS: dict[Permission, str] = {
    Permission.USER_MANAGE: "manage users and roles",
    Permission.READ: "read the records",
    Permission.CHECKPOINT: "write a signed checkpoint",
    Permission.DATA_REGISTER: "register datasets",
    Permission.MODEL_REGISTER: "register models",
    Permission.DATASHEET_EDIT: "edit datasheets",
    Permission.CARD_EDIT: "edit model cards",
    Permission.LINEAGE_IMPORT: "import lineage",
    Permission.POLICY_MANAGE: "add policies",
    Permission.EVALUATE: "evaluate models",
    Permission.PROMOTE_REQUEST: "request promotions",
    Permission.APPROVE: "approve or reject promotion requests",
    Permission.WAIVE: "grant or revoke waivers",
    Permission.SUSPEND: "suspend models",
    Permission.POLICY_ASSIGN: "assign policies to models",
    Permission.MONITOR: "monitor models in production",
    Permission.REPORT: "export reports",
}



def permission_words(permission: Permission) -> str:
    """What ``permission`` lets one do, in words."""
    return PERMISSION_WORDS.get(permission, str(permission).replace(".", " "))


def roles_in_words(roles: tuple[str, ...] | list[str]) -> str:
    """``("ml_lead", "compliance_officer")`` -> ``"ML lead or compliance officer"``."""
    return " or ".join(role_words(r) for r in roles)


def _lineage_renames(tx: Tx, applied: list[Migration]) -> dict[str, Any]:
    """What migration 9 re-keyed (OpenLineage ids by (namespace, name)), for its ledger entry: the count, the SHA-256
    of the sorted ``[old, new]`` pairs (kept in ``lineage_id_renames``), and up to 100 pairs themselves."""
    if 9 not in [m.version for m in applied]:
        return {}
    pairs = [list(p) for p in tx.lineage_id_renames()]
    return {"lineage_ids_renamed": {"count": len(pairs), "sha256": hashlib.sha256(canonical_bytes(pairs)).hexdigest(),
                                    "pairs": pairs[:100]}}


