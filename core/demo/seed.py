"""Seed a demonstration database from real data: one user per role, datasets, datasheets, models and cards,
policies, evaluations, promotions, a waiver, a suspension and a pending request.

Where the numbers come from: the Adult models are evaluated on the held-out UCI test file (``adult-test@1``), but
the German credit models are evaluated on ``german-credit@1``, **the data they were trained on** (the Statlog file
has no separate test split). Their metrics are therefore optimistic and only show how the product works; the
seeding output and the promotion reasons say so. :data:`TRAINING_DATA_NOTE` is the sentence used.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.api.countersign import Countersign
from core.demo import data as demo_data
from core.identity.users import Session

CODE_REF = "https://github.com/countersign/countersign/blob/main/core/demo/data.py@v0.1.0"
#: said wherever the German credit evaluations are made or shown by the seed
TRAINING_DATA_NOTE = ("evaluated on german-credit@1, the data it was trained on (demo only: the metrics are "
                      "optimistic; a real gate evaluates on held-out data)")

Progress = Callable[[str], None]


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


def seed_demo(db: str | os.PathLike[str] | None, progress: Progress | None = None) -> Countersign:
    """Create and populate a demo database at ``db`` (which must not exist yet); all or nothing. ``progress`` is
    called with one line per step (about ten over the minute seeding takes), each with the seconds elapsed."""
    path = Countersign(db).path
    started = time.monotonic()

    def step(text: str) -> None:
        if progress is not None:
            progress(f"[{time.monotonic() - started:5.1f} s] {text}")

    try:
        return _seed(path, step)
    except BaseException:
        import shutil

        from core.catalog.artifacts import store_dir
        from core.ledger.service_key import secret_file_for

        if path.exists():
            for leftover in (path, path.with_name(path.name + ".wal"), secret_file_for(path)):
                leftover.unlink(missing_ok=True)
            for folder in (store_dir(path), demo_workdir(path)):
                shutil.rmtree(folder, ignore_errors=True)
        raise


def enrol(cs: Countersign, admin: Session, name: str, roles: list[str], password: str) -> Session:
    """Add a user and redeem their enrolment code at once — for demo data, benchmarks and tests only: in real use
    the admin hands the code to the person, who chooses their own password (``countersign user enroll``)."""
    code = cs.add_user(admin, name, roles)["enrolment_code"]
    return cs.enroll(name, code, password)


def _seed(db: Path, step: Progress) -> Countersign:
    admin = DEMO_USERS[0]
    step(f"creating {db} and one user per role")
    cs = Countersign.init(db, admin=admin.name, password=admin.password, origin="countersign.demo/ledger",
                          checkpoint_interval=64)
    session = cs.login(admin.name, admin.password)
    for user in DEMO_USERS[1:]:
        enrol(cs, session, user.name, list(user.roles), user.password)

    dana = cs.login("dana", "dana-demo-pass")
    step("registering the UCI Adult and Statlog German credit files")
    raw = demo_data.DATA_DIR
    uci = "https://archive.ics.uci.edu/dataset"
    cs.register_dataset(dana, raw / "adult" / "adult.data", name="adult-raw-train", version="1994",
                        source_uri=f"{uci}/2/adult")
    cs.register_dataset(dana, raw / "adult" / "adult.test", name="adult-raw-test", version="1994",
                        source_uri=f"{uci}/2/adult")
    cs.register_dataset(dana, raw / "german-credit" / "german.data", name="german-raw", version="1994",
                        source_uri=f"{uci}/144/statlog+german+credit+data")

    work = demo_workdir(cs.path)
    step("preparing training and test sets")
    prepared = demo_data.prepare_all(work / "prepared")
    sheets = raw / "datasheets"
    cs.register_dataset(dana, prepared["adult-train"], name="adult-train", version="1",
                        derived_from=["adult-raw-train@1994"], datasheet=sheets / "adult.yaml")
    cs.register_dataset(dana, prepared["adult-test"], name="adult-test", version="1",
                        derived_from=["adult-raw-test@1994"], datasheet=sheets / "adult.yaml")
    cs.register_dataset(dana, prepared["german-credit"], name="german-credit", version="1",
                        derived_from=["german-raw@1994"], datasheet=sheets / "german-credit.yaml")

    step("training four scikit-learn models")
    artifacts = demo_data.train_models(prepared, work / "models")
    step("registering the models with their cards")
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
    cs.register_model(dana, artifacts["german-logreg-l1"], name="german-credit-scorer", version="2",
                      trained_on=["german-credit@1"], card=cards / "german-credit.yaml", code_ref=CODE_REF,
                      risk_tier="high")
    _releases(cs, step)
    step("writing a signed checkpoint")
    cs.checkpoint(session)
    step("done")
    return cs


def _releases(cs: Countersign, step: Progress) -> None:
    """Policies, evaluations that pass and fail, a refused promotion, a waiver, a production history with two
    versions, a suspension and rollback, and a promotion waiting for the compliance officer."""
    from datetime import UTC, datetime, timedelta

    dana, lee = cs.login("dana", "dana-demo-pass"), cs.login("lee", "lee-demo-pass")
    chloe = cs.login("chloe", "chloe-demo-pass")
    policies = demo_data.DATA_DIR.parent / "policies"
    cs.add_policy(chloe, policies / "default.yaml")
    cs.add_policy(chloe, policies / "credit-scoring.yaml")
    cs.assign_policy(chloe, "adult-income", "default")
    cs.assign_policy(chloe, "german-credit-scorer", "default")

    def evaluate(model: str, data: str, label: str) -> dict:
        return cs.evaluate(dana, model, data=data, policy="default", label=label)

    def approve_all(request: dict, *approvers: object) -> None:
        for who in approvers:
            cs.approve(who, request["request_id"], comment="Evidence reviewed: evaluation passes the gate.")

    # Adult: fails the selection-parity check; promotion refused; a time-boxed waiver lets v2 reach staging.
    step("evaluating adult-income@1 and @2 on the held-out Adult test set (adult-test@1)")
    evaluate("adult-income@1", "adult-test@1", "income_over_50k")
    cs.evaluate(dana, "adult-income@1", data="adult-test@1", policy=str(policies / "credit-scoring.yaml"),
                label="income_over_50k")
    try:
        cs.promote(dana, "adult-income@1", to="staging", reason="First Adult model for the pilot.")
    except Exception:  # noqa: BLE001 - the refusal is the point: it is recorded in the ledger
        pass
    until = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    cs.waive(chloe, "adult-income@2", check="selection-parity-sex", until=until,
             justification="Pilot limited to aggregate statistics; no individual decisions. Mitigation planned.")
    evaluate("adult-income@2", "adult-test@1", "income_over_50k")
    request = cs.promote(dana, "adult-income@2", to="staging", reason="Pilot under waiver.")
    approve_all(request, lee)

    # German credit: v1 and then v2 to production; v2 suspended, v1 rolled back.
    step(f"german-credit-scorer@1 and @2 {TRAINING_DATA_NOTE}")
    evaluate("german-credit-scorer@1", "german-credit@1", "good_credit")
    approve_all(cs.promote(dana, "german-credit-scorer@1", to="staging",
                           reason=f"Candidate scorer, {TRAINING_DATA_NOTE}."), lee)
    approve_all(cs.promote(dana, "german-credit-scorer@1", to="production", reason="Passed staging review."),
                lee, chloe)
    evaluate("german-credit-scorer@2", "german-credit@1", "good_credit")
    approve_all(cs.promote(dana, "german-credit-scorer@2", to="staging",
                           reason=f"Sparser model, {TRAINING_DATA_NOTE}."), lee)
    approve_all(cs.promote(dana, "german-credit-scorer@2", to="production", reason="Replaces v1."), lee, chloe)
    cs.suspend(chloe, "german-credit-scorer@2", reason="Complaint review: unexplained declines in one branch.")
    approve_all(cs.promote(dana, "german-credit-scorer@1", to="production", reason="Roll back to v1."), lee, chloe)

    step("promotions, a waiver, a suspension and a rollback recorded; one request left for the compliance officer")
    # Waiting for the compliance officer: Adult v2 to production, approved by the ML lead.
    request = cs.promote(dana, "adult-income@2", to="production", reason="Extend the pilot to production.")
    approve_all(request, lee)
