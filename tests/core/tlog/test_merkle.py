"""Tests for core.tlog.merkle: RFC 6962 / RFC 9162 §2.1 Merkle trees, proofs and their verification.

The JSON vectors under tests/testvectors/rfc6962 are the transparency-dev/merkle ``testdata`` probes (see the
NOTICE.md there); every one of them is run.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from core.tlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

VECTOR_DIR = Path(__file__).resolve().parents[2] / "testvectors" / "rfc6962"


def _load_vectors(kind: str) -> list[Any]:
    files = sorted((VECTOR_DIR / kind).rglob("*.json"))
    if not files:
        raise RuntimeError(f"no {kind} test vectors found under {VECTOR_DIR / kind}")
    return [
        pytest.param(json.loads(f.read_text(encoding="utf-8")), id=f.relative_to(VECTOR_DIR).as_posix()) for f in files
    ]


INCLUSION_VECTORS = _load_vectors("inclusion")
CONSISTENCY_VECTORS = _load_vectors("consistency")


def _b64(value: str | None) -> bytes:
    """Decode a base64 hash from a vector; JSON null (a Go nil slice) is the empty byte string."""
    return b"" if value is None else base64.b64decode(value, validate=True)


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b64(p) for p in value or []]


def test_vector_counts() -> None:
    assert len(INCLUSION_VECTORS) > 50
    assert len(CONSISTENCY_VECTORS) > 50


@pytest.mark.parametrize("vec", INCLUSION_VECTORS)
def test_inclusion_vector(vec: dict[str, Any]) -> None:
    args = (vec["leafIdx"], vec["treeSize"], _b64(vec["leafHash"]), _proof(vec["proof"]), _b64(vec["root"]))
    if vec["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)
        assert root_from_inclusion_proof(*args[:4]) == args[4]


@pytest.mark.parametrize("vec", CONSISTENCY_VECTORS)
def test_consistency_vector(vec: dict[str, Any]) -> None:
    args = (vec["size1"], vec["size2"], _b64(vec["root1"]), _b64(vec["root2"]), _proof(vec["proof"]))
    if vec["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)
        assert root_from_consistency_proof(args[0], args[1], args[2], args[4]) == args[3]


# ----------------------------------------------------------------------------------------------------
# Reference implementation: the recursive definitions of RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1, verbatim.
# ----------------------------------------------------------------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


# ----------------------------------------------------------------------------------------------------
# Known answers: the RFC 6962 test leaves used by Certificate Transparency / transparency-dev.
# ----------------------------------------------------------------------------------------------------

RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
RFC6962_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # size 0: SHA-256("")
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == RFC6962_ROOTS[0]
    assert leaf_hash(b"").hex() == RFC6962_ROOTS[1]
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) != node_hash(b, a)
    assert leaf_hash(a + b) != node_hash(a, b)  # domain separation (RFC 9162 §2.1.1)


def test_rfc6962_known_roots() -> None:
    hashes = [leaf_hash(x) for x in RFC6962_LEAVES]
    tree = MerkleTree(hashes)
    cr = CompactRange()
    for m in range(9):
        assert root(hashes[:m]).hex() == RFC6962_ROOTS[m]
        assert tree.root_at(m).hex() == RFC6962_ROOTS[m]
        assert MerkleTree(hashes[:m]).root().hex() == RFC6962_ROOTS[m]
        assert cr.size == m
        assert cr.root().hex() == RFC6962_ROOTS[m]
        if m < 8:
            cr.append(hashes[m])
    assert tree.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    # Every consistency and inclusion proof of the 8-leaf tree matches the RFC definitions and verifies.
    for m2 in range(1, 9):
        for m1 in range(1, m2 + 1):
            proof = tree.consistency_proof(m1, m2)
            assert proof == ref_subproof(m1, hashes[:m2], True)
            verify_consistency(m1, m2, tree.root_at(m1), tree.root_at(m2), proof)
        for i in range(m2):
            proof = tree.inclusion_proof(i, m2)
            assert proof == ref_path(i, hashes[:m2])
            verify_inclusion(i, m2, hashes[i], proof, bytes.fromhex(RFC6962_ROOTS[m2]))


def test_vectors_agree_with_generated_proofs() -> None:
    """The happy-path vectors for the 8 RFC 6962 leaves are exactly what MerkleTree produces."""
    hashes = [leaf_hash(x) for x in RFC6962_LEAVES]
    tree = MerkleTree(hashes)
    checked = 0
    for param in INCLUSION_VECTORS + CONSISTENCY_VECTORS:
        vec = param.values[0]
        if vec["wantErr"] or vec["desc"] != "happy path":
            continue
        if "leafIdx" in vec and _b64(vec["root"]) == tree.root_at(vec["treeSize"]):
            assert _proof(vec["proof"]) == tree.inclusion_proof(vec["leafIdx"], vec["treeSize"])
            checked += 1
        elif "size1" in vec and _b64(vec["root2"]) == tree.root_at(vec["size2"]):
            assert _proof(vec["proof"]) == tree.consistency_proof(vec["size1"], vec["size2"])
            checked += 1
    assert checked >= 8


# ----------------------------------------------------------------------------------------------------
# Property tests
# ----------------------------------------------------------------------------------------------------

RNG_SEED = 6962
MAX_SIZE = 300


@pytest.fixture(scope="module")
def leaves() -> list[bytes]:
    rng = random.Random(RNG_SEED)
    return [leaf_hash(rng.randbytes(rng.randrange(0, 40))) for _ in range(MAX_SIZE)]


@pytest.fixture(scope="module")
def big_tree(leaves: list[bytes]) -> MerkleTree:
    return MerkleTree(leaves)


def _sizes() -> list[int]:
    rng = random.Random(RNG_SEED + 1)
    return list(range(1, 40)) + [64, 127, 128, 129, 255, 256, 257, MAX_SIZE] + rng.sample(range(40, MAX_SIZE), 6)


def _flip(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_roots_agree_at_every_size(leaves: list[bytes], big_tree: MerkleTree) -> None:
    cr = CompactRange()
    for m in range(MAX_SIZE + 1):
        expected = ref_mth(leaves[:m])
        assert root(leaves[:m]) == expected
        assert big_tree.root_at(m) == expected
        assert cr.root() == expected
        assert CompactRange.from_list(cr.size, cr.to_list()).root() == expected
        if m < MAX_SIZE:
            cr.append(leaves[m])
    assert cr.size == MAX_SIZE == big_tree.size == len(big_tree)
    assert MerkleTree([]).root() == EMPTY_ROOT == root([])


@pytest.mark.parametrize("size", _sizes())
def test_inclusion_proofs_verify_and_detect_tampering(size: int, leaves: list[bytes], big_tree: MerkleTree) -> None:
    rng = random.Random(size)
    own_tree = MerkleTree(leaves[:size])
    head = own_tree.root()
    assert head == big_tree.root_at(size)
    for i in range(size):
        proof = own_tree.inclusion_proof(i, size)
        assert proof == big_tree.inclusion_proof(i, size)
        if size <= 64:
            assert proof == ref_path(i, leaves[:size])
        verify_inclusion(i, size, leaves[i], proof, head)
        assert root_from_inclusion_proof(i, size, leaves[i], proof) == head
        # One random bit flipped in every proof element, in the leaf and in the root.
        for j in range(len(proof)):
            bad = list(proof)
            bad[j] = _flip(bad[j], rng.randrange(256))
            with pytest.raises(ProofError):
                verify_inclusion(i, size, leaves[i], bad, head)
        with pytest.raises(ProofError):
            verify_inclusion(i, size, _flip(leaves[i], rng.randrange(256)), proof, head)
        with pytest.raises(ProofError):
            verify_inclusion(i, size, leaves[i], proof, _flip(head, rng.randrange(256)))
        # Wrong position or size, truncated / extended proofs.  (A proof checked against a different size but
        # the same root may legitimately pass when both sizes share the proof shape: the root, which a signed
        # checkpoint binds to its size, is what pins the size; so the larger tree's own root is used here.)
        if size < MAX_SIZE:
            with pytest.raises(ProofError):
                verify_inclusion(i, size + 1, leaves[i], proof, big_tree.root_at(size + 1))
        if size > 1:
            with pytest.raises(ProofError):
                verify_inclusion((i + 1) % size, size, leaves[i], proof, head)
        with pytest.raises(ProofError):
            verify_inclusion(i, size, leaves[i], [*proof, head], head)
        if proof:
            with pytest.raises(ProofError):
                verify_inclusion(i, size, leaves[i], proof[:-1], head)


@pytest.mark.parametrize("size2", _sizes())
def test_consistency_proofs_verify_and_detect_tampering(size2: int, leaves: list[bytes], big_tree: MerkleTree) -> None:
    rng = random.Random(-size2)
    root2 = big_tree.root_at(size2)
    for size1 in range(1, size2 + 1):
        root1 = big_tree.root_at(size1)
        proof = big_tree.consistency_proof(size1, size2)
        if size2 <= 64:
            assert proof == ref_subproof(size1, leaves[:size2], True)
        verify_consistency(size1, size2, root1, root2, proof)
        assert root_from_consistency_proof(size1, size2, root1, proof) == root2
        for j in range(len(proof)):
            bad = list(proof)
            bad[j] = _flip(bad[j], rng.randrange(256))
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, root1, root2, bad)
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, _flip(root1, rng.randrange(256)), root2, proof)
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, root1, _flip(root2, rng.randrange(256)), proof)
        if size1 < size2:
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, root2, root1, proof)  # swapped roots
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, root1, root2, [])
            if size2 < MAX_SIZE:
                with pytest.raises(ProofError):
                    verify_consistency(size1, size2 + 1, root1, big_tree.root_at(size2 + 1), proof)
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, root1, root2, proof[:-1])
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, root1, root2, [*proof, root1])


def test_every_bit_of_selected_proofs(big_tree: MerkleTree, leaves: list[bytes]) -> None:
    """Exhaustively flip every bit of every element of a few non-trivial proofs and of the roots."""
    for index, size in [(5, 13), (0, 300), (299, 300), (128, 257)]:
        proof, head = big_tree.inclusion_proof(index, size), big_tree.root_at(size)
        for j, bit in [(j, bit) for j in range(len(proof)) for bit in range(256)] + [(-1, b) for b in range(256)]:
            bad, bad_head = list(proof), head
            if j >= 0:
                bad[j] = _flip(bad[j], bit)
            else:
                bad_head = _flip(head, bit)
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaves[index], bad, bad_head)
    for size1, size2 in [(6, 13), (4, 13), (1, 300), (299, 300), (128, 257)]:
        proof, r1, r2 = (
            big_tree.consistency_proof(size1, size2),
            big_tree.root_at(size1),
            big_tree.root_at(size2),
        )
        for j in range(-2, len(proof)):
            for bit in range(256):
                bad, b1, b2 = list(proof), r1, r2
                if j == -2:
                    b1 = _flip(r1, bit)
                elif j == -1:
                    b2 = _flip(r2, bit)
                else:
                    bad[j] = _flip(bad[j], bit)
                with pytest.raises(ProofError):
                    verify_consistency(size1, size2, b1, b2, bad)


# ----------------------------------------------------------------------------------------------------
# Edge cases and argument validation
# ----------------------------------------------------------------------------------------------------


def test_consistency_edge_cases(big_tree: MerkleTree) -> None:
    r5, r9 = big_tree.root_at(5), big_tree.root_at(9)
    verify_consistency(5, 5, r5, r5, [])
    assert big_tree.consistency_proof(5, 5) == []
    with pytest.raises(ProofError, match="not empty"):
        verify_consistency(5, 5, r5, r5, [r5])
    with pytest.raises(ProofError, match="root1 != root2"):
        verify_consistency(5, 5, r5, r9, [])
    with pytest.raises(ProofError, match="greater"):
        verify_consistency(9, 5, r9, r5, big_tree.consistency_proof(5, 9))
    # A proof from the empty tree is meaningless (RFC 9162 §2.1.4.2 needs 0 < first), even with empty roots.
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 9, EMPTY_ROOT, r9, [])
    with pytest.raises(ProofError, match="empty"):
        verify_consistency(5, 9, r5, r9, [])
    with pytest.raises(ProofError, match="needs|need"):
        verify_consistency(5, 9, r5, r9, [r5])
    with pytest.raises(ProofError, match="32 bytes"):
        verify_consistency(5, 9, r5, r9, [b"short", *big_tree.consistency_proof(5, 9)[1:]])
    with pytest.raises(ProofError):
        verify_consistency(-1, 9, r5, r9, [])
    with pytest.raises(ProofError):
        verify_consistency(5, 9, r5, r9, r5)  # type: ignore[arg-type]  # a bare bytes is not a proof


def test_inclusion_edge_cases(big_tree: MerkleTree, leaves: list[bytes]) -> None:
    r1 = big_tree.root_at(1)
    verify_inclusion(0, 1, leaves[0], [], r1)
    assert r1 == leaves[0]
    with pytest.raises(ProofError, match="not less than"):
        verify_inclusion(1, 1, leaves[0], [], r1)
    with pytest.raises(ProofError, match="not less than"):
        verify_inclusion(0, 0, leaves[0], [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="non-negative"):
        verify_inclusion(-1, 1, leaves[0], [], r1)
    with pytest.raises(ProofError, match="32 bytes"):
        verify_inclusion(0, 1, b"", [], b"")
    with pytest.raises(ProofError, match="int"):
        verify_inclusion(True, 2, leaves[1], big_tree.inclusion_proof(1, 2), big_tree.root_at(2))
    with pytest.raises(ProofError, match="needs"):
        verify_inclusion(0, 2, leaves[0], [], big_tree.root_at(2))
    with pytest.raises(ProofError, match="root must be bytes"):
        verify_inclusion(0, 1, leaves[0], [], None)  # type: ignore[arg-type]
    with pytest.raises(ProofError, match="root1 must be bytes"):
        verify_consistency(1, 1, None, r1, [])  # type: ignore[arg-type]


def test_huge_sizes_are_rejected_cleanly(leaves: list[bytes]) -> None:
    """Sizes beyond 2**63 are plain ints here; wrong-length and wrong-root proofs still fail cleanly."""
    with pytest.raises(ProofError, match="needs 63"):
        verify_inclusion(2**64 - 2, 2**64 - 1, leaves[0], [leaves[1]] * 64, leaves[2])
    with pytest.raises(ProofError, match="expected root"):
        verify_inclusion(2**64 - 2, 2**64 - 1, leaves[0], [leaves[1]] * 63, leaves[2])
    with pytest.raises(ProofError, match="need 1"):
        verify_consistency(2**63, 2**64 - 1, leaves[0], leaves[1], [leaves[2]] * 63)
    with pytest.raises(ProofError, match="root2"):
        verify_consistency(2**63, 2**64 - 1, leaves[0], leaves[1], [leaves[2]])


def test_generation_argument_validation(big_tree: MerkleTree) -> None:
    n = big_tree.size
    for bad_call in [
        lambda: big_tree.root_at(-1),
        lambda: big_tree.root_at(n + 1),
        lambda: big_tree.inclusion_proof(3, 3),
        lambda: big_tree.inclusion_proof(-1, 3),
        lambda: big_tree.inclusion_proof(0, n + 1),
        lambda: big_tree.inclusion_proof(0, 0),
        lambda: big_tree.consistency_proof(0, 5),
        lambda: big_tree.consistency_proof(6, 5),
        lambda: big_tree.consistency_proof(5, n + 1),
        lambda: big_tree.leaf(n),
        lambda: MerkleTree([b"too short"]),
        lambda: root([b"\x00" * 33]),
        lambda: CompactRange().append(b""),
        lambda: CompactRange.from_list(3, [b"\x00" * 32]),
    ]:
        with pytest.raises(ValueError):
            bad_call()


def test_compact_range_persistence(leaves: list[bytes]) -> None:
    cr = CompactRange()
    cr.extend(leaves[:77])
    assert len(cr.to_list()) == bin(77).count("1")
    restored = CompactRange.from_list(77, cr.to_list())
    assert restored == cr
    copy = cr.copy()
    copy.extend(leaves[77:])
    restored.extend(leaves[77:])
    assert copy.root() == restored.root() == root(leaves)
    assert cr.size == 77 and cr.root() == root(leaves[:77])
    assert CompactRange.from_list(0, []).root() == EMPTY_ROOT
