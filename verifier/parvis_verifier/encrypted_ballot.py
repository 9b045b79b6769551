"""Encrypted ballots: every question's choices as 0/1 ElGamal cells with their proofs.

Pure core (ballot-secrecy.md §1, "Ballot" and its table; ADR 0011 for the group, the
ciphertexts and the proofs' transcripts). A ballot's answer to each question becomes a grid
of cells, each an exponential ElGamal ciphertext (ballot/elgamal.py) of 0 or 1 with a CDS94
proof (ballot/zeroone.py), plus range proofs (ballot/range_proof.py) on homomorphic sums of
cells, per the design's table:

===================  ==========================  ==============================================
type                 cells (row-major)           proofs on sums, in ``sum_proofs`` order
===================  ==========================  ==============================================
single               one per option              the sum ∈ [1, 1] (questions.py has no blank)
approval             one per option              the sum ∈ [min, max]
budget               one per option              the count ∈ [0, max]; the envelope (below)
majority judgment    one per (option, grade)     each option's row ∈ [1, 1]
ranked               one per (option, position)  each row ∈ [0, 1], then column 1 ∈ [0, 1],
                     (``max`` positions)         then column p − column p+1 ∈ [0, 1] for each
                                                 p, then the total ∈ [min, max]
===================  ==========================  ==============================================

**Budget envelope.** With ``X_i`` the option cells, ``c_i`` the costs and ``E`` the
envelope, the remainder ``E − Σ c_i·x_i`` must be ≥ 0. The ballot carries ``k = bitlen(E)``
(= ⌈log2(E + 1)⌉) bit ciphertexts ``B_j`` of the remainder, each with a 0/1 proof, and one
range proof over ``[0, 0]`` (a Chaum–Pedersen proof that a ciphertext encrypts 0, i.e. knowledge
of its nonce) on

    ``D = Σ_j 2^j·B_j + Σ_i c_i·X_i − (0, E·G)``

so ``Σ 2^j b_j = E − Σ c_i x_i`` modulo the group order. The bits make the left side lie in
``[0, 2^k)``, and ``Σ c_i x_i`` lies in ``[0, 500·10^12]`` (questions.py's limits), far
below the order, so the equation holds over the integers and the spending is within the
envelope. The verifier forms ``Σ 2^j·B_j`` by doubling (Horner's rule: point additions, no
scalar multiplication) and ``Σ c_i·X_i`` with one scalar multiplication per component and
option.

**Ranked.** Rows ≤ 1 give each option at most one position; columns ≤ 1 give each position
at most one option; non-increasing columns make the filled positions a prefix (positions 1..r,
no gap), so the total is the number ranked, proved in ``[min, max]``. Only column 1 carries
its own "≤ 1" proof: every column sum is an integer in ``[0, n]`` (its cells are proved 0/1,
and ``n`` is far below the group order), so column 1 ≤ 1 and non-increasing columns already
give every column ≤ 1; proving the others again would cost 8 scalar multiplications each
for nothing.

**Wire form** (JSON-friendly; every value unpadded base64url, RFC 4648 §5, of fixed-size
encodings): an object keyed by question id, exactly the manifest's questions, each

    ``{"cells": [64-byte α‖β, …], "cell_proofs": [256-byte 0/1 proof, …],
    "sum_proofs": [128·(hi − lo + 1)-byte range proof, …]}``

and, for budget questions only, ``"bits"`` (k ciphertexts), ``"bit_proofs"`` (k 0/1 proofs)
and ``"envelope_proof"`` (128 bytes). Parsing is strict: unknown or missing members, a wrong
count, a wrong size, non-canonical base64url or a refused point each raise
:class:`MalformedEncryptedBallotError` naming the question and the cell or proof.

All proofs of one ballot share its :class:`parvis_verifier.transcript.Context` (the election, the
manifest hash, the ballot's Ed25519 ``vk``): a cell copied into a ballot under another key
fails its proof (the Helios ballot-copying attack).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from parvis_verifier.elgamal import Ciphertext, encrypt, message_point
from parvis_verifier.group import GroupError, Point, Scalar
from parvis_verifier.questions import BallotType, InvalidChoiceError, Question, check_choices
from parvis_verifier.range_proof import MAX_VALUES, DisjunctiveProof, prove_range, verify_range
from parvis_verifier.token import b64u_decode_or_none, b64u_encode
from parvis_verifier.transcript import Context, ProofError
from parvis_verifier.zeroone import prove_zero_one, verify_zero_one

__all__ = [
    "BallotProofError",
    "EncryptedBallot",
    "EncryptedBallotError",
    "EncryptedQuestion",
    "MalformedEncryptedBallotError",
    "SumRange",
    "cell_labels",
    "cell_values",
    "encrypt_ballot",
    "envelope_bits",
    "grid_shape",
    "parse_encrypted_ballot",
    "sum_ranges",
    "verify_encrypted_ballot",
]

_CIPHERTEXT_SIZE: Final = 64
_ZERO_ONE_SIZE: Final = 256
_BRANCH_SIZE: Final = 128
_BUDGET_MEMBERS: Final = frozenset({"bits", "bit_proofs", "envelope_proof"})
_MEMBERS: Final = frozenset({"cells", "cell_proofs", "sum_proofs"})


class EncryptedBallotError(InvalidChoiceError):
    """An encrypted ballot is refused; ``question`` and ``part`` say where."""

    def __init__(self, detail: str, *, question: str | None = None, part: str | None = None):
        super().__init__(detail, question=question)
        self.part = part


class MalformedEncryptedBallotError(EncryptedBallotError):
    """The wire form does not parse (shape, size, base64url, a point or scalar refused)."""


class BallotProofError(EncryptedBallotError):
    """A proof of the ballot does not verify (a cell, a sum, the budget's envelope)."""


# --- the layout of a question's cells and sums ------------------------------------------------


def grid_shape(question: Question) -> tuple[int, int]:
    """``(rows, columns)`` of a question's cells: one row per option; one column, or one per
    grade (majority judgment), or one per position (ranked: ``max`` positions)."""
    if question.type is BallotType.MAJORITY_JUDGMENT:
        return len(question.options), len(question.grades)
    if question.type is BallotType.RANKED:
        return len(question.options), question.max
    return len(question.options), 1


def cell_labels(question: Question) -> tuple[str, ...]:
    """How errors name each cell, in wire order."""
    rows, columns = grid_shape(question)
    if question.type is BallotType.MAJORITY_JUDGMENT:
        return tuple(f"{o} grade {g}" for o in question.option_ids for g in range(columns))
    if question.type is BallotType.RANKED:
        return tuple(f"{o} position {p + 1}" for o in question.option_ids for p in range(columns))
    return question.option_ids[:rows]


@dataclass(frozen=True, slots=True)
class SumRange:
    """One proof on a homomorphic sum: its name in errors, the cells it adds (indexes into
    the cell list) and subtracts, and the range ``[lo, hi]`` it proves."""

    name: str
    plus: tuple[int, ...]
    minus: tuple[int, ...]
    lo: int
    hi: int


def sum_ranges(question: Question) -> tuple[SumRange, ...]:
    """The design's proofs on sums for ``question``, in wire order (module docstring)."""
    rows, columns = grid_shape(question)
    everything = tuple(range(rows * columns))
    kind = question.type
    ranges: tuple[SumRange, ...]
    if kind is BallotType.SINGLE:
        ranges = (SumRange("sum", everything, (), 1, 1),)
    elif kind in {BallotType.APPROVAL, BallotType.BUDGET}:
        ranges = (SumRange("sum", everything, (), question.min, question.max),)
    elif kind is BallotType.MAJORITY_JUDGMENT:
        ranges = tuple(
            SumRange(f"row {o}", tuple(range(r * columns, (r + 1) * columns)), (), 1, 1)
            for r, o in enumerate(question.option_ids)
        )
    else:
        row_sums = [
            SumRange(f"row {o}", tuple(range(r * columns, (r + 1) * columns)), (), 0, 1)
            for r, o in enumerate(question.option_ids)
        ]
        column_cells = [tuple(range(p, rows * columns, columns)) for p in range(columns)]
        # Column 1 only: the others follow from the order proofs (module docstring).
        first_column = SumRange("column 1", column_cells[0], (), 0, 1)
        order = [
            SumRange(f"columns {p + 1}-{p + 2}", column_cells[p], column_cells[p + 1], 0, 1)
            for p in range(columns - 1)
        ]
        total = SumRange("total", everything, (), question.min, question.max)
        ranges = (*row_sums, first_column, *order, total)
    for proof in ranges:
        if proof.hi - proof.lo + 1 > MAX_VALUES:
            raise EncryptedBallotError(
                f"question {question.id}: the {proof.name} range [{proof.lo}, {proof.hi}] "
                f"has more than {MAX_VALUES} values, too many for an encrypted ballot",
                question=question.id,
                part=proof.name,
            )
    return ranges


def envelope_bits(question: Question) -> int:
    """``k = ⌈log2(envelope + 1)⌉``: how many bits the budget's remainder takes (0 if none)."""
    return question.envelope.bit_length() if question.envelope is not None else 0


def cell_values(question: Question, choice: Any) -> list[int]:
    """The 0/1 cells of a (valid) clear answer, in wire order."""
    rows, columns = grid_shape(question)
    cells = [0] * (rows * columns)
    index = {o: i for i, o in enumerate(question.option_ids)}
    if question.type is BallotType.SINGLE:
        cells[index[choice]] = 1
    elif question.type in {BallotType.APPROVAL, BallotType.BUDGET}:
        for option in choice:
            cells[index[option]] = 1
    elif question.type is BallotType.MAJORITY_JUDGMENT:
        for option, grade in choice.items():
            cells[index[option] * columns + grade] = 1
    else:
        for position, option in enumerate(choice):
            cells[index[option] * columns + position] = 1
    return cells


# --- the encrypted form ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncryptedQuestion:
    """One question's cells and proofs (``bits``, ``bit_proofs``, ``envelope_proof`` for
    budget questions only)."""

    cells: tuple[Ciphertext, ...]
    cell_proofs: tuple[DisjunctiveProof, ...]
    sum_proofs: tuple[DisjunctiveProof, ...]
    bits: tuple[Ciphertext, ...] = ()
    bit_proofs: tuple[DisjunctiveProof, ...] = ()
    envelope_proof: DisjunctiveProof | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cells": [b64u_encode(c.to_bytes()) for c in self.cells],
            "cell_proofs": [b64u_encode(p.to_bytes()) for p in self.cell_proofs],
            "sum_proofs": [b64u_encode(p.to_bytes()) for p in self.sum_proofs],
        }
        if self.envelope_proof is not None:
            out["bits"] = [b64u_encode(c.to_bytes()) for c in self.bits]
            out["bit_proofs"] = [b64u_encode(p.to_bytes()) for p in self.bit_proofs]
            out["envelope_proof"] = b64u_encode(self.envelope_proof.to_bytes())
        return out


@dataclass(frozen=True, slots=True)
class EncryptedBallot:
    """A ballot's encrypted answers, keyed by question id in the manifest's order."""

    questions: Mapping[str, EncryptedQuestion]

    def to_json(self) -> dict[str, Any]:
        """The wire form (module docstring)."""
        return {qid: question.to_json() for qid, question in self.questions.items()}


def _difference(plus: Sequence[Ciphertext], minus: Sequence[Ciphertext]) -> Ciphertext:
    """``Σ plus − Σ minus`` by point additions only."""
    alpha, beta = plus[0].alpha, plus[0].beta
    for c in plus[1:]:
        alpha, beta = alpha + c.alpha, beta + c.beta
    for c in minus:
        alpha, beta = alpha - c.alpha, beta - c.beta
    return Ciphertext(alpha, beta)


def _envelope_statement(
    question: Question, cells: Sequence[Ciphertext], bits: Sequence[Ciphertext]
) -> Ciphertext:
    """``D = Σ_j 2^j·B_j + Σ_i c_i·X_i − (0, E·G)`` (module docstring, "Budget envelope")."""
    assert question.envelope is not None
    alpha, beta = bits[-1].alpha, bits[-1].beta
    for bit in reversed(bits[:-1]):  # Horner: doubling is a point addition
        alpha, beta = alpha + alpha + bit.alpha, beta + beta + bit.beta
    for option, cell in zip(question.options, cells, strict=True):
        cost = Scalar.of(option.cost or 0)
        alpha, beta = alpha + cell.alpha * cost, beta + cell.beta * cost
    return Ciphertext(alpha, beta - message_point(question.envelope))


def _sum(values: Sequence[Scalar]) -> Scalar:
    total = Scalar.of(0)
    for value in values:
        total = total + value
    return total


def _nonzero(rng: Callable[[], Scalar]) -> Scalar:
    while True:
        nonce = rng()
        if nonce.value:
            return nonce


def _encrypt_question(
    question: Question,
    *,
    key: Point,
    context: Context,
    values: Sequence[int],
    rng: Callable[[], Scalar],
) -> EncryptedQuestion:
    """Encrypt and prove ``values`` (the cells) as they are. The honest prover refuses a
    false statement: a cell not 0/1, a sum out of its range or a budget over its envelope
    raise ``ValueError`` from the proof that cannot be made."""
    rows, columns = grid_shape(question)
    if len(values) != rows * columns:
        raise ValueError(f"question {question.id}: {rows * columns} cells expected")
    nonces = [_nonzero(rng) for _ in values]
    cells = tuple(
        encrypt(value, key, nonce=nonce) for value, nonce in zip(values, nonces, strict=True)
    )
    cell_proofs = tuple(
        prove_zero_one(context, key=key, ciphertext=cell, bit=value, nonce=nonce, rng=rng)
        for cell, value, nonce in zip(cells, values, nonces, strict=True)
    )
    sum_proofs = tuple(
        prove_range(
            context,
            key=key,
            ciphertext=_difference([cells[i] for i in r.plus], [cells[i] for i in r.minus]),
            message=sum(values[i] for i in r.plus) - sum(values[i] for i in r.minus),
            nonce=_sum([nonces[i] for i in r.plus]) - _sum([nonces[i] for i in r.minus]),
            lo=r.lo,
            hi=r.hi,
            rng=rng,
        )
        for r in sum_ranges(question)
    )
    if question.type is not BallotType.BUDGET:
        return EncryptedQuestion(cells, cell_proofs, sum_proofs)
    assert question.envelope is not None
    costs = [option.cost or 0 for option in question.options]
    remainder = question.envelope - sum(c * v for c, v in zip(costs, values, strict=True))
    if remainder < 0:
        raise ValueError(f"question {question.id}: the choices cost more than the envelope")
    width = envelope_bits(question)
    bit_values = [(remainder >> j) & 1 for j in range(width)]
    bit_nonces = [_nonzero(rng) for _ in bit_values]
    bits = tuple(encrypt(b, key, nonce=n) for b, n in zip(bit_values, bit_nonces, strict=True))
    bit_proofs = tuple(
        prove_zero_one(context, key=key, ciphertext=c, bit=b, nonce=n, rng=rng)
        for c, b, n in zip(bits, bit_values, bit_nonces, strict=True)
    )
    nonce = _sum([Scalar.of(1 << j) * n for j, n in enumerate(bit_nonces)]) + _sum(
        [Scalar.of(c) * n for c, n in zip(costs, nonces, strict=True)]
    )
    envelope_proof = prove_range(
        context,
        key=key,
        ciphertext=_envelope_statement(question, cells, bits),
        message=0,
        nonce=nonce,
        lo=0,
        hi=0,
        rng=rng,
    )
    return EncryptedQuestion(cells, cell_proofs, sum_proofs, bits, bit_proofs, envelope_proof)


def encrypt_ballot(
    questions: Sequence[Question],
    *,
    key: Point,
    context: Context,
    choices: Mapping[str, Any],
    rng: Callable[[], Scalar] = Scalar.random,
) -> EncryptedBallot:
    """Encrypt a ballot's clear ``choices`` (checked first by ballot/questions.py's rules)
    to the joint ``key``, every proof bound to ``context`` (its ``vk`` is the ballot's)."""
    check_choices(questions, choices)
    return EncryptedBallot(
        {
            q.id: _encrypt_question(
                q, key=key, context=context, values=cell_values(q, choices[q.id]), rng=rng
            )
            for q in questions
        }
    )


# --- strict parsing ----------------------------------------------------------------------------


def _bytes(question: Question, part: str, text: object, size: int) -> bytes:
    data = b64u_decode_or_none(text)
    if data is None:
        raise MalformedEncryptedBallotError(
            f"question {question.id}: {part}: not canonical unpadded base64url",
            question=question.id,
            part=part,
        )
    if len(data) != size:
        raise MalformedEncryptedBallotError(
            f"question {question.id}: {part}: {size} bytes expected, got {len(data)}",
            question=question.id,
            part=part,
        )
    return data


def _list(question: Question, member: str, value: object, count: int) -> list[object]:
    if not isinstance(value, list) or len(value) != count:
        raise MalformedEncryptedBallotError(
            f"question {question.id}: {member} must be a list of {count}",
            question=question.id,
            part=member,
        )
    return value


def _ciphertext(question: Question, part: str, text: object) -> Ciphertext:
    try:
        return Ciphertext.from_bytes(_bytes(question, part, text, _CIPHERTEXT_SIZE))
    except GroupError as error:
        raise MalformedEncryptedBallotError(
            f"question {question.id}: {part}: {error}", question=question.id, part=part
        ) from error


def _proof(question: Question, part: str, text: object, values: int) -> DisjunctiveProof:
    try:
        return DisjunctiveProof.from_bytes(
            _bytes(question, part, text, values * _BRANCH_SIZE), values=values
        )
    except GroupError as error:
        raise MalformedEncryptedBallotError(
            f"question {question.id}: {part}: {error}", question=question.id, part=part
        ) from error


def _parse_question(question: Question, data: object) -> EncryptedQuestion:
    budget = question.type is BallotType.BUDGET
    expected = _MEMBERS | _BUDGET_MEMBERS if budget else _MEMBERS
    if not isinstance(data, Mapping) or set(data) != expected:
        raise MalformedEncryptedBallotError(
            f"question {question.id}: an object with exactly the members {sorted(expected)}",
            question=question.id,
        )
    labels = cell_labels(question)
    ranges = sum_ranges(question)
    cells = tuple(
        _ciphertext(question, f"cell {label}", text)
        for label, text in zip(
            labels, _list(question, "cells", data["cells"], len(labels)), strict=True
        )
    )
    cell_proofs = tuple(
        _proof(question, f"cell {label} proof", text, 2)
        for label, text in zip(
            labels, _list(question, "cell_proofs", data["cell_proofs"], len(labels)), strict=True
        )
    )
    sum_proofs = tuple(
        _proof(question, f"{r.name} proof", text, r.hi - r.lo + 1)
        for r, text in zip(
            ranges, _list(question, "sum_proofs", data["sum_proofs"], len(ranges)), strict=True
        )
    )
    if not budget:
        return EncryptedQuestion(cells, cell_proofs, sum_proofs)
    width = envelope_bits(question)
    bits = tuple(
        _ciphertext(question, f"bit {j}", text)
        for j, text in enumerate(_list(question, "bits", data["bits"], width))
    )
    bit_proofs = tuple(
        _proof(question, f"bit {j} proof", text, 2)
        for j, text in enumerate(_list(question, "bit_proofs", data["bit_proofs"], width))
    )
    envelope_proof = _proof(question, "envelope proof", data["envelope_proof"], 1)
    return EncryptedQuestion(cells, cell_proofs, sum_proofs, bits, bit_proofs, envelope_proof)


def parse_encrypted_ballot(questions: Sequence[Question], data: object) -> EncryptedBallot:
    """The wire form, strictly parsed (no proof checked: see :func:`verify_encrypted_ballot`)."""
    if not isinstance(data, Mapping):
        raise MalformedEncryptedBallotError("an encrypted ballot is an object keyed by question")
    expected = [q.id for q in questions]
    extra = set(data) - set(expected)
    if extra:
        raise MalformedEncryptedBallotError(
            f"unknown question(s): {sorted(str(e)[:64] for e in extra)}"
        )
    missing = set(expected) - set(data)
    if missing:
        raise MalformedEncryptedBallotError(f"no answer for question(s): {sorted(missing)}")
    return EncryptedBallot({q.id: _parse_question(q, data[q.id]) for q in questions})


# --- verification ------------------------------------------------------------------------------


@contextmanager
def _refusing(question: Question, part: str) -> Iterator[None]:
    """Turn a failed proof into a :class:`BallotProofError` naming the question and part."""
    try:
        yield
    except ProofError as error:
        raise BallotProofError(
            f"question {question.id}: {part}: {error}", question=question.id, part=part
        ) from error


def _verify_question(
    question: Question, *, key: Point, context: Context, encrypted: EncryptedQuestion
) -> None:
    cells = encrypted.cells
    for label, cell, proof in zip(cell_labels(question), cells, encrypted.cell_proofs, strict=True):
        with _refusing(question, f"cell {label}"):
            verify_zero_one(context, key=key, ciphertext=cell, proof=proof)
    for r, proof in zip(sum_ranges(question), encrypted.sum_proofs, strict=True):
        statement = _difference([cells[i] for i in r.plus], [cells[i] for i in r.minus])
        with _refusing(question, r.name):
            verify_range(context, key=key, ciphertext=statement, proof=proof, lo=r.lo, hi=r.hi)
    if question.type is not BallotType.BUDGET:
        return
    assert encrypted.envelope_proof is not None
    for j, (bit, proof) in enumerate(zip(encrypted.bits, encrypted.bit_proofs, strict=True)):
        with _refusing(question, f"bit {j}"):
            verify_zero_one(context, key=key, ciphertext=bit, proof=proof)
    statement = _envelope_statement(question, cells, encrypted.bits)
    with _refusing(question, "envelope"):
        verify_range(
            context, key=key, ciphertext=statement, proof=encrypted.envelope_proof, lo=0, hi=0
        )


def verify_encrypted_ballot(
    questions: Sequence[Question], key: Point, context: Context, data: object
) -> EncryptedBallot:
    """Parse the wire form ``data`` and check every proof of it under the joint ``key`` and
    ``context``; return the ballot, or raise :class:`MalformedEncryptedBallotError` or
    :class:`BallotProofError` naming the question and the cell or proof refused."""
    if key.is_identity():
        raise ValueError("the election key must not be the identity")
    ballot = parse_encrypted_ballot(questions, data)
    for question in questions:
        _verify_question(
            question, key=key, context=context, encrypted=ballot.questions[question.id]
        )
    return ballot
