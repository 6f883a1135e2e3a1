"""Shared fixtures: real DuckDB files in a temporary directory, real keys, real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.api.countersign import Countersign
from core.demo.seed import enrol
from core.identity.users import Session

pytest_plugins = ["tests.pg_fixtures", "tests.reports_fixtures", "tests.mlflow_fixtures"]

#: The Spark driver JVMs the tests start (in-process sessions, CLI and benchmark subprocesses, which inherit this
#: environment) live for seconds on kilobytes of data: the C1 compiler alone and the serial collector cost a third
#: less CPU there than HotSpot's defaults (measured on tests/core/evaluation/test_spark_source.py: 176-195 s of CPU
#: → 122-131 s), and CPU is what a 2-core CI run is short of. The options reach the JVM the way an installation's
#: own would (``SPARK_SUBMIT_OPTS``; Countersign adds its log setting to them, see core.evaluation.spark_source);
#: a value set by whoever runs the tests is kept.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")

ADMIN, ADMIN_PW = "root", "root-password"
USERS = {
    "dana": (["data_scientist"], "dana-password"),
    "lee": (["ml_lead"], "lee-password"),
    "chloe": (["compliance_officer"], "chloe-password"),
    "aude": (["auditor"], "aude-password"),
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("COUNTERSIGN_DB", "COUNTERSIGN_USER", "COUNTERSIGN_PASSWORD", "COUNTERSIGN_SERVICE_SECRET",
                "COUNTERSIGN_SERVICE_SECRET_FILE", "COUNTERSIGN_LOCK_TIMEOUT", "COUNTERSIGN_ARTIFACT_STORE",
                "COUNTERSIGN_PG_POOL_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.duckdb"


def _copy_db(template: Path, target: Path) -> Countersign:
    """Copy a template database and its service secret (each scrypt derivation costs ~0.1 s; build once)."""
    for suffix in ("", ".service-secret"):
        shutil.copyfile(template.with_name(template.name + suffix), target.with_name(target.name + suffix))
    return Countersign(target)


@pytest.fixture(scope="session")
def _admin_only_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template-admin") / "ledger.duckdb"
    Countersign.init(path, admin=ADMIN, password=ADMIN_PW, origin="test.example/log", checkpoint_interval=8)
    return path


@pytest.fixture(scope="session")
def _populated_template(tmp_path_factory: pytest.TempPathFactory, _admin_only_template: Path) -> Path:
    path = tmp_path_factory.mktemp("template-populated") / "ledger.duckdb"
    cs = _copy_db(_admin_only_template, path)
    admin = cs.login(ADMIN, ADMIN_PW)
    for name, (roles, password) in USERS.items():
        enrol(cs, admin, name, roles, password)
    return path


@pytest.fixture
def cs(db_path: Path, _admin_only_template: Path) -> Countersign:
    """A fresh database (its own file) with an admin only."""
    return _copy_db(_admin_only_template, db_path)


@pytest.fixture
def admin(cs: Countersign) -> Session:
    return cs.login(ADMIN, ADMIN_PW)


@pytest.fixture
def populated(db_path: Path, _populated_template: Path) -> Countersign:
    """A fresh database (its own file) with the admin plus one user per other role."""
    return _copy_db(_populated_template, db_path)


@pytest.fixture
def cli_env(db_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNTERSIGN_")}
    env["COUNTERSIGN_DB"] = str(db_path)
    yield env


#: The longest test files (a minute or more each on a 2-core machine), run first. scripts/test runs pytest-xdist with
#: ``--dist loadfile --no-loadscope-reorder``: whole files go to whichever worker is free, in collection order. Left
#: in their places (or ordered by test count, xdist's default) several of them came last, so one worker was still
#: busy with them for minutes after the other had run out of files. Started first, the short files fill in behind
#: them. Files that need the seeded demo alternate with files that do not, so that while one worker seeds it
#: (tests/app/demo_db.py, once per run) the other has other work. A stale list costs balance, never correctness.
LONGEST_FIRST = [
    "tests/benchmarks/test_smoke.py",
    "tests/app/test_model_card_page.py",
    "tests/cli/test_backends_scenario.py",
    "tests/core/evaluation/test_evaluation_properties.py",
    "tests/core/inputs/test_input_bounds.py",
    "tests/e2e/test_accessibility.py",
    "tests/app/test_pages.py",
    "tests/e2e/test_permalinks.py",
    "tests/e2e/test_tester_findings_browser.py",
    "tests/e2e/test_browser.py",
    "tests/e2e/test_approvals_browser.py",
    "tests/cli/test_terminal_text.py",
    "tests/core/storage/test_contract.py",
    "tests/core/releases/test_releases.py",
    "tests/core/evaluation/test_spark_source.py",
    "tests/core/evaluation/test_spark_tables.py",
    "tests/core/mlflow_registry/test_tracking_server.py",
    "tests/cli/test_mlflow_cli.py",
    "tests/core/mlflow_registry/test_aliases.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the files of :data:`LONGEST_FIRST` to the front, in that order (a stable sort: the order of the tests
    within each file, and of every other file, is kept)."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def countersign_exe() -> list[str]:
    """Run the CLI as a user would, in a real subprocess."""
    return [sys.executable, "-m", "cli"]


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None, user: str | None = None,
            password: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``countersign ARGS`` in a subprocess as ``user`` (password through the environment, as CI would)."""
    env = dict(env)
    if user:
        env["COUNTERSIGN_USER"] = user
    if password:
        env["COUNTERSIGN_PASSWORD"] = password
    return subprocess.run([*countersign_exe(), *args], input=stdin if stdin is not None else "", env=env,
                          capture_output=True, text=True, timeout=timeout)
