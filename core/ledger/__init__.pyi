"""Public names of :mod:`core.ledger` (read by lazy_loader and by type checkers)."""

from .chain import (
    SERVICE_ACTIONS as SERVICE_ACTIONS,
)
from .chain import (
    ZERO_HASH as ZERO_HASH,
)
from .chain import (
    Event as Event,
)
from .chain import (
    Ledger as Ledger,
)
from .chain import (
    Signer as Signer,
)
from .chain import (
    decode_row as decode_row,
)
from .chain import (
    payload_of as payload_of,
)
from .chain import (
    utc_now as utc_now,
)
from .checkpoints import write_checkpoint as write_checkpoint
from .verify import VerifyReport as VerifyReport
from .verify import verify_ledger as verify_ledger
