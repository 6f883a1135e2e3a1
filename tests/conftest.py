"""Shared fixtures: real DuckDB files in a temporary directory, real keys, real processes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.identity import Session
from core.service import Countersign

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
                "COUNTERSIGN_SERVICE_SECRET_FILE", "COUNTERSIGN_LOCK_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.duckdb"


@pytest.fixture
def cs(db_path: Path) -> Countersign:
    """A fresh database with an admin only."""
    return Countersign.init(db_path, admin=ADMIN, password=ADMIN_PW, origin="test.example/log",
                            checkpoint_interval=8)


@pytest.fixture
def admin(cs: Countersign) -> Session:
    return cs.login(ADMIN, ADMIN_PW)


@pytest.fixture
def populated(cs: Countersign, admin: Session) -> Countersign:
    """Admin plus one user per other role."""
    for name, (roles, password) in USERS.items():
        cs.add_user(admin, name, roles, password)
    return cs


@pytest.fixture
def cli_env(db_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNTERSIGN_")}
    env["COUNTERSIGN_DB"] = str(db_path)
    yield env


def countersign_exe() -> list[str]:
    """Run the CLI as a user would, in a real subprocess."""
    return [sys.executable, "-m", "cli"]
