"""Public names of :mod:`core.tlog` (read by lazy_loader and by type checkers)."""

from .canonical import canonical_bytes as canonical_bytes
from .canonical import json_string as json_string
from .merkle import (
    HASH_SIZE as HASH_SIZE,
)
from .merkle import (
    CompactRange as CompactRange,
)
from .merkle import (
    MerkleTree as MerkleTree,
)
from .merkle import (
    ProofError as ProofError,
)
from .merkle import (
    leaf_hash as leaf_hash,
)
from .merkle import (
    node_hash as node_hash,
)
from .merkle import (
    root as root,
)
from .merkle import (
    root_from_consistency_proof as root_from_consistency_proof,
)
from .merkle import (
    root_from_inclusion_proof as root_from_inclusion_proof,
)
from .merkle import (
    verify_consistency as verify_consistency,
)
from .merkle import (
    verify_inclusion as verify_inclusion,
)
from .signed_note import (
    Checkpoint as Checkpoint,
)
from .signed_note import (
    CheckpointError as CheckpointError,
)
from .signed_note import (
    NoteError as NoteError,
)
from .signed_note import (
    NoteSigner as NoteSigner,
)
from .signed_note import (
    Verifier as Verifier,
)
from .signed_note import (
    format_checkpoint as format_checkpoint,
)
from .signed_note import (
    key_id as key_id,
)
from .signed_note import (
    open_checkpoint as open_checkpoint,
)
from .signed_note import (
    open_note as open_note,
)
from .signed_note import (
    parse_checkpoint as parse_checkpoint,
)
from .signed_note import (
    parse_verifier_key as parse_verifier_key,
)
from .signed_note import (
    sign_note as sign_note,
)
from .signed_note import (
    verifier_key as verifier_key,
)
