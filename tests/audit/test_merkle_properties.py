"""Property tests: valid proofs verify, any tampering fails, storage-style sources agree.

Trees are random 32-byte leaf hashes (distinct with overwhelming probability). Proofs are
mostly generated over a node dictionary filled by CompactRange.append, exactly as storage
will do, and compared with proofs over the plain list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import (
    ConsistencyProofError,
    InclusionProofError,
    MerkleError,
    TreeRangeError,
)
from audit.merkle import (
    HASH_SIZE,
    CompactRange,
    Node,
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300

hashes32 = st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE)


def _leaves(size: int, seed: bytes) -> list[bytes]:
    # Sizes are drawn uniformly (Hypothesis lists favour short ones); the leaves are
    # pseudo-random, distinct 32-byte hashes derived from a drawn seed.
    return [hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size)]


def trees(min_size: int = 1) -> st.SearchStrategy[list[bytes]]:
    return st.builds(_leaves, st.integers(min_size, MAX_SIZE), st.binary(max_size=8))


class Store:
    """A node table as storage keeps it: (level, index) -> hash, filled by append batches."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.reads = 0
        self.range = CompactRange.empty()

    def append(self, leaf_hashes: list[bytes]) -> None:
        result = self.range.append(leaf_hashes)
        for node in result.new_nodes:
            key = (node.level, node.index)
            assert key not in self.nodes, f"node {key} emitted twice"
            self.nodes[key] = node.hash
        self.range = result.compact_range

    def source(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.nodes[(level, index)]


def _store_of(leaves: list[bytes]) -> Store:
    store = Store()
    store.append(leaves)
    return store


def _flip(proof: list[bytes], element: int, bit: int) -> list[bytes]:
    tampered = list(proof)
    target = bytearray(tampered[element])
    target[bit // 8] ^= 1 << (bit % 8)
    tampered[element] = bytes(target)
    return tampered


# --- inclusion --------------------------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(leaves=trees())
def test_every_leaf_is_included(leaves: list[bytes]) -> None:
    store = _store_of(leaves)
    size = len(leaves)
    expected_root = root(leaves)
    for index in range(size):
        store.reads = 0
        proof = inclusion_proof(store.source, index=index, size=size)
        # O(log n) reads: one per level, plus at most one right-edge range of log n nodes.
        assert store.reads <= 2 * size.bit_length()
        verify_inclusion(
            leaf_hash=leaves[index], index=index, size=size, proof=proof, root=expected_root
        )


@settings(deadline=None)
@given(leaves=trees(), data=st.data())
def test_proofs_over_a_source_equal_proofs_over_the_list(
    leaves: list[bytes], data: st.DataObject
) -> None:
    store = _store_of(leaves)
    n = data.draw(st.integers(1, len(leaves)), label="n")
    index = data.draw(st.integers(0, n - 1), label="index")
    m = data.draw(st.integers(1, n), label="m")
    assert inclusion_proof(store.source, index=index, size=n) == inclusion_proof(
        leaves, index=index, size=n
    )
    assert consistency_proof(store.source, m=m, n=n) == consistency_proof(leaves, m=m, n=n)


@settings(deadline=None)
@given(leaves=trees(min_size=2), data=st.data())
def test_any_tampered_inclusion_proof_fails(leaves: list[bytes], data: st.DataObject) -> None:
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(leaves, index=index, size=size)
    good_root = root(leaves)
    assert proof  # size >= 2, so at least one sibling

    def fails(
        *,
        proof: list[bytes] = proof,
        index: int = index,
        size: int = size,
        expected: bytes = good_root,
        leaf: bytes = leaves[index],
    ) -> None:
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=proof, root=expected)

    element = data.draw(st.integers(0, len(proof) - 1), label="element")
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
    extra = data.draw(hashes32.filter(lambda h: h not in leaves), label="extra")
    fails(proof=_flip(proof, element, bit))
    fails(proof=proof[:-1])
    fails(proof=proof[1:])
    fails(proof=[*proof, extra])
    fails(proof=[extra, *proof])
    fails(leaf=_flip([leaves[index]], 0, bit)[0])
    fails(expected=_flip([good_root], 0, bit)[0])
    wrong_index = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="wi")
    fails(index=wrong_index)
    fails(index=size)
    # A proof for tree size n does not prove inclusion in another tree size n2 (checked
    # against that tree's root, which is what a client holding checkpoint n2 would do).
    other_size = data.draw(st.integers(index + 1, size).filter(lambda s: s != size), label="n2")
    fails(size=other_size, expected=root(leaves[:other_size]))


# --- consistency ------------------------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(leaves=trees())
def test_every_prefix_is_consistent(leaves: list[bytes]) -> None:
    store = _store_of(leaves)
    n = len(leaves)
    # Old roots from stored nodes (checked against root() in the compact range test).
    roots = {m: CompactRange.from_source(m, store.source).root() for m in range(1, n + 1)}
    assert roots[n] == root(leaves)
    for m in range(1, n + 1):
        store.reads = 0
        proof = consistency_proof(store.source, m=m, n=n)
        assert store.reads <= 2 * n.bit_length()
        verify_consistency(size1=m, size2=n, root1=roots[m], root2=roots[n], proof=proof)


@settings(deadline=None)
@given(leaves=trees(min_size=2), data=st.data())
def test_any_tampered_consistency_proof_fails(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    m = data.draw(st.integers(1, n - 1), label="m")
    proof = consistency_proof(leaves, m=m, n=n)
    root1, root2 = root(leaves[:m]), root(leaves)

    def fails(
        *,
        proof: list[bytes] = proof,
        size1: int = m,
        size2: int = n,
        root1: bytes = root1,
        root2: bytes = root2,
    ) -> None:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(size1=size1, size2=size2, root1=root1, root2=root2, proof=proof)

    element = data.draw(st.integers(0, len(proof) - 1), label="element")
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
    extra = data.draw(hashes32.filter(lambda h: h not in leaves), label="extra")
    fails(proof=_flip(proof, element, bit))
    fails(proof=proof[:-1])
    fails(proof=proof[1:])
    fails(proof=[*proof, extra])
    fails(proof=[extra, *proof])
    fails(root1=root2, root2=root1)
    fails(size1=n, size2=m, root1=root2, root2=root1)
    fails(root1=_flip([root1], 0, bit)[0])
    fails(root2=_flip([root2], 0, bit)[0])
    # Equivocation: a different history of the same length is not an extension.
    forked = [*leaves[: m - 1], extra, *leaves[m:]]
    fails(root1=root(forked[:m]))
    fails(root2=root(forked))
    fails(size1=0, root1=root(leaves[:0]))


# --- compact ranges ---------------------------------------------------------------------------


@settings(deadline=None)
@given(batches=st.lists(st.lists(hashes32, max_size=40), max_size=12))
def test_compact_range_matches_root_after_random_batches(batches: list[list[bytes]]) -> None:
    store = Store()
    leaves: list[bytes] = []
    for batch in batches:
        store.append(batch)
        leaves.extend(batch)
        assert store.range.size == len(leaves)
        assert store.range.root() == root(leaves)
        rebuilt = CompactRange.from_source(len(leaves), store.source)
        assert rebuilt == store.range
        assert [(n.level, n.index) for n in store.range.nodes()] == list(
            CompactRange.coordinates(len(leaves))
        )
    # Exactly the complete perfect subtrees were emitted, each with the right hash.
    size = len(leaves)
    expected = {
        (level, index) for level in range(size.bit_length()) for index in range(size >> level)
    }
    assert set(store.nodes) == expected
    for (level, index), h in store.nodes.items():
        assert h == root(leaves[index << level : (index + 1) << level])


def test_append_reports_leaves_and_completed_nodes_in_order() -> None:
    leaves = [bytes([i]) * 32 for i in range(3)]
    result = CompactRange.empty().append(leaves)
    assert [(n.level, n.index) for n in result.new_nodes] == [(0, 0), (0, 1), (1, 0), (0, 2)]
    assert result.new_nodes[2] == Node(level=1, index=0, hash=root(leaves[:2]))
    assert result.compact_range.hashes == (root(leaves[:2]), leaves[2])


Bad = Callable[[], object]


@pytest.mark.parametrize(
    "bad",
    [
        lambda: CompactRange(size=3, hashes=(b"\x00" * 32,)),
        lambda: CompactRange(size=-1, hashes=()),
        lambda: CompactRange(size=1, hashes=(b"\x00" * 31,)),
        lambda: CompactRange.empty().append([b"\x00" * 33]),
        lambda: CompactRange.coordinates(-2),
    ],
)
def test_compact_range_refuses_inconsistent_state(bad: Bad) -> None:
    with pytest.raises(MerkleError):
        bad()


def test_compact_range_errors_are_tree_range_errors_for_sizes() -> None:
    with pytest.raises(TreeRangeError, match="a compact range of size 3 has 2 hashes, got 1"):
        CompactRange(size=3, hashes=(b"\x00" * 32,))
