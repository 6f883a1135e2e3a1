"""Store backends side by side, DuckDB vs PostgreSQL: governed writes under concurrency, appends, app renders.

Everything runs in one process tree, in the same run, against a DuckDB file and a real PostgreSQL server started here
(:class:`tests.postgres_server.PostgresServer`: unprivileged user, ``fsync``/``synchronous_commit`` on).

(a) **Concurrent governed writes.** For each client count (default 1, 4, 16, 64) that many separate OS processes
    (forked from a fork server that has the project imported), each with its own :class:`Countersign` object and its
    own admin sign-in, repeatedly grant and revoke the ``auditor`` role on their own user: each action is the real
    facade path — authorisation, state change and a signed ledger entry in one transaction (on PostgreSQL under the
    ledger's advisory lock; on DuckDB the clients share one file and queue on its lock: the baseline). All clients
    start together (a barrier) after a warm-up; throughput counts the actions completed in the measured window,
    latency percentiles cover every action started in it. ``--read-every K`` makes every K-th action a read
    (``log``, the 20 newest entries), reported apart. Both ledgers are verified afterwards (no entry lost or forked).
    Goal: at 16 clients PostgreSQL >= 10x DuckDB's actions/s, with p99 < 250 ms. The server's own limits at each
    client count, measured the same way: bare psycopg clients inserting and committing one ledger-shaped row each
    (``postgresql_raw_commits``: concurrent commits share WAL flushes), and the same with the ledger's advisory lock
    taken first (``postgresql_raw_commits_locked``: the lock is held through the commit's flush, so commits are
    serialised — the ceiling of any writer that must extend one hash chain this way). Every 1,000th entry's
    transaction also writes a signed checkpoint; the first one in a process unseals the service key (scrypt) and,
    on PostgreSQL, imports pandas (``pyarrow.array`` does, reading the leaf hashes): ~0.4-0.6 s inside that
    transaction, so under the lock, while every other writer waits. Short-lived clients (CLI calls, these
    processes) pay it; long-running servers once: ``postgresql_warm_processes`` repeats the PostgreSQL runs with
    clients that did both before the start. Each run counts the actions that wrote a checkpoint.
    ``pg_write_anatomy`` breaks one client's PostgreSQL governed write down: SQL statements and their round trips,
    time in ``execute``, in ``commit`` (the WAL flush), and the rest (Python: authorising, signing, the pool).
(b) **Single durable append vs the raw commit.** Each ledger append its own committed transaction (as in
    ``benchmarks.ledger_append``) vs a bare psycopg connection inserting one ledger-shaped row and committing, on the
    same server; the same pair on DuckDB for reference. Appends and raw commits alternate in rounds, so a change in
    the shared machine's load hits both. Goal (PostgreSQL): >= 0.70 of the raw commit rate.
(c) **App render on PostgreSQL.** The site of ``benchmarks.app_render`` (1,000 models, 20,000 evaluations, 1,000,000
    ledger entries by default) is built as a DuckDB file, copied into PostgreSQL with ``copy_site`` (what
    ``countersign store copy`` runs), and every page's first and second render is timed in Chromium through the real
    server, on PostgreSQL and, for reference, on the DuckDB original. Goal: every page < 2 s on PostgreSQL.
    Without Chromium or Playwright this part reports ``{"skipped": reason}``.

Run: ``.venv/bin/python -m benchmarks.store_backends`` (``--smoke``: 1 and 4 clients for 2 s each, no raw
concurrent series, 40 appends, the app site at app_render's smoke size, no DuckDB reference render; ``--workdir DIR``
keeps the app site's DuckDB build there and reuses it for the same sizes; ``--parts a,b`` runs some parts only).
Without PostgreSQL server binaries or psycopg it prints ``{"skipped": reason}`` and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.util
import json
import multiprocessing
import os
import pstats
import queue
import secrets
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from benchmarks._common import ADMIN, ADMIN_PW, bench_event, fresh_db, machine, parser, report
from core.api.countersign import Countersign
from core.storage.migrations import MIGRATIONS, POSTGRES

ROLE = "auditor"  # toggled on each client's own user (who holds data_scientist: no separation-of-duties conflict)
GOAL_SPEEDUP_16 = 10.0
GOAL_P99_MS = 250.0
GOAL_APPEND_VS_RAW = 0.70
GOAL_RENDER_S = 2.0
FULL = {"clients": (1, 4, 16, 64), "seconds": 20.0, "appends": 2_000, "rounds": 4, "anatomy": 300}
SMOKE = {"clients": (1, 4), "seconds": 2.0, "appends": 40, "rounds": 2, "anatomy": 20}
#: a ledger-shaped row for the raw commits (the sizes of a real entry: 64-hex hashes, base64 signature, ~400 B entry)
RAW_ROW = ["2026-01-01T00:00:00.000000Z", "actor", "admin", "bench.recorded", "bench:1", '{"i":1}', "0" * 64, "f" * 64,
           "k" * 32, "s" * 88, "e" * 400]


def _ledger_ddl(dialect: str, table: str) -> str:
    ddl = next(s for s in MIGRATIONS[0].statements_for(dialect) if "CREATE TABLE ledger" in s)
    return ddl.replace("CREATE TABLE ledger", f"CREATE TABLE {table}", 1)


def _percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``values``, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


# ------------------------------------------------------------------------------------------------ sites
def _user(index: int) -> str:
    return f"client-{index:03d}"


def _new_site(db: str, clients: int) -> None:
    """A fresh site at ``db`` (a DuckDB path or a PostgreSQL URI) with the bench admin and one user per client."""
    cs = Countersign.init(db, admin=ADMIN, password=ADMIN_PW, origin="bench/store_backends")
    admin = cs.login(ADMIN, ADMIN_PW)
    for i in range(clients):
        cs.add_user(admin, _user(i), ["data_scientist"])


# ------------------------------------------------------------------------------------------------ (a) clients
def _governed_actor(db: str, index: int, read_every: int, warm: bool) -> tuple[Any, Any]:  # noqa: ANN401
    """``act(k)`` for a Countersign client (grant, revoke, grant …; a ``log`` read every ``read_every``-th action)
    and ``finish()``, which leaves the client's user as it was found. An action whose entry completes a checkpoint
    interval (the ledger writes a signed checkpoint in that transaction) is reported as ``checkpoints``.
    ``warm``: before the start, unseal the service key (scrypt) and read a leaf hash (on PostgreSQL this imports
    pandas, through ``pyarrow.array``), as a long-running server process has done at its first checkpoint."""
    cs = Countersign(db)
    session = cs.login(ADMIN, ADMIN_PW)
    user = _user(index)
    granted = False
    interval = cs.ledger().checkpoint_interval
    if warm:  # what the first checkpoint of a process costs: the service key unsealed, the leaf-hash read path
        from core.ledger.service_key import load_service_signer

        cs.context.read(lambda tx: (load_service_signer(tx, cs.site), tx.ledger_leaf_hashes(0, 1)))

    def act(k: int) -> str:
        nonlocal granted
        if read_every and k % read_every == read_every - 1:
            cs.log(session, limit=20)
            return "reads"
        done = (cs.revoke if granted else cs.grant)(session, user, ROLE)
        granted = not granted
        return "checkpoints" if (done["seq"] + 1) % interval == 0 else "writes"

    def finish() -> None:
        if granted:
            cs.revoke(session, user, ROLE)

    return act, finish


def _raw_actor(uri: str, index: int, locked: bool) -> tuple[Any, Any]:  # noqa: ANN401
    """``act(k)`` for a bare psycopg client: one ledger-shaped row inserted and committed per action (after taking
    the ledger's advisory lock first when ``locked``, as Countersign's write transactions do)."""
    import psycopg

    from core.storage.postgres_store import LEDGER_LOCK_KEY

    conn = psycopg.connect(uri)
    insert = "INSERT INTO raw_ledger VALUES (" + ", ".join(["%s"] * 12) + ")"
    base = secrets.randbits(30) << 32  # keys ascending within a client (as ledger seqs are), unique across runs

    def act(k: int) -> str:
        if locked:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [LEDGER_LOCK_KEY])
        conn.execute(insert, [base + k + 4, *RAW_ROW])
        conn.commit()
        return "writes"

    return act, conn.close


def _client(mode: str, db: str, index: int, seconds: float, read_every: int, barrier: Any,  # noqa: ANN401
            results: Any) -> None:  # noqa: ANN401
    """One client process: connect (and sign in), warm up, wait for the others, then act for ``seconds``."""
    out: dict[str, Any] = {"index": index, "writes": [], "checkpoints": [], "reads": [], "errors": Counter()}
    try:
        act, finish = (_governed_actor(db, index, read_every, mode == "governed_warm")
                       if mode.startswith("governed") else _raw_actor(db, index, locked=mode == "raw_locked"))
        for k in range(-4, 0):  # warm-up: connections open, statements prepared, the service key unsealed if needed
            act(k)
        barrier.wait(timeout=900)
        end = time.monotonic() + seconds
        k = 0
        while (start := time.monotonic()) < end:
            try:
                kind = act(k)
            except Exception as exc:  # counted and reported; the run goes on
                out["errors"][f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                kind = "failed"
            if kind != "failed":
                out[kind].append((start, time.monotonic()))
            k += 1
        finish()  # not measured
    except BaseException:
        out["fatal"] = traceback.format_exc()[-3000:]
        with contextlib.suppress(Exception):
            barrier.abort()
    out["errors"] = dict(out["errors"])
    results.put(out)


def concurrent_run(ctx: Any, mode: str, db: str, clients: int, seconds: float,  # noqa: ANN401
                   read_every: int = 0) -> dict[str, Any]:
    barrier, results = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [ctx.Process(target=_client, args=(mode, db, i, seconds, read_every, barrier, results), daemon=True)
             for i in range(clients)]
    setup_started = time.perf_counter()
    for p in procs:
        p.start()
    outs: list[dict[str, Any]] = []
    try:
        barrier.wait(timeout=900)
        t0 = time.monotonic()
        setup_s = time.perf_counter() - setup_started
        while len(outs) < clients:
            try:
                outs.append(results.get(timeout=5))
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    break
    except threading.BrokenBarrierError:
        while True:
            try:
                outs.append(results.get(timeout=2))
            except queue.Empty:
                break
        fatal = [o["fatal"] for o in outs if "fatal" in o]
        raise RuntimeError(f"a client failed before the start ({db.split('@')[-1]}):\n"
                           + (fatal[0] if fatal else "no report")) from None
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    load = _load()
    fatal = [o["fatal"] for o in outs if "fatal" in o]
    if fatal or len(outs) < clients:
        raise RuntimeError(f"{clients - len(outs)} client(s) gave no report; first failure:\n"
                           + (fatal[0] if fatal else "none reported"))
    window_end = t0 + seconds
    checkpoints = [c for o in outs for c in o["checkpoints"]]
    writes = [w for o in outs for w in o["writes"]] + checkpoints
    reads = [r for o in outs for r in o["reads"]]
    errors: Counter[str] = Counter()
    for o in outs:
        errors.update(o["errors"])
    write_lat = [end - start for start, end in writes]
    read_lat = [end - start for start, end in reads]
    done = sum(1 for _start, end in writes if end <= window_end)
    per_client = [sum(1 for _s, e in o["writes"] + o["checkpoints"] if e <= window_end) for o in outs]
    result = {
        "clients": clients,
        "actions_per_s": round(done / seconds, 1),
        "p50_ms": _ms(_percentile(write_lat, 50)),
        "p99_ms": _ms(_percentile(write_lat, 99)),
        "max_ms": _ms(max(write_lat, default=None)),
        "actions": len(writes),
        "fairness_min_max": [min(per_client), max(per_client)],
        "checkpoints_written": len(checkpoints),
        "checkpoint_action_max_ms": _ms(max((e - s for s, e in checkpoints), default=None)),
        "errors": dict(errors),
        "setup_s": round(setup_s, 1),
        "load_1min_after": load,
    }
    if read_every:
        result.update({"reads_per_s": round(sum(1 for _s, e in reads if e <= window_end) / seconds, 1),
                       "read_p50_ms": _ms(_percentile(read_lat, 50)), "read_p99_ms": _ms(_percentile(read_lat, 99))})
    return result


@contextlib.contextmanager
def _patched(owner: Any, name: str, wrapper_factory: Any) -> Iterator[None]:  # noqa: ANN401
    original = getattr(owner, name)
    setattr(owner, name, wrapper_factory(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def pg_write_anatomy(uri: str, n: int, profile: bool) -> dict[str, Any]:
    """Where one PostgreSQL governed write (grant or revoke, through the facade, one client) spends its time."""
    import psycopg

    from core.storage.postgres_tx import PgConnection

    cs = Countersign(uri)
    admin = cs.login(ADMIN, ADMIN_PW)
    user = _user(0)
    for role_call in (cs.grant, cs.revoke):  # warm-up
        role_call(admin, user, ROLE)
    stats = {"execute_s": 0.0, "statements": 0, "commit_s": 0.0, "commits": 0}
    seen: Counter[str] = Counter()

    def timed_execute(original: Any) -> Any:  # noqa: ANN401
        def execute(self: Any, sql: str, params: Any = None) -> Any:  # noqa: ANN401
            t = time.perf_counter()
            try:
                return original(self, sql, params)
            finally:
                stats["execute_s"] += time.perf_counter() - t
                stats["statements"] += 1
                seen[" ".join(sql.split())[:90]] += 1
        return execute

    def timed_commit(original: Any) -> Any:  # noqa: ANN401
        def commit(self: Any) -> Any:  # noqa: ANN401
            t = time.perf_counter()
            try:
                return original(self)
            finally:
                stats["commit_s"] += time.perf_counter() - t
                stats["commits"] += 1
        return commit

    def loop() -> float:
        t = time.perf_counter()
        for i in range(n):
            (cs.grant if i % 2 == 0 else cs.revoke)(admin, user, ROLE)
        return time.perf_counter() - t

    # The advisory lock is taken with conn.execute directly (not through the adapter): count it by hand.
    with _patched(PgConnection, "execute", timed_execute), _patched(psycopg.Connection, "commit", timed_commit):
        total = loop()
    out: dict[str, Any] = {
        "actions": n,
        "ms_per_action": round(total / n * 1000, 3),
        "statements_per_action": round(stats["statements"] / n + 1, 1),  # + the pg_advisory_xact_lock
        "execute_ms_per_action": round(stats["execute_s"] / n * 1000, 3),
        "commit_ms_per_action": round(stats["commit_s"] / n * 1000, 3),  # the write's COMMIT (+ a no-op one)
        "other_ms_per_action": round((total - stats["execute_s"] - stats["commit_s"]) / n * 1000, 3),
        "statements": {sql: round(count / n, 2) for sql, count in seen.most_common()},
    }
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        loop()
        prof.disable()
        st = pstats.Stats(prof)
        rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:25]  # type: ignore[attr-defined]
        out["profile_top_tottime"] = [
            {"function": f"{Path(file).name}:{line}({fn})", "calls_per_action": round(cc / n, 2),
             "tottime_ms_per_action": round(tt / n * 1000, 3), "cumtime_ms_per_action": round(ct / n * 1000, 3)}
            for (file, line, fn), (cc, _nc, tt, ct, _callers) in rows]
    return out


def part_a(ctx: Any, work: Path, server: Any, sizes: dict[str, Any], read_every: int,  # noqa: ANN401
           profile: bool, raw: bool, warm: bool) -> dict[str, Any]:
    import psycopg

    most = max(sizes["clients"])
    duck = str(work / "governed.duckdb")
    pg = server.create_database("governed")
    started = time.perf_counter()
    _new_site(duck, most)
    _new_site(pg, most)
    out: dict[str, Any] = {"seconds_per_run": sizes["seconds"], "read_every": read_every,
                           "sites_built_s": round(time.perf_counter() - started, 1), "duckdb": [], "postgresql": []}
    series = [("duckdb", "governed", duck), ("postgresql", "governed", pg)]
    if warm:
        series.append(("postgresql_warm_processes", "governed_warm", pg))
    if raw:
        raw_uri = server.create_database("raw_concurrent")
        with psycopg.connect(raw_uri) as conn:
            conn.execute(_ledger_ddl(POSTGRES, "raw_ledger"))
        series += [("postgresql_raw_commits", "raw", raw_uri), ("postgresql_raw_commits_locked", "raw_locked", raw_uri)]
    out.update({name: [] for name, _mode, _db in series[2:]})
    for clients in sizes["clients"]:
        for name, mode, db in series:
            run = concurrent_run(ctx, mode, db, clients, sizes["seconds"],
                                 read_every if mode.startswith("governed") else 0)
            out[name].append(run)
            print(f"# (a) {name} {clients} clients: {run['actions_per_s']}/s, p50 {run['p50_ms']} ms, "
                  f"p99 {run['p99_ms']} ms, errors {sum(run['errors'].values())}, load {run['load_1min_after']}",
                  file=sys.stderr, flush=True)
    for backend, db in (("duckdb", duck), ("postgresql", pg)):
        verified = Countersign(db).verify()
        out[f"{backend}_ledger_verified"] = {"ok": verified.ok, "entries": verified.size}
        assert verified.ok, f"{backend} ledger failed verification after the concurrent runs"
    out["speedup"] = {str(d["clients"]): round(q["actions_per_s"] / d["actions_per_s"], 1) if d["actions_per_s"]
                      else None for d, q in zip(out["duckdb"], out["postgresql"], strict=True)}
    if "postgresql_warm_processes" in out:
        out["speedup_warm_processes"] = {
            str(d["clients"]): round(q["actions_per_s"] / d["actions_per_s"], 1) if d["actions_per_s"] else None
            for d, q in zip(out["duckdb"], out["postgresql_warm_processes"], strict=True)}
    for name in ("postgresql_raw_commits", "postgresql_raw_commits_locked"):
        if name in out:
            out[f"postgresql_vs_{name[len('postgresql_'):]}"] = {
                str(q["clients"]): round(q["actions_per_s"] / r["actions_per_s"], 3) if r["actions_per_s"] else None
                for q, r in zip(out["postgresql"], out[name], strict=True)}
    at16 = next((i for i, d in enumerate(out["duckdb"]) if d["clients"] == 16), None)
    if at16 is not None:
        pg16, duck16 = out["postgresql"][at16], out["duckdb"][at16]
        out["goal_16_clients"] = {
            "speedup": out["speedup"]["16"], "speedup_goal": GOAL_SPEEDUP_16, "p99_ms": pg16["p99_ms"],
            "p99_goal_ms": GOAL_P99_MS,
            "meets_goal": bool(out["speedup"]["16"] and out["speedup"]["16"] >= GOAL_SPEEDUP_16
                               and pg16["p99_ms"] is not None and pg16["p99_ms"] < GOAL_P99_MS
                               and not pg16["errors"] and duck16["actions_per_s"] > 0)}
    out["pg_write_anatomy"] = pg_write_anatomy(pg, sizes["anatomy"], profile)
    return out


# ------------------------------------------------------------------------------------------------ (b) appends
def _appends(cs: Countersign, session: Any, start: int, n: int) -> float:  # noqa: ANN401
    """Seconds for ``n`` single-event appends, each its own committed transaction (one held connection)."""
    ledger = cs.ledger()
    t = time.perf_counter()
    with cs.store.held():
        for i in range(start, start + n):
            with cs.store.transaction() as tx:
                ledger.append(tx, signer=session.signer, actor=session.name, role="admin", event=bench_event(i))
    return time.perf_counter() - t


def part_b(work: Path, server: Any, sizes: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN401
    import psycopg

    n, rounds = sizes["appends"], sizes["rounds"]
    per_round = max(1, n // rounds)
    out: dict[str, Any] = {"appends": per_round * rounds, "rounds": rounds}

    # PostgreSQL: the site and the raw table in two databases of the same server.
    pg_site = server.create_database("appends")
    _new_site(pg_site, 0)
    cs = Countersign(pg_site)
    session = cs.login(ADMIN, ADMIN_PW)
    raw_uri = server.create_database("raw_commits")
    raw_insert = "INSERT INTO raw_ledger VALUES (" + ", ".join(["%s"] * 12) + ")"
    times = {"pg_raw": 0.0, "pg_append": 0.0, "duckdb_raw": 0.0, "duckdb_append": 0.0}
    with psycopg.connect(raw_uri) as raw:
        raw.execute(_ledger_ddl(POSTGRES, "raw_ledger"))
        raw.commit()

        def pg_raw(start: int, count: int) -> float:
            t = time.perf_counter()
            for i in range(start, start + count):
                raw.execute(raw_insert, [i, *RAW_ROW])
                raw.commit()
            return time.perf_counter() - t

        pg_raw(10**9, 5)  # warm-up (prepared after five executions, as the pooled connections' statements are)
        _appends(cs, session, 10**9, 5)
        for r in range(rounds):
            times["pg_raw"] += pg_raw(r * per_round, per_round)
            times["pg_append"] += _appends(cs, session, r * per_round, per_round)
    assert cs.verify().ok

    # DuckDB, for reference (the pair benchmarks.ledger_append measures), interleaved the same way.
    duck, duck_session = fresh_db(work, "appends")
    raw_path = work / "raw_commits.duckdb"
    raw_path.unlink(missing_ok=True)
    con = duckdb.connect(str(raw_path))
    try:
        con.execute(_ledger_ddl("duckdb", "raw_ledger"))

        def duck_raw(start: int, count: int) -> float:
            t = time.perf_counter()
            for i in range(start, start + count):
                con.begin()
                con.execute("INSERT INTO raw_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [i, *RAW_ROW])
                con.commit()
            return time.perf_counter() - t

        duck_raw(10**9, 5)
        _appends(duck, duck_session, 10**9, 5)
        for r in range(rounds):
            times["duckdb_raw"] += duck_raw(r * per_round, per_round)
            times["duckdb_append"] += _appends(duck, duck_session, r * per_round, per_round)
    finally:
        con.close()
    assert duck.verify().ok

    total = per_round * rounds
    for backend in ("postgresql", "duckdb"):
        key = "pg" if backend == "postgresql" else "duckdb"
        raw_rate, append_rate = total / times[f"{key}_raw"], total / times[f"{key}_append"]
        out[backend] = {"raw_single_row_commits_per_s": round(raw_rate, 1),
                        "single_event_appends_per_s": round(append_rate, 1),
                        "append_ms": round(1000 / append_rate, 3), "raw_commit_ms": round(1000 / raw_rate, 3),
                        "append_vs_raw_commit": round(append_rate / raw_rate, 3)}
    out["goal"] = {"append_vs_raw_commit": out["postgresql"]["append_vs_raw_commit"],
                   "goal": GOAL_APPEND_VS_RAW,
                   "meets_goal": out["postgresql"]["append_vs_raw_commit"] >= GOAL_APPEND_VS_RAW}
    out["load_1min_after"] = _load()
    return out


# ------------------------------------------------------------------------------------------------ (c) app render
def part_c(work: Path, server: Any, smoke: bool, entries: int | None, reference: bool) -> dict[str, Any]:  # noqa: ANN401
    from benchmarks import app_render
    from core.api.site_copy import copy_site
    from tests.e2e.browser import unavailable

    reason = unavailable()
    if reason:
        return {"skipped": reason}
    sizes = dict(app_render.SMOKE if smoke else app_render.FULL)
    if entries:
        sizes["entries"] = entries
    name = "app_render_smoke" if smoke else "app_render"  # app_render's own names: one --workdir serves both
    db, built = app_render.build_or_reuse(work, name, sizes, reuse=True)
    print(f"# (c) DuckDB site: {built}", file=sys.stderr, flush=True)
    uri = server.create_database("app")
    copy_started = time.perf_counter()
    copied = copy_site(db, uri)
    copy_s = round(time.perf_counter() - copy_started, 1)
    print(f"# (c) copied into PostgreSQL in {copy_s} s", file=sys.stderr, flush=True)
    counts = app_render.check_counts(uri, sizes)  # type: ignore[arg-type]  # a URI opens the same way
    _analyze(uri)
    out: dict[str, Any] = {"sizes": sizes, "duckdb_build_s": built["build_s"],
                           "reused_build": built.get("reused", False), "copy_to_postgresql_s": copy_s,
                           "copied_ledger_size": copied["ledger_size"], "counts": counts}
    measured = app_render.measure(uri, work / "app-postgresql.log")  # type: ignore[arg-type]
    out["postgresql"] = measured
    out["load_1min_after_postgresql"] = _load()
    if reference:
        out["duckdb"] = app_render.measure(db, work / "app-duckdb.log")
        out["load_1min_after_duckdb"] = _load()
    worst = max(measured["first_render_s"].values())
    out["goal"] = {"slowest_first_render_s": worst,
                   "slowest_second_render_s": max(measured["second_render_s"].values()),
                   "goal_s": GOAL_RENDER_S, "meets_goal": worst < GOAL_RENDER_S}
    return out


def _analyze(uri: str) -> None:
    """``ANALYZE`` the copied database (autovacuum would, moments later; a fresh copy has no statistics yet)."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("ANALYZE")


# ------------------------------------------------------------------------------------------------ main
def _unavailable() -> str | None:
    from tests.postgres_server import find_bin_dir

    if importlib.util.find_spec("psycopg") is None or importlib.util.find_spec("psycopg_pool") is None:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if find_bin_dir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl, postgres); scripts/bootstrap installs Debian's"
    return None


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clients", help="comma-separated client counts for (a) (default 1,4,16,64; smoke 1,4)")
    p.add_argument("--seconds", type=float, help="measured seconds per client count and backend (default 20)")
    p.add_argument("--read-every", type=int, default=0,
                   help="(a): every K-th action of a client is a read (log, 20 entries); 0 = writes only")
    p.add_argument("--appends", type=int, help="(b): single appends and raw commits per backend (default 2000)")
    p.add_argument("--app-entries", type=int, help="(c): ledger entries of the app site (default 1,000,000)")
    p.add_argument("--duckdb-render", action=argparse.BooleanOptionalAction, default=None,
                   help="(c): also render the DuckDB original, for reference (default: yes; no with --smoke)")
    p.add_argument("--parts", default="a,b,c", help="which parts to run (default a,b,c)")
    p.add_argument("--raw-concurrent", action=argparse.BooleanOptionalAction, default=None,
                   help="(a): also bare psycopg clients committing one row each, with and without the ledger's "
                        "advisory lock: the server's limits at each client count (default: yes; no with --smoke)")
    p.add_argument("--warm", action=argparse.BooleanOptionalAction, default=None,
                   help="(a): also PostgreSQL clients warmed for checkpoints before the start (service key unsealed, "
                        "pandas imported), as long-running servers are (default: yes; no with --smoke)")
    p.add_argument("--profile", action="store_true", help="(a): add a cProfile of PostgreSQL governed writes")
    args = p.parse_args()
    reason = _unavailable()
    if reason:
        print(json.dumps({"benchmark": "store_backends", "machine": machine(), "skipped": reason}, indent=2))
        return
    from tests.postgres_server import PostgresServer

    sizes = dict(SMOKE if args.smoke else FULL)
    if args.clients:
        sizes["clients"] = tuple(int(c) for c in args.clients.split(","))
    if args.seconds:
        sizes["seconds"] = args.seconds
    if args.appends:
        sizes["appends"] = args.appends
    parts = {s.strip() for s in args.parts.split(",") if s.strip()}
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    started, load_before = time.perf_counter(), _load()
    results: dict[str, Any] = {"sizes": {**sizes, "clients": list(sizes["clients"])}, "load_1min_before": load_before}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)  # the app site's build, kept for reuse
        scratch = Path(tmp)  # every other database: fresh each run
        # A PostgreSQL site keeps its service secret under $XDG_DATA_HOME: keep it (and the app server's) in here.
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "xdg")
        for var in ("COUNTERSIGN_SERVICE_SECRET", "COUNTERSIGN_SERVICE_SECRET_FILE", "COUNTERSIGN_DB"):
            os.environ.pop(var, None)
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["core.api.countersign", "benchmarks._common", "psycopg", "psycopg_pool"])
        with PostgresServer() as server:
            results["postgresql_server"] = {"version": server.bin_dir.parent.name, "fsync": "on",
                                            "synchronous_commit": "on", "max_connections": server.max_connections}
            if "a" in parts:
                results["concurrent_governed_writes"] = part_a(ctx, scratch, server, sizes, args.read_every,
                                                               args.profile,
                                                               not args.smoke if args.raw_concurrent is None
                                                               else args.raw_concurrent,
                                                               not args.smoke if args.warm is None
                                                               else args.warm)
            if "b" in parts:
                results["single_append_vs_raw_commit"] = part_b(scratch, server, sizes)
                print(f"# (b) {json.dumps(results['single_append_vs_raw_commit'])}", file=sys.stderr, flush=True)
            if "c" in parts:
                reference = not args.smoke if args.duckdb_render is None else args.duckdb_render
                results["app_render_postgresql"] = part_c(work, server, args.smoke, args.app_entries, reference)
    results["load_1min_after"] = _load()
    results["total_s"] = round(time.perf_counter() - started, 1)
    report("store_backends", results)


if __name__ == "__main__":
    main()
