"""OpenLineage events produced by the format's own tool — ``openlineage-integration-common``'s dbt processor — imported
and checked edge by edge.

The dbt artifact is ``tests/fixtures/dbt/shop`` (see its README): a Postgres project with two sources
(``raw.orders``, ``raw.customers``) and two models (``stg_orders`` from ``raw.orders``; ``customer_orders`` from
``stg_orders`` and ``raw.customers``), and the ``target/manifest.json`` (schema v12) and ``target/run_results.json``
(schema v6) of a ``dbt run`` in which both models succeeded. :class:`DbtLocalArtifactProcessor` — what ``dbt-ol``
runs after dbt — turns them into RunEvents offline (no dbt, no database, no network); they are written one per line
with ``openlineage.client.serde.Serde`` and imported with :meth:`Countersign.import_openlineage`.

The expected graph is written out below from the dbt project itself (its sources, refs, target database and schema),
not from the processor's output; only the run ids, which the processor draws fresh (UUIDv7) on every call, are read
from the events.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openlineage.client.serde import Serde
from openlineage.common.provider.dbt.local import DbtLocalArtifactProcessor

from core.api.countersign import Countersign
from core.catalog.openlineage import dataset_id, job_id, parse_openlineage, run_id
from tests.conftest import USERS

PROJECT = Path(__file__).resolve().parents[2] / "fixtures" / "dbt" / "shop"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/dbt"
JOB_NAMESPACE = "dbt-shop"

# profiles.yml: type postgres, host db.internal, port 5432 → the dataset namespace; a relation is
# database.schema.identifier (sources in schema raw, models in the target schema analytics).
NAMESPACE = "postgres://db.internal:5432"
RAW_ORDERS = dataset_id(NAMESPACE, "warehouse.raw.orders")
RAW_CUSTOMERS = dataset_id(NAMESPACE, "warehouse.raw.customers")
STG_ORDERS = dataset_id(NAMESPACE, "warehouse.analytics.stg_orders")
CUSTOMER_ORDERS = dataset_id(NAMESPACE, "warehouse.analytics.customer_orders")
assert RAW_ORDERS == "ol-dataset:postgres:%2F%2Fdb.internal:5432/warehouse.raw.orders"

# One job per model, named database.schema.<unique id without "model.">, in the namespace dbt-ol was given.
JOB_NAMES = {"stg_orders": "warehouse.analytics.shop.stg_orders",
             "customer_orders": "warehouse.analytics.shop.customer_orders"}
JOBS = {model: job_id(JOB_NAMESPACE, name) for model, name in JOB_NAMES.items()}

# The dbt graph: each model's upstream relations (its source() and ref() calls) and the relation it builds.
MODELS = {
    "stg_orders": ({RAW_ORDERS}, STG_ORDERS),
    "customer_orders": ({STG_ORDERS, RAW_CUSTOMERS}, CUSTOMER_ORDERS),
}
# run_results.json: each model's "execute" timing — the START and COMPLETE event times.
EXECUTED = {
    "stg_orders": ("2024-06-03T09:15:01.525902Z", "2024-06-03T09:15:01.588437Z"),
    "customer_orders": ("2024-06-03T09:15:01.605038Z", "2024-06-03T09:15:01.702964Z"),
}
# Column lineage the processor derives from each model's compiled SQL: (dataset, field, input dataset, input field).
COLUMNS = {
    (STG_ORDERS, "order_id", RAW_ORDERS, "id"),
    (STG_ORDERS, "customer_id", RAW_ORDERS, "customer_id"),
    (STG_ORDERS, "amount", RAW_ORDERS, "amount"),
    (STG_ORDERS, "status", RAW_ORDERS, "status"),
    (CUSTOMER_ORDERS, "customer_id", RAW_CUSTOMERS, "id"),
    (CUSTOMER_ORDERS, "customer_name", RAW_CUSTOMERS, "name"),
    (CUSTOMER_ORDERS, "order_count", STG_ORDERS, "order_id"),
    (CUSTOMER_ORDERS, "total_amount", STG_ORDERS, "amount"),
}


def _login(cs: Countersign, user: str):  # noqa: ANN202
    return cs.login(user, USERS[user][1])


def _query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _tables(db: Path) -> tuple[list[tuple], ...]:
    return tuple(_query(db, f"SELECT * FROM {t} ORDER BY ALL")
                 for t in ("lineage_nodes", "lineage_edges", "lineage_columns", "lineage_aliases"))


def _run_dbt_ol(project: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Run the dbt processor on ``project``'s artifacts and write its events to ``out``, one JSON object a line."""
    with monkeypatch.context() as m:
        for var in ("DBT_PROFILES_DIR", "DBT_TARGET_PATH", "OPENLINEAGE_DBT_USE_EXTENDED_JOB_NAME",
                    "OPENLINEAGE_DBT_JOB_NAME", "DBT_PASSWORD"):
            m.delenv(var, raising=False)
        m.chdir(project)  # run_results.json records --profiles-dir . (dbt-ol runs in the project directory)
        processor = DbtLocalArtifactProcessor(producer=PRODUCER, job_namespace=JOB_NAMESPACE,
                                              project_dir=str(project), dbt_command_line=["dbt", "run"])
        events = processor.parse().events()
    lines = [Serde.to_json(event) for event in events]
    assert all("\n" not in line for line in lines)
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return [json.loads(line) for line in lines]


def _runs(events: list[dict[str, Any]]) -> dict[str, str]:
    """Model name → the run id the processor gave it (found by the model's job name)."""
    by_job = {e["job"]["name"]: e["run"]["runId"] for e in events}
    return {model: by_job[name] for model, name in JOB_NAMES.items()}


def _expected_edges(runs: dict[str, str], models: dict[str, tuple[set[str], str | None]] = MODELS) -> set[tuple]:
    """job →ran→ run; every upstream dataset →input_to→ run; run →produced→ the model's relation."""
    edges: set[tuple[str, str, str]] = set()
    for model, (inputs, output) in models.items():
        run = run_id(runs[model])
        edges.add((JOBS[model], run, "ran"))
        edges |= {(ds, run, "input_to") for ds in inputs}
        if output:
            edges.add((run, output, "produced"))
    return edges


@pytest.fixture
def dbt_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path / "dbt_run.jsonl"
    return path, _run_dbt_ol(PROJECT, path, monkeypatch)


# ------------------------------------------------------------------------------------------------- the artifact
def test_the_fixture_manifest_is_the_dbt_graph_the_expectations_are_written_from() -> None:
    manifest = json.loads((PROJECT / "target" / "manifest.json").read_text(encoding="utf-8"))
    run_results = json.loads((PROJECT / "target" / "run_results.json").read_text(encoding="utf-8"))
    assert manifest["metadata"]["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/manifest/v12.json"
    assert run_results["metadata"]["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/run-results/v6.json"

    def relation(unique_id: str) -> str:
        node = manifest["nodes"].get(unique_id) or manifest["sources"][unique_id]
        table = node["alias"] if unique_id.startswith("model.") else node["identifier"]
        return dataset_id(NAMESPACE, f"{node['database']}.{node['schema']}.{table}")

    from_manifest = {uid.removeprefix("model.shop."): ({relation(p) for p in parents}, relation(uid))
                     for uid, parents in manifest["parent_map"].items() if uid.startswith("model.")}
    assert from_manifest == MODELS
    assert {r["unique_id"]: r["status"] for r in run_results["results"]} == {
        "model.shop.stg_orders": "success", "model.shop.customer_orders": "success"}
    executed = {r["unique_id"].removeprefix("model.shop."): next(
        (t["started_at"], t["completed_at"]) for t in r["timing"] if t["name"] == "execute")
        for r in run_results["results"]}
    assert executed == EXECUTED


def test_the_dbt_processor_emits_a_start_and_a_complete_per_model(dbt_events: tuple[Path, list]) -> None:
    path, events = dbt_events
    parsed, _sha = parse_openlineage(path)  # every line valid against OpenLineage 2-0-2 and its facet schemas
    assert [e.body for e in parsed] == events
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        ("START", JOB_NAMES["stg_orders"]), ("START", JOB_NAMES["customer_orders"]),
        ("COMPLETE", JOB_NAMES["stg_orders"]), ("COMPLETE", JOB_NAMES["customer_orders"])]
    runs = _runs(events)
    assert len(set(runs.values())) == 2
    for event in events:
        model = next(m for m, name in JOB_NAMES.items() if name == event["job"]["name"])
        inputs, output = MODELS[model]
        assert event["producer"] == PRODUCER and event["job"]["namespace"] == JOB_NAMESPACE
        assert event["schemaURL"] == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
        assert event["run"]["runId"] == runs[model]
        assert event["eventTime"] == EXECUTED[model][0 if event["eventType"] == "START" else 1]
        assert {dataset_id(d["namespace"], d["name"]) for d in event["inputs"]} == inputs
        assert [dataset_id(d["namespace"], d["name"]) for d in event["outputs"]] == [output]
        assert event["run"]["facets"]["dbt_run"]["invocation_id"] == "5c0d7a8e-3f1b-4b6e-9a2d-8e4f6b1c2d3a"
        assert event["job"]["facets"]["jobType"]["jobType"] == "MODEL"


# ------------------------------------------------------------------------------------------------- the import
def test_import_yields_exactly_the_dbt_graph_edge_by_edge(populated: Countersign, db_path: Path,
                                                          dbt_events: tuple[Path, list]) -> None:
    path, events = dbt_events
    runs = _runs(events)
    expected = _expected_edges(runs)
    assert len(expected) == 7  # 2 ran, 3 input_to, 2 produced

    result = populated.import_openlineage(_login(populated, "dana"), path)
    assert result["events"] == 4 and result["event_kinds"] == {"RunEvent": 4, "JobEvent": 0, "DatasetEvent": 0}
    assert result["jobs"] == sorted(JOBS.values())
    assert result["runs"] == sorted(run_id(r) for r in runs.values())
    assert result["datasets"] == sorted([RAW_ORDERS, RAW_CUSTOMERS, STG_ORDERS, CUSTOMER_ORDERS])
    assert (result["nodes_created"], result["edges_created"], result["edges"]) == (8, 7, 7)
    assert (result["aliases"], result["merged"], result["column_links"]) == (0, 0, len(COLUMNS))

    edges = _query(db_path, "SELECT src, dst, kind, seq FROM lineage_edges")
    assert len(edges) == len(expected)
    assert {(s, d, k) for s, d, k, _ in edges} == expected
    assert {seq for *_, seq in edges} == {result["seq"]}
    kinds = dict(_query(db_path, "SELECT id, kind FROM lineage_nodes"))
    assert kinds == {**{j: "job" for j in JOBS.values()}, **{run_id(r): "run" for r in runs.values()},
                     RAW_ORDERS: "ol-dataset", RAW_CUSTOMERS: "ol-dataset", STG_ORDERS: "ol-dataset",
                     CUSTOMER_ORDERS: "ol-dataset"}
    columns = _query(db_path, "SELECT dst, dst_field, src, src_field, transformation FROM lineage_columns")
    assert {c[:4] for c in columns} == COLUMNS and len(columns) == len(COLUMNS)
    assert {c[4] for c in columns} == {""}  # the processor's column lineage names no transformation
    assert populated.verify().ok


def test_the_lineage_walks_follow_the_dbt_dag(populated: Countersign, dbt_events: tuple[Path, list]) -> None:
    path, events = dbt_events
    populated.import_openlineage(_login(populated, "dana"), path)
    runs = _runs(events)
    run_stg, run_co = run_id(runs["stg_orders"]), run_id(runs["customer_orders"])
    aude = _login(populated, "aude")

    def edges(ref: str, direction: str) -> set[tuple[str, str, str]]:
        graph = populated.lineage(aude, ref, direction)
        return {(e["from"], e["to"], e["kind"]) for e in graph["edges"]}

    everything = _expected_edges(runs)
    assert edges(CUSTOMER_ORDERS, "upstream") == everything  # the whole project feeds the mart
    assert edges(RAW_ORDERS, "downstream") == {
        (RAW_ORDERS, run_stg, "input_to"), (run_stg, STG_ORDERS, "produced"),
        (STG_ORDERS, run_co, "input_to"), (run_co, CUSTOMER_ORDERS, "produced")}
    assert edges(RAW_CUSTOMERS, "downstream") == {
        (RAW_CUSTOMERS, run_co, "input_to"), (run_co, CUSTOMER_ORDERS, "produced")}
    assert edges(STG_ORDERS, "both") == {
        (JOBS["stg_orders"], run_stg, "ran"), (RAW_ORDERS, run_stg, "input_to"), (run_stg, STG_ORDERS, "produced"),
        (STG_ORDERS, run_co, "input_to"), (run_co, CUSTOMER_ORDERS, "produced")}
    # the mart's columns, walked from the mart: the four links the processor read from its SQL
    graph = populated.lineage(aude, CUSTOMER_ORDERS, "upstream")
    links = {(c["dataset"], c["field"], c["from_dataset"], c["from_field"]) for c in graph["columns"]}
    assert links == COLUMNS  # every dataset is upstream of the mart, so every link touches the walk


def test_each_run_completed_at_its_dbt_timing(populated: Countersign, db_path: Path,
                                              dbt_events: tuple[Path, list]) -> None:
    path, events = dbt_events
    populated.import_openlineage(_login(populated, "dana"), path)
    attrs = {i: json.loads(a) for i, a in _query(db_path, "SELECT id, attributes FROM lineage_nodes")}
    for model, uuid in _runs(events).items():
        run = attrs[run_id(uuid)]
        started, completed = EXECUTED[model]
        assert run["state"] == "COMPLETE" and run["job"] == JOBS[model] and run["runId"] == uuid
        assert (run["started_at"], run["ended_at"]) == (started, completed)
        assert run["events"] == [{"eventType": "START", "eventTime": started},
                                 {"eventType": "COMPLETE", "eventTime": completed}]
        assert "conflicting_terminal_events" not in run and "after_end" not in run
    # the dataset facets the processor attached: the manifest's columns as the schema, the profile as the source
    assert attrs[RAW_ORDERS]["schema"] == [
        {"name": "id", "type": "integer"}, {"name": "customer_id", "type": "integer"},
        {"name": "amount", "type": "numeric(10,2)"}, {"name": "status", "type": "text"}]
    assert [f["name"] for f in attrs[CUSTOMER_ORDERS]["schema"]] == ["customer_id", "customer_name", "order_count",
                                                                     "total_amount"]
    for ds in (RAW_ORDERS, RAW_CUSTOMERS, STG_ORDERS, CUSTOMER_ORDERS):
        assert attrs[ds]["dataSource"] == {"name": NAMESPACE, "uri": NAMESPACE}
    assert attrs[JOBS["stg_orders"]] == {"namespace": JOB_NAMESPACE, "name": JOB_NAMES["stg_orders"]}


def test_reimporting_the_same_dbt_events_creates_nothing(populated: Countersign, db_path: Path,
                                                         dbt_events: tuple[Path, list]) -> None:
    path, _events = dbt_events
    dana = _login(populated, "dana")
    first = populated.import_openlineage(dana, path)
    before = _tables(db_path)
    again = populated.import_openlineage(dana, path)
    assert (again["nodes_created"], again["nodes_updated"], again["nodes_merged"], again["edges_created"],
            again["column_links_created"]) == (0, 0, 0, 0, 0)
    assert again["graph_sha256"] == first["graph_sha256"] and again["seq"] > first["seq"]
    assert _tables(db_path) == before
    assert populated.verify().ok


def test_a_second_dbt_run_adds_two_runs_to_the_same_jobs_and_datasets(
        populated: Countersign, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        dbt_events: tuple[Path, list]) -> None:
    first_path, first_events = dbt_events
    second_path = tmp_path / "dbt_run_again.jsonl"
    second_events = _run_dbt_ol(PROJECT, second_path, monkeypatch)  # the processor draws new run ids
    first_runs, second_runs = _runs(first_events), _runs(second_events)
    assert not set(first_runs.values()) & set(second_runs.values())

    dana = _login(populated, "dana")
    populated.import_openlineage(dana, first_path)
    result = populated.import_openlineage(dana, second_path)
    assert (result["nodes_created"], result["edges_created"], result["column_links_created"]) == (2, 7, 0)
    edges = {tuple(e) for e in _query(db_path, "SELECT src, dst, kind FROM lineage_edges")}
    assert edges == _expected_edges(first_runs) | _expected_edges(second_runs) and len(edges) == 14


def test_a_failed_model_is_a_failed_run_that_produced_nothing(populated: Countersign, db_path: Path,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same run, except that customer_orders failed in the database: the processor emits START then FAIL, and
    the FAIL event names no output."""
    project = tmp_path / "shop"
    shutil.copytree(PROJECT, project)
    results_path = project / "target" / "run_results.json"
    run_results = json.loads(results_path.read_text(encoding="utf-8"))
    failed = next(r for r in run_results["results"] if r["unique_id"] == "model.shop.customer_orders")
    failed.update(status="error", adapter_response={}, message='Database Error in model customer_orders '
                  '(models/marts/customer_orders.sql)\n  column c.name does not exist')
    results_path.write_text(json.dumps(run_results, indent=2), encoding="utf-8")

    events = _run_dbt_ol(project, tmp_path / "failed.jsonl", monkeypatch)
    assert [(e["eventType"], e["job"]["name"], len(e["outputs"])) for e in events] == [
        ("START", JOB_NAMES["stg_orders"], 1), ("START", JOB_NAMES["customer_orders"], 1),
        ("COMPLETE", JOB_NAMES["stg_orders"], 1), ("FAIL", JOB_NAMES["customer_orders"], 0)]
    runs = _runs(events)
    populated.import_openlineage(_login(populated, "dana"), tmp_path / "failed.jsonl")

    edges = {tuple(e) for e in _query(db_path, "SELECT src, dst, kind FROM lineage_edges")}
    # the START event announced the output, so the run is still recorded as having named it
    assert edges == _expected_edges(runs)
    attrs = {i: json.loads(a) for i, a in _query(db_path, "SELECT id, attributes FROM lineage_nodes")}
    assert attrs[run_id(runs["stg_orders"])]["state"] == "COMPLETE"
    failed_run = attrs[run_id(runs["customer_orders"])]
    assert failed_run["state"] == "FAIL" and failed_run["ended_at"] == EXECUTED["customer_orders"][1]
    assert [e["eventType"] for e in failed_run["events"]] == ["START", "FAIL"]
