"""RFC 6962 / RFC 9162 Merkle trees against published vectors and the known traps.

Vectors: the 196 transparency-dev probes (tests/vectors/rfc6962/) and the 8-leaf tree of
tests/vectors/README.md.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter

import pytest

from audit.errors import (
    ConsistencyProofError,
    InclusionProofError,
    MerkleError,
    TreeRangeError,
)
from audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from tests.audit.vectors import (
    STANDARD_LEAVES,
    STANDARD_ROOTS,
    ConsistencyProbe,
    InclusionProbe,
    load_consistency_probes,
    load_inclusion_probes,
)

INCLUSION = load_inclusion_probes()
CONSISTENCY = load_consistency_probes()
LEAF_HASHES = [leaf_hash(d) for d in STANDARD_LEAVES]


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


# --- the probe suite --------------------------------------------------------------------------


def test_probe_suite_is_complete() -> None:
    """The loops below must not pass vacuously: all 196 probes, both kinds, both outcomes."""
    assert len(INCLUSION) + len(CONSISTENCY) == 196
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98
    outcomes = Counter([p.want_err for p in INCLUSION] + [p.want_err for p in CONSISTENCY])
    assert outcomes == {True: 184, False: 12}


@pytest.mark.parametrize("probe", INCLUSION, ids=lambda p: p.path)
def test_inclusion_probe(probe: InclusionProbe) -> None:
    def verify() -> None:
        verify_inclusion(
            leaf_hash=probe.leaf_hash,
            index=probe.index,
            size=probe.size,
            proof=probe.proof,
            root=probe.root,
        )

    if probe.want_err:
        with pytest.raises(InclusionProofError) as caught:
            verify()
        assert caught.value.index == probe.index
        assert caught.value.size == probe.size
    else:
        verify()


@pytest.mark.parametrize("probe", CONSISTENCY, ids=lambda p: p.path)
def test_consistency_probe(probe: ConsistencyProbe) -> None:
    def verify() -> None:
        verify_consistency(
            size1=probe.size1,
            size2=probe.size2,
            root1=probe.root1,
            root2=probe.root2,
            proof=probe.proof,
        )

    if probe.want_err:
        with pytest.raises(ConsistencyProofError) as caught:
            verify()
        assert (caught.value.size1, caught.value.size2) == (probe.size1, probe.size2)
    else:
        verify()


HAPPY_INCLUSION = [p for p in INCLUSION if not p.want_err and p.size <= 8 and p.size > 1]
HAPPY_CONSISTENCY = [p for p in CONSISTENCY if not p.want_err and p.size2 <= 8 and p.proof]


def test_happy_probes_are_over_the_standard_tree() -> None:
    # The generation tests below rely on these probes; make sure they exist.
    assert len(HAPPY_INCLUSION) >= 3
    assert len(HAPPY_CONSISTENCY) >= 3
    for p in HAPPY_INCLUSION:
        assert p.root == STANDARD_ROOTS[p.size]
    for c in HAPPY_CONSISTENCY:
        assert (c.root1, c.root2) == (STANDARD_ROOTS[c.size1], STANDARD_ROOTS[c.size2])


@pytest.mark.parametrize("probe", HAPPY_INCLUSION, ids=lambda p: p.path)
def test_generated_inclusion_proof_equals_probe(probe: InclusionProbe) -> None:
    assert LEAF_HASHES[probe.index] == probe.leaf_hash
    assert inclusion_proof(LEAF_HASHES, index=probe.index, size=probe.size) == probe.proof


@pytest.mark.parametrize("probe", HAPPY_CONSISTENCY, ids=lambda p: p.path)
def test_generated_consistency_proof_equals_probe(probe: ConsistencyProbe) -> None:
    assert consistency_proof(LEAF_HASHES, m=probe.size1, n=probe.size2) == probe.proof


# --- hashing and roots (tests/vectors/README.md) ----------------------------------------------


def test_hasher_checks() -> None:
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(9))
def test_standard_tree_roots(size: int) -> None:
    assert root(LEAF_HASHES[:size]) == STANDARD_ROOTS[size]


@pytest.mark.parametrize("size", range(1, 9))
def test_every_standard_leaf_is_included(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(LEAF_HASHES, index=index, size=size)
        verify_inclusion(
            leaf_hash=LEAF_HASHES[index],
            index=index,
            size=size,
            proof=proof,
            root=STANDARD_ROOTS[size],
        )


@pytest.mark.parametrize("n", range(1, 9))
def test_every_standard_prefix_is_consistent(n: int) -> None:
    for m in range(1, n + 1):
        proof = consistency_proof(LEAF_HASHES, m=m, n=n)
        verify_consistency(
            size1=m, size2=n, root1=STANDARD_ROOTS[m], root2=STANDARD_ROOTS[n], proof=proof
        )


def test_root_refuses_hashes_that_are_not_32_bytes() -> None:
    with pytest.raises(MerkleError, match="leaf hash 1 is 31 bytes, want 32"):
        root([LEAF_HASHES[0], LEAF_HASHES[1][:31]])


# --- the known traps (audit-log.md) -----------------------------------------------------------


def test_consistency_from_size_zero_is_an_error_even_with_the_empty_root() -> None:
    for size2 in (0, 1, 8):
        with pytest.raises(ConsistencyProofError, match="empty tree"):
            verify_consistency(
                size1=0, size2=size2, root1=EMPTY_ROOT, root2=STANDARD_ROOTS[size2], proof=[]
            )
    with pytest.raises(TreeRangeError):
        consistency_proof(LEAF_HASHES, m=0, n=8)


def test_consistency_sn_zero_check_rejects_a_proof_that_stops_early() -> None:
    # 6 -> 8: the full proof has 3 hashes. Dropping the last one leaves the root-side
    # computation unfinished: without the final "sn is 0" check the verifier would compare
    # intermediate values; with it the proof fails for being short.
    proof = consistency_proof(LEAF_HASHES, m=6, n=8)
    assert len(proof) == 3
    with pytest.raises(ConsistencyProofError, match="too few"):
        verify_consistency(
            size1=6, size2=8, root1=STANDARD_ROOTS[6], root2=STANDARD_ROOTS[8], proof=proof[:-1]
        )


@pytest.mark.parametrize(
    ("garbage", "where"),
    [(b"", "front"), (b"", "back"), (STANDARD_ROOTS[8], "front"), (STANDARD_ROOTS[8], "back")],
)
def test_garbage_around_an_inclusion_proof_fails(garbage: bytes, where: str) -> None:
    proof = inclusion_proof(LEAF_HASHES, index=5, size=8)
    tampered = [garbage, *proof] if where == "front" else [*proof, garbage]
    with pytest.raises(InclusionProofError):
        verify_inclusion(
            leaf_hash=LEAF_HASHES[5], index=5, size=8, proof=tampered, root=STANDARD_ROOTS[8]
        )


@pytest.mark.parametrize(
    ("garbage", "where"),
    [(b"", "front"), (b"", "back"), (STANDARD_ROOTS[3], "front"), (STANDARD_ROOTS[8], "back")],
)
def test_garbage_around_a_consistency_proof_fails(garbage: bytes, where: str) -> None:
    proof = consistency_proof(LEAF_HASHES, m=3, n=8)
    tampered = [garbage, *proof] if where == "front" else [*proof, garbage]
    with pytest.raises(ConsistencyProofError):
        verify_consistency(
            size1=3, size2=8, root1=STANDARD_ROOTS[3], root2=STANDARD_ROOTS[8], proof=tampered
        )


def test_precise_inclusion_messages() -> None:
    proof = inclusion_proof(LEAF_HASHES, index=2, size=8)

    def check(message: str, *, proof: list[bytes], expected: bytes = STANDARD_ROOTS[8]) -> None:
        with pytest.raises(InclusionProofError, match=message):
            verify_inclusion(leaf_hash=LEAF_HASHES[2], index=2, size=8, proof=proof, root=expected)

    check("proof has 4 hashes, but this leaf needs only 3", proof=[*proof, proof[0]])
    check("proof has 2 hashes, too few", proof=proof[:2])
    check("proof hash 1 is 33 bytes", proof=[proof[0], proof[1] + b"\x00", proof[2]])
    check("differs from the expected root", proof=proof, expected=STANDARD_ROOTS[7])
    check("root hash is 0 bytes", proof=proof, expected=b"")
    with pytest.raises(InclusionProofError, match="leaf index -1 is not in a tree of size 8"):
        root_from_inclusion(leaf_hash=LEAF_HASHES[2], index=-1, size=8, proof=proof)
    with pytest.raises(InclusionProofError, match="leaf hash is 31 bytes"):
        root_from_inclusion(leaf_hash=LEAF_HASHES[2][:31], index=2, size=8, proof=proof)


def test_root_from_inclusion_returns_the_root() -> None:
    proof = inclusion_proof(LEAF_HASHES, index=6, size=7)
    assert (
        root_from_inclusion(leaf_hash=LEAF_HASHES[6], index=6, size=7, proof=proof)
        == (STANDARD_ROOTS[7])
    )


def test_precise_consistency_messages() -> None:
    proof = consistency_proof(LEAF_HASHES, m=3, n=7)
    r3, r7 = STANDARD_ROOTS[3], STANDARD_ROOTS[7]
    with pytest.raises(ConsistencyProofError, match="tree size 3 cannot follow tree size 7"):
        verify_consistency(size1=7, size2=3, root1=r7, root2=r3, proof=proof)
    with pytest.raises(ConsistencyProofError, match="sizes are equal, so the proof must be empty"):
        verify_consistency(size1=7, size2=7, root1=r7, root2=r7, proof=[r7])
    with pytest.raises(ConsistencyProofError, match="sizes are equal but the roots differ"):
        verify_consistency(size1=7, size2=7, root1=r7, root2=r3, proof=[])
    with pytest.raises(ConsistencyProofError, match="empty proof"):
        verify_consistency(size1=3, size2=7, root1=r3, root2=r7, proof=[])
    with pytest.raises(ConsistencyProofError, match="more hashes than these sizes need"):
        verify_consistency(size1=3, size2=7, root1=r3, root2=r7, proof=[*proof, r3])
    with pytest.raises(ConsistencyProofError, match="differs from root1"):
        verify_consistency(size1=3, size2=7, root1=STANDARD_ROOTS[2], root2=r7, proof=proof)
    with pytest.raises(ConsistencyProofError, match="differs from root2"):
        verify_consistency(size1=3, size2=7, root1=r3, root2=STANDARD_ROOTS[8], proof=proof)
    with pytest.raises(ConsistencyProofError, match="root2 is 31 bytes"):
        verify_consistency(size1=3, size2=7, root1=r3, root2=r7[:31], proof=proof)


def test_equal_sizes_verify_without_a_proof() -> None:
    verify_consistency(size1=5, size2=5, root1=STANDARD_ROOTS[5], root2=STANDARD_ROOTS[5], proof=[])
    assert consistency_proof(LEAF_HASHES, m=5, n=5) == []


@pytest.mark.parametrize(("index", "size"), [(0, 0), (8, 8), (-1, 4), (0, 9)])
def test_inclusion_proof_generation_refuses_impossible_requests(index: int, size: int) -> None:
    with pytest.raises(TreeRangeError):
        inclusion_proof(LEAF_HASHES, index=index, size=size)


@pytest.mark.parametrize(("m", "n"), [(0, 0), (0, 3), (4, 3), (-1, 3), (3, 9)])
def test_consistency_proof_generation_refuses_impossible_requests(m: int, n: int) -> None:
    with pytest.raises(TreeRangeError):
        consistency_proof(LEAF_HASHES, m=m, n=n)


def test_a_source_returning_a_bad_hash_is_refused() -> None:
    with pytest.raises(MerkleError, match=r"hash source returned 3 bytes for node \(level 0"):
        inclusion_proof(lambda level, index: b"bad", index=0, size=2)
