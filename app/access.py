"""Which pages a signed-in user may open: questions to core, never role names.

Core holds the one role table (:data:`core.identity.roles.PERMISSIONS`) and answers through the session
(:meth:`core.identity.users.Session.can`); the app asks the same questions with the session whose roles are the
database's now (:func:`app.session.acting`), so a page shows what core will allow. Each page names the permissions
that open it (any one of them; ``None``: everyone signed in who holds a role). Core still checks every action
itself, inside its transaction, whatever the app shows or hides.

This module needs no Streamlit: the router (``app/main.py``) and the tests read the same table.
"""

from __future__ import annotations

from core.identity.roles import PERMISSIONS, Permission
from core.identity.users import Session

#: Permissions that open the Approvals page: requesting promotions, deciding them, suspending versions.
APPROVALS_PAGE: tuple[Permission, ...] = (Permission.PROMOTE_REQUEST, Permission.APPROVE, Permission.SUSPEND)

#: page file, title, icon, permissions that open it (any one; None: everyone signed in)
NAVIGATION: list[tuple[str, str, str, tuple[Permission, ...] | None]] = [
    ("inventory.py", "Inventory", ":material/inventory_2:", None),
    ("model_card.py", "Model card", ":material/description:", None),
    ("lineage.py", "Lineage", ":material/account_tree:", None),
    ("approvals.py", "Approvals", ":material/approval:", APPROVALS_PAGE),
    ("policies.py", "Policies", ":material/policy:", None),
    ("audit_log.py", "Audit log", ":material/receipt_long:", None),
    ("reports.py", "Reports", ":material/summarize:", (Permission.REPORT,)),
    ("users.py", "Users", ":material/group:", None),  # user managers manage users; everyone changes their password
]


def permissions_of(file: str) -> tuple[Permission, ...] | None:
    """The permissions that open ``file`` (any one of them), or ``None`` when every signed-in user may."""
    return next(needed for f, _t, _i, needed in NAVIGATION if f == file)


def allowed(file: str, user: Session | None) -> bool:
    """Whether ``user`` (signed in, holding a role) may open the page ``file``."""
    if user is None or not user.roles:
        return False
    needed = permissions_of(file)
    return needed is None or any(user.can(p) for p in needed)


def roles_for(file: str) -> list[str]:
    """The roles that open ``file``, read from core's table (for the words of a refusal), sorted."""
    needed = permissions_of(file)
    return sorted({str(role) for p in needed or () for role in PERMISSIONS[p]})


def manages_users(user: Session | None) -> bool:
    """Whether ``user`` administers users (the Users page; everyone else sees "Your account")."""
    return user is not None and user.can(Permission.USER_MANAGE)
