"""Exponential ElGamal over the prime-order group of edwards25519.

Pure core (ballot-secrecy.md §1, "Encryption" and "Tally"; ADR 0011). A message ``m`` (a
small integer: a 0/1 cell or a count) is encrypted to the election's joint key ``H = s·G`` as

    ``Enc(m; r) = (α, β) = (r·G, m·G + r·H)``

(ElGamal, "A public key cryptosystem and a signature scheme based on discrete logarithms",
1985, with the message in the exponent as in Cramer, Gennaro and Schoenmakers, "A secure and
optimally efficient multi-authority election scheme", EUROCRYPT 1997). Ciphertexts add
component-wise to an encryption of the sum of their messages; that is the whole tally. There
is deliberately no re-encryption: Parvis does not shuffle, and a ballot's ciphertexts are
published as cast.

Decryption yields ``M·G = β − s·α`` (with threshold trustees ``s·α`` is combined from partial
decryptions ``s_i·α``); ``M`` itself comes from :func:`dlog`, a baby-step giant-step search
bounded by what the count can be (the number of ballots), as in Helios and Belenios.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache, reduce
from typing import Final

from parvis_verifier.group import BASE, IDENTITY, GroupError, Point, Scalar

__all__ = [
    "ZERO",
    "Ciphertext",
    "DlogError",
    "decrypt_to_point",
    "dlog",
    "encrypt",
    "message_point",
    "partial_decryption",
    "sum_ciphertexts",
]


class DlogError(ValueError):
    """No ``m`` in ``[0, bound]`` has ``m·G`` equal to the point."""


@dataclass(frozen=True, slots=True)
class Ciphertext:
    """An exponential ElGamal ciphertext ``(α, β) = (r·G, m·G + r·H)``."""

    alpha: Point
    beta: Point

    def __add__(self, other: Ciphertext) -> Ciphertext:
        """The homomorphic sum: an encryption of the sum of the messages."""
        return Ciphertext(self.alpha + other.alpha, self.beta + other.beta)

    def to_bytes(self) -> bytes:
        """64 bytes: the encodings of ``α`` and ``β``."""
        return self.alpha.encoded + self.beta.encoded

    @classmethod
    def from_bytes(cls, data: bytes) -> Ciphertext:
        """A ciphertext from the wire, both points strictly decoded (ballot/group.py).

        The identity is refused in either place: ``α`` is the identity only when ``r = 0``,
        which would publish ``m·G`` in clear.
        """
        if not isinstance(data, bytes) or len(data) != 64:
            raise GroupError("a ciphertext is 64 bytes (α ‖ β)")
        try:
            alpha = Point.decode(data[:32])
        except GroupError as error:
            raise GroupError(f"ciphertext α: {error}") from error
        try:
            beta = Point.decode(data[32:])
        except GroupError as error:
            raise GroupError(f"ciphertext β: {error}") from error
        return cls(alpha, beta)


#: The encryption of 0 with nonce 0: the sum of no ciphertexts (never valid on the wire).
ZERO: Final = Ciphertext(IDENTITY, IDENTITY)


def message_point(message: int) -> Point:
    """``m·G`` (negative messages wrap modulo the group order)."""
    return Point.base_times(Scalar.of(message))


def encrypt(message: int, key: Point, *, nonce: Scalar) -> Ciphertext:
    """``Enc(m; r)`` to the joint key ``key``; the caller keeps ``nonce`` to prove.

    A zero nonce or the identity as key would publish ``m·G`` in clear; both are refused.
    """
    if nonce.value == 0:
        raise ValueError("the encryption nonce must not be zero")
    if key.is_identity():
        raise ValueError("the election key must not be the identity")
    return Ciphertext(Point.base_times(nonce), message_point(message) + key * nonce)


def sum_ciphertexts(ciphertexts: Iterable[Ciphertext]) -> Ciphertext:
    """The homomorphic sum of ``ciphertexts`` (:data:`ZERO` for none)."""
    return reduce(Ciphertext.__add__, ciphertexts, ZERO)


def partial_decryption(ciphertext: Ciphertext, share: Scalar) -> Point:
    """A trustee's part ``s_i·α`` (its correctness is proved by ballot/decryption_proof.py)."""
    return ciphertext.alpha * share


def decrypt_to_point(ciphertext: Ciphertext, decryption_factor: Point) -> Point:
    """``M·G = β − s·α`` given ``s·α`` (one key's part or the trustees' combination)."""
    return ciphertext.beta - decryption_factor


@lru_cache(maxsize=8)
def _baby_steps(width: int) -> dict[bytes, int]:
    """``{(j·G).encoding: j}`` for ``0 ≤ j < width`` (cached: a tally reuses one bound)."""
    table: dict[bytes, int] = {}
    point = IDENTITY
    for j in range(width):
        table[point.encoded] = j
        point = point + BASE
    return table


def dlog(point: Point, bound: int) -> int:
    """The ``m`` in ``[0, bound]`` with ``m·G = point``, by baby-step giant-step.

    Shanks's algorithm with ``k = ⌊√bound⌋ + 1``: ``k`` additions build the baby steps
    ``j·G``, then at most ``k + 1`` giant steps subtract ``k·G`` until a baby step matches,
    so about ``2√bound`` point additions. Raises :class:`DlogError` when no such ``m`` exists
    (a decryption that is wrong or a count above ``bound``).
    """
    if bound < 0:
        raise ValueError("the bound of a discrete logarithm is non-negative")
    width = math.isqrt(bound) + 1
    baby = _baby_steps(width)
    stride = -Point.base_times(Scalar.of(width))
    current = point
    for giant in range(width + 1):
        j = baby.get(current.encoded)
        if j is not None:
            message = giant * width + j
            if message <= bound:
                return message
            break
        current = current + stride
    raise DlogError(f"the point is not m·G for any m in [0, {bound}]")
