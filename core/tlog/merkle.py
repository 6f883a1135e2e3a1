"""RFC 6962 / RFC 9162 Merkle hash trees: tree heads, inclusion and consistency proofs.

This module implements the Merkle Tree Hash (MTH) of RFC 9162 §2.1.1 (identical to RFC 6962 §2.1) with
SHA-256, the inclusion-proof (RFC 9162 §2.1.3) and consistency-proof (RFC 9162 §2.1.4) generation and
verification algorithms, and a compact range (a.k.a. Merkle frontier / accumulator) that lets a verifier
stream leaves and read the tree head at every size.

All tree-building APIs take **leaf hashes** (32-byte ``bytes``), i.e. the output of :func:`leaf_hash`, not raw
entries.  Sizes and indices are plain Python ``int`` (RFC 9162 uses 64-bit unsigned integers).

Verification errors raise :class:`ProofError` (a :class:`ValueError`); generation APIs raise
:class:`ValueError` for out-of-range arguments.

Only the standard library is imported so the module can be vendored into a standalone verifier.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleTree",
    "ProofError",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Size in bytes of a SHA-256 hash, and therefore of every leaf hash, node hash and root."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""MTH({}) = SHA-256() — the root of the empty tree (RFC 9162 §2.1.1)."""


class ProofError(ValueError):
    """A proof or its parameters failed verification (RFC 9162 §2.1.3.2 and §2.1.4.2)."""


# ----------------------------------------------------------------------------------------------------
# Hashing primitives (RFC 9162 §2.1.1)
# ----------------------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Return the leaf hash MTH({d(0)}) = SHA-256(0x00 || d(0)) of one entry (RFC 9162 §2.1.1)."""
    return _sha256(_LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash SHA-256(0x01 || left || right) (RFC 9162 §2.1.1)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(value: object, what: str, error: type[ValueError] = ValueError) -> bytes:
    """Return ``value`` as ``bytes`` if it is a 32-byte hash, else raise ``error``."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise error(f"{what} must be bytes, got {type(value).__name__}")
    value = bytes(value)
    if len(value) != HASH_SIZE:
        raise error(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")
    return value


def _check_int(value: object, what: str, error: type[ValueError] = ValueError) -> int:
    """Return ``value`` if it is a non-negative ``int`` (``bool`` rejected), else raise ``error``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{what} must be an int, got {type(value).__name__}")
    if value < 0:
        raise error(f"{what} must be non-negative, got {value}")
    return value


def _check_leaves(leaf_hashes: Iterable[bytes]) -> list[bytes]:
    """Return the leaf hashes as a new list of 32-byte ``bytes``, raising ValueError on a malformed one."""
    level = list(leaf_hashes)
    if not all(type(h) is bytes and len(h) == HASH_SIZE for h in level):  # fast path for the common case
        level = [_check_hash(h, f"leaf hash {i}") for i, h in enumerate(level)]
    return level


def _largest_power_of_two_below(n: int) -> int:
    """Return k, the largest power of two smaller than ``n`` (requires n > 1; RFC 9162 §2.1.1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash MTH(D[n]) of a list of leaf hashes (RFC 9162 §2.1.1).

    The tree is hashed level by level: pairs of adjacent nodes are combined and an unpaired last node is
    promoted unchanged to the next level, which yields exactly the recursive MTH definition (split at the
    largest power of two smaller than n).  The empty list hashes to :data:`EMPTY_ROOT`.
    """
    level = _check_leaves(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha256, prefix = _sha256, _NODE_PREFIX
    while len(level) > 1:
        paired = [sha256(prefix + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


# ----------------------------------------------------------------------------------------------------
# Compact range (Merkle frontier)
# ----------------------------------------------------------------------------------------------------


class CompactRange:
    """An append-only Merkle frontier: the roots of the perfect subtrees that make up the tree [0, size).

    It holds one hash per set bit of ``size`` (largest subtree first), so appending is amortised O(1) and
    :meth:`root` costs at most ``log2(size)`` hashes.  The root is the MTH of RFC 9162 §2.1.1 for the current
    size: the perfect subtrees are exactly the left children the recursive definition splits off.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        """Create the compact range of the empty tree."""
        self._hashes: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def __len__(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash (32 bytes) to the right edge of the tree."""
        h = leaf_hash
        if type(h) is not bytes or len(h) != HASH_SIZE:
            h = _check_hash(h, "leaf hash")
        hashes = self._hashes
        size = self._size
        sha256, prefix = _sha256, _NODE_PREFIX
        while size & 1:
            h = sha256(prefix + hashes.pop() + h).digest()
            size >>= 1
        hashes.append(h)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append several leaf hashes in order."""
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """Return MTH(D[size]) for the current size (RFC 9162 §2.1.1) in O(log size) hashes."""
        if not self._hashes:
            return EMPTY_ROOT
        h = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            h = node_hash(left, h)
        return h

    def to_list(self) -> list[bytes]:
        """Return the frontier hashes (largest perfect subtree first) to persist next to :attr:`size`."""
        return list(self._hashes)

    @classmethod
    def from_list(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Rebuild a compact range from :attr:`size` and :meth:`to_list` output.

        Raises ValueError if the number of hashes is not the number of set bits of ``size``.
        """
        size = _check_int(size, "size")
        checked = [_check_hash(h, f"frontier hash {i}") for i, h in enumerate(hashes)]
        if len(checked) != size.bit_count():
            raise ValueError(f"a compact range of size {size} has {size.bit_count()} hashes, got {len(checked)}")
        cr = cls()
        cr._hashes = checked
        cr._size = size
        return cr

    def copy(self) -> CompactRange:
        """Return an independent copy."""
        return CompactRange.from_list(self._size, self._hashes)

    def __eq__(self, other: object) -> bool:
        """Two compact ranges are equal if they have the same size and frontier."""
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        """Debug representation."""
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


# ----------------------------------------------------------------------------------------------------
# Full tree with proof generation
# ----------------------------------------------------------------------------------------------------


class MerkleTree:
    """All levels of the Merkle tree over ``n`` leaf hashes, answering queries for any tree size m <= n.

    ``levels[k][i]`` is the hash of the perfect subtree over leaves ``[i * 2**k, (i + 1) * 2**k)``; only
    complete subtrees are stored, so memory is about ``2n`` hashes.  Any MTH needed for a tree of size m is
    the right fold of at most ``log2(m)`` stored perfect subtrees (the ragged right edge), so
    :meth:`root_at`, :meth:`inclusion_proof` and :meth:`consistency_proof` each cost O(log n) hash
    operations.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        """Build every level of complete subtrees from the given leaf hashes (each 32 bytes)."""
        level = _check_leaves(leaf_hashes)
        levels = [level]
        sha256, prefix = _sha256, _NODE_PREFIX
        while len(level) > 1:
            level = [sha256(prefix + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
            levels.append(level)
        self._levels: list[list[bytes]] = levels

    @property
    def size(self) -> int:
        """Number of leaves n in the tree."""
        return len(self._levels[0])

    def __len__(self) -> int:
        """Number of leaves n in the tree."""
        return len(self._levels[0])

    def leaf(self, index: int) -> bytes:
        """Return the leaf hash at ``index``."""
        index = _check_int(index, "index")
        if index >= self.size:
            raise ValueError(f"index {index} out of range for a tree of {self.size} leaves")
        return self._levels[0][index]

    def root(self) -> bytes:
        """Return MTH(D[n]) of the whole tree."""
        return self.root_at(self.size)

    def _check_size(self, m: object, what: str = "tree size") -> int:
        m = _check_int(m, what)
        if m > self.size:
            raise ValueError(f"{what} {m} exceeds the {self.size} leaves of this tree")
        return m

    def _range_hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for 0 <= lo < hi, lo aligned to the largest power of two <= hi - lo.

        The range is split into perfect subtrees of decreasing size (the binary decomposition of hi - lo),
        each read from the stored levels, and folded right to left as the recursive MTH definition does.
        """
        levels = self._levels
        pieces: list[bytes] = []
        pos, remaining = lo, hi - lo
        while remaining:
            k = remaining.bit_length() - 1
            pieces.append(levels[k][pos >> k])
            pos += 1 << k
            remaining -= 1 << k
        h = pieces[-1]
        for left in reversed(pieces[:-1]):
            h = node_hash(left, h)
        return h

    def root_at(self, m: int) -> bytes:
        """Return MTH(D[0:m]), the tree head at size m (0 <= m <= n), in O(log m) hashes (RFC 9162 §2.1.1)."""
        m = self._check_size(m)
        if m == 0:
            return EMPTY_ROOT
        return self._range_hash(0, m)

    def inclusion_proof(self, index: int, m: int) -> list[bytes]:
        """Return PATH(index, D[0:m]), the audit path of leaf ``index`` in the tree of size m.

        RFC 9162 §2.1.3.1.  Elements are ordered from the leaf's sibling up to the child of the root.
        Requires 0 <= index < m <= n, else ValueError.
        """
        m = self._check_size(m)
        index = _check_int(index, "index")
        if index >= m:
            raise ValueError(f"index {index} out of range for tree size {m}")
        siblings: list[bytes] = []  # collected root-side first
        lo, hi = 0, m
        while hi - lo > 1:
            mid = lo + _largest_power_of_two_below(hi - lo)
            if index < mid:  # PATH(m, D[0:k]) : MTH(D[k:n])
                siblings.append(self._range_hash(mid, hi))
                hi = mid
            else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
                siblings.append(self._range_hash(lo, mid))
                lo = mid
        siblings.reverse()
        return siblings

    def consistency_proof(self, m1: int, m2: int) -> list[bytes]:
        """Return PROOF(m1, D[0:m2]) = SUBPROOF(m1, D[0:m2], true) (RFC 9162 §2.1.4.1).

        Requires 1 <= m1 <= m2 <= n (RFC 9162 §2.1.4 defines proofs for 0 < m1; a proof from the empty tree is
        meaningless and :func:`verify_consistency` rejects it).  The proof for m1 == m2 is empty.
        """
        m2 = self._check_size(m2, "size2")
        m1 = _check_int(m1, "size1")
        if m1 == 0:
            raise ValueError("consistency proofs from the empty tree (size1 == 0) are not defined")
        if m1 > m2:
            raise ValueError(f"size1 {m1} > size2 {m2}")
        nodes: list[bytes] = []  # collected root-side first
        lo, hi, m, whole = 0, m2, m1, True
        while True:
            n = hi - lo
            if m == n:
                if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
                    nodes.append(self._range_hash(lo, hi))
                break
            k = _largest_power_of_two_below(n)
            if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
                nodes.append(self._range_hash(lo + k, hi))
                hi = lo + k
            else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
                nodes.append(self._range_hash(lo, lo + k))
                lo += k
                m -= k
                whole = False
        nodes.reverse()
        return nodes


# ----------------------------------------------------------------------------------------------------
# Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)
# ----------------------------------------------------------------------------------------------------


def _check_proof(proof: Sequence[bytes] | None) -> list[bytes]:
    if proof is None:
        return []
    if isinstance(proof, bytes | bytearray | memoryview | str):
        raise ProofError("proof must be a sequence of hashes, not a single byte string")
    return [_check_hash(p, f"proof element {i}", ProofError) for i, p in enumerate(proof)]


def _inclusion_proof_size(index: int, size: int) -> tuple[int, int]:
    """(inner, border) lengths of PATH(index, D[size]), split where the paths to index and size-1 diverge."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _roots_equal(computed: bytes, expected: bytes) -> bool:
    if not isinstance(expected, bytes | bytearray | memoryview):
        raise ProofError(f"root must be bytes, got {type(expected).__name__}")
    return hmac.compare_digest(computed, bytes(expected))


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """Return the root implied by an inclusion proof (RFC 9162 §2.1.3.2, steps 1-5 without the final compare).

    Raises ProofError if 0 <= index < size does not hold, if ``leaf_hash`` or a proof element is not 32 bytes,
    or if the proof does not have exactly the length a tree of this size requires.
    """
    index = _check_int(index, "leaf index", ProofError)
    size = _check_int(size, "tree size", ProofError)
    if index >= size:
        raise ProofError(f"leaf index {index} is not less than tree size {size}")
    r = _check_hash(leaf_hash, "leaf hash", ProofError)
    path = _check_proof(proof)
    want = sum(_inclusion_proof_size(index, size))
    if len(path) != want:
        raise ProofError(f"inclusion proof has {len(path)} hashes, a leaf at {index} in size {size} needs {want}")

    fn, sn = index, size - 1  # step 2
    for p in path:  # step 4
        if sn == 0:  # 4a
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            while fn and not fn & 1:  # if LSB(fn) is not set, shift until it is or fn == 0
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    if sn != 0:  # step 5
        raise ProofError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Verify that ``leaf_hash`` is the leaf at ``index`` of the tree of ``size`` with head ``root``.

    Implements RFC 9162 §2.1.3.2.  Returns None on success; raises ProofError on any failure.
    """
    computed = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if not _roots_equal(computed, root):
        raise ProofError(
            f"inclusion proof for leaf {index} in tree size {size} does not lead to the expected root "
            f"(computed {computed.hex()})"
        )


def root_from_consistency_proof(size1: int, size2: int, root1: bytes, proof: Sequence[bytes]) -> bytes:
    """Check ``proof`` against ``root1`` and return the size2 root it implies (RFC 9162 §2.1.4.2).

    Rules, matching the transparency-dev/merkle test vectors:

    * size1 > size2 fails;
    * size1 == 0 fails: RFC 9162 §2.1.4.2 defines verification for 0 < first only, and a proof from the empty
      tree proves nothing (any tree extends it);
    * size1 == size2 requires an empty proof and returns ``root1`` (the caller compares it with root2);
    * otherwise the proof must be non-empty, have the exact expected length and reproduce ``root1``.
    """
    size1 = _check_int(size1, "size1", ProofError)
    size2 = _check_int(size2, "size2", ProofError)
    path = _check_proof(proof)
    if size1 > size2:
        raise ProofError(f"size1 {size1} is greater than size2 {size2}")
    if size1 == 0:
        raise ProofError("consistency proof from the empty tree (size1 == 0) is meaningless")
    if not isinstance(root1, bytes | bytearray | memoryview):
        raise ProofError(f"root1 must be bytes, got {type(root1).__name__}")
    if size1 == size2:
        if path:
            raise ProofError(f"size1 == size2 == {size1} but the consistency proof is not empty")
        return bytes(root1)
    if not path:  # step 1
        raise ProofError("consistency proof is empty")

    inner, border = _inclusion_proof_size(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    first_is_power_of_two = size1 == 1 << shift
    want = (0 if first_is_power_of_two else 1) + inner - shift + border
    if len(path) != want:
        raise ProofError(f"consistency proof has {len(path)} hashes, sizes {size1} -> {size2} need {want}")

    if first_is_power_of_two:  # step 2
        path = [bytes(root1), *path]
    fn, sn = size1 - 1, size2 - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:  # 6a
            raise ProofError("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:  # if LSB(fn) is not set, shift until it is or fn == 0
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    if sn != 0:  # step 7
        raise ProofError("consistency proof is shorter than the tree is deep")
    if not _roots_equal(fr, root1):
        raise ProofError(f"consistency proof does not reproduce root1 of size {size1} (computed {fr.hex()})")
    return sr


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Verify that the tree of size2 with head root2 extends the tree of size1 with head root1.

    Implements RFC 9162 §2.1.4.2 (see :func:`root_from_consistency_proof` for the edge cases).  Returns None
    on success; raises ProofError on any failure.
    """
    computed = root_from_consistency_proof(size1, size2, root1, proof)
    if not _roots_equal(computed, root2):
        if size1 == size2:
            raise ProofError(f"size1 == size2 == {size1} but root1 != root2")
        raise ProofError(f"consistency proof {size1} -> {size2} does not lead to root2 (computed {computed.hex()})")
