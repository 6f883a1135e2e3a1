"""The PostgreSQL store's own behaviour: the ledger-append lock's wait, unreachable servers, URIs in messages."""

from __future__ import annotations

import time

import psycopg
import pytest

from core.errors import BadInput, StoreUnavailable
from core.storage.postgres_names import redact, site_label
from core.storage.postgres_store import CONNECT_WAIT_S, LEDGER_LOCK_KEY, PostgresStore
from core.storage.site import Site
from tests.core.storage.backends import migrate


def test_a_write_waits_for_the_ledger_lock_then_gives_up_naming_the_wait(pg_uri: str) -> None:
    store = PostgresStore(pg_uri, connect_timeout=1.0)
    migrate(store)
    with psycopg.connect(pg_uri) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", [LEDGER_LOCK_KEY])  # another writer, mid-transaction
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"held by another transaction .* within 1 s"):
            with store.transaction() as tx:
                tx.put_setting("never", "written")
        waited = time.monotonic() - started
        assert 0.9 <= waited < 5, waited
        with store.reader() as tx:  # readers take no lock
            assert tx.get_setting("never") is None
    with store.transaction() as tx:  # the other transaction ended: the lock is free again
        tx.put_setting("now", "written")
    with store.reader() as tx:
        assert tx.get_setting("now") == "written"


def test_an_unreachable_server_fails_within_the_connect_wait_naming_the_cause() -> None:
    uri = "postgresql://someone:s3cret-pw@127.0.0.1:1/nowhere"
    store = PostgresStore(uri, connect_timeout=60.0)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as refused:
        store.exists()
    assert time.monotonic() - started < CONNECT_WAIT_S + 8
    message = str(refused.value)
    assert "Connection refused" in message and "s3cret-pw" not in message
    assert "postgresql://someone@127.0.0.1:1/nowhere" in message and "nothing was written" in message


def test_uris_are_named_without_passwords_and_bad_ones_refused() -> None:
    assert redact("postgresql://ann:pa%40ss@db.example:5433/cs") == "postgresql://ann@db.example:5433/cs"
    assert redact("postgres://db.example/cs") == "postgresql://db.example/cs"
    assert site_label("postgresql://ann:pw@db.example:5433/c%20s") == "db.example_5433_c-s"
    site = Site.for_uri("postgresql://ann:pw@db.example:5433/cs")
    assert site.database is None and site.backend == "postgresql" and "pw" not in site.name
    with pytest.raises(BadInput, match="not a valid PostgreSQL URI"):
        PostgresStore("postgresql://ann@db.example:notaport/cs?nosuchoption=1")
