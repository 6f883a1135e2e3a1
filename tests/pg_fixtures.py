"""Pytest plugin: a real PostgreSQL server per test session (per pytest-xdist worker) and a fresh database per test.

Registered by ``pytest_plugins`` in tests/conftest.py. Fixtures:

``postgres_server`` (session)
    A started :class:`tests.postgres_server.PostgresServer`, stopped and deleted at the end of the session. Each
    pytest-xdist worker is its own process, so each has its own server, data directory and port.
``pg_uri`` (function)
    ``postgresql://countersign:PASSWORD@127.0.0.1:PORT/cs_test_<hex>``: a new, empty database for this test only,
    dropped after it (``WITH (FORCE)``, so connections the test left open do not block the drop). A test may
    ``restart()`` or ``kill()`` the shared server; it is started again (crash recovery) before the drop. A test that
    needs a server of its own (other settings, or crashes it repeatedly) starts a ``PostgresServer`` itself.

Without PostgreSQL server binaries (or without psycopg) the tests that use them are skipped, unless
``COUNTERSIGN_REQUIRE_POSTGRES=1`` (CI sets it in .ci/run): then they fail, saying what is missing.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Iterator

import pytest

from tests.postgres_server import PostgresServer, find_bin_dir

REQUIRE_ENV = "COUNTERSIGN_REQUIRE_POSTGRES"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires PostgreSQL tests to run", pytrace=False)
    pytest.skip(f"{reason} (run scripts/bootstrap; set {REQUIRE_ENV}=1 to make this a failure)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for this session (this xdist worker), stopped and deleted afterwards."""
    if importlib.util.find_spec("psycopg") is None:
        _unavailable("psycopg is not installed (pip install -e '.[postgres]')")
    if find_bin_dir() is None:
        _unavailable("no PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin or on "
                     "PATH")
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_uri(postgres_server: PostgresServer) -> Iterator[str]:
    """The URI of a fresh, empty database on the session's server, dropped after the test."""
    name = f"cs_test_{secrets.token_hex(6)}"
    postgres_server.start()  # no-op while running; recovers the server if an earlier test killed it
    uri = postgres_server.create_database(name)
    try:
        yield uri
    finally:
        postgres_server.start()  # a test may have stopped or killed the shared server
        postgres_server.drop_database(name)
