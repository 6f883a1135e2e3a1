"""The public API of Countersign: every operation the CLI and the app perform goes through :class:`Countersign`.

Each state-changing method authorises the acting :class:`~core.identity.users.Session` against the permission table in
:mod:`core.identity.roles` *inside* the transaction that makes the change, and appends the ledger entry in that same
transaction. A refusal rolls the change back and records only an ``access.denied`` event (signed by the service key);
a failed login records only ``auth.failed``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from core import config
from core.api.inventory import InventoryAPI
from core.catalog.lineage import LineageAPI
from core.catalog.registry import RegistryAPI
from core.display.words import role_words
from core.errors import BadInput, NotAuthenticated, NotFound, PermissionDenied, SeparationOfDuties
from core.evidence.card_export import CardExportAPI
from core.evidence.report import ReportAPI
from core.identity import users as identity
from core.identity.roles import PERMISSIONS, Permission, Role, acting_role, exclusive_conflict, parse_role
from core.identity.users import Session
from core.inputs.limits import require_note
from core.ledger.chain import Event, Ledger, Signer, decode_row, utc_now
from core.ledger.checkpoints import write_checkpoint
from core.ledger.service_key import (
    SERVICE_OWNER,
    create_service_key,
    load_service_signer,
    provision_secret,
    secret_file_for,
    service_public_key,
    service_verifier_key,
)
from core.ledger.verify import VerifyReport, verify_ledger
from core.policy.governance import GovernanceAPI
from core.releases.promotions import ReleasesAPI
from core.storage.duckdb_store import DuckDBStore, NeedsUpgrade, Tx
from core.storage.migrations import HEAD_VERSION, MIGRATIONS, Migration
from core.tlog.canonical import canonical_bytes

T = TypeVar("T")

DEFAULT_CHECKPOINT_INTERVAL = 1000
VERIFY_CHUNK = 100_000


class _Refused(Exception):
    def __init__(self, permission: Permission, needed: tuple[str, ...], held: list[str], subject: str) -> None:
        super().__init__(permission)
        self.permission, self.needed, self.held, self.subject = permission, needed, held, subject


class Countersign(RegistryAPI, LineageAPI, GovernanceAPI, ReleasesAPI, InventoryAPI, ReportAPI,
                  CardExportAPI):
    """One Countersign database, opened per operation (safe to share a file among processes)."""

    def __init__(self, db: str | os.PathLike[str] | None = None, *, lock_timeout: float | None = None) -> None:
        self.path = config.resolve_db_path(db)
        self.store = DuckDBStore(self.path, config.lock_timeout() if lock_timeout is None else lock_timeout)
        self._settings: dict[str, str] | None = None
        self._ledger: Ledger | None = None

    # ---------------------------------------------------------------------------------------------- plumbing
    def _write(self, fn: Callable[[Tx], T]) -> T:
        try:
            with self.store.transaction() as tx:
                return fn(tx)
        except NeedsUpgrade:
            self.upgrade()
            with self.store.transaction() as tx:
                return fn(tx)

    def _read(self, fn: Callable[[Tx], T]) -> T:
        try:
            with self.store.reader() as tx:
                return fn(tx)
        except NeedsUpgrade:
            self.upgrade()
            with self.store.reader() as tx:
                return fn(tx)

    def settings(self) -> dict[str, str]:
        if self._settings is None:
            self._settings = self._read(
                lambda tx: {k: tx.get_setting(k) or "" for k in ("origin", "checkpoint_interval", "created_at")}
            )
        return self._settings

    @property
    def origin(self) -> str:
        return self.settings()["origin"]

    def ledger(self) -> Ledger:
        if self._ledger is None:
            interval = int(self.settings().get("checkpoint_interval") or DEFAULT_CHECKPOINT_INTERVAL)
            self._ledger = Ledger(self._checkpoint_in, interval)
        return self._ledger

    def _checkpoint_in(self, tx: Tx) -> dict[str, Any]:
        return write_checkpoint(tx, self.path, tx.get_setting("origin") or "")

    def _authorize(self, tx: Tx, session: Session, permission: Permission, subject: str) -> str:
        held = tx.user_roles(session.name)
        role = acting_role(held, permission)
        if role is None:
            raise _Refused(permission, PERMISSIONS[permission], held, subject)
        return role

    def _service_event(self, actor: str, event: Event) -> None:
        def record(tx: Tx) -> None:
            signer = load_service_signer(tx, self.path)
            self.ledger().append(tx, signer=signer, actor=actor, role=None, event=event)

        self._write(record)

    def _act(
        self, session: Session, permission: Permission, subject: str, fn: Callable[[Tx, str], T]
    ) -> T:
        """Run ``fn(tx, acting_role)`` if ``session`` holds a role for ``permission``; record refusals."""
        run = self._read if permission is Permission.READ else self._write  # reads take no write lock
        try:
            return run(lambda tx: fn(tx, self._authorize(tx, session, permission, subject)))
        except SeparationOfDuties as refused:
            self._service_event(session.name, Event("access.denied", subject, {
                "permission": str(permission), "rule": refused.message}))
            raise
        except _Refused as refused:
            needed = " or ".join(refused.needed)
            self._service_event(
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

    # ---------------------------------------------------------------------------------------------- lifecycle
    @classmethod
    def init(
        cls,
        db: str | os.PathLike[str] | None,
        *,
        admin: str,
        password: str,
        origin: str | None = None,
        checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL,
        lock_timeout: float | None = None,
    ) -> Countersign:
        """Create a new database with its service key and first admin. Refuses an existing database."""
        cs = cls(db, lock_timeout=lock_timeout)
        identity.validate_username(admin)
        identity.validate_password(password)
        if checkpoint_interval < 1:
            raise BadInput("checkpoint interval must be at least 1")
        if cs.path.exists():
            raise BadInput(f"a database already exists at {cs.path}; 'countersign init' never touches one")
        origin = origin or f"countersign.local/{os.urandom(6).hex()}"
        secret_existed = secret_file_for(cs.path).exists()
        admin_key = identity.new_key(admin, password)
        try:
            secret = provision_secret(cs.path)
            with cs.store.transaction(create=True) as tx:
                now = utc_now()
                for migration in MIGRATIONS:
                    tx.apply_migration(migration, now)
                tx.put_setting("origin", origin)
                tx.put_setting("checkpoint_interval", str(checkpoint_interval))
                tx.put_setting("created_at", now)
                service = create_service_key(tx, secret)
                service_pub = service_public_key(tx)[1]
                ledger = Ledger(lambda t: write_checkpoint(t, cs.path, origin), checkpoint_interval)
                genesis = ledger.append(
                    tx,
                    signer=service,
                    actor=SERVICE_OWNER,
                    role=None,
                    event=Event(
                        "ledger.initialized",
                        f"ledger:{origin}",
                        {
                            "origin": origin,
                            "schema_version": HEAD_VERSION,
                            "checkpoint_interval": checkpoint_interval,
                            "service_key_id": service.key_id,
                            "service_public_key": _b64(service_pub),
                            "service_verifier_key": service_verifier_key(origin, service_pub),
                            "bootstrap_admin": admin,
                        },
                    ),
                )
                tx.insert_public_key(service.key_id, SERVICE_OWNER, service_pub, genesis.seq)
                admin_signer = Signer(admin_key.key_id, admin_key.private_key)
                row = ledger.append(
                    tx,
                    signer=admin_signer,
                    actor=admin,
                    role=Role.ADMIN,
                    event=Event("user.added", f"user:{admin}", {
                        "name": admin, "roles": [Role.ADMIN.value], **admin_key.payload(admin),
                    }),
                )
                _store_user(tx, admin, [Role.ADMIN.value], admin_key, row.seq, row.ts, valid_from=row.seq)
                write_checkpoint(tx, cs.path, origin)
        except BaseException:
            for leftover in (cs.path, cs.path.with_name(cs.path.name + ".wal")):
                leftover.unlink(missing_ok=True)
            if not secret_existed:
                secret_file_for(cs.path).unlink(missing_ok=True)
            raise
        return cs

    def upgrade(self) -> bool:
        """Apply pending schema migrations, recorded as one ``schema.upgraded`` ledger event."""

        def record(tx: Tx, old: int, new: int, applied: list[Migration]) -> None:
            signer = load_service_signer(tx, self.path)
            origin = tx.get_setting("origin") or ""
            interval = int(tx.get_setting("checkpoint_interval") or DEFAULT_CHECKPOINT_INTERVAL)
            Ledger(lambda t: write_checkpoint(t, self.path, origin), interval).append(
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

        return self.store.upgrade(record, utc_now)

    # ---------------------------------------------------------------------------------------------- identity
    def login(self, name: str, password: str) -> Session:
        """Authenticate; a failure is recorded as ``auth.failed`` and raises :class:`NotAuthenticated`."""

        def fetch(tx: Tx) -> tuple[dict[str, Any] | None, list[str], dict[str, Any] | None]:
            if not tx.user_exists(name):
                return None, [], None
            return tx.get_credentials(name), tx.user_roles(name), tx.user_deactivations(name).get(name)

        cred, roles, deactivated = self._read(fetch)
        if deactivated is not None:
            self._service_event(name, Event("auth.failed", f"user:{name}", {"reason": "deactivated user"}))
            raise NotAuthenticated(f"{name!r} was deactivated on {_shown_time(deactivated['ts'])} by "
                                   f"{deactivated['by']} and can no longer sign in")
        if cred is None and roles:
            raise NotAuthenticated(f"{name!r} has not enrolled yet: redeem the enrolment code with "
                                   "'countersign user enroll' to choose a password")
        session = identity.open_session(name, cred, roles, password) if cred else None
        if session is None:
            reason = "wrong password" if cred else "unknown user"
            if identity.USERNAME_RE.fullmatch(name or ""):
                self._service_event(name, Event("auth.failed", f"user:{name}", {"reason": reason}))
            else:  # not a possible user name (spaces, capitals, controls): never shown as if it were an actor
                self._service_event("@invalid-name", Event("auth.failed", "user:@invalid-name",
                                                           {"reason": "not a valid user name", "attempted": name}))
            raise NotAuthenticated(f"authentication failed for {name!r}: unknown user or wrong password")
        return session

    def add_user(self, session: Session, name: str, roles: list[str]) -> dict[str, Any]:
        """Create an account (admins) and return its one-time enrolment code; the admin never sets a password.

        The new user redeems the code with :meth:`enroll`, choosing their own password; their key pair is created
        then and registered by an entry the new key signs itself. Until then the account cannot sign in or act.
        The code is shown once, stored only as its SHA-256, and expires after ``COUNTERSIGN_ENROLMENT_HOURS``
        (default 72).
        """
        identity.validate_username(name)
        roles = identity.validate_roles(roles)
        conflict = exclusive_conflict(roles)
        if conflict:
            raise SeparationOfDuties(f"user {name!r}: {conflict}")
        code, code_sha, expires = _new_enrolment_code()

        def add(tx: Tx, role: str) -> dict[str, Any]:
            if tx.user_exists(name):
                raise BadInput(f"user {name!r} already exists")
            row = self.ledger().append(
                tx, signer=session.signer, actor=session.name, role=role,
                event=Event("user.added", f"user:{name}", {"name": name, "roles": roles,
                                                            "enrolment_expires_at": expires}))
            tx.insert_user(name, row.ts, row.seq)
            for r in roles:
                tx.add_role(name, r)
            tx.put_enrolment(name, code_sha, expires, session.name, row.seq)
            return {"name": name, "roles": roles, "enrolment_code": code, "enrolment_expires_at": expires,
                    "seq": row.seq}

        return self._act(session, Permission.USER_MANAGE, f"user:{name}", add)

    def reissue_enrolment(self, session: Session, name: str) -> dict[str, Any]:
        """A new enrolment code for an account that has not enrolled yet (the old code stops working)."""
        code, code_sha, expires = _new_enrolment_code()

        def reissue(tx: Tx, role: str) -> dict[str, Any]:
            _existing_roles(tx, name)
            _refuse_deactivated(tx, name)
            if tx.get_credentials(name) is not None:
                raise BadInput(f"user {name!r} has already enrolled; they change their own password")
            row = self.ledger().append(
                tx, signer=session.signer, actor=session.name, role=role,
                event=Event("user.enrolment_reissued", f"user:{name}", {"name": name,
                                                                         "enrolment_expires_at": expires}))
            tx.put_enrolment(name, code_sha, expires, session.name, row.seq)
            return {"name": name, "enrolment_code": code, "enrolment_expires_at": expires, "seq": row.seq}

        return self._act(session, Permission.USER_MANAGE, f"user:{name}", reissue)

    def enroll(self, name: str, code: str, password: str) -> Session:
        """Redeem an enrolment code: choose a password, create the key pair, register it (signed by itself)."""
        identity.validate_password(password)
        offered = hashlib.sha256(code.strip().encode("utf-8")).hexdigest()

        def check(tx: Tx) -> dict[str, Any] | None:
            pending = tx.get_enrolment(name) if tx.user_exists(name) else None
            return pending

        pending = self._read(check)
        valid = (pending is not None and hmac.compare_digest(pending["code_sha256"], offered)
                 and pending["expires_at"] > utc_now())
        if not valid:
            reason = "no pending enrolment" if pending is None else (
                "expired enrolment code" if pending["expires_at"] <= utc_now() else "wrong enrolment code")
            self._service_event(name, Event("auth.failed", f"user:{name}", {"reason": reason}))
            raise NotAuthenticated(f"enrolment failed for {name!r}: no pending enrolment, or a wrong or expired code "
                                   "(an admin can issue a new one with 'user reissue')")
        key = identity.new_key(name, password)
        signer = Signer(key.key_id, key.private_key)

        def enrol(tx: Tx) -> list[str]:
            current = tx.get_enrolment(name)
            if current is None or current["code_sha256"] != offered or tx.get_credentials(name) is not None:
                raise NotAuthenticated(f"enrolment failed for {name!r}: the code was used or replaced meanwhile")
            row = self.ledger().append(tx, signer=signer, actor=name, role=None, event=Event(
                "user.enrolled", f"user:{name}", {"name": name, **key.payload(name)}))
            tx.put_credentials(name, key.credentials)
            tx.insert_public_key(key.key_id, name, key.public_key, row.seq)
            tx.delete_enrolment(name)
            return tx.user_roles(name)

        roles = self._write(enrol)
        return Session(name, tuple(roles), signer)

    def grant(self, session: Session, name: str, role: str) -> dict[str, Any]:
        role = parse_role(role)

        def grant(tx: Tx, acting: str) -> dict[str, Any]:
            held = _existing_roles(tx, name)
            if name == session.name:
                raise SeparationOfDuties(f"{session.name} may not grant a role to themselves (separation of duties)")
            _refuse_deactivated(tx, name)
            if role in held:
                raise BadInput(f"user {name!r} already has the role {role}")
            conflict = exclusive_conflict([*held, role])
            if conflict:
                raise SeparationOfDuties(f"user {name!r} holds {', '.join(held)}: {conflict}")
            row = self.ledger().append(
                tx, signer=session.signer, actor=session.name, role=acting,
                event=Event("user.role_granted", f"user:{name}", {"name": name, "role": role}),
            )
            tx.add_role(name, role)
            return {"name": name, "roles": sorted([*held, role]), "seq": row.seq}

        return self._act(session, Permission.USER_MANAGE, f"user:{name}", grant)

    def revoke(self, session: Session, name: str, role: str) -> dict[str, Any]:
        role = parse_role(role)

        def revoke(tx: Tx, acting: str) -> dict[str, Any]:
            held = _existing_roles(tx, name)
            if name == session.name:
                raise SeparationOfDuties(f"{session.name} may not revoke their own roles (separation of duties)")
            if role not in held:
                raise BadInput(f"user {name!r} does not have the role {role}")
            if role == Role.ADMIN and sum(Role.ADMIN in u["roles"] for u in tx.list_users()) == 1:
                raise BadInput(f"{name!r} is the last admin; grant admin to someone else first")
            row = self.ledger().append(
                tx, signer=session.signer, actor=session.name, role=acting,
                event=Event("user.role_revoked", f"user:{name}", {"name": name, "role": role}),
            )
            tx.remove_role(name, role)
            return {"name": name, "roles": [r for r in held if r != role], "seq": row.seq}

        return self._act(session, Permission.USER_MANAGE, f"user:{name}", revoke)

    def change_password(self, session: Session, new_password: str) -> dict[str, Any]:
        """Re-seal the caller's own key under a new password (the key itself is unchanged)."""
        identity.validate_password(new_password)
        cred = identity.reseal(session.name, session.signer.private_key, new_password)

        def change(tx: Tx) -> dict[str, Any]:
            _existing_roles(tx, session.name)
            _refuse_deactivated(tx, session.name)
            row = self.ledger().append(
                tx, signer=session.signer, actor=session.name, role=None,
                event=Event("user.password_changed", f"user:{session.name}",
                            {"name": session.name, "key_id": session.signer.key_id}),
            )
            tx.put_credentials(session.name, cred)
            return {"name": session.name, "seq": row.seq}

        return self._write(change)

    def rotate_key(self, session: Session, password: str) -> tuple[Session, dict[str, Any]]:
        """Replace the caller's key pair; the rotation entry is signed by the old key and proves the new one."""
        key = identity.new_key(session.name, password)

        def rotate(tx: Tx) -> dict[str, Any]:
            _existing_roles(tx, session.name)
            _refuse_deactivated(tx, session.name)
            row = self.ledger().append(
                tx, signer=session.signer, actor=session.name, role=None,
                event=Event("user.key_rotated", f"user:{session.name}",
                            {"name": session.name, "previous_key_id": session.signer.key_id,
                             **key.payload(session.name)}),
            )
            tx.put_credentials(session.name, key.credentials)
            tx.insert_public_key(key.key_id, session.name, key.public_key, row.seq + 1)
            return {"name": session.name, "key_id": key.key_id, "previous_key_id": session.signer.key_id,
                    "seq": row.seq}

        result = self._write(rotate)
        return Session(session.name, session.roles, Signer(key.key_id, key.private_key)), result

    def deactivate_user(self, session: Session, name: str, reason: str) -> dict[str, Any]:
        """Deactivate an account for good (admins): one ``user.deactivated`` entry, in the same transaction as the
        change, records the roles it held and why. The account keeps its name and its public keys (every signature
        it made stays valid), but loses its roles (so its approvals of open requests lapse, as when an approver loses
        a role), its sealed private key and any pending enrolment: it can never sign in or sign again. Refused for
        oneself, for the last admin, and for an account already deactivated."""
        reason = require_note((reason or "").strip(), "a reason is required: say why this account is deactivated",
                              "the reason")

        def deactivate(tx: Tx, acting: str) -> dict[str, Any]:
            held = _existing_roles(tx, name)
            if name == session.name:
                raise SeparationOfDuties(f"{session.name} may not deactivate their own account (separation of "
                                         "duties)")
            _refuse_deactivated(tx, name)
            if Role.ADMIN in held and sum(Role.ADMIN in u["roles"] for u in tx.list_users()) == 1:
                raise BadInput(f"{name!r} is the last admin; grant admin to someone else first")
            row = self.ledger().append(
                tx, signer=session.signer, actor=session.name, role=acting,
                event=Event("user.deactivated", f"user:{name}", {"name": name, "roles": held, "reason": reason}),
            )
            for role in held:
                tx.remove_role(name, role)
            tx.delete_credentials(name)
            tx.delete_enrolment(name)
            return {"name": name, "roles_removed": held, "reason": reason, "seq": row.seq, "ts": row.ts}

        return self._act(session, Permission.USER_MANAGE, f"user:{name}", deactivate)

    def users(self, session: Session) -> list[dict[str, Any]]:
        """Every account with its roles, whether it has enrolled, and whether (and when, by whom, why) it was
        deactivated (``active`` false)."""

        def listing(tx: Tx, _role: str) -> list[dict[str, Any]]:
            gone = tx.user_deactivations()
            return [{**u, "active": u["name"] not in gone, "deactivated": gone.get(u["name"])}
                    for u in tx.list_users()]

        return self._act(session, Permission.READ, "users", listing)

    # ---------------------------------------------------------------------------------------------- ledger
    def log(
        self,
        session: Session,
        *,
        limit: int = 50,
        offset: int = 0,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        """Ledger entries, newest first, filtered (see :meth:`Tx.ledger_search`): ``actor`` is a whole user name,
        any case; ``action`` whole dotted segments (``promotion`` finds ``promotion.requested``), any case;
        ``subject`` exact; a trailing ``*`` makes any of them a plain prefix. ``since``/``until`` are ISO 8601 dates
        or times in UTC (see :func:`parse_log_time`); a bad one is refused (:class:`BadInput`) before anything is
        read, never taken as "no entries"."""
        if limit < 1:
            raise BadInput("the page size (limit) must be at least 1")
        if offset < 0:
            raise BadInput("the offset must not be negative")
        start = parse_log_time(since, "since") if since else None
        end = parse_log_time(until, "until", end=True) if until else None
        if start is not None and end is not None and start > end:
            raise BadInput(f"since {since!r} is later than until {until!r}: no moment is in between")
        actor, action, subject = (_filter_text(v) for v in (actor, action, subject))

        def page(tx: Tx, _role: str) -> list[dict[str, Any]]:
            rows = tx.ledger_search(limit=limit, offset=offset, actor=actor, action=action, subject=subject,
                                    since=start, until=end)
            return [decode_row(r) for r in rows]

        return self._act(session, Permission.READ, "ledger", page)

    def log_entry(self, session: Session, seq: int) -> dict[str, Any]:
        """One ledger entry, whole: its payload, hashes, signing key and signature."""
        try:
            number = int(seq)
        except (TypeError, ValueError):
            raise BadInput(f"{seq!r} is not a ledger entry number (a whole number, 0 or more)") from None
        if number < 0:
            raise BadInput(f"{seq!r} is not a ledger entry number (a whole number, 0 or more)")

        def entry(tx: Tx, _role: str) -> dict[str, Any]:
            row = tx.ledger_entry(number)
            if row is None:
                raise NotFound(f"no ledger entry {number} (the ledger has {(tx.ledger_max_seq() or -1) + 1} "
                               "entries, numbered from 0)")
            return decode_row(row)

        return self._act(session, Permission.READ, f"ledger:{number}", entry)

    def checkpoint(self, session: Session) -> dict[str, Any]:
        """Write (or return the existing) signed checkpoint at the current ledger size."""
        return self._act(
            session, Permission.CHECKPOINT, "ledger",
            lambda tx, _role: write_checkpoint(tx, self.path, self.origin),
        )

    def latest_checkpoint(self) -> dict[str, Any] | None:
        return self._read(lambda tx: tx.latest_checkpoint())

    def keys(self) -> dict[str, Any]:
        """Public verification material: the service's C2SP verifier key and every user key ever registered."""

        def collect(tx: Tx) -> dict[str, Any]:
            origin = tx.get_setting("origin") or ""
            key_id, pub = service_public_key(tx)
            users = [
                {"owner": k["owner"], "key_id": k["key_id"], "public_key": _b64(k["public_key"]),
                 "valid_from_seq": k["valid_from_seq"]}
                for k in tx.public_keys() if k["owner"] != SERVICE_OWNER
            ]
            return {
                "origin": origin,
                "service": {"key_id": key_id, "public_key": _b64(pub),
                            "verifier_key": service_verifier_key(origin, pub)},
                "users": users,
            }

        return self._read(collect)

    def verify(self, checkpoint_note: str | None = None, jobs: int | None = None,
               chunk_size: int = VERIFY_CHUNK) -> VerifyReport:
        """Full verification of the ledger (see :mod:`core.ledger.verify`).

        Reads a consistent snapshot (the size and checkpoints as of the start) in chunks of ``chunk_size`` rows,
        each in its own short read, so other processes can keep writing while a large ledger is verified.
        """
        def start(tx: Tx) -> tuple[int | None, list[dict[str, Any]], str]:
            return tx.ledger_max_seq(), tx.checkpoints(), tx.get_setting("origin") or ""

        upto, checkpoints, origin = self._read(start)

        def chunks() -> Iterator[dict[str, list[Any]]]:
            """Consecutive seq ranges of ``chunk_size`` up to ``upto``; a gap (deleted rows) is stepped over."""
            if upto is None:
                return
            after: int | None = None
            while True:
                end = min(upto, (-1 if after is None else after) + chunk_size)
                cols = self._read(lambda tx, after=after, end=end: tx.ledger_chunk(after, end))
                if cols["seq"]:
                    yield cols
                if end >= upto:
                    return
                after = end
                if not cols["seq"]:
                    following = self._read(lambda tx, after=after: tx.ledger_next_seq(after, upto))
                    if following is None:
                        return
                    after = following - 1

        return verify_ledger(chunks(), checkpoints, origin, external_checkpoint=checkpoint_note, jobs=jobs)


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode("ascii")


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


_LOG_TIME_HINT = "give an ISO 8601 date or time in UTC, e.g. 2026-11-01, 2026-11-01T14:30 or 2026-11-01T14:30:00Z"


def parse_log_time(text: str, label: str, *, end: bool = False) -> str:
    """An ISO 8601 date or time (UTC unless it names an offset) as a ledger timestamp, for ``since``/``until``
    filters; ``label`` names the field in the error (``since``, or ``--since`` on the command line).

    ``end=True`` (an upper bound) extends a value to the end of what it names: a date to 23:59:59.999999, a time
    without seconds to the end of its minute, whole seconds to the end of that second — so ``until 2026-12-31``
    includes the whole of 31 December. Anything else (``yesterday``, ``2026-13-45``) raises :class:`BadInput`
    naming the value."""
    raw = (text or "").strip()
    try:
        if not raw or not raw[:1].isdigit():
            raise ValueError(raw)
        moment = datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{label} {text!r} is not a date or time: {_LOG_TIME_HINT}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if end:
        parts = re.split(r"[T ]", raw, maxsplit=1)
        clock = re.split(r"[Z+-]", parts[1])[0] if len(parts) == 2 else ""
        digits = len(clock.replace(":", ""))
        step = (timedelta(days=1) if not clock else timedelta(0) if "." in clock or "," in clock
                else timedelta(hours=1) if digits <= 2 else timedelta(minutes=1) if digits <= 4
                else timedelta(seconds=1))
        if step:
            moment += step - timedelta(microseconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _filter_text(value: str | None) -> str | None:
    """A filter as typed, trimmed; empty means no filter."""
    value = (value or "").strip()
    return value or None


def _shown_time(ts: str) -> str:
    """A ledger timestamp to the second, in UTC: ``2026-11-01 14:30:05 UTC``."""
    return f"{ts[:10]} {ts[11:19]} UTC" if len(ts) >= 19 else ts


def _refuse_deactivated(tx: Tx, name: str) -> None:
    gone = tx.user_deactivations(name).get(name)
    if gone is not None:
        raise BadInput(f"{name!r} was deactivated on {_shown_time(gone['ts'])} by {gone['by']}; a deactivated "
                       "account stays deactivated (add a new account under another name)")


def _existing_roles(tx: Tx, name: str) -> list[str]:
    if not tx.user_exists(name):
        raise BadInput(f"no user named {name!r}")
    return tx.user_roles(name)


def _store_user(
    tx: Tx, name: str, roles: list[str], key: identity.NewKey, seq: int, ts: str, *, valid_from: int
) -> None:
    tx.insert_user(name, ts, seq)
    for role in roles:
        tx.add_role(name, role)
    tx.put_credentials(name, key.credentials)
    tx.insert_public_key(key.key_id, name, key.public_key, valid_from)


def database_path(db: str | os.PathLike[str] | None) -> Path:
    return config.resolve_db_path(db)


def _lineage_renames(tx: Tx, applied: list[Migration]) -> dict[str, Any]:
    """What migration 9 re-keyed (OpenLineage ids by (namespace, name)), for its ledger entry: the count, the SHA-256
    of the sorted ``[old, new]`` pairs (kept in ``lineage_id_renames``), and up to 100 pairs themselves."""
    if 9 not in [m.version for m in applied]:
        return {}
    pairs = [list(p) for p in tx.lineage_id_renames()]
    return {"lineage_ids_renamed": {"count": len(pairs), "sha256": hashlib.sha256(canonical_bytes(pairs)).hexdigest(),
                                    "pairs": pairs[:100]}}


def _new_enrolment_code() -> tuple[str, str, str]:
    """``(code, sha256 of the code, expiry)``: 128 random bits in base32, shown once."""
    code = base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")
    hours = float(os.environ.get("COUNTERSIGN_ENROLMENT_HOURS", "72"))
    expires = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return code, hashlib.sha256(code.encode("utf-8")).hexdigest(), expires
