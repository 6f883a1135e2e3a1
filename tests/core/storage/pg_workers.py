"""Client processes for tests/core/storage/test_postgres_concurrency.py: a fork server and the parts its children play.

Importing Countersign costs about three seconds of CPU; sixteen fresh interpreters would spend most of a test's time
importing on a two-core machine. So ``python -m tests.core.storage.pg_workers`` imports it once, never connects to
any database itself, and forks one child per request. Each child is a separate OS process that opens its own
``Countersign(uri)`` (its own connection pool, its own server sessions), as separate CLI invocations or app-server
processes would; the test can SIGKILL it by its pid.

Protocol (one JSON object per line on stdin, one reply per line on stdout):

``{"spawn": PART, "args": {...}, "out": PATH, "env": {...}}``
    fork a child that sets ``env`` in its environment, then runs ``PARTS[PART](args, emit)``; ``emit(obj)`` appends
    ``obj`` as one JSON line to ``PATH`` and flushes it (lines written before a SIGKILL stay). A part that raises
    emits ``{"error": traceback}`` and exits 1. Reply: ``{"pid": PID}``.
``{"wait": SECONDS}``
    reap every child, waiting at most ``SECONDS`` in all; children still running then are killed (SIGKILL) and
    reported as ``"timeout"``. Reply: ``{"exits": {PID: exit code (negative: killed by that signal) or "timeout"}}``;
    then the server exits. End of input does the same without a reply.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.api.countersign import Countersign
from core.errors import StoreUnavailable
from core.identity.users import Session

Emit = Callable[[dict[str, Any]], None]
TOGGLED = "data_scientist"
UNKNOWN_OUTCOME = "whether the operation was recorded is unknown"


# ---------------------------------------------------------------------------------------------------- helpers
def barrier(args: dict[str, Any]) -> None:
    """Say ready (a file), then wait for the start file: every process acts at the same moment."""
    if args.get("ready"):
        Path(args["ready"]).touch()
    if not args.get("start"):
        return
    deadline = time.monotonic() + 120
    while not Path(args["start"]).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the start signal never came")
        time.sleep(0.002)


def sessions(cs: Countersign, logins: dict[str, str]) -> dict[str, Session]:
    """One signed-in session per user (the slow key derivation happens here, before any race)."""
    return {name: cs.login(name, password) for name, password in logins.items()}


def holds(cs: Countersign, admin: Session, user: str, role: str) -> bool:
    return role in next(u["roles"] for u in cs.users(admin) if u["name"] == user)


def toggle(cs: Countersign, admin: Session, user: str, held: bool) -> dict[str, Any]:
    """Revoke the toggled role if ``user`` holds it, else grant it; the ack names the ledger rows it wrote."""
    result = (cs.revoke if held else cs.grant)(admin, user, TOGGLED)
    action = "user.role_revoked" if held else "user.role_granted"
    return {"seq": result["seq"], "actor": admin.name, "rows": [[action, f"user:{user}"]]}


# ---------------------------------------------------------------------------------------------------- parts
def mixed(args: dict[str, Any], emit: Emit) -> None:
    """One process of the mixed race: ``kind`` says which governance actions it performs (``k`` of them)."""
    cs = Countersign(args["uri"])
    who = sessions(cs, args["logins"])
    kind, i, k = args["kind"], args["i"], args["k"]
    folder = Path(args["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "data":
        for j in range(k):
            rows = "".join(f"{r},{(r * (i + j + 1)) % 7}\n" for r in range(12 + j))
            (folder / f"d{j}.csv").write_text("x,y\n" + rows, encoding="utf-8")
    elif kind == "policy":
        for j in range(k):
            (folder / f"p{j}.yaml").write_text(
                f"policy: p{i}-{j}\nversion: 1\ndescription: policy {j} of process {i}\nchecks:\n"
                f"  - id: accuracy\n    metric: accuracy\n    gte: 0.{5 + j % 4}\n", encoding="utf-8")
    elif kind == "release":
        # an external model's predictions: right on 34 of 40 rows (accuracy 0.85: the gate's 0.5 passes)
        (folder / "scores.csv").write_text("x,y,p\n" + "".join(
            f"{r},{r % 2},{(r % 2) if r % 7 else 1 - r % 2}\n" for r in range(40)), encoding="utf-8")
    barrier(args)
    if kind == "roles":
        admin, target = who[args["admin"]], args["target"]
        for j in range(k):
            emit({"ack": toggle(cs, admin, target, held=j % 2 == 1)})
    elif kind == "data":
        ds = who[args["ds"]]
        for j in range(k):
            ref = f"d{i}-{j}@1"
            r = cs.register_dataset(ds, folder / f"d{j}.csv", name=f"d{i}-{j}", version="1")
            assert r["created"], r
            emit({"ack": {"seq": r["seq"], "actor": ds.name, "rows": [["dataset.registered", f"dataset:{ref}"]]}})
    elif kind == "policy":
        co = who[args["co"]]
        for j in range(k):
            r = cs.add_policy(co, folder / f"p{j}.yaml")
            assert r["created"] and not r["flagged_for_revalidation"], r
            emit({"ack": {"seq": r["seq"], "actor": co.name, "rows": [["policy.added", f"policy:p{i}-{j}@1"]]}})
    elif kind == "release":
        ds, lead = who[args["ds"]], who[args["lead"]]
        data, model = f"r{i}@1", f"m{i}@1"
        r = cs.register_dataset(ds, folder / "scores.csv", name=f"r{i}", version="1")
        emit({"ack": {"seq": r["seq"], "actor": ds.name, "rows": [["dataset.registered", f"dataset:{data}"]]}})
        r = cs.register_model(ds, None, name=f"m{i}", version="1", trained_on=[data], external=True,
                              policy=args["policy"])
        emit({"ack": {"seq": r["seq"], "actor": ds.name, "rows": [["model.registered", f"model:{model}"],
                                                                  ["policy.assigned", f"model:m{i}"]]}})
        r = cs.evaluate(ds, model, data=data, policy=args["policy"], label="y", prediction_column="p")
        assert r["passed"], r
        emit({"ack": {"seq": r["seq"], "actor": ds.name, "rows": [["evaluation.recorded", f"evaluation:{r['id']}"]]}})
        r = cs.promote(ds, model, to="staging", reason=f"process {i}: the gate passes")
        emit({"ack": {"seq": r["seq"], "actor": ds.name, "rows": [["promotion.requested", f"model:{model}"]]}})
        r = cs.approve(lead, r["request_id"], comment=f"process {i}: reviewed")
        assert r["status"] == "approved", r
        emit({"ack": {"seq": r["seq"], "actor": lead.name, "rows": [["promotion.approved", f"model:{model}"],
                                                                    ["model.stage_changed", f"model:{model}"]]}})
    elif kind == "audit":
        auditor = who[args["auditor"]]
        for _ in range(k):
            report = cs.verify(jobs=1)
            emit({"verify": {"ok": report.ok, "size": report.size, "problems": [str(p) for p in report.problems]}})
            cs.log(auditor, limit=5)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    emit({"done": True, "pid": os.getpid()})


def server(args: dict[str, Any], emit: Emit) -> None:
    """An app server's process: ONE long-lived ``Countersign`` (one pool), several threads acting at once."""
    cs = Countersign(args["uri"])
    who = sessions(cs, args["logins"])
    lock = threading.Lock()
    errors: list[str] = []

    def said(obj: dict[str, Any]) -> None:
        with lock:
            emit(obj)

    def work(spec: dict[str, Any], go: threading.Barrier) -> None:
        try:
            go.wait(timeout=60)
            if spec["kind"] == "toggle":
                admin = who[spec["admin"]]
                for j in range(spec["k"]):
                    said({"ack": toggle(cs, admin, spec["target"], held=j % 2 == 1)})
            elif spec["kind"] == "approve":
                lead = who[spec["lead"]]
                for request_id, model in spec["requests"]:
                    r = cs.approve(lead, request_id, comment=f"approved by {lead.name} in {os.getpid()}")
                    assert r["status"] == "approved", r
                    said({"ack": {"seq": r["seq"], "actor": lead.name, "rows": [
                        ["promotion.approved", f"model:{model}"], ["model.stage_changed", f"model:{model}"]]}})
            elif spec["kind"] == "register":
                ds = who[spec["ds"]]
                for name, path in spec["datasets"]:
                    r = cs.register_dataset(ds, path, name=name, version="1")
                    said({"ack": {"seq": r["seq"], "actor": ds.name,
                                  "rows": [["dataset.registered", f"dataset:{name}@1"]]}})
            else:
                raise ValueError(spec["kind"])
        except BaseException:  # reported by the process
            errors.append(traceback.format_exc())

    go = threading.Barrier(len(args["threads"]))
    threads = [threading.Thread(target=work, args=(spec, go), name=f"t{n}") for n, spec in enumerate(args["threads"])]
    barrier(args)
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise AssertionError("\n".join(errors))
    emit({"done": True, "pid": os.getpid(), "threads": len(threads)})


def appender(args: dict[str, Any], emit: Emit) -> None:
    """Toggle a role on one user in a loop until the stop file appears, riding out a server that goes away.

    Emits ``{"ack": ...}`` per acknowledged append, ``{"fail": "none" | "unknown", "message": ...}`` per
    StoreUnavailable (nothing was written / the commit's outcome is unknown), ``{"unexpected": traceback}`` for
    anything else.
    """
    cs = Countersign(args["uri"])
    admin = cs.login(args["admin"], args["password"])
    target, stop = args["target"], Path(args["stop"])
    held: bool | None = holds(cs, admin, target, TOGGLED)
    barrier(args)
    deadline = time.monotonic() + float(args.get("seconds", 120))
    while not stop.exists() and time.monotonic() < deadline:
        try:
            if held is None:  # after an outcome we cannot know, or a surprise: ask the database
                held = holds(cs, admin, target, TOGGLED)
            ack = toggle(cs, admin, target, held)
            held = not held
            emit({"ack": ack})
        except StoreUnavailable as exc:
            unknown = UNKNOWN_OUTCOME in exc.message
            emit({"fail": "unknown" if unknown else "none", "message": exc.message, "exit_code": exc.exit_code})
            if unknown:
                held = None
            time.sleep(0.05)
        except Exception:  # noqa: BLE001 - the test fails on any of these
            emit({"unexpected": traceback.format_exc()})
            held = None
            time.sleep(0.05)
        time.sleep(random.uniform(0, float(args.get("pause", 0.01))))
    emit({"done": True, "pid": os.getpid()})


def holder(args: dict[str, Any], emit: Emit) -> None:
    """Grant a role, but stop inside the write transaction — after the ledger append and the role's insert, before
    the commit — say so, and sleep there (holding the ledger-append lock) until killed."""
    from core.storage.postgres_tx import PgTx

    cs = Countersign(args["uri"])
    admin = cs.login(args["admin"], args["password"])
    original = PgTx.add_role

    def add_role_then_hang(self: PgTx, name: str, role: str) -> None:
        original(self, name, role)
        emit({"inside": True, "seq": self.ledger_max_seq(), "backend_pid": self.con.conn.info.backend_pid})
        time.sleep(600)

    PgTx.add_role = add_role_then_hang  # type: ignore[method-assign,assignment]
    cs.grant(admin, args["target"], TOGGLED)
    emit({"committed": True})  # never reached: the test kills this process first


PARTS: dict[str, Callable[[dict[str, Any], Emit], None]] = {
    "mixed": mixed, "server": server, "appender": appender, "holder": holder}


# ---------------------------------------------------------------------------------------------------- fork server
def _child(request: dict[str, Any], log_fd: int) -> None:
    """In the forked child: never returns."""
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)  # stray prints go to the log, never into the protocol
        sys.stdin = open(os.devnull)  # noqa: SIM115
        sys.stdout = os.fdopen(1, "w", buffering=1)
        os.environ.update(request.get("env") or {})
        out = open(request["out"], "a", buffering=1, encoding="utf-8")  # noqa: SIM115

        def emit(obj: dict[str, Any]) -> None:
            out.write(json.dumps(obj) + "\n")
            out.flush()

        try:
            PARTS[request["spawn"]](request.get("args") or {}, emit)
            code = 0
        except BaseException:  # noqa: BLE001 - reported to the test through the out file
            emit({"error": traceback.format_exc()})
    finally:
        os._exit(code)


def _reap(children: list[int], seconds: float) -> dict[str, int | str]:
    exits: dict[str, int | str] = {}
    deadline = time.monotonic() + seconds
    pending = list(children)
    while pending:
        for pid in list(pending):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                exits[str(pid)] = os.waitstatus_to_exitcode(status)
                pending.remove(pid)
        if pending and time.monotonic() > deadline:
            for pid in pending:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                exits[str(pid)] = "timeout"
            break
        time.sleep(0.01)
    return exits


def serve() -> None:
    children: list[int] = []
    log_fd = os.dup(2)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if "spawn" in request:
            pid = os.fork()
            if pid == 0:
                _child(request, log_fd)
            children.append(pid)
            print(json.dumps({"pid": pid}), flush=True)
        elif "wait" in request:
            print(json.dumps({"exits": _reap(children, float(request["wait"]))}), flush=True)
            return
    _reap(children, 0)


if __name__ == "__main__":
    serve()
