"""The public API of Countersign: every operation the CLI and the app perform goes through :class:`Countersign`.

The facade is composed, not inherited: it builds one :class:`~core.api.context.Context` (the site's store, settings,
ledger and authorised transactions) and the feature services over it, each receiving the services it calls
explicitly:

=====================  ==============================================  ===========================================
attribute              service                                          collaborators
=====================  ==============================================  ===========================================
``accounts``           :class:`core.api.accounts.AccountService`        —
``audit``              :class:`core.api.audit.AuditService`             —
``releases``           :class:`core.releases.promotions.ReleaseService` —
``registry``           :class:`core.catalog.registry.RegistryService`   releases (a model's governing policy)
``lineage_service``    :class:`core.catalog.lineage.LineageService`     —
``governance``         :class:`core.policy.governance.GovernanceService` releases (flags, webhooks), registry (trust)
``inbox_service``      :class:`core.releases.inbox.InboxService`        —
``waivers_service``    :class:`core.releases.waivers.WaiverService`     —
``history_service``    :class:`core.releases.history.HistoryService`    —
``inventory_service``  :class:`core.api.inventory.InventoryService`     —
``reports``            :class:`core.evidence.report.ReportService`      audit, inventory, registry, governance,
                                                                        inbox, waivers, history, lineage
``cards``              :class:`core.evidence.card_export.CardExportService` registry, governance
``mlflow``             :class:`core.mlflow_registry.service.MlflowService` registry, releases (follows promotions)
=====================  ==============================================  ===========================================

Each public method of the facade forwards to one service method (same signature, same docstring). Each
state-changing operation authorises the acting :class:`~core.identity.users.Session` against the permission table
in :mod:`core.identity.roles` *inside* the transaction that makes the change, and appends the ledger entry in that
same transaction (:meth:`core.api.context.Context.act`).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from core.api.accounts import AccountService, store_user
from core.api.audit import AuditService, parse_log_time
from core.api.context import DEFAULT_CHECKPOINT_INTERVAL, Context
from core.api.inventory import InventoryService
from core.catalog.lineage import LineageService
from core.catalog.registry import RegistryService
from core.errors import BadInput, SiteExists
from core.evidence.card_export import CardExportService
from core.evidence.report import ReportService
from core.identity import users as identity
from core.identity.roles import Role
from core.ledger.chain import Event, Ledger, Signer, utc_now
from core.ledger.checkpoints import write_checkpoint
from core.ledger.service_key import (
    SERVICE_OWNER,
    create_service_key,
    provision_secret,
    service_public_key,
    service_verifier_key,
)
from core.mlflow_registry.service import MlflowService
from core.policy.governance import GovernanceService
from core.releases.history import HistoryService
from core.releases.inbox import InboxService
from core.releases.promotions import ReleaseService
from core.releases.waivers import WaiverService
from core.storage.contract import Store, Transaction as Tx
from core.storage.migrations import HEAD_VERSION, MIGRATIONS
from core.storage.site import Site, remove_made

__all__ = ["DEFAULT_CHECKPOINT_INTERVAL", "Countersign", "parse_log_time"]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")


def _forward(service: str, method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[Countersign, P], R]:
    """A facade method that calls ``method`` on the facade's ``service`` attribute (same signature and docstring)."""

    @functools.wraps(method)
    def call(self: Countersign, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return method(getattr(self, service), *args, **kwargs)

    return call


class Countersign:
    """One Countersign site, opened per operation (safe to share a database file among processes)."""

    def __init__(self, db: str | os.PathLike[str] | None = None, *, lock_timeout: float | None = None) -> None:
        self.context = ctx = Context(db, lock_timeout=lock_timeout)
        self.accounts = AccountService(ctx)
        self.audit = AuditService(ctx)
        self.releases = ReleaseService(ctx)
        self.registry = RegistryService(ctx, self.releases)
        self.lineage_service = LineageService(ctx)
        self.governance = GovernanceService(ctx, self.releases, self.registry)
        self.inventory_service = InventoryService(ctx)
        self.waivers_service = WaiverService(ctx)
        self.history_service = HistoryService(ctx)
        self.inbox_service = InboxService(ctx)
        self.reports = ReportService(ctx, self.audit, self.inventory_service, self.registry, self.governance,
                                     self.inbox_service, self.waivers_service, self.history_service,
                                     self.lineage_service)
        self.cards = CardExportService(ctx, self.registry, self.governance)
        self.mlflow = MlflowService(ctx, self.registry, self.releases)

    # ---------------------------------------------------------------------------------------------- the site
    @property
    def path(self) -> Path:
        """The database file (a DuckDB site; a PostgreSQL site has none: see :attr:`location`)."""
        if self.context.path is None:
            raise BadInput(f"{self.context.site.name} is a PostgreSQL database, not a file")
        return self.context.path

    @property
    def location(self) -> str:
        """The site's database for messages: the file path, or the PostgreSQL URI without its password."""
        return self.context.site.name

    @property
    def site(self) -> Site:
        """Where the site's database, service secret and artifact store are (:class:`core.storage.site.Site`)."""
        return self.context.site

    @property
    def store(self) -> Store:
        return self.context.store

    @property
    def origin(self) -> str:
        return self.context.origin

    def settings(self) -> dict[str, str]:
        return self.context.settings()

    def ledger(self) -> Ledger:
        return self.context.ledger()

    def upgrade(self) -> bool:
        """Apply pending schema migrations, recorded as one ``schema.upgraded`` ledger event."""
        return self.context.upgrade()

    def _write(self, fn: Callable[[Tx], T]) -> T:
        return self.context.write(fn)

    def _read(self, fn: Callable[[Tx], T]) -> T:
        return self.context.read(fn)

    @classmethod
    def init(
        cls,
        db: str | os.PathLike[str] | None,
        *,
        admin: str,
        password: str,
        origin: str | None = None,
        checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL,
        lock_timeout: float | None = None,
    ) -> Countersign:
        """Create a new database with its service key and first admin. Refuses an existing database."""
        cs = cls(db, lock_timeout=lock_timeout)
        identity.validate_username(admin)
        identity.validate_password(password)
        if checkpoint_interval < 1:
            raise BadInput("checkpoint interval must be at least 1")
        site = cs.context.site
        if site.database is not None and site.database.exists():
            raise SiteExists(f"a database already exists at {site.database}; 'countersign init' never touches one")
        cs.store.check_creatable()  # refuse a server database holding a site or other tables before any file
        origin = origin or f"countersign.local/{os.urandom(6).hex()}"
        admin_key = identity.new_key(admin, password)
        created: list[Path] = []
        try:
            secret, created = provision_secret(cs.context.site)
            with cs.store.transaction(create=True) as tx:
                now = utc_now()
                for migration in MIGRATIONS:
                    tx.apply_migration(migration, now)
                tx.put_setting("origin", origin)
                tx.put_setting("checkpoint_interval", str(checkpoint_interval))
                tx.put_setting("created_at", now)
                service = create_service_key(tx, secret)
                service_pub = service_public_key(tx)[1]
                ledger = Ledger(lambda t: write_checkpoint(t, cs.context.site, origin), checkpoint_interval)
                genesis = ledger.append(
                    tx,
                    signer=service,
                    actor=SERVICE_OWNER,
                    role=None,
                    event=Event(
                        "ledger.initialized",
                        f"ledger:{origin}",
                        {
                            "origin": origin,
                            "schema_version": HEAD_VERSION,
                            "checkpoint_interval": checkpoint_interval,
                            "service_key_id": service.key_id,
                            "service_public_key": _b64(service_pub),
                            "service_verifier_key": service_verifier_key(origin, service_pub),
                            "bootstrap_admin": admin,
                        },
                    ),
                )
                tx.insert_public_key(service.key_id, SERVICE_OWNER, service_pub, genesis.seq)
                admin_signer = Signer(admin_key.key_id, admin_key.private_key)
                row = ledger.append(
                    tx,
                    signer=admin_signer,
                    actor=admin,
                    role=Role.ADMIN,
                    event=Event("user.added", f"user:{admin}", {
                        "name": admin, "roles": [Role.ADMIN.value], **admin_key.payload(admin),
                    }),
                )
                store_user(tx, admin, [Role.ADMIN.value], admin_key, row.seq, row.ts, valid_from=row.seq)
                write_checkpoint(tx, cs.context.site, origin)
        except BaseException as exc:
            # A server rolled the transaction back; a file another init made first (SiteExists) is theirs.
            if site.database is not None and not isinstance(exc, SiteExists):
                for leftover in (site.database, site.database.with_name(site.database.name + ".wal")):
                    with contextlib.suppress(OSError):
                        leftover.unlink(missing_ok=True)
            remove_made(created)  # the secret file, then the folders made for it
            raise
        return cs

    # ---------------------------------------------------------------------------------------------- operations

    # AccountService
    login = _forward("accounts", AccountService.login)
    add_user = _forward("accounts", AccountService.add_user)
    reissue_enrolment = _forward("accounts", AccountService.reissue_enrolment)
    enroll = _forward("accounts", AccountService.enroll)
    grant = _forward("accounts", AccountService.grant)
    revoke = _forward("accounts", AccountService.revoke)
    change_password = _forward("accounts", AccountService.change_password)
    rotate_key = _forward("accounts", AccountService.rotate_key)
    deactivate_user = _forward("accounts", AccountService.deactivate_user)
    users = _forward("accounts", AccountService.users)

    # AuditService
    log = _forward("audit", AuditService.log)
    log_entry = _forward("audit", AuditService.log_entry)
    checkpoint = _forward("audit", AuditService.checkpoint)
    latest_checkpoint = _forward("audit", AuditService.latest_checkpoint)
    keys = _forward("audit", AuditService.keys)
    verify = _forward("audit", AuditService.verify)

    # RegistryService
    register_dataset = _forward("registry", RegistryService.register_dataset)
    dataset = _forward("registry", RegistryService.dataset)
    datasets = _forward("registry", RegistryService.datasets)
    use_dataset = _forward("registry", RegistryService.use_dataset)
    edit_datasheet = _forward("registry", RegistryService.edit_datasheet)
    register_model = _forward("registry", RegistryService.register_model)
    model = _forward("registry", RegistryService.model)
    models = _forward("registry", RegistryService.models)
    load_model = _forward("registry", RegistryService.load_model)
    edit_card = _forward("registry", RegistryService.edit_card)

    # LineageService
    lineage = _forward("lineage_service", LineageService.lineage)
    import_openlineage = _forward("lineage_service", LineageService.import_openlineage)

    # GovernanceService
    add_policy = _forward("governance", GovernanceService.add_policy)
    policies = _forward("governance", GovernanceService.policies)
    policy = _forward("governance", GovernanceService.policy)
    policy_diff = _forward("governance", GovernanceService.policy_diff)
    evaluate = _forward("governance", GovernanceService.evaluate)
    monitor = _forward("governance", GovernanceService.monitor)
    evaluation = _forward("governance", GovernanceService.evaluation)
    evaluations = _forward("governance", GovernanceService.evaluations)

    # ReleaseService
    assign_policy = _forward("releases", ReleaseService.assign_policy)
    promote = _forward("releases", ReleaseService.promote)
    reinstate = _forward("releases", ReleaseService.reinstate)
    approve = _forward("releases", ReleaseService.approve)
    reject = _forward("releases", ReleaseService.reject)
    request_changes = _forward("releases", ReleaseService.request_changes)
    answer = _forward("releases", ReleaseService.answer)
    comment = _forward("releases", ReleaseService.comment)
    review = _forward("releases", ReleaseService.review)
    suspend = _forward("releases", ReleaseService.suspend)
    stages = _forward("releases", ReleaseService.stages)

    # InboxService
    requests = _forward("inbox_service", InboxService.requests)
    inbox = _forward("inbox_service", InboxService.inbox)

    # WaiverService
    waive = _forward("waivers_service", WaiverService.waive)
    revoke_waiver = _forward("waivers_service", WaiverService.revoke_waiver)
    waivers = _forward("waivers_service", WaiverService.waivers)

    # HistoryService
    history = _forward("history_service", HistoryService.history)

    # InventoryService
    inventory = _forward("inventory_service", InventoryService.inventory)
    version_stages = _forward("inventory_service", InventoryService.version_stages)
    request_detail = _forward("inventory_service", InventoryService.request_detail)

    # ReportService
    report = _forward("reports", ReportService.report)

    # CardExportService
    export_card = _forward("cards", CardExportService.export_card)

    # MlflowService
    import_mlflow = _forward("mlflow", MlflowService.import_mlflow)
    mlflow_aliases = _forward("mlflow", MlflowService.mlflow_aliases)
    configure_mlflow_aliases = _forward("mlflow", MlflowService.configure_mlflow_aliases)
    sync_mlflow = _forward("mlflow", MlflowService.sync_mlflow)
    check_mlflow = _forward("mlflow", MlflowService.check_mlflow)


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode("ascii")
