"""The review round trip from the command line: request changes, the inbox, an answer, a comment, the context."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.core.releases.test_releases import world  # noqa: F401 - the module's trained models and database


def _as(user: str) -> dict[str, str]:
    from tests.conftest import USERS
    from tests.core.releases.test_releases import EXTRA_USERS

    return {"user": user, "password": {**USERS, **EXTRA_USERS}[user][1]}


def test_request_changes_inbox_answer_and_review(world, tmp_path: Path) -> None:  # noqa: F811
    from tests.core.releases.test_releases import copy_db

    copy_db(world.template, tmp_path / "ledger.duckdb")
    env = {"COUNTERSIGN_DB": str(tmp_path / "ledger.duckdb"), "PATH": "/usr/bin:/bin"}
    opened = run_cli(env, "promote", "scorer@1", "--to", "staging", "--reason", "Candidate.", "--json",
                     **_as("dana"))
    assert opened.returncode == 0, opened.stderr
    request = json.loads(opened.stdout)["request_id"]
    sent = run_cli(env, "request-changes", request, "--comment", "Add the subgroup analysis.", **_as("lee"))
    assert sent.returncode == 0 and "waits for dana's answer" in sent.stdout, sent.stderr
    inbox = json.loads(run_cli(env, "inbox", "--json", **_as("dana")).stdout)
    assert [(i["request_id"], i["kind"], i["comment"]) for i in inbox] == [
        (request, "answer", "Add the subgroup analysis.")]
    again = run_cli(env, "request-changes", request, "--comment", "Twice?", **_as("lee"))
    assert again.returncode == 2 and "already awaits changes" in again.stderr
    answered = run_cli(env, "answer", request, "--comment", "Added in the card's caveats.", **_as("dana"))
    assert answered.returncode == 0 and "back in review" in answered.stdout, answered.stderr
    noted = run_cli(env, "comment", request, "--comment", "Thanks, reviewing.", **_as("lee"))
    assert noted.returncode == 0, noted.stderr
    review = json.loads(run_cli(env, "review", request, "--json", **_as("lee")).stdout)
    assert [n["kind"] for n in review["thread"]][-3:] == ["changes_requested", "answer", "comment"]
    approved = run_cli(env, "approve", request, "--comment", "Good.", **_as("lee"))
    assert approved.returncode == 0 and "promoted to staging" in approved.stdout, approved.stderr
