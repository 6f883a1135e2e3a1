"""Accounts: signing in, enrolment, roles, passwords, key rotation and deactivation.

Every change is a ledger entry in the transaction that makes it: ``user.added`` (an admin, with a one-time enrolment
code), ``user.enrolled`` (signed by the new key itself, proving possession), ``user.role_granted`` /
``user.role_revoked``, ``user.password_changed``, ``user.key_rotated`` (signed by the old key, proving the new one) and
``user.deactivated``. Nobody changes their own roles or deactivates themselves (separation of duties); the last admin
stays. A failed sign-in is recorded as ``auth.failed``, signed by the service key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from core import config
from core.api.context import Context
from core.errors import BadInput, NotAuthenticated, SeparationOfDuties
from core.identity import users as identity
from core.identity.roles import Permission, Role, exclusive_conflict, parse_role
from core.identity.users import Session
from core.inputs.limits import require_note
from core.ledger.chain import Event, Signer, utc_now
from core.storage.contract import Transaction as Tx

__all__ = ["AccountService", "store_user"]


class AccountService:
    """Users and their keys, over one :class:`~core.api.context.Context`."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def login(self, name: str, password: str) -> Session:
        """Authenticate; a failure is recorded as ``auth.failed`` and raises :class:`NotAuthenticated`."""

        def fetch(tx: Tx) -> tuple[dict[str, Any] | None, list[str], dict[str, Any] | None]:
            if not tx.user_exists(name):
                return None, [], None
            return tx.get_credentials(name), tx.user_roles(name), tx.user_deactivations(name).get(name)

        cred, roles, deactivated = self._ctx.read(fetch)
        if deactivated is not None:
            self._ctx.service_event(name, Event("auth.failed", f"user:{name}", {"reason": "deactivated user"}))
            raise NotAuthenticated(f"{name!r} was deactivated on {_shown_time(deactivated['ts'])} by "
                                   f"{deactivated['by']} and can no longer sign in")
        if cred is None and roles:
            raise NotAuthenticated(f"{name!r} has not enrolled yet: redeem the enrolment code with "
                                   "'countersign user enroll' to choose a password")
        session = identity.open_session(name, cred, roles, password) if cred else None
        if session is None:
            reason = "wrong password" if cred else "unknown user"
            if identity.USERNAME_RE.fullmatch(name or ""):
                self._ctx.service_event(name, Event("auth.failed", f"user:{name}", {"reason": reason}))
            else:  # not a possible user name (spaces, capitals, controls): never shown as if it were an actor
                self._ctx.service_event("@invalid-name", Event("auth.failed", "user:@invalid-name",
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
            row = self._ctx.ledger().append(
                tx, signer=session.signer, actor=session.name, role=role,
                event=Event("user.added", f"user:{name}", {"name": name, "roles": roles,
                                                           "enrolment_expires_at": expires}))
            tx.insert_user(name, row.ts, row.seq)
            for r in roles:
                tx.add_role(name, r)
            tx.put_enrolment(name, code_sha, expires, session.name, row.seq)
            return {"name": name, "roles": roles, "enrolment_code": code, "enrolment_expires_at": expires,
                    "seq": row.seq}

        return self._ctx.act(session, Permission.USER_MANAGE, f"user:{name}", add)

    def reissue_enrolment(self, session: Session, name: str) -> dict[str, Any]:
        """A new enrolment code for an account that has not enrolled yet (the old code stops working)."""
        code, code_sha, expires = _new_enrolment_code()

        def reissue(tx: Tx, role: str) -> dict[str, Any]:
            _existing_roles(tx, name)
            _refuse_deactivated(tx, name)
            if tx.get_credentials(name) is not None:
                raise BadInput(f"user {name!r} has already enrolled; they change their own password")
            row = self._ctx.ledger().append(
                tx, signer=session.signer, actor=session.name, role=role,
                event=Event("user.enrolment_reissued", f"user:{name}", {"name": name,
                                                                        "enrolment_expires_at": expires}))
            tx.put_enrolment(name, code_sha, expires, session.name, row.seq)
            return {"name": name, "enrolment_code": code, "enrolment_expires_at": expires, "seq": row.seq}

        return self._ctx.act(session, Permission.USER_MANAGE, f"user:{name}", reissue)

    def enroll(self, name: str, code: str, password: str) -> Session:
        """Redeem an enrolment code: choose a password, create the key pair, register it (signed by itself)."""
        identity.validate_password(password)
        offered = hashlib.sha256(code.strip().encode("utf-8")).hexdigest()

        def check(tx: Tx) -> dict[str, Any] | None:
            pending = tx.get_enrolment(name) if tx.user_exists(name) else None
            return pending

        pending = self._ctx.read(check)
        valid = (pending is not None and hmac.compare_digest(pending["code_sha256"], offered)
                 and pending["expires_at"] > utc_now())
        if not valid:
            reason = "no pending enrolment" if pending is None else (
                "expired enrolment code" if pending["expires_at"] <= utc_now() else "wrong enrolment code")
            self._ctx.service_event(name, Event("auth.failed", f"user:{name}", {"reason": reason}))
            raise NotAuthenticated(f"enrolment failed for {name!r}: no pending enrolment, or a wrong or expired code "
                                   "(an admin can issue a new one with 'user reissue')")
        key = identity.new_key(name, password)
        signer = Signer(key.key_id, key.private_key)

        def enrol(tx: Tx) -> list[str]:
            current = tx.get_enrolment(name)
            if current is None or current["code_sha256"] != offered or tx.get_credentials(name) is not None:
                raise NotAuthenticated(f"enrolment failed for {name!r}: the code was used or replaced meanwhile")
            row = self._ctx.ledger().append(tx, signer=signer, actor=name, role=None, event=Event(
                "user.enrolled", f"user:{name}", {"name": name, **key.payload(name)}))
            tx.put_credentials(name, key.credentials)
            tx.insert_public_key(key.key_id, name, key.public_key, row.seq)
            tx.delete_enrolment(name)
            return tx.user_roles(name)

        roles = self._ctx.write(enrol)
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
            row = self._ctx.ledger().append(
                tx, signer=session.signer, actor=session.name, role=acting,
                event=Event("user.role_granted", f"user:{name}", {"name": name, "role": role}),
            )
            tx.add_role(name, role)
            return {"name": name, "roles": sorted([*held, role]), "seq": row.seq}

        return self._ctx.act(session, Permission.USER_MANAGE, f"user:{name}", grant)

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
            row = self._ctx.ledger().append(
                tx, signer=session.signer, actor=session.name, role=acting,
                event=Event("user.role_revoked", f"user:{name}", {"name": name, "role": role}),
            )
            tx.remove_role(name, role)
            return {"name": name, "roles": [r for r in held if r != role], "seq": row.seq}

        return self._ctx.act(session, Permission.USER_MANAGE, f"user:{name}", revoke)

    def change_password(self, session: Session, new_password: str) -> dict[str, Any]:
        """Re-seal the caller's own key under a new password (the key itself is unchanged)."""
        identity.validate_password(new_password)
        cred = identity.reseal(session.name, session.signer.private_key, new_password)

        def change(tx: Tx) -> dict[str, Any]:
            _existing_roles(tx, session.name)
            _refuse_deactivated(tx, session.name)
            row = self._ctx.ledger().append(
                tx, signer=session.signer, actor=session.name, role=None,
                event=Event("user.password_changed", f"user:{session.name}",
                            {"name": session.name, "key_id": session.signer.key_id}),
            )
            tx.put_credentials(session.name, cred)
            return {"name": session.name, "seq": row.seq}

        return self._ctx.write(change)

    def rotate_key(self, session: Session, password: str) -> tuple[Session, dict[str, Any]]:
        """Replace the caller's key pair; the rotation entry is signed by the old key and proves the new one."""
        key = identity.new_key(session.name, password)

        def rotate(tx: Tx) -> dict[str, Any]:
            _existing_roles(tx, session.name)
            _refuse_deactivated(tx, session.name)
            row = self._ctx.ledger().append(
                tx, signer=session.signer, actor=session.name, role=None,
                event=Event("user.key_rotated", f"user:{session.name}",
                            {"name": session.name, "previous_key_id": session.signer.key_id,
                             **key.payload(session.name)}),
            )
            tx.put_credentials(session.name, key.credentials)
            tx.insert_public_key(key.key_id, session.name, key.public_key, row.seq + 1)
            return {"name": session.name, "key_id": key.key_id, "previous_key_id": session.signer.key_id,
                    "seq": row.seq}

        result = self._ctx.write(rotate)
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
            row = self._ctx.ledger().append(
                tx, signer=session.signer, actor=session.name, role=acting,
                event=Event("user.deactivated", f"user:{name}", {"name": name, "roles": held, "reason": reason}),
            )
            for role in held:
                tx.remove_role(name, role)
            tx.delete_credentials(name)
            tx.delete_enrolment(name)
            return {"name": name, "roles_removed": held, "reason": reason, "seq": row.seq, "ts": row.ts}

        return self._ctx.act(session, Permission.USER_MANAGE, f"user:{name}", deactivate)

    def users(self, session: Session) -> list[dict[str, Any]]:
        """Every account with its roles, whether it has enrolled, and whether (and when, by whom, why) it was
        deactivated (``active`` false)."""

        def listing(tx: Tx, _role: str) -> list[dict[str, Any]]:
            gone = tx.user_deactivations()
            return [{**u, "active": u["name"] not in gone, "deactivated": gone.get(u["name"])}
                    for u in tx.list_users()]

        return self._ctx.act(session, Permission.READ, "users", listing)


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


def store_user(
    tx: Tx, name: str, roles: list[str], key: identity.NewKey, seq: int, ts: str, *, valid_from: int
) -> None:
    tx.insert_user(name, ts, seq)
    for role in roles:
        tx.add_role(name, role)
    tx.put_credentials(name, key.credentials)
    tx.insert_public_key(key.key_id, name, key.public_key, valid_from)



def _new_enrolment_code() -> tuple[str, str, str]:
    """``(code, sha256 of the code, expiry)``: 128 random bits in base32, shown once."""
    code = base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")
    hours = config.env_number("COUNTERSIGN_ENROLMENT_HOURS", 72, minimum=1 / 60, maximum=24 * 366)
    expires = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return code, hashlib.sha256(code.encode("utf-8")).hexdigest(), expires
