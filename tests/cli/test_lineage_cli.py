"""``countersign lineage import`` as a user runs it: a real subprocess on a real database."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

from core.api.countersign import Countersign
from tests.cli.test_main import run
from tests.conftest import USERS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "openlineage" / "run_events.jsonl"
DANA = {"user": "dana", "password": USERS["dana"][1]}


def _counts(db: str) -> tuple[int, int, int]:
    con = duckdb.connect(db)
    try:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                     for t in ("ledger", "lineage_nodes", "lineage_edges"))
    finally:
        con.close()


def test_lineage_import_json(populated: Countersign, cli_env: dict[str, str]) -> None:
    result = run(cli_env, "lineage", "import", str(FIXTURE), "--json", **DANA)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["file_sha256"] == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert (body["events"], body["nodes_created"], body["edges_created"]) == (4, 7, 6)
    # (namespace, name) identity: the namespace's "/" is percent-encoded in node ids
    assert body["datasets"] == ["ol-dataset:postgres:%2F%2Fdb:5432/inventory.orders",
                                "ol-dataset:s3:%2F%2Fbucket/warehouse/order_features",
                                "ol-dataset:s3:%2F%2Fbucket/warehouse/orders_clean"]
    last = json.loads(run(cli_env, "log", "--limit", "1", "--action", "lineage.imported", "--json", **DANA).stdout)
    assert last[0]["actor"] == "dana" and last[0]["subject"] == f"openlineage:{body['file_sha256']}"

    # a reference written with the namespace as is resolves when only one (namespace, name) split fits
    dot = run(cli_env, "lineage", "ol-dataset:postgres://db:5432/inventory.orders", "--downstream", "--format",
              "dot", **DANA)
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph lineage {")
    assert '"ol-dataset:s3:%2F%2Fbucket/warehouse/order_features"' in dot.stdout

    again = run(cli_env, "lineage", "import", str(FIXTURE), **DANA)
    assert again.returncode == 0, again.stderr
    assert "(0 new nodes, 0 new edges)" in again.stdout


def test_malformed_file_exits_2_naming_the_lines_and_writes_nothing(populated: Countersign, cli_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    good = FIXTURE.read_text().splitlines()
    event = json.loads(good[0])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([good[0], "{not json", json.dumps({**event, "eventType": "DONE"}), good[1],
                              json.dumps({**event, "run": {}})]) + "\n")
    before = _counts(cli_env["COUNTERSIGN_DB"])
    result = run(cli_env, "lineage", "import", str(bad), **DANA)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "3 malformed" in result.stderr
    for number in (2, 3, 5):
        assert f"{bad}:{number}:" in result.stderr
    for number in (1, 4):
        assert f"{bad}:{number}:" not in result.stderr
    assert _counts(cli_env["COUNTERSIGN_DB"]) == before


def test_auditor_import_exits_3(populated: Countersign, cli_env: dict[str, str]) -> None:
    result = run(cli_env, "lineage", "import", str(FIXTURE), user="aude", password=USERS["aude"][1])
    assert result.returncode == 3 and "data_scientist" in result.stderr
    assert _counts(cli_env["COUNTERSIGN_DB"])[1:] == (0, 0)
