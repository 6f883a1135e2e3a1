"""Many real client processes on one PostgreSQL database, on a real server: races, killed clients, a restarted and a
crashed server.

* sixteen processes (and two auditors verifying meanwhile) perform mixed governance actions through the facade at
  the same moment: role grants and revokes, dataset registrations, policies, a whole release (dataset, external
  model under a policy, evaluation, promotion request, approval by a second user);
* two "app server" processes, each with ONE long-lived ``Countersign`` (one connection pool) and four threads,
  act at once (and, in a browser test, two real ``countersign app`` servers on one database);
* clients SIGKILLed inside a write transaction (after the ledger append, before the commit), and at random moments
  in a loop of appending clients;
* the server restarted, then crashed (SIGKILL), under appending clients; the CLI fails cleanly (exit code 4, one
  clear message naming the server without its password) while it is down, and works once it is back.

After each: every acknowledged action is in the ledger exactly once, seq is gapless, every entry links to the one
before (no fork), ``verify`` passes, and the state (roles, datasets, policies, stages) agrees with the ledger.

The client processes are forked by one server process that imported Countersign once (:mod:`tests.core.storage.
pg_workers`): each is a separate OS process with its own connections, but none pays the three seconds of import.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.api.countersign import Countersign
from core.demo.seed import enrol
from core.identity.users import Session
from tests.conftest import ADMIN, ADMIN_PW
from tests.core.ledger.test_concurrency import assert_gapless_chain
from tests.core.storage.backends import chain_tuples
from tests.core.storage.pg_workers import TOGGLED
from tests.postgres_server import PostgresServer, free_port

ROOT = Path(__file__).resolve().parents[3]
SECRET = "countersign-tests-service-secret"
CHECKPOINT_INTERVAL = 8  # checkpoints are written inside the racing transactions, often
GATE = ("policy: gate\nversion: 1\ndescription: accuracy only (fast)\nchecks:\n"
        "  - id: accuracy\n    metric: accuracy\n    gte: 0.5\n")
PROMPT_S = 5.0  # "promptly": a write after a killed lock holder, the server's own clean-up of its session


@pytest.fixture(autouse=True)
def _service_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process of a site (this one, the clients, the CLI, the app) signs with the same service key."""
    monkeypatch.setenv("COUNTERSIGN_SERVICE_SECRET", SECRET)


@pytest.fixture(autouse=True)
def _close_our_pools() -> Iterator[None]:
    """Close the connection pools this test opened in the pytest process (its databases are dropped afterwards)."""
    from core.storage import postgres_store

    pools = getattr(postgres_store, "_pools", {})  # the store offers no close(): its pools live per process
    before = set(pools)
    yield
    for key in set(pools) - before:
        with contextlib.suppress(Exception):
            pools.pop(key).close(timeout=1)


# ---------------------------------------------------------------------------------------------------- clients
class Clients:
    """The fork server of :mod:`tests.core.storage.pg_workers` and the client processes it started."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "clients.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.core.storage.pg_workers"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.outs: dict[int, Path] = {}
        self.names: dict[int, str] = {}

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            pytest.fail(f"the client fork server died:\n{self.log_tail()}")
        return dict(json.loads(reply))

    def spawn(self, part: str, name: str, args: dict[str, Any], env: dict[str, str] | None = None) -> int:
        out = self.folder / f"{name}.jsonl"
        pid = int(self._ask({"spawn": part, "args": args, "out": str(out), "env": env or {}})["pid"])
        self.outs[pid], self.names[pid] = out, name
        return pid

    def lines(self, pid: int) -> list[dict[str, Any]]:
        """What the client emitted so far (a line being written right now is left for the next call)."""
        try:
            text = self.outs[pid].read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        done = [line for line in text.split("\n")[:-1] if line.strip()]
        return [json.loads(line) for line in done]

    def errors(self) -> list[str]:
        return [f"{self.names[pid]} ({pid}):\n{line['error']}" for pid in self.outs for line in self.lines(pid)
                if "error" in line]

    def wait_for(self, pid: int, key: str, timeout: float = 60.0) -> dict[str, Any]:
        """The first line the client emitted with ``key``, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines(pid) if key in line]
            if found:
                return found[0]
            problems = self.errors()
            assert not problems, "\n".join(problems)
            assert time.monotonic() < deadline, f"{self.names[pid]} never said {key!r} in {timeout:g} s"
            time.sleep(0.01)

    def wait_ready(self, ready: list[Path], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in ready):
            problems = self.errors()
            assert not problems, "a client failed before the start signal:\n" + "\n".join(problems)
            assert time.monotonic() < deadline, f"clients never became ready:\n{self.log_tail()}"
            time.sleep(0.01)

    def wait(self, timeout: float) -> dict[int, int | str]:
        """Reap every client (killing those still running after ``timeout``); exit codes by pid."""
        exits = self._ask({"wait": timeout})["exits"]
        self.proc.wait(timeout=30)
        return {int(pid): code for pid, code in exits.items()}

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log.read_text(errors="replace")[-chars:]

    def close(self) -> None:
        """End the fork server; it kills and reaps the clients still running (by their pids)."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[Clients]:
    """The fork server, started first: its import runs while the test builds its site."""
    with Clients(tmp_path / "clients") as started:
        yield started


def all_acks(clients: Clients, pids: list[int] | None = None) -> list[dict[str, Any]]:
    chosen = list(clients.outs) if pids is None else pids
    return [line["ack"] for pid in chosen for line in clients.lines(pid) if "ack" in line]


# ---------------------------------------------------------------------------------------------------- the site
def new_site(uri: str, users: dict[str, tuple[list[str], str]]) -> tuple[Countersign, dict[str, Session]]:
    """A site with the admin and ``users`` (enrolled); everyone's session."""
    cs = Countersign.init(uri, admin=ADMIN, password=ADMIN_PW, checkpoint_interval=CHECKPOINT_INTERVAL)
    admin = cs.login(ADMIN, ADMIN_PW)
    who = {ADMIN: admin}
    for name, (roles, password) in users.items():
        who[name] = enrol(cs, admin, name, roles, password)
    return cs, who


def pw(name: str) -> str:
    return f"{name}-password"


def ledger_rows(uri: str) -> list[tuple[Any, ...]]:
    """``(seq, prev_hash, leaf_hash, actor, action, subject, signature, entry)`` of every entry, by seq."""
    return chain_tuples(Countersign(uri).store)


def payload(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(json.loads(row[7])["payload"])


def check_acknowledged(rows: list[tuple[Any, ...]], acks: list[dict[str, Any]]) -> set[int]:
    """Each acknowledged action's entries are in the ledger, each seq acknowledged once, with the actor, action and
    subject the client was told; returns the seqs acknowledged."""
    claimed: dict[int, dict[str, Any]] = {}
    for ack in acks:
        for offset, (action, subject) in enumerate(ack["rows"]):
            seq = ack["seq"] + offset
            assert seq not in claimed, f"seq {seq} acknowledged twice: {claimed[seq]} and {ack}"
            claimed[seq] = ack
            assert seq < len(rows), f"acknowledged seq {seq} is not in the ledger (size {len(rows)}): {ack}"
            assert rows[seq][0] == seq
            assert (rows[seq][3], rows[seq][4], rows[seq][5]) == (ack["actor"], action, subject), \
                f"seq {seq} holds {rows[seq][3:6]}, but {ack} was acknowledged"
    return set(claimed)


def roles_from_ledger(rows: list[tuple[Any, ...]]) -> dict[str, list[str]]:
    roles: dict[str, set[str]] = {}
    for row in rows:
        action, body = row[4], payload(row) if str(row[4]).startswith("user.") else {}
        if action == "user.added":
            roles[body["name"]] = set(body["roles"])
        elif action == "user.role_granted":
            assert body["role"] not in roles[body["name"]], f"seq {row[0]} grants a role already held"
            roles[body["name"]].add(body["role"])
        elif action == "user.role_revoked":
            assert body["role"] in roles[body["name"]], f"seq {row[0]} revokes a role not held"
            roles[body["name"]].discard(body["role"])
        elif action == "user.deactivated":
            roles[body["name"]] = set()
    return {name: sorted(held) for name, held in roles.items()}


def check_state_agrees_with_ledger(uri: str, rows: list[tuple[Any, ...]]) -> None:
    """Roles, datasets, policies, model stages and requests, as stored, are what the ledger says happened."""
    cs = Countersign(uri)
    admin = cs.login(ADMIN, ADMIN_PW)
    assert {u["name"]: sorted(u["roles"]) for u in cs.users(admin)} == roles_from_ledger(rows)
    registered = {str(r[5]).removeprefix("dataset:") for r in rows if r[4] == "dataset.registered"}
    assert {d["ref"] for d in cs.datasets(admin)} == registered
    added = {(payload(r)["name"], int(payload(r)["version"])) for r in rows if r[4] == "policy.added"}
    assert {(p["name"], int(p["version"])) for p in cs.policies(admin)} == added
    stages: dict[str, str] = {}
    for r in rows:
        if r[4] == "model.stage_changed":
            stages[payload(r)["model"]] = payload(r)["to_stage"]
    assert {f"{s['model_name']}@{s['model_version']}": s["stage"] for s in cs.stages(admin)} == stages
    requested = {payload(r)["request_id"] for r in rows if r[4] == "promotion.requested"}
    approved = {payload(r)["request_id"] for r in rows if r[4] == "promotion.approved"}
    statuses = {r["id"]: r["status"] for r in cs.requests(admin)}
    assert set(statuses) == requested
    assert {rid for rid, status in statuses.items() if status == "approved"} == approved


def check_verifies(uri: str, size: int) -> None:
    report = Countersign(uri).verify(jobs=1)
    assert report.ok, report.to_dict()
    assert report.size == size and report.first_bad_seq is None
    assert report.checkpoints_verified >= 1


def connections(uri: str) -> int:
    """Client sessions open on ``uri``'s database right now (besides the one asking)."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0


def switches(owners: list[str]) -> int:
    return sum(a != b for a, b in zip(owners, owners[1:], strict=False))


# ---------------------------------------------------------------------------------------------------- 1. mixed race
KINDS = ("roles", "data", "policy", "release")
PER_KIND = 4  # 16 acting processes
AUDITORS = 2  # and two more verifying the ledger meanwhile
K = {"roles": 7, "data": 4, "policy": 4, "release": 1, "audit": 3}


@pytest.mark.slow
def test_sixteen_processes_acting_at_once_lose_nothing_and_never_fork_the_chain(pg_uri: str, tmp_path: Path,
                                                                                clients: Clients) -> None:
    targets = [f"u{i}" for i in range(PER_KIND)]
    users = {"dana": (["data_scientist"], pw("dana")), "chloe": (["compliance_officer"], pw("chloe")),
             "lee": (["ml_lead"], pw("lee")), "aude": (["auditor"], pw("aude")),
             **{name: (["auditor"], pw(name)) for name in targets}}
    cs, who = new_site(pg_uri, users)
    (tmp_path / "gate.yaml").write_text(GATE, encoding="utf-8")
    cs.add_policy(who["chloe"], tmp_path / "gate.yaml")
    before = ledger_rows(pg_uri)

    start = tmp_path / "start"
    plan: list[tuple[str, dict[str, Any]]] = []
    for n, kind in enumerate(k for k in KINDS for _ in range(PER_KIND)):
        logins = {"roles": {ADMIN: ADMIN_PW}, "data": {"dana": pw("dana")}, "policy": {"chloe": pw("chloe")},
                  "release": {"dana": pw("dana"), "lee": pw("lee")}}[kind]
        plan.append((f"{kind}{n}", {"kind": kind, "i": n, "k": K[kind], "logins": logins, "admin": ADMIN,
                                    "target": targets[n % PER_KIND], "ds": "dana", "co": "chloe", "lead": "lee",
                                    "policy": "gate"}))
    for n in range(AUDITORS):
        plan.append((f"audit{n}", {"kind": "audit", "i": 100 + n, "k": K["audit"], "logins": {"aude": pw("aude")},
                                   "auditor": "aude"}))
    t0 = time.monotonic()
    pids = []
    for name, args in plan:
        args.update(uri=pg_uri, folder=str(tmp_path / name), ready=str(tmp_path / f"{name}.ready"),
                    start=str(start))
        pids.append(clients.spawn("mixed", name, args))
    clients.wait_ready([tmp_path / f"{name}.ready" for name, _ in plan])
    # every process has signed in, so each holds its own server session: all are there at once
    assert connections(pg_uri) >= len(plan)
    start.touch()
    ready = time.monotonic() - t0
    exits = clients.wait(120)
    assert not clients.errors(), "\n".join(clients.errors())
    assert exits == dict.fromkeys(pids, 0), (exits, clients.log_tail())
    acks = [{**line["ack"], "by": pid} for pid in pids for line in clients.lines(pid) if "ack" in line]
    done = [line for pid in pids for line in clients.lines(pid) if "done" in line]
    verified = [line["verify"] for pid in pids for line in clients.lines(pid) if "verify" in line]
    elapsed = time.monotonic() - t0
    assert len({d["pid"] for d in done}) == len(plan), "each client is a process of its own"

    rows = ledger_rows(pg_uri)
    assert_gapless_chain(rows)
    assert rows[:len(before)] == before, "entries written before the race were changed"
    acknowledged = check_acknowledged(rows, acks)
    # nothing lost and nothing extra: the new entries are exactly those the clients were told about
    assert acknowledged == set(range(len(before), len(rows)))
    expected = PER_KIND * (K["roles"] + K["data"] + K["policy"] + 7)
    assert len(rows) - len(before) == expected
    # the processes really raced: one after another, the owner of the entries would change 15 times
    owner = {seq: ack["by"] for ack in acks for seq in range(ack["seq"], ack["seq"] + len(ack["rows"]))}
    owners = [owner[s] for s in range(len(before), len(rows))]
    assert switches(owners) >= 2 * len(plan), f"the clients did not interleave ({switches(owners)} switches)"
    # verification during the race saw a consistent snapshot every time
    assert len(verified) == AUDITORS * K["audit"]
    assert all(v["ok"] for v in verified), verified
    check_verifies(pg_uri, len(rows))
    check_state_agrees_with_ledger(pg_uri, rows)
    admin = cs.login(ADMIN, ADMIN_PW)
    roles = {u["name"]: u["roles"] for u in cs.users(admin)}
    assert all(roles[t] == sorted(["auditor", TOGGLED]) for t in targets), roles  # an odd number of toggles each
    assert {f"m{n}@1" for n in range(3 * PER_KIND, 4 * PER_KIND)} == {
        f"{s['model_name']}@{s['model_version']}" for s in cs.stages(admin) if s["stage"] == "staging"}
    print(f"\n{len(plan)} processes signed in and ready after {ready:.1f} s; {len(rows) - len(before)} entries in "
          f"{elapsed - ready:.1f} s more, the writer changing {switches(owners)} times")


# ---------------------------------------------------------------------------------------------------- 2. app servers
def pending_requests(cs: Countersign, who: dict[str, Session], folder: Path, names: list[str]) -> list[list[str]]:
    """Models ``names`` (external, under the gate), each evaluated and with a promotion to staging awaiting an ML lead:
    ``[[request id, model ref], …]``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gate.yaml").write_text(GATE, encoding="utf-8")
    (folder / "scores.csv").write_text("x,y,p\n" + "".join(f"{r},{r % 2},{r % 2 if r % 5 else 1 - r % 2}\n"
                                                           for r in range(30)), encoding="utf-8")
    dana = who["dana"]
    cs.add_policy(who["chloe"], folder / "gate.yaml")
    cs.register_dataset(dana, folder / "scores.csv", name="scores", version="1")
    out = []
    for name in names:
        cs.register_model(dana, None, name=name, version="1", trained_on=["scores@1"], external=True, policy="gate")
        cs.evaluate(dana, f"{name}@1", data="scores@1", policy="gate", label="y", prediction_column="p")
        out.append([cs.promote(dana, f"{name}@1", to="staging", reason="ready for staging")["request_id"],
                    f"{name}@1"])
    return out


@pytest.mark.slow
def test_two_app_server_processes_each_with_one_service_and_many_threads(pg_uri: str, tmp_path: Path,
                                                                         clients: Clients) -> None:
    targets = [f"s{i}" for i in range(4)]
    users = {"dana": (["data_scientist"], pw("dana")), "chloe": (["compliance_officer"], pw("chloe")),
             "lee": (["ml_lead"], pw("lee")), "lena": (["ml_lead"], pw("lena")),
             **{name: (["auditor"], pw(name)) for name in targets}}
    cs, who = new_site(pg_uri, users)
    requests = pending_requests(cs, who, tmp_path / "setup", [f"m{j}" for j in range(6)])
    for p in "ab":
        for j in range(3):
            (tmp_path / f"{p}{j}.csv").write_text(f"k,v\n{p},{j}\n{j},{p}\n", encoding="utf-8")
    before = ledger_rows(pg_uri)

    start = tmp_path / "start"
    servers = {
        # a pool smaller than the threads: threads wait for a connection as well as for the ledger lock
        "a": ({"COUNTERSIGN_PG_POOL_SIZE": "2"}, "lee", requests[:3], targets[:2]),
        "b": ({}, "lena", requests[3:], targets[2:]),
    }
    pids = []
    for p, (env, lead, mine, toggled) in servers.items():
        threads = [{"kind": "toggle", "admin": ADMIN, "target": t, "k": 7} for t in toggled]
        threads += [{"kind": "approve", "lead": lead, "requests": mine},
                    {"kind": "register", "ds": "dana",
                     "datasets": [[f"{p}{j}", str(tmp_path / f"{p}{j}.csv")] for j in range(3)]}]
        pids.append(clients.spawn("server", f"server-{p}", {
            "uri": pg_uri, "logins": {ADMIN: ADMIN_PW, lead: pw(lead), "dana": pw("dana")}, "threads": threads,
            "ready": str(tmp_path / f"{p}.ready"), "start": str(start)}, env=env))
    clients.wait_ready([tmp_path / "a.ready", tmp_path / "b.ready"])
    start.touch()
    exits = clients.wait(120)
    assert not clients.errors(), "\n".join(clients.errors())
    assert exits == dict.fromkeys(pids, 0), (exits, clients.log_tail())
    acks = {p: all_acks(clients, [pid]) for p, pid in zip(servers, pids, strict=True)}

    rows = ledger_rows(pg_uri)
    assert_gapless_chain(rows)
    assert rows[:len(before)] == before
    acknowledged = check_acknowledged(rows, acks["a"] + acks["b"])
    assert acknowledged == set(range(len(before), len(rows)))
    assert len(rows) - len(before) == 2 * (2 * 7 + 3 * 2 + 3)
    # both processes acted meanwhile, not one after the other
    owner = {seq: p for p, mine in acks.items() for ack in mine
             for seq in range(ack["seq"], ack["seq"] + len(ack["rows"]))}
    assert switches([owner[s] for s in range(len(before), len(rows))]) >= 4
    check_verifies(pg_uri, len(rows))
    check_state_agrees_with_ledger(pg_uri, rows)
    admin = cs.login(ADMIN, ADMIN_PW)
    assert {s["model_name"] for s in cs.stages(admin) if s["stage"] == "staging"} == {f"m{j}" for j in range(6)}
    approvers = {payload(r)["request_id"]: r[3] for r in rows if r[4] == "promotion.approved"}
    assert approvers == {rid: ("lee" if n < 3 else "lena") for n, (rid, _model) in enumerate(requests)}


# ---------------------------------------------------------------------------------------------------- 3. killed clients
def advisory_holders(uri: str) -> list[int]:
    """Backend pids holding (granted) the ledger-append lock of ``uri``'s database."""
    import psycopg

    from core.storage.postgres_store import LEDGER_LOCK_KEY

    with psycopg.connect(uri, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND classid::bigint = %s AND objid::bigint = %s "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [LEDGER_LOCK_KEY >> 32, LEDGER_LOCK_KEY & 0xFFFFFFFF]).fetchall()
    return [int(r[0]) for r in rows]


def backend_alive(uri: str, backend_pid: int) -> bool:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend_pid]).fetchone() != (0,)


def committed_head(uri: str) -> int:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute("SELECT max(seq) FROM ledger").fetchone()
    assert row is not None
    return int(row[0])


def gone(pid: int) -> bool:
    """The process has exited (a zombie not reaped yet counts: its sockets are closed)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def wait_until(condition: Any, timeout: float, what: str) -> float:  # noqa: ANN401
    t0 = time.monotonic()
    while not condition():
        assert time.monotonic() - t0 < timeout, f"{what}: not within {timeout:g} s"
        time.sleep(0.01)
    return time.monotonic() - t0


ROUNDS = 4


@pytest.mark.slow
def test_clients_killed_inside_a_write_transaction_leave_no_trace_and_release_the_lock(pg_uri: str, tmp_path: Path,
                                                                                      clients: Clients) -> None:
    targets = ["a0", "a1", "a2"]
    users = {name: (["auditor"], pw(name)) for name in [*targets, "victim", "probe"]}
    cs, who = new_site(pg_uri, users)
    admin = who[ADMIN]
    before = ledger_rows(pg_uri)
    rng = random.Random()
    stop = tmp_path / "stop"
    probe_acks: list[dict[str, Any]] = []
    kills: Counter[str] = Counter()
    waits: list[float] = []
    t0 = time.monotonic()

    def appender(target: str, generation: int) -> int:
        ready = tmp_path / f"{target}-{generation}.ready"
        pid = clients.spawn("appender", f"{target}-{generation}", {
            "uri": pg_uri, "admin": ADMIN, "password": ADMIN_PW, "target": target, "stop": str(stop),
            "ready": str(ready), "pause": 0.02})
        clients.wait_ready([ready])
        return pid

    running = {target: appender(target, 0) for target in targets}
    for n in range(ROUNDS):
        time.sleep(rng.uniform(0.1, 0.6))
        holder = clients.spawn("holder", f"holder{n}", {"uri": pg_uri, "admin": ADMIN, "password": ADMIN_PW,
                                                        "target": "victim"})
        inside = clients.wait_for(holder, "inside")
        # inside: the holder's session holds the ledger-append lock; its entry is not visible to anyone else, and
        # every other writer waits (the committed head stays put)
        assert advisory_holders(pg_uri) == [inside["backend_pid"]]
        head = committed_head(pg_uri)
        assert head == inside["seq"] - 1, "an uncommitted entry is visible outside its transaction"
        time.sleep(rng.uniform(0.0, 0.3))
        assert committed_head(pg_uri) == head, "someone appended while another held the ledger lock"
        os.kill(holder, signal.SIGKILL)
        wait_until(lambda: gone(holder), 10, "the killed holder exited")  # noqa: B023
        # the server ends the dead client's session, rolls back and releases the lock, promptly
        waits.append(wait_until(lambda: not backend_alive(pg_uri, inside["backend_pid"]),  # noqa: B023
                                PROMPT_S, "the server ended the killed client's session"))
        assert inside["backend_pid"] not in advisory_holders(pg_uri)
        t = time.monotonic()
        held = n % 2 == 1
        result = (cs.revoke if held else cs.grant)(admin, "probe", TOGGLED)
        probe_acks.append({"seq": result["seq"], "actor": ADMIN, "rows": [
            ["user.role_revoked" if held else "user.role_granted", "user:probe"]]})
        assert time.monotonic() - t < PROMPT_S, "a write after the killed holder was not prompt"
        # and an appending client, at a random moment (waiting for the lock, inside, or between appends)
        target = rng.choice(targets)
        time.sleep(rng.uniform(0.0, 0.2))
        os.kill(running[target], signal.SIGKILL)
        kills[target] += 1
        running[target] = appender(target, kills[target])
    time.sleep(0.5)
    stop.touch()
    exits = clients.wait(60)
    assert not clients.errors(), "\n".join(clients.errors())
    unexpected = [line for pid in clients.outs for line in clients.lines(pid) if "unexpected" in line or
                  "fail" in line]
    assert not unexpected, unexpected
    acks = all_acks(clients)
    by_target = {t: [a["seq"] for a in acks if a["rows"][0][1] == f"user:{t}"] for t in targets}
    elapsed = time.monotonic() - t0
    killed = {pid for pid, code in exits.items() if code == -signal.SIGKILL}
    assert len(killed) == 2 * ROUNDS, exits  # the holders and the appenders we killed; the rest ended normally
    assert all(code == 0 for pid, code in exits.items() if pid not in killed), exits

    rows = ledger_rows(pg_uri)
    assert_gapless_chain(rows)
    assert rows[:len(before)] == before
    acknowledged = check_acknowledged(rows, acks + probe_acks)
    for target in targets:
        assert len(by_target[target]) >= 3, f"{target}'s appenders made no progress"
        written = {r[0] for r in rows[len(before):] if r[5] == f"user:{target}"}
        assert set(by_target[target]) <= written
        # a client killed after its commit but before it heard back leaves one entry nobody acknowledged, at most
        assert len(written - set(by_target[target])) <= kills[target], (target, sorted(written), by_target[target])
    unclaimed = set(range(len(before), len(rows))) - acknowledged
    assert all(rows[s][5] in {f"user:{t}" for t in targets} for s in unclaimed)
    # nothing of the killed holders' grants: no entry, no role
    assert [r[0] for r in rows if r[5] == "user:victim"] == [r[0] for r in before if r[5] == "user:victim"]
    assert next(u["roles"] for u in cs.users(admin) if u["name"] == "victim") == ["auditor"]
    check_verifies(pg_uri, len(rows))
    check_state_agrees_with_ledger(pg_uri, rows)
    print(f"\n{ROUNDS} holders and {ROUNDS} appenders killed; sessions ended {max(waits):.2f} s after a kill at "
          f"most; {len(rows) - len(before)} entries in {elapsed:.1f} s")


# ---------------------------------------------------------------------------------------------------- 4. server down
def cli(uri: str, *args: str, timeout: str = "2") -> subprocess.Popen[str]:
    """``countersign ARGS --db URI`` as the admin, started (not waited for)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNTERSIGN_")}
    env.update(COUNTERSIGN_USER=ADMIN, COUNTERSIGN_PASSWORD=ADMIN_PW, COUNTERSIGN_SERVICE_SECRET=SECRET,
               COUNTERSIGN_LOCK_TIMEOUT=timeout)
    return subprocess.Popen([sys.executable, "-m", "cli", *args, "--db", uri], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def check_unreachable(result: tuple[int, str, str], server: PostgresServer, database: str) -> str:
    """Exit code 4, a message naming the server (never its password), no traceback; the error line."""
    code, out, err = result
    assert code == 4, (code, out, err)
    assert "Traceback" not in out + err, err
    assert server.password not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    message = lines[-1]
    assert message.startswith(f"error: cannot reach the PostgreSQL database postgresql://{server.user}@"
                              f"{server.host}:{server.port}/{database}: "), err
    assert message.endswith("; nothing was written"), err
    return message


def wait_for_progress(clients: Clients, pids: list[int], marks: dict[int, int], timeout: float, what: str) -> None:
    """Each client acknowledged at least one more append than ``marks`` (riding out what just happened)."""
    wait_until(lambda: all(len(all_acks(clients, [pid])) > marks[pid] for pid in pids), timeout, what)


@pytest.mark.slow
def test_a_restarted_or_crashed_server_loses_no_acknowledged_entry_and_the_cli_fails_cleanly_meanwhile(
        tmp_path: Path, clients: Clients) -> None:
    targets = ["t0", "t1", "t2"]
    users = {name: (["auditor"], pw(name)) for name in [*targets, "c0"]}
    database = "restarts"
    t0 = time.monotonic()
    with PostgresServer() as server:  # our own server: we restart it and crash it
        uri = server.create_database(database)
        cs, who = new_site(uri, users)
        before = ledger_rows(uri)
        start, stop = tmp_path / "start", tmp_path / "stop"
        cli_acks: list[dict[str, Any]] = []
        pids = [clients.spawn("appender", target, {
            "uri": uri, "admin": ADMIN, "password": ADMIN_PW, "target": target, "stop": str(stop),
            "ready": str(tmp_path / f"{target}.ready"), "start": str(start), "pause": 0.02},
            env={"COUNTERSIGN_LOCK_TIMEOUT": "2"}) for target in targets]
        clients.wait_ready([tmp_path / f"{t}.ready" for t in targets])
        start.touch()
        wait_for_progress(clients, pids, dict.fromkeys(pids, 2), 30, "appending before the restart")

        # 1. a clean restart (fast shutdown ends every session, rolling back what was in flight)
        marks = {pid: len(all_acks(clients, [pid])) for pid in pids}
        server.restart()
        wait_for_progress(clients, pids, marks, 60, "every client appends again after the restart")

        # 2. a crash: while the server is down, the CLI fails cleanly; then crash recovery
        marks = {pid: len(all_acks(clients, [pid])) for pid in pids}
        server.kill()
        down = finished(cli(uri, "user", "grant", "c0", TOGGLED, "--json"))
        message = check_unreachable(down, server, database)
        assert json.loads(down[1]) == {"error": message.removeprefix("error: "), "exit_code": 4}
        # the server stays down until a client has met it down (on a loaded machine the clients may not have tried
        # during the CLI's own run)
        wait_until(lambda: any("fail" in line for pid in pids for line in clients.lines(pid)), 60,
                   "a client meets the server down")
        server.start()
        again = cli(uri, "user", "grant", "c0", TOGGLED, "--json")  # the same command, once the server is back
        wait_for_progress(clients, pids, marks, 60, "every client appends again after crash recovery")
        code, out, err = finished(again)
        assert code == 0, err
        cli_acks.append({"seq": json.loads(out)["seq"], "actor": ADMIN,
                         "rows": [["user.role_granted", "user:c0"]]})

        stop.touch()
        exits = clients.wait(60)
        assert not clients.errors(), "\n".join(clients.errors())
        assert exits == dict.fromkeys(pids, 0), (exits, clients.log_tail())
        lines = [line for pid in pids for line in clients.lines(pid)]
        acks = all_acks(clients)
        elapsed = time.monotonic() - t0

        unexpected = [line["unexpected"] for line in lines if "unexpected" in line]
        assert not unexpected, "\n".join(unexpected)
        failures = [line for line in lines if "fail" in line]
        assert failures, "no client noticed the server going away"
        for failure in failures:
            assert failure["exit_code"] == 4
            assert failure["message"].startswith(f"cannot reach the PostgreSQL database postgresql://{server.user}@"
                                                 f"{server.host}:{server.port}/{database}: "), failure
            assert server.password not in failure["message"]

        rows = ledger_rows(uri)
        assert_gapless_chain(rows)
        assert rows[:len(before)] == before
        acknowledged = check_acknowledged(rows, acks + cli_acks)  # every acknowledged entry survived the crash
        for pid, target in zip(pids, targets, strict=True):
            written = {r[0] for r in rows[len(before):] if r[5] == f"user:{target}"}
            mine = {a["seq"] for a in all_acks(clients, [pid])}
            assert mine <= written
            # an entry nobody acknowledged can only come from a commit whose outcome the client was told is unknown
            outcome_unknown = sum(line.get("fail") == "unknown" for line in clients.lines(pid))
            assert len(written - mine) <= outcome_unknown, (target, sorted(written - mine), failures)
        assert set(range(len(before), len(rows))) - acknowledged <= {
            r[0] for r in rows[len(before):] if r[5] in {f"user:{t}" for t in targets}}
        check_verifies(uri, len(rows))
        check_state_agrees_with_ledger(uri, rows)
    print(f"\n{len(failures)} client operations failed during the outages; {len(rows) - len(before)} entries; "
          f"{elapsed:.1f} s")


def test_the_cli_says_one_clear_line_when_the_server_is_unreachable(tmp_path: Path) -> None:
    """Nothing listens on the port: the CLI's whole standard error is its one error line (no library log lines,
    no traceback, no password)."""
    port = free_port()
    uri = f"postgresql://countersign:hunter2-secret@127.0.0.1:{port}/nowhere"
    code, out, err = finished(cli(uri, "user", "list", timeout="2"))
    assert code == 4, (code, out, err)
    assert "hunter2-secret" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: cannot reach the PostgreSQL database postgresql://countersign@127.0.0.1:{port}"
                               "/nowhere: "), err
    assert lines[0].endswith("; nothing was written"), err
