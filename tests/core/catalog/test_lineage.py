"""OpenLineage import and lineage graphs, through the public API, against the spec-derived fixture."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import duckdb
import pytest

from core.api.countersign import Countersign
from core.catalog.lineage import to_dot
from core.catalog.openlineage import dataset_id, job_id, parse_openlineage
from core.errors import BadInput, PermissionDenied
from core.tlog.canonical import canonical_bytes
from tests.conftest import USERS

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "openlineage" / "run_events.jsonl"

RUN1 = "3b452093-782c-4ef2-9c0c-aafe2aa6f34d"
RUN2 = "7f1c9e2a-5d4b-4a8e-9c3f-1e2d3c4b5a69"
JOB1 = "job:my-scheduler-namespace/myjob.mytask"
JOB2 = "job:my-scheduler-namespace/myjob.features"
ORDERS = "ol-dataset:postgres:%2F%2Fdb:5432/inventory.orders"
CLEAN = "ol-dataset:s3:%2F%2Fbucket/warehouse/orders_clean"
FEATURES = "ol-dataset:s3:%2F%2Fbucket/warehouse/order_features"
assert ORDERS == dataset_id("postgres://db:5432", "inventory.orders") and JOB1 == job_id("my-scheduler-namespace",
                                                                                          "myjob.mytask")

EXPECTED_NODES = {
    JOB1: "job", JOB2: "job", f"run:{RUN1}": "run", f"run:{RUN2}": "run",
    ORDERS: "ol-dataset", CLEAN: "ol-dataset", FEATURES: "ol-dataset",
}
EXPECTED_EDGES = {
    (JOB1, f"run:{RUN1}", "ran"),
    (ORDERS, f"run:{RUN1}", "input_to"),
    (f"run:{RUN1}", CLEAN, "produced"),
    (JOB2, f"run:{RUN2}", "ran"),
    (CLEAN, f"run:{RUN2}", "input_to"),
    (f"run:{RUN2}", FEATURES, "produced"),
}


def _query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _state(db: Path) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Everything an import could write: ledger rows, lineage nodes, lineage edges."""
    return (_query(db, "SELECT seq, action, subject, payload FROM ledger ORDER BY seq"),
            _query(db, "SELECT * FROM lineage_nodes ORDER BY id"),
            _query(db, "SELECT * FROM lineage_edges ORDER BY src, dst, kind"))


def _login(cs: Countersign, user: str):  # noqa: ANN202
    return cs.login(user, USERS[user][1])


def test_fixture_lines_are_spec_shaped_run_events() -> None:
    events, sha = parse_openlineage(FIXTURE)
    assert sha == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert [(e.kind, e.body["eventType"], e.body["run"]["runId"]) for e in events] == [
        ("RunEvent", "START", RUN1), ("RunEvent", "COMPLETE", RUN1), ("RunEvent", "START", RUN2),
        ("RunEvent", "COMPLETE", RUN2)]
    for event in (e.body for e in events):
        assert event["schemaURL"] == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
        assert event["producer"].startswith("https://github.com/OpenLineage/")
        assert event["job"]["namespace"] == "my-scheduler-namespace"


def test_import_yields_exactly_the_expected_graph(populated: Countersign, db_path: Path) -> None:
    result = populated.import_openlineage(_login(populated, "dana"), FIXTURE)
    sha = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert result["file_sha256"] == sha and result["events"] == 4
    assert result["jobs"] == sorted([JOB1, JOB2])
    assert result["runs"] == sorted([f"run:{RUN1}", f"run:{RUN2}"])
    assert result["datasets"] == sorted([ORDERS, CLEAN, FEATURES])
    assert (result["nodes_created"], result["edges_created"], result["edges"]) == (7, 6, 6)

    nodes = {row[0]: row for row in _query(db_path, "SELECT id, kind, label, digest, attributes, seq "
                                                    "FROM lineage_nodes")}
    assert {i: n[1] for i, n in nodes.items()} == EXPECTED_NODES
    edges = _query(db_path, "SELECT src, dst, kind, seq FROM lineage_edges")
    assert {(s, d, k) for s, d, k, _ in edges} == EXPECTED_EDGES and len(edges) == len(EXPECTED_EDGES)
    assert {n[5] for n in nodes.values()} | {e[3] for e in edges} == {result["seq"]}

    for node_id, (_, _, _label, digest, attributes, _) in nodes.items():
        assert re.fullmatch(r"[0-9a-f]{64}", digest or ""), node_id
        assert digest == hashlib.sha256(canonical_bytes(json.loads(attributes))).hexdigest(), node_id
    assert nodes[ORDERS][2] == "postgres://db:5432 · inventory.orders" and nodes[JOB1][2] == \
        "my-scheduler-namespace · myjob.mytask" and nodes[f"run:{RUN1}"][2] == RUN1
    attrs = {i: json.loads(n[4]) for i, n in nodes.items()}
    orders_schema = [
        {"name": "order_id", "type": "INTEGER"}, {"name": "customer_id", "type": "INTEGER"},
        {"name": "amount", "type": "DECIMAL(10,2)"}, {"name": "status", "type": "VARCHAR"},
        {"name": "created_at", "type": "TIMESTAMP"}]
    assert attrs[ORDERS] == {"namespace": "postgres://db:5432", "name": "inventory.orders", "schema": orders_schema,
                             "schema_versions": [{"since": "2020-12-09T23:37:31.081Z", "fields": orders_schema}]}
    # the START event names the output without a schema facet; the COMPLETE event's schema is kept
    assert [f["name"] for f in attrs[CLEAN]["schema"]] == ["order_id", "customer_id", "amount", "status",
                                                           "order_date"]
    assert attrs[FEATURES]["schema"][1] == {"name": "order_count", "type": "int64"}
    assert attrs[JOB1] == {"namespace": "my-scheduler-namespace", "name": "myjob.mytask"}
    assert attrs[f"run:{RUN1}"]["events"] == [
        {"eventType": "START", "eventTime": "2020-12-09T23:37:31.081Z"},
        {"eventType": "COMPLETE", "eventTime": "2020-12-09T23:42:07.512Z"}]
    assert (attrs[f"run:{RUN1}"]["state"], attrs[f"run:{RUN1}"]["job"]) == ("COMPLETE", JOB1)
    assert attrs[f"run:{RUN1}"]["ended_at"] == "2020-12-09T23:42:07.512Z"


def test_import_writes_one_ledger_entry_naming_the_file_digest(populated: Countersign, db_path: Path) -> None:
    before = _query(db_path, "SELECT count(*) FROM ledger")[0][0]
    result = populated.import_openlineage(_login(populated, "dana"), FIXTURE)
    rows = _query(db_path, f"SELECT seq, actor, role, action, subject, payload FROM ledger WHERE seq >= {before} "
                           "AND action <> 'checkpoint.written' ORDER BY seq")
    imported = [r for r in rows if r[3] == "lineage.imported"]
    assert len(imported) == 1
    seq, actor, role, _, subject, payload = imported[0]
    sha = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert (seq, actor, role, subject) == (result["seq"], "dana", "data_scientist", f"openlineage:{sha}")
    body = json.loads(payload)
    assert body["file_sha256"] == sha and body["events"] == 4 and body["edges"] == 6
    assert populated.verify().ok


def test_reimporting_the_same_file_creates_no_nodes_or_edges(populated: Countersign, db_path: Path) -> None:
    dana = _login(populated, "dana")
    populated.import_openlineage(dana, FIXTURE)
    _, nodes, edges = _state(db_path)
    again = populated.import_openlineage(dana, FIXTURE)
    assert (again["nodes_created"], again["edges_created"]) == (0, 0)
    assert _state(db_path)[1:] == (nodes, edges)
    assert populated.verify().ok


MALFORMED_LINES = {
    2: "invalid JSON",
    3: "run: 'runId' is a required property",
    5: "job: 'name' is a required property",
    6: "eventType: 'FINISHED' is not one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER",
    7: "eventTime: 'yesterday at noon' is not a valid 'date-time'",
    8: "inputs: {",
}


def _malformed_file(tmp_path: Path) -> Path:
    good = FIXTURE.read_text().splitlines()
    events = [json.loads(line) for line in good]
    no_run_id = {**events[0], "run": {"facets": {}}}
    no_job_name = {**events[0], "job": {"namespace": "my-scheduler-namespace"}}
    bad_type = {**events[0], "eventType": "FINISHED"}
    bad_time = {**events[0], "eventTime": "yesterday at noon"}
    inputs_not_list = {**events[0], "inputs": {"namespace": "postgres://db:5432", "name": "inventory.orders"}}
    lines = [
        good[0],                                  # 1 ok
        '{"eventType": "START", "run": ',         # 2 truncated JSON
        json.dumps(no_run_id),                    # 3
        good[1],                                  # 4 ok
        json.dumps(no_job_name),                  # 5
        json.dumps(bad_type),                     # 6
        json.dumps(bad_time),                     # 7
        json.dumps(inputs_not_list),              # 8
        "",                                       # 9 blank: skipped, but still counted
        good[2],                                  # 10 ok
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_malformed_lines_are_each_named_and_nothing_is_written(populated: Countersign, db_path: Path,
                                                               tmp_path: Path) -> None:
    bad = _malformed_file(tmp_path)
    dana = _login(populated, "dana")
    before = _state(db_path)
    with pytest.raises(BadInput) as caught:
        populated.import_openlineage(dana, bad)
    message = caught.value.message
    assert f"{len(MALFORMED_LINES)} malformed" in message and "nothing was imported" in message
    for number, why in MALFORMED_LINES.items():
        line = next((m for m in message.splitlines() if m.startswith(f"{bad}:{number}: ")), None)
        assert line is not None, f"line {number} not reported:\n{message}"
        assert why in line, line
    for number in (1, 4, 9, 10):
        assert f"{bad}:{number}:" not in message
    assert _state(db_path) == before


def test_empty_or_missing_files_are_refused(populated: Countersign, db_path: Path, tmp_path: Path) -> None:
    dana = _login(populated, "dana")
    before = _state(db_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(BadInput, match="no OpenLineage events"):
        populated.import_openlineage(dana, empty)
    with pytest.raises(BadInput, match="cannot read"):
        populated.import_openlineage(dana, tmp_path / "missing.jsonl")
    assert _state(db_path) == before


def test_an_auditor_may_not_import(populated: Countersign, db_path: Path) -> None:
    before_ledger, before_nodes, before_edges = _state(db_path)
    with pytest.raises(PermissionDenied, match="data_scientist"):
        populated.import_openlineage(_login(populated, "aude"), FIXTURE)
    ledger, nodes, edges = _state(db_path)
    assert (nodes, edges) == (before_nodes, before_edges)
    new = [r for r in ledger[len(before_ledger):] if r[1] != "checkpoint.written"]
    assert [r[1] for r in new] == ["access.denied"]
    assert json.loads(new[0][3])["permission"] == "lineage.import"


def test_downstream_walk_reaches_the_final_output_through_both_runs(populated: Countersign) -> None:
    populated.import_openlineage(_login(populated, "dana"), FIXTURE)
    graph = populated.lineage(_login(populated, "aude"), ORDERS, "downstream")
    assert graph["root"] == ORDERS
    assert {n["id"] for n in graph["nodes"]} == {ORDERS, f"run:{RUN1}", CLEAN, f"run:{RUN2}", FEATURES}
    assert {(e["from"], e["to"], e["kind"]) for e in graph["edges"]} == {
        (ORDERS, f"run:{RUN1}", "input_to"), (f"run:{RUN1}", CLEAN, "produced"),
        (CLEAN, f"run:{RUN2}", "input_to"), (f"run:{RUN2}", FEATURES, "produced")}
    upstream = populated.lineage(_login(populated, "aude"), FEATURES, "upstream")
    assert {n["id"] for n in upstream["nodes"]} == set(EXPECTED_NODES)
    assert {(e["from"], e["to"], e["kind"]) for e in upstream["edges"]} == EXPECTED_EDGES
    # "both" is upstream plus downstream of the root, not the whole connected component: the second job is a
    # parent of a downstream run, so it is not reached from the intermediate dataset
    both = populated.lineage(_login(populated, "aude"), CLEAN, "both")
    assert {n["id"] for n in both["nodes"]} == set(EXPECTED_NODES) - {JOB2}


def test_to_dot_is_valid_looking_and_names_every_node(populated: Countersign) -> None:
    populated.import_openlineage(_login(populated, "dana"), FIXTURE)
    graph = populated.lineage(_login(populated, "dana"), FEATURES, "upstream")  # reaches every node
    assert {n["id"] for n in graph["nodes"]} == set(EXPECTED_NODES)
    dot = to_dot(graph)
    lines = dot.splitlines()
    assert lines[0] == "digraph lineage {" and lines[-1] == "}" and dot.endswith("}\n")
    assert dot.count("{") == dot.count("}") == 1
    body = lines[1:-1]
    assert all(line.startswith("  ") and line.endswith(";") for line in body)
    declared = {m.group(1) for line in body if (m := re.fullmatch(r'  "([^"]+)" \[label=.*\];', line))}
    assert declared == set(EXPECTED_NODES)
    arrows = {(m.group(1), m.group(2), m.group(3))
              for line in body if (m := re.fullmatch(r'  "([^"]+)" -> "([^"]+)" \[label="([a-z_]+)"\];', line))}
    assert arrows == EXPECTED_EDGES
    for node in graph["nodes"]:
        assert f'"{node["id"]}"' in dot and f"sha256:{node['digest'][:12]}" in dot
    assert [line for line in body if 'style="bold"' in line] == [
        next(line for line in body if line.startswith(f'  "{FEATURES}" [label='))]
