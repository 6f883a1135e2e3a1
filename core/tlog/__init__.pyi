"""Public names of :mod:`core.tlog` (read by lazy_loader and by type checkers)."""

from . import ed25519 as ed25519
from .canonical import canonical_bytes as canonical_bytes, json_string as json_string
from .merkle import (
    HASH_SIZE as HASH_SIZE,
    CompactRange as CompactRange,
    MerkleTree as MerkleTree,
    ProofError as ProofError,
    leaf_hash as leaf_hash,
    node_hash as node_hash,
    root as root,
    root_from_consistency_proof as root_from_consistency_proof,
    root_from_inclusion_proof as root_from_inclusion_proof,
    verify_consistency as verify_consistency,
    verify_inclusion as verify_inclusion,
)
from .signed_note import (
    Checkpoint as Checkpoint,
    CheckpointError as CheckpointError,
    NoteError as NoteError,
    NoteSigner as NoteSigner,
    Verifier as Verifier,
    format_checkpoint as format_checkpoint,
    key_id as key_id,
    open_checkpoint as open_checkpoint,
    open_note as open_note,
    parse_checkpoint as parse_checkpoint,
    parse_verifier_key as parse_verifier_key,
    sign_note as sign_note,
    verifier_key as verifier_key,
)
