"""The ledger as users read it: pages of entries, one entry whole, checkpoints, public keys, and full verification.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from core.api.context import Context
from core.errors import BadInput, NotFound
from core.identity.roles import Permission
from core.identity.users import Session
from core.ledger.chain import decode_row
from core.ledger.checkpoints import write_checkpoint
from core.ledger.service_key import SERVICE_OWNER, service_public_key, service_verifier_key
from core.ledger.verify import VerifyReport, verify_ledger
from core.storage.contract import Transaction as Tx

__all__ = ["VERIFY_CHUNK", "AuditService", "parse_log_time"]

VERIFY_CHUNK = 100_000


class AuditService:
    """Reading and verifying one site's ledger, over a :class:`~core.api.context.Context`."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

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

        return self._ctx.act(session, Permission.READ, "ledger", page)

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

        return self._ctx.act(session, Permission.READ, f"ledger:{number}", entry)

    def checkpoint(self, session: Session) -> dict[str, Any]:
        """Write (or return the existing) signed checkpoint at the current ledger size."""
        return self._ctx.act(
            session, Permission.CHECKPOINT, "ledger",
            lambda tx, _role: write_checkpoint(tx, self._ctx.site, self._ctx.origin),
        )

    def latest_checkpoint(self) -> dict[str, Any] | None:
        return self._ctx.read(lambda tx: tx.latest_checkpoint())

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

        return self._ctx.read(collect)

    def verify(self, checkpoint_note: str | None = None, jobs: int | None = None,
               chunk_size: int = VERIFY_CHUNK) -> VerifyReport:
        """Full verification of the ledger (see :mod:`core.ledger.verify`).

        Reads a consistent snapshot (the size and checkpoints as of the start) in chunks of ``chunk_size`` rows,
        each in its own short read, so other processes can keep writing while a large ledger is verified.
        """
        def start(tx: Tx) -> tuple[int | None, list[dict[str, Any]], str]:
            return tx.ledger_max_seq(), tx.checkpoints(), tx.get_setting("origin") or ""

        upto, checkpoints, origin = self._ctx.read(start)

        def chunks() -> Iterator[dict[str, list[Any]]]:
            """Consecutive seq ranges of ``chunk_size`` up to ``upto``; a gap (deleted rows) is stepped over."""
            if upto is None:
                return
            after: int | None = None
            while True:
                end = min(upto, (-1 if after is None else after) + chunk_size)
                cols = self._ctx.read(functools.partial(_chunk, after=after, end=end))
                if cols["seq"]:
                    yield cols
                if end >= upto:
                    return
                after = end
                if not cols["seq"]:
                    following = self._ctx.read(functools.partial(_next_seq, after=after, upto=upto))
                    if following is None:
                        return
                    after = following - 1

        return verify_ledger(chunks(), checkpoints, origin, external_checkpoint=checkpoint_note, jobs=jobs)


def _chunk(tx: Tx, *, after: int | None, end: int) -> dict[str, list[Any]]:
    return tx.ledger_chunk(after, end)


def _next_seq(tx: Tx, *, after: int, upto: int) -> int | None:
    return tx.ledger_next_seq(after, upto)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


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
