"""Public names of :mod:`core.identity` (read by lazy_loader and by type checkers)."""

from .roles import (
    PERMISSIONS as PERMISSIONS,
)
from .roles import (
    Permission as Permission,
)
from .roles import (
    Role as Role,
)
from .roles import (
    acting_role as acting_role,
)
from .roles import (
    exclusive_conflict as exclusive_conflict,
)
from .roles import (
    parse_role as parse_role,
)
from .users import (
    USERNAME_RE as USERNAME_RE,
)
from .users import (
    Session as Session,
)
from .users import (
    open_session as open_session,
)
from .users import (
    validate_password as validate_password,
)
from .users import (
    validate_username as validate_username,
)
from .web_sessions import WebSessions as WebSessions
