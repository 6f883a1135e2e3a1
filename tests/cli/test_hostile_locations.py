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
    # near misses, each a path to DuckDB: postgresql without ':', a space, an escape, a look-alike Cyrillic 'о'
    f"postgresql//ann:{SECRET}@127.0.0.1/x", f"postgresql ://ann:{SECRET}@h/x", f"postgresql%3A//ann:{SECRET}@h/x",
    f"p\u043estgresql://ann:{SECRET}@h/x", f"ann:{SECRET}@host:file.duckdb",
    f"postgresql:///ann:{SECRET}@h/x",  # a scheme this reads, but the credentials land in the database name
])
def test_an_unknown_scheme_is_refused_without_echo_and_without_files(location: str, cli_env: dict[str, str],
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = run_cli(cli_env, "keys", "--db", location)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: ")
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


def test_ctrl_c_while_the_command_starts_is_no_traceback(cli_env: dict[str, str]) -> None:
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "cli", "keys"], env=cli_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(0.35)  # Python is up; importing the command (about a second) is under way
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, err)  # -2: before Python took the signal


def test_an_unexpected_failure_exits_70_not_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    """Exit 1 means "a check failed" to a CI gate: a crash must never look like one."""
    import cli.main as cli_main

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug (simulated)")

    monkeypatch.setattr(cli_main, "_service", broken)
    with pytest.raises(SystemExit) as exited:
        cli_main.main(["keys", "--db", str(tmp_path / "none.duckdb")])
    assert exited.value.code == cli_main.EXIT_INTERNAL == 70
    err = capsys.readouterr().err
    assert "RuntimeError: a bug (simulated)" in err and "internal error" in err


@pytest.mark.parametrize(("name", "value"), [
    ("COUNTERSIGN_ENROLMENT_HOURS", "abc"), ("COUNTERSIGN_ENROLMENT_HOURS", "nan"),
    ("COUNTERSIGN_ENROLMENT_HOURS", "99999999999999"), ("COUNTERSIGN_ENROLMENT_HOURS", "-5"),
    ("COUNTERSIGN_SANDBOX_MEMORY_MB", "abc"), ("COUNTERSIGN_SANDBOX_MEMORY_MB", "99999999999999999"),
    ("COUNTERSIGN_SANDBOX_CPU_SECONDS", "-1"), ("COUNTERSIGN_SANDBOX_TIMEOUT", "nan"),
])
def test_a_bad_numeric_setting_is_refused_naming_it(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.api.accounts import _new_enrolment_code
    from core.evaluation.sandbox import IsolatedModel

    monkeypatch.setenv(name, value)
    with pytest.raises(BadInput, match=f"{name} must be"):
        if name == "COUNTERSIGN_ENROLMENT_HOURS":
            _new_enrolment_code()
        else:
            IsolatedModel(b"not a model", "pickle")


def test_numeric_settings_in_range_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.config import env_number

    monkeypatch.setenv("COUNTERSIGN_X", " 12 ")
    assert env_number("COUNTERSIGN_X", 1, minimum=1, maximum=100, integer=True) == 12
    monkeypatch.setenv("COUNTERSIGN_X", "")
    assert env_number("COUNTERSIGN_X", 7.5, minimum=1, maximum=100) == 7.5
