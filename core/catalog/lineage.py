"""The lineage graph: datasets, models, runs and (later) evaluations and releases, joined by typed edges.

Nodes are identified as ``dataset:NAME@VERSION``, ``model:NAME@VERSION``, ``ol-dataset:NAMESPACE/NAME``,
``job:NAMESPACE/NAME`` and ``run:RUN_ID`` (for OpenLineage datasets and jobs the namespace is percent-encoded, so the
(namespace, name) pair stays one identity — :mod:`core.catalog.openlineage`); edges point downstream (from what was
used to
what was produced) and carry a kind: ``derived_from``, ``trained_on``, ``input_to``, ``produced``, ``ran`` — later
issues add their own. Column-level lineage (OpenLineage ``columnLineage``) is kept beside the edges, as links from
an input dataset's field to an output dataset's field.

OpenLineage import (spec 2-0-2: RunEvent, JobEvent and DatasetEvent) validates every line first and reports a
malformed one with its line number, and counts the file's datasets and nodes against :mod:`core.inputs.limits` before
anything is written; then the whole file is merged into what is stored in one transaction with one ledger entry, or
not at all. The ledger entry is bounded too: it counts what the file names and carries the SHA-256 of the full,
sorted lists (``graph_sha256``), not every name.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.catalog.openlineage import (
    EVENT_KINDS,
    SPEC_URL,
    TERMINAL_TYPES,
    Event,
    _facet,
    dataset_id,
    job_id,
    parse_openlineage,
    referenced_ids,
    run_id,
    without_leap_second,
)
from core.display.text import visible
from core.errors import BadInput, NotFound
from core.identity.roles import Permission
from core.identity.users import Session
from core.ledger.chain import Event as LedgerEvent
from core.storage.contract import Transaction as Tx
from core.tlog.canonical import canonical_bytes

if TYPE_CHECKING:
    from core.api.context import Context


__all__ = ["LineageService", "resolve_node", "run_state", "to_dot", "walk"]


def _sha(value: Any) -> str:  # noqa: ANN401
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def resolve_node(tx: Tx, ref: str) -> str:
    """A node id from ``dataset:…``, ``model:…``, ``job:…``, ``run:…``, ``ol-dataset:…`` or a bare ``NAME@VERSION``.

    An OpenLineage dataset or job may also be named with its namespace as written (``ol-dataset:s3://bucket/a/b``):
    every split of it into (namespace, name) is tried, and a reference that fits more than one node is refused
    with the candidates. An alias (a ``symlinks`` identifier) resolves to its node.
    """
    if ":" in ref.split("@", 1)[0]:
        candidates = [ref]
        prefix, _, rest = ref.partition(":")
        if prefix in ("ol-dataset", "job"):
            make = dataset_id if prefix == "ol-dataset" else job_id
            candidates += [make(rest[:i], rest[i + 1:]) for i, ch in enumerate(rest) if ch == "/"]
        elif prefix == "run":
            candidates.append(run_id(rest))
        aliases = tx.lineage_aliases(candidates)
        candidates = list(dict.fromkeys(aliases.get(c, c) for c in candidates))
    else:
        candidates = [f"dataset:{ref}", f"model:{ref}"]
    found = [n["id"] for n in tx.lineage_nodes(candidates)]
    if not found:
        raise NotFound(f"no lineage node {ref!r} (try dataset:NAME@VERSION or model:NAME@VERSION)")
    if len(found) > 1:
        if ref.startswith(("dataset:", "model:")) or ":" not in ref.split("@", 1)[0]:
            raise BadInput(f"{ref!r} is both a dataset and a model; prefix it with dataset: or model:")
        raise BadInput(f"{ref!r} fits {len(found)} nodes: " + ", ".join(found)
                       + " (the namespace's '/' written %2F picks one)")
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
        "columns": [{"dataset": c["dst"], "field": c["dst_field"], "from_dataset": c["src"],
                     "from_field": c["src_field"], "transformation": c["transformation"], "seq": c["seq"]}
                    for c in tx.lineage_columns_touching(sorted(seen))],
    }


_SHAPES = {"dataset": "cylinder", "ol-dataset": "cylinder", "model": "box3d", "job": "component", "run": "ellipse",
           "evaluation": "note", "release": "house"}


def to_dot(graph: dict[str, Any]) -> str:
    """Graphviz DOT with every node's digest on its label.

    Names come from people and from OpenLineage producers: control, bidi and zero-width characters in ids and
    labels are drawn as visible escapes (:func:`core.display.text.visible`), so a newline in a name cannot add a line
    (a fake
    ``sha256:`` line, say) to a node's label."""

    def q(text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return '"' + escaped + '"'

    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for n in graph["nodes"]:
        digest = (n["digest"] or "")[:12]
        state = (n.get("attributes") or {}).get("state") if n["kind"] == "run" else None
        label = f"{n['kind']}\n{visible(n['label'])}" + (f"\n{visible(state)}" if state else "") + (
            f"\nsha256:{digest}…" if digest else "")
        style = ', style="bold"' if n["id"] == graph["root"] else ""
        lines.append(f"  {q(visible(n['id']))} [label={q(label)}, shape={_SHAPES.get(n['kind'], 'box')}{style}];")
    for e in graph["edges"]:
        lines.append(f"  {q(visible(e['from']))} -> {q(visible(e['to']))} [label={q(e['kind'])}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- OpenLineage
def _fields(facet: dict[str, Any]) -> list[dict[str, Any]]:
    """A SchemaDatasetFacet's fields as ``{name, type}`` (nested struct fields as ``fields``)."""
    out = []
    for f in facet.get("fields") or []:
        item: dict[str, Any] = {"name": f.get("name"), "type": f.get("type")}
        if f.get("fields"):
            item["fields"] = _fields(f)
        out.append(item)
    return out


def run_state(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's state from its events (``{eventType, eventTime}``), by OpenLineage's run state machine.

    START → RUNNING → one of COMPLETE, FAIL, ABORT (terminal); OTHER only adds metadata. Events are ordered by
    ``eventTime`` whatever order they arrived in; the latest terminal event decides, and an event dated after it
    does not reopen the run (it is listed in ``after_end``). ``state`` is ``None`` when only OTHER events arrived.
    """
    ordered = sorted(events, key=lambda e: _instant(e["eventTime"]))
    started = next((e["eventTime"] for e in ordered if e.get("eventType") == "START"), None)
    terminal = [e for e in ordered if e.get("eventType") in TERMINAL_TYPES]
    if terminal:
        end = terminal[-1]
        after = [e for e in ordered if _instant(e["eventTime"]) > _instant(end["eventTime"])
                 and e.get("eventType") not in (None, "OTHER")]
        kinds = sorted({e["eventType"] for e in terminal})
        return {"state": end["eventType"], "started_at": started, "ended_at": end["eventTime"],
                **({"conflicting_terminal_events": kinds} if len(kinds) > 1 else {}),
                **({"after_end": [e["eventType"] for e in after]} if after else {})}
    moving = [e["eventType"] for e in ordered if e.get("eventType") in ("START", "RUNNING")]
    return {"state": moving[-1] if moving else None, "started_at": started, "ended_at": None}


def _instant(text: str) -> datetime:
    text = without_leap_second(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


class _Merge:
    """The lineage a file's events add to what is stored: nodes, aliases (``symlinks``), edges and column links.

    Loaded with the stored nodes and aliases the file names, fed the events in file order, then :meth:`write`
    stores the difference in bulk. Datasets and jobs are keyed by (namespace, name); a ``symlinks`` facet makes its
    identifiers aliases of one node, and two nodes it joins are merged into the older one (edges, aliases and column
    links move to it; the other id becomes an alias). Aliases form a forest walked with path compression, so a file
    of thousands of symlinks costs linear time.
    """

    def __init__(self, tx: Tx, ids: set[str]) -> None:
        self.tx = tx
        self.alias = tx.lineage_aliases(sorted(ids))
        stored = tx.lineage_nodes(sorted(ids | set(self.alias.values())))
        self.nodes: dict[str, dict[str, Any]] = {
            n["id"]: {"kind": n["kind"], "label": n["label"], "attributes": json.loads(n["attributes"]),
                      "seq": n["seq"], "digest": n["digest"]} for n in stored}
        self.stored = {k: v["digest"] for k, v in self.nodes.items()}
        self.new_aliases: set[str] = set()
        self.merged: dict[str, str] = {}
        self.names: dict[str, set[tuple[str, str]]] = {}  # a dataset node's other (namespace, name) identifiers
        self.edges: set[tuple[str, str, str]] = set()
        self.columns: set[tuple[str, str | None, str, str | None, str | None]] = set()
        self.kinds = {k: 0 for k in EVENT_KINDS}

    # -- identity
    def canon(self, node: str) -> str:
        root, seen = node, set()
        while root in self.alias and root not in seen:
            seen.add(root)
            root = self.alias[root]
        for step in seen - {root}:  # path compression (in memory; what is written is canonicalised at write)
            self.alias[step] = root
        return root

    def _ensure(self, node: str, kind: str, label: str, attributes: dict[str, Any]) -> str:
        node = self.canon(node)
        if node not in self.nodes:
            self.nodes[node] = {"kind": kind, "label": label, "attributes": attributes, "seq": None, "digest": None}
        return node

    def _names(self, node: str) -> set[tuple[str, str]]:
        if node not in self.names:
            self.names[node] = {(i[0], i[1]) for i in self.nodes[node]["attributes"].get("identifiers", [])}
        return self.names[node]

    def _alias(self, alias: str, node: str) -> None:
        self.alias[alias] = node
        self.new_aliases.add(alias)

    def _absorb(self, survivor: str, other: str) -> None:
        """Merge node ``other`` into ``survivor``: its names, schema versions and data source join survivor's."""
        keep, gone = self.nodes[survivor]["attributes"], self.nodes.pop(other)["attributes"]
        self._names(survivor).update(self.names.pop(other, None) or {(i[0], i[1]) for i in
                                                                     gone.get("identifiers", [])})
        self.names[survivor].add((gone.get("namespace"), gone.get("name")))
        for version in _versions(gone):
            _add_version(keep, version)
        if gone.get("dataSource") and not keep.get("dataSource"):
            keep["dataSource"] = gone["dataSource"]
        if other in self.stored:
            self.merged[other] = survivor
        self._alias(other, survivor)

    def dataset(self, ds: dict[str, Any], when: str) -> str:
        """The canonical node id of an event's dataset, after its facets are merged in."""
        namespace, name = ds["namespace"], ds["name"]
        facets = ds.get("facets") or {}
        own = dataset_id(namespace, name)
        links = [(s["namespace"], s["name"]) for s in ((_facet(facets, "symlinks") or {}).get("identifiers") or [])]
        names = [own, *(dataset_id(ns, nm) for ns, nm in links)]
        roots = {self.canon(n) for n in names}
        group = sorted((r for r in roots if r in self.nodes),
                       key=lambda n: (self.nodes[n]["seq"] is None, self.nodes[n]["seq"] or 0, n))
        if group:
            survivor = group[0]
            for other in group[1:]:
                self._absorb(survivor, other)
        else:
            survivor = self._ensure(own, "ol-dataset", f"{namespace} · {name}",
                                    {"namespace": namespace, "name": name, "schema": []})
        for n in names:
            if n != survivor and self.canon(n) != survivor:
                self._alias(n, survivor)
        attrs = self.nodes[survivor]["attributes"]
        known = self._names(survivor)
        for pair in [(namespace, name), *links]:
            if pair != (attrs["namespace"], attrs["name"]):
                known.add(pair)
        if "schema" in facets:
            facet = facets["schema"] or {}
            _add_version(attrs, {"since": when, "fields": None if facet.get("_deleted") else _fields(facet)})
        source = facets.get("dataSource")
        if isinstance(source, dict) and source.get("_deleted"):
            attrs.pop("dataSource", None)
        elif source:
            attrs["dataSource"] = {k: source[k] for k in ("name", "uri") if k in source}
        self._columns(survivor, _facet(facets, "columnLineage"))
        return survivor

    def _columns(self, target: str, facet: dict[str, Any] | None) -> None:
        if not facet:
            return
        groups = [(out, spec.get("inputFields") or [], spec.get("transformationType"))
                  for out, spec in (facet.get("fields") or {}).items()]
        groups.append((None, facet.get("dataset") or [], None))
        for out, inputs, legacy in groups:
            for source in inputs:
                src = self.dataset({"namespace": source["namespace"], "name": source["name"]}, "")
                steps = source.get("transformations") or []
                how = ",".join(sorted({"/".join(x for x in (t.get("type"), t.get("subtype")) if x)
                                       for t in steps})) or legacy
                self.columns.add((target, out, src, source.get("field"), how or None))

    def job(self, job: dict[str, Any]) -> str:
        return self._ensure(job_id(job["namespace"], job["name"]), "job", f"{job['namespace']} · {job['name']}",
                            {"namespace": job["namespace"], "name": job["name"]})

    # -- events
    def add(self, event: Event) -> None:
        body, when = event.body, event.body["eventTime"]
        self.kinds[event.kind] += 1
        if event.kind == "DatasetEvent":
            self.dataset(body["dataset"], when)
            return
        job = self.job(body["job"])
        if event.kind == "RunEvent":
            uuid = body["run"]["runId"].lower()
            run = self._ensure(run_id(uuid), "run", uuid, {"runId": uuid, "events": []})
            attrs = self.nodes[run]["attributes"]
            attrs.setdefault("runId", uuid)
            attrs["job"] = job
            step = {"eventType": body.get("eventType"), "eventTime": when}
            if step not in attrs["events"]:
                attrs["events"] = sorted([*attrs["events"], step], key=lambda e: (_instant(e["eventTime"]),
                                                                                  str(e["eventType"])))
            attrs.update(run_state(attrs["events"]))
            self.edges.add((job, run, "ran"))
            hub = run
        else:
            hub = job
        for ds in body.get("inputs") or []:
            self.edges.add((self.dataset(ds, when), hub, "input_to"))
        for ds in body.get("outputs") or []:
            self.edges.add((hub, self.dataset(ds, when), "produced"))

    # -- results
    def final_edges(self) -> list[tuple[str, str, str]]:
        return sorted({(self.canon(a), self.canon(b), k) for a, b, k in self.edges})

    def final_columns(self) -> list[tuple[str, str | None, str, str | None, str | None]]:
        return sorted({(self.canon(d), df, self.canon(s), sf, how) for d, df, s, sf, how in self.columns},
                      key=lambda r: tuple("" if x is None else x for x in r))

    def final_aliases(self) -> list[list[str]]:
        return sorted([a, self.canon(a)] for a in self.new_aliases)

    def final_merges(self) -> list[list[str]]:
        return sorted([a, self.canon(b)] for a, b in self.merged.items())

    def touched(self) -> dict[str, list[str]]:
        """Node ids the file names, after merging, by kind (``job``, ``run``, ``ol-dataset``)."""
        ids = {n for e in self.final_edges() for n in e[:2]} | {n for c in self.final_columns() for n in (c[0], c[2])}
        ids |= {n for n, v in self.nodes.items() if v["seq"] is None or n in self.stored}
        return {kind: sorted(n for n in ids if n in self.nodes and self.nodes[n]["kind"] == kind)
                for kind in ("job", "run", "ol-dataset")}

    def write(self, seq: int) -> dict[str, int]:
        tx = self.tx
        tx.repoint_lineage_nodes(self.final_merges())
        tx.put_lineage_aliases(self.final_aliases(), seq)
        for node, extra in self.names.items():
            if node in self.nodes and extra:
                self.nodes[node]["attributes"]["identifiers"] = sorted([list(pair) for pair in extra])
        new_nodes, updated = [], 0
        for node, v in sorted(self.nodes.items()):
            digest = _sha(v["attributes"])
            record = {"id": node, "kind": v["kind"], "label": v["label"], "digest": digest,
                      "attributes": json.dumps(v["attributes"])}
            if v["seq"] is None:
                new_nodes.append((node, v["kind"], v["label"], digest, record["attributes"], seq))
            elif self.stored.get(node) != digest:
                tx.update_lineage_node(record)
                updated += 1
        created = tx.insert_lineage_rows("lineage_nodes", ("id", "kind", "label", "digest", "attributes", "seq"),
                                         new_nodes)
        # what is already there is looked up in bulk, so a re-import writes (and costs) next to nothing
        wanted = self.final_edges()
        linked = {(e["src"], e["dst"], e["kind"])
                  for e in tx.lineage_edges_touching(sorted({src for src, _d, _k in wanted}), "downstream")}
        edges = tx.insert_lineage_rows("lineage_edges", ("src", "dst", "kind", "seq"),
                                       [(*e, seq) for e in wanted if e not in linked])
        rows = self.final_columns()
        known = {(c["dst"], c["dst_field"], c["src"], c["src_field"], c["transformation"])
                 for c in tx.lineage_columns_touching(sorted({r[0] for r in rows}))}
        columns = tx.insert_lineage_rows(
            "lineage_columns", ("dst", "dst_field", "src", "src_field", "transformation", "seq"),
            [(d, df or "", src, sf or "", how or "", seq) for d, df, src, sf, how in rows
             if (d, df, src, sf, how) not in known])
        return {"nodes_created": created, "nodes_updated": updated, "nodes_merged": len(self.merged),
                "edges_created": edges, "column_links_created": columns}


def _versions(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    if "schema_versions" in attrs:
        return list(attrs["schema_versions"])
    return [{"since": None, "fields": attrs["schema"]}] if attrs.get("schema") else []


def _add_version(attrs: dict[str, Any], version: dict[str, Any]) -> None:
    """Add a schema version (``{since, fields}``) in time order; ``schema`` is the latest one's fields."""
    versions = _versions(attrs)
    if version["since"] == "":
        return
    if version not in versions:
        versions.append(version)
    versions.sort(key=lambda v: (v["since"] is not None, _instant(v["since"]) if v["since"] else None))
    compact: list[dict[str, Any]] = []
    for v in versions:
        if not compact or compact[-1]["fields"] != v["fields"]:
            compact.append(v)
    attrs["schema_versions"] = compact
    attrs["schema"] = compact[-1]["fields"] or [] if compact else []


class LineageService:
    """Lineage queries and OpenLineage import, over a :class:`~core.api.context.Context`."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def lineage(self, session: Session, ref: str, direction: str = "both", depth: int = 50) -> dict[str, Any]:
        """The graph around ``ref`` (see :func:`walk`); ``ref`` as in :func:`resolve_node`."""
        if direction not in ("upstream", "downstream", "both"):
            raise BadInput("direction must be upstream, downstream or both")
        return self._ctx.act(session, Permission.READ, f"lineage:{ref}",
                             lambda tx, _r: walk(tx, resolve_node(tx, ref), direction, depth))

    def import_openlineage(self, session: Session, path: str | Path) -> dict[str, Any]:
        """Record an OpenLineage 2-0-2 file (:mod:`core.catalog.openlineage`): one transaction, one ledger entry, or
        nothing.

        Later events merge into what is stored: a run's events accumulate and its state follows OpenLineage's run
        state machine (:func:`run_state`); a dataset keeps every schema version it was seen with (``schema_versions``,
        ``{since, fields}`` in event-time order; ``schema`` is the latest); ``symlinks`` identifiers become aliases of
        one node (two stored nodes a symlink joins are merged, the older id surviving); ``columnLineage`` becomes
        column links; ``dataSource`` is kept on the dataset.

        The ledger entry (``lineage.imported``) counts events by kind, ``jobs``, ``runs``, ``datasets``, ``edges``,
        ``aliases`` and ``column_links`` the file names, the nodes it merged, and carries ``graph_sha256``: the SHA-256
        of the canonical JSON of ``{"aliases", "columns", "datasets", "edges", "jobs", "merged", "runs"}`` (sorted
        lists; an edge as ``[from, to, kind]``, a column link as ``[dataset, field, input dataset, input field,
        transformation]``). The answer carries the same counts with the lists of node ids.
        """
        events, file_sha = parse_openlineage(Path(path))
        ids: set[str] = set()
        for event in events:
            ids |= referenced_ids(event)[0]

        def record(tx: Tx, role: str) -> dict[str, Any]:
            merge = _Merge(tx, ids)
            for event in events:
                merge.add(event)
            names, edges, columns = merge.touched(), merge.final_edges(), merge.final_columns()
            aliases, merged = merge.final_aliases(), merge.final_merges()
            summary = {
                "file_sha256": file_sha, "spec": SPEC_URL, "events": len(events), "event_kinds": merge.kinds,
                "jobs": len(names["job"]), "runs": len(names["run"]), "datasets": len(names["ol-dataset"]),
                "edges": len(edges), "aliases": len(aliases), "column_links": len(columns), "merged": len(merged),
                "graph_sha256": _sha({"jobs": names["job"], "runs": names["run"], "datasets": names["ol-dataset"],
                                      "edges": [list(e) for e in edges], "aliases": aliases,
                                      "columns": [list(c) for c in columns], "merged": merged}),
            }
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role,
                                            event=LedgerEvent("lineage.imported", f"openlineage:{file_sha}", summary))
            written = merge.write(row.seq)
            return {**summary, "jobs": names["job"], "runs": names["run"], "datasets": names["ol-dataset"],
                    "merged_nodes": merged, **written, "seq": row.seq}

        return self._ctx.act(session, Permission.LINEAGE_IMPORT, f"openlineage:{file_sha}", record)
