"""Web sign-in sessions that survive a page reload: a server-side store and the signed token the browser keeps.

A signed-in user's :class:`core.identity.users.Session` holds their *unsealed* signing key, so it never leaves the
server
process. The browser keeps only an opaque token in a cookie; the token names an entry in this process's memory::

    v1.<id>.<expires>.<mac>

* ``id`` — 32 random bytes (URL-safe base64): the only thing that selects a store entry;
* ``expires`` — the token's absolute expiry, Unix seconds (the cookie's ``Max-Age`` is set to match);
* ``mac`` — HMAC-SHA256 over ``v1.<id>.<expires>`` under a key derived from the service secret
  (:func:`derive_key`), so a token cannot be forged or its expiry extended without that secret.

A token is accepted only while all of these hold: its MAC verifies, its ``expires`` is in the future, the store
still has its entry (the entry is removed at sign-out, after expiry, and when the server restarts), and the entry
was used within the idle timeout. The password is never stored, in the browser or here; a token never appears in
a URL, so a shared permalink carries no session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

COOKIE_NAME = "countersign_session"
VERSION = "v1"
KEY_CONTEXT = b"countersign/web-session/v1"
#: Default idle timeout (a session unused this long is signed out) and absolute lifetime of a token.
DEFAULT_IDLE_S = 1800.0
DEFAULT_MAX_AGE_S = 12 * 3600.0
#: At most this many live sessions are kept per process; the least recently used is dropped beyond it.
DEFAULT_CAPACITY = 10_000

TOKEN_RE = re.compile(r"^v1\.([A-Za-z0-9_-]{43})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")

T = TypeVar("T")


def derive_key(secret: str) -> bytes:
    """The token MAC key: HMAC-SHA256 of a fixed context string under the service secret (never the secret
    itself, so a leaked MAC key reveals nothing about the key that seals the service's signing key)."""
    if not secret:
        raise ValueError("the service secret is empty")
    return hmac.new(secret.encode("utf-8"), KEY_CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class _Entry(Generic[T]):
    value: T
    expires: float
    last_seen: float


class WebSessions(Generic[T]):
    """Live sessions of one server process, keyed by token id (thread-safe; Streamlit runs each browser session
    in its own thread)."""

    def __init__(self, key: bytes, *, idle_s: float = DEFAULT_IDLE_S, max_age_s: float = DEFAULT_MAX_AGE_S,
                 capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 32:
            raise ValueError("the session MAC key must be at least 32 bytes")
        if idle_s <= 0 or max_age_s <= 0 or capacity <= 0:
            raise ValueError("idle timeout, lifetime and capacity must be positive")
        self._key = key
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._lock = threading.Lock()

    def _mac(self, token_id: str, expires: int) -> str:
        message = f"{VERSION}.{token_id}.{expires}".encode("ascii")
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def issue(self, value: T, *, now: float | None = None) -> str:
        """Store ``value`` and return its new token (to be kept by the browser as the cookie's value)."""
        now = self._clock() if now is None else now
        token_id = _b64(secrets.token_bytes(32))
        expires = int(now + self.max_age_s)
        with self._lock:
            self._purge(now)
            self._entries[token_id] = _Entry(value, float(expires), now)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return f"{VERSION}.{token_id}.{expires}.{self._mac(token_id, expires)}"

    def _check(self, token: str | None) -> tuple[str, int] | None:
        """The token's id and expiry if its form and MAC are good (not yet whether it expired or is known)."""
        match = TOKEN_RE.match(token) if isinstance(token, str) else None
        if match is None:
            return None
        token_id, expires_text, mac = match.groups()
        expires = int(expires_text)
        if not hmac.compare_digest(mac, self._mac(token_id, expires)):
            return None
        return token_id, expires

    def resume(self, token: str | None, *, now: float | None = None) -> T | None:
        """The value ``token`` was issued for, or ``None`` when the token is malformed, forged, expired, idle for
        longer than the idle timeout, signed out or unknown to this process. A good token's idle clock restarts."""
        now = self._clock() if now is None else now
        checked = self._check(token)
        if checked is None:
            return None
        token_id, expires = checked
        with self._lock:
            entry = self._entries.get(token_id)
            if entry is None:
                return None
            if expires <= now or entry.expires <= now or now - entry.last_seen > self.idle_s:
                del self._entries[token_id]
                return None
            entry.last_seen = now
            self._entries.move_to_end(token_id)
            return entry.value

    def touch(self, token: str | None, *, now: float | None = None) -> bool:
        """Restart a live token's idle clock; ``False`` if the token is no longer good."""
        return self.resume(token, now=now) is not None

    def expires_in(self, token: str, *, now: float | None = None) -> int:
        """Seconds until ``token``'s absolute expiry (0 when it is not a good token): the cookie's ``Max-Age``."""
        now = self._clock() if now is None else now
        checked = self._check(token)
        return 0 if checked is None else max(0, int(checked[1] - now))

    def revoke(self, token: str | None) -> None:
        """Forget the token's session (sign-out); unknown or malformed tokens are ignored."""
        match = TOKEN_RE.match(token) if isinstance(token, str) else None
        if match is None:
            return
        with self._lock:
            self._entries.pop(match.group(1), None)

    def revoke_where(self, predicate: Callable[[T], bool]) -> int:
        """Forget every session whose value matches (e.g. all sessions of a deactivated user); how many."""
        with self._lock:
            doomed = [k for k, e in self._entries.items() if predicate(e.value)]
            for key in doomed:
                del self._entries[key]
        return len(doomed)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _purge(self, now: float) -> None:
        stale = [k for k, e in self._entries.items() if e.expires <= now or now - e.last_seen > self.idle_s]
        for key in stale:
            del self._entries[key]
