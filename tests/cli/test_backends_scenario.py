"""One end-to-end scenario through the real ``countersign`` CLI, on each storage backend: a DuckDB file and a
PostgreSQL database (``pg_uri``: a real server, a fresh empty database).

Every step is a real subprocess, as a user or CI would run it: ``init``; users added and enrolled in every role; a
role granted and revoked; the real German credit data registered (with a datasheet, then a new datasheet revision)
with a derived monitoring batch; a real scikit-learn model trained here, saved with skops and registered with its
card (then a new card revision); OpenLineage events imported; a policy stored and assigned; the model evaluated;
promotions to staging and production behind the policy gate, the requester's own approval refused (separation of
duties, exit 3) and the required distinct approvers approving; a waiver granted and revoked; a monitoring run on the
monitoring batch that fails and flags the production version; a suspension; the history (now and at a moment in
the past), the lineage graph, the stored evaluation and the waivers read back; the audit log filtered; an evidence
bundle exported and verified offline; a checkpoint saved, then ``verify --checkpoint`` and ``verify`` (the database
named by ``--db``). At the end the ledger holds exactly the entries ``init`` wrote plus those of each state change
here, in order. Commands that do not depend on each other run at the same time (``Cli.together``), as several people
would; their entries may come in any order among themselves. No output, and no file of the evidence bundle, may show
the PostgreSQL password.

The PostgreSQL site first keeps its service secret and artifact store in its default place,
``$XDG_DATA_HOME/countersign/sites/<host>_<port>_<database>/``; half-way through, the operator moves both elsewhere
and names them with ``COUNTERSIGN_SERVICE_SECRET_FILE`` and ``COUNTERSIGN_ARTIFACT_STORE`` (``XDG_DATA_HOME`` now an
empty directory), so the rest of the scenario (evaluation and monitoring load the stored artifact; checkpoints are
signed with the service key) proves the explicit configuration is the one in use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from core.demo import data as demo_data
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
OPENLINEAGE = ROOT / "tests" / "fixtures" / "openlineage" / "run_events.jsonl"
DATASHEET = ROOT / "data" / "datasheets" / "german-credit.yaml"
CARD = ROOT / "data" / "cards" / "german-credit.yaml"
LABEL = demo_data.GERMAN_LABEL
FEATURES = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL

ADMIN, ADMIN_PW = "root", "root-password"
#: one person per role besides the admin
PEOPLE = {
    "dana": ("data_scientist", "dana-password"),
    "lee": ("ml_lead", "lee-password"),
    "chloe": ("compliance_officer", "chloe-password"),
    "aude": ("auditor", "aude-password"),
}
PASSWORDS = {ADMIN: ADMIN_PW, **{name: password for name, (_role, password) in PEOPLE.items()}}

POLICY = """\
policy: credit-house
version: 1
description: Scenario gate for the German credit scorer.
max_evaluation_age_days: 30
max_waiver_days: 30
checks:
  - id: auc
    metric: roc_auc
    gte: 0.70
  - id: dp-sex
    fairness: demographic_parity_difference
    sensitive_feature: sex
    lte: 0.30
  - id: balanced-accuracy
    metric: balanced_accuracy
    gte: 0.60
    severity: warn
  - id: card
    documentation: model_card
    required: [intended_use, limitations]
approvals:
  staging: {roles: [ml_lead]}
  production: {roles: [ml_lead, compliance_officer]}
"""
MODEL, DATA, BATCH = "german-scorer", "german-credit@1", "german-credit-batch@1"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------ material
@dataclass(frozen=True)
class Material:
    data: Path
    batch: Path
    model: Path
    policy: Path
    datasheet_v2: Path
    card_v2: Path


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    """The real German credit data, a monitoring batch (its labels inverted, so the model performs badly on it), a
    logistic-regression pipeline trained on the data and saved with skops, the policy, and second revisions of the
    datasheet and the card."""
    folder = tmp_path_factory.mktemp("scenario")
    data = folder / "german_credit.csv"
    demo_data.prepare_german(demo_data.DATA_DIR / "german-credit" / "german.data",
                             demo_data.DATA_DIR / "german-credit" / "values_maps.json", data)
    frame = pd.read_csv(data)
    batch = folder / "german_credit_batch.csv"
    frame.assign(**{LABEL: 1 - frame[LABEL]}).to_csv(batch, index=False)
    model = demo_data._pipeline(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL,
                                LogisticRegression(max_iter=2000)).fit(frame[FEATURES], frame[LABEL])
    artifact = folder / "german-scorer.skops"
    sio.dump(model, artifact)
    policy = folder / "credit-house.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    datasheet_v2 = folder / "datasheet-v2.yaml"
    datasheet_v2.write_text(DATASHEET.read_text(encoding="utf-8").replace(
        "maintenance: Static historical data set, not maintained.",
        "maintenance: Static historical data set, not maintained; reviewed by the scenario's data scientist."),
        encoding="utf-8")
    card_v2 = folder / "card-v2.yaml"
    card_v2.write_text(CARD.read_text(encoding="utf-8").replace(
        "limitations: Small, old sample with undocumented collection.",
        "limitations: Small, old sample with undocumented collection; not recalibrated since 1994."),
        encoding="utf-8")
    assert datasheet_v2.read_text() != DATASHEET.read_text() and card_v2.read_text() != CARD.read_text()
    return Material(data, batch, artifact, policy, datasheet_v2, card_v2)


# ------------------------------------------------------------------------------------------------ the CLI
@dataclass(frozen=True)
class Call:
    """One ``countersign`` command: who runs it, its arguments, the exit code it must give."""

    who: str | None
    args: tuple[str, ...]
    code: int = 0
    stdin: str | None = None
    env: dict[str, str] | None = None
    as_json: bool = True  # add --json and parse the output


def call(who: str | None, *args: str, code: int = 0, stdin: str | None = None, env: dict[str, str] | None = None,
         as_json: bool = True) -> Call:
    return Call(who, args, code, stdin, env, as_json)


@dataclass
class Cli:
    """Runs ``countersign`` in subprocesses as named people, checks each exit code, and keeps every output (no
    output may show the database password) and the number of commands run."""

    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    calls: int = 0

    def run(self, c: Call) -> subprocess.CompletedProcess[str]:
        args = (*c.args, "--json") if c.as_json else c.args
        result = run_cli(c.env or self.env, *args, stdin=c.stdin, user=c.who, password=PASSWORDS.get(c.who or ""))
        self.calls += 1
        self.outputs += [result.stdout, result.stderr]
        assert result.returncode == c.code, (
            f"countersign {' '.join(args)} (as {c.who}) exited {result.returncode}, expected {c.code}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def __call__(self, who: str | None, *args: str, **kwargs: Any) -> Any:  # noqa: ANN401
        """Run one command; its parsed JSON output (``as_json=False``: the completed process)."""
        c = call(who, *args, **kwargs)
        result = self.run(c)
        return json.loads(result.stdout) if c.as_json else result

    def together(self, *calls: Call) -> list[Any]:
        """Run independent commands at the same time (each waits for the database as it must); their outputs."""
        with ThreadPoolExecutor(len(calls)) as pool:
            results = list(pool.map(self.run, calls))
        return [json.loads(r.stdout) if c.as_json else r for c, r in zip(calls, results, strict=True)]


@dataclass(frozen=True)
class Backend:
    name: str
    location: str  # a DuckDB file path or a postgresql:// URI
    password: str | None  # the PostgreSQL password, which no output may show

    @property
    def shown(self) -> str:
        """How the CLI names the database: the file, or the URI without its password."""
        if self.name == "duckdb":
            return self.location
        parts = urllib.parse.urlsplit(self.location)
        return f"postgresql://{parts.username}@{parts.hostname}:{parts.port}{parts.path}"

    def site_dir(self, xdg: Path) -> Path:
        """Where a PostgreSQL site keeps its service secret and artifacts by default."""
        parts = urllib.parse.urlsplit(self.location)
        host = "local" if parts.hostname in ("127.0.0.1", "localhost") else parts.hostname  # this machine: "local"
        return xdg / "countersign" / "sites" / f"{host}_{parts.port}_{parts.path.lstrip('/')}"


@pytest.fixture(params=["duckdb", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "duckdb":
        return Backend("duckdb", str(tmp_path / "ledger.duckdb"), None)
    uri: str = request.getfixturevalue("pg_uri")
    return Backend("postgresql", uri, urllib.parse.urlsplit(uri).password)


# ------------------------------------------------------------------------------------------------ the scenario
@pytest.mark.slow
def test_the_whole_product_on_each_backend(backend: Backend, material: Material, tmp_path: Path) -> None:
    started, began = time.monotonic(), datetime.now(UTC)
    xdg = tmp_path / "xdg"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNTERSIGN_")}
    env.update({"COUNTERSIGN_DB": backend.location, "XDG_DATA_HOME": str(xdg)})
    cli = Cli(env)
    #: what each step writes to the ledger, in order: one list of actions per step (commands run together form one
    #: step, whose entries may come in any order)
    steps: list[list[str]] = []

    # -- init ---------------------------------------------------------------------------------------------------
    init = cli(ADMIN, "init", "--admin", ADMIN, "--origin", "scenario.test/log", "--checkpoint-interval", "8")
    assert init["admin"] == ADMIN and init["origin"] == "scenario.test/log"
    assert init["database"] == backend.shown
    verifier_key = init["service_verifier_key"]
    assert verifier_key.startswith("scenario.test/log+")
    if backend.name == "duckdb":
        secret_file = Path(backend.location + ".service-secret")
        artifact_store = Path(backend.location + ".artifacts")
    else:
        site = backend.site_dir(xdg)
        secret_file, artifact_store = site / "service-secret", site / "artifacts"
    assert secret_file.is_file() and stat.S_IMODE(secret_file.stat().st_mode) == 0o600

    # -- people: one per role, each enrolling with a password of their own; a role granted (revoked later) --------
    added = [cli(ADMIN, "user", "add", name, "--role", role) for name, (role, _pw) in PEOPLE.items()]
    assert [(a["name"], a["roles"]) for a in added] == [(name, [role]) for name, (role, _pw) in PEOPLE.items()]
    init_size = added[0]["seq"]  # what init wrote: the entries before the first one of ours (seq counts from 0)
    steps += [["user.added"]] * len(added)
    enrolled = cli.together(*(
        call(None, "user", "enroll", a["name"], "--password-stdin", stdin=f"{PASSWORDS[a['name']]}\n",
             env={**env, "COUNTERSIGN_ENROLMENT_CODE": a["enrolment_code"]}) for a in added))
    assert all(len(e["key_id"]) == 32 for e in enrolled)
    steps += [["user.enrolled"] * len(enrolled)]

    granted = cli(ADMIN, "user", "grant", "dana", "ml_lead")  # dana also leads the ML team for a while
    assert granted["roles"] == ["data_scientist", "ml_lead"]
    steps += [["user.role_granted"]]

    # -- data, model, documentation, lineage, policy ----------------------------------------------------------------
    dataset = cli("dana", "dataset", "register", str(material.data), "--name", "german-credit", "--version", "1",
                  "--datasheet", str(DATASHEET))
    assert dataset["ref"] == DATA and dataset["digest"] == sha256(material.data) and dataset["rows"] == 1000
    assert dataset["created"] is True and dataset["registered_by"] == "dana"
    steps += [["dataset.registered"]]

    batch, datasheet, model, lineage, policy = cli.together(
        call("dana", "dataset", "register", str(material.batch), "--name", "german-credit-batch", "--version", "1",
             "--derived-from", DATA),
        call("dana", "dataset", "datasheet", DATA, str(material.datasheet_v2)),
        call("dana", "model", "register", str(material.model), "--name", MODEL, "--version", "1", "--trained-on",
             DATA, "--card", str(CARD), "--risk-tier", "high"),
        call("dana", "lineage", "import", str(OPENLINEAGE)),
        call("chloe", "policy", "add", str(material.policy)))
    assert batch["ref"] == BATCH and batch["digest"] == sha256(material.batch)
    digest = sha256(material.model)
    assert model["artifact_digest"] == digest
    assert (artifact_store / f"{digest}.skops").read_bytes() == material.model.read_bytes()
    assert lineage["file_sha256"] == sha256(OPENLINEAGE)
    assert (lineage["events"], lineage["nodes_created"], lineage["edges_created"]) == (4, 7, 6)
    steps += [["dataset.registered", "dataset.datasheet_edited", "model.registered", "lineage.imported",
               "policy.added"]]

    card, assigned = cli.together(call("dana", "model", "card", f"{MODEL}@1", str(material.card_v2)),
                                  call("chloe", "policy", "assign", MODEL, "credit-house"))
    assert (card["revision"], card["sections_changed"]) == (2, ["limitations"])
    assert (datasheet["revision"], datasheet["sections_changed"]) == (2, ["maintenance"])
    assert (policy["name"], policy["version"], policy["created"]) == ("credit-house", 1, True)
    assert (assigned["model"], assigned["policy"], assigned["changed"]) == (MODEL, "credit-house", True)
    steps += [["model.model_card_edited", "policy.assigned"]]

    # -- the operator moves the PostgreSQL site's secret and artifacts out of $XDG_DATA_HOME and names them ---------
    if backend.name == "postgresql":
        moved = tmp_path / "operator"
        moved.mkdir()
        shutil.move(secret_file, moved / "service-secret")
        shutil.move(artifact_store, moved / "artifacts")
        shutil.rmtree(xdg)
        secret_file, artifact_store = moved / "service-secret", moved / "artifacts"
        env.update({"COUNTERSIGN_SERVICE_SECRET_FILE": str(secret_file),
                    "COUNTERSIGN_ARTIFACT_STORE": str(artifact_store),
                    "XDG_DATA_HOME": str(tmp_path / "xdg-empty")})

    # -- evaluation and promotions, separation of duties --------------------------------------------------------------
    evaluation = cli("dana", "evaluate", f"{MODEL}@1", "--data", DATA, "--policy", "credit-house", "--label", LABEL)
    assert evaluation["verdict"] == "pass" and evaluation["failed_block_checks"] == []
    assert evaluation["policy"]["name"] == "credit-house" and evaluation["policy"]["registered"] is True
    steps += [["evaluation.recorded"]]

    staging = cli("dana", "promote", f"{MODEL}@1", "--to", "staging", "--reason", "Candidate for the pilot.")
    assert staging["status"] == "pending" and staging["required_roles"] == ["ml_lead"]
    own = cli("dana", "approve", staging["request_id"], "--comment", "My own work is fine.", code=3, as_json=False)
    assert "separation of duties" in own.stderr  # dana holds ml_lead, but requested it
    approved = cli("lee", "approve", staging["request_id"], "--comment", "Evidence reviewed.")
    assert approved["status"] == "approved"
    in_staging = datetime.now(UTC)  # a moment when the version was in staging only
    steps += [["promotion.requested"], ["access.denied"], ["promotion.approved", "model.stage_changed"]]

    revoked = cli(ADMIN, "user", "revoke", "dana", "ml_lead")  # back to data science only
    assert revoked["roles"] == ["data_scientist"]
    steps += [["user.role_revoked"]]

    production = cli("dana", "promote", f"{MODEL}@1", "--to", "production", "--reason", "Pilot went well.")
    assert production["status"] == "pending"
    assert sorted(production["required_roles"]) == ["compliance_officer", "ml_lead"]
    first = cli("lee", "approve", production["request_id"], "--comment", "Performance holds.")
    assert first["status"] == "pending"
    second = cli("chloe", "approve", production["request_id"], "--comment", "Fairness and card adequate.")
    assert second["status"] == "approved"
    steps += [["promotion.requested"], ["promotion.approved"], ["promotion.approved", "model.stage_changed"]]

    # -- a waiver, granted and revoked ----------------------------------------------------------------------------
    until = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    waiver = cli("chloe", "waive", f"{MODEL}@1", "--check", "dp-sex", "--until", until,
                 "--justification", "Subgroup re-estimation under way.")
    assert waiver["check"] == "dp-sex" and waiver["until"] == until
    withdrawn = cli("chloe", "waiver", "revoke", waiver["id"], "--reason", "Re-estimation done.")
    assert withdrawn["revoked"] is True
    steps += [["waiver.granted"], ["waiver.revoked"]]

    # -- monitoring on the batch fails and flags the production version, which is then suspended -------------------
    monitoring = cli("dana", "monitor", f"{MODEL}@1", "--data", BATCH, "--label", LABEL, code=1)
    assert monitoring["purpose"] == "monitoring" and monitoring["passed"] is False
    assert "auc" in monitoring["failed_block_checks"] and monitoring["revalidation_required"] is True
    steps += [["monitoring.recorded", "model.revalidation_required"]]

    suspended = cli("chloe", "suspend", f"{MODEL}@1", "--reason", "Monitoring failed on the batch.")
    assert suspended["stage"] == "suspended"
    steps += [["model.stage_changed", "model.suspended"]]

    # -- history, the audit log filtered, the evidence bundle ----------------------------------------------------------
    bundle = tmp_path / "report"
    history, then, graph, stored, approvals, waivers, report = cli.together(
        call("aude", "history", MODEL),
        call("aude", "history", MODEL, "--at", in_staging.isoformat()),
        call("aude", "lineage", "show", f"{MODEL}@1", "--upstream", "--format", "json", as_json=False),
        call("aude", "evaluation", "show", evaluation["id"]),
        call("aude", "log", "--action", "promotion", "--actor", "lee", "--since",
             (began - timedelta(seconds=5)).isoformat()),
        call("chloe", "waiver", "list", MODEL),
        call("aude", "report", MODEL, "--out", str(bundle)))
    assert history["production"] is None and history["versions"]["1"]["stage"] == "suspended"
    assert [(t["from_stage"], t["to_stage"]) for t in history["timeline"]] == [
        ("registered", "staging"), ("staging", "production"), ("production", "suspended")]
    assert [t.get("requested_by") for t in history["timeline"]] == ["dana", "dana", None]
    assert [[(a["name"], a["role"]) for a in t.get("approvers", [])] for t in history["timeline"]] == [
        [("lee", "ml_lead")], [("lee", "ml_lead"), ("chloe", "compliance_officer")], []]
    assert then["production"] is None and then["versions"]["1"]["stage"] == "staging"
    graph = json.loads(graph.stdout)
    assert graph["root"] == f"model:{MODEL}@1" and graph["direction"] == "upstream"
    nodes = {n["id"]: n["digest"] for n in graph["nodes"]}
    assert nodes[f"dataset:{DATA}"] == dataset["digest"] and nodes[f"model:{MODEL}@1"] == digest
    assert (f"dataset:{DATA}", f"model:{MODEL}@1", "trained_on") in {
        (e["from"], e["to"], e["kind"]) for e in graph["edges"]}
    assert stored["result_intact"] is True and stored["evaluated_by"] == "dana"
    assert stored["checks"] == evaluation["checks"]  # the stored result reads back exactly as it was computed
    assert [(e["action"], e["actor"]) for e in approvals] == [("promotion.approved", "lee")] * 2
    assert [(w["id"], w["check_id"], w["active"], w["revoked_by"]) for w in waivers] == [
        (waiver["id"], "dp-sex", False, "chloe")]
    assert (bundle / "report.html").is_file() and (bundle / "report.pdf").is_file()
    assert report["model"] == MODEL and report["versions"] == ["1"]
    assert report["checkpoint_size"] == report["report_seq"] + 1
    steps += [["report.generated"]]

    # -- the bundle verified offline; a checkpoint, verify against it, verify ----------------------------------------
    checked, note = cli.together(call(None, "verify-bundle", str(bundle), "--trusted-key", verifier_key),
                                 call("aude", "checkpoint", as_json=False))
    assert checked["ok"] is True and checked["service_key_pinned"] is True
    assert (checked["tree_size"], checked["entries"]) == (report["checkpoint_size"], report["entries"])
    lines = note.stdout.splitlines()
    assert lines[0] == "scenario.test/log" and lines[4].startswith("\u2014 scenario.test/log ")
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(note.stdout, encoding="utf-8")
    elsewhere = {k: v for k, v in env.items() if k != "COUNTERSIGN_DB"}  # the database named by --db instead
    consistent, verified, entries = cli.together(
        call(None, "verify", "--db", backend.location, "--checkpoint", str(saved), as_json=False, env=elsewhere),
        call(None, "verify", "--db", backend.location, env=elsewhere),
        call("aude", "log", "--limit", "1000"))
    assert "append-only" in consistent.stdout
    assert verified["ok"] is True and verified["problems"] == [] and verified["first_bad_seq"] is None

    # -- the ledger holds what init wrote and one entry per state change above, no more ------------------------------
    actions = [e["action"] for e in reversed(entries)]
    assert [e["seq"] for e in reversed(entries)] == list(range(len(entries)))
    assert actions[:init_size] == ["ledger.initialized", "user.added"]  # init: the ledger, then its admin
    position = init_size
    for step in steps:
        assert sorted(actions[position:position + len(step)]) == sorted(step), (position, actions[position:])
        position += len(step)
    expected_size = init_size + sum(len(step) for step in steps)
    assert verified["size"] == int(lines[1]) == len(entries) == expected_size
    assert verified["checkpoints_verified"] >= expected_size // 8  # every 8 entries, signed with the service key

    if backend.name == "postgresql":  # nothing fell back to the default site directory once the operator moved it
        assert not [p for p in (tmp_path / "xdg-empty").rglob("*") if p.is_file()]
    if backend.password:
        assert not any(backend.password in text for text in cli.outputs), "an output shows the database password"
        leaks = [p for p in bundle.rglob("*") if p.is_file() and backend.password.encode() in p.read_bytes()]
        assert not leaks, f"the evidence bundle holds the database password: {leaks}"
    print(f"{backend.name}: {cli.calls} commands in {time.monotonic() - started:.1f} s")
