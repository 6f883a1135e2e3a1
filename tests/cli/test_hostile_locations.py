"""Database locations and values a user gets wrong: a clear one-line refusal, the password never shown, nothing
left behind (found by trying to break the PostgreSQL backend, issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import resolve_location
from core.errors import BadInput
from tests.conftest import run_cli

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize("location", [
    f"pgsql://ann:{SECRET}@127.0.0.1:5432/a", f"postgresq://ann:{SECRET}@127.0.0.1/a", "sqlite:foo.db",
    f"mysql://ann:{SECRET}@h/a", f"postgresql:ann:{SECRET}@h/a",
])
def test_an_unknown_scheme_is_refused_without_echo_and_without_files(location: str, cli_env: dict[str, str],
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = run_cli(cli_env, "keys", "--db", location)
    assert done.returncode == 2, done.stderr
    assert "unknown database scheme" in done.stderr and "Traceback" not in done.stderr
    assert SECRET not in done.stderr + done.stdout
    inited = run_cli(cli_env, "init", "--admin", "ada", "--db", location, password="ada-password-1")
    assert inited.returncode == 2 and SECRET not in inited.stderr + inited.stdout
    assert list(tmp_path.iterdir()) == []  # no folder named after the URI (with its password) was made


def test_a_server_uri_is_read_in_any_case_and_with_surrounding_spaces() -> None:
    assert resolve_location(f" POSTGRESQL://ann:{SECRET}@h:5/a\n") == f"postgresql://ann:{SECRET}@h:5/a"
    assert resolve_location("Postgres://h/a") == "postgres://h/a"
    assert resolve_location("DuckDB:///tmp/x.duckdb") == Path("/tmp/x.duckdb")
    assert resolve_location("relative/site.duckdb") == Path("relative/site.duckdb")
    with pytest.raises(BadInput, match="unknown database scheme 'sqlite'"):
        resolve_location("sqlite:x.db")


@pytest.mark.parametrize("value", ["-1", "-0.5"])
def test_a_negative_lock_timeout_is_refused(value: str, cli_env: dict[str, str]) -> None:
    done = run_cli({**cli_env, "COUNTERSIGN_LOCK_TIMEOUT": value}, "keys")
    assert done.returncode == 2 and "COUNTERSIGN_LOCK_TIMEOUT" in done.stderr, done.stderr


@pytest.mark.parametrize("args", [("log", "--limit", "99999999999999999999"), ("log", "--offset", "-1"),
                                  ("verify", "--jobs", "0")])
def test_out_of_range_numbers_are_usage_errors(args: tuple[str, ...], cli_env: dict[str, str]) -> None:
    done = run_cli(cli_env, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "is not in the range" in done.stderr


def test_a_folder_that_cannot_be_made_is_a_clear_error(cli_env: dict[str, str]) -> None:
    done = run_cli(cli_env, "init", "--admin", "ada", "--db", "/proc/no-such/x.duckdb", password="ada-password-1")
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("error: cannot use /proc/no-such") and "Traceback" not in done.stderr
