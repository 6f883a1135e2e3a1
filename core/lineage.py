"""The lineage graph: datasets, models, runs and (later) evaluations and releases, joined by typed edges.

Nodes are identified as ``dataset:NAME@VERSION``, ``model:NAME@VERSION``, ``ol-dataset:NAMESPACE/NAME``,
``job:NAMESPACE/NAME`` and ``run:RUN_ID``; edges point downstream (from what was used to what was produced) and carry
a kind: ``derived_from``, ``trained_on``, ``input_to``, ``produced``, ``ran`` — later issues add their own.

OpenLineage import reads RunEvents (https://openlineage.io/spec/2-0-2/OpenLineage.json, the format Airflow, Spark,
dbt and Flink emit) from a JSON-lines file: every line is validated first and a malformed one is reported with its
line number, and the file's datasets, nodes and edges are counted against :mod:`core.limits` before anything is
written; then the whole file is recorded in one transaction with one ledger entry, or not at all. The ledger entry
is bounded too: it counts the jobs, runs, datasets and edges and carries the SHA-256 of their full, sorted lists
(``graph_sha256``), not every name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from core.canonical import canonical_bytes
from core.errors import BadInput, NotFound
from core.identity import Session
from core.ledger import Event, Ledger
from core.limits import (
    MAX_JSON_DEPTH,
    MAX_OPENLINEAGE_BYTES,
    MAX_OPENLINEAGE_DATASET_REFS,
    MAX_OPENLINEAGE_EVENT_BYTES,
    MAX_OPENLINEAGE_EVENT_DATASETS,
    MAX_OPENLINEAGE_EVENTS,
    MAX_OPENLINEAGE_GRAPH,
    describe_bytes,
    read_bounded,
)
from core.roles import Permission
from core.storage.duckdb_store import Tx

EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
MAX_ERRORS_SHOWN = 20


def _sha(value: Any) -> str:  # noqa: ANN401
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def resolve_node(tx: Tx, ref: str) -> str:
    """A node id from ``dataset:…``, ``model:…``, ``job:…``, ``run:…`` or a bare ``NAME@VERSION``."""
    if ":" in ref.split("@", 1)[0]:
        candidates = [ref]
    else:
        candidates = [f"dataset:{ref}", f"model:{ref}"]
    found = [c for c in candidates if tx.lineage_nodes([c])]
    if not found:
        raise NotFound(f"no lineage node {ref!r} (try dataset:NAME@VERSION or model:NAME@VERSION)")
    if len(found) > 1:
        raise BadInput(f"{ref!r} is both a dataset and a model; prefix it with dataset: or model:")
    return found[0]


def walk(tx: Tx, start: str, direction: str, depth: int = 50) -> dict[str, Any]:
    """Nodes and edges reachable from ``start`` upstream, downstream or both (breadth first)."""
    directions = ("upstream", "downstream") if direction == "both" else (direction,)
    seen = {start}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in directions:
        frontier = [start]
        for _ in range(depth):
            if not frontier:
                break
            found = tx.lineage_edges_touching(frontier, d)
            frontier = []
            for edge in found:
                edges[(edge["src"], edge["dst"], edge["kind"])] = edge
                nxt = edge["src"] if d == "upstream" else edge["dst"]
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
    nodes = tx.lineage_nodes(sorted(seen))
    return {
        "root": start,
        "direction": direction,
        "nodes": [{"id": n["id"], "kind": n["kind"], "label": n["label"], "digest": n["digest"],
                   "attributes": json.loads(n["attributes"]), "seq": n["seq"]} for n in nodes],
        "edges": [{"from": e["src"], "to": e["dst"], "kind": e["kind"], "seq": e["seq"]}
                  for e in sorted(edges.values(), key=lambda e: (e["seq"], e["src"], e["dst"]))],
    }


_SHAPES = {"dataset": "cylinder", "ol-dataset": "cylinder", "model": "box3d", "job": "component", "run": "ellipse",
           "evaluation": "note", "release": "house"}


def to_dot(graph: dict[str, Any]) -> str:
    """Graphviz DOT with every node's digest on its label."""

    def q(text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return '"' + escaped + '"'

    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for n in graph["nodes"]:
        digest = (n["digest"] or "")[:12]
        label = f"{n['kind']}\n{n['label']}" + (f"\nsha256:{digest}…" if digest else "")
        style = ', style="bold"' if n["id"] == graph["root"] else ""
        lines.append(f"  {q(n['id'])} [label={q(label)}, shape={_SHAPES.get(n['kind'], 'box')}{style}];")
    for e in graph["edges"]:
        lines.append(f"  {q(e['from'])} -> {q(e['to'])} [label={q(e['kind'])}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- OpenLineage
def _problem(event: Any) -> str | None:  # noqa: ANN401, C901
    """Why an object is not a valid OpenLineage RunEvent (``None`` if it is)."""
    if not isinstance(event, dict):
        return "not a JSON object"
    for key in ("eventTime", "run", "job", "producer", "schemaURL"):
        if key not in event:
            return f"missing required field {key!r}"
    if "eventType" in event and event["eventType"] not in EVENT_TYPES:
        return f"eventType {_short(event['eventType'])} is not one of {', '.join(EVENT_TYPES)}"
    if not isinstance(event["eventTime"], str):
        return f"eventTime {_short(event['eventTime'])} is not an ISO 8601 date-time string"
    try:
        datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
    except ValueError:
        return f"eventTime {_short(event['eventTime'])} is not an ISO 8601 date-time"
    run, job = event["run"], event["job"]
    if not isinstance(run, dict) or not isinstance(run.get("runId"), str) or not run["runId"]:
        return "run.runId must be a non-empty string (a UUID)"
    if not isinstance(job, dict) or not all(isinstance(job.get(k), str) and job[k] for k in ("namespace", "name")):
        return "job.namespace and job.name must be non-empty strings"
    for side in ("inputs", "outputs"):
        items = event.get(side, [])
        if not isinstance(items, list):
            return f"{side} must be a list"
        for i, ds in enumerate(items):
            if not isinstance(ds, dict) or not all(isinstance(ds.get(k), str) and ds[k] for k in ("namespace", "name")):
                return f"{side}[{i}] needs non-empty string namespace and name"
            facets = ds.get("facets", {})
            if not isinstance(facets, dict):
                return f"{side}[{i}].facets must be an object"
            schema = facets.get("schema")
            if schema is not None and not (isinstance(schema, dict) and isinstance(schema.get("fields"), list)):
                return f"{side}[{i}].facets.schema.fields must be a list"
            for j, fld in enumerate((schema or {}).get("fields", [])):
                if not (isinstance(fld, dict) and isinstance(fld.get("name"), str) and fld["name"]
                        and isinstance(fld.get("type", ""), str)):
                    return f"{side}[{i}].facets.schema.fields[{j}] needs a string name (and type)"
    named = len(event.get("inputs", [])) + len(event.get("outputs", []))
    if named > MAX_OPENLINEAGE_EVENT_DATASETS:
        return f"{named:,} inputs and outputs; the limit is {MAX_OPENLINEAGE_EVENT_DATASETS:,} per event"
    return None


def _links(event: dict[str, Any]) -> tuple[str, str, list[tuple[str, str, str]]]:
    """The job node, run node and edges ``(from, to, kind)`` one valid RunEvent contributes."""
    job, run = event["job"], event["run"]
    job_id = f"job:{job['namespace']}/{job['name']}"
    run_id = f"run:{run['runId']}"
    edges = [(job_id, run_id, "ran")]
    for ds in event.get("inputs", []):
        edges.append((f"ol-dataset:{ds['namespace']}/{ds['name']}", run_id, "input_to"))
    for ds in event.get("outputs", []):
        edges.append((run_id, f"ol-dataset:{ds['namespace']}/{ds['name']}", "produced"))
    return job_id, run_id, edges


def _short(value: Any, limit: int = 60) -> str:  # noqa: ANN401
    text = repr(value) if not isinstance(value, str) or len(value) <= limit else repr(value[:limit]) + "…"
    return text if len(text) <= limit + 10 else text[:limit] + "…"


def _too_deep_or_bad_text(value: Any) -> str | None:  # noqa: ANN401
    """Why a decoded event cannot be stored as it is (nesting beyond the limit, unpaired surrogates), or ``None``.

    Iterative, so it costs one pass whatever the shape; JSON's own recursion limit is hit long before the nesting
    could exhaust memory, and that case is caught where the line is decoded.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                return f"nested deeper than {MAX_JSON_DEPTH} levels"
            for key, member in item.items():
                stack.append((key, depth))
                if isinstance(member, dict | list):
                    stack.append((member, depth + 1))
                elif isinstance(member, str):
                    stack.append((member, depth))
        elif isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                return f"nested deeper than {MAX_JSON_DEPTH} levels"
            stack.extend((member, depth + 1) for member in item if isinstance(member, dict | list | str))
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"text {_short(item)} holds an unpaired surrogate (\\ud800-\\udfff) escape"
    return None


def _no_constants(name: str) -> Any:  # noqa: ANN401
    raise ValueError(f"{name} is not JSON")


def _decode_event(line: str) -> tuple[Any, str | None]:  # noqa: ANN401
    """``(event, None)`` or ``(None, why the line is not an acceptable JSON value)``."""
    try:
        event = json.loads(line, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, f"invalid JSON (nested deeper than {MAX_JSON_DEPTH} levels)"
    except ValueError as exc:  # NaN/Infinity, an integer beyond Python's 4,300-digit conversion limit
        return None, f"invalid JSON ({str(exc).splitlines()[0][:120]})"
    problem = _too_deep_or_bad_text(event)
    return (None, problem) if problem else (event, None)


def parse_openlineage(path: Path) -> tuple[list[dict[str, Any]], str]:
    """All RunEvents of a JSON-lines file, or :class:`BadInput` listing every malformed line.

    Bounded before the work starts (:mod:`core.limits`): the file's size is checked before it is read, each line's
    before it is decoded, and each decoded event's nesting and number of datasets before it is looked at; the
    file's dataset references and the distinct nodes and edges it would write are counted as the lines are read, and
    the line that goes beyond a limit is named.
    """
    raw = read_bounded(path, MAX_OPENLINEAGE_BYTES, "OpenLineage file")
    events, errors = [], []
    refs, nodes, edges = 0, set(), set()
    # Split on "\n" only: U+2028 and friends are legal inside JSON strings and must not end a line.
    for number, raw_line in enumerate(raw.split(b"\n"), start=1):
        if len(raw_line) > MAX_OPENLINEAGE_EVENT_BYTES:
            errors.append(f"{path}:{number}: event is {describe_bytes(len(raw_line))}; the limit is "
                          f"{describe_bytes(MAX_OPENLINEAGE_EVENT_BYTES)}")
            continue
        try:
            line = raw_line.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(f"{path}:{number}: not valid UTF-8 (byte {exc.start})")
            continue
        if not line.strip():
            continue
        if len(events) + len(errors) >= MAX_OPENLINEAGE_EVENTS:
            raise BadInput(f"{path}:{number}: more than {MAX_OPENLINEAGE_EVENTS:,} events in one file; split it")
        event, problem = _decode_event(line)
        problem = problem or _problem(event)
        if problem:
            errors.append(f"{path}:{number}: {problem}")
            continue
        events.append(event)
        refs += len(event.get("inputs", [])) + len(event.get("outputs", []))
        if refs > MAX_OPENLINEAGE_DATASET_REFS:
            raise BadInput(f"{path}:{number}: more than {MAX_OPENLINEAGE_DATASET_REFS:,} dataset references "
                           "(inputs and outputs) in one file; split it")
        job_id, run_id, links = _links(event)
        nodes.update((job_id, run_id), (src if kind == "input_to" else dst for src, dst, kind in links[1:]))
        edges.update(links)
        if len(nodes) + len(edges) > MAX_OPENLINEAGE_GRAPH:
            raise BadInput(f"{path}:{number}: more than {MAX_OPENLINEAGE_GRAPH:,} lineage nodes and edges (distinct "
                           "jobs, runs and datasets, and the links between them) in one file; split it")
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f"\n… and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        raise BadInput(f"{len(errors)} malformed OpenLineage line(s); nothing was imported:\n" + "\n".join(shown)
                       + more)
    if not events:
        raise BadInput(f"{path}: no OpenLineage events")
    return events, hashlib.sha256(raw).hexdigest()


def _schema_fields(ds: dict[str, Any]) -> list[dict[str, Any]]:
    schema = (ds.get("facets") or {}).get("schema") or {}
    return [{"name": f.get("name"), "type": f.get("type")} for f in schema.get("fields", []) if isinstance(f, dict)]


class LineageAPI:
    """Lineage queries and OpenLineage import (mixed into :class:`core.service.Countersign`)."""

    _act: Callable[..., Any]
    ledger: Callable[[], Ledger]

    def lineage(self, session: Session, ref: str, direction: str = "both", depth: int = 50) -> dict[str, Any]:
        if direction not in ("upstream", "downstream", "both"):
            raise BadInput("direction must be upstream, downstream or both")
        return self._act(session, Permission.READ, f"lineage:{ref}",
                         lambda tx, _r: walk(tx, resolve_node(tx, ref), direction, depth))

    def import_openlineage(self, session: Session, path: str | Path) -> dict[str, Any]:
        """Record an OpenLineage file: one transaction, one ledger entry; bounded by :mod:`core.limits`.

        The ledger entry counts ``jobs``, ``runs``, ``datasets`` and ``edges`` and carries ``graph_sha256``, the
        SHA-256 of the canonical JSON of their sorted lists (``{"datasets", "edges", "jobs", "runs"}``, an edge as
        ``[from, to, kind]``); the answer carries the same fields, with the lists of node ids for ``jobs``, ``runs``
        and ``datasets``.
        """
        events, file_sha = parse_openlineage(Path(path))
        nodes, edges = _graph(events)
        names = {kind: sorted(k for k, n in nodes.items() if n["kind"] == kind)
                 for kind in ("job", "run", "ol-dataset")}
        edge_list = sorted(edges)
        summary = {
            "file_sha256": file_sha, "events": len(events),
            "jobs": len(names["job"]), "runs": len(names["run"]), "datasets": len(names["ol-dataset"]),
            "edges": len(edge_list),
            "graph_sha256": _sha({"jobs": names["job"], "runs": names["run"], "datasets": names["ol-dataset"],
                                  "edges": [list(e) for e in edge_list]}),
        }
        rows = [{"id": node_id, "kind": node["kind"], "label": node["label"], "digest": _sha(node["attributes"]),
                 "attributes": json.dumps(node["attributes"])} for node_id, node in sorted(nodes.items())]

        def record(tx: Tx, role: str) -> dict[str, Any]:
            row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role,
                                       event=Event("lineage.imported", f"openlineage:{file_sha}", summary))
            # What is already there is looked up in two queries, so a re-import writes (and costs) nothing.
            known = {n["id"] for n in tx.lineage_nodes([r["id"] for r in rows])}
            created = sum(tx.upsert_lineage_node({**r, "seq": row.seq}) for r in rows if r["id"] not in known)
            linked = {(e["src"], e["dst"], e["kind"]) for direction in ("upstream", "downstream")
                      for e in tx.lineage_edges_touching(names["run"], direction)}
            new_edges = sum(tx.insert_lineage_edge(src, dst, kind, row.seq) for src, dst, kind in edge_list
                            if (src, dst, kind) not in linked)
            return {**summary, "jobs": names["job"], "runs": names["run"], "datasets": names["ol-dataset"],
                    "nodes_created": created, "edges_created": new_edges, "seq": row.seq}

        return self._act(session, Permission.LINEAGE_IMPORT, f"openlineage:{file_sha}", record)


def _graph(events: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str, str]]]:
    """The nodes (id to kind, label and attributes) and edges a file's events describe, merged in file order."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: set[tuple[str, str, str]] = set()
    for event in events:
        job, run = event["job"], event["run"]
        job_id, run_id, links = _links(event)
        nodes[job_id] = {"kind": "job", "label": f"{job['namespace']}/{job['name']}",
                         "attributes": {"namespace": job["namespace"], "name": job["name"]}}
        run_attrs = nodes.get(run_id, {}).get("attributes", {"events": []})
        run_attrs["events"].append({"eventType": event.get("eventType"), "eventTime": event["eventTime"]})
        nodes[run_id] = {"kind": "run", "label": run["runId"], "attributes": run_attrs}
        edges.update(links)
        for ds in [*event.get("inputs", []), *event.get("outputs", [])]:
            ds_id = f"ol-dataset:{ds['namespace']}/{ds['name']}"
            fields = _schema_fields(ds)
            previous = nodes.get(ds_id, {}).get("attributes", {})
            attrs = {"namespace": ds["namespace"], "name": ds["name"], "schema": fields or previous.get("schema", [])}
            nodes[ds_id] = {"kind": "ol-dataset", "label": f"{ds['namespace']}/{ds['name']}", "attributes": attrs}
    return nodes, edges
