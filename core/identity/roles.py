"""Roles and the permission table: which roles may perform which action.

Roles (issue 2):

* ``admin`` — manages users and roles; approves nothing: the role is exclusive of the approving roles, and nobody
  grants or revokes their own roles;
* ``data_scientist`` — registers data and models, runs evaluations, requests promotions;
* ``ml_lead`` and ``compliance_officer`` — approve or reject promotions; compliance officers also manage policies
  and waivers;
* ``auditor`` — reads and exports everything, changes nothing.

Every permission is checked by :meth:`core.api.context.Context.act` inside the transaction that acts, whatever a
front end shows or hides; front ends ask :meth:`core.identity.users.Session.can` to decide what to show.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DATA_SCIENTIST = "data_scientist"
    ML_LEAD = "ml_lead"
    COMPLIANCE_OFFICER = "compliance_officer"
    AUDITOR = "auditor"


ALL_ROLES: tuple[str, ...] = tuple(r.value for r in Role)


class Permission(StrEnum):
    USER_MANAGE = "user.manage"
    READ = "read"
    CHECKPOINT = "ledger.checkpoint"
    DATA_REGISTER = "dataset.register"
    MODEL_REGISTER = "model.register"
    DATASHEET_EDIT = "dataset.datasheet.edit"
    CARD_EDIT = "model.card.edit"
    LINEAGE_IMPORT = "lineage.import"
    POLICY_MANAGE = "policy.manage"
    EVALUATE = "model.evaluate"
    PROMOTE_REQUEST = "model.promote.request"
    APPROVE = "promotion.decide"
    WAIVE = "waiver.manage"
    SUSPEND = "model.suspend"
    POLICY_ASSIGN = "policy.assign"
    MONITOR = "model.monitor"
    REPORT = "report.export"
    MLFLOW_SYNC = "mlflow.sync"
    MLFLOW_CHECK = "mlflow.check"


#: Roles allowed for each permission, in the order used to pick the role an actor "acts in".
PERMISSIONS: dict[Permission, tuple[str, ...]] = {
    Permission.USER_MANAGE: (Role.ADMIN,),
    Permission.READ: ALL_ROLES,
    Permission.CHECKPOINT: ALL_ROLES,
    Permission.DATA_REGISTER: (Role.DATA_SCIENTIST,),
    Permission.MODEL_REGISTER: (Role.DATA_SCIENTIST,),
    Permission.DATASHEET_EDIT: (Role.DATA_SCIENTIST, Role.COMPLIANCE_OFFICER),
    Permission.CARD_EDIT: (Role.DATA_SCIENTIST, Role.ML_LEAD, Role.COMPLIANCE_OFFICER),
    Permission.LINEAGE_IMPORT: (Role.DATA_SCIENTIST,),
    Permission.POLICY_MANAGE: (Role.COMPLIANCE_OFFICER,),
    Permission.EVALUATE: (Role.DATA_SCIENTIST, Role.ML_LEAD),
    Permission.PROMOTE_REQUEST: (Role.DATA_SCIENTIST, Role.ML_LEAD),
    Permission.APPROVE: (Role.ML_LEAD, Role.COMPLIANCE_OFFICER),
    Permission.WAIVE: (Role.COMPLIANCE_OFFICER,),
    Permission.SUSPEND: (Role.COMPLIANCE_OFFICER, Role.ML_LEAD),
    Permission.POLICY_ASSIGN: (Role.COMPLIANCE_OFFICER,),
    Permission.MONITOR: (Role.DATA_SCIENTIST, Role.ML_LEAD),
    Permission.REPORT: (Role.AUDITOR, Role.COMPLIANCE_OFFICER),
    # making MLflow's aliases follow stages Countersign already decided: those who decide or suspend
    Permission.MLFLOW_SYNC: (Role.ML_LEAD, Role.COMPLIANCE_OFFICER),
    # comparing MLflow's aliases with the ledger (each finding ledgered, the version flagged)
    Permission.MLFLOW_CHECK: (Role.DATA_SCIENTIST, Role.ML_LEAD, Role.COMPLIANCE_OFFICER),
}


#: Roles whose holders decide promotions.
APPROVING_ROLES: tuple[str, ...] = tuple(str(r) for r in PERMISSIONS[Permission.APPROVE])


def exclusive_conflict(roles: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """Why a set of roles may not be held by one person (admin with an approving role), or ``None``."""
    approving = sorted(set(roles) & set(APPROVING_ROLES))
    if Role.ADMIN.value in roles and approving:
        return (f"admin is exclusive of {' and '.join(approving)}: whoever manages users and roles approves nothing "
                "(separation of duties)")
    return None


def parse_role(text: str) -> str:
    """Validate a role name; raise :class:`core.errors.BadInput` naming the valid ones."""
    from core.errors import BadInput

    if text not in ALL_ROLES:
        raise BadInput(f"unknown role {text!r}; roles are: {', '.join(ALL_ROLES)}")
    return text


def acting_role(held: tuple[str, ...] | list[str], permission: Permission) -> str | None:
    """The role under which a holder of ``held`` may exercise ``permission`` (``None`` if none)."""
    for role in PERMISSIONS[permission]:
        if role in held:
            return role
    return None
