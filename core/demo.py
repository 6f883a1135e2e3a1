"""Seed a demonstration database: one user per role and real governance events.

Later capabilities (lineage, evaluations, approvals) extend this seed with real data from ``data/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.service import Countersign


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


def seed_demo(db: str | os.PathLike[str] | None) -> Countersign:
    """Create and populate a demo database at ``db`` (which must not exist yet)."""
    admin = DEMO_USERS[0]
    cs = Countersign.init(db, admin=admin.name, password=admin.password, origin="countersign.demo/ledger",
                          checkpoint_interval=64)
    session = cs.login(admin.name, admin.password)
    for user in DEMO_USERS[1:]:
        cs.add_user(session, user.name, list(user.roles), user.password)
    cs.grant(session, "lee", "data_scientist")
    cs.revoke(session, "lee", "data_scientist")
    cs.checkpoint(session)
    return cs
