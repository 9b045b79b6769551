"""Disjunctive Chaum–Pedersen proofs that a ciphertext encrypts a value in ``[lo, hi]``.

Pure core (ballot-secrecy.md §1, "Ballot": proofs on cells and on homomorphic sums; ADR
0011). The proof is the OR-composition of Cramer, Damgård and Schoenmakers, "Proofs of
partial knowledge and simplified design of witness hiding protocols" (CRYPTO 1994, "CDS94"),
applied to one Chaum–Pedersen proof of equal discrete logarithms per allowed value (Chaum and
Pedersen, "Wallet databases with observers", CRYPTO 1992), as in Cramer–Gennaro–Schoenmakers
1997, Helios and Belenios. For a ciphertext ``(α, β)`` under key ``H`` and each allowed
``m_j``, branch ``j`` claims ``log_G α = log_H (β − m_j·G)``; the prover knows the nonce for
exactly one branch, simulates the others, and the challenges of all branches must add up to
the Fiat–Shamir challenge.

Prover, for the true value ``m_k`` and nonce ``r``:

* ``j ≠ k``: random ``c_j``, ``z_j``; ``a_j = z_j·G − c_j·α``, ``b_j = z_j·H − c_j·(β − m_j·G)``;
* ``j = k``: random ``w``; ``a_k = w·G``, ``b_k = w·H``;
* ``c = challenge(context; statement; a_0, b_0, …)``, ``c_k = c − Σ_{j≠k} c_j``,
  ``z_k = w + c_k·r``.

Verifier: ``Σ c_j = challenge(...)`` and, for every ``j``, ``z_j·G = a_j + c_j·α`` and
``z_j·H = b_j + c_j·(β − m_j·G)``.

Transcript (ballot/transcript.py, strong Fiat–Shamir): kind ``"range"`` (or ``"zero-one"``
from ballot/zeroone.py), then ``"key"`` = ``[H]``, ``"ciphertext"`` = ``[α, β]``,
``"range"`` = ``[lo, hi]``, then ``"commitments"`` = ``[a_0, b_0, a_1, b_1, …]``.

The proof carries its commitments (as ElectionGuard does) rather than only the challenges and
responses (Belenios's compact form): the verification costs the same scalar multiplications,
and explicit commitments allow checking many proofs at once by a random linear combination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from parvis_verifier.elgamal import Ciphertext, message_point
from parvis_verifier.group import BASE, GroupError, Point, Scalar
from parvis_verifier.transcript import Context, ProofError, Transcript

__all__ = [
    "MAX_VALUES",
    "Branch",
    "DisjunctiveProof",
    "prove_range",
    "verify_range",
]

#: The most values a range may hold: the prover and the verifier are linear in it, and the
#: design uses ranges only for small counts (a question's [min, max]).
MAX_VALUES: Final = 256

_BRANCH_SIZE: Final = 128


@dataclass(frozen=True, slots=True)
class Branch:
    """One branch of the OR-proof: commitments ``a = ·G``, ``b = ·H``, challenge, response."""

    commitment_g: Point
    commitment_h: Point
    challenge: Scalar
    response: Scalar

    def to_bytes(self) -> bytes:
        return (
            self.commitment_g.encoded
            + self.commitment_h.encoded
            + self.challenge.encoded
            + self.response.encoded
        )


@dataclass(frozen=True, slots=True)
class DisjunctiveProof:
    """A CDS94 OR-proof: one :class:`Branch` per allowed value, in increasing order."""

    branches: tuple[Branch, ...]

    def to_bytes(self) -> bytes:
        """128 bytes per branch: ``a ‖ b ‖ c ‖ z``."""
        return b"".join(branch.to_bytes() for branch in self.branches)

    @classmethod
    def from_bytes(cls, data: bytes, *, values: int) -> DisjunctiveProof:
        """A proof of ``values`` branches from the wire, every point and scalar strictly
        decoded; the error names the branch and the field refused."""
        if not 1 <= values <= MAX_VALUES:
            raise GroupError(f"a disjunctive proof has 1 to {MAX_VALUES} branches")
        if not isinstance(data, bytes) or len(data) != values * _BRANCH_SIZE:
            raise GroupError(
                f"a disjunctive proof of {values} branches is {values * _BRANCH_SIZE} bytes"
            )
        branches = []
        for index in range(values):
            chunk = data[index * _BRANCH_SIZE : (index + 1) * _BRANCH_SIZE]
            field = "commitment a"
            try:
                commitment_g = Point.decode(chunk[0:32])
                field = "commitment b"
                commitment_h = Point.decode(chunk[32:64])
                field = "challenge"
                challenge = Scalar(chunk[64:96])
                field = "response"
                response = Scalar(chunk[96:128])
            except GroupError as error:
                raise GroupError(f"branch {index} {field}: {error}") from error
            branches.append(Branch(commitment_g, commitment_h, challenge, response))
        return cls(tuple(branches))


def _check_statement(key: Point, lo: int, hi: int) -> None:
    if not lo <= hi or hi - lo + 1 > MAX_VALUES:
        raise ValueError(f"a range [lo, hi] has lo ≤ hi and at most {MAX_VALUES} values")
    # An identity key would make every ciphertext's β = m·G readable; no proof under it means
    # anything, so it is refused rather than checked.
    if key.is_identity():
        raise ValueError("the election key must not be the identity")


def _transcript(
    context: Context, *, kind: str, key: Point, ciphertext: Ciphertext, lo: int, hi: int
) -> Transcript:
    return (
        Transcript(context, kind)
        .points("key", [key])
        .points("ciphertext", [ciphertext.alpha, ciphertext.beta])
        .integers("range", [lo, hi])
    )


def _prove(
    context: Context,
    *,
    kind: str,
    key: Point,
    ciphertext: Ciphertext,
    nonce: Scalar,
    claimed: int,
    lo: int,
    hi: int,
    rng: Callable[[], Scalar],
) -> DisjunctiveProof:
    """The prover's algorithm, taking the branch to answer truthfully as given.

    The public :func:`prove_range` checks that ``claimed`` is what ``ciphertext`` encrypts;
    tests call this directly to play a cheating prover that runs the honest algorithm on a
    false claim (its proof must not verify).
    """
    values = range(lo, hi + 1)
    real = claimed - lo
    commitments: list[tuple[Point, Point]] = []
    simulated: dict[int, tuple[Scalar, Scalar]] = {}
    witness = rng()
    for index, value in enumerate(values):
        if index == real:
            commitments.append((Point.base_times(witness), key * witness))
            continue
        challenge, response = rng(), rng()
        shifted = ciphertext.beta - message_point(value)
        commitments.append(
            (
                Point.base_times(response) - ciphertext.alpha * challenge,
                key * response - shifted * challenge,
            )
        )
        simulated[index] = (challenge, response)
    transcript = _transcript(context, kind=kind, key=key, ciphertext=ciphertext, lo=lo, hi=hi)
    total = transcript.points("commitments", [p for pair in commitments for p in pair]).challenge()
    real_challenge = total
    for challenge, _ in simulated.values():
        real_challenge = real_challenge - challenge
    branches = []
    for index, (commitment_g, commitment_h) in enumerate(commitments):
        if index == real:
            challenge, response = real_challenge, witness + real_challenge * nonce
        else:
            challenge, response = simulated[index]
        branches.append(Branch(commitment_g, commitment_h, challenge, response))
    return DisjunctiveProof(tuple(branches))


def prove_range(
    context: Context,
    *,
    key: Point,
    ciphertext: Ciphertext,
    message: int,
    nonce: Scalar,
    lo: int,
    hi: int,
    kind: str = "range",
    rng: Callable[[], Scalar] = Scalar.random,
) -> DisjunctiveProof:
    """Prove that ``ciphertext = Enc(message; nonce)`` under ``key`` with ``lo ≤ message ≤ hi``.

    Raises ``ValueError`` if ``message`` is outside the range or ``ciphertext`` is not its
    encryption under ``nonce`` (an honest prover cannot prove a false statement).
    """
    _check_statement(key, lo, hi)
    if not lo <= message <= hi:
        raise ValueError(f"the message is not in [{lo}, {hi}]")
    if (
        ciphertext.alpha != Point.base_times(nonce)
        or ciphertext.beta != message_point(message) + key * nonce
    ):
        raise ValueError("the ciphertext is not Enc(message; nonce) under this key")
    return _prove(
        context,
        kind=kind,
        key=key,
        ciphertext=ciphertext,
        nonce=nonce,
        claimed=message,
        lo=lo,
        hi=hi,
        rng=rng,
    )


def verify_range(
    context: Context,
    *,
    key: Point,
    ciphertext: Ciphertext,
    proof: DisjunctiveProof,
    lo: int,
    hi: int,
    kind: str = "range",
) -> None:
    """Check that ``proof`` shows ``ciphertext`` encrypts a value of ``[lo, hi]`` under
    ``key``, in ``context``; raise :class:`ProofError` otherwise (never return ``False``)."""
    _check_statement(key, lo, hi)
    if len(proof.branches) != hi - lo + 1:
        raise ProofError(f"{kind} proof: {hi - lo + 1} branches expected")
    shifted = ciphertext.beta - message_point(lo)
    total = Scalar.of(0)
    for index, branch in enumerate(proof.branches):
        # β − m_j·G, walked down one G per branch instead of a scalar multiplication each.
        if index:
            shifted = shifted - BASE
        total = total + branch.challenge
        left = Point.base_times(branch.response)
        if left != branch.commitment_g + ciphertext.alpha * branch.challenge:
            raise ProofError(f"{kind} proof: branch {index} fails its check against α")
        if key * branch.response != branch.commitment_h + shifted * branch.challenge:
            raise ProofError(f"{kind} proof: branch {index} fails its check against β")
    transcript = _transcript(context, kind=kind, key=key, ciphertext=ciphertext, lo=lo, hi=hi)
    commitments = [
        p for branch in proof.branches for p in (branch.commitment_g, branch.commitment_h)
    ]
    if total != transcript.points("commitments", commitments).challenge():
        raise ProofError(f"{kind} proof: the challenges do not add up to the transcript's hash")
