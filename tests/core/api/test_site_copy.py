"""``countersign store copy``: a whole site from DuckDB to a real PostgreSQL server and back, all or nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from core.api.countersign import Countersign
from core.api.site_copy import copy_site
from core.errors import BadInput, CountersignError
from core.storage.site import Site
from tests.conftest import ADMIN, ADMIN_PW

ROOT = Path(__file__).resolve().parents[3]


def _rows(location: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but ``schema_migrations``, sorted, read through the store."""
    store = Site.for_uri(location).open_store()
    out = {}
    with store.reader() as tx:
        for table in tx.table_names():
            if table != "schema_migrations":
                out[table] = sorted((tuple(r) for b in tx.table_batches(table) for r in b), key=repr)
    return out


@pytest.fixture
def source(populated: Countersign, tmp_path: Path) -> Countersign:
    """A DuckDB site with users, a dataset, a model artifact, a policy-free history and a saved checkpoint."""
    dana = populated.login("dana", "dana-password")
    data = tmp_path / "train.csv"
    data.write_text("x,y\n" + "".join(f"{i % 7},{i % 2}\n" for i in range(40)))
    populated.register_dataset(dana, data, name="toy", version="1")
    model = LogisticRegression().fit([[i % 7] for i in range(40)], [i % 2 for i in range(40)])
    artifact = tmp_path / "model.skops"
    sio.dump(model, artifact)
    populated.register_model(dana, artifact, name="toy-model", version="1", trained_on=["toy@1"])
    admin = populated.login(ADMIN, ADMIN_PW)
    populated.checkpoint(admin)
    return populated


def test_duckdb_to_postgresql_and_back_keeps_every_row_and_the_proofs(source: Countersign, pg_uri: str,
                                                                       tmp_path: Path) -> None:
    note = source.latest_checkpoint()["note"]
    before = source.verify(jobs=1)
    report = copy_site(source.path, pg_uri)
    assert report["ledger_size"] == before.size and report["root"] == before.root
    assert report["artifacts"] == 1 and report["tables"]["ledger"] == before.size
    assert _rows(pg_uri) == _rows(source.path)

    on_pg = Countersign(pg_uri)
    checked = on_pg.verify(checkpoint_note=note, jobs=1)
    assert checked.ok and checked.size == before.size and checked.root == before.root, checked.to_dict()
    dana = on_pg.login("dana", "dana-password")  # the sealed keys and the service key came along
    record, model = on_pg.load_model(dana, "toy-model@1")  # the artifact came along, digest re-checked
    assert record["name"] == "toy-model" and model.predict([[3]]).shape == (1,)
    on_pg.grant(on_pg.login(ADMIN, ADMIN_PW), "aude", "ml_lead")  # and the copy keeps working as a site
    assert on_pg.verify(jobs=1).ok

    back = tmp_path / "back.duckdb"
    copy_site(pg_uri, back)
    assert _rows(back) == _rows(pg_uri)
    assert Countersign(back).verify(checkpoint_note=note, jobs=1).ok


def test_the_ledger_rows_are_byte_identical(source: Countersign, pg_uri: str) -> None:
    copy_site(source.path, pg_uri)
    con = duckdb.connect(str(source.path), read_only=True)
    try:
        expected = con.execute("SELECT * FROM ledger ORDER BY seq").fetchall()
    finally:
        con.close()
    import psycopg

    with psycopg.connect(pg_uri) as conn:
        got = conn.execute("SELECT * FROM ledger ORDER BY seq").fetchall()
    assert [tuple(r) for r in got] == [tuple(r) for r in expected]
    assert all(isinstance(v, (str, int, type(None))) for r in got for v in r)


def test_a_non_empty_dest_is_refused_and_left_alone(source: Countersign, pg_uri: str, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(pg_uri) as conn:
        conn.execute("CREATE TABLE unrelated (x int)")
    with pytest.raises(BadInput, match="not empty"):
        copy_site(source.path, pg_uri)
    with psycopg.connect(pg_uri) as conn:
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        assert [r[0] for r in tables] == ["unrelated"]
    existing = tmp_path / "existing.duckdb"
    existing.write_bytes(b"")
    with pytest.raises(BadInput, match="not empty"):
        copy_site(source.path, existing)
    assert existing.read_bytes() == b""
    with pytest.raises(BadInput, match="same database"):
        copy_site(source.path, source.path)


def test_a_failure_midway_leaves_dest_empty(source: Countersign, pg_uri: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from core.storage.postgres_tx import PgTx

    real = PgTx.insert_rows
    calls = []

    def failing(self: PgTx, table: str, columns: Any, rows: Any) -> None:  # noqa: ANN401
        calls.append(table)
        if table == "ledger":
            raise CountersignError("disk full (simulated)")
        real(self, table, columns, rows)

    monkeypatch.setattr(PgTx, "insert_rows", failing)
    with pytest.raises(CountersignError, match="simulated"):
        copy_site(source.path, pg_uri)
    assert len(calls) > 1  # it failed midway, after other tables were written in the same transaction
    from core.storage.postgres_store import PostgresStore

    assert PostgresStore(pg_uri).is_empty()
    dest = Site.for_uri(pg_uri)
    assert not dest.service_secret_file.exists() and not dest.artifact_store.exists()
    assert not dest.service_secret_file.parent.exists()  # nor the site's folder made for them
    monkeypatch.setattr(PgTx, "insert_rows", real)
    copy_site(source.path, pg_uri)  # and a second try succeeds
    assert Countersign(pg_uri).verify(jobs=1).ok


def test_the_cli_copies_and_refuses_with_exit_codes(source: Countersign, pg_uri: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    done = run("store", "copy", str(source.path), pg_uri, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ledger_size"] == source.verify(jobs=1).size
    assert "password" not in done.stdout and pg_uri not in done.stdout  # the URI's password is never printed
    again = run("store", "copy", str(source.path), pg_uri)
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr
    assert pg_uri not in again.stderr
    verified = run("verify", "--db", pg_uri)
    assert verified.returncode == 0, verified.stderr


def test_a_dest_whose_secret_cannot_unlock_the_service_key_is_refused(source: Countersign, pg_uri: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNTERSIGN_SERVICE_SECRET", "another-secret-than-the-source-file")
    with pytest.raises(BadInput, match="cannot sign"):
        copy_site(source.path, pg_uri)
    from core.storage.postgres_store import PostgresStore

    assert PostgresStore(pg_uri).is_empty()


def test_a_failed_copy_into_duckdb_leaves_no_file_behind(source: Countersign, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from core.storage.duckdb_tx.tables import TableTx

    real = TableTx.insert_rows

    def failing(self: TableTx, table: str, columns: Any, rows: Any) -> None:  # noqa: ANN401
        if table == "ledger":
            raise CountersignError("killed (simulated)")
        real(self, table, columns, rows)

    monkeypatch.setattr(TableTx, "insert_rows", failing)
    dest = tmp_path / "dest" / "copy.duckdb"
    dest.parent.mkdir()
    with pytest.raises(CountersignError, match="simulated"):
        copy_site(source.path, dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == []  # no DEST, no staging file, secret or lock file
    monkeypatch.setattr(TableTx, "insert_rows", real)
    copy_site(source.path, dest)  # the retry is not blocked by leftovers
    assert Countersign(dest).verify(jobs=1).ok
    assert sorted(p.name for p in dest.parent.iterdir() if p.name.startswith(".")) == []


def test_a_value_postgresql_cannot_hold_is_refused_naming_its_table(source: Countersign, pg_uri: str) -> None:
    """A DuckDB site written before NUL characters were refused at input can still hold one."""
    assert source.path is not None
    con = duckdb.connect(str(source.path))
    try:
        con.execute("INSERT INTO settings VALUES ('legacy', 'a\x00b')")
    finally:
        con.close()
    with pytest.raises(BadInput, match=r"table settings: PostgreSQL refused a value .*NUL"):
        copy_site(source.path, pg_uri)
    from core.storage.postgres_store import PostgresStore

    assert PostgresStore(pg_uri).is_empty()


def test_a_source_at_an_older_schema_is_refused_with_the_way_out(tmp_path: Path, pg_uri: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.core.storage.test_migrations import _init_at

    old = tmp_path / "old.duckdb"
    _init_at(old, 11, monkeypatch)
    with pytest.raises(BadInput, match=r"schema version 11, this Countersign writes \d+: open SOURCE once"):
        copy_site(old, pg_uri)


def test_two_schemas_of_one_database_are_two_sites(source: Countersign, pg_uri: str) -> None:
    import psycopg

    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA one")
        conn.execute("CREATE SCHEMA two")
    one, two = (f"{pg_uri}{'&' if '?' in pg_uri else '?'}options=-csearch_path%3D{s}" for s in ("one", "two"))
    assert Site.for_uri(one).key != Site.for_uri(two).key
    assert Site.for_uri(one).service_secret_file != Site.for_uri(two).service_secret_file
    copy_site(source.path, one)
    copied = copy_site(one, two)
    assert copied["dest"].endswith("(schema two)")
    assert Countersign(two).verify(jobs=1).ok


def test_staging_files_of_a_killed_copy_are_removed_by_the_next(source: Countersign, tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid, live_pid = int(dead.stdout), os.getppid()  # the first has exited; the second is this test's parent
    dest = tmp_path / "copy.duckdb"
    stale = [tmp_path / f".copy.duckdb.copying-{dead_pid}{suffix}" for suffix in ("", ".wal", ".lock")]
    live = tmp_path / f".copy.duckdb.copying-{live_pid}"
    for path in (*stale, live):
        path.write_bytes(b"left by a killed copy")
    copy_site(source.path, dest)
    assert not any(p.exists() for p in stale)
    assert live.exists()  # a copy that may still be running is left alone
    assert Countersign(dest).verify(jobs=1).ok


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")
@pytest.mark.parametrize("free_kib", [0, 8, 20])  # no room for the secret; for the file; for the commit
def test_a_dest_on_a_full_disk_is_a_one_line_error_leaving_nothing(source: Countersign, tmp_path: Path,
                                                                   free_kib: int) -> None:
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        (mount / ".filler").write_bytes(b"\0" * (1024 - free_kib) * 1024)
        done = subprocess.run([sys.executable, "-m", "cli", "store", "copy", str(source.path),
                               str(mount / "site.duckdb")], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 4, (done.returncode, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.startswith("error: "), done.stderr
        assert "No space left" in done.stderr, done.stderr
        assert sorted(p.name for p in mount.iterdir()) == [".filler"]
    finally:
        subprocess.run(["umount", str(mount)], check=False)
