"""The lineage graph on DuckDB: nodes, edges, aliases (OpenLineage symlinks) and column-level links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.storage.duckdb_tx.base import TxBase


class LineageTx(TxBase):
    """The lineage graph (:class:`core.storage.contract.LineageStore`)."""

    def upsert_lineage_node(self, node: dict[str, Any]) -> bool:
        """Insert a node unless one with that id exists; return whether it was inserted."""
        if self._one("SELECT 1 FROM lineage_nodes WHERE id = ?", [node["id"]]) is not None:
            return False
        self._insert("lineage_nodes", node)
        return True

    def insert_lineage_edge(self, src: str, dst: str, kind: str, seq: int) -> bool:
        if self._one("SELECT 1 FROM lineage_edges WHERE src = ? AND dst = ? AND kind = ?", [src, dst, kind]):
            return False
        self.con.execute("INSERT INTO lineage_edges VALUES (?, ?, ?, ?)", [src, dst, kind, seq])
        return True

    def insert_lineage_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Bulk-insert rows the caller knows are new into ``lineage_nodes``, ``lineage_edges`` or ``lineage_columns``
        (one Arrow batch: thousands of rows in milliseconds, where a statement per row costs about a millisecond
        each); a row already there is skipped. Returns how many rows were given."""
        if table not in ("lineage_nodes", "lineage_edges", "lineage_columns"):
            raise ValueError(f"not a lineage table: {table}")
        if not rows:
            return 0
        import pyarrow as pa

        values = list(zip(*rows, strict=True))
        batch = pa.table([pa.array(v, type=pa.int64() if name == "seq" else pa.string())
                          for name, v in zip(columns, values, strict=True)], names=list(columns))
        self.con.register("_lineage_batch", batch)
        try:
            self.con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM _lineage_batch "
                             "ON CONFLICT DO NOTHING")
        finally:
            self.con.unregister("_lineage_batch")
        return len(rows)

    def update_lineage_node(self, node: dict[str, Any]) -> None:
        """Replace a node's label, digest and attributes (what later OpenLineage events add); id, kind and seq stay."""
        self.con.execute("UPDATE lineage_nodes SET label = ?, digest = ?, attributes = ? WHERE id = ?",
                         [node["label"], node["digest"], node["attributes"], node["id"]])

    def repoint_lineage_nodes(self, pairs: Sequence[Sequence[str]]) -> None:
        """Merge each node ``old`` into ``new`` (``[old, new]`` pairs, ``new`` never itself merged): edges, aliases
        and column links move to ``new``; the ``old`` nodes are deleted. One statement per table, whatever the count."""
        if not pairs:
            return
        import pyarrow as pa

        mapping = pa.table({"old": pa.array([p[0] for p in pairs], pa.string()),
                            "new": pa.array([p[1] for p in pairs], pa.string())})
        self.con.register("_merged", mapping)
        try:
            touched = "src IN (SELECT old FROM _merged) OR dst IN (SELECT old FROM _merged)"
            moved = ("coalesce((SELECT new FROM _merged WHERE old = t.src), t.src) AS src, "
                     "coalesce((SELECT new FROM _merged WHERE old = t.dst), t.dst) AS dst")
            for table, columns in (("lineage_edges", "src, dst, kind, seq"),
                                   ("lineage_columns", "dst, dst_field, src, src_field, transformation, seq")):
                rest = ", ".join(c for c in columns.split(", ") if c not in ("src", "dst"))
                self.con.execute(f"CREATE TEMP TABLE _moved AS SELECT {moved}, {rest} FROM {table} t WHERE {touched}")
                self.con.execute(f"DELETE FROM {table} WHERE {touched}")
                self.con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _moved ON CONFLICT DO NOTHING")
                self.con.execute("DROP TABLE _moved")
            self.con.execute("UPDATE lineage_aliases SET node_id = m.new FROM _merged m WHERE node_id = m.old")
            self.con.execute("DELETE FROM lineage_nodes WHERE id IN (SELECT old FROM _merged)")
        finally:
            self.con.unregister("_merged")

    def lineage_aliases(self, ids: Sequence[str]) -> dict[str, str]:
        """``alias → node id`` for those of ``ids`` that are aliases (OpenLineage ``symlinks`` identifiers)."""
        if not ids:
            return {}
        rows = self._all("SELECT alias, node_id FROM lineage_aliases WHERE alias IN (SELECT unnest(?))", [list(ids)])
        return {str(a): str(n) for a, n in rows}

    def put_lineage_aliases(self, pairs: Sequence[Sequence[str]], seq: int) -> None:
        """Record ``[alias, node id]`` pairs (an alias seen again points to its newest node), in one statement."""
        if not pairs:
            return
        import pyarrow as pa

        batch = pa.table({"alias": pa.array([p[0] for p in pairs], pa.string()),
                          "node_id": pa.array([p[1] for p in pairs], pa.string()),
                          "seq": pa.array([seq] * len(pairs), pa.int64())})
        self.con.register("_aliases", batch)
        try:
            self.con.execute("INSERT INTO lineage_aliases SELECT * FROM _aliases ON CONFLICT (alias) DO UPDATE SET "
                             "node_id = excluded.node_id")
        finally:
            self.con.unregister("_aliases")

    def lineage_columns_touching(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Column links into or out of any of ``ids`` (``""`` stored for an absent field reads back as ``None``)."""
        if not ids:
            return []
        rows = self._records("SELECT * FROM lineage_columns WHERE dst IN (SELECT unnest(?)) OR src IN "
                             "(SELECT unnest(?)) ORDER BY seq, dst, dst_field, src, src_field", [list(ids), list(ids)])
        return [{k: (None if v == "" and k != "seq" else v) for k, v in r.items()} for r in rows]

    def lineage_id_renames(self) -> list[tuple[str, str]]:
        """``(old id, new id)`` of the OpenLineage node ids migration 9 re-keyed by (namespace, name)."""
        return [(str(a), str(b)) for a, b in self._all("SELECT old_id, new_id FROM lineage_id_renames ORDER BY old_id")]

    def lineage_nodes(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        return self._records("SELECT * FROM lineage_nodes WHERE id IN (SELECT unnest(?)) ORDER BY id", [list(ids)])

    def lineage_edges_touching(self, ids: Sequence[str], direction: str) -> list[dict[str, Any]]:
        column = "dst" if direction == "upstream" else "src"
        return self._records(
            f"SELECT src, dst, kind, seq FROM lineage_edges WHERE {column} IN (SELECT unnest(?)) ORDER BY seq",
            [list(ids)],
        )
