"""The prime-order group of edwards25519, with strict checks, over PyNaCl (libsodium).

Pure core for encrypted ballots (ballot-secrecy.md §1, "Group"). The group is the subgroup
of prime order ``L = 2^252 + 27742317777372353535851937790883648493`` of the Ed25519 curve;
libsodium's ``crypto_core_ed25519_*`` and ``crypto_scalarmult_ed25519_*noclamp`` work in it
and PyNaCl binds them, so the verifier and the trustee tool need nothing beyond the
packages they already install (ristretto255 would need libsodium symbols PyNaCl's bundled
copy does not export).

A point is accepted only if its 32-byte encoding is canonical, on the curve, in the
prime-order subgroup and not of small order (``crypto_core_ed25519_is_valid_point`` checks
all four); a scalar only if it is canonical (below ``L``). Encoded points are what goes over
the wire; :class:`Point` keeps its encoding, so equality is byte equality. Scalar
multiplications never clamp (``noclamp``): a scalar means the same number everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

import nacl.bindings as sodium
import nacl.exceptions

__all__ = [
    "BASE",
    "IDENTITY",
    "ORDER",
    "GroupError",
    "Point",
    "Scalar",
    "hash_to_scalar",
]

#: The order of the prime-order subgroup (RFC 8032 §5.1: L).
ORDER: Final = 2**252 + 27742317777372353535851937790883648493
_SIZE: Final = 32


class GroupError(ValueError):
    """A point or scalar encoding is refused (non-canonical, off the group, small order)."""


@dataclass(frozen=True, slots=True)
class Scalar:
    """An integer modulo ``ORDER``, kept as its 32-byte little-endian canonical encoding."""

    encoded: bytes

    def __post_init__(self) -> None:
        if len(self.encoded) != _SIZE or int.from_bytes(self.encoded, "little") >= ORDER:
            raise GroupError("a scalar is 32 little-endian bytes below the group order")

    @classmethod
    def of(cls, value: int) -> Scalar:
        return cls((value % ORDER).to_bytes(_SIZE, "little"))

    @classmethod
    def random(cls) -> Scalar:
        """A uniformly random scalar (64 bytes of the OS CSPRNG, reduced)."""
        return cls(sodium.crypto_core_ed25519_scalar_reduce(secrets.token_bytes(64)))

    @classmethod
    def from_wide(cls, data: bytes) -> Scalar:
        """64 bytes read as a little-endian integer and reduced modulo the order (libsodium's
        ``crypto_core_ed25519_scalar_reduce``): the "wide reduction" of a SHA-512 output that
        RFC 8032 §5.1.6 and C2SP COCKTAIL-DKG's Schnorr HashToScalar use. Not for secrets that
        must be uniform from fewer bytes: anything but exactly 64 bytes is refused."""
        if not isinstance(data, bytes) or len(data) != 64:
            raise GroupError("a wide reduction takes exactly 64 bytes")
        return cls(sodium.crypto_core_ed25519_scalar_reduce(data))

    @property
    def value(self) -> int:
        return int.from_bytes(self.encoded, "little")

    def __add__(self, other: Scalar) -> Scalar:
        return Scalar(sodium.crypto_core_ed25519_scalar_add(self.encoded, other.encoded))

    def __sub__(self, other: Scalar) -> Scalar:
        return Scalar(sodium.crypto_core_ed25519_scalar_sub(self.encoded, other.encoded))

    def __mul__(self, other: Scalar) -> Scalar:
        if not isinstance(other, Scalar):  # Scalar * Point is Point.__rmul__
            return NotImplemented
        return Scalar(sodium.crypto_core_ed25519_scalar_mul(self.encoded, other.encoded))

    def __neg__(self) -> Scalar:
        return Scalar(sodium.crypto_core_ed25519_scalar_negate(self.encoded))

    def inverse(self) -> Scalar:
        if self.value == 0:
            raise GroupError("zero has no inverse")
        return Scalar(sodium.crypto_core_ed25519_scalar_invert(self.encoded))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scalar) and hmac.compare_digest(self.encoded, other.encoded)

    def __hash__(self) -> int:
        return hash(self.encoded)


@dataclass(frozen=True, slots=True)
class Point:
    """An element of the prime-order group, kept as its canonical 32-byte encoding.

    Construct with :meth:`decode` (strict checks) or from group operations; the identity
    element (the neutral point) is :data:`IDENTITY` and is never accepted from the wire by
    :meth:`decode` (it is of small order).
    """

    encoded: bytes

    @classmethod
    def decode(cls, data: bytes) -> Point:
        """A point from the wire: canonical, on the curve, in the prime-order subgroup, not
        of small order — or :class:`GroupError`."""
        if not isinstance(data, bytes) or len(data) != _SIZE:
            raise GroupError("a point is 32 bytes")
        if not sodium.crypto_core_ed25519_is_valid_point(data):
            raise GroupError("not a canonical point of the prime-order group")
        return cls(data)

    @classmethod
    def base_times(cls, scalar: Scalar) -> Point:
        """``scalar · G`` (fixed base); the identity for the zero scalar."""
        if scalar.value == 0:
            return IDENTITY
        return cls(sodium.crypto_scalarmult_ed25519_base_noclamp(scalar.encoded))

    def __add__(self, other: Point) -> Point:
        if self.is_identity():
            return other
        if other.is_identity():
            return self
        return Point(sodium.crypto_core_ed25519_add(self.encoded, other.encoded))

    def __sub__(self, other: Point) -> Point:
        if other.is_identity():
            return self
        if self.is_identity():
            return -other
        return Point(sodium.crypto_core_ed25519_sub(self.encoded, other.encoded))

    def __neg__(self) -> Point:
        if self.is_identity():
            return self
        return Point(sodium.crypto_core_ed25519_sub(IDENTITY.encoded, self.encoded))

    def __mul__(self, scalar: Scalar) -> Point:
        """``scalar · self`` (variable base, no clamping)."""
        if not isinstance(scalar, Scalar):
            return NotImplemented
        if scalar.value == 0 or self.is_identity():
            return IDENTITY
        try:
            return Point(sodium.crypto_scalarmult_ed25519_noclamp(scalar.encoded, self.encoded))
        except nacl.exceptions.RuntimeError:  # libsodium refuses a result of small order
            return IDENTITY

    __rmul__ = __mul__

    def is_identity(self) -> bool:
        return hmac.compare_digest(self.encoded, IDENTITY.encoded)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and hmac.compare_digest(self.encoded, other.encoded)

    def __hash__(self) -> int:
        return hash(self.encoded)


#: The neutral element (encoding of (0, 1)): the sum of nothing, ``0 · G``.
IDENTITY: Final = Point(b"\x01" + b"\x00" * 31)
#: The standard base point G of Ed25519 (RFC 8032 §5.1).
BASE: Final = Point.base_times(Scalar.of(1))


def hash_to_scalar(*parts: bytes) -> Scalar:
    """SHA-512 of the length-prefixed ``parts``, reduced modulo the order (the design's
    "hash to scalar"). Each part is prefixed by its length (8 bytes, big-endian), so no two
    different sequences of parts hash the same input."""
    digest = hashlib.sha512()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return Scalar(sodium.crypto_core_ed25519_scalar_reduce(digest.digest()))
