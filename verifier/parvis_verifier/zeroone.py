"""Disjunctive Chaum–Pedersen proofs that a ciphertext encrypts 0 or 1 (a ballot's cell).

Pure core (ballot-secrecy.md §1, "Ballot": every cell is a 0/1 ciphertext with a CDS94
proof; ADR 0011). This is the two-branch case of ballot/range_proof.py (Cramer, Damgård and
Schoenmakers, CRYPTO 1994; Chaum and Pedersen, CRYPTO 1992) under its own transcript kind
``"zero-one"``, so a cell proof and a range proof over ``[0, 1]`` are never interchangeable.
The transcript is that of ballot/range_proof.py with ``"range"`` = ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from parvis_verifier.elgamal import Ciphertext
from parvis_verifier.group import Point, Scalar
from parvis_verifier.range_proof import DisjunctiveProof, prove_range, verify_range
from parvis_verifier.transcript import Context

__all__ = ["KIND", "ZeroOneProof", "decode_zero_one", "prove_zero_one", "verify_zero_one"]

#: The transcript kind of a cell's proof.
KIND: Final = "zero-one"

#: A 0/1 proof is a two-branch disjunctive proof (256 bytes on the wire).
ZeroOneProof = DisjunctiveProof


def prove_zero_one(
    context: Context,
    *,
    key: Point,
    ciphertext: Ciphertext,
    bit: int,
    nonce: Scalar,
    rng: Callable[[], Scalar] = Scalar.random,
) -> ZeroOneProof:
    """Prove that ``ciphertext = Enc(bit; nonce)`` with ``bit ∈ {0, 1}``; ``ValueError``
    for any other ``bit`` (the honest prover refuses a false statement)."""
    return prove_range(
        context,
        key=key,
        ciphertext=ciphertext,
        message=bit,
        nonce=nonce,
        lo=0,
        hi=1,
        kind=KIND,
        rng=rng,
    )


def verify_zero_one(
    context: Context, *, key: Point, ciphertext: Ciphertext, proof: ZeroOneProof
) -> None:
    """Check a cell's proof; raise :class:`parvis_verifier.transcript.ProofError` if it fails."""
    verify_range(context, key=key, ciphertext=ciphertext, proof=proof, lo=0, hi=1, kind=KIND)


def decode_zero_one(data: bytes) -> ZeroOneProof:
    """A cell's proof from its 256 bytes, strictly decoded (:class:`GroupError` otherwise)."""
    return DisjunctiveProof.from_bytes(data, values=2)
