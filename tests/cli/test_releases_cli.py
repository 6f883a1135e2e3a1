"""Releases from the command line, in real subprocesses: a refused promotion (exit 1, every reason), a requester
who may not approve (exit 3), the pending requests, the production history and a suspension.

The database is prepared once through the API (real German credit models) and copied per test.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.api.countersign import Countersign
from core.identity.users import Session
from tests.conftest import USERS, run_cli
from tests.core.releases.test_releases import (
    EXTRA_USERS,
    GERMAN_CARD,
    HOUSE_V1,
    LABEL,
    STRICT,
    approve_all,
    copy_db,
    ledger,
    new_database,
    prepare_german,
    train_german,
)

PASSWORDS = {name: password for name, (_roles, password) in {**USERS, **EXTRA_USERS}.items()}


run = run_cli


def as_(env: dict[str, str], user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, *args, user=user, password=PASSWORDS[user])


@dataclass
class Template:
    path: Path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """scorer@1 evaluated and passing (house policy), risky@1 failing (strict policy), live@1 in production."""
    folder = tmp_path_factory.mktemp("releases-cli")
    data = prepare_german(folder / "data")
    artifacts = train_german(data, folder / "models", keys=("logreg",))
    (folder / "house.yaml").write_text(HOUSE_V1.format(auc=0.70), encoding="utf-8")
    (folder / "strict.yaml").write_text(STRICT, encoding="utf-8")
    path = folder / "template.duckdb"
    cs, s = new_database(path, {**USERS, **EXTRA_USERS})
    with cs.store.held():
        _populate(cs, s, folder, data, artifacts)
    return Template(path)


def _populate(cs: Countersign, s: dict[str, Session], folder: Path, data: Path, artifacts: dict[str, Path]
              ) -> None:
    dana, lee, chloe = s["dana"], s["lee"], s["chloe"]
    cs.register_dataset(dana, data, name="german-credit", version="1")
    cs.add_policy(chloe, folder / "house.yaml")
    cs.add_policy(chloe, folder / "strict.yaml")
    for ref, policy in (("scorer@1", "house"), ("risky@1", "strict"), ("live@1", "house")):
        name, version = ref.split("@")
        cs.register_model(dana, artifacts["logreg"], name=name, version=version, trained_on=["german-credit@1"],
                          card=GERMAN_CARD, policy=policy)
        cs.evaluate(dana, ref, data="german-credit@1", policy=policy, label=LABEL)
    approve_all(cs, cs.promote(dana, "live@1", to="staging", reason="Candidate."), lee)
    approve_all(cs, cs.promote(dana, "live@1", to="production", reason="Ship."), lee, chloe)


@pytest.fixture
def env(template: Template, cli_env: dict[str, str]) -> dict[str, str]:
    copy_db(template.path, Path(cli_env["COUNTERSIGN_DB"]))
    return cli_env


def _ledger_tail(db: str, after: int) -> list[dict]:
    return ledger(Countersign(db), after)


def _head(db: str) -> int:
    return _ledger_tail(db, -1)[-1]["seq"]


def test_refused_promotion_exits_1_with_every_reason(env: dict[str, str]) -> None:
    db = env["COUNTERSIGN_DB"]
    before = _head(db)
    result = as_(env, "dana", "promote", "risky@1", "--to", "production", "--reason", "Straight through.", "--json")
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["refused"] is True and len(body["reasons"]) == 2
    assert "stage 'registered'" in body["reasons"][0]
    assert "block check 'auc-excellent' failed" in body["reasons"][1]
    [entry] = _ledger_tail(db, before)
    assert (entry["action"], entry["actor"], entry["payload"]["reasons"]) == (
        "promotion.refused", "dana", body["reasons"])


def test_refused_promotion_tells_a_person_why(env: dict[str, str]) -> None:
    human = as_(env, "dana", "promote", "risky@1", "--to", "staging", "--reason", "Staging then.")
    assert human.returncode == 1 and "Traceback" not in human.stderr
    assert "auc-excellent" in human.stderr


def test_request_approve_by_requester_requests_and_history(env: dict[str, str]) -> None:
    db = env["COUNTERSIGN_DB"]
    opened = as_(env, "max", "promote", "scorer@1", "--to", "staging", "--reason", "Candidate.", "--json")
    assert opened.returncode == 0, opened.stderr
    request = json.loads(opened.stdout)
    assert request["status"] == "pending" and request["required_roles"] == ["ml_lead"]

    before = _head(db)
    own = as_(env, "max", "approve", request["request_id"], "--comment", "Mine is fine.")
    assert own.returncode == 3 and "separation of duties" in own.stderr and "Traceback" not in own.stderr
    assert [e["action"] for e in _ledger_tail(db, before)] == ["access.denied"]

    pending = as_(env, "lee", "requests", "--pending", "--json")
    assert pending.returncode == 0, pending.stderr
    [row] = json.loads(pending.stdout)
    assert (row["id"], row["status"], row["requested_by"], row["open_roles"], row["awaiting_me"]) == (
        request["request_id"], "pending", "max", ["ml_lead"], True)

    approved = as_(env, "lee", "approve", request["request_id"], "--comment", "Reviewed.", "--json")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] == "approved"

    history = as_(env, "aude", "history", "scorer", "--json")
    assert history.returncode == 0, history.stderr
    body = json.loads(history.stdout)
    assert body["production"] is None and body["versions"]["1"]["stage"] == "staging"
    assert body["versions"]["1"]["requested_by"] == "max"
    assert [(a["name"], a["role"]) for a in body["versions"]["1"]["approvers"]] == [("lee", "ml_lead")]


def test_suspend_and_history(env: dict[str, str]) -> None:
    refused = as_(env, "dana", "suspend", "live@1", "--reason", "Incident.")
    assert refused.returncode == 3 and "compliance_officer or ml_lead" in refused.stderr
    suspended = as_(env, "chloe", "suspend", "live@1", "--reason", "Complaint review.", "--json")
    assert suspended.returncode == 0, suspended.stderr
    assert json.loads(suspended.stdout)["stage"] == "suspended"

    history = as_(env, "aude", "history", "live")
    assert history.returncode == 0, history.stderr
    assert "live: production = none" in history.stdout
    assert "1: production → suspended" in history.stdout and "(Complaint review.)" in history.stdout
    assert "1: suspended since" in history.stdout
