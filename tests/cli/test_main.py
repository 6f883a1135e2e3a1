"""The ``countersign`` command as a user runs it: real subprocesses, real exit codes, real files."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_cli

run = run_cli


def add_and_enroll(env: dict[str, str], name: str, roles: list[str], password: str) -> dict[str, object]:
    """root adds the user and hands over the code; the user enrolls with a password of their own."""
    flags = [x for r in roles for x in ("--role", r)]
    added = run(env, "user", "add", name, *flags, "--json", user="root", password="root-password")
    assert added.returncode == 0, added.stderr
    body = json.loads(added.stdout)
    enrolled = run({**env, "COUNTERSIGN_ENROLMENT_CODE": body["enrolment_code"]}, "user", "enroll", name,
                   "--password-stdin", "--json", stdin=f"{password}\n")
    assert enrolled.returncode == 0, enrolled.stderr
    return {**body, **json.loads(enrolled.stdout)}


@pytest.fixture
def initialised(cli_env: dict[str, str]) -> dict[str, str]:
    result = run(cli_env, "init", "--admin", "root", "--origin", "cli.test/log", "--checkpoint-interval", "4",
                 password="root-password")
    assert result.returncode == 0, result.stderr
    assert "cli.test/log+" in result.stdout  # prints the service's verifier key
    add_and_enroll(cli_env, "dana", ["data_scientist"], "dana-password")
    return cli_env


def _ledger_size(db: str) -> int:
    con = duckdb.connect(db)
    try:
        return con.execute("SELECT count(*) FROM ledger").fetchall()[0][0]
    finally:
        con.close()


def test_init_refuses_existing_database(initialised: dict[str, str]) -> None:
    result = run(initialised, "init", "--admin", "root", password="root-password")
    assert result.returncode == 2
    assert "already exists" in result.stderr and "Traceback" not in result.stderr


def test_commands_on_a_missing_database_explain_how_to_create_one(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "verify")
    assert result.returncode == 2 and "countersign init" in result.stderr


def test_db_option_beats_environment(initialised: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.duckdb"
    result = run(initialised, "init", "--db", str(other), "--admin", "boss", password="boss-password")
    assert result.returncode == 0, result.stderr
    keys = json.loads(run(initialised, "keys", "--json", "--db", str(other)).stdout)
    assert [k["owner"] for k in keys["users"]] == ["boss"]


def test_user_add_and_list_json(initialised: dict[str, str]) -> None:
    body = add_and_enroll(initialised, "lee", ["ml_lead", "data_scientist"], "lee-password")
    assert body["roles"] == ["data_scientist", "ml_lead"] and len(body["key_id"]) == 32
    assert "password" not in json.dumps({k: v for k, v in body.items() if k != "enrolment_code"})
    listed = json.loads(run(initialised, "user", "list", "--json", user="lee", password="lee-password").stdout)
    assert {u["name"]: u["roles"] for u in listed} == {
        "dana": ["data_scientist"], "lee": ["data_scientist", "ml_lead"], "root": ["admin"]}


def test_missing_role_exits_3_names_the_role_and_writes_only_the_refusal(initialised: dict[str, str]) -> None:
    before = _ledger_size(initialised["COUNTERSIGN_DB"])
    result = run(initialised, "user", "grant", "dana", "admin", user="dana", password="dana-password")
    assert result.returncode == 3
    assert "role admin is needed" in result.stderr and "Traceback" not in result.stderr
    assert _ledger_size(initialised["COUNTERSIGN_DB"]) == before + 1
    last = json.loads(run(initialised, "log", "--limit", "1", "--json", user="root", password="root-password").stdout)
    assert last[0]["action"] == "access.denied" and last[0]["actor"] == "dana"


def test_wrong_password_exits_3(initialised: dict[str, str]) -> None:
    result = run(initialised, "log", user="dana", password="wrong-password")
    assert result.returncode == 3 and "authentication failed" in result.stderr


def test_no_password_in_a_pipeline_exits_3(initialised: dict[str, str]) -> None:
    result = run(initialised, "log", user="dana")
    assert result.returncode == 3 and "COUNTERSIGN_PASSWORD" in result.stderr


def test_bad_usage_exits_2_without_traceback(initialised: dict[str, str]) -> None:
    result = run(initialised, "user", "grant", "dana", "superuser", user="root", password="root-password")
    assert result.returncode == 2 and "superuser" in result.stderr and "Traceback" not in result.stderr
    chosen = run(initialised, "user", "add", "zed", "--role", "auditor", "--password-stdin", stdin="zed-password\n",
                 user="root", password="root-password")
    assert chosen.returncode == 2 and "does not set passwords" in chosen.stderr  # an admin never picks one
    code = json.loads(run(initialised, "user", "add", "zed", "--role", "auditor", "--json", user="root",
                          password="root-password").stdout)["enrolment_code"]
    empty = run({**initialised, "COUNTERSIGN_ENROLMENT_CODE": code}, "user", "enroll", "zed", "--password-stdin",
                stdin="")
    assert empty.returncode == 2 and "standard input is empty" in empty.stderr
    not_yet = run(initialised, "log", user="zed", password="anything-goes")
    assert not_yet.returncode == 3 and "has not enrolled yet" in not_yet.stderr


def test_json_errors_are_machine_readable(initialised: dict[str, str]) -> None:
    result = run(initialised, "user", "grant", "nobody", "auditor", "--json", user="root", password="root-password")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {"error": "no user named 'nobody'", "exit_code": 2}


def test_log_filters(initialised: dict[str, str]) -> None:
    rows = json.loads(run(initialised, "log", "--json", "--actor", "root", "--action", "user.added",
                          user="dana", password="dana-password").stdout)
    assert [r["subject"] for r in rows] == ["user:dana", "user:root"]
    human = run(initialised, "log", "--limit", "2", user="dana", password="dana-password")
    assert human.returncode == 0 and human.stdout.splitlines()[0].split()[:3] == ["SEQ", "TS", "ACTOR"]


def test_checkpoint_then_verify_against_it_and_detect_truncation(initialised: dict[str, str], tmp_path: Path) -> None:
    cp = run(initialised, "checkpoint", user="dana", password="dana-password")
    assert cp.returncode == 0
    lines = cp.stdout.splitlines()
    assert lines[0] == "cli.test/log" and lines[3] == "" and lines[4].startswith("\u2014 cli.test/log ")
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(cp.stdout)
    ok = run(initialised, "verify", "--checkpoint", str(saved))
    assert ok.returncode == 0 and "append-only" in ok.stdout

    size = int(lines[1])
    con = duckdb.connect(initialised["COUNTERSIGN_DB"])
    con.execute("DELETE FROM ledger WHERE seq >= ?", [size - 1])
    con.execute("DELETE FROM checkpoints WHERE size >= ?", [size - 1])
    con.close()
    assert run(initialised, "verify").returncode == 0  # undetectable from inside...
    bad = run(initialised, "verify", "--checkpoint", str(saved), "--json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["first_bad_seq"] == size - 1 and "truncated" in report["first_problem"]


def test_verify_names_the_first_bad_seq(initialised: dict[str, str]) -> None:
    con = duckdb.connect(initialised["COUNTERSIGN_DB"])
    con.execute("UPDATE ledger SET subject = 'user:mallory' WHERE seq = 2")
    con.close()
    result = run(initialised, "verify")
    assert result.returncode == 1
    assert result.stderr.startswith("FAILED: seq 2:")


def test_keys_json(initialised: dict[str, str]) -> None:
    keys = json.loads(run(initialised, "keys", "--json").stdout)
    assert keys["origin"] == "cli.test/log"
    assert keys["service"]["verifier_key"].startswith("cli.test/log+")
    assert {k["owner"] for k in keys["users"]} == {"root", "dana"}


def test_passwd_and_rotate_key(initialised: dict[str, str]) -> None:
    changed = run(initialised, "user", "passwd", "--password-stdin", stdin="dana-new-password\n",
                  user="dana", password="dana-password")
    assert changed.returncode == 0, changed.stderr
    assert run(initialised, "log", user="dana", password="dana-password").returncode == 3
    rotated = run(initialised, "user", "rotate-key", "--json", user="dana", password="dana-new-password")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["key_id"] != json.loads(rotated.stdout)["previous_key_id"]
    assert run(initialised, "verify").returncode == 0
