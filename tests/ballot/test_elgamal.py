"""Exponential ElGamal over edwards25519 (ballot/elgamal.py): decryption by bounded
baby-step giant-step, homomorphic sums, and the strict decoding of ciphertexts."""

from __future__ import annotations

import nacl.bindings as sodium
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot.elgamal import (
    ZERO,
    Ciphertext,
    DlogError,
    decrypt_to_point,
    dlog,
    encrypt,
    message_point,
    partial_decryption,
    sum_ciphertexts,
)
from ballot.group import BASE, IDENTITY, ORDER, GroupError, Point, Scalar, hash_to_scalar

nonzero_scalars = st.integers(min_value=1, max_value=ORDER - 1).map(Scalar.of)
#: An encoding of small order (the point of order 2) and one that is not canonical.
ORDER_TWO = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
NON_CANONICAL = bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")


def _decrypt(ciphertext: Ciphertext, secret: Scalar, bound: int) -> int:
    return dlog(decrypt_to_point(ciphertext, partial_decryption(ciphertext, secret)), bound)


@settings(max_examples=25, deadline=None)
@given(nonzero_scalars, nonzero_scalars, st.integers(min_value=0, max_value=5000))
def test_decryption_recovers_the_message(secret: Scalar, nonce: Scalar, message: int) -> None:
    key = Point.base_times(secret)
    ciphertext = encrypt(message, key, nonce=nonce)
    assert ciphertext.alpha == Point.base_times(nonce)
    assert decrypt_to_point(ciphertext, ciphertext.alpha * secret) == message_point(message)
    assert _decrypt(ciphertext, secret, 5000) == message


@settings(max_examples=15, deadline=None)
@given(
    nonzero_scalars,
    st.lists(st.tuples(st.integers(min_value=0, max_value=1), nonzero_scalars), max_size=12),
)
def test_ciphertexts_add_to_an_encryption_of_the_sum(
    secret: Scalar, cells: list[tuple[int, Scalar]]
) -> None:
    key = Point.base_times(secret)
    ciphertexts = [encrypt(bit, key, nonce=nonce) for bit, nonce in cells]
    total = sum_ciphertexts(ciphertexts)
    assert _decrypt(total, secret, len(cells)) == sum(bit for bit, _ in cells)
    # The sum's nonce is the sum of the nonces: it is Enc(Σm; Σr), not merely decryptable.
    nonce_sum = Scalar.of(sum(nonce.value for _, nonce in cells))
    assert total.alpha == Point.base_times(nonce_sum)


def test_the_empty_sum_is_the_encryption_of_zero_with_nonce_zero() -> None:
    assert sum_ciphertexts([]) == ZERO == Ciphertext(IDENTITY, IDENTITY)
    assert _decrypt(ZERO, Scalar.of(7), 0) == 0


def test_threshold_style_decryption_factors_combine() -> None:
    """Shares that add up to the secret give partial decryptions that add up to ``s·α``
    (Lagrange coefficients fold into the shares; the combination itself is the DKG's)."""
    first, second = Scalar.random(), Scalar.random()
    key = Point.base_times(first + second)
    ciphertext = encrypt(42, key, nonce=Scalar.random())
    factor = partial_decryption(ciphertext, first) + partial_decryption(ciphertext, second)
    assert dlog(decrypt_to_point(ciphertext, factor), 100) == 42
    with pytest.raises(DlogError):
        dlog(decrypt_to_point(ciphertext, partial_decryption(ciphertext, first)), 100)


@pytest.mark.parametrize("bound", [0, 1, 2, 3, 8, 15, 16, 17, 99, 100])
def test_baby_step_giant_step_finds_every_value_up_to_the_bound(bound: int) -> None:
    point = IDENTITY
    for message in range(bound + 1):
        assert dlog(point, bound) == message
        point = point + BASE
    # The next value is above the bound: refused, never wrapped or truncated.
    assert point == message_point(bound + 1)
    with pytest.raises(DlogError, match=rf"in \[0, {bound}\]"):
        dlog(point, bound)


def test_baby_step_giant_step_at_a_large_bound_and_off_the_range() -> None:
    for message in (0, 1, 316, 317, 99_999, 100_000):
        assert dlog(message_point(message), 100_000) == message
    with pytest.raises(DlogError):
        dlog(message_point(100_001), 100_000)
    with pytest.raises(DlogError):
        dlog(message_point(-1), 100_000)
    with pytest.raises(DlogError):  # a point whose logarithm is unknown (and huge)
        dlog(Point.base_times(hash_to_scalar(b"nothing up my sleeve")), 100_000)
    with pytest.raises(ValueError, match="non-negative"):
        dlog(BASE, -1)


def test_encryption_refuses_what_would_publish_the_message() -> None:
    key = Point.base_times(Scalar.random())
    with pytest.raises(ValueError, match="nonce"):
        encrypt(1, key, nonce=Scalar.of(0))
    with pytest.raises(ValueError, match="identity"):
        encrypt(1, IDENTITY, nonce=Scalar.random())


def test_ciphertexts_round_trip_and_decode_strictly() -> None:
    key = Point.base_times(Scalar.random())
    ciphertext = encrypt(1, key, nonce=Scalar.random())
    encoded = ciphertext.to_bytes()
    assert len(encoded) == 64
    assert Ciphertext.from_bytes(encoded) == ciphertext

    with pytest.raises(GroupError, match=r"64 bytes"):
        Ciphertext.from_bytes(encoded[:63])
    with pytest.raises(GroupError, match=r"^ciphertext α: not a canonical point"):
        Ciphertext.from_bytes(ORDER_TWO + encoded[32:])
    with pytest.raises(GroupError, match=r"^ciphertext β: not a canonical point"):
        Ciphertext.from_bytes(encoded[:32] + NON_CANONICAL)
    with pytest.raises(GroupError, match=r"^ciphertext α"):  # r = 0 would show m·G in clear
        Ciphertext.from_bytes(IDENTITY.encoded + encoded[32:])
    # β plus a torsion point: on the curve, outside the prime-order subgroup.
    mixed = sodium.crypto_core_ed25519_add(ciphertext.beta.encoded, ORDER_TWO)
    with pytest.raises(GroupError, match=r"^ciphertext β"):
        Ciphertext.from_bytes(encoded[:32] + mixed)
