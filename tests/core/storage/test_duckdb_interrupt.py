"""Ctrl-C while DuckDB runs a query leaves as the user's interrupt, not as DuckDB's error with a traceback."""

from __future__ import annotations

import threading

import pytest

from core.api.countersign import Countersign


def test_an_interrupted_duckdb_query_raises_keyboard_interrupt_and_writes_nothing(cs: Countersign) -> None:
    size = cs.context.read(lambda tx: tx.ledger_size())
    with pytest.raises(KeyboardInterrupt), cs.store.transaction() as tx:
        tx.put_setting("interrupted", "yes")  # rolled back with the interrupt
        con = tx.con  # type: ignore[attr-defined]  # the DuckDB connection: interrupt() is what SIGINT does
        timer = threading.Timer(0.3, con.interrupt)
        timer.start()
        try:
            con.execute("SELECT count(*) FROM range(100000000000) AS a(x) WHERE x % 7 = 3").fetchall()
        finally:
            timer.cancel()
    assert cs.context.read(lambda tx: tx.get_setting("interrupted")) is None
    assert cs.context.read(lambda tx: tx.ledger_size()) == size
