"""Public names of :mod:`core.ledger` (read by lazy_loader and by type checkers)."""

from . import parallel as parallel, service_key as service_key, verify_entries as verify_entries
from .chain import (
    SERVICE_ACTIONS as SERVICE_ACTIONS,
    ZERO_HASH as ZERO_HASH,
    Event as Event,
    Ledger as Ledger,
    Signer as Signer,
    decode_row as decode_row,
    payload_of as payload_of,
    utc_now as utc_now,
)
from .checkpoints import write_checkpoint as write_checkpoint
from .verify import VerifyReport as VerifyReport, verify_ledger as verify_ledger
