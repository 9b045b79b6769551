"""Trustees for the tests of encrypted elections' tallies: a Shamir dealer stands in for the
key ceremony (its own tests: tests/ballot/test_cocktail_dkg.py), and each trustee's partial
decryption document is built exactly as ``parvis-trustee decrypt`` writes it
(ballot/trustee.py ``_decrypt``; docs/trustee-tool.md, "File formats"), without the sealed
file and its passphrase."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ballot.decryption_proof import prove_decryption
from ballot.elgamal import Ciphertext
from ballot.group import Point, Scalar
from ballot.token import b64u_encode
from ballot.transcript import Context
from ballot.trustee import PARTIALS_FORMAT


@dataclass(frozen=True)
class DealtTrustees:
    threshold: int
    key: Point
    shares: dict[int, Scalar]
    static_secrets: dict[int, Scalar]

    def public_share(self, index: int) -> Point:
        return Point.base_times(self.shares[index])

    def static_key(self, index: int) -> Point:
        return Point.base_times(self.static_secrets[index])

    def encryption_member(self) -> dict[str, Any]:
        """The manifest's ``encryption`` member (docs/board-format.md §10.2)."""
        return {
            "group": "ed25519",
            "ceremony": "COCKTAIL(Ed25519, SHA-512)",
            "joint_key": b64u_encode(self.key.encoded),
            "threshold": self.threshold,
            "attempt": 1,
            "transcript_sha512": b64u_encode(bytes(64)),
            "trustees": [
                {
                    "label": f"Trustee {i}",
                    "static_key": b64u_encode(self.static_key(i).encoded),
                    "public_share": b64u_encode(self.public_share(i).encoded),
                }
                for i in sorted(self.shares)
            ],
        }

    def partials(
        self, index: int, *, sums: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        """Trustee ``index``'s ``parvis-partial-decryptions-v1`` document."""
        return partials_document(
            index=index,
            share=self.shares[index],
            static_key=self.static_key(index),
            sums=sums,
            context=context,
        )


def partials_document(
    *, index: int, share: Scalar, static_key: Point, sums: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """What ``parvis-trustee decrypt`` writes for trustee ``index`` holding ``share``."""
    manifest_hash = bytes.fromhex(context["manifest_hash"])
    proof_context = Context(context["election"], manifest_hash, static_key.encoded)
    items = []
    for item in sums["ciphertexts"]:
        ciphertext = Ciphertext.from_bytes(bytes.fromhex(item["ciphertext"]))
        partial, proof = prove_decryption(proof_context, share=share, ciphertext=ciphertext)
        items.append(
            {
                "label": item["label"],
                "ciphertext": item["ciphertext"],
                "partial": partial.encoded.hex(),
                "proof": proof.to_bytes().hex(),
            }
        )
    return {
        "format": PARTIALS_FORMAT,
        "election": context["election"],
        "manifest_hash": context["manifest_hash"],
        "trustee": index,
        "trustee_key": static_key.encoded.hex(),
        "public_share": Point.base_times(share).encoded.hex(),
        "partials": items,
    }


def deal(*, seed: int, trustees: int = 3, threshold: int = 2) -> DealtTrustees:
    """``f(x) = a_0 + a_1·x + …`` of degree ``threshold − 1``; share ``i`` is ``f(i)``."""
    rng = random.Random(seed)
    coefficients = [Scalar.of(rng.getrandbits(256)) for _ in range(threshold)]
    shares = {}
    for i in range(1, trustees + 1):
        value = Scalar.of(0)
        for coefficient in reversed(coefficients):
            value = value * Scalar.of(i) + coefficient
        shares[i] = value
    return DealtTrustees(
        threshold=threshold,
        key=Point.base_times(coefficients[0]),
        shares=shares,
        static_secrets={i: Scalar.of(rng.getrandbits(256)) for i in shares},
    )
