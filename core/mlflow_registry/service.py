""":class:`MlflowService`, composed into :class:`core.api.countersign.Countersign`: the MLflow operations."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import CountersignError
from core.identity.roles import Permission
from core.identity.users import Session
from core.mlflow_registry import aliases, check, importer

if TYPE_CHECKING:
    from core.api.context import Context
    from core.catalog.registry import RegistryService
    from core.releases.promotions import ReleaseService

__all__ = ["MlflowService"]


class MlflowService:
    """Import from MLflow, govern its aliases, find drift (see :mod:`core.mlflow_registry`)."""

    def __init__(self, ctx: Context, registry: RegistryService, releases: ReleaseService) -> None:
        self._ctx = ctx
        self._registry = registry
        self._releases = releases
        releases.after_release.append(self._follow)

    def import_mlflow(self, session: Session, tracking_uri: str, *, model: str | None = None,
                      data_root: str | Path | None = None, trust_pickle: bool = False) -> dict[str, Any]:
        """See :func:`core.mlflow_registry.importer.import_registry`."""
        return importer.import_registry(self._ctx, self._registry, session, tracking_uri, model=model,
                                        data_root=data_root, trust_pickle=trust_pickle)

    def mlflow_aliases(self, session: Session) -> dict[str, str]:
        """The configured ``stage → MLflow alias`` map."""
        return self._ctx.act(session, Permission.READ, "mlflow:aliases", lambda tx, _role: aliases.alias_map(tx))

    def configure_mlflow_aliases(self, session: Session, mapping: Mapping[str, str]) -> dict[str, Any]:
        """See :func:`core.mlflow_registry.aliases.configure_aliases`."""
        return aliases.configure_aliases(self._ctx, session, mapping)

    def sync_mlflow(self, session: Session, model_name: str | None = None) -> list[dict[str, Any]]:
        """See :func:`core.mlflow_registry.aliases.apply_aliases`."""
        return aliases.apply_aliases(self._ctx, session, model_name)

    def check_mlflow(self, session: Session) -> dict[str, Any]:
        """See :func:`core.mlflow_registry.check.check_aliases`."""
        return check.check_aliases(self._ctx, self._releases, session)

    def _follow(self, session: Session, model_name: str) -> dict[str, Any]:
        """After a promotion completed or a version was suspended: MLflow's aliases follow (never undoing it)."""
        try:
            changes = aliases.apply_aliases(self._ctx, session, model_name)
        except CountersignError as failed:
            return {"mlflow_error": f"{failed.message}; the decision stands: MLflow's aliases did not follow (run "
                                    "'countersign mlflow sync' once the cause is fixed)"}
        return {"mlflow": changes} if changes else {}
