"""One seeded demo database per test session, copied for each test that changes it.

Seeding from the real UCI data takes ~40-60 s, so it happens once per pytest run, in the run's base temporary
directory (shared by the AppTest and the browser tests). A copy takes the database file, its service secret and its
artifact store; the registered datasets stay where the seed put them (they are registered by absolute path inside
the template's ``.demo-data`` folder, which therefore must stay in place and is never written to).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.catalog.artifacts import store_dir
from core.demo.seed import DEMO_USERS, seed_demo
from core.ledger.service_key import secret_file_for

PASSWORDS = {u.name: u.password for u in DEMO_USERS}
ROLE_OF = {u.name: u.roles[0] for u in DEMO_USERS}
USER_OF = {role: name for name, role in ROLE_OF.items()}


def demo_template(factory: pytest.TempPathFactory) -> Path:
    """The session's seeded demo database (seeded on first use, reused afterwards).

    ``COUNTERSIGN_TEST_DEMO_TEMPLATE=PATH`` names an already seeded demo database to copy instead (a developer's
    shortcut for repeated runs; it is only ever read).
    """
    given = os.environ.get("COUNTERSIGN_TEST_DEMO_TEMPLATE")
    if given:
        return Path(given)
    folder = factory.getbasetemp() / "countersign-demo-template"
    path = folder / "demo.duckdb"
    done = folder / "seeded.ok"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        seed_demo(path)
        done.write_text("ok\n")
    return path


def copy_demo(template: Path, target: Path) -> Path:
    """Copy the template's database, service secret and artifact store to ``target`` (datasets stay shared)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    shutil.copyfile(secret_file_for(template), secret_file_for(target))
    secret_file_for(target).chmod(0o600)
    if store_dir(template).exists():
        shutil.copytree(store_dir(template), store_dir(target))
    return target
