"""One seeded demo database per test session, copied for each test that changes it.

Seeding from the real UCI data takes ~40-60 s, so it happens once per pytest run, in the run's base temporary
directory (shared by the AppTest and the browser tests). A copy takes the database file, its service secret and its
artifact store; the registered datasets stay where the seed put them (they are registered by absolute path inside
the template's ``.demo-data`` folder, which therefore must stay in place and is never written to).
"""

from __future__ import annotations

import fcntl
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
    """The run's seeded demo database (seeded on first use, reused afterwards).

    Under pytest-xdist the workers share one: it lives in the run's base temporary directory (the parent of each
    worker's own), and the first worker to need it seeds it while holding an ``flock`` on a file beside it; the
    others wait for that lock, then find it seeded. It is only ever copied (``copy_demo``), never opened, so sharing
    it across processes changes nothing a test sees.

    ``COUNTERSIGN_TEST_DEMO_TEMPLATE=PATH`` names an already seeded demo database to copy instead (a developer's
    shortcut for repeated runs; it is only ever read).
    """
    given = os.environ.get("COUNTERSIGN_TEST_DEMO_TEMPLATE")
    if given:
        return Path(given)
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's directory, shared by every worker (each has its own below it)
    folder = base / "countersign-demo-template"
    path = folder / "demo.duckdb"
    done = folder / "seeded.ok"
    with (base / "countersign-demo-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
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
