"""Schema versions: an older database is upgraded (and the upgrade is ledgered); a newer one is refused."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import core.service
import core.storage.duckdb_store
from core.errors import SchemaTooNew
from core.service import Countersign
from core.storage.migrations import HEAD_VERSION, MIGRATIONS
from tests.conftest import ADMIN, ADMIN_PW


def _versions(db: Path) -> list[int]:
    con = duckdb.connect(str(db))
    try:
        return [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    finally:
        con.close()


def test_head_has_at_least_two_versions() -> None:
    assert HEAD_VERSION == MIGRATIONS[-1].version >= 2
    assert [m.version for m in MIGRATIONS] == list(range(1, HEAD_VERSION + 1))


def test_old_database_is_upgraded_on_open_and_the_upgrade_is_a_ledger_entry(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Create the database as Countersign at schema version 1 would have.
    with monkeypatch.context() as old:
        old.setattr(core.service, "MIGRATIONS", MIGRATIONS[:1])
        old.setattr(core.service, "HEAD_VERSION", 1)
        old.setattr(core.storage.duckdb_store, "HEAD_VERSION", 1)
        Countersign.init(db_path, admin=ADMIN, password=ADMIN_PW, origin="test.example/log")
    assert _versions(db_path) == [1]

    cs = Countersign(db_path)
    admin = cs.login(ADMIN, ADMIN_PW)  # first use triggers the upgrade
    assert _versions(db_path) == list(range(1, HEAD_VERSION + 1))
    upgrade = cs.log(admin, action="schema.upgraded")
    assert len(upgrade) == 1
    assert upgrade[0]["payload"]["from_version"] == 1 and upgrade[0]["payload"]["to_version"] == HEAD_VERSION
    assert upgrade[0]["actor"] == "@service"
    assert cs.verify().ok
    # Opening again does not upgrade twice.
    Countersign(db_path).login(ADMIN, ADMIN_PW)
    assert len(cs.log(admin, action="schema.upgraded")) == 1


def test_newer_database_is_refused_with_a_clear_message(cs: Countersign, db_path: Path) -> None:
    con = duckdb.connect(str(db_path))
    con.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', '2030-01-01T00:00:00Z')",
                [HEAD_VERSION + 1])
    con.close()
    before = db_path.read_bytes()
    with pytest.raises(SchemaTooNew, match=f"schema version {HEAD_VERSION + 1}.*upgrade Countersign"):
        Countersign(db_path).login(ADMIN, ADMIN_PW)
    with pytest.raises(SchemaTooNew):
        Countersign(db_path).verify()
    assert db_path.read_bytes() == before
