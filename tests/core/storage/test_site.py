"""A site names its locations: database, service secret file, artifact store — exactly where they are today."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.api.countersign import Countersign
from core.catalog import artifacts
from core.ledger import service_key
from core.storage.contract import Store
from core.storage.duckdb_store import DuckDBStore
from core.storage.site import Site


@pytest.mark.parametrize("db", ["/srv/countersign/prod.duckdb", "relative/dir/x.duckdb", "plain", "~/c.duckdb"])
def test_for_database_reproduces_todays_locations(db: str) -> None:
    site = Site.for_database(db)
    path = Path(db)
    assert site.database == path  # as given: not resolved, not expanded
    assert site.service_secret_file == service_key.secret_file_for(path)
    assert site.artifact_store == artifacts.store_dir(path)
    assert site.artifact_path("ab12", "skops") == site.artifact_store / "ab12.skops"
    assert site.origin is None and site.backend == "duckdb"
    assert Site.for_database(path) == site  # str or Path alike


def test_the_literal_names_beside_the_database() -> None:
    site = Site.for_database(Path("/data/ledger.duckdb"), origin="bank.example/log")
    assert site.service_secret_file == Path("/data/ledger.duckdb.service-secret")
    assert site.artifact_store == Path("/data/ledger.duckdb.artifacts")
    assert site.origin == "bank.example/log"
    assert site.uri == "duckdb:///data/ledger.duckdb"


def test_a_site_is_a_frozen_value() -> None:
    site = Site.for_database("/data/ledger.duckdb")
    with pytest.raises(dataclasses.FrozenInstanceError):
        site.database = Path("/elsewhere")  # type: ignore[misc]
    assert {site, Site.for_database("/data/ledger.duckdb")} == {site}
    assert dataclasses.replace(site, origin="o").origin == "o"


def test_a_relative_database_has_an_absolute_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Site.for_database("x.duckdb").uri == f"duckdb://{tmp_path.as_posix()}/x.duckdb"


def test_open_store_gives_the_backend_store_of_the_site(tmp_path: Path) -> None:
    site = Site.for_database(tmp_path / "s.duckdb")
    store = site.open_store(lock_timeout=3.5)
    assert isinstance(store, DuckDBStore) and isinstance(store, Store)
    assert (store.path, store.lock_timeout, store.backend) == (site.database, 3.5, "duckdb")
    assert not store.exists()  # nothing opened
    with pytest.raises(ValueError, match="unknown storage backend 'postgresql'"):
        dataclasses.replace(site, backend="postgresql").open_store()


def test_a_real_site_keeps_its_secret_and_artifacts_where_the_site_says(cs: Countersign, db_path: Path,
                                                                       tmp_path: Path) -> None:
    with DuckDBStore(db_path).reader() as tx:
        site = Site.for_database(db_path, origin=tx.get_setting("origin"))
    assert site.service_secret_file.is_file()
    assert service_key.read_secret(db_path) == site.service_secret_file.read_text(encoding="utf-8").strip()
    source = tmp_path / "model.skops"
    source.write_bytes(b"not really a model")
    stored = artifacts.store_copy(db_path, source, "ab12", "skops")
    assert stored == site.artifact_path("ab12", "skops") and stored.read_bytes() == b"not really a model"
    assert site.origin == "test.example/log"
