"""The command line as a reviewer meets it (issue 14): bad dates refused (exit 2, naming the value), audit-log
filters that find what a person types, each version's stage in ``model show``/``model list``, refusals and missing
passwords in words, the stage an approval promoted to, and deactivated accounts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_main import (
    _ledger_size,
    add_and_enroll,
    initialised as initialised,  # noqa: F401 - fixture
)
from tests.cli.test_releases_cli import (
    PASSWORDS,
    as_,
    env as env,  # noqa: F401 - fixture
    template as template,  # noqa: F401 - fixture
)
from tests.conftest import run_cli

run = run_cli
ROOT = {"user": "root", "password": "root-password"}


def _log(env: dict[str, str], *args: str, user: str = "root") -> subprocess.CompletedProcess[str]:
    password = "root-password" if user == "root" else PASSWORDS.get(user, f"{user}-password")
    return run(env, "log", *args, user=user, password=password)


# ------------------------------------------------------------------------------------------- log --since/--until
@pytest.mark.parametrize("option", ["--since", "--until"])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-45", "31/12/2026", "2026-02-30"])
def test_log_refuses_a_bad_date_with_exit_2_naming_it(initialised: dict[str, str], option: str,  # noqa: F811
                                                      value: str) -> None:
    before = _ledger_size(initialised["COUNTERSIGN_DB"])
    result = _log(initialised, option, value)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"{option} {value!r} is not a date or time" in result.stderr
    assert "ISO 8601" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert _ledger_size(initialised["COUNTERSIGN_DB"]) == before  # refused before signing in: nothing written


def test_log_refuses_since_after_until(initialised: dict[str, str]) -> None:  # noqa: F811
    result = _log(initialised, "--since", "2026-12-01", "--until", "2026-11-01")
    assert result.returncode == 2 and "later than until" in result.stderr


def test_log_dates_include_the_whole_day_and_accept_offsets(initialised: dict[str, str]) -> None:  # noqa: F811
    rows = json.loads(_log(initialised, "--json").stdout)
    day = rows[0]["ts"][:10]
    same_day = json.loads(_log(initialised, "--since", day, "--until", day, "--json").stdout)
    assert [r["seq"] for r in same_day] == [r["seq"] for r in rows if r["ts"][:10] == day]
    assert json.loads(_log(initialised, "--until", "2000-01-01", "--json").stdout) == []
    offset = json.loads(_log(initialised, "--since", f"{day}T00:00:00+00:00", "--json").stdout)
    assert len(offset) == len(same_day)


def test_log_action_matches_dotted_segments_and_actor_any_case(initialised: dict[str, str]) -> None:  # noqa: F811
    user_family = json.loads(_log(initialised, "--action", "user", "--json").stdout)
    assert user_family and {r["action"] for r in user_family} <= {"user.added", "user.enrolled"}
    assert {"user.added", "user.enrolled"} <= {r["action"] for r in user_family}
    assert json.loads(_log(initialised, "--action", "USER.ADDED", "--json").stdout) == [
        r for r in user_family if r["action"] == "user.added"]
    assert json.loads(_log(initialised, "--action", "use", "--json").stdout) == []  # whole segments only
    assert json.loads(_log(initialised, "--action", "use*", "--json").stdout) == user_family  # unless asked
    by_dana = json.loads(_log(initialised, "--actor", "DANA", "--json").stdout)
    assert by_dana and {r["actor"] for r in by_dana} == {"dana"}
    human = _log(initialised, "--actor", "dana")
    assert "user.enrolled" in human.stdout and ".000" not in human.stdout  # times to the second


# ------------------------------------------------------------------------------------------- words, not ids
def test_a_refusal_says_in_words_what_was_refused_and_who_may(initialised: dict[str, str]) -> None:  # noqa: F811
    result = run(initialised, "user", "grant", "dana", "auditor", user="dana", password="dana-password")
    assert result.returncode == 3
    assert "dana may not manage users and roles" in result.stderr
    assert "user.manage" not in result.stderr and "(administrator)" in result.stderr


def test_a_missing_password_says_whose_and_how_to_give_it(initialised: dict[str, str]) -> None:  # noqa: F811
    result = run(initialised, "user", "list", user="dana")
    assert result.returncode == 3
    assert "needs dana's password" in result.stderr and "COUNTERSIGN_PASSWORD" in result.stderr
    nobody = run(initialised, "user", "list")
    assert nobody.returncode == 3 and "--as USER" in nobody.stderr and "COUNTERSIGN_PASSWORD" in nobody.stderr


# ------------------------------------------------------------------------------------------- deactivation
def test_deactivation_is_ledgered_final_and_refuses_sign_in(initialised: dict[str, str]) -> None:  # noqa: F811
    add_and_enroll(initialised, "lee", ["ml_lead"], "lee-password")
    db = initialised["COUNTERSIGN_DB"]
    no_reason = run(initialised, "user", "deactivate", "lee", **ROOT)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    self_ = run(initialised, "user", "deactivate", "root", "--reason", "Leaving.", **ROOT)
    assert self_.returncode == 3 and "their own account" in self_.stderr
    before = _ledger_size(db)
    done = run(initialised, "user", "deactivate", "lee", "--reason", "Left the company.", "--json", **ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["roles_removed"] == ["ml_lead"]
    assert _ledger_size(db) == before + 1
    [entry] = json.loads(_log(initialised, "--limit", "1", "--json").stdout)
    assert (entry["action"], entry["subject"], entry["payload"]["reason"]) == (
        "user.deactivated", "user:lee", "Left the company.")

    refused = run(initialised, "user", "list", user="lee", password="lee-password")
    assert refused.returncode == 3 and "'lee' was deactivated on" in refused.stderr
    assert "can no longer sign in" in refused.stderr
    listing = run(initialised, "user", "list", **ROOT)
    lee_line = next(line for line in listing.stdout.splitlines() if line.startswith("lee "))
    assert "deactivated" in lee_line
    again = run(initialised, "user", "grant", "lee", "auditor", **ROOT)
    assert again.returncode == 2 and "stays deactivated" in again.stderr
    assert run(initialised, "verify").returncode == 0  # past signatures stay valid


# ------------------------------------------------------------------------------------------- stages
def test_model_show_and_list_give_each_versions_stage(env: dict[str, str]) -> None:  # noqa: F811
    listed = as_(env, "aude", "model", "list")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert " production since " in lines["live@1"] and " registered " in lines["scorer@1"]
    assert "STAGE" in listed.stdout.splitlines()[0]
    assert "True" not in listed.stdout and "False" not in listed.stdout
    as_json = {r["ref"]: r for r in json.loads(as_(env, "aude", "model", "list", "--json").stdout)}
    assert as_json["live@1"]["stage"] == "production" and as_json["risky@1"]["stage"] == "registered"

    assert as_(env, "chloe", "suspend", "live@1", "--reason", "Complaint review.").returncode == 0
    shown = as_(env, "aude", "model", "show", "live@1")
    assert shown.returncode == 0, shown.stderr
    assert "stage suspended since" in shown.stdout and "by chloe: Complaint review." in shown.stdout
    relisted = {r["ref"]: r for r in json.loads(as_(env, "aude", "model", "list", "--json").stdout)}
    assert relisted["live@1"]["stage"] == "suspended"
    assert relisted["live@1"]["suspension_reason"] == "Complaint review."


def test_an_approval_that_promotes_names_the_stage(env: dict[str, str]) -> None:  # noqa: F811
    opened = json.loads(as_(env, "dana", "promote", "scorer@1", "--to", "staging", "--reason", "Candidate.",
                            "--json").stdout)
    approved = as_(env, "lee", "approve", opened["request_id"], "--comment", "Reviewed.")
    assert approved.returncode == 0, approved.stderr
    assert "scorer@1 promoted to staging" in approved.stdout


def test_readme_lineage_command_works(env: dict[str, str]) -> None:  # noqa: F811
    """The README's ``countersign lineage REF --upstream --format dot`` (no 'show') runs as written."""
    result = as_(env, "aude", "lineage", "scorer@1", "--upstream", "--format", "dot")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "countersign lineage scorer@7 --upstream --format dot --as" in readme
