"""Strong Fiat–Shamir transcripts for the proofs of encrypted ballots.

Pure core (ballot-secrecy.md §1, "Strong Fiat–Shamir"; ADR 0011). Every challenge of a
non-interactive proof is the hash, to a scalar, of

1. a **context**: the protocol label ``"parvis-ballot-v2"``, the kind of proof, the election
   id, the manifest hash and the Ed25519 key ``vk`` of the party whose message carries the
   proof (the ballot's key for ballot proofs; the trustee's signing key for decryption
   proofs);
2. the **statement**: everything the proof is about (the public key, the ciphertexts, the
   allowed range, the public share...);
3. the **commitments** (the prover's first message).

Hashing the statement, not only the commitments, is the "strong" Fiat–Shamir transformation
of Bernhard, Pereira and Warinschi, "How not to prove yourself: pitfalls of the Fiat–Shamir
heuristic and applications to Helios" (ASIACRYPT 2012): with the weak form a prover can pick
the statement after the challenge, which broke the soundness of Helios's proofs. Hashing
``vk`` binds each proof to the one ballot that carries it, so a ciphertext copied with its
proofs and cast under another voting token fails verification (the ballot-copying attack on
Helios: Cortier and Smyth, "Attacking and fixing Helios", CSF 2011).

Encoding: the transcript is a sequence of ``(label, value)`` pairs given to
:func:`parvis_verifier.group.hash_to_scalar`, which prefixes every part with its 8-byte length; the
encoding is therefore injective (no two transcripts hash the same bytes) whatever the values.
A list of points is one value, the concatenation of their 32-byte encodings (its length says
how many); an integer is 8 bytes, big-endian, two's complement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from parvis_verifier.group import Point, Scalar, hash_to_scalar

__all__ = ["PROTOCOL", "Context", "ProofError", "Transcript"]

#: The protocol label that opens every transcript (ballot-secrecy.md §1).
PROTOCOL: Final = b"parvis-ballot-v2"


class ProofError(ValueError):
    """A zero-knowledge proof does not verify; the message names the proof and the check."""


@dataclass(frozen=True, slots=True)
class Context:
    """What binds a proof to one election and one message of it.

    ``election_id`` is the election's identifier as in its manifest; ``manifest_hash`` the
    32-byte hash of the manifest (so a change of rules, key or questions changes every
    challenge); ``vk`` the 32-byte Ed25519 public key of the message's author — the ballot's
    key for ballot proofs, the trustee's key for decryption proofs.
    """

    election_id: str
    manifest_hash: bytes
    vk: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.election_id, str) or not self.election_id:
            raise ValueError("the context's election id is a non-empty string")
        if not isinstance(self.manifest_hash, bytes) or len(self.manifest_hash) != 32:
            raise ValueError("the context's manifest hash is 32 bytes")
        if not isinstance(self.vk, bytes) or len(self.vk) != 32:
            raise ValueError("the context's vk is a 32-byte Ed25519 public key")


def _integer(value: int) -> bytes:
    return value.to_bytes(8, "big", signed=True)


@dataclass(slots=True)
class Transcript:
    """A Fiat–Shamir transcript: the context first, then the statement, then commitments.

    The proof modules write the statement and the commitments in a fixed order (documented in
    each module and in ADR 0011) and call :meth:`challenge` once.
    """

    context: Context
    kind: str
    _parts: list[bytes] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._parts = [
            PROTOCOL,
            b"kind",
            self.kind.encode(),
            b"election",
            self.context.election_id.encode(),
            b"manifest",
            self.context.manifest_hash,
            b"vk",
            self.context.vk,
        ]

    def points(self, label: str, points: Sequence[Point]) -> Transcript:
        """Append a labelled list of points (one value: their concatenated encodings)."""
        self._parts += [label.encode(), b"".join(point.encoded for point in points)]
        return self

    def integers(self, label: str, values: Sequence[int]) -> Transcript:
        """Append a labelled list of integers (each 8 bytes, big-endian, signed)."""
        self._parts += [label.encode(), b"".join(_integer(value) for value in values)]
        return self

    def challenge(self) -> Scalar:
        """The challenge: SHA-512 of the length-prefixed parts, reduced (hash to scalar)."""
        return hash_to_scalar(*self._parts)
