"""Public names of :mod:`core.policy` (read by lazy_loader and by type checkers)."""

from .governance import GovernanceService as GovernanceService
from .rules import (
    Policy as Policy,
    json_schema as json_schema,
    load_policy_file as load_policy_file,
    parse_policy as parse_policy,
    schema_text as schema_text,
)
