"""The PostgreSQL store's own behaviour: the ledger-append lock's wait, unreachable servers, URIs in messages."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from core.errors import BadInput, SiteExists, StoreUnavailable
from core.storage.postgres_names import redact, site_label
from core.storage.postgres_store import CONNECT_WAIT_S, LEDGER_LOCK_KEY, PostgresStore
from core.storage.site import Site
from tests.core.ledger.test_concurrency import assert_gapless_chain
from tests.core.storage.backends import append, chain_tuples, migrate, new_signer

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("schema_checked", [False, True], ids=["first-write", "later-writes"])
def test_a_write_waits_for_the_ledger_lock_then_gives_up_naming_the_wait(pg_uri: str, schema_checked: bool) -> None:
    store = PostgresStore(pg_uri, connect_timeout=1.0)
    migrate(store)
    if schema_checked:  # later writes lock through countersign_lock_ledger (one round trip with BEGIN)
        with store.transaction() as tx:
            tx.put_setting("warm", "yes")
        assert store._version_ok
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


def test_a_writer_that_waited_for_the_lock_extends_the_head_committed_meanwhile(pg_uri: str) -> None:
    """The head is read after the lock is granted: a snapshot taken before the wait would miss the entry committed
    by the writer that held the lock, and the second append would fork the chain (or collide on ``seq``)."""
    first, second = PostgresStore(pg_uri, pool_size=1), PostgresStore(pg_uri, pool_size=2)
    migrate(first)
    for store in (first, second):  # both take the one-round-trip path from now on
        with store.transaction() as tx:
            tx.put_setting("warm", "yes")
    signer = new_signer()
    holding, waiting_done = threading.Event(), threading.Event()
    seen: list[object] = []

    def second_writer() -> None:
        holding.wait(10)
        with second.transaction() as tx:  # waits for the lock held below
            seen.append(tx.ledger_head())
            append(tx, signer, ("b.second", "s:2", {}))
        waiting_done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    with first.transaction() as tx:
        row = append(tx, signer, ("a.first", "s:1", {}))[0]
        holding.set()
        time.sleep(0.5)  # the second writer is now waiting for the lock, its transaction begun
        assert not waiting_done.is_set()
    thread.join(10)
    assert seen and seen[0] is not None and seen[0][:2] == (row.seq, row.leaf_hash)  # type: ignore[index]
    assert_gapless_chain(chain_tuples(first))


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


def test_every_spelling_of_this_machine_gives_one_local_site_folder(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    spellings = ["postgresql://ann@localhost:5433/cs", "postgresql://ann:pw@127.0.0.1:5433/cs",
                 "postgresql://ann@[::1]:5433/cs", "postgresql://ann@LocalHost:5433/cs",
                 "postgresql://ann@%2Fvar%2Frun%2Fpostgresql:5433/cs", "postgresql:///cs?port=5433"]
    assert {site_label(u) for u in spellings} == {"local_5433_cs"}
    assert {Site.for_uri(u).artifact_store for u in spellings} == {Site.for_uri(spellings[0]).artifact_store}
    assert site_label("postgresql://ann@DB.Example:5433/cs") == "db.example_5433_cs"
    assert site_label("postgresql://ann@10.0.0.5/cs") != site_label("postgresql://ann@db.example/cs")  # other hosts
    # A site made before hosts were normalised keeps its folder.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    legacy = tmp_path / "countersign" / "sites" / "127.0.0.1_5433_cs"
    legacy.mkdir(parents=True)
    assert Site.for_uri("postgresql://ann@127.0.0.1:5433/cs").service_secret_file.parent == legacy


def test_uris_are_named_without_passwords_and_bad_ones_refused() -> None:
    assert redact("postgresql://ann:pa%40ss@db.example:5433/cs") == "postgresql://ann@db.example:5433/cs"
    assert redact("postgres://db.example/cs") == "postgresql://db.example/cs"
    assert site_label("postgresql://ann:pw@db.example:5433/c%20s") == "db.example_5433_c-s"
    site = Site.for_uri("postgresql://ann:pw@db.example:5433/cs")
    assert site.database is None and site.backend == "postgresql" and "pw" not in site.name
    with pytest.raises(BadInput, match="not a valid PostgreSQL URI"):
        PostgresStore("postgresql://ann@db.example:notaport/cs?nosuchoption=1")


def test_init_on_an_existing_site_or_a_foreign_database_touches_nothing(pg_uri: str, tmp_path: Path) -> None:
    from core.api.countersign import Countersign

    with psycopg.connect(pg_uri) as conn:
        conn.execute("CREATE TABLE users (id int)")  # somebody else's table
    with pytest.raises(BadInput, match="not Countersign's"):
        Countersign.init(pg_uri, admin="ada", password="ada-password-1")
    site = Site.for_uri(pg_uri)
    assert not site.service_secret_file.exists()
    with psycopg.connect(pg_uri) as conn:
        conn.execute("DROP TABLE users")
    Countersign.init(pg_uri, admin="ada", password="ada-password-1")
    secret = site.service_secret_file.read_bytes()
    with pytest.raises(SiteExists):
        Countersign.init(pg_uri, admin="bob", password="bob-password-1")
    assert site.service_secret_file.read_bytes() == secret  # the live site's secret is untouched
    assert Countersign(pg_uri).verify(jobs=1).ok


def test_a_failed_init_leaves_no_secret_file_and_no_empty_folder(pg_uri: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from core.api import countersign as api
    from core.api.countersign import Countersign

    site = Site.for_uri(pg_uri)
    xdg = tmp_path / "xdg"
    assert site.service_secret_file.is_relative_to(xdg) and not xdg.exists()  # conftest's XDG_DATA_HOME

    def broken(*_args: object) -> None:
        raise StoreUnavailable("the key store is down (simulated)")

    with monkeypatch.context() as patched, pytest.raises(StoreUnavailable, match="simulated"):
        patched.setattr(api, "create_service_key", broken)
        Countersign.init(pg_uri, admin="ada", password="ada-password-1")
    assert not xdg.exists()  # the secret file and every folder made for it are gone
    assert PostgresStore(pg_uri).is_empty()
    Countersign.init(pg_uri, admin="ada", password="ada-password-1")
    assert site.service_secret_file.exists()


@pytest.mark.slow
def test_two_inits_at_once_make_one_site(pg_uri: str, tmp_path: Path) -> None:
    env = {**os.environ, "COUNTERSIGN_PASSWORD": "admin-password-1", "XDG_DATA_HOME": str(tmp_path / "xdg")}
    for location in (pg_uri, str(tmp_path / "file.duckdb")):
        procs = [subprocess.Popen([sys.executable, "-m", "cli", "init", "--db", location, "--admin", name],
                                  cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name in ("ada", "bob")]
        results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results
        assert "already exists" in next(err for code, err in results if code == 2)
        verified = subprocess.run([sys.executable, "-m", "cli", "verify", "--db", location], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)
        assert verified.returncode == 0, verified.stderr


def test_a_value_postgresql_cannot_hold_is_bad_input_not_a_traceback(pg_uri: str) -> None:
    store = PostgresStore(pg_uri)
    migrate(store)
    with pytest.raises(BadInput, match="NUL"):
        with store.transaction() as tx:
            tx.put_setting("note", "a\x00b")
    with store.reader() as tx:
        assert tx.get_setting("note") is None


@pytest.mark.parametrize("location", [
    "postgresql://ann:SEKRET%zz@127.0.0.1:5432/cs",      # a bad percent-escape in the password
    "postgresql://ann:abc@SEKRET@127.0.0.1:5432/cs",     # an unencoded '@' in the password
    "host=127.0.0.1 password=SEKRET dbname=cs user=ann",  # key=value conninfo
])
def test_a_malformed_location_is_refused_without_echoing_the_password(location: str, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    run = subprocess.run([sys.executable, "-m", "cli", "verify", "--db", location], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "SEKRET" not in run.stderr + run.stdout and "Traceback" not in run.stderr


def test_a_duckdb_uri_names_the_file(tmp_path: Path) -> None:
    from core.api.countersign import Countersign

    path = tmp_path / "site.duckdb"
    Countersign.init(path, admin="ada", password="ada-password-1")
    assert Countersign(f"duckdb://{path}").verify(jobs=1).ok


def test_ctrl_c_during_a_statement_is_an_interrupt_and_the_store_keeps_working(pg_uri: str) -> None:
    """Ctrl-C can land while the driver has sent a statement and not yet read its result: rolling back on that
    connection fails ("another command is already in progress"), which used to replace the interrupt with exit 4.
    The store closes such a connection instead (the server rolls the transaction back)."""
    store = PostgresStore(pg_uri)
    migrate(store)
    with pytest.raises(KeyboardInterrupt), store.transaction() as tx:
        tx.put_setting("interrupted", "yes")
        tx.con.conn.pgconn.send_query(b"SELECT pg_sleep(0.2)")  # type: ignore[attr-defined]  # sent, result unread
        raise KeyboardInterrupt
    with store.transaction() as tx:  # the next operation gets a working connection
        assert tx.get_setting("interrupted") is None
        tx.put_setting("after", "yes")
    with store.reader() as tx:
        assert tx.get_setting("after") == "yes"


def test_a_lock_wait_beyond_postgresql_s_limit_is_capped(pg_uri: str) -> None:
    store = PostgresStore(pg_uri, connect_timeout=1e300)
    migrate(store)
    for _ in range(2):  # both lock paths (first write, then countersign_lock_ledger)
        with store.transaction() as tx:
            tx.put_setting("long", "wait")
