"""Seed a demonstration database from real data: one user per role, datasets, datasheets, models and cards.

Later capabilities (evaluations, approvals, monitoring) extend this seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core import demo_data
from core.service import Countersign

CODE_REF = "https://github.com/countersign/countersign/blob/main/core/demo_data.py@v0.1.0"


@dataclass(frozen=True)
class DemoUser:
    name: str
    roles: tuple[str, ...]
    password: str


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("ada", ("admin",), "ada-demo-pass"),
    DemoUser("dana", ("data_scientist",), "dana-demo-pass"),
    DemoUser("lee", ("ml_lead",), "lee-demo-pass"),
    DemoUser("chloe", ("compliance_officer",), "chloe-demo-pass"),
    DemoUser("aude", ("auditor",), "aude-demo-pass"),
)


def demo_workdir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".demo-data")


def seed_demo(db: str | os.PathLike[str] | None) -> Countersign:
    """Create and populate a demo database at ``db`` (which must not exist yet); all or nothing."""
    path = Countersign(db).path
    try:
        return _seed(path)
    except BaseException:
        import shutil

        from core.artifacts import store_dir
        from core.service_key import secret_file_for

        if path.exists():
            for leftover in (path, path.with_name(path.name + ".wal"), secret_file_for(path)):
                leftover.unlink(missing_ok=True)
            for folder in (store_dir(path), demo_workdir(path)):
                shutil.rmtree(folder, ignore_errors=True)
        raise


def _seed(db: Path) -> Countersign:
    admin = DEMO_USERS[0]
    cs = Countersign.init(db, admin=admin.name, password=admin.password, origin="countersign.demo/ledger",
                          checkpoint_interval=64)
    session = cs.login(admin.name, admin.password)
    for user in DEMO_USERS[1:]:
        cs.add_user(session, user.name, list(user.roles), user.password)

    dana = cs.login("dana", "dana-demo-pass")
    raw = demo_data.DATA_DIR
    uci = "https://archive.ics.uci.edu/dataset"
    cs.register_dataset(dana, raw / "adult" / "adult.data", name="adult-raw-train", version="1994",
                        source_uri=f"{uci}/2/adult")
    cs.register_dataset(dana, raw / "adult" / "adult.test", name="adult-raw-test", version="1994",
                        source_uri=f"{uci}/2/adult")
    cs.register_dataset(dana, raw / "german-credit" / "german.data", name="german-raw", version="1994",
                        source_uri=f"{uci}/144/statlog+german+credit+data")

    work = demo_workdir(cs.path)
    prepared = demo_data.prepare_all(work / "prepared")
    sheets = raw / "datasheets"
    cs.register_dataset(dana, prepared["adult-train"], name="adult-train", version="1",
                        derived_from=["adult-raw-train@1994"], datasheet=sheets / "adult.yaml")
    cs.register_dataset(dana, prepared["adult-test"], name="adult-test", version="1",
                        derived_from=["adult-raw-test@1994"], datasheet=sheets / "adult.yaml")
    cs.register_dataset(dana, prepared["german-credit"], name="german-credit", version="1",
                        derived_from=["german-raw@1994"], datasheet=sheets / "german-credit.yaml")

    artifacts = demo_data.train_models(prepared, work / "models")
    cards = raw / "cards"
    cs.register_model(dana, artifacts["adult-logreg"], name="adult-income", version="1",
                      trained_on=["adult-train@1"], card=cards / "adult-income.yaml", code_ref=CODE_REF,
                      risk_tier="medium")
    cs.register_model(dana, artifacts["adult-hgb"], name="adult-income", version="2",
                      trained_on=["adult-train@1"], card=cards / "adult-income.yaml", code_ref=CODE_REF,
                      risk_tier="medium")
    cs.register_model(dana, artifacts["german-logreg"], name="german-credit-scorer", version="1",
                      trained_on=["german-credit@1"], card=cards / "german-credit.yaml", code_ref=CODE_REF,
                      risk_tier="high")
    cs.checkpoint(session)
    return cs
