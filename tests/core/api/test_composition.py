"""Issue 15 (2): the facade is composed of feature services, not inherited from mixins.

Each public method of :class:`Countersign` forwards to one service method with the same signature and docstring;
services receive the services they call in their constructors, so a cross-feature call is visible (and type-checked)
in the signature; the site's locations come from one :class:`~core.storage.site.Site`.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from core.api.context import Context
from core.api.countersign import Countersign
from core.catalog.registry import RegistryService
from core.evidence.report import ReportService
from core.identity.users import Session
from core.policy.governance import GovernanceService
from core.releases.promotions import ReleaseService
from core.storage.site import Site
from tests.conftest import USERS

PUBLIC = sorted(n for n, v in vars(Countersign).items()
                if not n.startswith("_") and hasattr(v, "__wrapped__") and not isinstance(v, classmethod))
#: what the facade itself answers: the site and its lifecycle
OWN = {"ledger", "settings", "upgrade"}  # and the classmethod init


def test_the_facade_inherits_nothing_and_forwards_everything_else() -> None:
    assert Countersign.__mro__ == (Countersign, object)
    methods = {n for n, v in vars(Countersign).items() if not n.startswith("_") and callable(v)}
    assert methods - set(PUBLIC) == OWN


def test_there_are_the_operations_users_know() -> None:
    assert {"approve", "evaluate", "register_model", "report", "verify", "waive", "inbox", "login"} <= set(PUBLIC)
    assert len(PUBLIC) >= 50


@pytest.mark.parametrize("name", PUBLIC)
def test_each_operation_forwards_to_one_method_of_one_of_the_facades_services(name: str,
                                                                              populated: Countersign) -> None:
    # (the signatures agree by construction: ``_forward`` is typed with ParamSpec, so mypy checks every caller
    # against the service method's own signature)
    wrapped = inspect.unwrap(getattr(Countersign, name))
    owners = [s for s in vars(populated).values()
              if not isinstance(s, Context) and getattr(type(s), name, None) is wrapped]
    assert len(owners) == 1, f"{name} forwards to {wrapped.__qualname__}, which no single service of the facade has"
    assert wrapped.__qualname__ == f"{type(owners[0]).__name__}.{name}"


def test_collaborators_are_named_in_constructors() -> None:
    def params(cls: type) -> list[str]:
        return list(inspect.signature(cls.__init__).parameters)[1:]

    assert params(ReleaseService) == ["ctx"]
    assert params(RegistryService) == ["ctx", "releases"]
    assert params(GovernanceService) == ["ctx", "releases", "registry"]
    assert params(ReportService) == ["ctx", "audit", "inventory", "registry", "governance", "inbox", "waivers",
                                     "history", "lineage"]


def test_services_share_one_context_and_one_release_service(populated: Countersign) -> None:
    contexts = {id(s._ctx) for s in vars(populated).values() if hasattr(s, "_ctx")}
    assert contexts == {id(populated.context)}
    assert populated.registry._releases is populated.releases is populated.governance._releases


def test_the_site_names_the_secret_and_the_artifact_store(populated: Countersign, db_path: Path) -> None:
    site = populated.site
    assert site == Site.for_database(db_path)
    assert site.service_secret_file == db_path.with_name("ledger.duckdb.service-secret")
    assert site.artifact_store == db_path.with_name("ledger.duckdb.artifacts")
    assert site.service_secret_file.exists()
    assert populated.verify().ok  # the checkpoints were signed with the key the site's secret unlocks


def test_the_facade_and_the_service_answer_alike(populated: Countersign) -> None:
    session: Session = populated.login("lee", USERS["lee"][1])
    assert populated.inbox(session) == populated.inbox_service.inbox(session)
    assert populated.stages(session) == populated.releases.stages(session)
