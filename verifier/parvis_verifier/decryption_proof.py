"""Chaum–Pedersen proofs that a trustee's partial decryption matches its public share.

Pure core (ballot-secrecy.md §1, "Tally": each trustee publishes ``s_i·α`` with a
Chaum–Pedersen proof against its public share; ADR 0011). Trustee ``i`` holds the share
``s_i`` of the joint secret and publishes ``S_i = s_i·G``; for the tally's ciphertext
``(α, β)`` it publishes ``D_i = s_i·α`` and proves ``log_G S_i = log_α D_i`` (Chaum and
Pedersen, "Wallet databases with observers", CRYPTO 1992):

* prover: random ``w``; ``a = w·G``, ``b = w·α``; ``c = challenge(...)``; ``z = w + c·s_i``;
* verifier: ``z·G = a + c·S_i`` and ``z·α = b + c·D_i`` with ``c`` recomputed.

Transcript (ballot/transcript.py, strong Fiat–Shamir): kind ``"decryption"``, the context's
``vk`` being the trustee's Ed25519 signing key, then ``"share"`` = ``[S_i]``,
``"ciphertext"`` = ``[α, β]``, ``"partial"`` = ``[D_i]``, then ``"commitments"`` = ``[a, b]``.
A wrong partial decryption therefore fails with the trustee named by its share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from parvis_verifier.elgamal import Ciphertext, partial_decryption
from parvis_verifier.group import GroupError, Point, Scalar
from parvis_verifier.transcript import Context, ProofError, Transcript

__all__ = ["KIND", "DecryptionProof", "prove_decryption", "verify_decryption"]

#: The transcript kind of a decryption proof.
KIND: Final = "decryption"


@dataclass(frozen=True, slots=True)
class DecryptionProof:
    """``(a, b, z)``: the commitments ``w·G``, ``w·α`` and the response."""

    commitment_g: Point
    commitment_alpha: Point
    response: Scalar

    def to_bytes(self) -> bytes:
        """96 bytes: ``a ‖ b ‖ z``."""
        return self.commitment_g.encoded + self.commitment_alpha.encoded + self.response.encoded

    @classmethod
    def from_bytes(cls, data: bytes) -> DecryptionProof:
        """A proof from the wire, strictly decoded; the error names the field refused."""
        if not isinstance(data, bytes) or len(data) != 96:
            raise GroupError("a decryption proof is 96 bytes (a ‖ b ‖ z)")
        field = "commitment a"
        try:
            commitment_g = Point.decode(data[0:32])
            field = "commitment b"
            commitment_alpha = Point.decode(data[32:64])
            field = "response"
            response = Scalar(data[64:96])
        except GroupError as error:
            raise GroupError(f"decryption proof {field}: {error}") from error
        return cls(commitment_g, commitment_alpha, response)


def _challenge(
    context: Context,
    *,
    public_share: Point,
    ciphertext: Ciphertext,
    partial: Point,
    commitment_g: Point,
    commitment_alpha: Point,
) -> Scalar:
    return (
        Transcript(context, KIND)
        .points("share", [public_share])
        .points("ciphertext", [ciphertext.alpha, ciphertext.beta])
        .points("partial", [partial])
        .points("commitments", [commitment_g, commitment_alpha])
        .challenge()
    )


def prove_decryption(
    context: Context,
    *,
    share: Scalar,
    ciphertext: Ciphertext,
    rng: Callable[[], Scalar] = Scalar.random,
) -> tuple[Point, DecryptionProof]:
    """The trustee's partial decryption ``s_i·α`` of ``ciphertext`` and its proof."""
    partial = partial_decryption(ciphertext, share)
    proof = _prove(
        context,
        share=share,
        public_share=Point.base_times(share),
        ciphertext=ciphertext,
        partial=partial,
        rng=rng,
    )
    return partial, proof


def _prove(
    context: Context,
    *,
    share: Scalar,
    public_share: Point,
    ciphertext: Ciphertext,
    partial: Point,
    rng: Callable[[], Scalar],
) -> DecryptionProof:
    """The prover's algorithm on a statement taken as given; :func:`prove_decryption` derives
    the statement from the share, tests call this to play a trustee that runs the honest
    algorithm on a false statement (its proof must not verify)."""
    witness = rng()
    commitment_g = Point.base_times(witness)
    commitment_alpha = ciphertext.alpha * witness
    challenge = _challenge(
        context,
        public_share=public_share,
        ciphertext=ciphertext,
        partial=partial,
        commitment_g=commitment_g,
        commitment_alpha=commitment_alpha,
    )
    return DecryptionProof(commitment_g, commitment_alpha, witness + challenge * share)


def verify_decryption(
    context: Context,
    *,
    public_share: Point,
    ciphertext: Ciphertext,
    partial: Point,
    proof: DecryptionProof,
) -> None:
    """Check that ``partial = s_i·α`` for the ``s_i`` behind ``public_share``; raise
    :class:`ProofError` otherwise."""
    challenge = _challenge(
        context,
        public_share=public_share,
        ciphertext=ciphertext,
        partial=partial,
        commitment_g=proof.commitment_g,
        commitment_alpha=proof.commitment_alpha,
    )
    if Point.base_times(proof.response) != proof.commitment_g + public_share * challenge:
        raise ProofError("decryption proof: the response fails its check against the share")
    if ciphertext.alpha * proof.response != proof.commitment_alpha + partial * challenge:
        raise ProofError("decryption proof: the response fails its check against α")
