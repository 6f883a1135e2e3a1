"""The ledger aggregate on DuckDB: the head, appends, range reads for verification and the audit log, checkpoints.

Appends are serialised by the store (:class:`core.storage.duckdb_store.DuckDBStore`): one process holds the file
for writing and one thread of it writes at a time, so the head read here is the head the append extends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.storage.duckdb_tx.base import TxBase
from core.storage.records import LEDGER_COLUMNS, LedgerHead, LedgerRow


class LedgerTx(TxBase):
    """The ledger and its checkpoints (:class:`core.storage.contract.LedgerStore`)."""

    def ledger_head(self) -> LedgerHead | None:
        """``(seq, leaf_hash, ts)`` of the newest entry, or ``None`` for an empty ledger."""
        if self.pending_head is not None:
            return self.pending_head
        if self._instance is not None and self._instance.head is not None:
            return self._instance.head
        row = self._one("SELECT seq, leaf_hash, ts FROM ledger ORDER BY seq DESC LIMIT 1")
        return None if row is None else LedgerHead(int(row[0]), str(row[1]), str(row[2]))

    def insert_ledger_values(self, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ledger rows given as value sequences in ``LEDGER_COLUMNS`` order."""
        last = rows[-1]
        self.pending_head = LedgerHead(int(last[0]), str(last[8]), str(last[1]))
        if len(rows) == 1:
            self.con.execute("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(rows[0]))
            return
        import pyarrow as pa

        columns = list(zip(*rows, strict=True))
        table = pa.table(  # typed arrays: no per-value type inference (3x faster than inferring)
            [pa.array(values, type=pa.int64() if name == "seq" else pa.string())
             for name, values in zip(LEDGER_COLUMNS, columns, strict=True)],
            names=list(LEDGER_COLUMNS))
        self.con.register("_ledger_batch", table)
        try:
            self.con.execute("INSERT INTO ledger SELECT * FROM _ledger_batch")
        finally:
            self.con.unregister("_ledger_batch")

    def ledger_size(self) -> int:
        row = self._one("SELECT count(*) FROM ledger")
        return int(row[0]) if row else 0

    def ledger_search(
        self,
        *,
        limit: int,
        offset: int = 0,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        until: str | None = None,
        newest_first: bool = True,
    ) -> list[LedgerRow]:
        """Ledger rows for the audit log, newest first (``newest_first=False``: oldest first). ``actor`` matches the
        whole name, ignoring case; ``action``
        matches whole dotted segments (``promotion`` finds ``promotion`` and ``promotion.*``, not ``promotions``),
        ignoring case; ``subject`` matches exactly. A trailing ``*`` on any of them matches a plain text prefix.
        ``since``/``until`` are ledger timestamps (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), both inclusive."""
        where: list[str] = []
        params: list[Any] = []

        def prefix(column: str, value: str, fold: bool) -> None:
            escaped = value.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            where.append(f"{'lower(' + column + ')' if fold else column} LIKE ? ESCAPE '\\'")
            params.append((escaped.lower() if fold else escaped) + "%")

        if actor is not None:
            if actor.endswith("*"):
                prefix("actor", actor[:-1], True)
            else:
                where.append("lower(actor) = ?")
                params.append(actor.lower())
        if action is not None:
            if action.endswith("*"):
                prefix("action", action[:-1], True)
            else:
                escaped = action.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
                where.append("(lower(action) = ? OR lower(action) LIKE ? ESCAPE '\\')")
                params.extend([action.lower(), escaped.rstrip(".") + ".%"])
        if subject is not None:
            if subject.endswith("*"):
                prefix("subject", subject[:-1], False)
            else:
                where.append("subject = ?")
                params.append(subject)
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        if until is not None:
            where.append("ts <= ?")
            params.append(until)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._all(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger {clause} ORDER BY seq {'DESC' if newest_first else 'ASC'} "
            "LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        return [LedgerRow(*r) for r in rows]

    def ledger_entry(self, seq: int) -> LedgerRow | None:
        """The ledger row at ``seq``, or ``None``."""
        row = self._one(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE seq = ?", [int(seq)])
        return None if row is None else LedgerRow(*row)

    def ledger_entries(self, seqs: Sequence[int]) -> list[LedgerRow]:
        if not seqs:
            return []
        rows = self._all(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE seq IN (SELECT unnest(?)) ORDER BY seq",
            [list(seqs)],
        )
        return [LedgerRow(*r) for r in rows]

    def ledger_leaf_hashes(self, start: int = 0, end: int | None = None) -> list[str]:
        sql = "SELECT leaf_hash FROM ledger WHERE seq >= ?"
        params: list[Any] = [start]
        if end is not None:
            sql += " AND seq < ?"
            params.append(end)
        hashes: list[str] = self.con.sql(sql + " ORDER BY seq", params=params).to_arrow_table().column(0).to_pylist()
        return hashes

    def ledger_max_seq(self) -> int | None:
        row = self._one("SELECT max(seq) FROM ledger")
        return None if row is None or row[0] is None else int(row[0])

    def ledger_chunk(self, after_seq: int | None, upto_seq: int) -> dict[str, list[Any]]:
        """Rows with ``after_seq < seq <= upto_seq`` in seq order, column by column.

        A bounded range, not ``ORDER BY seq LIMIT n`` (which sorts everything after ``after_seq`` to keep n rows:
        3-5x slower per chunk on a large ledger).
        """
        where = "seq <= ?" if after_seq is None else "seq > ? AND seq <= ?"
        params = [upto_seq] if after_seq is None else [after_seq, upto_seq]
        table = self.con.sql(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE {where} ORDER BY seq", params=params,
        ).to_arrow_table()
        return {c: table.column(c).to_pylist() for c in LEDGER_COLUMNS}

    def ledger_next_seq(self, after_seq: int, upto_seq: int) -> int | None:
        """The smallest ``seq`` in ``(after_seq, upto_seq]``, if any (to step over a gap)."""
        row = self._one("SELECT min(seq) FROM ledger WHERE seq > ? AND seq <= ?", [after_seq, upto_seq])
        return None if row is None or row[0] is None else int(row[0])

    def ledger_columns(self) -> dict[str, list[Any]]:
        """Every ledger column, in seq order, as Python lists (for full verification)."""
        table = self.con.sql(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger ORDER BY seq").to_arrow_table()
        return {c: table.column(c).to_pylist() for c in LEDGER_COLUMNS}

    def ledger_for_subject_prefix(self, prefix: str, actions: Sequence[str]) -> list[LedgerRow]:
        rows = self._all(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE subject LIKE ? ESCAPE '\\' "
            "AND action IN (SELECT unnest(?)) ORDER BY seq",
            [prefix.replace("%", r"\%").replace("_", r"\_") + "%", list(actions)])
        return [LedgerRow(*r) for r in rows]

    def ledger_rows_for(self, subjects: Sequence[str], actions: Sequence[str], upto: int) -> list[LedgerRow]:
        """Rows about any of ``subjects`` or with any of ``actions``, below ``upto`` (exclusive), in seq order."""
        rows = self._all(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE seq < ? AND (subject IN (SELECT unnest(?)) OR "
            "action IN (SELECT unnest(?))) ORDER BY seq", [upto, list(subjects), list(actions)])
        return [LedgerRow(*r) for r in rows]

    # -- checkpoints -------------------------------------------------------------------------------------------
    def insert_checkpoint(self, size: int, root: str, note: str, frontier: list[str], created_at: str) -> None:
        self.con.execute(
            "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [size, root, note, json.dumps(frontier), created_at],
        )

    def latest_checkpoint(self) -> dict[str, Any] | None:
        row = self._one("SELECT size, root, note, frontier, created_at FROM checkpoints ORDER BY size DESC LIMIT 1")
        if row is None:
            return None
        return {"size": row[0], "root": row[1], "note": row[2], "frontier": json.loads(row[3]), "created_at": row[4]}

    def checkpoints(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT size, root, note, created_at FROM checkpoints ORDER BY size")
        return [{"size": s, "root": r, "note": n, "created_at": t} for s, r, n, t in rows]
