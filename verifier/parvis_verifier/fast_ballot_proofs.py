"""Every proof of an encrypted ballot checked on the wire bytes, for the board verifier.

Pure core; the same checks as :func:`parvis_verifier.encrypted_ballot.verify_encrypted_ballot` (the
reference, ballot-secrecy.md §1 and ADR 0011) without its objects: the base64url is decoded
once, scalars are Python integers, points stay the 32-byte strings libsodium takes, each
transcript is hashed from a SHA-512 state prepared once per ballot and kind, and the small
constants (``m·G`` of the ranges, ``E·G`` of the envelopes) once per process.
:func:`verified_cells` returns the cells when every proof verifies and ``None`` otherwise:
the verifier then asks the reference, which decides and names the fault. So this path may
refuse more than the reference (an identity point in a sum, a zero challenge), never accept
more. Why each point it accepts is one the reference accepts:

- a cell's (or bit's) ``α`` and ``β`` are the inputs of the scalar multiplications
  ``c₀·α`` and ``c₀·β`` of its 0/1 proof's first branch (``β − 0·G = β``). libsodium's
  ``crypto_scalarmult_ed25519_noclamp`` refuses, before computing, exactly what
  ``crypto_core_ed25519_is_valid_point`` refuses (a non-canonical encoding, a small-order
  point, a point off the curve or off the prime-order subgroup: ``_crypto_scalarmult_
  ed25519`` in libsodium's ``scalarmult_ed25519_ref10.c``), which is what
  :meth:`parvis_verifier.group.Point.decode` calls. A test feeds it torsion, small-order and
  non-canonical points;
- a commitment ``a`` (``b``) appears only in ``z·G = a + c·α`` (``z·H = b + c·(β − m·G)``):
  when the equation holds, ``a`` is the difference of two prime-order-subgroup points, so
  in that subgroup; its encoding is checked canonical here (``y < p``) and not the identity
  (``y ≠ 1``, sign bit ignored: the only point of the subgroup with ``x = 0``), so it is a
  point ``decode`` accepts;
- challenges and responses are canonical scalars (below the group order), as
  :class:`parvis_verifier.group.Scalar` requires.

Costs per branch of a proof of the values ``[lo, hi]``: one fixed-base and three
variable-base scalar multiplications (``z·G``, ``c·α``, ``z·H``, ``c·(β − m·G)``), plus
two per option for a budget's envelope (``cost·α``, ``cost·β``) — the floor
``bench/verify_v2.py`` measures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import nacl.bindings as sodium
import nacl.exceptions

from parvis_verifier.elgamal import message_point
from parvis_verifier.encrypted_ballot import cell_labels, envelope_bits, sum_ranges
from parvis_verifier.group import BASE, ORDER, Point
from parvis_verifier.questions import BallotType, Question
from parvis_verifier.token import b64u_decode_or_none
from parvis_verifier.transcript import PROTOCOL

__all__ = ["FastProofs", "floor_operations"]

_P: Final = 2**255 - 19
_Y: Final = (1 << 255) - 1
_BASE: Final = BASE.encoded
_mul = sodium.crypto_scalarmult_ed25519_noclamp
_base = sodium.crypto_scalarmult_ed25519_base_noclamp
_add = sodium.crypto_core_ed25519_add
_sub = sodium.crypto_core_ed25519_sub


class _RefusedError(Exception):
    """Not accepted here: the reference path decides."""


def _frame(part: bytes) -> bytes:
    return len(part).to_bytes(8, "big") + part


def _commitment(raw: bytes) -> bytes:
    y = int.from_bytes(raw, "little") & _Y
    if y >= _P or y == 1:
        raise _RefusedError
    return raw


def _scalar(raw: bytes) -> int:
    value = int.from_bytes(raw, "little")
    if value >= ORDER:
        raise _RefusedError
    return value


@dataclass(frozen=True, slots=True)
class _Range:
    plus: tuple[int, ...]
    minus: tuple[int, ...]
    lo: int
    hi: int


@dataclass(frozen=True, slots=True)
class _Layout:
    """One question's wire layout and constants."""

    id: str
    cells: int
    ranges: tuple[_Range, ...]
    bits: int
    costs: tuple[bytes, ...]  # 32-byte scalars, budget only
    envelope: bytes  # E·G, budget only

    @classmethod
    def of(cls, question: Question) -> _Layout:
        budget = question.type is BallotType.BUDGET
        return cls(
            id=question.id,
            cells=len(cell_labels(question)),
            ranges=tuple(_Range(r.plus, r.minus, r.lo, r.hi) for r in sum_ranges(question)),
            bits=envelope_bits(question) if budget else 0,
            costs=tuple((o.cost or 0).to_bytes(32, "little") for o in question.options)
            if budget
            else (),
            envelope=message_point(question.envelope).encoded
            if budget and question.envelope
            else b"",
        )


def _members(question: Any, budget: bool) -> bool:
    wanted = (
        {"cells", "cell_proofs", "sum_proofs", "bits", "bit_proofs", "envelope_proof"}
        if budget
        else {"cells", "cell_proofs", "sum_proofs"}
    )
    return isinstance(question, dict) and set(question) == wanted


def _decode_all(texts: object, count: int, size: int) -> list[bytes]:
    if not isinstance(texts, list) or len(texts) != count:
        raise _RefusedError
    out = []
    for text in texts:
        raw = b64u_decode_or_none(text)
        if raw is None or len(raw) != size:
            raise _RefusedError
        out.append(raw)
    return out


def floor_operations(questions: Sequence[Question]) -> tuple[int, int]:
    """``(fixed-base, variable-base)`` scalar multiplications that checking one ballot's
    proofs needs (module docstring)."""
    base = variable = 0
    for question in questions:
        layout = _Layout.of(question)
        branches = 2 * layout.cells + sum(r.hi - r.lo + 1 for r in layout.ranges)
        if layout.costs:
            branches += 2 * layout.bits + 1
            variable += 2 * len(layout.costs)
        base += branches
        variable += 3 * branches
    return base, variable


class FastProofs:
    """The proofs of one election's ballots: the questions, the joint key, the context."""

    def __init__(
        self, questions: Sequence[Question], *, key: Point, election: str, manifest_hash: bytes
    ) -> None:
        self.layouts = tuple(_Layout.of(q) for q in questions)
        self.key = key.encoded
        self.election = election.encode()
        self.manifest_hash = manifest_hash
        highest = max((r.hi for lay in self.layouts for r in lay.ranges), default=1)
        self.multiples = {m: message_point(m).encoded for m in range(1, highest + 1)}

    def _states(self, vk: bytes) -> dict[str, Any]:
        """The SHA-512 state after the context and the key, per transcript kind."""
        states = {}
        for kind in ("zero-one", "range"):
            digest = hashlib.sha512()
            for part in (
                PROTOCOL,
                b"kind",
                kind.encode(),
                b"election",
                self.election,
                b"manifest",
                self.manifest_hash,
                b"vk",
                vk,
                b"key",
                self.key,
            ):
                digest.update(_frame(part))
            states[kind] = digest
        return states

    def _proof(
        self, state: Any, alpha: bytes, beta: bytes, proof: bytes, *, lo: int, hi: int
    ) -> None:
        """One CDS94 proof that ``(α, β)`` encrypts a value of ``[lo, hi]`` under the key
        (:func:`parvis_verifier.range_proof.verify_range`); raise :class:`_RefusedError`."""
        key = self.key
        shifted = _sub(beta, self.multiples[lo]) if lo else beta
        total = 0
        commitments = []
        for index in range(hi - lo + 1):
            branch = proof[128 * index : 128 * (index + 1)]
            a, b = _commitment(branch[:32]), _commitment(branch[32:64])
            challenge, response = branch[64:96], branch[96:]
            total += _scalar(challenge)
            _scalar(response)
            if index:
                shifted = _sub(shifted, _BASE)
            if _base(response) != _add(a, _mul(challenge, alpha)):
                raise _RefusedError
            if _mul(response, key) != _add(b, _mul(challenge, shifted)):
                raise _RefusedError
            commitments.append(a + b)
        digest = state.copy()
        for part in (
            b"ciphertext",
            alpha + beta,
            b"range",
            lo.to_bytes(8, "big", signed=True) + hi.to_bytes(8, "big", signed=True),
            b"commitments",
            b"".join(commitments),
        ):
            digest.update(_frame(part))
        if int.from_bytes(digest.digest(), "little") % ORDER != total % ORDER:
            raise _RefusedError

    def _question(self, layout: _Layout, data: Any, states: Mapping[str, Any]) -> bytes:
        budget = bool(layout.costs)
        if not _members(data, budget):
            raise _RefusedError
        cells = _decode_all(data["cells"], layout.cells, 64)
        proofs = _decode_all(data["cell_proofs"], layout.cells, 256)
        sums = data["sum_proofs"]
        if not isinstance(sums, list) or len(sums) != len(layout.ranges):
            raise _RefusedError
        zero_one = states["zero-one"]
        for cell, proof in zip(cells, proofs, strict=True):
            self._proof(zero_one, cell[:32], cell[32:], proof, lo=0, hi=1)
        for r, text in zip(layout.ranges, sums, strict=True):
            raw = b64u_decode_or_none(text)
            if raw is None or len(raw) != 128 * (r.hi - r.lo + 1):
                raise _RefusedError
            alpha, beta = cells[r.plus[0]][:32], cells[r.plus[0]][32:]
            for i in r.plus[1:]:
                alpha, beta = _add(alpha, cells[i][:32]), _add(beta, cells[i][32:])
            for i in r.minus:
                alpha, beta = _sub(alpha, cells[i][:32]), _sub(beta, cells[i][32:])
            self._proof(states["range"], alpha, beta, raw, lo=r.lo, hi=r.hi)
        if budget:
            self._envelope(layout, data, cells, states)
        return b"".join(cells)

    def _envelope(
        self, layout: _Layout, data: Any, cells: Sequence[bytes], states: Mapping[str, Any]
    ) -> None:
        """The budget's bits and ``D = Σ 2^j·B_j + Σ c_i·X_i − (0, E·G)`` in ``[0, 0]``
        (:mod:`parvis_verifier.encrypted_ballot`, "Budget envelope")."""
        bits = _decode_all(data["bits"], layout.bits, 64)
        proofs = _decode_all(data["bit_proofs"], layout.bits, 256)
        envelope = b64u_decode_or_none(data["envelope_proof"])
        if envelope is None or len(envelope) != 128 or not bits:
            raise _RefusedError
        for bit, proof in zip(bits, proofs, strict=True):
            self._proof(states["zero-one"], bit[:32], bit[32:], proof, lo=0, hi=1)
        alpha, beta = bits[-1][:32], bits[-1][32:]
        for bit in reversed(bits[:-1]):
            alpha = _add(_add(alpha, alpha), bit[:32])
            beta = _add(_add(beta, beta), bit[32:])
        for cost, cell in zip(layout.costs, cells, strict=True):
            alpha = _add(alpha, _mul(cost, cell[:32]))
            beta = _add(beta, _mul(cost, cell[32:]))
        self._proof(states["range"], alpha, _sub(beta, layout.envelope), envelope, lo=0, hi=0)

    def verified_cells(self, vk: bytes, encrypted: object) -> bytes | None:
        """Every cell's ``α ‖ β`` (manifest order, wire order) when every proof of the
        wire form ``encrypted`` verifies for the ballot key ``vk``; ``None`` to let the
        reference decide."""
        if not isinstance(encrypted, dict) or len(encrypted) != len(self.layouts):
            return None
        states = self._states(vk)
        try:
            return b"".join(
                self._question(layout, encrypted[layout.id], states) for layout in self.layouts
            )
        except (_RefusedError, KeyError, nacl.exceptions.CryptoError, ValueError, TypeError):
            return None
