"""The PostgreSQL test harness (tests/postgres_server.py, tests/pg_fixtures.py) against a real server."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer

psycopg = pytest.importorskip("psycopg")


def _uid(pid: int) -> int:
    """The real uid of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for process {pid}")


def _database(uri: str) -> str:
    return urllib.parse.urlsplit(uri).path.lstrip("/")


def test_server_answers_on_its_uri(postgres_server: PostgresServer, pg_uri: str) -> None:
    assert pg_uri.startswith(f"postgresql://countersign:{postgres_server.password}@127.0.0.1:{postgres_server.port}/")
    with psycopg.connect(pg_uri) as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('fsync', 'synchronous_commit', 'listen_addresses', 'port', 'max_connections', 'server_encoding')"
        ).fetchall())
        assert conn.execute("SELECT current_database()").fetchone()[0] == _database(pg_uri)
    assert version.startswith("PostgreSQL ")
    assert settings == {"fsync": "on", "synchronous_commit": "on", "listen_addresses": "127.0.0.1",
                        "port": str(postgres_server.port), "max_connections": "300", "server_encoding": "UTF8"}


def test_server_does_not_run_as_root(postgres_server: PostgresServer, pg_uri: str) -> None:
    with psycopg.connect(pg_uri) as conn:  # the backend process exists while its connection is open
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        backend_uid = _uid(backend)
    postmaster = postgres_server.postmaster_pid()
    assert postmaster is not None
    assert backend_uid != 0 and _uid(postmaster) != 0
    assert _uid(postmaster) == backend_uid
    if os.geteuid() == 0:
        assert postgres_server.run_as is not None and postgres_server.run_as.uid == _uid(postmaster)
    else:
        assert _uid(postmaster) == os.geteuid()


def test_each_test_database_is_distinct_and_empty(postgres_server: PostgresServer, pg_uri: str) -> None:
    other = postgres_server.create_database("cs_test_second")
    try:
        assert _database(other) != _database(pg_uri)
        for uri in (pg_uri, other):
            with psycopg.connect(uri) as conn:
                tables = conn.execute("SELECT count(*) FROM information_schema.tables "
                                      "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')").fetchone()[0]
                assert tables == 0
        with psycopg.connect(pg_uri) as conn:
            conn.execute("CREATE TABLE t (x int)")
        with psycopg.connect(other) as conn:
            assert conn.execute("SELECT to_regclass('public.t')").fetchone()[0] is None
        with psycopg.connect(postgres_server.uri()) as conn:
            names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        assert {_database(pg_uri), "cs_test_second"} <= names
    finally:
        # An open connection does not block the drop (WITH (FORCE)).
        lingering = psycopg.connect(other)
        postgres_server.drop_database("cs_test_second")
        lingering.close()
    with psycopg.connect(postgres_server.uri()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'cs_test_second'").fetchone() is None


def test_restart_keeps_data_and_port(postgres_server: PostgresServer, pg_uri: str) -> None:
    port, before = postgres_server.port, postgres_server.postmaster_pid()
    with psycopg.connect(pg_uri) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (1), (2)")
    postgres_server.restart()
    assert postgres_server.port == port and postgres_server.postmaster_pid() not in (None, before)
    with psycopg.connect(pg_uri) as conn:
        assert conn.execute("SELECT sum(x) FROM kept").fetchone()[0] == 3


def test_kill_then_start_recovers_committed_data(postgres_server: PostgresServer) -> None:
    # A server of its own, so the shared one is not crashed under other tests.
    with PostgresServer(bin_dir=postgres_server.bin_dir, max_connections=20) as server:
        uri = server.create_database("crash")
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (42)")
        port = server.port
        server.kill()
        assert not server.running and server.postmaster_pid() is None
        server.start()
        assert server.port == port
        with psycopg.connect(uri) as conn:
            assert conn.execute("SELECT x FROM t").fetchone()[0] == 42
        assert "database system was not properly shut down" in server.log_path.read_text()
        base = server.base_dir
    assert base is not None and not base.exists()


def test_wrong_password_is_refused(postgres_server: PostgresServer, pg_uri: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", os.devnull)
    wrong = pg_uri.replace(f":{postgres_server.password}@", ":not-the-password@")
    assert wrong != pg_uri
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10)
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(postgres_server.uri(_database(pg_uri), with_password=False), connect_timeout=10)
    # Local (Unix socket) connections need the password too.
    socket_dir = str(postgres_server.data_dir)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=socket_dir, port=postgres_server.port, user="countersign", password="wrong",
                        dbname="postgres", connect_timeout=10)
    with psycopg.connect(host=socket_dir, port=postgres_server.port, user="countersign",
                         password=postgres_server.password, dbname="postgres") as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_pgpassword_and_pgpass_file_supply_the_password(postgres_server: PostgresServer, pg_uri: str,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = postgres_server.uri(_database(pg_uri), with_password=False)
    assert postgres_server.password not in bare
    monkeypatch.setenv("PGPASSFILE", os.devnull)
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    with psycopg.connect(bare) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "countersign"
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres_server.port}:*:countersign:{postgres_server.password}\n")
    pgpass.chmod(0o600)  # libpq ignores a password file others can read
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with psycopg.connect(bare) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "countersign"
