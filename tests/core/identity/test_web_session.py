"""The web session store: tokens are opaque, signed and expiring; the session itself never leaves the server."""

from __future__ import annotations

import pytest

from core.identity.web_sessions import TOKEN_RE, WebSessions, derive_key

KEY = derive_key("a-service-secret")


class Clock:
    """A settable clock."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _store(clock: Clock, **kw: float) -> WebSessions[str]:
    return WebSessions(KEY, clock=clock, **kw)


def test_a_token_resumes_its_session_and_carries_no_secret() -> None:
    clock = Clock()
    store = _store(clock)
    token = store.issue("chloe's session")
    assert TOKEN_RE.match(token)
    assert "chloe" not in token and "a-service-secret" not in token
    assert store.resume(token) == "chloe's session"
    assert store.expires_in(token) == int(store.max_age_s)


def test_two_sign_ins_get_different_tokens() -> None:
    store = _store(Clock())
    assert store.issue("x") != store.issue("x")


@pytest.mark.parametrize("bad", [None, "", "garbage", "v1.a.b.c", "v2" + "x" * 100])
def test_malformed_tokens_are_refused(bad: str | None) -> None:
    assert _store(Clock()).resume(bad) is None


def test_a_forged_or_altered_token_is_refused() -> None:
    clock = Clock()
    store = _store(clock)
    token = store.issue("s")
    version, token_id, expires, mac = token.split(".")
    longer = f"{version}.{token_id}.{int(expires) + 3600}.{mac}"  # extend its expiry without the key
    assert store.resume(longer) is None
    flipped = mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")
    assert store.resume(f"{version}.{token_id}.{expires}.{flipped}") is None
    other = WebSessions(derive_key("another-secret"), clock=clock)
    assert other.resume(token) is None  # another service's key
    assert store.resume(token) == "s"


def test_a_token_expires_at_its_absolute_lifetime_even_when_used() -> None:
    clock = Clock()
    store = _store(clock, idle_s=60, max_age_s=100)
    token = store.issue("s")
    for _ in range(3):
        clock.now += 30
        assert store.resume(token) == "s"
    clock.now += 11  # 101 s after issue
    assert store.resume(token) is None
    assert len(store) == 0


def test_an_idle_session_expires_and_stays_expired() -> None:
    clock = Clock()
    store = _store(clock, idle_s=60)
    token = store.issue("s")
    clock.now += 59
    assert store.resume(token) == "s"  # restarts the idle clock
    clock.now += 61
    assert store.resume(token) is None
    clock.now -= 61  # even a clock going back does not bring it back: the entry is gone
    assert store.resume(token) is None


def test_sign_out_revokes_the_token_server_side() -> None:
    store = _store(Clock())
    token = store.issue("s")
    store.revoke(token)
    assert store.resume(token) is None
    store.revoke(token)
    store.revoke("garbage")  # harmless


def test_a_new_process_knows_no_token_even_with_the_same_key() -> None:
    clock = Clock()
    token = _store(clock).issue("s")
    assert _store(clock).resume(token) is None  # a restarted server: nothing to resume


def test_revoke_where_drops_every_session_of_a_user() -> None:
    store = _store(Clock())
    a1, a2, b = store.issue("ada"), store.issue("ada"), store.issue("bob")
    assert store.revoke_where(lambda v: v == "ada") == 2
    assert store.resume(a1) is None and store.resume(a2) is None
    assert store.resume(b) == "bob"


def test_capacity_drops_the_least_recently_used() -> None:
    store = WebSessions(KEY, capacity=2, clock=Clock())
    first, second = store.issue("1"), store.issue("2")
    assert store.resume(first) == "1"  # now the most recently used
    store.issue("3")
    assert store.resume(second) is None and store.resume(first) == "1"


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        WebSessions(b"short")
    with pytest.raises(ValueError):
        WebSessions(KEY, idle_s=0)
    with pytest.raises(ValueError):
        derive_key("")
