"""Public names of :mod:`core.policy` (read by lazy_loader and by type checkers)."""

from .governance import GovernanceAPI as GovernanceAPI
from .rules import (
    Policy as Policy,
)
from .rules import (
    json_schema as json_schema,
)
from .rules import (
    load_policy_file as load_policy_file,
)
from .rules import (
    parse_policy as parse_policy,
)
from .rules import (
    schema_text as schema_text,
)
