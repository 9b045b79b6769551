"""The tally of encrypted ballots: homomorphic sums, threshold decryption, results.

Pure core (ballot-secrecy.md §1, "Tally"; ADR 0011). After the close:

1. **Sums.** :func:`cell_sums` adds, cell by cell, the ciphertexts of the counted ballots
   (the caller passes the last ballot per nullifier): point additions only. Each sum
   encrypts how many ballots set that cell.
2. **Partial decryptions.** Trustee ``i`` (1-based, its index in the key ceremony, C2SP
   COCKTAIL-DKG) publishes ``D_i = s_i·α`` for every sum with a Chaum–Pedersen proof against
   its verification share ``S_i = s_i·G`` (ballot/decryption_proof.py), in a context whose
   ``vk`` is the trustee's signing key. :func:`verify_partial` checks one trustee's set and
   raises :class:`WrongPartialError` naming the trustee, the question and the cell.
3. **Combination.** The shares are points of a polynomial ``f`` of degree ``t − 1`` with
   ``f(0) = s``; for any set ``T`` of ``t`` trustees, ``s·α = Σ_{i∈T} λ_i·D_i`` with the
   Lagrange coefficients at zero ``λ_i = Π_{j∈T, j≠i} j / (j − i)`` (Shamir, "How to share a
   secret", 1979). Every partial given is verified; any ``t`` valid ones suffice, so a
   trustee who never shows up does not block the tally while ``t`` others do.
4. **Counts.** ``M·G = β − s·α`` and ``M`` by baby-step giant-step bounded by the number of
   ballots (ballot/elgamal.py :func:`dlog`).
5. **Results.** From the per-cell counts by ballot/tally.py's own rules
   (:func:`parvis_verifier.tally.plurality_results`, ``budget_results``,
   ``majority_judgment_results``, ``ranked_results``), so an encrypted election's results are
   those the clear tally gives on the same ballots.

With no counted ballot the sums are :data:`parvis_verifier.elgamal.ZERO`, which cannot be decrypted
with proofs (its ``α`` is the identity, refused on the wire); every count is then 0 and no
partial decryption is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from parvis_verifier.decryption_proof import DecryptionProof, prove_decryption, verify_decryption
from parvis_verifier.elgamal import Ciphertext, decrypt_to_point, dlog, sum_ciphertexts
from parvis_verifier.encrypted_ballot import EncryptedBallot, grid_shape
from parvis_verifier.group import IDENTITY, GroupError, Point, Scalar
from parvis_verifier.questions import BallotType, Question
from parvis_verifier.tally import (
    budget_results,
    majority_judgment_results,
    plurality_results,
    ranked_results,
)
from parvis_verifier.token import b64u_decode_or_none, b64u_encode
from parvis_verifier.transcript import Context, ProofError

__all__ = [
    "CellSums",
    "PartialDecryption",
    "WrongPartialError",
    "cell_sums",
    "combine",
    "decrypt_counts",
    "lagrange_at_zero",
    "partial_decrypt",
    "results_from_counts",
    "verify_partial",
]

#: Per question id, the homomorphic sum of each cell (the cells' wire order).
CellSums = Mapping[str, tuple[Ciphertext, ...]]


class WrongPartialError(ProofError):
    """A trustee's partial decryption is refused; ``trustee`` names it (its index)."""

    def __init__(self, detail: str, *, trustee: int, question: str | None = None) -> None:
        super().__init__(detail)
        self.trustee = trustee
        self.question = question


def cell_sums(questions: Sequence[Question], ballots: Sequence[EncryptedBallot]) -> CellSums:
    """The homomorphic sum of every cell over ``ballots`` (already verified and counted)."""
    sums: dict[str, tuple[Ciphertext, ...]] = {}
    for question in questions:
        rows, columns = grid_shape(question)
        sums[question.id] = tuple(
            sum_ciphertexts(ballot.questions[question.id].cells[cell] for ballot in ballots)
            for cell in range(rows * columns)
        )
    return sums


def _decode_part(text: object) -> tuple[Point, DecryptionProof]:
    raw = b64u_decode_or_none(text)
    if raw is None or len(raw) != 128:
        raise GroupError("128 bytes of unpadded base64url expected")
    try:
        factor = Point.decode(raw[:32])
    except GroupError as error:
        raise GroupError(f"partial: {error}") from error
    return factor, DecryptionProof.from_bytes(raw[32:])


@dataclass(frozen=True, slots=True)
class PartialDecryption:
    """Trustee ``trustee``'s ``(D_i, proof)`` for every cell sum, keyed like the sums.

    Wire form: ``{"trustee": i, "parts": {question id: [part, …]}}`` where each part is the
    unpadded base64url (RFC 4648 §5) of ``D_i ‖ a ‖ b ‖ z`` (128 bytes), in cell order.
    """

    trustee: int
    parts: Mapping[str, tuple[tuple[Point, DecryptionProof], ...]]

    def to_json(self) -> dict[str, Any]:
        return {
            "trustee": self.trustee,
            "parts": {
                qid: [b64u_encode(factor.encoded + proof.to_bytes()) for factor, proof in parts]
                for qid, parts in self.parts.items()
            },
        }

    @classmethod
    def from_json(cls, data: object, *, sums: CellSums) -> PartialDecryption:
        """Strictly parse a trustee's upload against the sums' shape; a malformed one raises
        :class:`WrongPartialError` naming the trustee (when readable), question and cell."""
        trustee = data.get("trustee") if isinstance(data, Mapping) else None
        if isinstance(trustee, bool) or not isinstance(trustee, int) or trustee < 1:
            raise WrongPartialError("a partial decryption names its trustee (≥ 1)", trustee=0)
        assert isinstance(data, Mapping)
        parts = data.get("parts")
        if set(data) != {"trustee", "parts"} or not isinstance(parts, Mapping):
            raise WrongPartialError(
                f"trustee {trustee}: the members are exactly trustee and parts", trustee=trustee
            )
        if set(parts) != set(sums):
            raise WrongPartialError(
                f"trustee {trustee}: the partial decryption does not cover exactly the questions",
                trustee=trustee,
            )
        decoded: dict[str, tuple[tuple[Point, DecryptionProof], ...]] = {}
        for qid, totals in sums.items():
            texts = parts[qid]
            if not isinstance(texts, list) or len(texts) != len(totals):
                raise WrongPartialError(
                    f"trustee {trustee}: question {qid}: a list of {len(totals)} parts",
                    trustee=trustee,
                    question=qid,
                )
            cells = []
            for cell, text in enumerate(texts):
                try:
                    cells.append(_decode_part(text))
                except GroupError as error:
                    raise WrongPartialError(
                        f"trustee {trustee}: question {qid}: cell {cell}: {error}",
                        trustee=trustee,
                        question=qid,
                    ) from error
            decoded[qid] = tuple(cells)
        return cls(trustee, decoded)


def partial_decrypt(
    context: Context,
    *,
    trustee: int,
    share: Scalar,
    sums: CellSums,
    rng: Callable[[], Scalar] = Scalar.random,
) -> PartialDecryption:
    """The trustee tool's part: ``s_i·α`` of every sum with its proof (``context.vk`` is the
    trustee's signing key)."""
    return PartialDecryption(
        trustee,
        {
            qid: tuple(
                prove_decryption(context, share=share, ciphertext=total, rng=rng)
                for total in totals
            )
            for qid, totals in sums.items()
        },
    )


def verify_partial(
    context: Context, *, public_share: Point, sums: CellSums, partial: PartialDecryption
) -> None:
    """Check every proof of one trustee's partial decryption against its verification share;
    raise :class:`WrongPartialError` naming the trustee, the question and the cell."""
    trustee = partial.trustee
    if set(partial.parts) != set(sums):
        raise WrongPartialError(
            f"trustee {trustee}: the partial decryption does not cover exactly the questions",
            trustee=trustee,
        )
    for qid, totals in sums.items():
        parts = partial.parts[qid]
        if len(parts) != len(totals):
            raise WrongPartialError(
                f"trustee {trustee}: question {qid}: {len(totals)} cells expected",
                trustee=trustee,
                question=qid,
            )
        for cell, (total, (factor, proof)) in enumerate(zip(totals, parts, strict=True)):
            try:
                verify_decryption(
                    context,
                    public_share=public_share,
                    ciphertext=total,
                    partial=factor,
                    proof=proof,
                )
            except ProofError as error:
                raise WrongPartialError(
                    f"trustee {trustee}: question {qid}: cell {cell}: {error}",
                    trustee=trustee,
                    question=qid,
                ) from error


def lagrange_at_zero(indices: Sequence[int]) -> dict[int, Scalar]:
    """``λ_i = Π_{j≠i} j / (j − i)`` modulo the group order, for distinct indices ≥ 1."""
    if len(set(indices)) != len(indices) or any(i < 1 for i in indices):
        raise ValueError("trustee indices are distinct and at least 1")
    coefficients = {}
    for i in indices:
        numerator, denominator = Scalar.of(1), Scalar.of(1)
        for j in indices:
            if j != i:
                numerator = numerator * Scalar.of(j)
                denominator = denominator * Scalar.of(j - i)
        coefficients[i] = numerator * denominator.inverse()
    return coefficients


def combine(
    *,
    sums: CellSums,
    partials: Sequence[PartialDecryption],
    public_shares: Mapping[int, Point],
    contexts: Mapping[int, Context],
    threshold: int,
) -> dict[str, tuple[Point, ...]]:
    """``M·G`` for every cell sum from the trustees' partial decryptions.

    Every partial is verified first (a wrong one raises :class:`WrongPartialError` naming
    its trustee: it is refused, never silently skipped); then the ``threshold`` lowest
    indices are combined by Lagrange. ``public_shares`` and ``contexts`` are keyed by trustee
    index; fewer than ``threshold`` partials, a duplicate or an unknown trustee is refused.
    """
    if threshold < 1:
        raise ValueError("the threshold is at least 1")
    seen = [partial.trustee for partial in partials]
    if len(set(seen)) != len(seen):
        raise ValueError("one partial decryption per trustee")
    for partial in partials:
        if partial.trustee not in public_shares or partial.trustee not in contexts:
            raise WrongPartialError(
                f"trustee {partial.trustee} is not a trustee of this election",
                trustee=partial.trustee,
            )
        verify_partial(
            contexts[partial.trustee],
            public_share=public_shares[partial.trustee],
            sums=sums,
            partial=partial,
        )
    if len(partials) < threshold:
        raise ValueError(
            f"{len(partials)} valid partial decryption(s), the threshold is {threshold}"
        )
    chosen = sorted(partials, key=lambda p: p.trustee)[:threshold]
    weights = lagrange_at_zero([p.trustee for p in chosen])
    points: dict[str, tuple[Point, ...]] = {}
    for qid, totals in sums.items():
        message_points = []
        for cell, total in enumerate(totals):
            factor = IDENTITY
            for partial in chosen:
                factor = factor + partial.parts[qid][cell][0] * weights[partial.trustee]
            message_points.append(decrypt_to_point(total, factor))
        points[qid] = tuple(message_points)
    return points


def decrypt_counts(
    questions: Sequence[Question],
    *,
    sums: CellSums,
    ballots: int,
    partials: Sequence[PartialDecryption],
    public_shares: Mapping[int, Point],
    contexts: Mapping[int, Context],
    threshold: int,
) -> dict[str, tuple[int, ...]]:
    """The per-cell counts: :func:`combine`, then ``dlog`` bounded by ``ballots``. With no
    ballot every count is 0 and ``partials`` are not used."""
    if ballots == 0:
        return {qid: (0,) * len(totals) for qid, totals in sums.items()}
    points = combine(
        sums=sums,
        partials=partials,
        public_shares=public_shares,
        contexts=contexts,
        threshold=threshold,
    )
    return {q.id: tuple(dlog(point, ballots) for point in points[q.id]) for q in questions}


def _question_results(question: Question, counts: Sequence[int], ballots: int) -> dict[str, Any]:
    _, columns = grid_shape(question)
    if question.type in {BallotType.SINGLE, BallotType.APPROVAL}:
        return plurality_results(question, dict(zip(question.option_ids, counts, strict=True)))
    if question.type is BallotType.BUDGET:
        return budget_results(question, dict(zip(question.option_ids, counts, strict=True)))
    rows = {
        option: list(counts[r * columns : (r + 1) * columns])
        for r, option in enumerate(question.option_ids)
    }
    if question.type is BallotType.MAJORITY_JUDGMENT:
        return majority_judgment_results(question, rows, ballots=ballots)
    return ranked_results(question, rows, ballots=ballots)


def results_from_counts(
    questions: Sequence[Question], counts: Mapping[str, Sequence[int]], *, ballots: int
) -> dict[str, Any]:
    """The election's results from the per-cell counts, in ballot/tally.py's :func:`tally`
    shape (plurality, approval, budget fill, majority judgment, Borda)."""
    return {
        "ballots": ballots,
        "questions": {q.id: _question_results(q, counts[q.id], ballots) for q in questions},
    }
