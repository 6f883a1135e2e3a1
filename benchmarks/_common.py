"""Helpers shared by the benchmarks: machine description, timing, building a ledger quickly."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.api.countersign import Countersign
from core.identity.users import Session
from core.ledger.chain import Event

ADMIN, ADMIN_PW = "bench", "bench-password"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    p.add_argument("--workdir", default=None, help="where to put the benchmark databases (default: a temp dir)")
    return p


def fresh_db(workdir: Path, name: str, interval: int = 1000) -> tuple[Countersign, Session]:
    path = workdir / f"{name}.duckdb"
    for leftover in (path, path.with_name(path.name + ".wal"), path.with_name(path.name + ".service-secret")):
        leftover.unlink(missing_ok=True)
    cs = Countersign.init(path, admin=ADMIN, password=ADMIN_PW, origin=f"bench/{name}", checkpoint_interval=interval)
    return cs, cs.login(ADMIN, ADMIN_PW)


def bench_event(i: int) -> Event:
    return Event("bench.recorded", f"bench:{i % 1000}", {"i": i, "note": "benchmark event", "digest": f"{i:064x}"})


def bulk_append(cs: Countersign, session: Session, count: int, batch: int = 10_000) -> None:
    """Append ``count`` events by ``session`` in transactions of ``batch`` entries."""
    done = 0
    with cs.store.held():
        while done < count:
            n = min(batch, count - done)
            with cs.store.transaction() as tx:
                cs.ledger().append_many(tx, signer=session.signer, actor=session.name, role="admin",
                                        events=(bench_event(done + k) for k in range(n)))
            done += n


def _sign_part(seed: bytes, messages: list[bytes]) -> int:
    from core.tlog.ed25519 import SigningKey

    key = SigningKey(seed)
    for message in messages:
        key.sign(message)
    return len(messages)


def _verify_part(items: list[tuple[bytes, bytes, bytes]]) -> int:
    from core.tlog.ed25519 import verify

    return sum(verify(public_key, signature, message) for message, signature, public_key in items)


def raw_libsodium_signs_per_s(seed: bytes, messages: list[bytes], processes: int) -> float:
    """Bare libsodium signing of ``messages`` split over ``processes`` processes (1 = this process)."""
    if processes <= 1:
        elapsed, _ = timed(lambda: _sign_part(seed, messages))
        return len(messages) / elapsed
    size = -(-len(messages) // processes)
    parts = [messages[i:i + size] for i in range(0, len(messages), size)]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_sign_part, [seed] * processes, [parts[0][:10]] * processes))  # start them first
        elapsed, _ = timed(lambda: list(pool.map(_sign_part, [seed] * len(parts), parts)))
    return len(messages) / elapsed


def raw_libsodium_verifies_per_s(items: list[tuple[bytes, bytes, bytes]], processes: int) -> float:
    """Bare libsodium verification of ``(message, signature, public key)`` items on ``processes`` processes."""
    size = -(-len(items) // processes)
    parts = [items[i:i + size] for i in range(0, len(items), size)]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_verify_part, [parts[0][:10]] * processes))
        elapsed, good = timed(lambda: sum(pool.map(_verify_part, parts)))
    assert good == len(items)
    return len(items) / elapsed


def report(name: str, results: dict[str, Any]) -> None:
    print(json.dumps({"benchmark": name, "machine": machine(), **results}, indent=2))
