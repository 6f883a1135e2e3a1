"""Schema versions: an older database is upgraded (and the upgrade is ledgered); a newer one is refused."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import core.api.countersign
import core.storage.duckdb_store
from core.api.countersign import Countersign
from core.errors import SchemaTooNew
from core.storage.migrations import DIALECTS, DUCKDB, HEAD_VERSION, MIGRATIONS, POSTGRES
from tests.conftest import ADMIN, ADMIN_PW


def _versions(db: Path) -> list[int]:
    con = duckdb.connect(str(db))
    try:
        return [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    finally:
        con.close()


def _init_at(db_path: Path, version: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Create the database as Countersign at schema ``version`` would have."""
    with monkeypatch.context() as old:
        old.setattr(core.api.countersign, "MIGRATIONS", MIGRATIONS[:version])
        old.setattr(core.api.countersign, "HEAD_VERSION", version)
        old.setattr(core.storage.duckdb_store, "HEAD_VERSION", version)
        Countersign.init(db_path, admin=ADMIN, password=ADMIN_PW, origin="test.example/log")


def test_head_has_at_least_two_versions() -> None:
    assert HEAD_VERSION == MIGRATIONS[-1].version >= 2
    assert [m.version for m in MIGRATIONS] == list(range(1, HEAD_VERSION + 1))


#: SHA-256 of ``[version, description, DuckDB statements]`` of each released migration: a migration once released
#: never changes (databases that applied it would differ from new ones); new migrations are appended instead.
RELEASED = {
    1: "643bd775ef523ba30c975ce991c25856b044701c4e00a7bb25496157f6665ca0",
    2: "bcc3a840a7ab8044bcf8563e6a03631e5513e351437cd1605a7af76425a244b5",
    3: "60f561ef9aab8ff1bc2923a6c731dc899932f96e7512e9cc7a0fad110ee3aa4f",
    4: "39573e3aeadb47c71f270ce98989247c84a4cee86b266bba3df5a9fd21f898e5",
    5: "18813749845ded3f9d1b18100b8ba8c2a8d94473b8af388ac298c41e295230a4",
    6: "ab17ce989732e702577a27a9e87bfea9c2f5efa0fe17d146f5b1243eff1a334f",
    7: "785710592610bac56035e004d185e6405c880cb439db4ac9b958b8d1b047c86f",
    8: "14a28812a6bc34fc6c1741403afecae5ed9a3099fb18f6a96a3f9022ae6ee431",
    9: "d912fe1dbb23477210d32b026966f2acee396169e41dbccbba064b0a9284ac04",
    10: "20de73bc550174196fde9684f2aa141930766ac8e5dc368734348f85d2f83cf5",
    11: "188415adfe4cf17a3972c7191f43302f913d0323d9cd4172a75006fead5f1fb2",
    12: "0dd03a59ad0d0ca4970998d3ec3e909137c7096d95f8d63e950a4e637e2e2d4d",
}
#: The same for the PostgreSQL statements (those of 1-11 are the DuckDB ones through ``postgres_statements``: a change
#: of its renames would change them).
RELEASED_POSTGRES = {
    1: "82af3fddfac763217adce2ee628a5414497e6452762103289ace4654f3c10d33",
    2: "bcc3a840a7ab8044bcf8563e6a03631e5513e351437cd1605a7af76425a244b5",
    3: "59362df0e9e3f7815c21c08907015d60be0f6a617c4984c3da99be8bf742bf37",
    4: "acfc352d1225fc6a0591931a4f86d1409199a7fd742bd498f2af71febf206e3d",
    5: "77e62fdece8d0cf4781fecf123f5393a6e2e6c66fb57ec1433d4a91fa0b29664",
    6: "a50ccca673a46b8ff1741cf341cd86f8e65d25fb88ffaa65c734ad686e47e4dc",
    7: "20101c40dcc097bc2d699e19f1302f33bb8853b4058b36186d8f9faa39432796",
    8: "219e8c5f43ac8fea46c7b7250c1df3b6cda2e9fd8fa97a041a25ab09449419f7",
    9: "156aa071c44871efc5c1754b948d4f91bc13e8f2acf7d0c9457bead48d8b5773",
    10: "d20520596f7a57194b9da7fb163636e2a7254edb776fde6b09cbe1d6ba44d383",
    11: "1e42939fc1191cb2d4b50b8d7bda47020b62f2a625f68eb36a8dab1793af46a8",
    12: "2c263e07aa63f96172cdb0953228f864f24081e165d328e36cc9b7df79c187b7",
}
#: Migrations with no DuckDB statements (a server-side function that only PostgreSQL needs).
PG_ONLY = {12}


def test_released_migrations_never_change() -> None:
    import hashlib
    import json

    for migration in MIGRATIONS:
        if migration.version in RELEASED:
            body = json.dumps([migration.version, migration.description, list(migration.statements_for(DUCKDB))])
            assert hashlib.sha256(body.encode()).hexdigest() == RELEASED[migration.version], migration.version


def test_released_postgresql_migrations_never_change() -> None:
    import hashlib
    import json

    for migration in MIGRATIONS:
        if migration.version in RELEASED_POSTGRES:
            body = json.dumps([migration.version, migration.description, list(migration.statements_for(POSTGRES))])
            assert hashlib.sha256(body.encode()).hexdigest() == RELEASED_POSTGRES[migration.version], migration.version


def test_every_migration_is_written_for_every_dialect() -> None:
    for migration in MIGRATIONS:
        assert set(migration.sql) == set(DIALECTS), migration.version
        # Every migration changes something in some dialect; 12 is PostgreSQL's ledger-lock function only.
        assert any(migration.statements_for(d) for d in DIALECTS)
        assert all(migration.statements_for(d) for d in DIALECTS) or migration.version in PG_ONLY
        assert migration.statements == migration.statements_for(DUCKDB)
    with pytest.raises(LookupError, match="migration 1 has no oracle statements"):
        MIGRATIONS[0].statements_for("oracle")


def test_old_database_is_upgraded_on_open_and_the_upgrade_is_a_ledger_entry(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _init_at(db_path, 1, monkeypatch)
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


def test_migration_9_rekeys_openlineage_ids_by_namespace_and_name_and_ledgers_it(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before schema 9, node ids were ``namespace + "/" + name``: re-keyed, edges moved, the renames ledgered."""
    import json

    from core.catalog.openlineage import dataset_id, job_id

    _init_at(db_path, 8, monkeypatch)
    run = "3b452093-782c-4ef2-9c0c-aafe2aa6f34d"
    con = duckdb.connect(str(db_path))
    try:  # what an import at schema 8 wrote
        nodes = [("ol-dataset:s3://bucket/raw/events.parquet", "ol-dataset", "s3://bucket/raw/events.parquet",
                  {"namespace": "s3://bucket", "name": "raw/events.parquet", "schema": []}),
                 ("job:airflow/prod/dag.task", "job", "airflow/prod/dag.task",
                  {"namespace": "airflow/prod", "name": "dag.task"}),
                 ("job:plain/task", "job", "plain/task", {"namespace": "plain", "name": "task"}),
                 (f"run:{run}", "run", run, {"events": [{"eventType": "START", "eventTime": "2026-01-01T00:00:00Z"}]})]
        for node_id, kind, label, attrs in nodes:
            con.execute("INSERT INTO lineage_nodes VALUES (?, ?, ?, NULL, ?, 1)",
                        [node_id, kind, label, json.dumps(attrs)])
        con.execute("INSERT INTO lineage_edges VALUES ('job:airflow/prod/dag.task', ?, 'ran', 1), "
                    "(?, 'ol-dataset:s3://bucket/raw/events.parquet', 'produced', 1)", [f"run:{run}", f"run:{run}"])
    finally:
        con.close()

    cs = Countersign(db_path)
    admin = cs.login(ADMIN, ADMIN_PW)
    new_ds, new_job = dataset_id("s3://bucket", "raw/events.parquet"), job_id("airflow/prod", "dag.task")
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        ids = {r[0] for r in con.execute("SELECT id FROM lineage_nodes").fetchall()}
        edges = set(con.execute("SELECT src, dst, kind FROM lineage_edges").fetchall())
    finally:
        con.close()
    assert ids == {new_ds, new_job, "job:plain/task", f"run:{run}"}
    assert edges == {(new_job, f"run:{run}", "ran"), (f"run:{run}", new_ds, "produced")}
    upgrade = cs.log(admin, action="schema.upgraded")[-1]["payload"]
    renamed = upgrade["lineage_ids_renamed"]
    assert renamed["count"] == 2 and renamed["pairs"] == sorted([
        ["job:airflow/prod/dag.task", new_job], ["ol-dataset:s3://bucket/raw/events.parquet", new_ds]])
    assert cs.verify().ok
    # the old run merges with a later event of the same run
    graph = cs.lineage(admin, f"run:{run}")
    assert {n["id"] for n in graph["nodes"]} == {new_ds, new_job, f"run:{run}"}


def test_migration_10_binds_each_waiver_to_the_policy_version_its_ledger_entry_names(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.ledger.chain import Event
    from core.ledger.service_key import load_service_signer

    _init_at(db_path, 9, monkeypatch)
    with monkeypatch.context() as old:  # a waiver as schema 9 stored it, beside its ledger entry
        old.setattr(core.api.countersign, "MIGRATIONS", MIGRATIONS[:9])
        old.setattr(core.api.countersign, "HEAD_VERSION", 9)
        old.setattr(core.storage.duckdb_store, "HEAD_VERSION", 9)
        cs = Countersign(db_path)

        def grant(tx: core.storage.duckdb_store.Tx) -> None:
            for waiver_id, action in (("wv-1", "waiver.granted"), ("wv-2", "model.registered")):
                row = cs.ledger().append(tx, signer=load_service_signer(tx, db_path), actor="chloe", role=None,
                                         event=Event(action, "model:m@1", {"id": waiver_id, "policy": "house@3"}))
                tx.con.execute("INSERT INTO waivers VALUES (?, 'm', '1', 'auc', '2099-01-01', 'j', 'chloe', 't', "
                               "NULL, NULL, ?)", [waiver_id, row.seq])

        cs._write(grant)
    Countersign(db_path).login(ADMIN, ADMIN_PW)  # upgrades to the head
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        policies = dict(con.execute("SELECT id, policy FROM waivers ORDER BY id").fetchall())
    finally:
        con.close()
    # from the waiver.granted entry at the waiver's seq; nothing guessed where the entry is something else
    assert policies == {"wv-1": "house@3", "wv-2": None}
