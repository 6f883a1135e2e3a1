"""OpenLineage 2-0-2 conformance, with events made by OpenLineage's own Python client (``openlineage-python``).

Each test stands for a kind of fault the interoperability issue found: identity by (namespace, name), later events
merged into earlier runs, every valid top-level event accepted (and invalid ones refused), and the facets that carry
identity or lineage (``symlinks``, ``columnLineage``, ``dataSource``) kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openlineage.client import event_v2 as ol
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    datasource_dataset,
    schema_dataset,
    symlinks_dataset,
)
from openlineage.client.serde import Serde
from openlineage.client.uuid import generate_new_uuid

from core.api.countersign import Countersign
from core.catalog.openlineage import dataset_id, event_problem, job_id, run_id
from core.errors import BadInput
from tests.conftest import USERS

PRODUCER = "https://github.com/example/pipelines/tree/v1"


def _login(cs: Countersign, user: str):  # noqa: ANN202
    return cs.login(user, USERS[user][1])


def _write(path: Path, *events: Any) -> Path:  # noqa: ANN401
    path.write_text("".join(Serde.to_json(e) + "\n" for e in events))
    return path


def _run(state: ol.RunState, when: str, job: tuple[str, str], run: str, inputs: list[ol.InputDataset] | None = None,
         outputs: list[ol.OutputDataset] | None = None) -> ol.RunEvent:
    return ol.RunEvent(eventType=state, eventTime=when, producer=PRODUCER, run=ol.Run(runId=run),
                       job=ol.Job(namespace=job[0], name=job[1]), inputs=inputs or [], outputs=outputs or [])


def _schema(*names: str) -> dict[str, Any]:
    return {"schema": schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type="STRING") for n in names])}


def _edges(db: Path) -> set[tuple[str, str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {tuple(r) for r in con.execute("SELECT src, dst, kind FROM lineage_edges").fetchall()}
    finally:
        con.close()


def _node(cs: Countersign, node: str) -> dict[str, Any]:
    graph = cs.lineage(_login(cs, "aude"), node, "both", depth=0)
    return next(n for n in graph["nodes"] if n["id"] == graph["root"])


# ------------------------------------------------------------------------------------------------ identity
def test_datasets_and_jobs_are_keyed_by_the_namespace_name_pair(populated: Countersign, db_path: Path,
                                                                tmp_path: Path) -> None:
    writer, reader = str(generate_new_uuid()), str(generate_new_uuid())
    events = _write(
        tmp_path / "pair.jsonl",
        _run(ol.RunState.COMPLETE, "2026-01-01T10:00:00Z", ("airflow/prod", "dag.task"), writer,
             outputs=[ol.OutputDataset("s3://bucket", "raw/events.parquet")]),
        _run(ol.RunState.COMPLETE, "2026-01-01T11:00:00Z", ("airflow", "prod/dag.task"), reader,
             inputs=[ol.InputDataset("s3://bucket/raw", "events.parquet")]),
    )
    result = populated.import_openlineage(_login(populated, "dana"), events)
    written, read = dataset_id("s3://bucket", "raw/events.parquet"), dataset_id("s3://bucket/raw", "events.parquet")
    job_a, job_b = job_id("airflow/prod", "dag.task"), job_id("airflow", "prod/dag.task")
    assert written != read and job_a != job_b
    assert result["datasets"] == sorted([written, read]) and result["jobs"] == sorted([job_a, job_b])
    assert _edges(db_path) >= {(run_id(writer), written, "produced"), (read, run_id(reader), "input_to"),
                               (job_a, run_id(writer), "ran"), (job_b, run_id(reader), "ran")}
    # the reader never consumed the writer's output
    downstream = populated.lineage(_login(populated, "aude"), written, "downstream")
    assert {n["id"] for n in downstream["nodes"]} == {written}
    # a reference written with the namespace as is fits both nodes: refused with the candidates
    with pytest.raises(BadInput, match="fits 2 nodes"):
        populated.lineage(_login(populated, "aude"), "ol-dataset:s3://bucket/raw/events.parquet")
    assert _node(populated, written)["attributes"]["namespace"] == "s3://bucket"


def test_run_ids_are_uuids_compared_without_case(populated: Countersign, tmp_path: Path) -> None:
    run = str(generate_new_uuid())
    dana = _login(populated, "dana")
    populated.import_openlineage(dana, _write(tmp_path / "a.jsonl", _run(
        ol.RunState.START, "2026-01-01T10:00:00Z", ("ns", "job"), run.upper())))
    populated.import_openlineage(dana, _write(tmp_path / "b.jsonl", _run(
        ol.RunState.COMPLETE, "2026-01-01T10:05:00Z", ("ns", "job"), run)))
    assert _node(populated, run_id(run))["attributes"]["state"] == "COMPLETE"


# ------------------------------------------------------------------------------------------------ later events
@pytest.mark.parametrize("end", [ol.RunState.COMPLETE, ol.RunState.FAIL, ol.RunState.ABORT])
def test_a_later_file_moves_the_run_on(populated: Countersign, tmp_path: Path, end: ol.RunState) -> None:
    run, job = str(generate_new_uuid()), ("scheduler", "etl.load")
    out = ol.OutputDataset("warehouse", "public.orders")
    dana = _login(populated, "dana")
    populated.import_openlineage(dana, _write(tmp_path / "start.jsonl",
                                              _run(ol.RunState.START, "2026-03-01T08:00:00+01:00", job, run)))
    assert _node(populated, run_id(run))["attributes"]["state"] == "START"
    populated.import_openlineage(dana, _write(tmp_path / "running.jsonl",
                                              _run(ol.RunState.RUNNING, "2026-03-01T08:10:00+01:00", job, run)))
    second = populated.import_openlineage(dana, _write(tmp_path / "end.jsonl", _run(
        end, "2026-03-01T07:30:00Z", job, run, outputs=[out])))
    assert second["nodes_updated"] == 1 and second["edges_created"] == 1
    attrs = _node(populated, run_id(run))["attributes"]
    assert attrs["state"] == end.value and attrs["started_at"] == "2026-03-01T08:00:00+01:00"
    assert attrs["ended_at"] == "2026-03-01T07:30:00Z"
    assert [e["eventType"] for e in attrs["events"]] == ["START", "RUNNING", end.value]
    assert (run_id(run), dataset_id("warehouse", "public.orders"), "produced") in {
        (e["from"], e["to"], e["kind"]) for e in populated.lineage(_login(populated, "aude"), run_id(run))["edges"]}


def test_events_arriving_out_of_order_settle_on_the_terminal_state(populated: Countersign, tmp_path: Path) -> None:
    run, job = str(generate_new_uuid()), ("scheduler", "etl.load")
    dana = _login(populated, "dana")
    populated.import_openlineage(dana, _write(tmp_path / "end.jsonl",
                                              _run(ol.RunState.COMPLETE, "2026-03-01T09:00:00Z", job, run)))
    populated.import_openlineage(dana, _write(tmp_path / "start.jsonl",
                                              _run(ol.RunState.START, "2026-03-01T08:00:00Z", job, run),
                                              _run(ol.RunState.RUNNING, "2026-03-01T09:30:00Z", job, run)))
    attrs = _node(populated, run_id(run))["attributes"]
    assert attrs["state"] == "COMPLETE" and attrs["after_end"] == ["RUNNING"]
    assert [e["eventType"] for e in attrs["events"]] == ["START", "COMPLETE", "RUNNING"]


def test_schema_versions_are_kept_as_they_change(populated: Countersign, tmp_path: Path) -> None:
    job = ("scheduler", "etl.load")
    dana = _login(populated, "dana")
    table = dataset_id("warehouse", "public.orders")
    for i, (when, fields) in enumerate([("2026-01-01T00:00:00Z", ("id", "amount")),
                                        ("2026-02-01T00:00:00Z", ("id", "amount", "currency")),
                                        ("2026-01-15T00:00:00Z", ("id", "amount"))]):  # late, same as the first
        populated.import_openlineage(dana, _write(tmp_path / f"{i}.jsonl", _run(
            ol.RunState.COMPLETE, when, job, str(generate_new_uuid()),
            outputs=[ol.OutputDataset("warehouse", "public.orders", facets=_schema(*fields))])))
    attrs = _node(populated, table)["attributes"]
    assert [(v["since"], [f["name"] for f in v["fields"]]) for v in attrs["schema_versions"]] == [
        ("2026-01-01T00:00:00Z", ["id", "amount"]), ("2026-02-01T00:00:00Z", ["id", "amount", "currency"])]
    assert [f["name"] for f in attrs["schema"]] == ["id", "amount", "currency"]


# ------------------------------------------------------------------------------------------------ event kinds
def test_dataset_and_job_events_are_accepted(populated: Countersign, db_path: Path, tmp_path: Path) -> None:
    dataset_event = ol.DatasetEvent(eventTime="2026-01-01T00:00:00Z", producer=PRODUCER,
                                    dataset=ol.StaticDataset("warehouse", "public.customers",
                                                             facets=_schema("id", "country")))
    job_event = ol.JobEvent(eventTime="2026-01-01T00:00:00Z", producer=PRODUCER,
                            job=ol.Job(namespace="dbt", name="shop.customer_orders"),
                            inputs=[ol.InputDataset("warehouse", "public.customers")],
                            outputs=[ol.OutputDataset("warehouse", "public.customer_orders")])
    result = populated.import_openlineage(_login(populated, "dana"),
                                          _write(tmp_path / "static.jsonl", dataset_event, job_event))
    assert result["event_kinds"] == {"RunEvent": 0, "JobEvent": 1, "DatasetEvent": 1}
    customers, job = dataset_id("warehouse", "public.customers"), job_id("dbt", "shop.customer_orders")
    assert _edges(db_path) >= {(customers, job, "input_to"),
                               (job, dataset_id("warehouse", "public.customer_orders"), "produced")}
    assert [f["name"] for f in _node(populated, customers)["attributes"]["schema"]] == ["id", "country"]


def _event(**changes: Any) -> dict[str, Any]:  # noqa: ANN401
    base = json.loads(Serde.to_json(_run(ol.RunState.START, "2026-01-01T00:00:00Z", ("ns", "job"),
                                         str(generate_new_uuid()))))
    for path, value in changes.items():
        target = base
        *parents, leaf = path.split("__")
        for p in parents:
            target = target[p]
        target[leaf] = value
    return base


@pytest.mark.parametrize(("changes", "why"), [
    ({"eventTime": "2026-01-01T00:00:00"}, "eventTime: '2026-01-01T00:00:00' is not a valid 'date-time'"),
    ({"eventTime": "2026-13-01T00:00:00Z"}, "eventTime"),
    ({"run__runId": "run-42"}, "run.runId: 'run-42' is not a valid 'uuid'"),
    ({"schemaURL": "not a uri"}, "schemaURL: 'not a uri' is not a valid 'uri'"),
    ({"producer": "my producer"}, "producer"),
    ({"eventType": "DONE"}, "eventType"),
    ({"job__namespace": 7}, "job.namespace: 7 is not of type 'string'"),
])
def test_invalid_events_are_refused_with_the_field(changes: dict[str, Any], why: str) -> None:
    problem = event_problem(_event(**changes))
    assert problem is not None and why in problem, problem


@pytest.mark.parametrize("changes", [
    {"inputs": [{"namespace": "warehouse", "name": ""}]},  # an empty name is allowed by the spec
    {"eventTime": "2026-01-01T00:00:00.123456+05:30"},
    {"run__runId": "01A230C4-DFE1-745C-AFDC-E4D6EA27AB52"},
    {"job__facets": {"custom": {"_producer": PRODUCER, "_schemaURL": "https://example.com/facet.json",
                                "anything": [1, {"x": None}]}}},
])
def test_valid_events_are_accepted(changes: dict[str, Any]) -> None:
    assert event_problem(_event(**changes)) is None


def test_a_facet_we_interpret_is_checked_against_its_own_schema() -> None:
    bad = _event(inputs=[{"namespace": "w", "name": "t", "facets": {"symlinks": {
        "_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json",
        "identifiers": [{"namespace": "hive", "name": "db.t"}]}}}])
    assert "inputs[0].facets.symlinks.identifiers[0]: 'type' is a required property" in (event_problem(bad) or "")


def test_an_empty_dataset_name_imports(populated: Countersign, tmp_path: Path) -> None:
    path = tmp_path / "empty-name.jsonl"
    path.write_text(json.dumps(_event(inputs=[{"namespace": "kafka://broker", "name": ""}])) + "\n")
    result = populated.import_openlineage(_login(populated, "dana"), path)
    assert result["datasets"] == [dataset_id("kafka://broker", "")]


# ------------------------------------------------------------------------------------------------ facets
def _symlink(namespace: str, name: str) -> dict[str, Any]:
    return {"symlinks": symlinks_dataset.SymlinksDatasetFacet(identifiers=[
        symlinks_dataset.Identifier(namespace=namespace, name=name, type="TABLE")])}


def test_symlinks_make_one_dataset_of_a_path_and_a_table_name(populated: Countersign, db_path: Path,
                                                              tmp_path: Path) -> None:
    dana = _login(populated, "dana")
    path_id = dataset_id("hdfs://cluster", "/warehouse/sales/orders")
    table_id = dataset_id("hive://metastore", "sales.orders")
    writer, reader = str(generate_new_uuid()), str(generate_new_uuid())
    # Spark writes by path and declares the table name; a later Hive job reads by table name
    populated.import_openlineage(dana, _write(tmp_path / "spark.jsonl", _run(
        ol.RunState.COMPLETE, "2026-01-01T00:00:00Z", ("spark", "write_orders"), writer,
        outputs=[ol.OutputDataset("hdfs://cluster", "/warehouse/sales/orders",
                                  facets=_symlink("hive://metastore", "sales.orders"))])))
    result = populated.import_openlineage(dana, _write(tmp_path / "hive.jsonl", _run(
        ol.RunState.COMPLETE, "2026-01-02T00:00:00Z", ("hive", "report"), reader,
        inputs=[ol.InputDataset("hive://metastore", "sales.orders")])))
    assert result["datasets"] == [path_id] and result["nodes_created"] == 2  # the job and the run only
    assert (path_id, run_id(reader), "input_to") in _edges(db_path)
    assert all(table_id not in edge for edge in _edges(db_path))
    assert populated.lineage(_login(populated, "aude"), "ol-dataset:hive://metastore/sales.orders")["root"] == path_id
    downstream = populated.lineage(_login(populated, "aude"), run_id(writer), "downstream")
    assert run_id(reader) in {n["id"] for n in downstream["nodes"]}


def test_a_symlink_joining_two_stored_datasets_merges_them(populated: Countersign, db_path: Path,
                                                           tmp_path: Path) -> None:
    dana = _login(populated, "dana")
    path_id, table_id = dataset_id("s3://lake", "sales/orders"), dataset_id("glue", "sales.orders")
    writer, reader = str(generate_new_uuid()), str(generate_new_uuid())
    populated.import_openlineage(dana, _write(tmp_path / "1.jsonl", _run(
        ol.RunState.COMPLETE, "2026-01-01T00:00:00Z", ("etl", "write"), writer,
        outputs=[ol.OutputDataset("s3://lake", "sales/orders", facets=_schema("id"))])))
    populated.import_openlineage(dana, _write(tmp_path / "2.jsonl", _run(
        ol.RunState.COMPLETE, "2026-01-02T00:00:00Z", ("bi", "read"), reader,
        inputs=[ol.InputDataset("glue", "sales.orders")])))
    assert {path_id, table_id} <= {s for s, _d, _k in _edges(db_path)} | {d for _s, d, _k in _edges(db_path)}
    merged = populated.import_openlineage(dana, _write(tmp_path / "3.jsonl", ol.DatasetEvent(
        eventTime="2026-01-03T00:00:00Z", producer=PRODUCER,
        dataset=ol.StaticDataset("s3://lake", "sales/orders", facets=_symlink("glue", "sales.orders")))))
    assert merged["merged_nodes"] == [[table_id, path_id]]
    edges = _edges(db_path)
    assert (path_id, run_id(reader), "input_to") in edges and all(table_id not in e for e in edges)
    attrs = _node(populated, path_id)["attributes"]
    assert ["glue", "sales.orders"] in attrs["identifiers"] and attrs["schema"] == [{"name": "id", "type": "STRING"}]
    assert populated.lineage(_login(populated, "aude"), table_id)["root"] == path_id
    assert populated.verify().ok


def test_column_lineage_and_data_source_are_stored_and_shown(populated: Countersign, tmp_path: Path) -> None:
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(fields={
        "total": column_lineage_dataset.Fields(inputFields=[
            column_lineage_dataset.InputField(namespace="warehouse", name="public.orders", field="amount",
                                              transformations=[column_lineage_dataset.Transformation(
                                                  type="DIRECT", subtype="AGGREGATION")])]),
        "customer_id": column_lineage_dataset.Fields(inputFields=[
            column_lineage_dataset.InputField(namespace="warehouse", name="public.orders", field="customer_id")]),
    })
    source = datasource_dataset.DatasourceDatasetFacet(name="warehouse", uri="postgres://db:5432/shop")
    run = str(generate_new_uuid())
    result = populated.import_openlineage(_login(populated, "dana"), _write(tmp_path / "cl.jsonl", _run(
        ol.RunState.COMPLETE, "2026-01-01T00:00:00Z", ("dbt", "totals"), run,
        inputs=[ol.InputDataset("warehouse", "public.orders")],
        outputs=[ol.OutputDataset("warehouse", "public.totals",
                                  facets={"columnLineage": lineage, "dataSource": source})])))
    assert result["column_links"] == 2 and result["column_links_created"] == 2
    totals, orders = dataset_id("warehouse", "public.totals"), dataset_id("warehouse", "public.orders")
    graph = populated.lineage(_login(populated, "aude"), totals, "upstream")
    assert {(c["dataset"], c["field"], c["from_dataset"], c["from_field"], c["transformation"])
            for c in graph["columns"]} == {(totals, "total", orders, "amount", "DIRECT/AGGREGATION"),
                                           (totals, "customer_id", orders, "customer_id", None)}
    assert _node(populated, totals)["attributes"]["dataSource"] == {"name": "warehouse",
                                                                    "uri": "postgres://db:5432/shop"}


# ------------------------------------------------------------------------------------------------ second pass
def _raw(path: Path, *events: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


FACET_BASE = {"_producer": PRODUCER, "_schemaURL": "https://example.com/facet.json"}


def _dataset_event(name: str, facets: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:  # noqa: ANN401
    return {"eventTime": "2026-01-01T00:00:00Z", "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
            "dataset": {"namespace": "ns", "name": name, **({"facets": facets} if facets else {})}, **extra}


@pytest.mark.parametrize("facet", [
    {"symlinks": {**FACET_BASE, "_deleted": True, "identifiers": "junk"}},
    {"symlinks": {**FACET_BASE, "_deleted": True, "identifiers": [{"foo": 1}]}},
    {"columnLineage": {**FACET_BASE, "_deleted": True, "fields": {"x": {"inputFields": [{"bad": 1}]}}}},
    {"schema": {**FACET_BASE, "_deleted": True, "fields": "junk"}},
])
def test_a_deleted_facet_is_valid_whatever_else_it_holds(populated: Countersign, tmp_path: Path,
                                                         facet: dict[str, Any]) -> None:
    assert event_problem(_dataset_event("d", facet)) is None
    result = populated.import_openlineage(_login(populated, "dana"), _raw(tmp_path / "d.jsonl",
                                                                          _dataset_event("d", facet)))
    assert result["datasets"] == [dataset_id("ns", "d")] and result["merged"] == 0 and result["aliases"] == 0


def test_a_deleted_symlinks_facet_merges_nothing(populated: Countersign, tmp_path: Path) -> None:
    dana = _login(populated, "dana")
    populated.import_openlineage(dana, _raw(tmp_path / "1.jsonl", _dataset_event("a"), _dataset_event("b")))
    deleted = {"symlinks": {**FACET_BASE, "_deleted": True,
                            "identifiers": [{"namespace": "ns", "name": "b", "type": "TABLE"}]}}
    result = populated.import_openlineage(dana, _raw(tmp_path / "2.jsonl", _dataset_event("a", deleted)))
    assert result["merged_nodes"] == [] and _node(populated, dataset_id("ns", "b"))["id"] == dataset_id("ns", "b")


def test_the_event_kind_is_the_one_branch_of_the_spec_s_one_of_that_validates(populated: Countersign,
                                                                             tmp_path: Path) -> None:
    run = {"runId": str(generate_new_uuid())}
    with_run = _dataset_event("d", run=run)  # a DatasetEvent may name a run, as long as it has no job
    assert event_problem(with_run) is None
    result = populated.import_openlineage(_login(populated, "dana"), _raw(tmp_path / "r.jsonl", with_run))
    assert result["event_kinds"]["DatasetEvent"] == 1 and result["datasets"] == [dataset_id("ns", "d")]
    both = _dataset_event("d", job={"namespace": "ns", "name": "j"})  # valid as a JobEvent and as a DatasetEvent
    assert "matches both a JobEvent and a DatasetEvent" in (event_problem(both) or "")


def test_an_rfc_3339_leap_second_is_a_valid_event_time(populated: Countersign, tmp_path: Path) -> None:
    run = str(generate_new_uuid())
    leap = json.loads(Serde.to_json(_run(ol.RunState.COMPLETE, "2016-12-31T23:59:59Z", ("ns", "j"), run)))
    leap["eventTime"] = "2016-12-31T23:59:60Z"  # the client's own parser (dateutil) cannot build this instant
    assert event_problem(leap) is None
    populated.import_openlineage(_login(populated, "dana"), _raw(tmp_path / "leap.jsonl", leap))
    assert _node(populated, run_id(run))["attributes"]["ended_at"] == "2016-12-31T23:59:60Z"
    wrong = {**leap, "eventTime": "2016-12-31T23:59:61Z"}
    problem = event_problem(wrong) or ""
    assert "is not a valid 'date-time' (RFC 3339)" in problem and "time zone" not in problem


def test_a_chain_of_symlinks_merges_into_the_oldest_node(populated: Countersign, db_path: Path,
                                                        tmp_path: Path) -> None:
    dana = _login(populated, "dana")
    count = 60
    populated.import_openlineage(dana, _raw(tmp_path / "nodes.jsonl", *(_dataset_event(f"d{i}")
                                                                        for i in range(count))))
    links = [_dataset_event(f"d{i + 1}", {"symlinks": {**FACET_BASE, "identifiers": [
        {"namespace": "ns", "name": f"d{i}", "type": "TABLE"}]}}) for i in range(count - 1)]
    result = populated.import_openlineage(dana, _raw(tmp_path / "links.jsonl", *links))
    survivor = dataset_id("ns", "d0")
    assert result["merged"] == count - 1 and {m[1] for m in result["merged_nodes"]} == {survivor}
    for i in range(count):
        assert populated.lineage(_login(populated, "aude"), dataset_id("ns", f"d{i}"))["root"] == survivor
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        nodes = con.execute("SELECT count(*) FROM lineage_nodes WHERE kind = 'ol-dataset'").fetchone()[0]
        aliases = dict(con.execute("SELECT alias, node_id FROM lineage_aliases").fetchall())
    finally:
        con.close()
    assert nodes == 1 and set(aliases.values()) == {survivor} and len(aliases) == count - 1
    assert len(_node(populated, survivor)["attributes"]["identifiers"]) == count - 1
    assert populated.verify().ok


def test_a_nul_character_in_an_event_is_refused_naming_the_line(tmp_path: Path) -> None:
    """PostgreSQL text cannot hold U+0000, so no store keeps it (a DuckDB site holding one could never be copied)."""
    from core.catalog.openlineage import parse_openlineage

    good = _run(ol.RunState.COMPLETE, "2026-01-01T00:00:00Z", ("ns", "job"), str(generate_new_uuid()))
    bad = json.loads(Serde.to_json(good))
    bad["job"]["name"] = "job\u0000x"
    path = tmp_path / "events.jsonl"
    path.write_text(Serde.to_json(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(BadInput, match=r"events.jsonl:2: text holds a NUL character \(U\+0000\)"):
        parse_openlineage(path)
