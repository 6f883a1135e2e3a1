"""Public names of :mod:`core.identity` (read by lazy_loader and by type checkers)."""

from . import keys as keys
from .roles import (
    PERMISSIONS as PERMISSIONS,
    Permission as Permission,
    Role as Role,
    acting_role as acting_role,
    exclusive_conflict as exclusive_conflict,
    parse_role as parse_role,
)
from .users import (
    USERNAME_RE as USERNAME_RE,
    Session as Session,
    open_session as open_session,
    validate_password as validate_password,
    validate_username as validate_username,
)
from .web_sessions import WebSessions as WebSessions
