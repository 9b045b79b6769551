"""RFC 6962 Merkle hash trees: hashes, proofs, proof verification and compact ranges.

Specifications:

* RFC 6962, *Certificate Transparency*, §2.1 "Merkle Hash Trees"
  (https://www.rfc-editor.org/rfc/rfc6962#section-2.1) — the tree, ``MTH``, ``PATH`` and
  ``PROOF``; identical to RFC 9162 §2.1.1.
* RFC 9162, *Certificate Transparency Version 2.0*, §2.1.3.2 "Verifying an Inclusion
  Proof" and §2.1.4.2 "Verifying Consistency between Two Tree Heads"
  (https://www.rfc-editor.org/rfc/rfc9162#section-2.1) — the verification algorithms,
  followed step by step below.

Hashing: ``leaf = SHA-256(0x00 || data)``, ``node = SHA-256(0x01 || left || right)``, the
root of the empty tree is ``SHA-256("")``; for ``n > 1`` leaves the tree splits at ``k``, the
largest power of two strictly less than ``n``.

Verification **raises** (:class:`~parvis_verifier.log_errors.InclusionProofError`,
:class:`~parvis_verifier.log_errors.ConsistencyProofError`); it never returns ``False``.

Hash sources (how storage computes proofs with O(log n) reads)
---------------------------------------------------------------
Proof generation runs over either an in-memory sequence of leaf hashes or a
:data:`NodeSource`: a callable ``source(level, index)`` returning the root of the *perfect*
subtree over leaves ``[index * 2**level, (index + 1) * 2**level)`` — exactly the nodes that
:meth:`CompactRange.append` emits and that storage keeps. The generators only ask for nodes
that are complete in the tree size requested, so a node never changes once written.

Every hash an RFC 6962 proof contains is the ``MTH`` of a range ``[start, end)`` in which
``start`` is a multiple of the smallest power of two ``>= end - start``. Such a range is
either perfect (one read) or lies on the right edge of the tree. A right-edge range is
computed from perfect subtrees: write ``end - start`` in binary, take one perfect subtree
per set bit, largest first, left to right, then fold from the right,
``node(p1, node(p2, ... node(p_{j-1}, p_j)))`` — which is what the RFC's recursive split
at the largest power of two produces. An inclusion proof holds at most one right-edge hash
(after the path turns left everything below is perfect), and so does a consistency proof,
so both cost O(log n) reads.

Compact range
-------------
:class:`CompactRange` holds the roots of the perfect subtrees that make up the tree
``[0, size)`` (one per set bit of ``size``): enough to compute the root and to append. The
sequencer appends a batch in O(batch · log n) and persists the newly completed nodes.

This module is pure: no I/O, no clock, no framework imports.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from parvis_verifier.log_errors import (
    ConsistencyProofError,
    InclusionProofError,
    MerkleError,
    TreeRangeError,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AppendResult",
    "CompactRange",
    "Node",
    "NodeSource",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""``MTH({}) = SHA-256()``, the root of the empty tree (RFC 6962 §2.1)."""

NodeSource: TypeAlias = Callable[[int, int], bytes]
"""``source(level, index)`` -> root of the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf hashes themselves."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """``MTH({d0}) = SHA-256(0x00 || d0)`` (RFC 6962 §2.1)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)`` (RFC 6962 §2.1).

    Lengths are deliberately not checked here: this is the inner loop of every computation,
    and the verifiers check every externally supplied hash length before hashing.
    """
    return _sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(value: bytes, *, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise MerkleError(f"{what} is {len(value)} bytes, want {HASH_SIZE}")


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` of the given leaf hashes (RFC 6962 §2.1), in O(n) hashes.

    Hashes level by level, pairing neighbours and carrying an unpaired last node up
    unchanged: this builds the same tree as the RFC's split at the largest power of two
    below ``n``, without recursion.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    for i, h in enumerate(leaf_hashes):
        if len(h) != HASH_SIZE:
            raise MerkleError(f"leaf hash {i} is {len(h)} bytes, want {HASH_SIZE}")
    level = list(leaf_hashes)
    sha = _sha256
    prefix = _NODE_PREFIX
    while len(level) > 1:
        paired = [
            sha(prefix + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


# --- proof generation ------------------------------------------------------------------------


def _largest_power_of_two_below(n: int) -> int:
    """``k`` with ``k < n <= 2k`` (RFC 6962 §2.1); ``n`` must be at least 2."""
    return 1 << ((n - 1).bit_length() - 1)


def _list_source(leaf_hashes: Sequence[bytes]) -> NodeSource:
    # A proof reads disjoint subtrees, so hashing each one from its leaves costs O(n) per
    # proof in total and never recomputes a node twice.
    def source(level: int, index: int) -> bytes:
        return root(leaf_hashes[index << level : (index + 1) << level])

    return source


def _read(source: NodeSource, level: int, index: int) -> bytes:
    value = source(level, index)
    if len(value) != HASH_SIZE:
        raise MerkleError(
            f"hash source returned {len(value)} bytes for node (level {level}, index {index}),"
            f" want {HASH_SIZE}"
        )
    return value


def _range_hash(source: NodeSource, start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` from perfect subtrees (see the module docstring, right edge)."""
    size = end - start
    pieces: list[bytes] = []
    pos = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            # Alignment holds for every range the RFC recursion produces; a failure here
            # would be a bug in this module, not bad input.
            assert pos % (1 << level) == 0
            pieces.append(_read(source, level, pos >> level))
            pos += 1 << level
    result = pieces[-1]
    for piece in reversed(pieces[:-1]):
        result = node_hash(piece, result)
    return result


def _as_source(tree: Sequence[bytes] | NodeSource, size: int) -> NodeSource:
    if callable(tree):
        return tree
    if size > len(tree):
        raise TreeRangeError(f"tree size {size} exceeds the {len(tree)} leaf hashes given")
    return _list_source(tree)


def inclusion_proof(tree: Sequence[bytes] | NodeSource, *, index: int, size: int) -> list[bytes]:
    """``PATH(index, D[size])`` (RFC 6962 §2.1.1), sibling of the leaf first.

    ``tree`` is the list of leaf hashes (at least ``size`` of them) or a :data:`NodeSource`.
    Raises :class:`~parvis_verifier.log_errors.TreeRangeError` unless ``0 <= index < size``.
    """
    if size <= 0 or not 0 <= index < size:
        raise TreeRangeError(f"leaf index {index} is not in a tree of size {size}")
    source = _as_source(tree, size)
    # The RFC recursion descends from the root and appends each sibling after the sub-path,
    # so the siblings are collected top-down here and reversed at the end.
    top_down: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            top_down.append(_range_hash(source, start + k, end))
            end = start + k
        else:
            top_down.append(_range_hash(source, start, start + k))
            start += k
    top_down.reverse()
    return top_down


def consistency_proof(tree: Sequence[bytes] | NodeSource, *, m: int, n: int) -> list[bytes]:
    """``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`` (RFC 6962 §2.1.2).

    ``m == n`` gives the empty proof. ``m == 0`` is refused with
    :class:`~parvis_verifier.log_errors.TreeRangeError`: RFC 9162 §2.1.4 defines the proof for a
    previous tree head with ``0 < m``, and :func:`verify_consistency` rejects size 0 (the empty tree
    is a prefix of every tree, so such a proof would prove nothing).
    """
    if not 0 < m <= n:
        raise TreeRangeError(f"no consistency proof from size {m} to size {n}; need 0 < m <= n")
    source = _as_source(tree, n)
    top_down: list[bytes] = []
    start, end = 0, n
    complete = True  # the RFC's flag b: D[0:m] is the whole original tree so far
    while True:
        if m - start == end - start:
            # SUBPROOF(m, D[m], b): nothing if D[m] is the old root the verifier holds,
            # otherwise MTH(D[m]) itself (a perfect subtree: the path turned right before).
            if not complete:
                top_down.append(_range_hash(source, start, end))
            break
        k = _largest_power_of_two_below(end - start)
        if m - start <= k:
            top_down.append(_range_hash(source, start + k, end))
            end = start + k
        else:
            top_down.append(_range_hash(source, start, start + k))
            start += k
            complete = False
    top_down.reverse()
    return top_down


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------


def root_from_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof: RFC 9162 §2.1.3.2 steps 1 to 4.

    Raises :class:`~parvis_verifier.log_errors.InclusionProofError` when the proof cannot belong to
    a tree of this size (wrong index, too many or too few hashes, hashes that are not 32 bytes).
    :func:`verify_inclusion` adds step 5, the comparison with the expected root.
    """

    def fail(detail: str) -> InclusionProofError:
        return InclusionProofError(detail, index=index, size=size)

    if len(leaf_hash) != HASH_SIZE:
        raise fail(f"leaf hash is {len(leaf_hash)} bytes, want {HASH_SIZE}")
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise fail(f"proof hash {i} is {len(p)} bytes, want {HASH_SIZE}")
    # Step 1: "If leaf_index is greater than or equal to tree_size, then fail the proof
    # verification."
    if index < 0 or index >= size:
        raise fail(f"leaf index {index} is not in a tree of size {size}")
    # Steps 2-3.
    fn, sn = index, size - 1
    r = leaf_hash
    # Step 4.
    for i, p in enumerate(proof):
        # 4a: "If sn is 0, then stop the iteration and fail the proof verification." This
        # is what rejects trailing garbage.
        if sn == 0:
            raise fail(f"proof has {len(proof)} hashes, but this leaf needs only {i}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn != 0 and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5, first half: "If sn is equal to 0 and r and the root_hash are equal ...".
    if sn != 0:
        raise fail(f"proof has {len(proof)} hashes, too few for this leaf and tree size")
    return r


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2: "If sn is equal to 0 and r and the root_hash are equal, then the log
    has proven the inclusion of hash. Otherwise, fail the proof verification."
    Raises :class:`~parvis_verifier.log_errors.InclusionProofError`; returns ``None`` on success.
    """
    if len(root) != HASH_SIZE:
        raise InclusionProofError(
            f"root hash is {len(root)} bytes, want {HASH_SIZE}", index=index, size=size
        )
    calculated = root_from_inclusion(leaf_hash=leaf_hash, index=index, size=size, proof=proof)
    if not hmac.compare_digest(calculated, root):
        raise InclusionProofError(
            "the root calculated from the proof differs from the expected root",
            index=index,
            size=size,
        )


def verify_consistency(
    *, size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (``size2``, ``root2``) extends the tree (``size1``, ``root1``).

    RFC 9162 §2.1.4.2, followed step by step, with the cases the algorithm leaves to the
    caller decided first:

    * ``size2 < size1``: fail (a log never shrinks).
    * ``size1 == 0``: fail, even when ``size2 == 0``. The algorithm is stated for
      "0 < first < second"; a proof from the empty tree proves nothing, and accepting it
      lets a client that never held a checkpoint believe it checked one.
    * ``size1 == size2``: the proof MUST be empty and the roots equal. Hash lengths are
      checked only after this branch: two identical byte strings are trivially consistent,
      and the transparency-dev probe suite expects exactly that (see tests/vectors/README.md).
    * Step 1: "If consistency_path is an empty array, stop and fail the proof verification."
    * Step 7: "verify that the fr calculated is equal to the first_hash supplied, that the sr
      calculated is equal to the second_hash value supplied, and that sn is 0." — the
      ``sn == 0`` check is what rejects a proof that stops early.

    Raises :class:`~parvis_verifier.log_errors.ConsistencyProofError`; returns ``None`` on success.
    """

    def fail(detail: str) -> ConsistencyProofError:
        return ConsistencyProofError(detail, size1=size1, size2=size2)

    if size1 < 0 or size2 < size1:
        raise fail(f"tree size {size2} cannot follow tree size {size1}")
    if size1 == 0:
        # Also load-bearing for step 4 below: with first = 0, fn = -1 and shifting -1 right
        # never clears its low bit, so the RFC loop would never end.
        raise fail("a consistency proof from the empty tree (size1 = 0) proves nothing")
    if size1 == size2:
        if proof:
            raise fail(f"sizes are equal, so the proof must be empty, got {len(proof)} hashes")
        if not hmac.compare_digest(root1, root2):
            raise fail("sizes are equal but the roots differ")
        return
    # Step 1.
    if not proof:
        raise fail("empty proof for different tree sizes")
    for what, value in (("root1", root1), ("root2", root2)):
        if len(value) != HASH_SIZE:
            raise fail(f"{what} is {len(value)} bytes, want {HASH_SIZE}")
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise fail(f"proof hash {i} is {len(p)} bytes, want {HASH_SIZE}")
    fr, sr = _roots_from_consistency(size1=size1, size2=size2, root1=root1, proof=proof, fail=fail)
    if not hmac.compare_digest(fr, root1):
        raise fail("the old root calculated from the proof differs from root1")
    if not hmac.compare_digest(sr, root2):
        raise fail("the new root calculated from the proof differs from root2")


def _roots_from_consistency(
    *,
    size1: int,
    size2: int,
    root1: bytes,
    proof: Sequence[bytes],
    fail: Callable[[str], ConsistencyProofError],
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 2 to 6 and the ``sn == 0`` part of step 7, for
    ``0 < size1 < size2`` and a non-empty proof of 32-byte hashes. Returns ``(fr, sr)``."""
    # Step 2: "If first is an exact power of 2, then prepend first_hash to the
    # consistency_path array."
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Step 3: "Set fn to first - 1 and sn to second - 1."
    fn, sn = size1 - 1, size2 - 1
    # Step 4: "If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is
    # not set."
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: "Set both fr and sr to the first value in the consistency_path array."
    fr = sr = path[0]
    # Step 6.
    for i, c in enumerate(path[1:], start=1):
        # 6a: "If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0:
            raise fail(f"proof has {len(path) - i} more hashes than these sizes need")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn != 0 and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7, "and that sn is 0".
    if sn != 0:
        raise fail(f"proof has {len(proof)} hashes, too few for these sizes")
    return fr, sr


# --- compact ranges ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """A completed perfect-subtree root: leaves ``[index * 2**level, (index + 1) * 2**level)``.

    An output type: only :meth:`CompactRange.append` and :meth:`CompactRange.nodes` create
    it, from hashes they have already checked. There is deliberately no ``__post_init__``
    validation: append makes two nodes per leaf, and the check doubled append time.
    """

    level: int
    index: int
    hash: bytes


def _coordinates(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees covering ``[0, size)``, leftmost first."""
    coords: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            coords.append((level, start >> level))
            start += 1 << level
    return coords


@dataclass(frozen=True, slots=True)
class CompactRange:
    """The right edge of a tree: roots of the perfect subtrees covering ``[0, size)``.

    ``hashes`` has one entry per set bit of ``size``, largest (leftmost) subtree first; the
    node coordinates are implied by ``size`` (:meth:`coordinates`). Immutable: appending
    returns a new range, so a sequencer can keep the old one until its batch is stored.
    """

    size: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if self.size < 0:
            raise TreeRangeError(f"tree size {self.size} is negative")
        want = self.size.bit_count()
        if len(self.hashes) != want:
            raise TreeRangeError(
                f"a compact range of size {self.size} has {want} hashes, got {len(self.hashes)}"
            )
        for i, h in enumerate(self.hashes):
            _check_hash(h, what=f"compact range hash {i}")

    @classmethod
    def empty(cls) -> CompactRange:
        """The range of the empty tree."""
        return cls(size=0, hashes=())

    @staticmethod
    def coordinates(size: int) -> tuple[tuple[int, int], ...]:
        """``(level, index)`` of the nodes a range of ``size`` holds, leftmost first.

        Storage reads exactly these ``size.bit_count()`` nodes to resume appending.
        """
        if size < 0:
            raise TreeRangeError(f"tree size {size} is negative")
        return tuple(_coordinates(size))

    @classmethod
    def from_source(cls, size: int, source: NodeSource) -> CompactRange:
        """Rebuild the range of ``size`` from stored nodes (``size.bit_count()`` reads)."""
        coords = cls.coordinates(size)
        return cls(size=size, hashes=tuple(_read(source, lvl, idx) for lvl, idx in coords))

    def nodes(self) -> tuple[Node, ...]:
        """The held hashes with their coordinates."""
        return tuple(
            Node(level=lvl, index=idx, hash=h)
            for (lvl, idx), h in zip(_coordinates(self.size), self.hashes, strict=True)
        )

    def root(self) -> bytes:
        """``MTH(D[size])``: the held hashes folded from the right."""
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            result = node_hash(h, result)
        return result

    def append(self, leaf_hashes: Iterable[bytes]) -> AppendResult:
        """Append leaf hashes; return the new range and every node completed on the way.

        The new nodes include the leaves themselves (level 0) and every interior node that
        became complete, in creation order: persisting them is what lets
        :func:`inclusion_proof` and :func:`consistency_proof` run over storage later.
        O(1) amortised hashes per leaf.
        """
        # The held hashes are ordered by decreasing level and end with levels t-1, ..., 1, 0
        # where t is the number of trailing one bits of size: leaf number `size` merges
        # with exactly those t nodes, so levels never need to be stored.
        hashes = list(self.hashes)
        size = self.size
        created: list[Node] = []
        sha, prefix = _sha256, _NODE_PREFIX
        for h in leaf_hashes:
            if len(h) != HASH_SIZE:
                raise MerkleError(f"leaf hash {size} is {len(h)} bytes, want {HASH_SIZE}")
            created.append(Node(0, size, h))
            current, index, level = h, size, 0
            while index & 1:
                current = sha(prefix + hashes.pop() + current).digest()
                index >>= 1
                level += 1
                created.append(Node(level, index, current))
            hashes.append(current)
            size += 1
        new_range = CompactRange(size=size, hashes=tuple(hashes))
        return AppendResult(compact_range=new_range, new_nodes=tuple(created))


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What :meth:`CompactRange.append` produced: the new range and the nodes to persist."""

    compact_range: CompactRange
    new_nodes: tuple[Node, ...]
