"""The prime-order group of edwards25519 over PyNaCl (ballot/group.py): the group laws on
random elements, and the strict decoding that refuses every encoding outside the group."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot.group import BASE, IDENTITY, ORDER, GroupError, Point, Scalar, hash_to_scalar

scalars = st.integers(min_value=0, max_value=ORDER - 1).map(Scalar.of)

#: Encodings of points of small order (RFC 8032 curve; the eight torsion points' usual
#: encodings) and one that is not canonical (y = p, i.e. y ≥ the field prime).
SMALL_ORDER = [
    bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("0000000000000000000000000000000000000000000000000000000000000080"),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
]
NON_CANONICAL = bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")


@settings(max_examples=40, deadline=None)
@given(scalars, scalars)
def test_scalar_multiplication_is_a_homomorphism(a: Scalar, b: Scalar) -> None:
    assert Point.base_times(a + b) == Point.base_times(a) + Point.base_times(b)
    assert Point.base_times(a * b) == Point.base_times(a) * b
    assert Point.base_times(a - b) == Point.base_times(a) - Point.base_times(b)
    assert BASE * a == a * BASE == Point.base_times(a)


@settings(max_examples=40, deadline=None)
@given(scalars)
def test_identity_negation_and_inverse(a: Scalar) -> None:
    point = Point.base_times(a)
    assert point + IDENTITY == point
    assert point - point == IDENTITY
    assert point + (-point) == IDENTITY
    assert point * Scalar.of(ORDER - 1) == -point
    if a.value:
        assert a * a.inverse() == Scalar.of(1)
        assert Point.decode(point.encoded) == point


def test_decoding_refuses_points_outside_the_prime_order_group() -> None:
    for encoding in SMALL_ORDER:
        with pytest.raises(GroupError):
            Point.decode(encoding)
    with pytest.raises(GroupError):
        Point.decode(NON_CANONICAL)
    with pytest.raises(GroupError):
        Point.decode(b"\x02" * 31)
    # A point of the full curve outside the subgroup: G plus a torsion point of order 2.
    torsion = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
    assert Point.decode(BASE.encoded) == BASE
    mixed = _add_unchecked(BASE.encoded, torsion)
    with pytest.raises(GroupError):
        Point.decode(mixed)


def _add_unchecked(a: bytes, b: bytes) -> bytes:
    import nacl.bindings as sodium

    result: bytes = sodium.crypto_core_ed25519_add(a, b)
    return result


def test_scalars_are_canonical_and_hashes_domain_separated() -> None:
    with pytest.raises(GroupError):
        Scalar(ORDER.to_bytes(32, "little"))
    with pytest.raises(GroupError):
        Scalar(b"\x00" * 31)
    assert hash_to_scalar(b"ab", b"c") != hash_to_scalar(b"a", b"bc")
    assert hash_to_scalar(b"x") == hash_to_scalar(b"x")
    assert Scalar.random() != Scalar.random()
    with pytest.raises(GroupError):
        Scalar.of(0).inverse()


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=64, max_size=64))
def test_wide_reduction_is_the_little_endian_integer_modulo_the_order(data: bytes) -> None:
    assert Scalar.from_wide(data).value == int.from_bytes(data, "little") % ORDER


def test_wide_reduction_takes_exactly_64_bytes() -> None:
    for size in (32, 63, 65):
        with pytest.raises(GroupError):
            Scalar.from_wide(b"\xff" * size)
